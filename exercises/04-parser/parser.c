/*
 * parser.c - lesson 04: a JSON log line becomes a struct log_entry, and the
 * parser stage does that to every line the tailer sends. The contracts are
 * in src/parser.h and src/log_entry.h; read them first.
 *
 * Who owns what, from one end to the other: the stage owns each struct line
 * from the moment chan_recv hands it over, and frees it once it is parsed.
 * cJSON allocates a tree for every line, which parse_log_line deletes
 * before it returns; log_entry_new makes the entry (src/log_entry.h). The
 * entry belongs to the stage until chan_send(out) returns CHAN_OK; from
 * then on it belongs to the next stage.
 */
#include "parser.h"
#include "notimpl.h"

#include "tailer.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- levels and reason names ---------------------------------------------- */

const char *log_level_name(enum log_level level)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)level;
	NOT_IMPLEMENTED("log_level_name", "lessons/04-parser/README.md#levels-and-reason-names");
	return "?";
}

int log_level_parse(const char *name, enum log_level *level)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)name;
	(void)level;
	NOT_IMPLEMENTED("log_level_parse", "lessons/04-parser/README.md#levels-and-reason-names");
	return -1;
}

const char *parse_error_name(enum parse_error err)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)err;
	NOT_IMPLEMENTED("parse_error_name", "lessons/04-parser/README.md#levels-and-reason-names");
	return "?";
}

/* ---- one line ---------------------------------------------------------------- */

enum parse_error parse_log_line(const char *text, size_t len, struct log_entry **entry)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)text;
	(void)len;
	*entry = NULL;
	NOT_IMPLEMENTED("parse_log_line", "lessons/04-parser/README.md#parsing-one-line");
	return PARSE_NOTIMPL;
}

/* ---- part 2: other loggers' JSON ---------------------------------------------- */

/* What each logger writes, from its documentation (docs/formats.md). The
 * application's own fields come after the logger's: a zap logger without a
 * name still has the "service" its code adds. */
static const struct log_format presets[] = {
    {"default", "level", "service", "msg,message", "ts,time", "latency_ms", LEVEL_SCALE_NONE},
    {"pino", "level", "name,service", "msg", "time", "latency_ms", LEVEL_SCALE_PINO},
    {"bunyan", "level", "name,service", "msg", "time", "latency_ms", LEVEL_SCALE_PINO},
    {"zap", "level", "logger,service", "msg", "ts", "latency_ms", LEVEL_SCALE_NONE},
    {"logrus", "level", "service", "msg", "time", "latency_ms", LEVEL_SCALE_NONE},
    {"slog", "level", "service", "msg", "time", "latency_ms", LEVEL_SCALE_NONE},
    {"ecs", "log.level", "service.name", "message", "@timestamp", "latency_ms", LEVEL_SCALE_NONE},
};

const struct log_format *log_format_preset(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(name, presets[i].name) == 0)
			return &presets[i];
	return NULL;
}

/* The index of name in names[0..n), or -1: the small enums' parsers. */
static int name_index(const char *name, const char *const names[], int n)
{
	for (int i = 0; name != NULL && i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

int level_scale_parse(const char *name, enum level_scale *scale)
{
	static const char *const names[] = {"none", "pino", "syslog"};
	int i = name_index(name, names, 3);
	if (i >= 0)
		*scale = (enum level_scale)i;
	return i >= 0 ? 0 : -1;
}

int log_container_parse(const char *name, enum log_container *container)
{
	static const char *const names[] = {"none", "docker", "cri"};
	int i = name_index(name, names, 3);
	if (i >= 0)
		*container = (enum log_container)i;
	return i >= 0 ? 0 : -1;
}

/* 1 if the path p[0..n) has an empty step: a dot at either end, or two
 * dots in a row. */
static int has_empty_step(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '.' && (i == 0 || i == n - 1 || p[i + 1] == '.'))
			return 1;
	return 0;
}

/* 0 if one candidate list is well formed, else -1 with the reason in err. */
static int check_candidates(const char *what, const char *list, char *err, size_t errlen)
{
	for (const char *p = list;; p++) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > LOG_FIELD_MAX || has_empty_step(p, n)) {
			snprintf(err, errlen,
				 "%s: '%s' wants comma-separated keys or dotted paths (a.b.c), none empty "
				 "and none over %d characters",
				 what, list, LOG_FIELD_MAX);
			return -1;
		}
		p += n;
		if (*p == '\0')
			return 0;
	}
}

int log_format_check(const struct log_format *fmt, char *err, size_t errlen)
{
	const char *const what[] = {"level field", "service field", "message field", "timestamp field",
				    "latency field"};
	const char *const list[] = {fmt->level, fmt->service, fmt->message, fmt->timestamp, fmt->latency};
	for (int i = 0; i < 5; i++)
		if (list[i] == NULL || check_candidates(what[i], list[i], err, errlen) != 0) {
			if (list[i] == NULL)
				snprintf(err, errlen, "%s: no field names", what[i]);
			return -1;
		}
	return 0;
}

/* What other loggers call their levels, beyond log_level_parse's names. */
static const struct {
	const char *name;
	enum log_level level;
} other_names[] = {{"panic", LOG_FATAL}, {"dpanic", LOG_ERROR},	  {"emerg", LOG_FATAL}, {"alert", LOG_FATAL},
		   {"crit", LOG_FATAL},	 {"critical", LOG_FATAL}, {"err", LOG_ERROR},	{"notice", LOG_INFO}};

/*
 * slog prints a level between its four as the one below and an offset:
 * "INFO+2" is 2, between INFO (0) and WARN (4). 0 and *level for such a
 * name, else -1.
 */
static int slog_offset_level(const char *name, enum log_level *level)
{
	static const char *const base[] = {"debug", "info", "warn", "error"};
	size_t n = strcspn(name, "+-");
	char *end;
	if (name[n] == '\0' || !isdigit((unsigned char)name[n + 1]))
		return -1;
	long offset = strtol(name + n, &end, 10);
	int b;
	for (b = 0; b < 4; b++)
		if (strlen(base[b]) == n && strncasecmp(name, base[b], n) == 0)
			break;
	if (b == 4 || *end != '\0' || offset < -1000 || offset > 1000)
		return -1;
	long value = 4 * (b - 1) + offset; /* DEBUG is -4, INFO 0, WARN 4, ERROR 8 */
	*level = value < -4  ? LOG_TRACE
		 : value < 0 ? LOG_DEBUG
		 : value < 4 ? LOG_INFO
		 : value < 8 ? LOG_WARN
			     : LOG_ERROR;
	return 0;
}

/* log_level_parse, then the other loggers' names: 0, or -1. */
static int level_from_name(const char *name, enum log_level *level)
{
	if (log_level_parse(name, level) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(other_names) / sizeof(other_names[0]); i++)
		if (strcasecmp(name, other_names[i].name) == 0) {
			*level = other_names[i].level;
			return 0;
		}
	return slog_offset_level(name, level);
}

const struct cJSON *json_path_find(const struct cJSON *obj, const char *path, size_t len)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)obj;
	(void)path;
	(void)len;
	NOT_IMPLEMENTED("json_path_find", "lessons/04-parser/README.md#build-it-a-path-and-a-scale");
	return NULL;
}

int log_level_from_number(double number, enum level_scale scale, enum log_level *level)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)number;
	(void)scale;
	(void)level;
	NOT_IMPLEMENTED("log_level_from_number", "lessons/04-parser/README.md#build-it-a-path-and-a-scale");
	return -1;
}

enum parse_error parse_log_line_as(const struct log_format *fmt, const char *text, size_t len,
				   struct log_entry **entry)
{
	if (fmt == NULL)
		return parse_log_line(text, len, entry);
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)text;
	(void)len;
	(void)level_from_name;
	*entry = NULL;
	NOT_IMPLEMENTED("parse_log_line_as", "lessons/04-parser/README.md#build-it-a-path-and-a-scale");
	return PARSE_NOTIMPL;
}

/* ---- part 2: container logs --------------------------------------------------- */

/* Replaces line's text with text[0..len), which lies inside it or is no
 * longer than it (an unwrapped line is never longer than its wrapper). */
static void line_set_text(struct line *line, const char *text, size_t len)
{
	memmove(line->text, text, len);
	line->text[len] = '\0';
	line->len = len;
}

/* Makes room for size bytes in pl->text: 0, or -1 when out of memory. */
static int partial_reserve(struct partial_line *pl, size_t size)
{
	if (size <= pl->cap)
		return 0;
	size_t cap = pl->cap > 0 ? pl->cap : 256;
	while (cap < size)
		cap *= 2;
	char *grown = realloc(pl->text, cap);
	if (grown == NULL)
		return -1;
	pl->text = grown;
	pl->cap = cap;
	return 0;
}

/* Adds one piece to the line being joined. */
static void partial_add(struct partial_line *pl, const char *text, size_t len, size_t max)
{
	pl->pieces++;
	if (pl->skipped == 0 && pl->len + len <= max && partial_reserve(pl, pl->len + len + 1) == 0) {
		memcpy(pl->text + pl->len, text, len);
		pl->len += len;
		pl->text[pl->len] = '\0';
		return;
	}
	/* Past the limit (or out of memory, rarer): the line will be a
	 * too-long marker, which carries only its length. */
	pl->skipped += (pl->skipped == 0 ? pl->len : 0) + len;
}

/* Forgets the pieces held (the buffer is kept for the next line). */
static void partial_reset(struct partial_line *pl)
{
	pl->len = pl->skipped = 0;
	pl->pieces = 0;
}

static size_t max_line_of(const struct parser_stage *st)
{
	return st->max_line > 0 ? st->max_line : TAILER_DEFAULT_MAX_LINE;
}

/*
 * text[0..len) ends a line of pl's stream: it is the line, unless pieces
 * came before it. Then the pieces are counted as joined, and the line is
 * the pieces and text together (in place of line, which is freed), or a
 * too-long marker.
 */
static struct line *partial_end(struct parser_stage *st, struct partial_line *pl, struct line *line,
				const char *text, size_t len)
{
	if (pl->pieces == 0) {
		line_set_text(line, text, len);
		return line;
	}
	unsigned long long pieces = pl->pieces;
	partial_add(pl, text, len, max_line_of(st));
	struct line *whole = pl->skipped > 0 ? line_new_too_long(pl->skipped) : line_new(pl->text, pl->len);
	atomic_fetch_add(&st->stats.joined, pieces);
	partial_reset(pl);
	if (whole == NULL) {
		/* Out of memory: what is left to count is the last piece. */
		line_set_text(line, text, len);
		return line;
	}
	line_free(line);
	return whole;
}

/* A piece that does not end its line: held, and line freed. */
static struct line *partial_hold(struct parser_stage *st, struct partial_line *pl, struct line *line,
				 const char *text, size_t len)
{
	partial_add(pl, text, len, max_line_of(st));
	line_free(line);
	return NULL;
}

/* The piece text[0..len) of stream (0 stdout, 1 stderr): ends its line or not. */
static struct line *partial_piece(struct parser_stage *st, int stream, int ends, struct line *line,
				  const char *text, size_t len)
{
	struct partial_line *pl = &st->partial[stream];
	return ends ? partial_end(st, pl, line, text, len) : partial_hold(st, pl, line, text, len);
}

/*
 * "TIMESTAMP STREAM TAG TEXT": sets *text, *len, *stream (0 stdout, 1
 * stderr) and *full (the tag is F, or P for a partial piece; a tag may
 * carry more after a colon). 0, or -1 if line is not in that form.
 */
static int cri_fields(const struct line *line, const char **text, size_t *len, int *stream, int *full)
{
	const char *p = line->text, *end = line->text + line->len;
	size_t ts = strcspn(p, " ");
	if (ts == 0 || p + ts >= end)
		return -1;
	p += ts + 1;
	if (strncmp(p, "stdout ", 7) != 0 && strncmp(p, "stderr ", 7) != 0)
		return -1;
	*stream = p[3] == 'e'; /* std(e)rr */
	p += 7;
	if ((*p != 'P' && *p != 'F') || (p[1] != ' ' && p[1] != ':' && p[1] != '\0'))
		return -1;
	*full = *p == 'F';
	p += strcspn(p, " ");
	if (*p == ' ')
		p++;
	*text = p;
	*len = (size_t)(end - p);
	return 0;
}

static struct line *unwrap_cri(struct parser_stage *st, struct line *line)
{
	const char *text;
	size_t len;
	int stream, full;
	if (cri_fields(line, &text, &len, &stream, &full) != 0)
		return line;
	return partial_piece(st, stream, full, line, text, len);
}

/* {"log":"...\n","stream":...,"time":...}: the "log" string, without its
 * newline; a "log" without one is a piece of a longer line. */
static struct line *unwrap_docker(struct parser_stage *st, struct line *line)
{
	if (memchr(line->text, '\0', line->len) != NULL)
		return line;
	cJSON *root = cJSON_ParseWithOpts(line->text, NULL, 1);
	const cJSON *log = cJSON_GetObjectItemCaseSensitive(root, "log");
	if (!cJSON_IsString(log)) {
		cJSON_Delete(root);
		return line;
	}
	const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
	int is_stderr = cJSON_IsString(stream) && strcmp(stream->valuestring, "stderr") == 0;
	/* Unescaped, the string is shorter than its JSON: it fits in line. */
	size_t len = strlen(log->valuestring);
	int full = len > 0 && log->valuestring[len - 1] == '\n';
	line_set_text(line, log->valuestring, len - (size_t)full);
	cJSON_Delete(root);
	return partial_piece(st, is_stderr, full, line, line->text, line->len);
}

struct line *parser_unwrap(struct parser_stage *st, struct line *line)
{
	/* A line over the tailer's limit has no text to say its stream: it
	 * is a line of its own, and counts as too_long. */
	if (st->container == CONTAINER_NONE || line->too_long)
		return line;
	return st->container == CONTAINER_CRI ? unwrap_cri(st, line) : unwrap_docker(st, line);
}

void parser_finish(struct parser_stage *st)
{
	for (int i = 0; i < 2; i++) {
		atomic_fetch_add(&st->stats.discarded, st->partial[i].pieces);
		free(st->partial[i].text);
		memset(&st->partial[i], 0, sizeof(st->partial[i]));
	}
}

/* ---- the stage --------------------------------------------------------------- */

struct log_entry *parser_step(struct parser_stage *st, struct line *line)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)st;
	(void)line;
	NOT_IMPLEMENTED("parser_step", "lessons/04-parser/README.md#the-stage-loop");
	return NULL;
}

void *parser_run(void *arg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)arg;
	NOT_IMPLEMENTED("parser_run", "lessons/04-parser/README.md#the-stage-loop");
	return NULL;
}
