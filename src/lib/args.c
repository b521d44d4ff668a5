#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More options than any program has, --help included. */
#define ARGS_MAX 32

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

/* One option's head in the usage: "-l, --name VALUE". */
static int head(char *to, size_t size, char letter, const char *name, const char *value)
{
	return snprintf(to, size, "%c%c%c --%s%s%s", letter ? '-' : ' ', letter ? letter : ' ',
			letter ? ',' : ' ', name, value ? " " : "", value ? value : "");
}

/* Prints one option's line: its head padded to width, then its help,
 * each '\n' of it followed by the same padding. */
static void print_option(FILE *to, int width, char letter, const char *name, const char *value,
			 const char *help)
{
	char text[64];
	head(text, sizeof(text), letter, name, value);
	fprintf(to, "  %-*s", width, text);
	for (const char *h = help; *h != '\0'; h++) {
		fputc(*h, to);
		if (*h == '\n')
			fprintf(to, "  %-*s", width, "");
	}
	fputc('\n', to);
}

/* "[--name VALUE] [--flag]...", each option of the table in turn. */
static void print_synopsis(FILE *to, const struct arg_program *p)
{
	for (const struct arg_option *o = p->options; o->name != NULL; o++)
		fprintf(to, "%s[--%s%s%s]", o == p->options ? "" : " ", o->name, o->value ? " " : "",
			o->value ? o->value : "");
}

static void print_usage(FILE *to, const struct arg_program *p)
{
	fprintf(to, "usage: %s ", p->name);
	if (p->synopsis == NULL)
		print_synopsis(to, p);
	for (const char *s = p->synopsis; s != NULL && *s != '\0'; s++) {
		if (*s == '\n')
			fprintf(to, "\n       %s ", p->name);
		else
			fputc(*s, to);
	}
	fprintf(to, "\n%s", p->about);
	int width = 20;
	for (const struct arg_option *o = p->options; o->name != NULL; o++) {
		int w = head(NULL, 0, o->letter, o->name, o->value) + 2;
		width = w > width ? w : width;
	}
	for (const struct arg_option *o = p->options; o->name != NULL; o++)
		print_option(to, width, o->letter, o->name, o->value, o->help);
	print_option(to, width, 'h', "help", NULL, "this text");
}

int args_bad(const struct arg_program *p, const char *why)
{
	if (why != NULL)
		fprintf(stderr, "%s: %s\n", p->name, why);
	print_usage(stderr, p);
	return 2;
}

/* Says why text is not a value for o. */
static void say_wants(const struct arg_program *p, const struct arg_option *o, const char *text)
{
	if (o->kind == ARG_LIST) {
		fprintf(stderr, "%s: --%s takes at most %.15g values: '%s' is one too many\n", p->name,
			o->name, o->hi, text);
		return;
	}
	fprintf(stderr, "%s: --%s wants ", p->name, o->name);
	if (o->wants != NULL)
		fputs(o->wants, stderr);
	else if (o->hi >= 1e15) /* SIZE_MAX and the like: no limit a person types */
		fprintf(stderr, "a %snumber >= %.15g", o->kind == ARG_WHOLE ? "whole " : "", o->lo);
	else
		fprintf(stderr, "a %snumber from %.15g to %.15g", o->kind == ARG_WHOLE ? "whole " : "", o->lo,
			o->hi);
	fprintf(stderr, ", not '%s'\n", text);
}

/* Adds text after the others in list, which has room for max (and the
 * NULL after them). 0, or -1 if it is full. */
static int add_to_list(const char **list, size_t max, const char *text)
{
	size_t n = 0;
	while (n < max && list[n] != NULL)
		n++;
	if (n == max)
		return -1;
	list[n] = text;
	return 0;
}

/* Stores text in o's destination. 0, or -1 if it is not a value for o. */
static int take(const struct arg_option *o, const char *text)
{
	switch (o->kind) {
	case ARG_FLAG:
		*(int *)o->dest = 1;
		return 0;
	case ARG_TEXT:
		*(const char **)o->dest = text;
		return 0;
	case ARG_WHOLE:
		return arg_whole(text, (unsigned long long)o->lo,
				 o->hi >= (double)ULLONG_MAX ? ULLONG_MAX : (unsigned long long)o->hi,
				 o->dest);
	case ARG_DECIMAL:
		return arg_decimal(text, o->lo, o->hi, o->dest);
	case ARG_CUSTOM:
		return o->take(text, o->dest);
	case ARG_LIST:
		return add_to_list(o->dest, (size_t)o->hi, text);
	}
	return -1;
}

/* getopt_long's tables, built from p's: the value of each long option is
 * its index in p->options, and a letter maps to the same index. */
static int build(const struct arg_program *p, struct option *longs, char *shorts)
{
	int n = 0;
	char *s = shorts;
	*s++ = ':'; /* a missing value answers ':', not '?' */
	for (const struct arg_option *o = p->options; o->name != NULL && n < ARGS_MAX - 2; o++, n++) {
		longs[n] = (struct option){o->name, o->kind == ARG_FLAG ? no_argument : required_argument,
					   NULL, n + 256};
		if (o->letter) {
			*s++ = o->letter;
			if (o->kind != ARG_FLAG)
				*s++ = ':';
		}
	}
	longs[n] = (struct option){"help", no_argument, NULL, 'h'};
	longs[n + 1] = (struct option){NULL, 0, NULL, 0};
	strcpy(s, "h");
	return n;
}

/* The option getopt_long's answer c stands for, or NULL. */
static const struct arg_option *find(const struct arg_program *p, int n, int c)
{
	if (c >= 256 && c < 256 + n)
		return &p->options[c - 256];
	for (int i = 0; i < n; i++)
		if (p->options[i].letter != 0 && p->options[i].letter == c)
			return &p->options[i];
	return NULL;
}

int args_parse(const struct arg_program *p, int argc, char **argv)
{
	struct option longs[ARGS_MAX];
	char shorts[2 * ARGS_MAX + 2];
	int n = build(p, longs, shorts);
	opterr = 0; /* we print our own one-line reasons */
	int c;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		const struct arg_option *o = find(p, n, c);
		if (c == 'h' && o == NULL) {
			print_usage(stdout, p);
			return 0;
		}
		if (c == ':')
			fprintf(stderr, "%s: %s needs a value\n", p->name, argv[optind - 1]);
		else if (o == NULL)
			fprintf(stderr, "%s: unknown option %s\n", p->name, argv[optind - 1]);
		else if (take(o, optarg) != 0)
			say_wants(p, o, optarg);
		else
			continue;
		return args_bad(p, NULL);
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", p->name, argv[optind]);
		return args_bad(p, NULL);
	}
	return -1;
}
