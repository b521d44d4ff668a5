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
	/* BEGIN SOLUTION */
	strbuf_puts(sb, f->name);
	strbuf_puts(sb, suffix);
	if (f->nlabels == 0 && le == NULL)
		return;
	strbuf_putc(sb, '{');
	for (size_t i = 0; i < f->nlabels; i++) {
		strbuf_printf(sb, "%s%s=\"", i > 0 ? "," : "", f->label_names[i]);
		metrics_escape_label_value(sb, s->label_values[i]);
		strbuf_putc(sb, '"');
	}
	if (le != NULL) {
		strbuf_puts(sb, f->nlabels > 0 ? ",le=\"" : "le=\"");
		metrics_format_value(sb, *le);
		strbuf_putc(sb, '"');
	}
	strbuf_putc(sb, '}');
	/* END SOLUTION */
	/* STUB
	(void)sb;
	(void)f;
	(void)suffix;
	(void)s;
	(void)le;
	NOT_IMPLEMENTED("put_name_and_labels", "lessons/06-metrics/README.md#rendering");
	*/
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
	/* BEGIN SOLUTION */
	unsigned long long cumulative = 0;
	for (size_t i = 0; i < f->nbuckets; i++) {
		cumulative += s->buckets[i];
		put_name_and_labels(sb, f, "_bucket", s, &f->bounds[i]);
		put_count(sb, cumulative);
	}
	const double inf = INFINITY;
	put_name_and_labels(sb, f, "_bucket", s, &inf);
	put_count(sb, s->count);
	put_name_and_labels(sb, f, "_sum", s, NULL);
	strbuf_putc(sb, ' ');
	metrics_format_value(sb, s->sum);
	strbuf_putc(sb, '\n');
	put_name_and_labels(sb, f, "_count", s, NULL);
	put_count(sb, s->count);
	/* END SOLUTION */
	/* STUB
	(void)sb;
	(void)f;
	(void)s;
	NOT_IMPLEMENTED("render_histogram_series", "lessons/06-metrics/README.md#rendering");
	*/
}

/*
 * One family: its HELP line (help through metrics_escape_help) and its
 * TYPE line, once, then every series in creation order (next_created).
 * Called with reg->mu held. Tested by test_render_golden and
 * test_render_escapes_help_and_label_values.
 */
EXERCISE_HELPER static void render_family(struct strbuf *sb, const struct metric_family *f)
{
	/* BEGIN SOLUTION */
	strbuf_printf(sb, "# HELP %s ", f->name);
	metrics_escape_help(sb, f->help);
	strbuf_printf(sb, "\n# TYPE %s %s\n", f->name, type_name(f->type));
	for (const struct metric_series *s = f->first; s != NULL; s = s->next_created) {
		if (f->type == METRIC_HISTOGRAM) {
			render_histogram_series(sb, f, s);
			continue;
		}
		put_name_and_labels(sb, f, "", s, NULL);
		strbuf_putc(sb, ' ');
		metrics_format_value(sb, s->value);
		strbuf_putc(sb, '\n');
	}
	/* END SOLUTION */
	/* STUB
	(void)sb;
	(void)f;
	NOT_IMPLEMENTED("render_family", "lessons/06-metrics/README.md#rendering");
	*/
}

char *metrics_render(struct metrics_registry *reg, size_t *len)
{
	/* BEGIN SOLUTION */
	if (reg == NULL) {
		errno = EINVAL;
		return NULL;
	}
	struct strbuf sb = STRBUF_INIT;
	pthread_mutex_lock(&reg->mu);
	for (const struct metric_family *f = reg->first; f != NULL; f = f->next)
		render_family(&sb, f);
	pthread_mutex_unlock(&reg->mu);
	/* An empty registry renders as "": strbuf_take gives "" (not NULL)
	 * for a buffer nothing was appended to. */
	char *text = strbuf_take(&sb, len);
	if (text == NULL)
		errno = ENOMEM;
	return text;
	/* END SOLUTION */
	/* STUB
	(void)reg;
	(void)len;
	NOT_IMPLEMENTED("metrics_render", "lessons/06-metrics/README.md#rendering");
	errno = ENOSYS;
	return NULL;
	*/
}
