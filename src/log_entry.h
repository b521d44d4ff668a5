/*
 * log_entry.h - a parsed log line, as the parser (lesson 04) sends it to
 * the filter (lesson 05) and the filter to the metrics stage (lesson 06).
 *
 * An entry owns its strings: log_entry_new makes the entry and copies of
 * them, and log_entry_free frees them all. Ownership moves with the pointer
 * along the pipeline; the stage that drops an entry, or the last stage,
 * frees it with log_entry_free. Make every entry with log_entry_new: an
 * entry built with malloc cannot be given to log_entry_free.
 */
#ifndef LOG_ENTRY_H
#define LOG_ENTRY_H

/* Levels, in increasing order of severity: a filter keeps "at or above". */
enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL, LOG_LEVELS };

struct log_entry {
	enum log_level level;
	char *service;   /* never NULL: "unknown" when the line has none */
	char *message;   /* never NULL: "" when the line has none */
	char *timestamp; /* the line's "ts" or "time" string, or NULL */
	double latency_ms; /* valid when has_latency is 1 */
	int has_latency;
};

/* "trace", "debug", "info", "warn", "error", "fatal" (lower case, canonical). */
const char *log_level_name(enum log_level level);

/* Case-insensitive; "warning" is an alias of "warn". Returns 0 and sets
 * *level, or -1 if name is not a level. */
int log_level_parse(const char *name, enum log_level *level);

/*
 * A new entry of this level with copies of the three strings, latency
 * unset (has_latency 0), or NULL with errno ENOMEM when out of memory.
 * service NULL becomes "unknown" and message NULL "", so that neither
 * field is ever NULL; timestamp NULL stays NULL. The strings are copied,
 * so they may die as soon as it returns (cJSON's valuestrings do).
 *
 * The entry and its copies are one block, the struct first and the
 * strings after it, cut from the calling thread's slab (src/slab.h): one
 * allocation per entry rather than four, and one free, on whichever
 * thread the entry ends. An entry is made on the parser's thread and
 * freed on another, which is malloc's slow path; see
 * docs/architecture.md#memory-that-crosses-threads.
 */
struct log_entry *log_entry_new(enum log_level level, const char *service, const char *message,
				const char *timestamp);

/* Frees an entry log_entry_new made, its strings with it, from any
 * thread. NULL is fine. */
void log_entry_free(struct log_entry *entry);

#endif
