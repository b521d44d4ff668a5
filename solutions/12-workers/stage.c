/*
 * stage.c - lesson 12: the stage runner, batches and workers for every
 * stage after the tailer. The contract is in src/stage.h.
 */
#include "stage.h"
#include "notimpl.h"

#include <errno.h>

/* A worker is done: the last one out closes the door. */
static void worker_finished(struct stage_runner *r)
{
	/* BEGIN SOLUTION */
	/* Every worker has sent its last item before it counts itself out, so
	 * once running is 0 nothing more will ever be sent on out. The count
	 * and the test are one atomic step: atomic_fetch_sub returns the value
	 * before the subtraction, and exactly one worker sees 1. */
	if (atomic_fetch_sub(&r->running, 1) == 1 && r->out != NULL)
		chan_close(r->out);
	/* END SOLUTION */
	/* STUB
	(void)r;
	NOT_IMPLEMENTED("worker_finished", "lessons/12-workers/README.md#who-closes-out");
	*/
}

/* 1 if the runner can run as the caller set it up. */
static int runner_valid(const struct stage_runner *r)
{
	/* BEGIN SOLUTION */
	/* A worker's arrays hold STAGE_MAX_BATCH items, and threads[] holds
	 * STAGE_MAX_WORKERS: beyond either, the runner would write past them.
	 * Without discard, what out refuses could only leak. */
	if (r->in == NULL || r->step == NULL || (r->out != NULL && r->discard == NULL))
		return 0;
	if (r->batch < 1 || r->batch > STAGE_MAX_BATCH)
		return 0;
	return r->workers >= 1 && r->workers <= STAGE_MAX_WORKERS;
	/* END SOLUTION */
	/* STUB
	(void)r;
	NOT_IMPLEMENTED("runner_valid", "lessons/12-workers/README.md#5-build-it-the-runner");
	return 1;
	*/
}

int stage_start(struct stage_runner *r)
{
	if (!runner_valid(r))
		return EINVAL;
	atomic_init(&r->recv_ns, 0);
	atomic_init(&r->send_ns, 0);
	/* BEGIN SOLUTION */
	/* Counted before any worker starts: a worker that counted itself in
	 * when it started could finish, find the count at 0 and close out
	 * before the next one had even begun. */
	atomic_init(&r->running, r->workers);
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
	/* END SOLUTION */
	/* STUB
	r->started = 0;
	NOT_IMPLEMENTED("stage_start", "lessons/12-workers/README.md#who-closes-out");
	return ENOSYS;
	*/
}

void stage_join(struct stage_runner *r)
{
	/* BEGIN SOLUTION */
	/* Only the threads that started: the others' pthread_t was never set. */
	for (size_t i = 0; i < r->started; i++)
		pthread_join(r->threads[i], NULL);
	r->started = 0;
	/* END SOLUTION */
	/* STUB
	r->started = 0;
	NOT_IMPLEMENTED("stage_join", "lessons/12-workers/README.md#who-closes-out");
	*/
}

/* BEGIN SOLUTION */
/* Sends results[0..n-1] on out in one batch (stage_send); what out
 * refuses is counted and discarded: nobody downstream will ever take it,
 * and the worker must keep draining in. */
static void send_on(struct stage_runner *r, void *results[], size_t n)
{
	size_t sent = stage_send(r, results, n);
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
	/* CHAN_CLOSED only once in is closed and drained (or the runner is
	 * cancelled): the workers share the drain, and every item is stepped
	 * by exactly one of them. */
	while (stage_recv(r, items, &got) == CHAN_OK) {
		size_t n = 0;
		for (size_t i = 0; i < got; i++) {
			void *result = r->step(r->ctx, items[i]);
			if (result != NULL)
				results[n++] = result;
		}
		/* Once a batch, not once an item: that is all it is for. */
		if (r->end_batch != NULL)
			r->end_batch(r->ctx);
		if (n > 0)
			send_on(r, results, n);
	}
	/* END SOLUTION */
	/* STUB
	NOT_IMPLEMENTED("stage_worker", "lessons/12-workers/README.md#5-build-it-the-runner");
	*/
	worker_finished(r);
	return NULL;
}
