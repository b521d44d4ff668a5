/*
 * stage_testing.c - the stage runner's test fixtures, shared by the tests
 * of lessons 12 (the runner) and 13 (the runner watching itself and
 * cancellation): test steps that count, runners over fresh channels, a
 * feeder thread, and pipelines run over the sample log.
 */
#include "stage_testing.h"

#include "chan_testing.h"
#include "clock.h"
#include "interpose.h"

#include <stdatomic.h>
#include <string.h>

static struct work *work_of(void *ctx)
{
	return ctx;
}

/* Adds 1000 to an item, or consumes it (returns NULL) if drop_even and it is even. */
void *step_add_1000(void *ctx, void *item)
{
	struct work *w = work_of(ctx);
	atomic_fetch_add(&w->stepped, 1);
	if (w->drop_even && MSG_VALUE(item) % 2 == 0)
		return NULL;
	return MSG(MSG_VALUE(item) + 1000);
}

/* The last stage's kind of step: takes every item. */
void *step_take(void *ctx, void *item)
{
	(void)item;
	atomic_fetch_add(&work_of(ctx)->stepped, 1);
	return NULL;
}

static struct work *discard_counter;

void discard_count(void *item)
{
	(void)item;
	atomic_fetch_add(&discard_counter->discarded, 1);
}

/* A runner over two new channels (out NULL if out_cap is (size_t)-1). */
void runner_init(struct stage_runner *r, struct work *w, size_t in_cap, size_t out_cap, size_t batch,
			size_t workers)
{
	*w = (struct work){0};
	discard_counter = w;
	*r = (struct stage_runner){.in = chan_new_or_fail(in_cap),
				   .out = out_cap == (size_t)-1 ? NULL : chan_new_or_fail(out_cap),
				   .step = step_add_1000,
				   .ctx = w,
				   .discard = discard_count,
				   .sent = &w->sent,
				   .discarded = &w->counted_discarded,
				   .batch = batch,
				   .workers = workers};
}

void runner_start(struct stage_runner *r)
{
	int rc = stage_start(r);
	if (rc != 0)
		fail_msg("stage_start returned %d (%s)", rc, strerror(rc));
}

void runner_free(struct stage_runner *r)
{
	chan_free(r->in);
	if (r->out != NULL)
		chan_free(r->out);
}

void *feed(void *arg)
{
	struct feeder *f = arg;
	for (long i = 1; i <= f->n && chan_send(f->in, MSG(i)) == CHAN_OK; i++)
		f->sent = i;
	/* Before the close: workers can only finish after it, so "every
	 * worker gone and finished still 0" means they left too early. */
	atomic_store(&f->finished, 1);
	chan_close(f->in);
	return NULL;
}

/* Receives from out until it is closed; seen[v - 1000] counts each value
 * (NULL: only count); returns how many. */
long drain_out(struct stage_runner *r, atomic_int *seen, long n, const char *why)
{
	void *msg;
	long count = 0;
	harness_on_hang(why);
	while (chan_recv(r->out, &msg) == CHAN_OK) {
		long v = (long)MSG_VALUE(msg) - 1000;
		if (v < 1 || v > n)
			fail_msg("out carried %lu, which no step made (steps add 1000 to 1..%ld)",
				 (unsigned long)MSG_VALUE(msg), n);
		if (seen != NULL)
			atomic_fetch_add(&seen[v], 1);
		count++;
	}
	return count;
}

/* A worker of r blocked in ch (sending or receiving), or every worker
 * gone: a stub returns at once, so there is no point waiting for it. */
struct worker_parking {
	struct stage_runner *r;
	struct chan *ch;
	int senders; /* 1: wait for send_waiting, 0: recv_waiting */
	int n;	     /* how many workers */
};

/* Read from the threads themselves, not from r->running: running is 0
 * also before workers that count themselves in as they start have
 * begun, and "every worker returned" must be true when a message says it. */
int workers_gone(struct stage_runner *r)
{
	for (size_t i = 0; i < r->started; i++)
		if (!harness_thread_returned(r->threads[i]))
			return 0;
	return 1;
}

static int worker_parked_or_gone(void *arg)
{
	struct worker_parking *k = arg;
	if (workers_gone(k->r))
		return 1;
	pthread_mutex_lock(&k->ch->mu);
	int waiting = k->senders ? k->ch->send_waiting : k->ch->recv_waiting;
	pthread_mutex_unlock(&k->ch->mu);
	return waiting >= k->n;
}

void expect_worker_parked(struct stage_runner *r, struct chan *ch, int senders, const char *why)
{
	expect_workers_parked(r, ch, senders, 1, why);
}

void expect_workers_parked(struct stage_runner *r, struct chan *ch, int senders, int n, const char *why)
{
	struct worker_parking k = {r, ch, senders, n};
	int parked = harness_wait_until(worker_parked_or_gone, &k);
	if (workers_gone(r))
		fail_msg("%s, but every worker returned instead", why);
	if (!parked)
		fail_msg("%s, but within %ld ms it neither blocked nor returned", why, harness_wait_ms());
}

struct feeding {
	struct feeder *feeder;
	struct stage_runner *r;
};

static int fed_or_workers_gone(void *arg)
{
	struct feeding *f = arg;
	return atomic_load(&f->feeder->finished) || workers_gone(f->r);
}

/* Waits for the feeder to have sent everything; fails at once if every
 * worker has returned while it is still sending (nobody will ever take
 * the rest), and after `ms` if it is merely stuck. */
void join_feeder(struct harness_thread *ft, struct feeder *fd, struct stage_runner *r, long ms)
{
	struct feeding f = {fd, r};
	struct timespec deadline = deadline_after_ms(ms);
	while (!fed_or_workers_gone(&f) && !deadline_passed(&deadline))
		harness_wait_until(fed_or_workers_gone, &f);
	if (!atomic_load(&fd->finished) && workers_gone(r))
		fail_msg("every worker returned while items were still being sent to in: stage_worker must "
			 "receive until chan_recv_many says CHAN_CLOSED");
	if (!atomic_load(&fd->finished))
		fail_msg("the feeder stayed blocked on in for %ld ms: are the workers receiving?", ms);
	if (!harness_thread_join_within(ft, harness_wait_ms()))
		fail_msg("the feeder did not return after its last send: chan_close(in) blocked?");
}

void join_runner(struct stage_runner *r)
{
	harness_on_hang("stage_join waited for a worker that never finished: each worker must return once "
			"chan_recv_many says CHAN_CLOSED");
	stage_join(r);
}

/* A run over the sample log, from its start to its end, no server. */
struct pipeline_config sample_config(size_t capacity)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = "tests/data/sample.log";
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1;
	cfg.serve = 0;
	cfg.capacity = capacity;
	return cfg;
}

/* 1 once the tailer has closed lines: the log is read to its end. */
static int lines_closed(struct pipeline *p)
{
	pthread_mutex_lock(&p->lines->mu);
	int closed = p->lines->closed;
	pthread_mutex_unlock(&p->lines->mu);
	return closed;
}

/* 1 once the log is read to its end, or once every stage runner (when the
 * stages run in runners) has ended although lines is still open: then
 * nobody will ever drain it, and waiting for the pipeline would wait
 * forever. */
static int read_or_runners_gone(void *arg)
{
	struct pipeline *p = arg;
	if (lines_closed(p))
		return 1;
	if (!pipeline_config_batched(&p->cfg))
		return 0;
	for (int i = 1; i < 4; i++) /* runners[1..3]: parser, filter, metrics stage */
		if (!workers_gone(&p->runners[i]))
			return 0;
	return 1;
}

void start_or_fail(struct pipeline *p, const struct pipeline_config *cfg, const char *what)
{
	char err[256] = "";
	if (pipeline_start(p, cfg, err, sizeof(err)) != 0)
		fail_msg("pipeline_start (%s) returned -1: %s", what, err);
}

/* Starts p with cfg and waits until it has read the log to its end and
 * drained; `what` names the run in a failure. */
void run_to_end(struct pipeline *p, const struct pipeline_config *cfg, const char *what)
{
	start_or_fail(p, cfg, what);
	harness_on_hang("the pipeline did not finish the sample log: with stage runners, does each one "
			"close its out once its last worker is done?");
	while (!harness_wait_until(read_or_runners_gone, p))
		; /* a slow stage may take longer than one wait: the test's deadline bounds it */
	if (!lines_closed(p)) {
		pipeline_cancel(p);
		fail_msg("every stage runner ended before the log was read (%s): stage_worker must receive "
			 "until chan_recv_many says CHAN_CLOSED",
			 what);
	}
	pipeline_wait(p);
}

/* Runs the pipeline over the sample log to its end and returns its count
 * lines, sorted and joined (the caller frees them). */
