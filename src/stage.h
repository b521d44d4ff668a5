/*
 * stage.h - lessons 12 and 13: one loop for every stage after the tailer,
 * moving batches, on one thread or several (lesson 12), watching the time
 * it waits and stopping when cancelled (lesson 13).
 *
 * Lessons 04 to 06 wrote each stage as a step (parser_step, filter_step,
 * metrics_stage_step: the work on one item) and a loop around it (receive,
 * step, send). A stage runner is that loop, written once for all of them:
 *
 *   - in batches: each worker receives up to `batch` items with one
 *     chan_recv_many, steps each, and sends what the steps returned with
 *     one chan_send_many (lesson 11's batch operations);
 *   - on `workers` threads at once (fan-out): they all receive from the
 *     same `in`, which hands each item to exactly one of them, and all send
 *     to the same `out` (fan-in). Items from different workers interleave
 *     in `out`: order is kept within a worker's batch, not across workers,
 *     which a counting pipeline does not mind.
 *
 * Who closes `out`: not the first worker to see `in` closed, since the
 * others may still be sending, but the last one to finish (Go's
 * WaitGroup-then-close idiom, with a counter in the runner).
 *
 * Ownership is the stages' rule: a step owns the item it is given, and
 * returns either an item for `out` or NULL (it freed or kept the item).
 * An item that `out` refuses (it was closed under the stage: nobody is
 * downstream) is handed to `discard` and counted in `discarded`, and the
 * worker keeps draining `in`,
 * so the stage before it never blocks forever.
 */
#ifndef STAGE_H
#define STAGE_H

#include "channel.h"

#include <pthread.h>
#include <stdatomic.h>

#define STAGE_MAX_BATCH	  1024
#define STAGE_MAX_WORKERS 64

/* The work on one item: returns the item to send on, or NULL. Called by
 * several workers at once when workers > 1, so it must be thread-safe (the
 * stages' steps are: their counters are atomic, the registry locks). */
typedef void *(*stage_step_fn)(void *ctx, void *item);

/* snippet: runner */
struct stage_runner {
	/* Set by the caller before stage_start (in and step required): */
	struct chan *in;  /* where items come from */
	struct chan *out; /* where results go; NULL for the last stage,
			     whose step returns NULL for every item */
	stage_step_fn step;
	void *ctx;		     /* the step's first argument, shared by all workers;
					the runner never reads it, so any value (NULL too) */
	void (*discard)(void *item); /* frees an item out refused; required with an
					out, unused (may be NULL) without one */
	atomic_ullong *sent;	     /* counts the items out took; may be NULL */
	atomic_ullong *discarded;    /* counts the items out refused; may be NULL */
	struct chan *cancel;	     /* may be NULL; once it is closed, every worker stops
					before its next batch (lesson 13) */
	size_t batch;		     /* items per channel operation, 1 to STAGE_MAX_BATCH */
	size_t workers;		     /* threads, 1 to STAGE_MAX_WORKERS */
	const char *name;	     /* the stage's name in its metrics (lesson 13); may be NULL */
	void (*end_batch)(void *ctx); /* may be NULL; called by a worker once it has stepped
					 every item of a batch, before it sends their results
					 (a step that keeps what it learns finishes here) */
	/* The runner's own: */
	atomic_size_t running; /* workers that have not finished: the last one closes out */
	atomic_ullong recv_ns; /* time all workers spent in chan_recv_many, in nanoseconds (lesson 13) */
	atomic_ullong send_ns; /* time all workers spent in chan_send_many, in nanoseconds (lesson 13) */
	size_t started;	       /* threads started, for stage_join */
	pthread_t threads[STAGE_MAX_WORKERS];
};

/* Starts r->workers threads running stage_worker(r). Returns 0; EINVAL,
 * starting nothing, if a field above breaks its rule (a required one
 * NULL, batch or workers out of range); or, if a thread cannot be
 * started, the error number pthread_create returned (it does not set
 * errno). Then the workers that did start run on and are joined by
 * stage_join as usual, and out is still closed once the last of them
 * has finished (or at once, if none started): the stages downstream
 * never wait for a worker that does not exist. */
int stage_start(struct stage_runner *r);

/* Waits for every started worker to finish. */
void stage_join(struct stage_runner *r);

/* One worker: receives batches with stage_recv until it says CHAN_CLOSED
 * (in is closed and drained, or the runner is cancelled); steps each
 * item; calls end_batch (if set) once a batch, after its steps; sends
 * each batch's results with stage_send, one call a batch;
 * counts what out took in *sent and hands what it refused to discard,
 * counted in *discarded; the last worker to finish closes `out`. A
 * thread function: arg is the struct stage_runner *. Returns NULL.
 * (Lesson 12.) */
void *stage_worker(void *arg);
/* end snippet */

/* snippet: watched */
/* Lesson 13: the worker's two channel operations, watched.
 *
 * stage_recv gives the worker its next batch from r->in (up to r->batch
 * items, how many in *got) and returns what the receive returned: CHAN_OK
 * with *got >= 1, or CHAN_CLOSED with *got = 0 once in is closed and
 * drained; never another status for a runner that stage_start accepted
 * (chan_recv_many's only other one, CHAN_EINVAL, needs a runner it
 * refuses). Once r->cancel (if any) is closed it returns CHAN_CLOSED at
 * once, receiving nothing, even while in still holds items.
 *
 * stage_send sends results[0..n-1] on r->out and returns how many out
 * took: all n, or fewer only if out was closed during the call (those
 * are the caller's to discard). A closed cancel changes nothing here: the
 * batch in hand still goes to an open out.
 *
 * r->recv_ns and r->send_ns hold, in nanoseconds of the monotonic clock
 * (clock.h), all the time the workers spent in these channel operations,
 * waiting included. Several workers call them at once on one runner. */
enum chan_status stage_recv(struct stage_runner *r, void *items[], size_t *got);
size_t stage_send(struct stage_runner *r, void *const results[], size_t n);
/* end snippet */

/* snippet: export */
struct metric_family;

/* Lesson 13: a runner's waits as a scrape sees them. blocked is a counter
 * family with the labels stage and op (logpipe_stage_blocked_seconds_total):
 * one series for each of the runner's waits, stage r->name and op "recv"
 * or "send", in seconds, the unit Prometheus uses for every time. A
 * runner without out (the last stage) never sends: no op="send" series.
 * Called at every scrape while the workers add to the totals. */
void stage_export(const struct stage_runner *r, struct metric_family *blocked);
/* end snippet */

#endif
