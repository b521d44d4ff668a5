/*
 * line.h - one line of a log, as the tailer (lesson 03) sends it to the
 * parser (lesson 04).
 *
 * A struct line is one heap block: the header and the text together, so a
 * single free releases it. Ownership moves with the pointer: the tailer
 * allocates, sends it on a channel and forgets it; the parser frees it
 * with line_free once it has parsed it.
 */
#ifndef LINE_H
#define LINE_H

#include <stddef.h>

struct line {
	size_t len;   /* bytes of text, without the newline (or bytes skipped, if too_long) */
	int too_long; /* 1: the line was longer than the limit and was skipped; text is "" */
	char text[];  /* len bytes and a NUL (just the NUL when too_long) */
};

/* A copy of text[0..len) as a line; a trailing '\r' is not removed here.
 * NULL when out of memory. */
struct line *line_new(const char *text, size_t len);

/* A marker for a line that was `skipped` bytes long, over the limit. */
struct line *line_new_too_long(size_t skipped);

void line_free(struct line *line);

/* 1 if text[0..len) is empty or only spaces, tabs and '\r's (not a log
 * line: a '\r' alone is what a blank line of a CRLF file leaves). */
int line_is_blank(const char *text, size_t len);

#endif
