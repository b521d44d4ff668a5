/*
 * render.c - lesson 06: the whole registry in the Prometheus text format,
 * as a scrape asks for it. The contract is in src/metrics.h.
 *
 * The render holds reg->mu from the first family to the last, so a scrape
 * is one instant: no update lands between a histogram's buckets and its
 * count, and no family is half new. Updates wait meanwhile; the work done
 * under the lock is formatting into memory, never I/O.
 *
 * Given: type_name and put_count. Yours: the three helpers below, whose
 * contracts are written above each, and metrics_render.
 */
#include "metrics.h"
#include "notimpl.h"
#include "strbuf.h"

#include <errno.h>
#include <math.h>

/* ---- given ------------------------------------------------------------------ */

/* The word the TYPE line uses for a type. */
EXERCISE_HELPER static const char *type_name(enum metric_type type)
{
	switch (type) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* " n\n": the end of a sample line whose value is a count. */
EXERCISE_HELPER static void put_count(struct strbuf *sb, unsigned long long n)
{
	strbuf_printf(sb, " %llu\n", n);
}

/* ---- yours ------------------------------------------------------------------- */

/*
 * Appends name + suffix, then {label="value",...} with the series' labels
 * (values through metrics_escape_label_value), then le="bound" last if le
 * is not NULL (the bound through metrics_format_value, so it reads
 * "0.005", "1", "+Inf" in every scrape: le is a label, compared as text).
 * Commas go between labels, none after the last; with no label at all
 * there are no braces. Tested by test_render_golden,
 * test_render_escapes_help_and_label_values and
 * test_histogram_observation_equal_to_a_bound_counts_in_its_bucket.
 */
EXERCISE_HELPER static void put_name_and_labels(struct strbuf *sb, const struct metric_family *f,
						const char *suffix, const struct metric_series *s,
						const double *le)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)sb;
	(void)f;
	(void)suffix;
	(void)s;
	(void)le;
	NOT_IMPLEMENTED("put_name_and_labels", "lessons/06-metrics/README.md#rendering");
}

/*
 * The lines of one histogram series: name_bucket for each bound in
 * order, each with every observation at or below its bound (what
 * buckets[i] holds is said in struct metric_series); then le="+Inf" with
 * the count; then name_sum and name_count. Tested by
 * test_render_golden and test_histogram_observation_equal_to_a_bound_counts_in_its_bucket.
 */
EXERCISE_HELPER static void render_histogram_series(struct strbuf *sb, const struct metric_family *f,
						    const struct metric_series *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)sb;
	(void)f;
	(void)s;
	NOT_IMPLEMENTED("render_histogram_series", "lessons/06-metrics/README.md#rendering");
}

/*
 * One family: its HELP line (help through metrics_escape_help) and its
 * TYPE line, once, then every series in creation order (next_created).
 * Called with reg->mu held. Tested by test_render_golden and
 * test_render_escapes_help_and_label_values.
 */
EXERCISE_HELPER static void render_family(struct strbuf *sb, const struct metric_family *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)sb;
	(void)f;
	NOT_IMPLEMENTED("render_family", "lessons/06-metrics/README.md#rendering");
}

char *metrics_render(struct metrics_registry *reg, size_t *len)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)reg;
	(void)len;
	NOT_IMPLEMENTED("metrics_render", "lessons/06-metrics/README.md#rendering");
	errno = ENOSYS;
	return NULL;
}
