/*
 * splitter.c - lesson 03: bytes in, lines out. The contract is in
 * src/tailer.h (struct line_splitter and the splitter_ functions).
 *
 * A read() returns whatever the file holds: half a line, ten lines and a
 * half, a line that never ends. The splitter turns that into whole lines:
 * it keeps the partial line until its newline arrives, strips one '\r'
 * before the newline, drops blank lines, and replaces a line longer than
 * max_line with a single too-long marker.
 *
 * Given: splitter_init, splitter_free, keep_limit and reset. Yours: keep
 * and end_line (the two helpers, each with its contract above it), then
 * splitter_feed and splitter_flush, which call them.
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

/*
 * Given: the buffer never holds more than max_line + 1 bytes: a line of
 * max_line bytes followed by the '\r' of its "\r\n". One byte more and the
 * line is too long whatever comes next, so the splitter stops keeping it.
 */
EXERCISE_HELPER static size_t keep_limit(const struct line_splitter *s)
{
	return s->max_line + 1;
}

/* Forgets the line in progress (given). */
EXERCISE_HELPER static void reset(struct line_splitter *s)
{
	s->len = 0;
	s->skipping = 0;
	s->skipped = 0;
}

/*
 * Yours: appends n bytes to the partial line, growing buf as needed but
 * never past keep_limit (the caller switches to skipping before the line
 * would pass it). 0, or -1 when memory runs out (nothing appended then).
 */
EXERCISE_HELPER static int keep(struct line_splitter *s, const char *data, size_t n)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)data;
	(void)n;
	NOT_IMPLEMENTED("keep", "lessons/03-tailer/README.md#the-line-splitter");
	return -1;
}

/*
 * Yours: the line in progress has ended (its newline arrived, or the file
 * did). Emits what the lesson's section "Partial, long, blank and CRLF
 * lines" says that line is, if anything; afterwards the splitter holds no
 * line, whatever happened. Returns what emit returned (0 if nothing was
 * emitted), or -1 when memory runs out. The one place a line ends:
 * splitter_feed calls it at each '\n', splitter_flush at the end.
 */
EXERCISE_HELPER static int end_line(struct line_splitter *s, line_emit_fn emit, void *ctx)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)emit;
	(void)ctx;
	NOT_IMPLEMENTED("end_line", "lessons/03-tailer/README.md#the-line-splitter");
	return -1;
}

/* Contract in src/tailer.h. Whatever the input, buf never holds more than
 * keep_limit bytes and a too-long line gives one marker. Tests: the
 * test_splitter_* ones. */
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

/* A line ends the same way here as at a newline. Tests:
 * test_splitter_flush_emits_a_partial_line and the other test_splitter_flush_*. */
int splitter_flush(struct line_splitter *s, line_emit_fn emit, void *ctx)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)emit;
	(void)ctx;
	NOT_IMPLEMENTED("splitter_flush", "lessons/03-tailer/README.md#the-line-splitter");
	return -1;
}
