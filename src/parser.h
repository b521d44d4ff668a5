/* snippet: rules */
/*
 * parser.h - lesson 04: a log line becomes a struct log_entry, or a parse
 * error with a reason. The parser stage runs it on every line that comes
 * from the tailer.
 *
 * A log line is a JSON object:
 *   {"ts":"2026-11-25T10:00:00.013Z","level":"error","service":"billing",
 *    "msg":"card declined","latency_ms":12.5}
 * Rules:
 *   - not a JSON object (or not JSON at all), text after the object, or
 *     a NUL byte inside the line                      -> PARSE_INVALID_JSON
 *   - no "level", or a "level" that is not a string   -> PARSE_MISSING_LEVEL
 *   - a level string that is not a known level        -> PARSE_BAD_LEVEL
 *   - a line the tailer marked too long                -> PARSE_TOO_LONG
 *   - levels are trace, debug, info, warn (or warning), error, fatal, in
 *     any case; the entry holds the canonical level;
 *   - "service": optional string, "unknown" when absent or not a string;
 *   - "msg" (or "message"): optional string, "" when absent;
 *   - "ts" (or "time"): optional string, NULL when absent;
 *     an alias is looked at only when the first name is absent or not a
 *     string ({"msg":42,"message":"hi"} has the message "hi"), so the
 *     first name wins when both are strings;
 *   - "" is a string like any other: {"msg":"","message":"hi"} has the
 *     message "", {"service":""} the service "", {"ts":""} the timestamp "";
 *   - "latency_ms": optional number; has_latency is 0 when absent or not a
 *     number (a negative latency is kept: it is the log's word, not ours);
 *   - field names are case-sensitive ("Level" is not "level");
 *   - every other field is ignored, nested values included.
 */
/* end snippet */
#ifndef PARSER_H
#define PARSER_H

#include "channel.h"
#include "line.h"
#include "log_entry.h"

#include <stdatomic.h>
#include <stddef.h>

/* snippet: parse */
enum parse_error {
	PARSE_OK = 0,
	PARSE_INVALID_JSON,
	PARSE_MISSING_LEVEL,
	PARSE_BAD_LEVEL,
	PARSE_TOO_LONG,
	PARSE_ENOMEM,  /* out of memory: counted as invalid_json by the stage */
	PARSE_NOTIMPL, /* the exercise stub */
	PARSE_REASONS = PARSE_ENOMEM /* the reasons exported as metrics: 1 .. PARSE_REASONS-1 */
};

/* "invalid_json", "missing_level", "bad_level", "too_long" (the metric label
 * values); "unknown" for any other value, never NULL. */
const char *parse_error_name(enum parse_error err);

/*
 * Parses text[0..len). text must be NUL-terminated at text[len] (a struct
 * line is): cJSON is always handed a terminated string. On PARSE_OK *entry
 * points to a new entry the caller owns; otherwise *entry is NULL.
 */
enum parse_error parse_log_line(const char *text, size_t len, struct log_entry **entry);
/* end snippet */

/* snippet: formats */
/*
 * Part 2: other loggers' JSON. A format says where a line keeps each field
 * and how it writes its level. Each field is a comma-separated list of
 * candidates tried in order, the first one present with the right type
 * winning (as "msg" wins over "message" above, "" included); a candidate
 * is a key or a dotted path into nested objects. "log.level" finds
 * {"log.level":"info"} (a flat key with a dot in it, the way ECS
 * libraries write it) first, then {"log":{"level":"info"}}.
 */
enum level_scale {
	LEVEL_SCALE_NONE,   /* levels are names; a number is no level at all */
	LEVEL_SCALE_PINO,   /* pino and bunyan: 10 trace, 20 debug, ..., 60 fatal */
	LEVEL_SCALE_SYSLOG, /* syslog severities: 0 emerg ... 7 debug, lower is worse */
};

struct log_format {
	const char *name;      /* "default", "pino", ...: for messages */
	const char *level;     /* a string (any scale) or a number (with a scale) */
	const char *service;   /* a string, else "unknown" */
	const char *message;   /* a string, else "" */
	const char *timestamp; /* a string, else NULL */
	const char *latency;   /* a number of milliseconds, else none */
	enum level_scale scale;
};
/* end snippet */

/* snippet: formats-given */
/* Field paths longer than this are refused by log_format_check. */
#define LOG_FIELD_MAX 128

/* The preset called name (default, pino, bunyan, zap, logrus, slog, ecs),
 * or NULL. "default" is parse_log_line's own rules, written as a format. */
const struct log_format *log_format_preset(const char *name);

/* The scale called name ("none", "pino", "syslog"): 0, or -1. */
int level_scale_parse(const char *name, enum level_scale *scale);

/* 0 if every candidate list of fmt is well formed (no empty candidate, no
 * empty path step, none over LOG_FIELD_MAX); else -1 and a one-line reason
 * in err. */
int log_format_check(const struct log_format *fmt, char *err, size_t errlen);
/* end snippet */

/* snippet: formats-yours */
/*
 * The member of obj at path[0..len) (not NUL-terminated: a piece of a
 * candidate list): the member named exactly that; else, for each dot in
 * turn from the left, the rest of the path looked up (the same way) inside
 * the member named by the text before the dot, the first such lookup that
 * finds something winning: a dot whose rest is not found there does not
 * end the search. NULL when there is none, or when obj is not an object.
 * The result points into obj's tree.
 */
struct cJSON;
const struct cJSON *json_path_find(const struct cJSON *obj, const char *path, size_t len);

/*
 * The level a number stands for on a scale. Only a whole number strictly
 * between -1e15 and 1e15 can be a level (so that a cast to long long
 * holds it exactly): 30.5, 1e300, infinity and NaN are no level on any
 * scale. Pino: a whole number from 10 to 1e15 (exclusive); a custom level
 * between two known ones counts as the one below it (35 is info), and 60
 * up to that bound is fatal. Syslog: a whole number from 0 to 7; 0 to 2
 * are fatal, 3 error, 4 warn, 5 (notice) and 6 info, 7 debug.
 * Returns 0 and sets *level, or -1 (no level on that scale, or
 * LEVEL_SCALE_NONE).
 */
int log_level_from_number(double number, enum level_scale scale, enum log_level *level);
/* end snippet */

/* snippet: formats-as */
/*
 * parse_log_line with the fields where fmt says. Level names are those of
 * log_level_parse plus what other loggers write: "panic" and "dpanic" (zap,
 * logrus), "emerg", "alert", "crit", "critical", "err", "notice" (syslog),
 * and slog's offsets ("INFO+2" is info, "WARN-1" is info, "ERROR+4" is
 * error). fmt NULL: parse_log_line itself.
 */
enum parse_error parse_log_line_as(const struct log_format *fmt, const char *text, size_t len,
				   struct log_entry **entry);
/* end snippet */

/* snippet: container */
/*
 * Container logs wrap each line of the application. --container docker:
 * Docker's json-file driver writes {"log":"<the line>\n","stream":"stdout",
 * "time":"..."}; the line is the "log" string, without its newline (Docker
 * splits a line over 16 KiB into entries whose "log" has no newline but
 * the last one's). --container cri: Kubernetes (CRI) writes "TIMESTAMP
 * STREAM P|F TEXT", and splits a long line into P (partial) pieces ended
 * by one F piece. The stage joins the pieces of each stream in order, up
 * to max_line bytes (a longer line counts as too_long). A line that is not the
 * wrapper it should be is parsed as it is (and so counts under the reason
 * its text earns).
 */
enum log_container { CONTAINER_NONE, CONTAINER_DOCKER, CONTAINER_CRI };

/* The wrapper called name ("none", "docker", "cri"): 0, or -1. */
int log_container_parse(const char *name, enum log_container *container);

/* The pieces (CRI P, or Docker lines without their newline) a stage holds
 * until the piece that ends their line. */
struct partial_line {
	char *text;                /* the pieces so far, NUL-terminated; NULL when none */
	size_t len, cap;
	size_t skipped;            /* > 0: past the line limit, text dropped */
	unsigned long long pieces; /* pieces held */
};
/* end snippet */

/* snippet: stage */
/* Counters a stage keeps while it runs; read them at any time. Every line
 * received ends in exactly one of errors, entries, discarded or joined
 * (or is still held as a piece of a longer line). Each counter is atomic,
 * but together they are no snapshot: a line is counted in lines first,
 * so a reader that loads lines last never sees it behind the sum of the
 * others. */
struct parser_stats {
	atomic_ullong lines;                  /* lines received */
	atomic_ullong errors[PARSE_REASONS];  /* by reason; errors[PARSE_OK] stays 0 */
	atomic_ullong entries;                /* entries sent on */
	atomic_ullong discarded;              /* entries freed because out was closed, and
						 pieces whose line never ended */
	atomic_ullong joined;                 /* pieces joined into the line that ends them */
};

/*
 * The parser stage: receives struct line * from in until in is closed,
 * frees each line, sends each parsed entry on out and counts each error,
 * then closes out. If out is closed under it (nobody downstream), it frees
 * what it cannot send, counts it in stats.discarded, and keeps draining in,
 * so the stage before it never blocks forever.
 */
struct parser_stage {
	struct chan *in;  /* of struct line * */
	struct chan *out; /* of struct log_entry * */
	struct parser_stats stats;
	/* Part 2, all optional (zero: a plain JSON log, parse_log_line's rules): */
	const struct log_format *format; /* NULL: parse_log_line */
	enum log_container container;
	size_t max_line;                 /* pieces join up to this (0: TAILER_DEFAULT_MAX_LINE) */
	/* stdout's pieces and stderr's: a runtime writes both streams to one
	 * file, and a piece of one may come between two of the other's.
	 * Joining needs the lines in order: one thread. */
	struct partial_line partial[2];
};

/*
 * One line through the stage, without the channels: counts it in
 * stats.lines before anything else, parses it, counts an error under its
 * reason, and frees the line. Returns the new entry (the caller sends it
 * on, and counts it in stats.entries once the send succeeded), or NULL
 * after an error (or for a piece of a longer line the stage keeps: see
 * parser_unwrap).
 * parser_run is a loop around it; lesson 11 runs it in batches.
 */
struct log_entry *parser_step(struct parser_stage *st, struct line *line);

/* A thread function: arg is a struct parser_stage *. Returns NULL. */
void *parser_run(void *arg);
/* end snippet */

/* snippet: stage-containers */
/*
 * Part 2: what the stage parses in place of line, which it owns: line
 * itself; the line a Docker or CRI wrapper holds (a new line; line is
 * freed); NULL for a piece of a longer line, which the stage keeps until
 * the piece that ends the line comes (and then counts in stats.joined); or,
 * for a line joined from pieces to more than max_line bytes, a too-long
 * marker. parser_step calls it first.
 */
struct line *parser_unwrap(struct parser_stage *st, struct line *line);

/* Frees the pieces still held (their line never ended) and counts them in
 * stats.discarded. parser_run does not call it: whoever started the stage
 * calls it after the stage's last parser_step (after joining the thread
 * that ran parser_run). Afterwards it holds nothing, so a call again frees
 * and counts nothing: the pipeline calls it at the end of every stop, and
 * a second stop is allowed. */
void parser_finish(struct parser_stage *st);
/* end snippet */

#endif
