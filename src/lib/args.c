#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int arg_whole(const char *text, unsigned long long min, unsigned long long max, unsigned long long *out)
{
	if (!isdigit((unsigned char)text[0]))
		return -1;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int arg_decimal(const char *text, double min, double max, double *out)
{
	if (!isdigit((unsigned char)text[0]) && text[0] != '.')
		return -1;
	char *end = NULL;
	errno = 0;
	double v = strtod(text, &end);
	/* !(min <= v && v <= max) is also true for NaN. */
	if (errno != 0 || *end != '\0' || !(min <= v && v <= max))
		return -1;
	*out = v;
	return 0;
}

void arg_getopt_error(const char *prog, int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "%s: %s needs a value\n", prog, argv[optind - 1]);
	else
		fprintf(stderr, "%s: unknown option %s\n", prog, argv[optind - 1]);
}

int arg_none_left(const char *prog, int argc, char **argv, const char *hint)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "%s: unexpected argument '%s'%s%s%s\n", prog, argv[optind], hint != NULL ? " (" : "",
		hint != NULL ? hint : "", hint != NULL ? ")" : "");
	return -1;
}

int arg_rest(const char *prog, int bad, int argc, char **argv)
{
	if (bad) {
		fprintf(stderr, "%s: bad option or value near '%s'\n", prog, argv[optind - 1]);
		return -1;
	}
	return arg_none_left(prog, argc, argv, NULL);
}
