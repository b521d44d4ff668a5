/*
 * parser.c - lesson 04: a JSON log line becomes a struct log_entry, and the
 * parser stage does that to every line the tailer sends. The contracts are
 * in src/parser.h and src/log_entry.h; read them first.
 *
 * Who owns what, from one end to the other: the stage owns each struct line
 * from the moment chan_recv hands it over, and frees it once it is parsed.
 * cJSON allocates a tree for every line; what the entry keeps is copied out
 * of the tree, and the tree is deleted before parse_log_line returns, so no
 * entry ever points into it. The entry belongs to the stage until
 * chan_send(out) returns CHAN_OK; from then on it belongs to the next stage.
 */
#include "parser.h"
#include "notimpl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- levels and reason names ---------------------------------------------- */

/* BEGIN SOLUTION */
/* Indexed by enum log_level: the canonical names, the ones the metrics use. */
static const char *const level_names[LOG_LEVELS] = {"trace", "debug", "info", "warn", "error", "fatal"};
/* END SOLUTION */

const char *log_level_name(enum log_level level)
{
	/* BEGIN SOLUTION */
	/* The cast catches negative values too: an enum may be signed. */
	if ((unsigned)level >= LOG_LEVELS)
		return "unknown";
	return level_names[level];
	/* END SOLUTION */
	/* STUB
	(void)level;
	NOT_IMPLEMENTED("log_level_name", "lessons/04-parser/README.md#levels-and-reason-names");
	return "?";
	*/
}

int log_level_parse(const char *name, enum log_level *level)
{
	/* BEGIN SOLUTION */
	if (name == NULL)
		return -1;
	/* The one alias: "warning" is what Python's logging and many others write. */
	if (strcasecmp(name, "warning") == 0) {
		*level = LOG_WARN;
		return 0;
	}
	for (int i = 0; i < LOG_LEVELS; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
	/* END SOLUTION */
	/* STUB
	(void)name;
	(void)level;
	NOT_IMPLEMENTED("log_level_parse", "lessons/04-parser/README.md#levels-and-reason-names");
	return -1;
	*/
}

const char *parse_error_name(enum parse_error err)
{
	/* BEGIN SOLUTION */
	switch (err) {
	case PARSE_OK:
		return "ok";
	case PARSE_INVALID_JSON:
		return "invalid_json";
	case PARSE_MISSING_LEVEL:
		return "missing_level";
	case PARSE_BAD_LEVEL:
		return "bad_level";
	case PARSE_TOO_LONG:
		return "too_long";
	default:
		return "unknown";
	}
	/* END SOLUTION */
	/* STUB
	(void)err;
	NOT_IMPLEMENTED("parse_error_name", "lessons/04-parser/README.md#levels-and-reason-names");
	return "?";
	*/
}

/* ---- one line ---------------------------------------------------------------- */

void log_entry_free(struct log_entry *entry)
{
	if (entry == NULL)
		return;
	free(entry->service);
	free(entry->message);
	free(entry->timestamp);
	free(entry);
}

/* BEGIN SOLUTION */
/*
 * Sets *out to a copy of obj's field `name`, or of `alias` if name is not a
 * string (alias may be NULL), or of fallback when neither is a string
 * (fallback may be NULL: then *out is NULL). A copy, because every
 * valuestring belongs to the tree and dies with cJSON_Delete. Returns 0, or
 * -1 when out of memory.
 */
static int copy_string_field(const cJSON *obj, const char *name, const char *alias, const char *fallback,
			     char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsString(item) && alias != NULL)
		item = cJSON_GetObjectItemCaseSensitive(obj, alias);
	const char *value = cJSON_IsString(item) ? item->valuestring : fallback;
	*out = NULL;
	if (value == NULL)
		return 0;
	*out = strdup(value);
	return *out != NULL ? 0 : -1;
}

/* The entry an object describes. Only top-level fields are looked up, so a
 * "level" nested in another object is never mistaken for the line's. */
static enum parse_error entry_from_object(const cJSON *root, struct log_entry **out)
{
	const cJSON *level_item = cJSON_GetObjectItemCaseSensitive(root, "level");
	if (!cJSON_IsString(level_item))
		return PARSE_MISSING_LEVEL;
	enum log_level level;
	if (log_level_parse(level_item->valuestring, &level) != 0)
		return PARSE_BAD_LEVEL;

	/* calloc: every pointer starts NULL, so log_entry_free can clean up
	 * after a copy that failed halfway. */
	struct log_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return PARSE_ENOMEM;
	e->level = level;
	if (copy_string_field(root, "service", NULL, "unknown", &e->service) != 0 ||
	    copy_string_field(root, "msg", "message", "", &e->message) != 0 ||
	    copy_string_field(root, "ts", "time", NULL, &e->timestamp) != 0) {
		log_entry_free(e);
		return PARSE_ENOMEM;
	}
	const cJSON *latency = cJSON_GetObjectItemCaseSensitive(root, "latency_ms");
	if (cJSON_IsNumber(latency)) {
		e->latency_ms = latency->valuedouble;
		e->has_latency = 1;
	}
	*out = e;
	return PARSE_OK;
}
/* END SOLUTION */

enum parse_error parse_log_line(const char *text, size_t len, struct log_entry **entry)
{
	/* BEGIN SOLUTION */
	*entry = NULL;
	/* cJSON reads until a NUL, not len bytes: a NUL inside the line would
	 * hide the rest of it. JSON text never holds a raw NUL byte, so such a
	 * line is not JSON (a file with a hole of zeros produces them). */
	if (memchr(text, '\0', len) != NULL)
		return PARSE_INVALID_JSON;
	/* cJSON_ParseWithOpts reads a NUL-terminated string, like cJSON_Parse
	 * (text[len] is the NUL); its last argument, 1, also requires that
	 * nothing but blanks follow the value, which cJSON_Parse does not. */
	cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
	if (!cJSON_IsObject(root)) {
		/* cJSON_Delete(NULL) does nothing; a number or an array is freed. */
		cJSON_Delete(root);
		return PARSE_INVALID_JSON;
	}
	enum parse_error err = entry_from_object(root, entry);
	cJSON_Delete(root);
	return err;
	/* END SOLUTION */
	/* STUB
	(void)text;
	(void)len;
	*entry = NULL;
	NOT_IMPLEMENTED("parse_log_line", "lessons/04-parser/README.md#parsing-one-line");
	return PARSE_NOTIMPL;
	*/
}

/* ---- the stage --------------------------------------------------------------- */

/* BEGIN SOLUTION */
/* The reason a line counts under, or PARSE_OK with *entry set. */
static enum parse_error parse_received(const struct line *line, struct log_entry **entry)
{
	*entry = NULL;
	/* A too-long marker has no text to parse: text is "" and len is the
	 * number of bytes the tailer skipped, so text[len] is not ours to read. */
	if (line->too_long)
		return PARSE_TOO_LONG;
	enum parse_error err = parse_log_line(line->text, line->len, entry);
	/* Out of memory is not one of the reasons the metrics export. */
	if (err >= PARSE_REASONS)
		err = PARSE_INVALID_JSON;
	return err;
}
/* END SOLUTION */

struct log_entry *parser_step(struct parser_stage *st, struct line *line)
{
	/* BEGIN SOLUTION */
	struct log_entry *entry;
	atomic_fetch_add(&st->stats.lines, 1);
	enum parse_error err = parse_received(line, &entry);
	/* The entry holds copies, so the line can go now, whatever happened. */
	line_free(line);
	if (err != PARSE_OK)
		atomic_fetch_add(&st->stats.errors[err], 1);
	return entry;
	/* END SOLUTION */
	/* STUB
	(void)st;
	(void)line;
	NOT_IMPLEMENTED("parser_step", "lessons/04-parser/README.md#the-stage-loop");
	return NULL;
	*/
}

void *parser_run(void *arg)
{
	/* BEGIN SOLUTION */
	struct parser_stage *st = arg;
	void *msg;
	/* chan_recv says CHAN_CLOSED only once in is closed and drained: every
	 * line the tailer sent is handled before the stage stops. */
	while (chan_recv(st->in, &msg) == CHAN_OK) {
		struct log_entry *entry = parser_step(st, msg);
		if (entry == NULL)
			continue;
		/* CHAN_CLOSED: nobody is downstream any more, and the entry is
		 * still ours. Free it and keep receiving, so that the stage before
		 * us never blocks on a full in. */
		if (chan_send(st->out, entry) == CHAN_OK)
			atomic_fetch_add(&st->stats.entries, 1);
		else
			log_entry_free(entry);
	}
	/* The next stage's chan_recv returns CHAN_CLOSED once it has the rest. */
	chan_close(st->out);
	return NULL;
	/* END SOLUTION */
	/* STUB
	(void)arg;
	NOT_IMPLEMENTED("parser_run", "lessons/04-parser/README.md#the-stage-loop");
	return NULL;
	*/
}
