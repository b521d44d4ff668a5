/*
 * The metrics tally (src/metrics_tally.h, given in src/lib/metrics_tally.c)
 * and metrics_histogram_observe_many (given in lesson 06's registry.c):
 * the metrics stage a batch at a time must count exactly what
 * metrics_stage_step counts, entry by entry. Not part of any lesson's
 * grade, since the learner does not write them: `make check` runs this
 * suite against the reference, plain, under ThreadSanitizer and
 * AddressSanitizer.
 */
#include "harness.h"
#include "clock.h"
#include "last_seen.h"
#include "log_entry.h"
#include "metrics.h"
#include "metrics_tally.h"
#include "stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "docs/architecture.md#the-metrics-stage-a-batch-at-a-time"

/* Entry i of a made-up log: levels and services mixed, latencies now and
 * then (negative, huge and NaN among them), an invalid UTF-8 service
 * that names the same series as another once repaired. */
static struct log_entry *entry_of(long i, long services)
{
	static const double lat[] = {0.2, 3, 7.5, 40, 900, -1, 1e9, NAN, 0};
	char service[32];
	if (i % 29 == 0)
		snprintf(service, sizeof(service), "bad\xff%ld", i % 3);
	else if (i % 31 == 0)
		snprintf(service, sizeof(service), "bad\xfe%ld", i % 3);
	else
		snprintf(service, sizeof(service), "svc%ld", (i * 7) % services);
	struct log_entry *e = log_entry_new((enum log_level)(i % LOG_LEVELS), service, "m", NULL);
	if (e == NULL)
		fail_msg("log_entry_new: out of memory");
	if (i % 4 != 0) {
		e->has_latency = 1;
		e->latency_ms = lat[i % 9];
	}
	return e;
}

struct sink {
	struct metrics_registry *reg;
	struct metrics_stage stage;
};

static void sink_init(struct sink *s, size_t series_limit)
{
	s->reg = metrics_registry_new(series_limit);
	assert_non_null(s->reg);
	if (metrics_stage_init(&s->stage, s->reg, NULL) != 0)
		fail_msg("metrics_stage_init failed");
}

static char *sink_render(struct sink *s)
{
	char *text = metrics_render(s->reg, NULL);
	assert_non_null(text);
	return text;
}

static void sink_free(struct sink *s)
{
	metrics_registry_free(s->reg);
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text's lines, sorted (series are created in another order when
 * entries are counted by the group), in lines[]; how many. */
static size_t sorted_lines(char *text, char *lines[], size_t max)
{
	size_t n = 0;
	for (char *l = strtok(text, "\n"); l != NULL && n < max; l = strtok(NULL, "\n"))
		lines[n++] = l;
	qsort(lines, n, sizeof(lines[0]), by_text);
	return n;
}

/* Two samples agree: the same text, or the same _sum added up in
 * another order (the last digits of a sum of doubles depend on it). */
static int same_sample(const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return 1;
	const char *sa = strrchr(a, ' '), *sb = strrchr(b, ' ');
	/* Last-seen times are the clock's: the same series is what counts. */
	if (strncmp(a, LAST_SEEN_NAME "{", strlen(LAST_SEEN_NAME) + 1) == 0)
		return sa != NULL && sb != NULL && sa - a == sb - b && strncmp(a, b, (size_t)(sa - a)) == 0;
	if (sa == NULL || sb == NULL || sa - a != sb - b || strncmp(a, b, (size_t)(sa - a)) != 0 ||
	    strstr(a, "_sum") == NULL)
		return 0;
	double x = strtod(sa + 1, NULL), y = strtod(sb + 1, NULL);
	return fabs(x - y) <= 1e-9 * fmax(fabs(x), fabs(y));
}

/* The first line where the two renders disagree, or NULL. */
static const char *first_difference(char *a, char *b)
{
	static char *la[2048], *lb[2048];
	size_t na = sorted_lines(a, la, 2048), nb = sorted_lines(b, lb, 2048);
	for (size_t i = 0; i < na && i < nb; i++)
		if (!same_sample(la[i], lb[i]))
			return la[i];
	return na == nb ? NULL : "(a line more in one of them)";
}

/* n entries counted one by one by metrics_stage_step, and in batches of
 * `batch` through the tally: the same text, the same received and the
 * same drops. */
static void expect_same_counts(long n, long services, size_t batch, size_t series_limit)
{
	struct sink one, many;
	sink_init(&one, series_limit);
	sink_init(&many, series_limit);
	one.stage.last_seen = last_seen_register(one.reg);
	many.stage.last_seen = last_seen_register(many.reg);
	assert_non_null(one.stage.last_seen);
	assert_non_null(many.stage.last_seen);
	for (long i = 0; i < n; i++)
		metrics_stage_step(&one.stage, entry_of(i, services));
	for (long i = 0; i < n; i++) {
		metrics_tally_step(&many.stage, entry_of(i, services));
		if ((size_t)(i + 1) % batch == 0)
			metrics_tally_end(&many.stage);
	}
	metrics_tally_end(&many.stage);
	char *a = sink_render(&one), *b = sink_render(&many);
	const char *wrong = first_difference(a, b);
	if (wrong != NULL)
		fail_msg("%ld entries of %ld services, batches of %zu, series limit %zu: the tally's "
			 "registry differs from metrics_stage_step's, first at %s",
			 n, services, batch, series_limit, wrong);
	if (atomic_load(&one.stage.received) != atomic_load(&many.stage.received) ||
	    metrics_series_dropped(one.reg) != metrics_series_dropped(many.reg))
		fail_msg("received %llu against %llu, dropped %llu against %llu",
			 atomic_load(&one.stage.received), atomic_load(&many.stage.received),
			 metrics_series_dropped(one.reg), metrics_series_dropped(many.reg));
	free(a);
	free(b);
	sink_free(&one);
	sink_free(&many);
}

static void test_the_tally_counts_what_the_step_counts(void **state)
{
	(void)state;
	expect_same_counts(5000, 5, 256, 0);
	expect_same_counts(5000, 5, 1, 0);
	expect_same_counts(3000, 7, 17, 0);
}

/* More pairs of level and service in a batch than the tally groups at
 * once, and more entries than a batch holds before the end comes. */
static void test_the_tally_counts_a_batch_too_large_in_parts(void **state)
{
	(void)state;
	expect_same_counts(4000, 40, 1000, 0);
	expect_same_counts(5000, 3, 5000, 0);
}

/* Refused series are dropped once an entry, as the step drops them, and
 * neither observed nor seen. */
static void test_the_tally_drops_what_the_step_drops(void **state)
{
	(void)state;
	expect_same_counts(3000, 20, 256, 4);
	expect_same_counts(3000, 20, 1, 4);
}

/* Steps for two stages on one thread: each stage gets its own entries. */
static void test_the_tally_keeps_two_stages_apart(void **state)
{
	(void)state;
	struct sink a, b;
	sink_init(&a, 0);
	sink_init(&b, 0);
	for (long i = 0; i < 100; i++) {
		metrics_tally_step(&a.stage, entry_of(1, 5));
		metrics_tally_step(&b.stage, entry_of(2, 5));
		metrics_tally_step(&b.stage, entry_of(2, 5));
	}
	metrics_tally_end(&b.stage);
	if (atomic_load(&a.stage.received) != 100 || atomic_load(&b.stage.received) != 200)
		fail_msg("received %llu and %llu, expected 100 and 200",
			 atomic_load(&a.stage.received), atomic_load(&b.stage.received));
	sink_free(&a);
	sink_free(&b);
}

/* The service's last-seen time is set once a group, to the time of the
 * end of its batch, and only for services counted. */
static void test_the_tally_sets_last_seen(void **state)
{
	(void)state;
	struct sink s;
	sink_init(&s, 0);
	s.stage.last_seen = last_seen_register(s.reg);
	assert_non_null(s.stage.last_seen);
	double before = clock_unix_seconds();
	for (long i = 1; i < 50; i++)
		metrics_tally_step(&s.stage, entry_of(i, 3));
	metrics_tally_end(&s.stage);
	double after = clock_unix_seconds();
	for (long k = 0; k < 3; k++) {
		char name[32];
		snprintf(name, sizeof(name), "svc%ld", k);
		const char *const values[] = {name};
		double v = metrics_value(s.stage.last_seen, values);
		if (v < before || v > after)
			fail_msg("%s was last seen at %.3f, expected between %.3f and %.3f", name, v, before,
				 after);
	}
	sink_free(&s);
}

/* Observations by the many, or one by one: the same histogram. */
static void test_observe_many_is_observe_n_times(void **state)
{
	(void)state;
	static const double bounds[] = {0.5, 1, 2.5};
	static const double v[] = {-3, 0.5, 0.50001, 1, 2, 2.5, 3, INFINITY, -INFINITY, NAN};
	const char *const values[] = {"x"};
	struct metrics_registry *one = metrics_registry_new(0), *many = metrics_registry_new(0);
	const char *const labels[] = {"l"};
	struct metric_family *f1 = metrics_histogram(one, "h", "h", 1, labels, bounds, 3);
	struct metric_family *fm = metrics_histogram(many, "h", "h", 1, labels, bounds, 3);
	assert_non_null(f1);
	assert_non_null(fm);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		metrics_histogram_observe(f1, values, v[i]);
	assert_int_equal(metrics_histogram_observe_many(fm, values, v, sizeof(v) / sizeof(v[0])), 0);
	const char *const other[] = {"y"};
	assert_int_equal(metrics_histogram_observe_many(fm, other, v, 0), 0);
	char *a = metrics_render(one, NULL), *b = metrics_render(many, NULL);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "# one by one:\n%s# by the many:\n%s", a, b);
		fail_msg("metrics_histogram_observe_many made another histogram (both above); with n == 0 "
			 "it creates no series");
	}
	free(a);
	free(b);
	metrics_registry_free(one);
	metrics_registry_free(many);
}

struct worker {
	struct metrics_stage *stage;
	long from, n;
};

static void *tally_some(void *arg)
{
	struct worker *w = arg;
	for (long i = w->from; i < w->from + w->n; i++) {
		metrics_tally_step(w->stage, entry_of(i, 6));
		if (i % 100 == 99)
			metrics_tally_end(w->stage);
	}
	metrics_tally_end(w->stage);
	return NULL;
}

/* Two threads share one stage, as two workers of one runner would: what
 * each keeps is its own, and the counts add up. */
static void test_two_threads_tally_into_one_stage(void **state)
{
	(void)state;
	struct sink one, two;
	sink_init(&one, 0);
	sink_init(&two, 0);
	long n = harness_scale(20000);
	for (long i = 0; i < n; i++)
		metrics_stage_step(&one.stage, entry_of(i, 6));
	struct worker w[2] = {{&two.stage, 0, n / 2}, {&two.stage, n / 2, n - n / 2}};
	struct harness_thread t[2];
	for (int k = 0; k < 2; k++)
		harness_thread_start(&t[k], tally_some, &w[k]);
	for (int k = 0; k < 2; k++)
		if (!harness_thread_join_within(&t[k], harness_wait_ms()))
			fail_msg("a tallying thread did not end");
	char *a = sink_render(&one), *b = sink_render(&two);
	const char *wrong = first_difference(a, b);
	if (wrong != NULL || atomic_load(&one.stage.received) != atomic_load(&two.stage.received))
		fail_msg("two threads tallying into one stage received %llu and counted otherwise than one "
			 "by one (received %llu), first at %s",
			 atomic_load(&two.stage.received), atomic_load(&one.stage.received),
			 wrong != NULL ? wrong : "(no line)");
	free(a);
	free(b);
	sink_free(&one);
	sink_free(&two);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_the_tally_counts_what_the_step_counts, ARCH),
	    HTEST(test_the_tally_counts_a_batch_too_large_in_parts, ARCH),
	    HTEST(test_the_tally_drops_what_the_step_drops, ARCH),
	    HTEST(test_the_tally_keeps_two_stages_apart, ARCH),
	    HTEST(test_the_tally_sets_last_seen, ARCH),
	    HTEST(test_observe_many_is_observe_n_times, ARCH),
	    HTEST(test_two_threads_tally_into_one_stage, ARCH),
	};
	return harness_main(argc, argv, "hardening-metrics-tally", tests, HARNESS_COUNT(tests));
}
