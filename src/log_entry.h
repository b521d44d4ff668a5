/*
 * log_entry.h - a parsed log line, as the parser (lesson 04) sends it to
 * the filter (lesson 05) and the filter to the metrics stage (lesson 06).
 *
 * An entry owns its strings. Ownership moves with the pointer along the
 * pipeline; the stage that drops an entry, or the last stage, frees it
 * with log_entry_free.
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

/* Frees the entry and its strings. NULL is fine. */
void log_entry_free(struct log_entry *entry);

#endif
