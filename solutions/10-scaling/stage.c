/*
 * stage.c - lesson 10: the stage runner, batches and workers for every
 * stage after the tailer. The contract is in src/stage.h.
 */
#include "stage.h"
#include "batch.h"
#include "clock.h"
#include "notimpl.h"

#include <errno.h>

/* A worker is done: the last one out closes the door. Every worker has
 * sent its last item before it counts itself out, so once running is 0
 * nothing more will ever be sent on out. */
static void worker_finished(struct stage_runner *r)
{
	if (atomic_fetch_sub(&r->running, 1) == 1 && r->out != NULL)
		chan_close(r->out);
}

int stage_start(struct stage_runner *r)
{
	if (r->in == NULL || r->step == NULL || r->batch < 1 || r->batch > STAGE_MAX_BATCH ||
	    r->workers < 1 || r->workers > STAGE_MAX_WORKERS || (r->out != NULL && r->discard == NULL))
		return EINVAL;
	atomic_init(&r->running, r->workers);
	atomic_init(&r->recv_ns, 0);
	atomic_init(&r->send_ns, 0);
	r->started = 0;
	for (size_t i = 0; i < r->workers; i++) {
		int rc = pthread_create(&r->threads[i], NULL, stage_worker, r);
		if (rc != 0) {
			/* The workers that never start never finish: count them
			 * out now, so that the last real one still closes out. */
			for (size_t j = i; j < r->workers; j++)
				worker_finished(r);
			return rc;
		}
		r->started++;
	}
	return 0;
}

void stage_join(struct stage_runner *r)
{
	for (size_t i = 0; i < r->started; i++)
		pthread_join(r->threads[i], NULL);
	r->started = 0;
}

/* BEGIN SOLUTION */
/* Adds the time since start to *total, in nanoseconds. */
static void add_time_since(atomic_ullong *total, const struct timespec *start)
{
	atomic_fetch_add(total, (unsigned long long)(clock_seconds_since(start) * 1e9));
}

/* 1 once the runner's cancel channel is closed (it never carries a
 * message: closing it is the only thing anyone does to it). */
static int cancelled(struct stage_runner *r)
{
	void *msg;
	return r->cancel != NULL && chan_try_recv(r->cancel, &msg) == CHAN_CLOSED;
}

/* Sends results[0..n-1] on out in one batch; what out refuses is
 * discarded. */
static void send_on(struct stage_runner *r, void *results[], size_t n)
{
	size_t sent = 0;
	struct timespec start = clock_now();
	chan_send_many(r->out, results, n, &sent);
	add_time_since(&r->send_ns, &start);
	if (r->sent != NULL)
		atomic_fetch_add(r->sent, sent);
	if (r->discarded != NULL)
		atomic_fetch_add(r->discarded, n - sent);
	for (size_t i = sent; i < n; i++)
		r->discard(results[i]);
}
/* END SOLUTION */

void *stage_worker(void *arg)
{
	struct stage_runner *r = arg;
	/* BEGIN SOLUTION */
	void *items[STAGE_MAX_BATCH], *results[STAGE_MAX_BATCH];
	size_t got = 0;
	/* CHAN_CLOSED only once in is closed and drained: the workers share
	 * the drain, and every item is stepped by exactly one of them. The
	 * time a receive takes is time waiting for the stage before. */
	while (!cancelled(r)) {
		struct timespec start = clock_now();
		enum chan_status rc = chan_recv_many(r->in, items, r->batch, &got);
		add_time_since(&r->recv_ns, &start);
		if (rc != CHAN_OK)
			break;
		size_t n = 0;
		for (size_t i = 0; i < got; i++) {
			void *result = r->step(r->ctx, items[i]);
			if (result != NULL)
				results[n++] = result;
		}
		if (n > 0)
			send_on(r, results, n);
	}
	/* END SOLUTION */
	/* STUB
	NOT_IMPLEMENTED("stage_worker", "lessons/10-scaling/README.md#build-it-the-worker");
	*/
	worker_finished(r);
	return NULL;
}
