/*
 * exposition.c - lesson 06: the three small pieces of the Prometheus text
 * format: a number, a label value, a help text. Each appends to a strbuf
 * and knows nothing of registries, so each can be tested on its own. The
 * contract is in src/metrics.h.
 */
#include "metrics.h"
#include "notimpl.h"
#include "strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- numbers -------------------------------------------------------------- */

/* 2^53: below it every integer is a double, and %.0f prints it exactly. */
#define EXACT_INTEGER_LIMIT 9007199254740992.0

void metrics_format_value(struct strbuf *out, double v)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)out;
	(void)v;
	NOT_IMPLEMENTED("metrics_format_value", "lessons/06-metrics/README.md#formatting-a-value");
}

/* ---- label values ------------------------------------------------------------ */

void metrics_escape_label_value(struct strbuf *out, const char *value)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)out;
	(void)value;
	NOT_IMPLEMENTED("metrics_escape_label_value", "lessons/06-metrics/README.md#escaping");
}

/* ---- help texts -------------------------------------------------------------- */

void metrics_escape_help(struct strbuf *out, const char *help)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)out;
	(void)help;
	NOT_IMPLEMENTED("metrics_escape_help", "lessons/06-metrics/README.md#escaping");
}
