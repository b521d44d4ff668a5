/*
 * Lesson 12: the stage runner, its workers, and the pipeline run on it.
 * Written against src/stage.h, src/channel.h and src/pipeline.h; the
 * runner's test fixtures are tests/harness/stage_testing.h.
 */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include "chan_testing.h"
#include "held.h"
#include "interpose.h"
#include "pipeline.h"
#include "stage.h"
#include "stage_testing.h"
#include "strbuf.h"

#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define L12 "lessons/12-workers/README.md"

static void test_runner_steps_every_item_in_order_with_one_worker(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 8, 8, 4, 1);
	struct feeder f = {.in = r.in, .n = 200};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	void *msg;
	long next = 1001;
	harness_on_hang("the consumer of out waited forever: does the worker send what the step returns, and "
			"close out when in is closed and drained?");
	while (chan_recv(r.out, &msg) == CHAN_OK) {
		if ((long)MSG_VALUE(msg) != next)
			fail_msg(
			    "out carried %lu where %ld was next: with one worker, items keep their order",
			    (unsigned long)MSG_VALUE(msg), next);
		next++;
	}
	join_feeder(&ft, &f, &r, harness_wait_ms());
	join_runner(&r);
	if (next != 1201)
		fail_msg("out carried %ld items, expected 200", next - 1001);
	if (atomic_load(&w.sent) != 200)
		fail_msg("*sent counts %llu, expected 200: add what chan_send_many says it sent",
			 atomic_load(&w.sent));
	if (atomic_load(&w.discarded) != 0)
		fail_msg(
		    "%lu items were discarded though out took every one: only the results chan_send_many "
		    "did not take (results[sent..n-1]) are discarded; the others belong to the next stage",
		    atomic_load(&w.discarded));
	runner_free(&r);
}

static void test_runner_sends_on_only_what_the_step_returns(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 64, 16, 1);
	w.drop_even = 1;
	struct feeder f = {.in = r.in, .n = 50};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	long got =
	    drain_out(&r, NULL, 50, "the consumer of out waited forever: out must be closed at the end");
	join_feeder(&ft, &f, &r, harness_wait_ms());
	join_runner(&r);
	if (got != 25 || atomic_load(&w.stepped) != 50)
		fail_msg("the step saw %lu items and out carried %ld, expected 50 and 25: every item goes "
			 "through the step, and only a non-NULL result is sent on",
			 atomic_load(&w.stepped), got);
	runner_free(&r);
}

/* Fails unless the runner's counters say exactly what happened: out took
 * `sent` items and refused `refused`. With several workers, an update
 * made as a load and a store loses the additions other workers make in
 * between. More items discarded than out refused as the test ran it
 * means out was closed early, which short counts show too. */
static void expect_counted(struct work *w, unsigned long long sent, unsigned long long refused,
			   long items)
{
	unsigned long long counted_sent = atomic_load(&w->sent);
	unsigned long long counted_discarded = atomic_load(&w->counted_discarded);
	unsigned long discards = atomic_load(&w->discarded);
	if (counted_sent == sent && counted_discarded == refused)
		return;
	if (discards > refused)
		fail_msg("out took %llu of %ld items, and %lu were discarded where %llu were expected "
			 "(the runner counted %llu in *sent and %llu in *discarded): out was closed before "
			 "the last worker was done, so sends were refused (only the last worker to finish "
			 "may close it); if the counts also differ from what happened, additions were lost "
			 "too (each must be one atomic_fetch_add, not an atomic_load then an atomic_store)",
			 sent, items, discards, refused, counted_sent, counted_discarded);
	fail_msg("out took %llu and refused %llu of %ld items, but the runner counted %llu in "
		 "*sent and %llu in *discarded: several workers add to the same counters at once, "
		 "so each addition must be one atomic step (atomic_fetch_add), not an "
		 "atomic_load followed by an atomic_store, which loses what another worker "
		 "added in between",
		 sent, refused, items, counted_sent, counted_discarded);
}

/* Four workers on one channel: every item stepped and sent exactly once,
 * and out closed only when the last of them is done. A worker that closes
 * out as soon as it sees in closed makes the others' sends fail: their
 * items are discarded, and the count comes out short. */
static void test_workers_move_every_item_exactly_once_and_the_last_closes_out(void **state)
{
	(void)state;
	enum { WORKERS = 4 };
	long n = harness_scale(20000);
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 16, 16, 8, WORKERS);
	atomic_int *seen = calloc((size_t)n + 1, sizeof(*seen));
	assert_non_null(seen);
	struct feeder f = {.in = r.in, .n = n};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	long got = drain_out(&r, seen, n,
			     "out was never closed, or the workers stopped: the last worker to finish closes "
			     "out (count the workers down in running)");
	join_feeder(&ft, &f, &r, 60000);
	join_runner(&r);
	long lost = 0, twice = 0;
	for (long v = 1; v <= n; v++) {
		lost += atomic_load(&seen[v]) == 0;
		twice += atomic_load(&seen[v]) > 1;
	}
	free(seen);
	unsigned long long sent = atomic_load(&w.sent);
	unsigned long discarded = atomic_load(&w.discarded);
	if (discarded > 0 && sent + discarded > (unsigned long long)n)
		fail_msg(
		    "%lu items were discarded and %llu counted as sent, for %ld items: items that "
		    "chan_send_many took were discarded too (only results[sent..n-1] are yours to discard)",
		    discarded, sent, n);
	if (discarded > 0)
		fail_msg(
		    "%lu items were discarded because out was closed while workers still sent: only the "
		    "last worker to finish may close out (worker_finished does it; is it called once per "
		    "worker, after its loop? are all the workers counted in before any starts?)",
		    discarded);
	if (got != n || lost != 0 || twice != 0)
		fail_msg("out carried %ld items for %ld sent in; %ld never came out and %ld came out twice: "
			 "each worker must receive into and send from arrays of its own (items[] and "
			 "results[] local to stage_worker, on its thread's stack); arrays that are static or "
			 "outside the worker are shared, and one worker's receive overwrites the items "
			 "another has not yet stepped or sent (see " L12 "#5-build-it-the-runner)",
			 got, n, lost, twice);
	expect_counted(&w, (unsigned long long)got, 0, n);
	runner_free(&r);
}

/* Item 1's step waits until this channel is closed: its worker is still
 * busy when every other worker has finished. */
static struct chan *step_gate;

static void *step_add_1000_after_the_gate(void *ctx, void *item)
{
	void *msg;
	if (MSG_VALUE(item) == 1)
		chan_recv(step_gate, &msg);
	return step_add_1000(ctx, item);
}

/* 1 once one of the two workers has returned. */
static int one_worker_left(void *arg)
{
	struct stage_runner *r = arg;
	return r->started == 2 &&
	       (harness_thread_returned(r->threads[0]) || harness_thread_returned(r->threads[1]));
}

/* Two workers, two items: one worker finishes while the other still
 * steps item 1. Only the second to finish may close out. */
static void test_the_first_worker_to_finish_leaves_out_open(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 2, 4, 1, 2);
	r.step = step_add_1000_after_the_gate;
	step_gate = chan_new_or_fail(0);
	assert_chan_status(chan_send(r.in, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send(r.in, MSG(2)), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	runner_start(&r);
	if (!harness_wait_until(one_worker_left, &r))
		fail_msg("the worker without item 1 did not finish within %ld ms: with in closed and "
			 "drained, a worker's chan_recv_many says CHAN_CLOSED and the worker returns",
			 harness_wait_ms());
	assert_chan_status(chan_close(step_gate), CHAN_OK);
	long got = drain_out(&r, NULL, 2,
			     "out was never closed: the last worker to finish closes out (count the workers "
			     "down in running)");
	join_runner(&r);
	unsigned long discarded = atomic_load(&w.discarded);
	if (got + (long)discarded > 2)
		fail_msg("out carried %ld of 2 items and %lu were discarded too: results that "
			 "chan_send_many took were discarded (only results[sent..n-1] are the worker's)",
			 got, discarded);
	if (got != 2 || discarded != 0)
		fail_msg("out carried %ld of 2 items and %lu were discarded: out was closed while the "
			 "other worker still stepped item 1, by the first worker to finish (only the last "
			 "one may: worker_finished, once per worker, after its loop) or by a worker that "
			 "counted itself in only as it started",
			 got, discarded);
	chan_free(step_gate);
	runner_free(&r);
}

/* 1 once out is closed (read under its lock, without taking anything). */
static int out_closed(struct stage_runner *r)
{
	pthread_mutex_lock(&r->out->mu);
	int closed = r->out->closed;
	pthread_mutex_unlock(&r->out->mu);
	return closed;
}

/* Two workers' threads, one of them held before it runs: which has
 * returned, joined without blocking (the test joins both itself). */
struct pair {
	pthread_t *threads;
	int returned; /* index of the one that has returned, or -1 */
};

static int one_returned(void *arg)
{
	struct pair *w = arg;
	for (int i = 0; i < 2 && w->returned < 0; i++)
		if (pthread_tryjoin_np(w->threads[i], NULL) == 0)
			w->returned = i;
	return w->returned >= 0;
}

/* Go's WaitGroup rule, Add before go: one worker's thread is held before
 * it runs, while the other drains in and returns. The runner counted both
 * in before starting either, so out stays open. */
static void test_every_worker_is_counted_in_before_any_starts(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 2, 4, 1, 2);
	assert_chan_status(chan_send(r.in, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send(r.in, MSG(2)), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	harness_hold_thread(stage_worker);
	runner_start(&r);
	if (r.started != 2)
		fail_msg("stage_start says %zu workers started, expected 2", r.started);
	struct pair pair = {r.threads, -1};
	int returned = harness_wait_until(one_returned, &pair);
	int closed = out_closed(&r);
	size_t running = atomic_load(&r.running);
	harness_release_held();
	if (!returned)
		fail_msg("no worker returned within %ld ms, with in closed after 2 items: a worker returns "
			 "once stage_recv says CHAN_CLOSED",
			 harness_wait_ms());
	if (closed && running == 0)
		fail_msg("out was closed by the first worker to finish while the second had not even "
			 "begun, and running says 0: count every worker in (running = workers) in "
			 "stage_start before starting any, not in each worker as it starts (Go: wg.Add "
			 "before go)");
	if (closed)
		fail_msg("out was closed by the first worker to finish while the second had not even "
			 "begun, though running still says %zu: only the worker whose count-out takes "
			 "running to 0 may close out, not each worker as its receive says CHAN_CLOSED",
			 running);
	long got = drain_out(&r, NULL, 2, "out was never closed: the last worker to finish closes out");
	harness_on_hang("the held worker never returned after it was let go");
	pthread_join(r.threads[1 - pair.returned], NULL);
	assert_int_equal(got, 2);
	runner_free(&r);
}

/* The first pthread_create of a worker fails (EAGAIN, as when the system
 * is out of threads): no worker will ever run, so none will ever finish,
 * and out must be closed by stage_start counting all of them out, or the
 * stages after this one wait for ever. */
static void test_stage_start_counts_out_the_workers_that_never_started(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 8, 8, 2, 4);
	harness_fail_thread(stage_worker, EAGAIN, NULL, NULL);
	int rc = stage_start(&r);
	if (rc != EAGAIN || r.started != 0)
		fail_msg("the first thread start failed with EAGAIN: stage_start returned %d and says %zu "
			 "started, expected %d (EAGAIN) and 0",
			 rc, r.started, EAGAIN);
	stage_join(&r);
	if (harness_joins_of_gone_threads() != 0)
		fail_msg("no worker of 4 could start, yet stage_join joined %d threads that do not exist: "
			 "join r->started threads, not r->workers (the others' pthread_t was never set)",
			 harness_joins_of_gone_threads());
	void *msg;
	if (chan_try_recv(r.out, &msg) != CHAN_CLOSED)
		fail_msg("no worker of 4 could start, yet out is still open: the workers that never "
			 "started never finish either; stage_start must count them out (worker_finished "
			 "once for each) so that the last count-out closes out, from a count that held "
			 "them all (running = workers before the first start)");
	runner_free(&r);
}

/* The third pthread_create of four fails: two workers run, drain in and
 * count themselves out, and two never will. Once stage_start has returned
 * and both are joined nothing else can ever close out, so a look at it
 * then says, without waiting, whether the missing two were counted out. */
static void test_stage_start_counts_out_the_missing_workers_when_a_later_start_fails(void **state)
{
	(void)state;
	enum { WORKERS = 4, STARTED = 2, ITEMS = 8 };
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, ITEMS, ITEMS, 2, WORKERS);
	for (long i = 1; i <= ITEMS; i++)
		assert_chan_status(chan_send(r.in, MSG(i)), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	harness_fail_thread_of(stage_worker, &r, STARTED, EAGAIN);
	int rc = stage_start(&r);
	if (rc != EAGAIN || r.started != STARTED)
		fail_msg("the third thread start of %d failed with EAGAIN: stage_start returned %d and says "
			 "%zu started, expected %d (EAGAIN, the value pthread_create returned) and %d",
			 WORKERS, rc, r.started, EAGAIN, STARTED);
	join_runner(&r);
	if (harness_joins_of_gone_threads() != 0)
		fail_msg("%d of %d workers started, yet stage_join joined %d threads that do not exist: "
			 "join r->started threads, not r->workers",
			 STARTED, WORKERS, harness_joins_of_gone_threads());
	void *msg;
	long got = 0;
	enum chan_status status;
	while ((status = chan_try_recv(r.out, &msg)) == CHAN_OK)
		got++;
	if (got != ITEMS)
		fail_msg("%d of %d workers started and in held %d items, closed: out carried %ld of them",
			 STARTED, WORKERS, ITEMS, got);
	size_t running = atomic_load(&r.running);
	if (status != CHAN_CLOSED && running == 0)
		fail_msg("%d of %d workers started, both returned, and out is still open though running "
			 "reached 0: the count-out that takes running to 0 closes out (what does "
			 "atomic_fetch_sub return, the count before or after?)",
			 STARTED, WORKERS);
	if (status != CHAN_CLOSED && running > WORKERS)
		fail_msg("%d of %d workers started, both returned, and out is still open, running at %zu: "
			 "it went below 0 and wrapped round, so more workers were counted out than in (count "
			 "all %d in, running = workers, before the first start)",
			 STARTED, WORKERS, running, WORKERS);
	if (status != CHAN_CLOSED)
		fail_msg("%d of %d workers started, both returned, and out is still open, running at %zu: "
			 "the %d that never started never count themselves out, so stage_start must (once "
			 "for each missing worker, whether or not others started), or running never reaches "
			 "0 and the stages downstream wait for ever. Closing out in stage_start only when "
			 "no worker started misses this case",
			 STARTED, WORKERS, running, WORKERS - STARTED);
	runner_free(&r);
}

/* "EAGAIN" for EAGAIN: the name a man page uses, beside strerror's words. */
static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);
	return name != NULL ? name : "no errno name";
}

/* Each runner stage_start cannot run, refused before any thread starts. */
static void test_stage_start_refuses_what_it_cannot_run(void **state)
{
	(void)state;
	static const struct {
		size_t batch, workers;
		char missing; /* the field left NULL: 'd' discard, 'i' in, 's' step */
		const char *what;
	} bad[] = {
	    {0, 1, 0, "batch 0"},
	    {STAGE_MAX_BATCH + 1, 1, 0, "batch STAGE_MAX_BATCH + 1 (a worker's arrays hold STAGE_MAX_BATCH)"},
	    {1, 0, 0, "0 workers"},
	    {1, STAGE_MAX_WORKERS + 1, 0,
	     "STAGE_MAX_WORKERS + 1 workers (threads[] holds STAGE_MAX_WORKERS)"},
	    {1, 1, 'd', "an out but no discard (what out refuses would leak)"},
	    {1, 1, 'i', "in NULL (required: where would a worker receive from?)"},
	    {1, 1, 's', "step NULL (required: a worker would call it on its first item)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct stage_runner r;
		struct work w;
		runner_init(&r, &w, 1, 1, bad[i].batch, bad[i].workers);
		struct chan *in = r.in;
		if (bad[i].missing == 'd')
			r.discard = NULL;
		if (bad[i].missing == 'i')
			r.in = NULL;
		if (bad[i].missing == 's')
			r.step = NULL;
		/* A start is a failure here: refused runners start no thread. */
		harness_fail_thread(stage_worker, EAGAIN, NULL, NULL);
		int rc = stage_start(&r);
		if (rc != EINVAL || r.started != 0)
			fail_msg("stage_start with %s returned %d (%s: %s) and started %zu workers, "
				 "expected EINVAL (%d) and none%s",
				 bad[i].what, rc, errno_name(rc), strerror(rc), r.started, EINVAL,
				 rc == EAGAIN
				     ? ": this test makes every thread start fail with EAGAIN, so "
				       "EAGAIN means stage_start tried to start a worker before refusing"
				     : "");
		r.in = in;
		runner_free(&r);
	}
}

/* A runner at one of the contract's bounds, with `items` items in in,
 * closed, before the start: STAGE_MAX_BATCH of them let a worker receive
 * a whole batch of the largest size at once. Each must come out. */
static void expect_runs_at(size_t batch, size_t workers, long items, const char *what)
{
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, STAGE_MAX_BATCH, STAGE_MAX_BATCH, batch, workers);
	for (long i = 1; i <= items; i++)
		assert_chan_status(chan_send(r.in, MSG(i)), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	int rc = stage_start(&r);
	if (rc != 0 || r.started != workers)
		fail_msg("stage_start with %s returned %d and started %zu workers, expected 0 and %zu: the "
			 "contract allows 1 to the maximum, both included (is a bound tested with >= where "
			 "> belongs?)",
			 what, rc, r.started, workers);
	long got = drain_out(&r, NULL, items, "out was never closed");
	join_runner(&r);
	if (got != items)
		fail_msg("with %s, out carried %ld of %ld items", what, got, items);
	runner_free(&r);
}

/* The largest batch and the most workers the contract allows: run, not refused. */
static void test_stage_start_accepts_the_largest_it_can_run(void **state)
{
	(void)state;
	expect_runs_at(STAGE_MAX_BATCH, 1, STAGE_MAX_BATCH, "batch STAGE_MAX_BATCH");
	expect_runs_at(1, STAGE_MAX_WORKERS, STAGE_MAX_WORKERS, "STAGE_MAX_WORKERS workers");
}

/* Runs r (out closed before it starts) over n items fed to in
 * (capacity 1): what out refuses is discarded, and in keeps being drained
 * so that the feeder never blocks for good. */
static void run_with_out_closed(struct stage_runner *r, struct work *w, long n)
{
	assert_chan_status(chan_close(r->out), CHAN_OK);
	struct feeder f = {.in = r->in, .n = n};
	struct harness_thread ft;
	runner_start(r);
	harness_thread_start(&ft, feed, &f);
	harness_on_hang("the feeder stayed blocked on in: when out refuses a batch, discard what it did not "
			"take and keep receiving");
	join_feeder(&ft, &f, r, 60000);
	join_runner(r);
	if (f.sent != n)
		fail_msg("the feeder sent %ld of %ld items", f.sent, n);
	if (atomic_load(&w->stepped) != (unsigned long)n)
		fail_msg("the step saw %lu of %ld items", atomic_load(&w->stepped), n);
}

/* Nobody downstream: every item refused, discarded and counted. */
static void test_runner_keeps_draining_in_when_out_is_closed(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 1, 4, 8, 2);
	run_with_out_closed(&r, &w, 300);
	if (atomic_load(&w.discarded) != 300 || atomic_load(&w.sent) != 0)
		fail_msg(
		    "with out closed, %lu items were discarded and %llu counted as sent, expected 300 and 0",
		    atomic_load(&w.discarded), atomic_load(&w.sent));
	if (atomic_load(&w.counted_discarded) == 0)
		fail_msg("300 items were discarded but the runner counted none in r->discarded: add the "
			 "items out refused (n - sent) to *discarded, as sent counts the ones it took");
	expect_counted(&w, 0, 300, 300);
	runner_free(&r);
}

/* sent and discarded may be NULL: a runner without them still frees what
 * out refuses (each refused item is discarded whether or not it is
 * counted), and never writes through a NULL counter (that is a CRASH). */
static void test_runner_without_counters_still_discards_what_out_refuses(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 1, 4, 8, 2);
	r.sent = NULL;
	r.discarded = NULL;
	run_with_out_closed(&r, &w, 300);
	if (atomic_load(&w.discarded) != 300)
		fail_msg("with out closed and r->sent, r->discarded NULL, r->discard was called for %lu of "
			 "300 refused items: the rest leak. Counting is optional, discarding is not: "
			 "every item out refused goes to r->discard, counted or not",
			 atomic_load(&w.discarded));
	runner_free(&r);
}

/* ---- two workers between a read and a write -------------------------------------- */

/*
 * An update made as an atomic_load and then an atomic_store loses what
 * another worker added between the two. The runner's two counters live on
 * a page of their own whose writers the test holds (tests/harness/held.h)
 * until a second worker waits too: both have then read the counter and
 * neither has written it, every round.
 */
static int two_writers_wait(void *arg)
{
	return workers_gone(arg) || held_writers() >= 2;
}

/* Rounds of: writers held, two workers caught writing, writers let go;
 * until 20 rounds have caught two, or the workers are gone (a round with
 * a single worker left ends at the wait's deadline). */
static void *hold_writers(void *arg)
{
	struct stage_runner *r = arg;
	atomic_ullong *counters = r->sent;
	for (int paired = 0; paired < 20 && !workers_gone(r);) {
		held_hold(counters, 2 * sizeof(*counters));
		harness_wait_until(two_writers_wait, r);
		paired += held_writers() >= 2;
		held_release();
	}
	return NULL;
}

/* The counters' page, for the runner r. */
static void hold_counters_of(struct stage_runner *r)
{
	atomic_ullong *counters = held_map(2 * sizeof(*counters));
	atomic_init(&counters[0], 0);
	atomic_init(&counters[1], 0);
	r->sent = &counters[0];
	r->discarded = &counters[1];
}

/* Four workers adding to the same two counters, two of them caught
 * between reading a counter and writing it, again and again. */
static void test_workers_count_every_item_exactly(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 16, 16, 4, 4);
	hold_counters_of(&r);
	long n = harness_scale(20000);
	struct feeder f = {.in = r.in, .n = n};
	struct harness_thread ft, holder;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	if (HELD_WORKS)
		harness_thread_start(&holder, hold_writers, &r);
	long got = drain_out(&r, NULL, n, "out was never closed, or the workers stopped");
	join_feeder(&ft, &f, &r, 60000);
	join_runner(&r);
	if (HELD_WORKS && !harness_thread_join_within(&holder, harness_wait_ms()))
		fail_msg("the test's own thread holding the counters did not return");
	atomic_store(&w.sent, atomic_load(r.sent));
	atomic_store(&w.counted_discarded, atomic_load(r.discarded));
	held_unmap();
	expect_counted(&w, (unsigned long long)got, 0, n);
	runner_free(&r);
}

/* ---- two workers finishing together ----------------------------------------------- */

/*
 * Two workers count themselves out at the same moment. The runner is laid
 * out so that running starts a page of its own (the fields after it come
 * along), held for readers and writers (tests/harness/held.h): a worker is
 * caught at each access to that page, and the test lets the workers make
 * their accesses one at a time, in turn. Each makes its first access to
 * running before either makes a second: a count-out that is one atomic
 * read-modify-write cannot tell, and one made of two accesses (subtract,
 * then load; or load, then subtract) is caught between them, every run.
 * Each close of out is seen as it happens: once out is closed, the test
 * puts an open channel in r->out for a second close to show in.
 */
struct finish {
	struct stage_runner *r;
	pthread_t threads[2]; /* copied: r->threads is on the held page */
	struct chan *outs[3]; /* out, then the open ones put in its place */
	int closes;	      /* of r->out, seen as they happened */
	int early;	      /* of those, seen before every worker was caught at running */
	long catches;	      /* held_catches() before the last step */
	int returned;	      /* workers returned before the last step */
	int early_phase;      /* 1 until every worker has reached running */
};

static int finish_returned(const struct finish *f)
{
	return harness_thread_returned(f->threads[0]) + harness_thread_returned(f->threads[1]);
}

/* The worker just let go is caught at its next access, or has returned. */
static int moved_on(void *arg)
{
	struct finish *f = arg;
	return held_catches() > f->catches || finish_returned(f) > f->returned;
}

/* A close of r->out since the last look counts, and an open channel
 * takes its place. Only one worker runs while this looks. */
static void note_close(struct finish *f)
{
	if (f->closes < 2 && out_closed(f->r)) {
		f->closes++;
		f->early += f->early_phase;
		f->r->out = f->outs[f->closes];
	}
}

/* Lets the worker caught longest ago make one access (step) or run on
 * freely, then waits until it is caught again or has returned. */
static void let_go(struct finish *f, int step)
{
	f->catches = held_catches();
	f->returned = finish_returned(f);
	if (!(step ? held_step() : held_let_one()))
		fail_msg("a worker caught at running was let go, but did not make its access within %ld ms",
			 harness_wait_ms());
	if (!harness_wait_until(moved_on, f))
		fail_msg("a worker let go after its access to running neither returned nor touched running "
			 "again within %ld ms: does worker_finished block (on what?)",
			 harness_wait_ms());
	note_close(f);
}

/* The runner r, placed so that r->running starts the second page of a held mapping. */
static struct stage_runner *runner_on_held_page(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t at = offsetof(struct stage_runner, running);
	assert_true(at < page && sizeof(struct stage_runner) - at <= page);
	char *base = held_map(2 * page);
	return (struct stage_runner *)(base + page - at);
}

static void test_one_worker_closes_out_when_two_finish_together(void **state)
{
	(void)state;
	struct stage_runner *r = runner_on_held_page();
	struct work w;
	runner_init(r, &w, 4, 4, 1, 2);
	struct finish f = {.r = r, .outs = {r->out, chan_new_or_fail(1), chan_new_or_fail(1)}};
	runner_start(r);
	expect_workers_parked(r, r->in, 0, 2, "two workers on an empty in must wait in stage_recv");
	f.threads[0] = r->threads[0];
	f.threads[1] = r->threads[1];
	char *running = (char *)&r->running;
	if (held_can_step()) {
		held_hold_readers(running, sizeof(r->running));
		assert_chan_status(chan_close(r->in), CHAN_OK);
		if (!held_wait_for_writers(2))
			fail_msg(
			    "in was closed, yet the two workers did not both reach the end of their loop "
			    "within %ld ms",
			    harness_wait_ms());
		/* Past what comes before the count-out (stage_recv adds to
		 * recv_ns, on the same page), then each worker's first access
		 * to running, in turn; at most a few accesses each. */
		f.early_phase = 1;
		for (int i = 0; i < 16 && held_next_access() != NULL && held_next_access() != running; i++)
			let_go(&f, 1);
		f.early_phase = 0;
		for (int i = 0; i < 2 && held_next_access() != NULL; i++)
			let_go(&f, 1);
		/* The rest run on, one worker at a time. */
		while (held_next_access() != NULL)
			let_go(&f, 0);
		held_release();
	} else {
		assert_chan_status(chan_close(r->in), CHAN_OK);
	}
	join_runner(r);
	note_close(&f);
	size_t left = atomic_load(&r->running);
	r->out = f.outs[0];
	chan_free(f.outs[1]);
	chan_free(f.outs[2]);
	runner_free(r);
	held_unmap();
	if (f.closes == 2 && f.early > 0)
		fail_msg("out was closed twice, %d time(s) by a worker that had not yet counted itself out "
			 "of running: a worker whose receive says CHAN_CLOSED is done, not last; only the "
			 "worker whose count-out takes running to 0 may close out",
			 f.early);
	if (f.closes == 2)
		fail_msg("both workers closed out: each subtracted itself from running, then read running "
			 "again and saw 0. Counting out and learning whether you were the last must be one "
			 "atomic step (a read-modify-write returns the value it replaced), or two workers "
			 "finishing together both think they are last");
	if (f.closes == 0)
		fail_msg("no worker closed out, and running ended at %zu: both workers read running (2) "
			 "before either counted itself out, so neither saw itself last. Counting out and "
			 "learning whether you were the last must be one atomic step, or two workers "
			 "finishing together both think the other is still running",
			 left);
}

static void test_runner_discards_only_what_a_partial_send_left(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 1, 4, 1);
	for (long i = 1; i <= 4; i++)
		assert_chan_status(chan_send(r.in, MSG(i)), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	runner_start(&r);
	/* Nobody reads out (capacity 1): the batch of 4 results sticks after 1. */
	expect_worker_parked(&r, r.out, 1,
			     "a worker with 4 results for an out of capacity 1 must wait to send");
	assert_chan_status(chan_close(r.out), CHAN_OK);
	harness_on_hang("the worker went on waiting after out was closed: chan_send_many returns "
			"CHAN_CLOSED, and the worker goes back to in, which is closed and drained");
	join_runner(&r);
	if (atomic_load(&w.sent) != 1 || atomic_load(&w.discarded) != 3 ||
	    atomic_load(&w.counted_discarded) != 3)
		fail_msg("out took 1 result of the batch of 4 before it was closed: expected *sent 1, "
			 "*discarded 3 and 3 calls of r->discard, got *sent %llu, *discarded %llu and %lu "
			 "calls of r->discard (results[0..sent-1] belong to the next stage; only "
			 "results[sent..n-1] are the worker's to discard and count)",
			 atomic_load(&w.sent), atomic_load(&w.counted_discarded), atomic_load(&w.discarded));
	void *msg;
	while (chan_try_recv(r.out, &msg) == CHAN_OK)
		;
	runner_free(&r);
}

/* Steps that return NULL for every item, with out NULL (the last stage)
 * or a channel: every item stepped, and nothing to send, so no stage_send.
 * stage_send adds the time of each call to send_ns, however short the
 * call: a run without one leaves it at 0. */
static void expect_nothing_sent(size_t out_cap, const char *what)
{
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, out_cap, 16, 2);
	r.step = step_take;
	struct feeder f = {.in = r.in, .n = 500};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	join_feeder(&ft, &f, &r, 60000);
	join_runner(&r);
	if (atomic_load(&w.stepped) != 500)
		fail_msg("%s: the step saw %lu of 500 items", what, atomic_load(&w.stepped));
	if (atomic_load(&r.send_ns) != 0)
		fail_msg("%s: every step returned NULL, yet the workers called stage_send (%llu ns in it): "
			 "a batch goes out only if it has results",
			 what, atomic_load(&r.send_ns));
	runner_free(&r);
}

static void test_runner_as_the_last_stage_has_no_out(void **state)
{
	(void)state;
	expect_nothing_sent((size_t)-1, "the last stage (out NULL)");
	expect_nothing_sent(4, "a stage whose step consumes every item");
}

/* What end_batch saw, each time a worker called it. */
struct ends_seen {
	struct chan *out;
	struct work *w;
	unsigned long calls;
	unsigned long stepped_before; /* items stepped at the call before */
	const char *wrong;	      /* the first thing a call found wrong, or NULL */
};
static struct ends_seen ends;

static void record_end(void *ctx)
{
	unsigned long stepped = atomic_load(&ends.w->stepped);
	size_t in_out = ends.out != NULL ? chan_len(ends.out) : ends.stepped_before;
	if (ends.wrong == NULL && ctx != ends.w)
		ends.wrong = "end_batch was called with another argument than the runner's ctx: it takes "
			     "what the steps take, r->ctx";
	else if (ends.wrong == NULL && stepped == ends.stepped_before)
		ends.wrong = "end_batch was called with no item stepped since its last call: once a batch, "
			     "after the batch's steps";
	else if (ends.wrong == NULL && in_out != ends.stepped_before)
		ends.wrong = in_out > ends.stepped_before
				 ? "end_batch was called after the batch's results were sent: a step that "
				   "keeps what it learns must finish before its results go on"
				 : "end_batch was called in the middle of a batch, or before the results of "
				   "the batch before were sent: once a batch, after its last step, not after "
				   "each item";
	ends.stepped_before = stepped;
	ends.calls++;
}

/* r with end_batch watched by record_end. */
static void watch_ends(struct stage_runner *r, struct work *w)
{
	r->end_batch = record_end;
	ends = (struct ends_seen){.out = r->out, .w = w};
}

/* Ten items in r's in, closed, before its one worker starts: one batch. */
static void run_one_batch_of_ten(struct stage_runner *r)
{
	for (long i = 1; i <= 10; i++)
		chan_send(r->in, MSG(i));
	chan_close(r->in);
	runner_start(r);
	join_runner(r);
}

/* One worker, one batch of 10 already waiting in in: the ten steps, then
 * end_batch once, then the ten results sent. */
static void test_end_batch_is_called_once_a_batch_after_its_steps(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 16, 64, 16, 1);
	watch_ends(&r, &w);
	run_one_batch_of_ten(&r);
	if (ends.calls != 1)
		fail_msg("end_batch was called %lu times for one batch of 10 items (all in `in` before the "
			 "worker started), expected once: after the batch's steps, not after each item",
			 ends.calls);
	if (ends.wrong != NULL)
		fail_msg("%s", ends.wrong);
	if (chan_len(r.out) != 10)
		fail_msg("out holds %zu results, expected 10", chan_len(r.out));
	drain_out(&r, NULL, 10, "out must be closed at the end");
	runner_free(&r);
}

/* The last stage's kind of runner: its steps return NULL for every item
 * (the metrics stage's tally keeps them), and nothing is sent. Its
 * batches still end, each once: that end is where it does its work. */
static void test_end_batch_ends_a_batch_whose_steps_all_return_null(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 16, (size_t)-1, 16, 1);
	r.step = step_take;
	watch_ends(&r, &w);
	run_one_batch_of_ten(&r);
	if (ends.wrong != NULL)
		fail_msg("%s", ends.wrong);
	if (ends.calls != 1)
		fail_msg("end_batch was called %lu times for one batch of 10 items whose steps all returned "
			 "NULL, expected once: a batch without results is still a batch, and ends (the "
			 "metrics stage counts there what its steps kept)",
			 ends.calls);
	runner_free(&r);
}

/* Batches of up to 4 as a feeder sends 200: at every call, the results of
 * every batch before are in out and none of this one's. */
static void test_end_batch_ends_every_batch_before_its_send(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 8, 256, 4, 1);
	watch_ends(&r, &w);
	struct feeder f = {.in = r.in, .n = 200};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	join_feeder(&ft, &f, &r, harness_wait_ms());
	join_runner(&r);
	if (ends.wrong != NULL)
		fail_msg("%s", ends.wrong);
	if (ends.stepped_before != 200 || ends.calls < 50)
		fail_msg("end_batch was called %lu times, the last after %lu of 200 steps: expected once "
			 "a batch (at least 50 batches of at most 4), the last after the last step",
			 ends.calls, ends.stepped_before);
	drain_out(&r, NULL, 200, "out must be closed at the end");
	runner_free(&r);
}

static int is_count_line(const char *line)
{
	static const char *const counts[] = {"logpipe_lines_read_total",
					     "logpipe_parse_errors_total",
					     "logpipe_filtered_total",
					     "logpipe_log_entries_total",
					     "logpipe_series_dropped_total",
					     "logpipe_log_latency_seconds_count",
					     "logpipe_log_latency_seconds_bucket"};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (strncmp(line, counts[i], strlen(counts[i])) == 0)
			return 1;
	return 0;
}

static int compare_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A run over the sample log, from its start to its end, no server. */
static char *count_sample(size_t capacity, size_t batch, size_t workers, int separate)
{
	static struct pipeline p; /* large: one at a time */
	struct pipeline_config cfg = sample_config(capacity);
	cfg.batch = batch;
	cfg.workers = workers;
	cfg.separate_stages = separate;
	run_to_end(&p, &cfg, "batches and workers");
	if (pipeline_lines_read(&p) != pipeline_lines_accounted(&p))
		fail_msg("batch %zu, %zu workers: %llu lines read but %llu accounted for", batch, workers,
			 pipeline_lines_read(&p), pipeline_lines_accounted(&p));
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	pipeline_free(&p);
	assert_non_null(text);
	/* Sorted: series appear in the order they were first counted, which
	 * with several workers is the order of a race. */
	char *lines[512];
	size_t n = 0;
	for (char *line = strtok(text, "\n"); line != NULL && n < 512; line = strtok(NULL, "\n"))
		if (is_count_line(line))
			lines[n++] = line;
	qsort(lines, n, sizeof(lines[0]), compare_lines);
	struct strbuf counts = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&counts, "%s\n", lines[i]);
	free(text);
	char *joined = strbuf_take(&counts, NULL);
	assert_non_null(joined);
	return joined;
}

static void test_pipeline_counts_the_same_in_batches_and_with_workers(void **state)
{
	(void)state;
	char *plain = count_sample(4, 0, 1, 0);
	/* Fused (the filter and the metrics stage inside the parser's
	 * workers), then each stage in a runner of its own. */
	for (int separate = 0; separate <= 1; separate++) {
		char *scaled = count_sample(4, 7, 3, separate);
		if (strcmp(plain, scaled) != 0) {
			fprintf(stderr, "# one at a time:\n%s# batches of 7, 3 parser workers%s:\n%s", plain,
				separate ? ", stages separate" : ", fused", scaled);
			fail_msg("the sample log gives other counts with --batch 7 --workers 3%s than one at "
				 "a time (both printed above): the stage runner must step every item exactly "
				 "once (does each worker receive into arrays of its own, not static ones "
				 "shared by all?), and call end_batch after each batch",
				 separate ? " --separate-stages" : "");
		}
		free(scaled);
	}
	free(plain);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_runner_steps_every_item_in_order_with_one_worker, L12 "#5-build-it-the-runner"),
	    HTEST(test_runner_sends_on_only_what_the_step_returns, L12 "#5-build-it-the-runner"),
	    HTEST(test_workers_move_every_item_exactly_once_and_the_last_closes_out, L12 "#who-closes-out"),
	    HTEST(test_the_first_worker_to_finish_leaves_out_open, L12 "#who-closes-out"),
	    HTEST(test_stage_start_refuses_what_it_cannot_run, L12 "#5-build-it-the-runner"),
	    HTEST(test_stage_start_accepts_the_largest_it_can_run, L12 "#5-build-it-the-runner"),
	    HTEST(test_every_worker_is_counted_in_before_any_starts, L12 "#who-closes-out"),
	    HTEST(test_stage_start_counts_out_the_workers_that_never_started, L12 "#who-closes-out"),
	    HTEST(test_stage_start_counts_out_the_missing_workers_when_a_later_start_fails,
		  L12 "#who-closes-out"),
	    HTEST(test_one_worker_closes_out_when_two_finish_together, L12 "#who-closes-out"),
	    HTEST(test_runner_keeps_draining_in_when_out_is_closed, L12 "#5-build-it-the-runner"),
	    HTEST(test_runner_without_counters_still_discards_what_out_refuses, L12 "#5-build-it-the-runner"),
	    HTEST(test_workers_count_every_item_exactly, L12 "#5-build-it-the-runner"),
	    HTEST(test_runner_discards_only_what_a_partial_send_left, L12 "#5-build-it-the-runner"),
	    HTEST(test_runner_as_the_last_stage_has_no_out, L12 "#5-build-it-the-runner"),
	    HTEST(test_end_batch_is_called_once_a_batch_after_its_steps, L12 "#a-step-that-keeps-what-it-learns"),
	    HTEST(test_end_batch_ends_every_batch_before_its_send, L12 "#a-step-that-keeps-what-it-learns"),
	    HTEST(test_end_batch_ends_a_batch_whose_steps_all_return_null, L12 "#a-step-that-keeps-what-it-learns"),
	    HTEST(test_pipeline_counts_the_same_in_batches_and_with_workers, L12 "#5-build-it-the-runner"),
	};
	return harness_main(argc, argv, "12-workers", tests, HARNESS_COUNT(tests));
}
