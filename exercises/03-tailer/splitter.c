/*
 * splitter.c - lesson 03: bytes in, lines out. The contract is in
 * src/tailer.h (struct line_splitter and the splitter_ functions).
 *
 * A read() returns whatever the file holds: half a line, ten lines and a
 * half, a line that never ends. The splitter turns that into whole lines:
 * it keeps the partial line until its newline arrives, strips one '\r'
 * before the newline, drops blank lines, and replaces a line longer than
 * max_line with a single too-long marker.
 */
#include "tailer.h"
#include "notimpl.h"

#include <stdlib.h>
#include <string.h>

void splitter_init(struct line_splitter *s, size_t max_line)
{
	s->buf = NULL;
	s->len = 0;
	s->cap = 0;
	s->max_line = max_line;
	s->skipping = 0;
	s->skipped = 0;
}

void splitter_free(struct line_splitter *s)
{
	free(s->buf);
	splitter_init(s, s->max_line);
}

int splitter_feed(struct line_splitter *s, const char *data, size_t n, line_emit_fn emit, void *ctx)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)data;
	(void)n;
	(void)emit;
	(void)ctx;
	NOT_IMPLEMENTED("splitter_feed", "lessons/03-tailer/README.md#the-line-splitter");
	return -1;
}

int splitter_flush(struct line_splitter *s, line_emit_fn emit, void *ctx)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)emit;
	(void)ctx;
	NOT_IMPLEMENTED("splitter_flush", "lessons/03-tailer/README.md#the-line-splitter");
	return -1;
}
