#include "text_testing.h"
#include "harness.h"

#include <errno.h>
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
