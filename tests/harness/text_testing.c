#include "text_testing.h"
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int text_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = strstr(text, line); p != NULL; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

double text_sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = strstr(text, series); p != NULL; p = strstr(p + 1, series))
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

void write_all_or_fail(int fd, const char *text)
{
	size_t n = strlen(text);
	while (n > 0) {
		ssize_t w = write(fd, text, n);
		if (w <= 0)
			fail_msg("write: %s", strerror(errno));
		text += w;
		n -= (size_t)w;
	}
}

/* The escape that stands for c in a C string literal, or NULL if c is
 * written as itself or as \xNN. */
static const char *escape_of(unsigned char c)
{
	switch (c) {
	case '\\': return "\\\\";
	case '"': return "\\\"";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default: return NULL;
	}
}

const char *quoted(const char *s)
{
	/* ROOM leaves space after it for one escape, the closing quote, "..." and NUL. */
	enum { SLOTS = 8, SIZE = 1024, ROOM = SIZE - 8 };
	static _Thread_local char buf[SLOTS][SIZE];
	static _Thread_local unsigned next;
	if (s == NULL)
		return "NULL";
	char *out = buf[next++ % SLOTS];
	size_t n = 0;
	out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (n >= ROOM) {
			memcpy(out + n, "\"...", 5);
			return out;
		}
		const char *esc = escape_of(*p);
		if (esc != NULL)
			n += (size_t)snprintf(out + n, SIZE - n, "%s", esc);
		else if (*p < 0x20 || *p >= 0x7f)
			n += (size_t)snprintf(out + n, SIZE - n, "\\x%02x", *p);
		else
			out[n++] = (char)*p;
	}
	memcpy(out + n, "\"", 2);
	return out;
}
