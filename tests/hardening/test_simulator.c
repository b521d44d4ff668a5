/*
 * The simulator (lesson 03's tailer without a path; given, in
 * src/lib/simulate.c): the same lines for the same seed, valid JSON, the
 * level mix asked for, the rate, and a stop on done or on a closed out.
 * Not part of any lesson's grade, since the learner does not write it:
 * `make check` runs this suite against the reference, and every lesson's
 * grade that runs a simulated pipeline depends on it.
 */
#include "harness.h"
#include "line.h"
#include "tailer.h"

#include "chan_testing.h"
#include "clock.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L03 "lessons/03-tailer/README.md"

/* A simulator thread and its channels. On the heap: when a test fails,
 * cmocka leaves the test function at once, and the thread, still
 * running, must not find its memory gone. */
struct fixture {
	struct tailer t;
	struct harness_thread thread;
	int joined;
};

static struct fixture *fixture_start(struct tailer_config cfg, size_t out_cap)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		fail_msg("out of memory");
	f->t.cfg = cfg;
	f->t.out = chan_new_or_fail(out_cap);
	f->t.done = chan_new_or_fail(1);
	harness_thread_start(&f->thread, tailer_run, &f->t);
	return f;
}

static void fixture_join(struct fixture *f, const char *why)
{
	if (f->joined)
		return;
	if (!harness_thread_join_within(&f->thread, harness_wait_ms()))
		fail_msg("the simulator did not stop within %ld ms: %s", harness_wait_ms(), why);
	f->joined = 1;
}

/* Closes done, waits for the simulator to end, checks it closed out, frees. */
static void fixture_stop(struct fixture *f)
{
	harness_on_hang("the simulator did not stop after done was closed");
	chan_close(f->t.done);
	fixture_join(f, "after done is closed, the simulator stops at once");
	void *msg;
	enum chan_status rc;
	while ((rc = chan_try_recv(f->t.out, &msg)) == CHAN_OK)
		line_free(msg);
	if (rc != CHAN_CLOSED)
		fail_msg("the simulator returned without closing out");
	assert_chan_status(chan_free(f->t.out), CHAN_OK);
	assert_chan_status(chan_free(f->t.done), CHAN_OK);
	free(f);
}

static unsigned long long stat_of(atomic_ullong *counter)
{
	return atomic_load(counter);
}

static void expect_closed(struct fixture *f, const char *why)
{
	harness_on_hang("the test waited for the simulator to close out");
	void *msg = NULL;
	enum chan_status rc = chan_recv_timed(f->t.out, &msg, harness_wait_ms());
	if (rc == CHAN_OK) {
		line_free(msg);
		fail_msg("the simulator sent one more line, where it should have closed out: %s", why);
	}
	if (rc != CHAN_CLOSED)
		fail_msg("the simulator did not close out within %ld ms: %s", harness_wait_ms(), why);
}

static int parked(void *arg)
{
	struct fixture *f = arg;
	pthread_mutex_lock(&f->t.done->mu);
	int waiting = f->t.done->recv_waiting > 0 || f->t.done->watchers != NULL;
	pthread_mutex_unlock(&f->t.done->mu);
	return waiting || harness_thread_done(&f->thread);
}

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "fatal"};

/* The level of a simulated line, or -1 (with why set) if it is not valid. */
static int check_json_line(const char *text, const char **why, char *ts, size_t ts_size)
{
	cJSON *obj = cJSON_Parse(text);
	int level = -1;
	*why = NULL;
	if (obj == NULL || !cJSON_IsObject(obj)) {
		*why = "not a JSON object";
		goto out;
	}
	const char *fields[] = {"ts", "level", "service", "msg"};
	for (size_t i = 0; i < 4; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, fields[i]);
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
			*why = "\"ts\", \"level\", \"service\" and \"msg\" must be non-empty strings";
			goto out;
		}
	}
	cJSON *lat = cJSON_GetObjectItemCaseSensitive(obj, "latency_ms");
	if (lat != NULL && (!cJSON_IsNumber(lat) || lat->valuedouble < 0)) {
		*why = "\"latency_ms\", when present, must be a number >= 0";
		goto out;
	}
	const char *lv = cJSON_GetObjectItemCaseSensitive(obj, "level")->valuestring;
	for (int i = 0; i < LOG_LEVELS; i++)
		if (strcmp(lv, level_names[i]) == 0)
			level = i;
	if (level < 0)
		*why = "\"level\" is not one of trace, debug, info, warn, error, fatal";
	snprintf(ts, ts_size, "%s", cJSON_GetObjectItemCaseSensitive(obj, "ts")->valuestring);
	if (strlen(ts) != 24 || ts[10] != 'T' || ts[23] != 'Z') {
		*why = "\"ts\" must look like 2026-11-25T10:00:00.013Z";
		level = -1;
	}
out:
	cJSON_Delete(obj);
	return level;
}

static char *simulate_or_fail(const struct tailer_config *cfg, unsigned long long *state,
			      unsigned long long n)
{
	char *text = simulate_line(cfg, state, n);
	if (text == NULL)
		fail_msg("simulate_line returned NULL for line %llu", n);
	return text;
}

static void test_simulator_same_seed_gives_the_same_lines(void **state)
{
	(void)state;
	struct tailer_config cfg = tailer_config_default();
	cfg.seed = 42;
	unsigned long long s1 = cfg.seed, s2 = cfg.seed;
	for (unsigned long long n = 0; n < 100; n++) {
		char *a = simulate_or_fail(&cfg, &s1, n);
		char *b = simulate_or_fail(&cfg, &s2, n);
		int same = strcmp(a, b) == 0;
		free(a);
		free(b);
		if (!same)
			fail_msg(
			    "line %llu differs between two runs with seed 42: everything, the timestamp "
			    "included, must come from the PRNG state and n (not from the clock or rand())",
			    n);
	}
	/* Two runs a day apart must agree as well, which two runs a moment
	 * apart cannot show: line n carries the time of line n (sim_timestamp
	 * at cfg.rate lines a second), never the time now. */
	unsigned long long s3 = cfg.seed;
	char *line = simulate_or_fail(&cfg, &s3, 250);
	int stamped = strstr(line, "\"ts\":\"2026-11-25T10:00:02.500Z\"") != NULL;
	char got[96];
	snprintf(got, sizeof(got), "%s", line);
	free(line);
	if (!stamped)
		fail_msg("line 250 at 100 lines a second should say \"ts\":\"2026-11-25T10:00:02.500Z\", "
			 "2.5 s after the simulated log's start; it begins %s: stamp each line with "
			 "sim_timestamp(ts, n, cfg->rate), not with the clock",
			 got);
}

static void test_simulator_different_seed_gives_different_lines(void **state)
{
	(void)state;
	struct tailer_config cfg = tailer_config_default();
	unsigned long long s1 = 42, s2 = 43;
	int differ = 0;
	for (unsigned long long n = 0; n < 100; n++) {
		char *a = simulate_or_fail(&cfg, &s1, n);
		char *b = simulate_or_fail(&cfg, &s2, n);
		differ += strcmp(a, b) != 0;
		free(a);
		free(b);
	}
	if (differ < 50)
		fail_msg("only %d of 100 lines differ between seeds 42 and 43: draw the choices from *state",
			 differ);
}

static void test_simulator_lines_are_json_objects_with_a_known_level(void **state)
{
	(void)state;
	struct tailer_config cfg = tailer_config_default();
	unsigned long long s = 7;
	char prev_ts[32] = "", ts[32];
	int with_latency = 0;
	for (unsigned long long n = 0; n < 1000; n++) {
		char *text = simulate_or_fail(&cfg, &s, n);
		const char *why;
		int level = check_json_line(text, &why, ts, sizeof(ts));
		with_latency += strstr(text, "\"latency_ms\":") != NULL;
		if (level < 0) {
			char copy[200];
			snprintf(copy, sizeof(copy), "%s", text);
			free(text);
			fail_msg("line %llu is %s: %s", n, copy, why);
		}
		free(text);
		if (strcmp(ts, prev_ts) < 0)
			fail_msg("line %llu has ts %s, before the previous line's %s: time advances with n",
				 n, ts, prev_ts);
		memcpy(prev_ts, ts, sizeof(ts));
	}
	if (with_latency < 500)
		fail_msg("only %d of 1000 lines have \"latency_ms\": most lines should", with_latency);
}

/* counts[level] over `lines` simulated lines. */
static void count_levels(const struct tailer_config *cfg, int lines, int counts[LOG_LEVELS])
{
	unsigned long long s = cfg->seed;
	memset(counts, 0, sizeof(int) * LOG_LEVELS);
	for (int n = 0; n < lines; n++) {
		char *text = simulate_or_fail(cfg, &s, (unsigned long long)n);
		const char *why;
		char ts[32];
		int level = check_json_line(text, &why, ts, sizeof(ts));
		free(text);
		if (level < 0)
			fail_msg("line %d: %s", n, why);
		counts[level]++;
	}
}

static void test_simulator_default_mix_is_mostly_info_and_never_trace(void **state)
{
	(void)state;
	struct tailer_config cfg = tailer_config_default();
	int c[LOG_LEVELS];
	count_levels(&cfg, 10000, c);
	if (c[LOG_TRACE] != 0 || c[LOG_INFO] < 5500 || c[LOG_INFO] > 7500 || c[LOG_WARN] < 1000 ||
	    c[LOG_DEBUG] == 0 || c[LOG_ERROR] == 0 || c[LOG_FATAL] == 0)
		fail_msg(
		    "levels of 10000 lines with all weights 0: trace %d, debug %d, info %d, warn %d, "
		    "error %d, fatal %d; expected the default mix, about 5%% debug, 65%% info, 20%% warn, "
		    "9%% error, 1%% fatal, no trace",
		    c[0], c[1], c[2], c[3], c[4], c[5]);
}

static void test_simulator_follows_level_weights(void **state)
{
	(void)state;
	struct tailer_config cfg = tailer_config_default();
	cfg.level_weights[LOG_WARN] = 1;
	cfg.level_weights[LOG_ERROR] = 3;
	int c[LOG_LEVELS];
	count_levels(&cfg, 2000, c);
	if (c[LOG_WARN] + c[LOG_ERROR] != 2000 || c[LOG_WARN] < 300 || c[LOG_ERROR] < 1300)
		fail_msg("weights warn 1, error 3, others 0, gave: trace %d, debug %d, info %d, warn %d, "
			 "error %d, fatal %d (expected about 500 warn, 1500 error, nothing else)",
			 c[0], c[1], c[2], c[3], c[4], c[5]);
}

static struct tailer_config sim_config(double rate, unsigned long long count)
{
	struct tailer_config cfg = tailer_config_default();
	cfg.rate = rate;
	cfg.count = count;
	return cfg;
}

/* Receives one line and fails unless it is a valid simulated line. */
static void expect_sim_line(struct fixture *f, int i)
{
	harness_on_hang("the test waited for a simulated line");
	void *msg = NULL;
	enum chan_status rc = chan_recv_timed(f->t.out, &msg, harness_wait_ms());
	if (rc != CHAN_OK)
		fail_msg("line %d: receive returned %s: the simulator stopped or stalled", i,
			 chan_status_str(rc));
	struct line *l = msg;
	const char *why;
	char ts[32];
	int level = check_json_line(l->text, &why, ts, sizeof(ts));
	line_free(l);
	if (level < 0)
		fail_msg("line %d: %s", i, why);
}

static void test_simulator_stops_after_count_and_closes_out(void **state)
{
	(void)state;
	struct fixture *f = fixture_start(sim_config(0, 50), 4);
	for (int i = 0; i < 50; i++)
		expect_sim_line(f, i);
	expect_closed(f, "count is 50: after 50 lines the simulator stops and closes out");
	if (stat_of(&f->t.stats.lines) != 50)
		fail_msg("stats.lines is %llu, expected 50", stat_of(&f->t.stats.lines));
	fixture_stop(f);
}

static void test_simulator_rate_spaces_the_lines(void **state)
{
	(void)state;
	struct timespec start = clock_now();
	struct fixture *f = fixture_start(sim_config(200, 21), 4);
	for (int i = 0; i < 21; i++)
		expect_sim_line(f, i);
	double took = clock_seconds_since(&start);
	/* Line n is due n / rate after the start: line 20 at 100 ms. */
	if (took < 0.0999)
		fail_msg("21 lines at 200 lines/s came in %.3f s, expected at least 0.100 s", took);
	expect_closed(f, "count is 21");
	fixture_stop(f);
}

static void test_closing_done_stops_the_simulator_between_lines(void **state)
{
	(void)state;
	struct fixture *f = fixture_start(sim_config(0.01, 0), 4); /* one line every 100 s */
	expect_sim_line(f, 0);
	if (!harness_wait_until(parked, f) || harness_thread_done(&f->thread))
		fail_msg("the simulator did not wait on done for its next line, due in 100 s");
	fixture_stop(f);
}

static void test_closing_out_stops_the_simulator(void **state)
{
	(void)state;
	struct fixture *f = fixture_start(sim_config(0, 0), 2);
	for (int i = 0; i < 3; i++)
		expect_sim_line(f, i);
	/* The receiver hangs up. chan_send now says CHAN_CLOSED: stop. */
	chan_close(f->t.out);
	harness_on_hang(
	    "the simulator kept going after out was closed: stop when chan_send returns CHAN_CLOSED");
	fixture_join(f,
		     "the simulator must stop once out is closed: stop when chan_send (tailer_emit) fails");
	fixture_stop(f);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_simulator_same_seed_gives_the_same_lines, L03 "#the-simulator"),
	    HTEST(test_simulator_different_seed_gives_different_lines, L03 "#the-simulator"),
	    HTEST(test_simulator_lines_are_json_objects_with_a_known_level, L03 "#the-simulator"),
	    HTEST(test_simulator_default_mix_is_mostly_info_and_never_trace, L03 "#the-simulator"),
	    HTEST(test_simulator_follows_level_weights, L03 "#the-simulator"),
	    HTEST(test_simulator_stops_after_count_and_closes_out, L03 "#the-simulator"),
	    HTEST(test_simulator_rate_spaces_the_lines, L03 "#the-simulator"),
	    HTEST(test_closing_done_stops_the_simulator_between_lines, L03 "#stopping-promptly"),
	    HTEST(test_closing_out_stops_the_simulator, L03 "#stopping-promptly"),
	};
	return harness_main(argc, argv, "hardening-simulator", tests, HARNESS_COUNT(tests));
}
