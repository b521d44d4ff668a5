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
 *     string ({"msg":42,"message":"hi"} has the message "hi");
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

/* snippet: stage */
/* Counters a stage keeps while it runs; read them at any time. */
struct parser_stats {
	atomic_ullong lines;                  /* lines received */
	atomic_ullong errors[PARSE_REASONS];  /* by reason; errors[PARSE_OK] stays 0 */
	atomic_ullong entries;                /* entries sent on */
};

/*
 * The parser stage: receives struct line * from in until in is closed,
 * frees each line, sends each parsed entry on out and counts each error,
 * then closes out. If out is closed under it (nobody downstream), it frees
 * what it cannot send and keeps draining in, so the stage before it never
 * blocks forever.
 */
struct parser_stage {
	struct chan *in;  /* of struct line * */
	struct chan *out; /* of struct log_entry * */
	struct parser_stats stats;
};

/*
 * One line through the stage, without the channels: counts it in
 * stats.lines, parses it, counts an error under its reason, and frees the
 * line. Returns the new entry (the caller sends it on, and counts it in
 * stats.entries once the send succeeded), or NULL after an error.
 * parser_run is a loop around it; lesson 10 runs it in batches.
 */
struct log_entry *parser_step(struct parser_stage *st, struct line *line);

/* A thread function: arg is a struct parser_stage *. Returns NULL. */
void *parser_run(void *arg);
/* end snippet */

#endif
