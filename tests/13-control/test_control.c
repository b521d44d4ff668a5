/*
 * Lesson 13: the stage runner watching itself (the time its workers wait
 * on their channels) and cancellation. Written against src/stage.h,
 * src/channel.h and src/pipeline.h; the runner's test fixtures are
 * tests/harness/stage_testing.h.
 */
#include "chan_testing.h"
#include "clock.h"
#include "held.h"
#include "metrics.h"
#include "pipeline.h"
#include "stage.h"
#include "stage_testing.h"
#include "text_testing.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define L13 "lessons/13-control/README.md"

/* ---- the runner watching itself ------------------------------------------------ */

/* Time passes while a worker is parked: not a guess at an ordering (the
 * worker is seen parked first), only the interval being measured. */
static double pass_time_ms(long ms)
{
	struct timespec start = clock_now(), pause = {0, ms * 1000000L};
	while (nanosleep(&pause, &pause) != 0)
		;
	return clock_seconds_since(&start) * 1000.0;
}

static void test_runner_counts_the_time_workers_wait_to_receive(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 4, 8, 1);
	runner_start(&r);
	expect_worker_parked(&r, r.in, 0, "a worker on an empty in must wait in chan_recv_many");
	double waited_ms = pass_time_ms(30);
	/* The wait ends with CHAN_CLOSED, not with a batch: the last wait of a
	 * stage counts too. */
	assert_chan_status(chan_close(r.in), CHAN_OK);
	drain_out(&r, NULL, 1, "out was never closed after in was closed and drained");
	join_runner(&r);
	double recv_ms = (double)atomic_load(&r.recv_ns) / 1e6;
	if (recv_ms < waited_ms)
		fail_msg(
		    "recv_ns says %.3f ms, but the worker sat in chan_recv_many for at least %.3f ms before "
		    "it "
		    "returned CHAN_CLOSED: add the time every chan_recv_many takes to recv_ns, the last one "
		    "too (clock_now before, clock_seconds_since after, times 1e9)",
		    recv_ms, waited_ms);
	runner_free(&r);
}

static void test_runner_counts_the_time_workers_wait_to_send(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 1, 8, 1);
	assert_chan_status(chan_send(r.out, MSG(1001)), CHAN_OK); /* out is full */
	runner_start(&r);
	assert_chan_status(chan_send(r.in, MSG(2)), CHAN_OK);
	expect_worker_parked(&r, r.out, 1,
			     "a worker with a result for a full out must wait in chan_send_many");
	double waited_ms = pass_time_ms(30);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	long got = drain_out(&r, NULL, 2, "out was never closed after in was closed and drained");
	join_runner(&r);
	assert_int_equal(got, 2);
	double send_ms = (double)atomic_load(&r.send_ns) / 1e6;
	if (send_ms < waited_ms)
		fail_msg(
		    "send_ns says %.3f ms, but the worker sat in chan_send_many for at least %.3f ms: add "
		    "the time every chan_send_many takes to send_ns",
		    send_ms, waited_ms);
	runner_free(&r);
}

/* A runner on two pages of its own, the second starting at recv_ns: the
 * totals, and what follows them (which the workers do not write once
 * they run), can be held (tests/harness/held.h) without holding the
 * count of running workers before them. */
static struct stage_runner *runner_with_held_totals(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *pages = held_map(2 * page);
	return (struct stage_runner *)(pages + page - offsetof(struct stage_runner, recv_ns));
}

/* Two workers end their waits at once and add them to recv_ns at once.
 * Their writes are held until both are caught: both have read the total,
 * and an addition made as a load, an add and a store then writes back
 * what it read plus its own wait, losing the other's, every time. */
static void test_two_workers_adding_at_once_lose_no_wait(void **state)
{
	(void)state;
	struct stage_runner *r = runner_with_held_totals();
	struct work w;
	runner_init(r, &w, 4, 4, 8, 2);
	runner_start(r);
	expect_workers_parked(r, r->in, 0, 2, "two workers on an empty in must both wait in chan_recv_many");
	double waited_ms = pass_time_ms(30);
	if (HELD_WORKS)
		held_hold(&r->recv_ns, sizeof(*r) - offsetof(struct stage_runner, recv_ns));
	assert_chan_status(chan_close(r->in), CHAN_OK);
	int caught = !HELD_WORKS || held_wait_for_writers(2);
	held_release();
	if (!caught)
		fail_msg("in was closed under two waiting workers, but within %ld ms they did not both add "
			 "their waits to recv_ns: every chan_recv_many's time counts, the last one too",
			 harness_wait_ms());
	drain_out(r, NULL, 1, "out was never closed after in was closed and drained");
	join_runner(r);
	double recv_ms = (double)atomic_load(&r->recv_ns) / 1e6;
	runner_free(r);
	held_unmap();
	if (recv_ms < 2 * waited_ms)
		fail_msg("two workers each sat in chan_recv_many for at least %.3f ms, but recv_ns says %.3f "
			 "ms in all: one addition was lost. Both read the total before either wrote it back; "
			 "add with one atomic operation (atomic_fetch_add, or +=), not a load, an add and a "
			 "store",
			 waited_ms, recv_ms);
}

/* Fails unless the exposition has (want 1) or lacks (want 0) the text
 * line (a whole line when it ends in a newline, else the start of one);
 * prints the exposition when it fails. */
static void expect_line(const char *text, const char *line, int want, const char *why)
{
	if ((strstr(text, line) != NULL) == want)
		return;
	fprintf(stderr, "# the exposition:\n%s# (end of the exposition)\n", text);
	fail_msg("%s %s in the exposition: %s", want ? "no" : "a line with", quoted(line), why);
}

/* Two runners' totals, set by hand and exported twice: in seconds, the
 * last stage without a send series, and the second scrape sees what was
 * added since the first. */
static void test_a_runner_exports_its_waits_in_seconds(void **state)
{
	(void)state;
	static const char *const labels[] = {"stage", "op"};
	struct metrics_registry *reg = metrics_registry_new(0);
	assert_non_null(reg);
	struct metric_family *blocked =
	    metrics_counter(reg, "logpipe_stage_blocked_seconds_total", "Waits.", 2, labels);
	assert_non_null(blocked);
	struct chan *out = chan_new_or_fail(1);
	struct stage_runner filter = {.out = out, .name = "filter"}, last = {.out = NULL, .name = "metrics"};
	atomic_store(&filter.recv_ns, 1500000000ULL);
	atomic_store(&filter.send_ns, 250000000ULL);
	atomic_store(&last.recv_ns, 2000000000ULL);
	stage_export(&filter, blocked);
	stage_export(&last, blocked);
	atomic_fetch_add(&last.recv_ns, 1000000000ULL);
	stage_export(&last, blocked);
	size_t len = 0;
	char *text = metrics_render(reg, &len);
	assert_non_null(text);
	const char *seconds = "r->recv_ns and r->send_ns count nanoseconds; Prometheus counts time in "
			      "seconds (divide by 1e9)";
	expect_line(text, "logpipe_stage_blocked_seconds_total{stage=\"filter\",op=\"recv\"} 1.5\n", 1,
		    seconds);
	expect_line(text, "logpipe_stage_blocked_seconds_total{stage=\"filter\",op=\"send\"} 0.25\n", 1,
		    seconds);
	expect_line(text, "logpipe_stage_blocked_seconds_total{stage=\"metrics\",op=\"recv\"} 3\n", 1,
		    "the second export must read the total again (2 s, then 1 s more)");
	expect_line(text, "logpipe_stage_blocked_seconds_total{stage=\"metrics\",op=\"send\"}", 0,
		    "a runner without out never sends: export no op=\"send\" series for it");
	free(text);
	chan_free(out);
	metrics_registry_free(reg);
}

static void test_pipeline_exports_its_channels_and_its_waits(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(4);
	cfg.batch = 2;
	run_to_end(&p, &cfg, "batches of 2");
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	pipeline_free(&p);
	assert_non_null(text);
	static const char *const want[] = {
	    "# TYPE logpipe_channel_depth gauge\n",
	    "# TYPE logpipe_stage_blocked_seconds_total counter\n",
	    "logpipe_channel_capacity{channel=\"lines\"} 4\n",
	    "logpipe_channel_depth{channel=\"passed\"} 0\n",
	    "logpipe_stage_blocked_seconds_total{stage=\"parser\",op=\"recv\"} ",
	    "logpipe_stage_blocked_seconds_total{stage=\"filter\",op=\"send\"} ",
	    "logpipe_stage_blocked_seconds_total{stage=\"metrics\",op=\"recv\"} ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		expect_line(text, want[i], 1,
			    "a pipeline with stage runners exports each channel's depth and capacity "
			    "(gauges) and each stage's waits (a counter)");
	free(text);
}

/* --slow-stage: a stage that takes 2 ms an item backs up the one before
 * it, and the waits say so; the counts stay the same. */
static void test_a_slow_stage_makes_the_stage_before_it_wait(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(2);
	cfg.slow_stage = "metrics";
	cfg.slow_us = 2000;
	run_to_end(&p, &cfg, "a slow metrics stage");
	unsigned long long read = pipeline_lines_read(&p), accounted = pipeline_lines_accounted(&p);
	/* 26 entries pass the filter; the metrics stage needs 2 ms for each,
	 * and with 2 slots between them the filter's last send cannot end
	 * before about 23 of them are done: 46 ms, of which the filter spends
	 * all but its few receives and steps waiting to send. */
	double filter_send = (double)atomic_load(&p.runners[2].send_ns) / 1e9;
	pipeline_free(&p);
	if (read != accounted)
		fail_msg("with a slow metrics stage, %llu lines read but %llu accounted for", read,
			 accounted);
	if (filter_send < 0.02)
		fail_msg(
		    "the filter waited %.4f s to send into a channel of 2 read by a stage taking 2 ms an "
		    "item (26 items): expected at least 0.02 s in chan_send_many",
		    filter_send);
}

/* ---- cancellation -------------------------------------------------------------- */

static void test_a_cancelled_worker_stops_before_its_next_batch(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 64, 1, 4, 1);
	r.cancel = chan_new_or_fail(0);
	for (long i = 1; i <= 40; i++)
		assert_chan_status(chan_send(r.in, MSG(i)), CHAN_OK);
	runner_start(&r);
	/* Nobody reads out (capacity 1): the worker's first batch of 4 sticks. */
	expect_worker_parked(&r, r.out, 1,
			     "a worker with 4 results for an out of capacity 1 must wait to send");
	/* What pipeline_cancel does: cancel, then the channels. */
	assert_chan_status(chan_close(r.cancel), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	assert_chan_status(chan_close(r.out), CHAN_OK);
	harness_on_hang("a cancelled worker went on: check the cancel channel before each batch");
	join_runner(&r);
	unsigned long stepped = atomic_load(&w.stepped), discarded = atomic_load(&w.discarded);
	if (stepped != 4)
		fail_msg(
		    "the worker stepped %lu items, expected 4: once cancel is closed a worker stops before "
		    "its next batch (36 items were still in in; a closed in would have handed them all "
		    "over)",
		    stepped);
	if (discarded != 3)
		fail_msg("%lu results were discarded, expected 3 (out took 1 of the batch of 4 before it was "
			 "closed)",
			 discarded);
	void *msg;
	while (chan_try_recv(r.out, &msg) == CHAN_OK)
		;
	chan_free(r.cancel);
	runner_free(&r);
}

struct waiter {
	struct pipeline *p;
};

static void *wait_pipeline(void *arg)
{
	pipeline_wait(((struct waiter *)arg)->p);
	return NULL;
}

static int parser_blocked_sending(void *arg)
{
	struct pipeline *p = arg;
	pthread_mutex_lock(&p->entries->mu);
	int waiting = p->entries->send_waiting;
	pthread_mutex_unlock(&p->entries->mu);
	return waiting > 0;
}

/* The Go blog's question: a pipeline whose consumer no longer keeps up
 * (here a filter taking half a second an entry, behind channels of 2).
 * Draining it would take about 17 s; cancelling it takes one step. */
static void test_cancel_stops_a_pipeline_stuck_behind_a_slow_stage(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(2);
	cfg.slow_stage = "filter";
	cfg.slow_us = 500000;
	start_or_fail(&p, &cfg, "a filter taking 0.5 s an entry");
	if (!harness_wait_until(parser_blocked_sending, &p))
		fail_msg("the parser never blocked sending to the slow filter (channels of 2)");
	pipeline_cancel(&p);
	/* A runner looks at cancel before each batch: without it closed, the
	 * slow stage steps everything still in its closed input first. */
	void *msg;
	enum chan_status cancel_rc = chan_try_recv(p.cancel, &msg);
	struct waiter w = {&p};
	struct harness_thread t;
	harness_thread_start(&t, wait_pipeline, &w);
	harness_on_hang("pipeline_wait did not return after pipeline_cancel: every stage must wake from "
			"its closed channels and stop (runners: before their next batch)");
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("pipeline_wait did not return within %ld ms of pipeline_cancel: a drain would take "
			 "about 17 s; a cancel should take one step of the slow stage (0.5 s)",
			 harness_wait_ms());
	unsigned long long read = pipeline_lines_read(&p), accounted = pipeline_lines_accounted(&p);
	unsigned long long discarded = pipeline_lines_discarded(&p);
	pipeline_free(&p); /* LeakSanitizer checks that what was abandoned was freed */
	if (cancel_rc != CHAN_CLOSED)
		fail_msg("right after pipeline_cancel, a try on the pipeline's cancel channel answered %s, "
			 "not CHAN_CLOSED: pipeline_cancel must close cancel (first), or each runner steps "
			 "what its closed input still holds before it stops",
			 chan_status_str(cancel_rc));
	if (read != accounted)
		fail_msg("after pipeline_cancel, %llu lines read but %llu accounted for: what a runner "
			 "discards because out was closed must be counted in r->discarded (the pipeline "
			 "counts what the channels still hold)",
			 read, accounted);
	if (discarded == 0)
		fail_msg("pipeline_cancel abandoned a pipeline whose parser was blocked sending, yet "
			 "nothing was counted as discarded");
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_runner_counts_the_time_workers_wait_to_receive, L13 "#the-waits"),
	    HTEST(test_runner_counts_the_time_workers_wait_to_send, L13 "#the-waits"),
	    HTEST(test_two_workers_adding_at_once_lose_no_wait, L13 "#the-waits"),
	    HTEST(test_a_runner_exports_its_waits_in_seconds, L13 "#the-export"),
	    HTEST(test_pipeline_exports_its_channels_and_its_waits, L13 "#the-export"),
	    HTEST(test_a_slow_stage_makes_the_stage_before_it_wait, L13 "#the-waits"),
	    HTEST(test_a_cancelled_worker_stops_before_its_next_batch, L13 "#the-check"),
	    HTEST(test_cancel_stops_a_pipeline_stuck_behind_a_slow_stage, L13 "#the-cancel"),
	};
	return harness_main(argc, argv, "13-control", tests, HARNESS_COUNT(tests));
}
