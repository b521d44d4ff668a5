/*
 * exposition.c - lesson 06: the three small pieces of the Prometheus text
 * format: a number, a label value, a help text. Each appends to a strbuf
 * and knows nothing of registries, so each can be tested on its own. The
 * contract is in src/metrics.h.
 *
 * Given: metrics_format_value and the UTF-8 decoder, utf8_sequence.
 * Yours: the two escapers, which apply the format's rules.
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

/* Given: a detail of C's printf, not of the format. Read it, and see
 * lessons/06-metrics/README.md#numbers-that-read-back for why. */
void metrics_format_value(struct strbuf *out, double v)
{
	/* printf says "inf" and "nan"; the format says "+Inf", "-Inf", "NaN". */
	if (isnan(v)) {
		strbuf_puts(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Counters are whole numbers nearly always: print them as such, not
	 * as 1e+15. */
	if (v == floor(v) && fabs(v) < EXACT_INTEGER_LIMIT) {
		strbuf_printf(out, "%.0f", v);
		return;
	}
	/* 17 significant digits always read back as the same double; fewer
	 * often do, and read better ("0.1", not "0.10000000000000001"). Take
	 * the first precision whose text strtod turns back into v. */
	char text[40];
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(text, sizeof(text), "%.*g", precision, v);
		if (precision == 17 || strtod(text, NULL) == v)
			break;
	}
	strbuf_puts(out, text);
}

/* ---- label values ------------------------------------------------------------ */

/*
 * Given: the UTF-8 decoder metrics_escape_label_value calls.
 *
 * The length of the valid UTF-8 sequence at s (1 to 4), or 0 if there is
 * none; then *bad is the number of bytes to replace by one U+FFFD: the
 * longest start of a sequence that could still have been valid (at least
 * one byte), as Unicode recommends. Table 3-7 of the Unicode standard: the
 * second byte's range depends on the first, which rules out overlong
 * forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code
 * points above U+10FFFF (F4 90.., F5..FF).
 */
EXERCISE_HELPER static size_t utf8_sequence(const unsigned char *s, size_t *bad)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		len = 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	size_t i = 1;
	/* A NUL ends the string and is never a continuation byte, so the
	 * loop stops there without reading past it. */
	while (i < len && s[i] >= lo && s[i] <= hi) {
		i++;
		lo = 0x80;
		hi = 0xBF;
	}
	if (len > 0 && i == len)
		return len;
	*bad = i;
	return 0;
}

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
