/*
 * readlines.h - a log read line by line the way the tailer (lesson 03)
 * hands lines over, for the step programs that play the tailer: the
 * newline and a trailing '\r' dropped, blank lines skipped.
 */
#ifndef READLINES_H
#define READLINES_H

#include "args.h"

#include <stddef.h>

/* The options of a program that reads a log: --file PATH (NULL: stdin),
 * and --max-line BYTES for one that has a limit (its default is 65536,
 * the tailer's). */
#define READLINES_FILE_OPT(path) ARG_TEXT_OPT("file", 'f', path, "PATH", "read PATH instead of stdin")
#define READLINES_MAX_LINE_OPT(bytes)                                                                        \
	ARG_WHOLE_OPT("max-line", 'm', bytes, "BYTES", "longer lines count as too_long (default 65536)", 1,  \
		      ARG_NO_MAX)

/* What readlines calls for each line: text[len] is '\0', lineno counts
 * from 1 (blank lines too). Nonzero stops the reading. */
typedef int readlines_fn(void *ctx, unsigned long lineno, char *text, size_t len);

/* Reads path (NULL: stdin) and calls each for every line that is not
 * blank. Returns 0 at the end, the first nonzero answer of each, or -1
 * with errno if path cannot be opened or read. */
int readlines(const char *path, readlines_fn *each, void *ctx);

/* Says on stderr, after "prog: ", why readlines answered -1. */
void readlines_error(const char *prog, const char *path);

#endif
