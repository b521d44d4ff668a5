/*
 * 14-lockfree - the lesson 14 program: producer threads send the numbers
 * 1..M through one lock-free channel (src/lfchan.h) to consumer threads,
 * which check that every number arrived exactly once and in order, and
 * measure how fast; then, with --idle-ms, how much CPU a receiver uses
 * while it waits on an empty channel.
 *
 *   14-lockfree [--capacity N] [--producers P] [--consumers C] [--messages M]
 *               [--idle-ms MS]
 *
 * The threads, the checks and the stall watch are src/lib/traffic.c, as
 * for 01-channel; the idle measurement is measure_idle below.
 *
 * smoke: --capacity 1 --producers 4 --consumers 4 --messages 20000
 * smoke: --capacity 2 --producers 8 --consumers 8 --messages 100000
 * smoke: --capacity 64 --producers 1 --consumers 1 --messages 200000 --idle-ms 300
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "args.h"
#include "clock.h"
#include "lfchan.h"
#include "spin.h"
#include "traffic.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The receiver that waits on an empty channel, and what it used. */
struct idle {
	struct lfchan *ch;
	enum chan_status rc;
	double cpu_s; /* user + system CPU time of this thread while it waited */
};

static double thread_cpu_seconds(void)
{
	struct rusage u;
	getrusage(RUSAGE_THREAD, &u);
	return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       (double)u.ru_stime.tv_usec / 1e6;
}

static void *idle_receiver(void *arg)
{
	struct idle *idle = arg;
	void *msg = NULL;
	double before = thread_cpu_seconds();
	idle->rc = lfchan_recv(idle->ch, &msg);
	idle->cpu_s = thread_cpu_seconds() - before;
	return NULL;
}

/* The pauses of the whole spin budget (lfchan.h). */
static unsigned long budget_pauses(void)
{
	unsigned long pauses = 0;
	for (unsigned r = 0; r < LFCHAN_SPIN_ROUNDS; r++)
		pauses += lfchan_round_pauses(r);
	return pauses;
}

/* What one pause takes on this machine, in nanoseconds (a million timed). */
static double pause_ns(void)
{
	struct timespec start = clock_now();
	for (int i = 0; i < 1000000; i++)
		cpu_relax();
	return clock_seconds_since(&start) * 1e9 / 1000000.0;
}

/*
 * A receiver blocks on an empty channel for ms milliseconds (this thread
 * sleeps meanwhile, then closes the channel to wake it); it reports the CPU
 * time it used. Spinning would use a whole core; sleeping on the futex, a
 * few microseconds to get there and back. Returns 0 if it stayed under 1 %.
 */
static int measure_idle(long ms)
{
	struct idle idle = {.ch = lfchan_new(1)};
	pthread_t tid;
	if (idle.ch == NULL || pthread_create(&tid, NULL, idle_receiver, &idle) != 0) {
		fprintf(stderr, "14-lockfree: cannot set up the idle measurement\n");
		return 1;
	}
	clock_sleep((double)ms / 1000);
	enum chan_status closed = lfchan_close(idle.ch);
	pthread_join(tid, NULL);
	lfchan_free(idle.ch);
	double share = 100.0 * idle.cpu_s / ((double)ms / 1000.0);
	int ok = closed == CHAN_OK && idle.rc == CHAN_CLOSED && share < 1.0;
	printf("idle: %s, a receiver blocked %ld ms on an empty channel used %.3f ms of CPU (%.2f%% of a "
	       "core; under 1%% expected), then close woke it with %s\n",
	       ok ? "ok" : "FAILED", ms, idle.cpu_s * 1000.0, share, chan_status_str(idle.rc));
	double ns = pause_ns();
	printf("idle: a pause takes %.0f ns here, so the spin budget, %lu pauses, lasts %.1f µs "
	       "(where this process may use two CPUs or more)\n",
	       ns, budget_pauses(), ns * (double)budget_pauses() / 1000.0);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned long long idle_ms = 0;
	const struct arg_option idle =
	    ARG_WHOLE_OPT("idle-ms", 0, &idle_ms, "MS",
			  "then block a receiver MS ms on an empty channel and say how\nmuch CPU it used "
			  "(under 1 % of a core expected)",
			  1, 60000);
	struct traffic t = {.prog = "14-lockfree",
			    .hint = "make test LESSON=14",
			    .capacity = 64,
			    .producers = 2,
			    .consumers = 2,
			    .messages = 1000000,
			    .batch = 1,
			    .lockfree = 1,
			    .extra = &idle};
	int rc =
	    traffic_begin(argc, argv, &t,
			  "  Producer threads send the numbers 1..M through one lock-free channel; consumer\n"
			  "  threads receive them until it is closed; the program checks that every number\n"
			  "  arrived exactly once and in order, and says how fast it went.\n");
	if (rc >= 0)
		return rc;
	rc = traffic_main(&t, NULL);
	if (idle_ms > 0 && measure_idle((long)idle_ms) != 0)
		rc = 1;
	return rc;
}
