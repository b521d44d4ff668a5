/*
 * 12-workers - the lesson 12 program: fan-out and fan-in with your stage
 * runner. A feeder thread sends the numbers 1..N into one channel; one
 * stage runner, whose step works a few microseconds on each item, moves
 * them to a second channel, which main drains, counting what comes out
 * (that each number comes out exactly once, lesson 12's tests check).
 * The same items go through with 1 worker, then 2,
 * 4... up to W, in alternating rounds (other work on the machine moves
 * each figure): for each count, the median items a second, the speed-up
 * over one worker, and how many items each worker stepped (fan-out: the
 * channel hands each item to whichever worker asks first).
 *
 *   12-workers [--items N] [--work US] [--batch B] [--workers W] [--capacity C]
 *
 * smoke: --items 20000 --work 2 --workers 2
 * smoke: --items 1000 --work 0 --batch 1 --workers 4 --capacity 1
 */
#include "args.h"
#include "batch.h"
#include "clock.h"
#include "stage.h"
#include "stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PROG	 "12-workers"
#define HINT	 "make test LESSON=12"
#define STALL_MS 5000 /* nothing out of the runner for this long: it is stuck */
#define ROUNDS	 3

struct options {
	unsigned long long items, work_us, batch, workers, capacity;
};

/* -1: go on; otherwise the status to exit with. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){100000, 5, 16, 4, 1024};
	const struct arg_option options[] = {
	    ARG_WHOLE_OPT("items", 'n', &o->items, "N", "send the numbers 1..N (default 100000)", 1,
			  100000000),
	    ARG_WHOLE_OPT("work", 'u', &o->work_us, "US", "microseconds of work per item (default 5)", 0,
			  1000000),
	    ARG_WHOLE_OPT("batch", 'b', &o->batch, "B", "items per channel operation (default 16)", 1,
			  STAGE_MAX_BATCH),
	    ARG_WHOLE_OPT("workers", 'w', &o->workers, "W", "1, 2, 4... up to W workers (default 4)", 1,
			  STAGE_MAX_WORKERS),
	    ARG_WHOLE_OPT("capacity", 'c', &o->capacity, "C", "capacity of each channel (default 1024)", 1,
			  1048576),
	    ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Sends numbered items through one stage runner with 1, 2, 4... workers, and\n"
	    "  prints items a second and the items each worker stepped.\n",
	    options};
	return args_parse(&prog, argc, argv);
}

/* ---- the step: some work, and who did it ------------------------------------- */

/* What the step counts: items stepped by each worker, each worker taking
 * a slot the first time it steps. */
struct tally {
	unsigned long long work_us;
	atomic_int slots;
	atomic_ullong stepped[STAGE_MAX_WORKERS];
	double cores; /* the run's processor time over its wall time */
};

/* The processor time this process has used, all threads together. */
static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* This thread's slot in the tally, plus 1 (0: none yet). Each run's
 * workers are new threads, so each starts without one. */
static _Thread_local int my_slot;

/* Works work_us microseconds on the clock (a busy loop, like parsing, not
 * a sleep), counts the item for this worker, and passes it on. */
static void *step_work(void *ctx, void *item)
{
	struct tally *t = ctx;
	struct timespec start = clock_now();
	while (clock_seconds_since(&start) * 1e6 < (double)t->work_us)
		;
	if (my_slot == 0)
		my_slot = atomic_fetch_add(&t->slots, 1) + 1;
	atomic_fetch_add(&t->stepped[my_slot - 1], 1);
	return item;
}

/* Never called: out is drained to the end, and nobody closes it early. */
static void discard_nothing(void *item)
{
	(void)item;
}

/* ---- one run ----------------------------------------------------------------- */

struct feeder {
	struct chan *in;
	unsigned long long n, batch;
};

/* Sends 1..n into in, batch at a time, then closes it. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	void *msgs[STAGE_MAX_BATCH];
	for (unsigned long long next = 1; next <= f->n;) {
		size_t k = 0, sent = 0;
		while (k < f->batch && next <= f->n)
			msgs[k++] = (void *)(uintptr_t)next++;
		if (chan_send_many(f->in, msgs, k, &sent) != CHAN_OK)
			break; /* in was closed under us: the run failed */
	}
	chan_close(f->in);
	return NULL;
}

/* Drains out. Returns how many items came out, or -1 after STALL_MS
 * without one (the runner is stuck). That each comes out exactly once is
 * for lesson 12's tests. */
static long long drain(struct chan *out)
{
	long long got = 0;
	void *msg;
	enum chan_status rc;
	while ((rc = chan_recv_timed(out, &msg, STALL_MS)) == CHAN_OK)
		got++;
	return rc == CHAN_CLOSED ? got : -1;
}

/* One run with `workers` workers. Returns the seconds it took, or -1 if a
 * check failed (said on stdout). */
static double run(const struct options *o, size_t workers, struct tally *t)
{
	*t = (struct tally){.work_us = o->work_us};
	struct stage_runner r = {.in = chan_new(o->capacity),
				 .out = chan_new(o->capacity),
				 .step = step_work,
				 .ctx = t,
				 .discard = discard_nothing,
				 .batch = o->batch,
				 .workers = workers};
	struct feeder f = {r.in, o->items, o->batch};
	pthread_t feeder;
	if (r.in == NULL || r.out == NULL || pthread_create(&feeder, NULL, feed, &f) != 0) {
		printf("result: FAILED, out of memory or threads\n");
		exit(1);
	}
	struct timespec t0 = clock_now();
	double cpu0 = cpu_seconds();
	int rc = stage_start(&r);
	long long got = rc == 0 ? drain(r.out) : 0;
	double secs = clock_seconds_since(&t0);
	t->cores = secs > 0 ? (cpu_seconds() - cpu0) / secs : 0;
	if (got < 0) {
		printf("result: FAILED, nothing came out of the runner for %d s with %zu worker(s): is out "
		       "closed when the last worker finishes? (%s)\n",
		       STALL_MS / 1000, workers, HINT);
		exit(1); /* the threads are stuck: leaving is the only way out */
	}
	chan_close(r.in); /* a runner that stopped early leaves the feeder blocked */
	pthread_join(feeder, NULL);
	stage_join(&r);
	chan_free(r.in);
	chan_free(r.out);
	if (rc != 0 || got != (long long)o->items) {
		printf("result: FAILED, with %zu worker(s): stage_start said %d, %lld of %llu items came out "
		       "(%s)\n",
		       workers, rc, got, o->items, HINT);
		return -1;
	}
	return secs;
}

/* 1, 2, 4... and max last, whatever it is. */
static size_t next_workers(size_t w, size_t max)
{
	return w < max && w * 2 > max ? max : w * 2;
}

/* The worker counts to run, 1, 2, 4... up to max; returns how many. */
static int worker_counts(size_t max, size_t counts[])
{
	int n = 0;
	for (size_t w = 1; w <= max; w = next_workers(w, max))
		counts[n++] = w;
	return n;
}

/* One line of the table: the median rate of w workers, against one
 * worker's; the processor time the last round used per second (how many
 * cores the machine gave it, feeder and drain included) and what each
 * worker stepped in it. */
static void print_row(size_t w, double rate, double one, const struct tally *t)
{
	printf("  %7zu   %10.0f   %10.2fx   %10.2f  ", w, rate, one > 0 ? rate / one : 0, t->cores);
	for (int s = 0; s < atomic_load(&t->slots); s++)
		printf(" %llu", atomic_load(&t->stepped[s]));
	printf("\n");
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf(PROG ": %llu items, %llu us of work each, batches of %llu, channels of %llu, %ld cores; "
		    "median of %d rounds\n",
	       o.items, o.work_us, o.batch, o.capacity, sysconf(_SC_NPROCESSORS_ONLN), ROUNDS);
	printf("  workers      items/s   vs 1 worker   cores used   items stepped by each worker (last "
	       "round)\n");
	size_t counts[STAGE_MAX_WORKERS];
	int n = worker_counts(o.workers, counts);
	static double rates[STAGE_MAX_WORKERS][ROUNDS];
	static struct tally t[STAGE_MAX_WORKERS];
	/* Rounds alternate the worker counts, so that what else the machine
	 * does weighs on all of them alike. */
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < n; i++) {
			double secs = run(&o, counts[i], &t[i]);
			if (secs < 0)
				return 1;
			rates[i][r] = secs > 0 ? (double)o.items / secs : 0;
		}
	double one = stats_median(rates[0], ROUNDS), rate = one;
	for (int i = 0; i < n; i++) {
		rate = stats_median(rates[i], ROUNDS);
		print_row(counts[i], rate, one, &t[i]);
	}
	printf("result: ok, every item out in every run; %zu workers: %.2fx the items a "
	       "second of one, items_per_s=%.0f\n",
	       counts[n - 1], one > 0 ? rate / one : 0, rate);
	return 0;
}
