/*
 * Lesson 10: Prometheus. Two parts.
 *
 * The gauge logpipe_last_entry_timestamp_seconds, written against
 * src/last_seen.h (and metrics.h, pipeline.h) only. The first tests call
 * the two functions directly, with a `now` the test chooses. The next two
 * run them where they live: inside the metrics stage (lesson 06) and
 * inside a whole pipeline (lesson 09), where `now` is the real clock;
 * there the value must lie between a reading of the clock taken before
 * the run and one taken after it.
 *
 * The rules file: each of the last tests runs one promtool test file,
 * tests/10-prometheus/NAME.test.yml, on it (promtool.h).
 */
#include "chan_testing.h"
#include "clock.h"
#include "last_seen.h"
#include "pipeline.h"
#include "promtool.h"
#include "text_testing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define L10 "lessons/10-prometheus/README.md"
#define SERIES(svc) LAST_SEEN_NAME "{service=\"" svc "\"}"

/* A moment in 2023, with a fraction, as a test's "now". */
#define T0 1700000000.25

static struct log_entry entry_of(const char *service)
{
	return (struct log_entry){.level = LOG_ERROR, .service = (char *)service, .message = ""};
}

static struct metrics_registry *registry_or_fail(size_t series_limit)
{
	struct metrics_registry *reg = metrics_registry_new(series_limit);
	if (reg == NULL)
		fail_msg("metrics_registry_new failed");
	return reg;
}

static struct metric_family *register_or_fail(struct metrics_registry *reg)
{
	errno = 0;
	struct metric_family *f = last_seen_register(reg);
	if (f == NULL)
		fail_msg("last_seen_register returned NULL (errno %d, %s): it registers a gauge named "
			 LAST_SEEN_NAME " with the label \"service\" (see " L10 "#register-the-gauge)",
			 errno, strerror(errno));
	return f;
}

static void update_or_fail(struct metric_family *f, const char *service, double now)
{
	struct log_entry e = entry_of(service);
	errno = 0;
	if (last_seen_update(f, &e, now) != 0)
		fail_msg("last_seen_update(service %s, now %.2f) returned -1 (errno %d, %s)", quoted(service), now,
			 errno, strerror(errno));
}

static double value_of(struct metric_family *f, const char *service)
{
	const char *const v[] = {service};
	return metrics_value(f, v);
}

static void assert_value(struct metric_family *f, const char *service, double want, const char *why)
{
	double got = value_of(f, service);
	if (got != want)
		fail_msg("the series {service=%s} is %.3f, expected %.3f: %s", quoted(service), got, want, why);
}

static char *render_or_fail(struct metrics_registry *reg)
{
	char *text = metrics_render(reg, NULL);
	if (text == NULL)
		fail_msg("metrics_render returned NULL");
	return text;
}

/* ---- registering ------------------------------------------------------------ */

static void test_register_makes_a_gauge_with_one_service_label(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	if (f->type != METRIC_GAUGE)
		fail_msg("the family's type is %d, not METRIC_GAUGE: a timestamp goes up and down with the "
			 "clock, and is set, not added to; a counter would also be summed by rate() as if "
			 "it counted events (see " L10 "#a-gauge-not-a-counter)",
			 (int)f->type);
	if (f->nlabels != 1 || strcmp(f->label_names[0], "service") != 0)
		fail_msg("the family should have exactly one label, \"service\" (it has %zu%s%s)", f->nlabels,
			 f->nlabels > 0 ? ", the first is " : "", f->nlabels > 0 ? f->label_names[0] : "");
	if (strcmp(f->name, LAST_SEEN_NAME) != 0)
		fail_msg("the family is named %s, not \"" LAST_SEEN_NAME "\"", quoted(f->name));
	metrics_registry_free(reg);
}

static void test_register_writes_a_help_text_with_the_unit(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	register_or_fail(reg);
	char *text = render_or_fail(reg);
	const char *help = strstr(text, "# HELP " LAST_SEEN_NAME " ");
	if (help == NULL || !text_has_line(text, "# TYPE " LAST_SEEN_NAME " gauge"))
		fail_msg("the exposition should have # HELP and # TYPE ... gauge lines for " LAST_SEEN_NAME
			 ":\n%s",
			 text);
	const char *end = strchr(help, '\n');
	size_t len = (size_t)(end - help) - strlen("# HELP " LAST_SEEN_NAME " ");
	char line[512];
	snprintf(line, sizeof(line), "%.*s", (int)(end - help), help);
	if (len < 10 || (strstr(line, "Unix") == NULL && strstr(line, "second") == NULL))
		fail_msg("the help text should say what the value is, with its unit (Unix time, in "
			 "seconds); it is: %s",
			 line);
	free(text);
	metrics_registry_free(reg);
}

static void test_register_twice_in_one_registry_fails(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	register_or_fail(reg);
	errno = 0;
	if (last_seen_register(reg) != NULL)
		fail_msg("a second last_seen_register in the same registry succeeded: a name is "
			 "registered once (return what metrics_gauge returns)");
	assert_int_equal(errno, EINVAL);
	metrics_registry_free(reg);
}

/* ---- updating ------------------------------------------------------------------ */

static void test_update_sets_the_services_series_to_now(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	update_or_fail(f, "api", T0);
	assert_value(f, "api", T0, "the value is the `now` the entry was counted at");
	char *text = render_or_fail(reg);
	if (text_sample(text, SERIES("api")) != T0)
		fail_msg("the exposition should have the sample " SERIES("api") " 1700000000.25:\n%s", text);
	free(text);
	metrics_registry_free(reg);
}

static void test_each_service_has_its_own_series(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	update_or_fail(f, "api", T0);
	update_or_fail(f, "billing", T0 + 5);
	assert_value(f, "api", T0, "an entry of billing must not move api's series");
	assert_value(f, "billing", T0 + 5, "the label value is the entry's service");
	metrics_registry_free(reg);
}

static void test_a_later_entry_replaces_the_time(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	update_or_fail(f, "api", T0);
	update_or_fail(f, "api", T0 + 60);
	assert_value(f, "api", T0 + 60, "the gauge holds the last entry's time, set, not added to");
	metrics_registry_free(reg);
}

static void test_update_refuses_a_time_that_is_not_one(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	struct log_entry e = entry_of("api");
	const double bad[] = {NAN, -1.0, INFINITY};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		if (last_seen_update(f, &e, bad[i]) != -1 || errno != EINVAL)
			fail_msg("last_seen_update with now = %f should return -1 with errno EINVAL: a Unix "
				 "time is a finite number, and not before 1970",
				 bad[i]);
	}
	if (value_of(f, "api") != -1)
		fail_msg("a refused update created the series {service=\"api\"} anyway");
	metrics_registry_free(reg);
}

static void test_update_accepts_time_zero(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	update_or_fail(f, "api", 0.0);
	assert_value(f, "api", 0.0,
		     "0 is a Unix time, the epoch (1970-01-01T00:00:00Z), and the contract accepts it");
	metrics_registry_free(reg);
}

static void test_update_refuses_null_arguments(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *f = register_or_fail(reg);
	struct log_entry e = entry_of("api");
	errno = 0;
	if (last_seen_update(NULL, &e, T0) != -1 || errno != EINVAL)
		fail_msg("last_seen_update(NULL family, ...) should return -1 with errno EINVAL");
	errno = 0;
	if (last_seen_update(f, NULL, T0) != -1 || errno != EINVAL)
		fail_msg("last_seen_update(f, NULL entry, ...) should return -1 with errno EINVAL");
	metrics_registry_free(reg);
}

static void test_update_reports_the_series_limit(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(2);
	struct metric_family *f = register_or_fail(reg);
	update_or_fail(f, "api", T0);
	update_or_fail(f, "auth", T0);
	struct log_entry e = entry_of("billing");
	errno = 0;
	int rc = last_seen_update(f, &e, T0);
	if (rc != -1 || errno != ENOSPC)
		fail_msg("a third service with a series limit of 2 should be refused: -1 with errno ENOSPC "
			 "(got %d, errno %d): pass on what metrics_gauge_set says",
			 rc, errno);
	assert_int_equal(metrics_series_dropped(reg), 1);
	metrics_registry_free(reg);
}

/* ---- where it lives: the metrics stage, the pipeline ----------------------- */

static void test_the_metrics_stage_sets_it_for_every_entry(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct chan *in = chan_new_or_fail(8);
	struct metrics_stage st;
	if (metrics_stage_init(&st, reg, in) != 0)
		fail_msg("metrics_stage_init failed");
	st.last_seen = register_or_fail(reg);
	double before = clock_unix_seconds();
	struct harness_thread t;
	harness_thread_start(&t, metrics_stage_run, &st);
	const char *services[] = {"api", "auth", "api"};
	for (size_t i = 0; i < 3; i++) {
		struct log_entry *e = log_entry_new(LOG_INFO, services[i], "", NULL);
		if (e == NULL)
			fail_msg("out of memory");
		assert_chan_status(chan_send(in, e), CHAN_OK);
	}
	assert_chan_status(chan_close(in), CHAN_OK);
	harness_on_hang("metrics_stage_run did not end after its channel was closed");
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("metrics_stage_run did not end within %ld ms of its channel closing", harness_wait_ms());
	double after = clock_unix_seconds();
	for (size_t i = 0; i < 2; i++) {
		double v = value_of(st.last_seen, services[i]);
		if (!(v >= before && v <= after))
			fail_msg("after the stage counted entries of %s between %.3f and %.3f (Unix time), "
				 "its series is %.3f: the stage calls last_seen_update(stage->last_seen, e, "
				 "clock_unix_seconds()) for each entry it counted (see " L10
				 "#update-it-for-every-entry)",
				 quoted(services[i]), before, after, v);
	}
	assert_chan_status(chan_free(in), CHAN_OK);
	metrics_registry_free(reg);
}

static char logpath[] = "/tmp/logpipe-10-XXXXXX";

static void unlink_log(void)
{
	unlink(logpath);
}

/* A new file with text in it; removed when the test ends, failed or not. */
static void write_log(const char *text)
{
	int fd = mkstemp(logpath);
	if (fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	harness_at_end(unlink_log);
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n)
		fail_msg("cannot write %s: %s", logpath, strerror(errno));
	close(fd);
}

static struct pipeline pl; /* large: one per test process */

static void test_the_pipeline_exports_it_for_counted_entries_only(void **state)
{
	(void)state;
	write_log("{\"level\":\"error\",\"service\":\"api\",\"msg\":\"a\"}\n"
		  "{\"level\":\"info\",\"service\":\"billing\",\"msg\":\"b\"}\n"
		  "{\"level\":\"trace\",\"service\":\"auth\",\"msg\":\"filtered: below info\"}\n");
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = logpath;
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1;
	cfg.serve = 0;
	char err[256] = "";
	double before = clock_unix_seconds();
	if (pipeline_start(&pl, &cfg, err, sizeof(err)) != 0)
		fail_msg("pipeline_start failed: %s", err);
	harness_on_hang("the pipeline did not drain its three-line file");
	pipeline_wait(&pl);
	double after = clock_unix_seconds();
	char *text = pipeline_render(&pl, NULL);
	if (text == NULL)
		fail_msg("pipeline_render returned NULL");
	if (!text_has_line(text, "# TYPE " LAST_SEEN_NAME " gauge"))
		fail_msg("logpipe's exposition has no " LAST_SEEN_NAME " family:\n%.2000s", text);
	const char *counted[] = {SERIES("api"), SERIES("billing")};
	for (size_t i = 0; i < 2; i++) {
		double v = text_sample(text, counted[i]);
		if (!(v >= before && v <= after))
			fail_msg("%s is %.3f, expected a time between %.3f and %.3f:\n%.2000s", counted[i], v,
				 before, after, text);
	}
	if (strstr(text, SERIES("auth")) != NULL)
		fail_msg(SERIES("auth") " is exported, but auth's only entry was filtered out: the gauge "
				       "is set where entries are counted, in the metrics stage");
	free(text);
	pipeline_free(&pl);
}

/* ---- the rules, with promtool ------------------------------------------------ */

#define ERROR_RATIO "service:logpipe_error_ratio:rate1m"
#define P90 "service:logpipe_log_latency_seconds:p90_rate1m"
#define CHANNEL_FILL "instance_channel:logpipe_channel_fill:avg1m"

/* A test that runs tests/10-prometheus/FILE, which needs the rules named. */
#define RULES_TEST(test, file, section, ...)                                                          \
	static void test(void **state)                                                                 \
	{                                                                                              \
		(void)state;                                                                           \
		promtool_test(file, L10 section, (const char *const[]){__VA_ARGS__, NULL});            \
	}

RULES_TEST(test_error_ratio_counts_errors_and_fatal_per_service, "error_ratio.test.yml", "#the-error-ratio",
	   ERROR_RATIO)
RULES_TEST(test_error_ratio_is_absent_for_a_quiet_service, "error_ratio_quiet.test.yml", "#the-error-ratio",
	   ERROR_RATIO)
RULES_TEST(test_error_ratio_covers_the_whole_minute, "error_ratio_window.test.yml", "#the-error-ratio",
	   ERROR_RATIO)
RULES_TEST(test_p90_latency_is_read_from_the_buckets, "latency.test.yml", "#the-p90-latency", P90)
RULES_TEST(test_p90_latency_covers_the_whole_minute, "latency_window.test.yml", "#the-p90-latency", P90)
RULES_TEST(test_rates_survive_a_restart_of_one_logpipe, "restart.test.yml", "#rate-first-then-sum", ERROR_RATIO,
	   P90)
RULES_TEST(test_channel_fill_averages_the_depth_gauge, "channel_fill.test.yml", "#the-channel-fill", CHANNEL_FILL)
RULES_TEST(test_high_error_ratio_fires_after_a_minute_for_that_service, "high_error_ratio.test.yml",
	   "#the-alerts", "LogpipeHighErrorRatio")
RULES_TEST(test_high_error_ratio_ignores_a_burst_shorter_than_a_minute, "high_error_ratio_blip.test.yml",
	   "#the-alerts", "LogpipeHighErrorRatio")
RULES_TEST(test_service_silent_fires_after_five_quiet_minutes, "service_silent.test.yml", "#the-alerts",
	   "LogpipeServiceSilent")
RULES_TEST(test_logpipe_down_fires_for_the_one_that_is_down, "logpipe_down.test.yml", "#the-alerts",
	   "LogpipeDown")
RULES_TEST(test_logpipe_down_waits_out_failed_scrapes, "logpipe_down_blip.test.yml", "#the-alerts", "LogpipeDown")

int main(int argc, char **argv)
{
	const struct harness_test tests[] = {
	    HTEST(test_register_makes_a_gauge_with_one_service_label, L10 "#register-the-gauge"),
	    HTEST(test_register_writes_a_help_text_with_the_unit, L10 "#register-the-gauge"),
	    HTEST(test_register_twice_in_one_registry_fails, L10 "#register-the-gauge"),
	    HTEST(test_update_sets_the_services_series_to_now, L10 "#update-it-for-every-entry"),
	    HTEST(test_each_service_has_its_own_series, L10 "#update-it-for-every-entry"),
	    HTEST(test_a_later_entry_replaces_the_time, L10 "#update-it-for-every-entry"),
	    HTEST(test_update_refuses_a_time_that_is_not_one, L10 "#update-it-for-every-entry"),
	    HTEST(test_update_accepts_time_zero, L10 "#update-it-for-every-entry"),
	    HTEST(test_update_refuses_null_arguments, L10 "#update-it-for-every-entry"),
	    HTEST(test_update_reports_the_series_limit, L10 "#update-it-for-every-entry"),
	    HTEST(test_the_metrics_stage_sets_it_for_every_entry, L10 "#wire-it-into-the-stage"),
	    HTEST(test_the_pipeline_exports_it_for_counted_entries_only, L10 "#wire-it-into-the-stage"),
	    HTEST(test_error_ratio_counts_errors_and_fatal_per_service, L10 "#the-error-ratio"),
	    HTEST(test_error_ratio_is_absent_for_a_quiet_service, L10 "#the-error-ratio"),
	    HTEST(test_error_ratio_covers_the_whole_minute, L10 "#the-error-ratio"),
	    HTEST(test_p90_latency_is_read_from_the_buckets, L10 "#the-p90-latency"),
	    HTEST(test_p90_latency_covers_the_whole_minute, L10 "#the-p90-latency"),
	    HTEST(test_rates_survive_a_restart_of_one_logpipe, L10 "#rate-first-then-sum"),
	    HTEST(test_channel_fill_averages_the_depth_gauge, L10 "#the-channel-fill"),
	    HTEST(test_high_error_ratio_fires_after_a_minute_for_that_service, L10 "#the-alerts"),
	    HTEST(test_high_error_ratio_ignores_a_burst_shorter_than_a_minute, L10 "#the-alerts"),
	    HTEST(test_service_silent_fires_after_five_quiet_minutes, L10 "#the-alerts"),
	    HTEST(test_logpipe_down_fires_for_the_one_that_is_down, L10 "#the-alerts"),
	    HTEST(test_logpipe_down_waits_out_failed_scrapes, L10 "#the-alerts"),
	};
	return harness_main(argc, argv, "10-prometheus", tests, HARNESS_COUNT(tests));
}
