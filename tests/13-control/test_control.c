/*
 * Lesson 13: the stage runner watching itself (the time its workers wait
 * on their channels) and cancellation. Written against src/stage.h,
 * src/channel.h and src/pipeline.h; the runner's test fixtures are
 * tests/harness/stage_testing.h.
 */
#include "chan_testing.h"
#include "clock.h"
#include "held.h"
#include "interpose.h"
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

/* Fails if total_s, what name says the workers waited, holds none of the
 * time harness_clock_ahead added to their CLOCK_MONOTONIC: no more than
 * real_s, what the whole wait took by the test's own clock. Then they
 * measured with a clock the harness does not move, the wall clock. */
static void expect_the_moved_clock(double total_s, double real_s, const char *name)
{
	if (total_s <= real_s)
		fail_msg("the workers' CLOCK_MONOTONIC was moved seconds ahead while they waited, but %s says "
			 "%.3f s, no more than the %.3f s the wait took by the test's clock: measure with "
			 "clock_now (clock.h, CLOCK_MONOTONIC), not the wall clock (CLOCK_REALTIME), which jumps "
			 "whenever the system's time is set",
			 name, total_s, real_s);
}

/* One worker parked on an empty in, for ms of the test's time (measured
 * into *waited_ms) and ahead_s more seconds of its own clock
 * (harness_clock_ahead), then woken by the close of in: its wait ends
 * with CHAN_CLOSED, not with a batch. Returns what recv_ns says, in ms. */
static double recv_ms_after_one_wait(long ms, double ahead_s, double *waited_ms)
{
	struct stage_runner r;
	struct work w;
	struct timespec start = clock_now();
	runner_init(&r, &w, 4, 4, 8, 1);
	runner_start(&r);
	expect_worker_parked(&r, r.in, 0, "a worker on an empty in must wait in chan_recv_many");
	*waited_ms = pass_time_ms(ms);
	harness_clock_ahead(r.threads[0], ahead_s);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	drain_out(&r, NULL, 1, "out was never closed after in was closed and drained");
	join_runner(&r);
	harness_clock_ahead(r.threads[0], 0);
	double recv_ms = (double)atomic_load(&r.recv_ns) / 1e6;
	runner_free(&r);
	if (ahead_s > 0)
		expect_the_moved_clock(recv_ms / 1e3, clock_seconds_since(&start), "recv_ns");
	return recv_ms;
}

static void test_runner_counts_the_time_workers_wait_to_receive(void **state)
{
	(void)state;
	double waited_ms, recv_ms = recv_ms_after_one_wait(30, 0, &waited_ms);
	if (recv_ms < waited_ms)
		fail_msg("recv_ns says %.3f ms, but the worker sat in chan_recv_many for at least %.3f ms "
			 "before it returned CHAN_CLOSED: add the time every chan_recv_many takes to recv_ns, "
			 "the last one too",
			 recv_ms, waited_ms);
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

/* Two workers parked in the same call end their waits at once, by the
 * close of ch, and add them to the same total at once. Their writes are
 * held until both are caught: both have read the total, and an addition
 * made as a load, an add and a store then writes back what it read plus
 * its own wait, losing the other's, every time. Their clocks are moved
 * 10 s and 20 s ahead while they wait, so the sum is over 30 s and either
 * wait alone is under it, however slow the machine. */
static void end_two_waits_at_once(struct stage_runner *r, struct chan *ch, const char *what)
{
	harness_clock_ahead(r->threads[0], 10);
	harness_clock_ahead(r->threads[1], 20);
	if (HELD_WORKS)
		held_hold(&r->recv_ns, sizeof(*r) - offsetof(struct stage_runner, recv_ns));
	assert_chan_status(chan_close(ch), CHAN_OK);
	int caught = !HELD_WORKS || held_wait_for_writers(2);
	held_release();
	if (!caught)
		fail_msg("%s was closed under two workers waiting in %s, but within %ld ms they did not both "
			 "add their waits: every call's time counts, the one that ends with CHAN_CLOSED too",
			 ch == r->in ? "in" : "out", what, harness_wait_ms());
}

/* Fails unless total (in ns) holds both waits of end_two_waits_at_once,
 * naming the likely mistake by how much is missing. */
static void expect_both_waits(unsigned long long total, double real_s, const char *name, const char *what)
{
	double total_s = (double)total / 1e9;
	expect_the_moved_clock(total_s, real_s, name);
	if (total_s < 10)
		fail_msg("two workers sat in %s for 10 s and 20 s by their clocks, but %s says %.3f s in all, "
			 "less than either wait alone: a count of nanoseconds past 4.29 s does not fit in 32 "
			 "bits (an unsigned int); convert the seconds to the total's own type, unsigned long long",
			 what, name, total_s);
	if (total_s < 30)
		fail_msg("two workers sat in %s for 10 s and 20 s by their clocks, but %s says %.3f s in all: "
			 "one addition was lost. Both read the total before either wrote it back; add with one "
			 "atomic operation (atomic_fetch_add, or +=), not a load, an add and a store",
			 what, name, total_s);
}

/* Both workers wait on an empty in; the close of in ends both waits. */
static void test_two_workers_adding_at_once_lose_no_wait(void **state)
{
	(void)state;
	struct timespec start = clock_now();
	struct stage_runner *r = runner_with_held_totals();
	struct work w;
	runner_init(r, &w, 4, 4, 8, 2);
	runner_start(r);
	expect_workers_parked(r, r->in, 0, 2, "two workers on an empty in must both wait in chan_recv_many");
	end_two_waits_at_once(r, r->in, "chan_recv_many");
	drain_out(r, NULL, 1, "out was never closed after in was closed and drained");
	join_runner(r);
	harness_clock_ahead(r->threads[0], 0);
	harness_clock_ahead(r->threads[1], 0);
	unsigned long long recv_ns = atomic_load(&r->recv_ns);
	runner_free(r);
	held_unmap();
	expect_both_waits(recv_ns, clock_seconds_since(&start), "recv_ns", "chan_recv_many");
}

/* The same on the send side: both workers hold a result for an out that
 * is full (nobody reads it), and the close of out ends both waits. Being
 * long (10 s and 20 s), the waits also find a total kept in 32 bits. */
static void test_two_workers_sending_at_once_lose_no_wait(void **state)
{
	(void)state;
	struct timespec start = clock_now();
	struct stage_runner *r = runner_with_held_totals();
	struct work w;
	runner_init(r, &w, 4, 1, 1, 2);
	assert_chan_status(chan_send(r->out, MSG(1001)), CHAN_OK); /* out is full */
	assert_chan_status(chan_send(r->in, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send(r->in, MSG(2)), CHAN_OK);
	runner_start(r);
	expect_workers_parked(r, r->out, 1, 2,
			      "two workers with a result each for a full out must both wait in chan_send_many");
	end_two_waits_at_once(r, r->out, "chan_send_many");
	assert_chan_status(chan_close(r->in), CHAN_OK);
	join_runner(r);
	harness_clock_ahead(r->threads[0], 0);
	harness_clock_ahead(r->threads[1], 0);
	void *msg;
	while (chan_try_recv(r->out, &msg) == CHAN_OK)
		;
	unsigned long long send_ns = atomic_load(&r->send_ns);
	runner_free(r);
	held_unmap();
	expect_both_waits(send_ns, clock_seconds_since(&start), "send_ns", "chan_send_many");
}

/* A single wait of 5 s: more nanoseconds than 32 bits hold (4.29 s). The
 * worker's clock is moved 5 s ahead while it waits (harness_clock_ahead),
 * so the wait lasts 5 s to the worker and a few milliseconds to the test. */
static void test_a_wait_of_5_seconds_is_counted_whole(void **state)
{
	(void)state;
	double waited_ms, recv_s = recv_ms_after_one_wait(0, 5.0, &waited_ms) / 1e3;
	if (recv_s < 5.0)
		fail_msg("the worker waited in chan_recv_many for 5 s by its clock, but recv_ns says %.3f s: "
			 "a count of nanoseconds past 4.29 s does not fit in 32 bits (an unsigned int); "
			 "convert the seconds to the total's own type, unsigned long long",
			 recv_s);
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

/* Runs the sample log to its end with cfg and renders the registry;
 * *blocked says whether pipeline_watch_register set p->blocked. */
static char *render_run(struct pipeline_config *cfg, const char *what, int *blocked)
{
	static struct pipeline p;
	run_to_end(&p, cfg, what);
	*blocked = p.blocked != NULL;
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	pipeline_free(&p);
	assert_non_null(text);
	return text;
}

/* Stage runners run without a batch too: more than one worker, or a slow
 * stage, runs them in batches of one (pipeline_config_batched). */
static void test_runners_without_a_batch_export_their_waits(void **state)
{
	(void)state;
	struct pipeline_config slow = sample_config(4), workers = sample_config(4);
	slow.slow_stage = "filter";
	slow.slow_us = 1;
	workers.workers = 2;
	struct pipeline_config *const cfgs[] = {&slow, &workers};
	static const char *const what[] = {"a slow filter, no batch", "2 parser workers, no batch"};
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		int blocked;
		char *text = render_run(cfgs[i], what[i], &blocked);
		char why[256];
		snprintf(why, sizeof(why),
			 "with %s the stages run in runners (pipeline_config_batched: a batch, more than one "
			 "worker or a slow stage), so the waits family is registered, whatever cfg.batch says",
			 what[i]);
		expect_line(text, "# TYPE logpipe_stage_blocked_seconds_total counter\n", 1, why);
		expect_line(text, "logpipe_stage_blocked_seconds_total{stage=\"filter\",op=\"recv\"} ", 1, why);
		free(text);
	}
}

/* The stages' own loops count no waits: no family to export. */
static void test_a_pipeline_without_runners_exports_no_waits(void **state)
{
	(void)state;
	struct pipeline_config cfg = sample_config(4);
	int blocked;
	char *text = render_run(&cfg, "the stages in their own loops", &blocked);
	expect_line(text, "logpipe_stage_blocked_seconds_total", 0,
		    "the stages ran in their own loops, which count no waits: register the waits family "
		    "only when pipeline_config_batched says they run in runners (a family with no series "
		    "still renders its # HELP and # TYPE)");
	free(text);
	if (blocked)
		fail_msg("p->blocked is set for a pipeline whose stages run in their own loops: it stays NULL "
			 "without runners (pipeline.h)");
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
	/* What pipeline_cancel does (the order is checked by
	 * test_a_stage_woken_by_pipeline_cancel_finds_it_cancelled). */
	assert_chan_status(chan_close(r.cancel), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	assert_chan_status(chan_close(r.out), CHAN_OK);
	harness_on_hang("a cancelled worker went on: check the cancel channel before each batch");
	join_runner(&r);
	unsigned long stepped = atomic_load(&w.stepped), discarded = atomic_load(&w.discarded);
	void *msg;
	long left = 0;
	while (chan_try_recv(r.in, &msg) == CHAN_OK)
		left++;
	while (chan_try_recv(r.out, &msg) == CHAN_OK)
		;
	if (stepped != 4)
		fail_msg("the worker stepped %lu items, expected 4, and left %ld in in, expected 36: once "
			 "cancel is closed a worker stops before its next batch (a closed in still hands "
			 "over everything it holds)",
			 stepped, left);
	if (left != 36)
		fail_msg("the worker left %ld items in in, expected 36: %ld were taken from in after cancel "
			 "was closed and never stepped. Once cancel is closed, stage_recv must receive "
			 "nothing: look at cancel before chan_recv_many, since a batch received and then "
			 "dropped is lost",
			 left, 36 - left);
	if (discarded != 3)
		fail_msg("%lu results were discarded, expected 3 (out took 1 of the batch of 4 before it was "
			 "closed)",
			 discarded);
	chan_free(r.cancel);
	runner_free(&r);
}

/* A step that waits, in its first call, until the test closes go: the
 * worker is seen parked in it (a receive on go), in the middle of its
 * batch, for as long as the test needs. */
struct gated_step {
	struct work *w;
	struct chan *go;
};

static void *step_after_go(void *ctx, void *item)
{
	struct gated_step *g = ctx;
	void *msg;
	while (chan_recv(g->go, &msg) == CHAN_OK)
		;
	return step_add_1000(g->w, item);
}

/* Cancel stops a worker before its next batch, not in the middle of one:
 * out is still open and read, so the batch in hand goes to out whole. */
static void test_a_cancelled_worker_sends_the_batch_in_hand(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 8, 4, 4, 1);
	struct gated_step g = {&w, chan_new_or_fail(0)};
	r.step = step_after_go;
	r.ctx = &g;
	r.cancel = chan_new_or_fail(0);
	for (long i = 1; i <= 8; i++)
		assert_chan_status(chan_send(r.in, MSG(i)), CHAN_OK);
	runner_start(&r);
	expect_worker_parked(&r, g.go, 0, "the worker never reached its first step");
	assert_chan_status(chan_close(r.cancel), CHAN_OK);
	assert_chan_status(chan_close(g.go), CHAN_OK);
	long got = drain_out(&r, NULL, 8,
			     "out was never closed after cancel: a cancelled worker stops before its next "
			     "batch (look at cancel before each one), and the last to stop closes out");
	join_runner(&r);
	unsigned long discarded = atomic_load(&w.discarded);
	if (got != 4 || discarded != 0)
		fail_msg("cancel was closed while the worker stepped its batch of 4, with out open and read: "
			 "%ld results reached out and %lu were discarded, expected 4 and 0. Cancel stops a "
			 "worker before its next batch; stage_send still sends the batch in hand and returns "
			 "how many out took (fewer only if out was closed)",
			 got, discarded);
	chan_free(g.go);
	chan_free(r.cancel);
	runner_free(&r);
}

static void *wait_pipeline(void *arg)
{
	pipeline_wait(arg);
	return NULL;
}

/* Runs pipeline_wait in a thread of its own and fails, saying why a
 * cancel should have ended it sooner, unless it returns within the
 * harness's deadline (hang: what the grade says if it hangs for good). */
static void wait_after_cancel(struct pipeline *p, const char *hang, const char *why)
{
	struct harness_thread t;
	harness_thread_start(&t, wait_pipeline, p);
	harness_on_hang(hang);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("pipeline_wait did not return within %ld ms of pipeline_cancel: %s", harness_wait_ms(),
			 why);
}

/* 1 once a stage is blocked sending into ch (arg): ch is full. */
static int blocked_sending(void *arg)
{
	struct chan *ch = arg;
	pthread_mutex_lock(&ch->mu);
	int waiting = ch->send_waiting;
	pthread_mutex_unlock(&ch->mu);
	return waiting > 0;
}

/* Fails at once, before anyone waits for the stages, unless every channel
 * between the stages is closed right after pipeline_cancel returned. One
 * left open with a stage blocked sending into it holds that stage for
 * ever: the stage after it, cancelled, reads no more, and only the stage
 * blocked in the send would close the channel, once it ended. */
static void expect_channels_closed(struct pipeline *p)
{
	struct chan *const chans[] = {p->lines, p->entries, p->passed};
	static const char *const names[] = {"lines", "entries", "passed"};
	static const char *const senders[] = {"tailer", "parser", "filter"};
	for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]); i++)
		if (!chan_is_closed(chans[i]))
			fail_msg("right after pipeline_cancel, %s was still open: a %s blocked sending into it "
				 "(full, and the stage after it cancelled, reading no more) would wait there for "
				 "ever. pipeline_cancel must close every channel between the stages",
				 names[i], senders[i]);
}

/* After a cancel: pipeline_wait returns, every line read is accounted
 * for, and something was discarded (a stage was blocked sending). */
static void expect_cancelled(struct pipeline *p, const char *hang, const char *why)
{
	wait_after_cancel(p, hang, why);
	unsigned long long read = pipeline_lines_read(p), accounted = pipeline_lines_accounted(p);
	unsigned long long discarded = pipeline_lines_discarded(p);
	pipeline_free(p); /* LeakSanitizer checks that what was abandoned was freed */
	if (read != accounted)
		fail_msg("after pipeline_cancel, %llu lines read but %llu accounted for: what a runner "
			 "discards because out was closed must be counted in r->discarded (the pipeline "
			 "counts what the channels still hold)",
			 read, accounted);
	if (discarded == 0)
		fail_msg("pipeline_cancel abandoned a pipeline with a stage blocked sending, yet nothing was "
			 "counted as discarded");
}

/* Starts p on the sample log behind channels of 2 with `stage` taking
 * 0.5 s an entry, waits until the stage before it is blocked sending
 * into its full input (*in, read once p has started), and cancels. */
static void cancel_behind_a_slow_stage(struct pipeline *p, const char *stage, struct chan *const *in)
{
	struct pipeline_config cfg = sample_config(2);
	cfg.slow_stage = stage;
	cfg.slow_us = 500000;
	start_or_fail(p, &cfg, "one stage taking 0.5 s an entry, channels of 2");
	if (!harness_wait_until(blocked_sending, *in))
		fail_msg("the stage before the slow %s never blocked sending to it (channels of 2)", stage);
	pipeline_cancel(p);
}

/* The Go blog's question: a pipeline whose consumer no longer keeps up
 * (here a filter taking half a second an entry, behind channels of 2).
 * Draining it would take about 17 s; cancelling it takes one step. */
static void test_cancel_stops_a_pipeline_stuck_behind_a_slow_stage(void **state)
{
	(void)state;
	static struct pipeline p;
	cancel_behind_a_slow_stage(&p, "filter", &p.entries);
	/* A runner looks at cancel before each batch: without it closed, the
	 * slow stage steps everything still in its closed input first. */
	void *msg;
	enum chan_status cancel_rc = chan_try_recv(p.cancel, &msg);
	if (cancel_rc != CHAN_CLOSED)
		fail_msg("right after pipeline_cancel, a try on the pipeline's cancel channel answered %s, "
			 "not CHAN_CLOSED: pipeline_cancel must close cancel, or each runner steps what its "
			 "closed input still holds before it stops",
			 chan_status_str(cancel_rc));
	expect_channels_closed(&p);
	expect_cancelled(&p,
			 "pipeline_wait did not return after pipeline_cancel: every stage must wake from "
			 "its closed channels and stop (runners: before their next batch)",
			 "a drain would take about 17 s; a cancel should take one step of the slow stage (0.5 s)");
}

/* The slow stage the last one: the filter blocks sending into a full
 * passed, which the metrics stage, once cancelled, no longer reads. Only
 * the close of passed wakes the filter (its own last worker would close
 * passed, but only once it ended). */
static void test_cancel_wakes_a_stage_blocked_sending_to_the_last_one(void **state)
{
	(void)state;
	static struct pipeline p;
	cancel_behind_a_slow_stage(&p, "metrics", &p.passed);
	expect_channels_closed(&p);
	expect_cancelled(&p,
			 "pipeline_wait did not return after pipeline_cancel: the filter, blocked sending "
			 "into passed, must wake from its close",
			 "a cancel should take one step of the slow stage (0.5 s)");
}

/* 1 once the tailer group has made its first look and started a tailer. */
static int group_found_a_file(void *arg)
{
	struct pipeline *p = arg;
	return tailer_group_at(&p->tailers, 0) != NULL;
}

/* A source that is a glob pattern: the tailer group's thread looks for new
 * files matching it every poll interval until done is closed, whatever
 * becomes of lines, and pipeline_wait joins it. */
static void test_cancel_stops_a_pipeline_following_a_glob_pattern(void **state)
{
	(void)state;
	static struct pipeline p;
	static const char *const pattern[] = {"tests/data/sample.lo?"};
	struct pipeline_config cfg = sample_config(4);
	cfg.files = pattern;
	cfg.nfiles = 1;
	cfg.source.stop_at_eof = 0;
	start_or_fail(&p, &cfg, "following tests/data/sample.lo?");
	if (!harness_wait_until(group_found_a_file, &p))
		fail_msg("the tailer group never started a tailer for tests/data/sample.log");
	pipeline_cancel(&p);
	void *msg;
	enum chan_status done_rc = chan_try_recv(p.done, &msg);
	if (done_rc != CHAN_CLOSED)
		fail_msg("right after pipeline_cancel, a try on the pipeline's done channel answered %s, not "
			 "CHAN_CLOSED: pipeline_cancel must close done too. The tailer group following a glob "
			 "pattern looks for new files until done is closed, so pipeline_wait would never return",
			 chan_status_str(done_rc));
	wait_after_cancel(&p,
			  "pipeline_wait did not return after pipeline_cancel on a pipeline following a glob "
			  "pattern: every stage, the tailer group included, must stop",
			  "every stage, the tailer group following the glob pattern included, must stop");
	unsigned long long read = pipeline_lines_read(&p), accounted = pipeline_lines_accounted(&p);
	pipeline_free(&p);
	if (read != accounted)
		fail_msg("after pipeline_cancel, %llu lines read but %llu accounted for", read, accounted);
}

/* What the thread calling pipeline_cancel saw after each of its unlocks. */
struct cancel_order {
	struct pipeline *p;
	int cancel_closed;	    /* 1 once cancel was seen closed */
	const char *closed_before; /* a channel seen closed while cancel was open, or NULL */
};

/* Runs after every unlock made by the thread calling pipeline_cancel, so
 * after each of its closes, before its next one. Only that thread closes
 * cancel, so cancel cannot change under this look: a channel closed while
 * cancel is still open was closed before it, by pipeline_cancel or by a
 * stage that one of its closes woke. */
static void look_for_a_close_before_cancel(void *arg)
{
	struct cancel_order *o = arg;
	if (o->cancel_closed || chan_is_closed(o->p->cancel)) {
		o->cancel_closed = 1;
		return;
	}
	struct chan *const chans[] = {o->p->done, o->p->lines, o->p->entries, o->p->passed};
	static const char *const names[] = {"done", "lines", "entries", "passed"};
	for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]) && o->closed_before == NULL; i++)
		if (chan_is_closed(chans[i]))
			o->closed_before = names[i];
}

/* A stage woken by one of pipeline_cancel's closes may run at once, before
 * the next close: it finds cancel closed only if cancel came first. The
 * test looks after each close, from pipeline_cancel's own thread, on a
 * pipeline that follows the sample log (so that nothing but the cancel
 * closes a channel). */
static void test_a_stage_woken_by_pipeline_cancel_finds_it_cancelled(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(4);
	cfg.source.stop_at_eof = 0;
	cfg.batch = 2;
	start_or_fail(&p, &cfg, "following the sample log in batches of 2");
	struct cancel_order o = {&p, 0, NULL};
	harness_after_unlock(NULL, look_for_a_close_before_cancel, &o);
	pipeline_cancel(&p);
	harness_after_unlock(NULL, NULL, NULL);
	harness_on_hang("pipeline_wait did not return after pipeline_cancel: every stage must wake from "
			"its closed channels and stop");
	pipeline_wait(&p);
	pipeline_free(&p);
	if (!o.cancel_closed)
		fail_msg("pipeline_cancel never closed the pipeline's cancel channel");
	if (o.closed_before != NULL)
		fail_msg("pipeline_cancel closed %s before cancel: a stage woken by that close may run before "
			 "cancel is closed (done wakes the tailer, which then closes lines), and a runner that "
			 "does finds cancel open and takes one more batch from what its closed in still holds "
			 "(behind a slow stage, a batch of slow steps). Close cancel first",
			 o.closed_before);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_runner_counts_the_time_workers_wait_to_receive, L13 "#the-waits"),
	    HTEST(test_runner_counts_the_time_workers_wait_to_send, L13 "#the-waits"),
	    HTEST(test_two_workers_adding_at_once_lose_no_wait, L13 "#the-waits"),
	    HTEST(test_two_workers_sending_at_once_lose_no_wait, L13 "#the-waits"),
	    HTEST(test_a_wait_of_5_seconds_is_counted_whole, L13 "#the-waits"),
	    HTEST(test_a_runner_exports_its_waits_in_seconds, L13 "#the-export"),
	    HTEST(test_pipeline_exports_its_channels_and_its_waits, L13 "#the-export"),
	    HTEST(test_runners_without_a_batch_export_their_waits, L13 "#the-export"),
	    HTEST(test_a_pipeline_without_runners_exports_no_waits, L13 "#the-export"),
	    HTEST(test_a_slow_stage_makes_the_stage_before_it_wait, L13 "#the-waits"),
	    HTEST(test_a_cancelled_worker_stops_before_its_next_batch, L13 "#the-check"),
	    HTEST(test_a_cancelled_worker_sends_the_batch_in_hand, L13 "#the-check"),
	    HTEST(test_cancel_stops_a_pipeline_stuck_behind_a_slow_stage, L13 "#the-cancel"),
	    HTEST(test_cancel_wakes_a_stage_blocked_sending_to_the_last_one, L13 "#the-cancel"),
	    HTEST(test_cancel_stops_a_pipeline_following_a_glob_pattern, L13 "#the-cancel"),
	    HTEST(test_a_stage_woken_by_pipeline_cancel_finds_it_cancelled, L13 "#the-cancel"),
	};
	return harness_main(argc, argv, "13-control", tests, HARNESS_COUNT(tests));
}
