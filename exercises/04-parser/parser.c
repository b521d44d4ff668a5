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

void log_entry_free(struct log_entry *entry)
{
	if (entry == NULL)
		return;
	free(entry->service);
	free(entry->message);
	free(entry->timestamp);
	free(entry);
}

enum parse_error parse_log_line(const char *text, size_t len, struct log_entry **entry)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)text;
	(void)len;
	*entry = NULL;
	NOT_IMPLEMENTED("parse_log_line", "lessons/04-parser/README.md#parsing-one-line");
	return PARSE_NOTIMPL;
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
