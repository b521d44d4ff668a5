/*
 * stage_testing.h - the stage runner's test fixtures (lessons 12 and 13).
 * Items are numbers in the pointer (MSG, chan_testing.h).
 */
#ifndef STAGE_TESTING_H
#define STAGE_TESTING_H

#include "harness.h"
#include "pipeline.h"
#include "stage.h"

#include <stdatomic.h>

/* What the test steps do and count. Items are numbers in the pointer. */
struct work {
	atomic_ulong stepped;		 /* items the step was given */
	atomic_ulong discarded;		 /* items out refused */
	atomic_ullong counted_discarded; /* what the runner counted in r->discarded */
	atomic_ullong sent;		 /* the runner's count of items out took */
	int drop_even;			 /* 1: the step consumes even numbers */
};

/* A thread that sends MSG(1)..MSG(n) into in, then closes it. */
struct feeder {
	struct chan *in;
	long n;
	long sent;
	atomic_int finished; /* 1 once its sends are over, before it closes in */
};

/* Adds 1000 to an item, or consumes it (returns NULL) if drop_even and it is even. */
void *step_add_1000(void *ctx, void *item);

/* The last stage's kind of step: takes every item. */
void *step_take(void *ctx, void *item);

/* The runner's discard: counts the item in the struct work of the last
 * runner_init. */
void discard_count(void *item);

/* A runner over two new channels (out NULL if out_cap is (size_t)-1). */
void runner_init(struct stage_runner *r, struct work *w, size_t in_cap, size_t out_cap, size_t batch,
		 size_t workers);

/* stage_start, failing the test if it does not return 0. */
void runner_start(struct stage_runner *r);

/* Frees the runner's channels. */
void runner_free(struct stage_runner *r);

/* The feeder's thread function: arg is the struct feeder *. */
void *feed(void *arg);

/* Receives from out until it is closed; seen[v - 1000] counts each value
 * (NULL: only count); returns how many. */
long drain_out(struct stage_runner *r, atomic_int *seen, long n, const char *why);

/* 1 once every worker r started has returned from stage_worker. */
int workers_gone(struct stage_runner *r);

/* Fails with `why` unless a worker of r blocks in ch; at once if every
 * worker returns instead. */
void expect_worker_parked(struct stage_runner *r, struct chan *ch, int senders, const char *why);
/* The same for n workers of r at once. */
void expect_workers_parked(struct stage_runner *r, struct chan *ch, int senders, int n, const char *why);

/* Waits for the feeder to have sent everything; fails at once if every
 * worker has returned while it is still sending (nobody will ever take
 * the rest), and after `ms` if it is merely stuck. */
void join_feeder(struct harness_thread *ft, struct feeder *fd, struct stage_runner *r, long ms);

/* stage_join, named as the likely mistake if it hangs. */
void join_runner(struct stage_runner *r);

/* A run over the sample log, from its start to its end, no server. */
struct pipeline_config sample_config(size_t capacity);

/* pipeline_start, failing the test with its message if it fails. */
void start_or_fail(struct pipeline *p, const struct pipeline_config *cfg, const char *what);

/* Starts p with cfg and waits until it has read the log to its end and
 * drained; `what` names the run in a failure. */
void run_to_end(struct pipeline *p, const struct pipeline_config *cfg, const char *what);

#endif
