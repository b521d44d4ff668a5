#include "readlines.h"

#include "line.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/*
 * The tailer of lesson 03 skips an overlong line without holding it in
 * memory; a program that reads a file it was given can afford to read it
 * whole, and leave the limit to its callback.
 */
int readlines(const char *path, readlines_fn *each, void *ctx)
{
	FILE *f = path != NULL ? fopen(path, "r") : stdin;
	if (f == NULL)
		return -1;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int rc = 0;
	while (rc == 0 && (n = getline(&buf, &cap, f)) >= 0) {
		size_t len = (size_t)n;
		lineno++;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		buf[len] = '\0';
		if (!line_is_blank(buf, len))
			rc = each(ctx, lineno, buf, len);
	}
	int saved = errno;
	if (rc == 0 && ferror(f))
		rc = -1;
	free(buf);
	if (f != stdin)
		fclose(f);
	errno = saved;
	return rc;
}

void readlines_error(const char *prog, const char *path)
{
	fprintf(stderr, "%s: %s: %s\n", prog, path != NULL ? path : "stdin", strerror(errno));
}
