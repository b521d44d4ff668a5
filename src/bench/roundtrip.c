/*
 * roundtrip - the ceiling of a capacity-1 channel between two threads:
 * how many times a second one cache line goes from one thread to the
 * other and back. The last line says it, as round_trips_per_s=<number>.
 *
 *   roundtrip [--count N]
 *
 * Two threads share one counter on a line of its own. Each waits, with a
 * pause between looks, until the counter holds the number it expects,
 * then stores the next: the first thread the odd numbers, the second the
 * even. Nothing else is written, nothing is locked, nobody sleeps, so a
 * round is the hardware's own cost of making one core's store visible to
 * another core, twice.
 *
 * Why it bounds a channel of capacity 1 (docs/benchmarks.md): message
 * k + 1 can go in only once the receiver has taken message k, and it can
 * be taken only once it is in. The receiver's "taken" must reach the
 * sender's core, and the next message the receiver's: a round trip a
 * message, whatever the channel is made of, while the two threads run on
 * two cores (about: a channel that looked without pausing could pass it by
 * a little). The scheduler puts two busy threads on two cores, as it does
 * chanbench's; nothing here pins them. Allowed one CPU, the two threads
 * could only take turns through the scheduler, which is not what this
 * measures: the program says so and exits with status 3, no figure.
 */
#include "args.h"
#include "clock.h"
#include "process.h"
#include "spin.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* The counter, alone on its cache line (64 bytes on x86 and most arm64):
 * aligned to the line, and padded to fill it. */
static struct {
	_Alignas(64) atomic_ulong value;
	char pad[64 - sizeof(atomic_ulong)];
} counter;
static unsigned long long rounds = 2000000;

/* Waits for `expect`, with a pause between looks, then stores expect + 1:
 * acquire and release, a channel's own orders. The other thread answers
 * within a few dozen pauses when it runs; after a thousand the core is
 * handed over, in case the two share one after all (a CPU quota, which
 * the mask does not show), so that the program ends, slowly. */
static void pass_on(unsigned long expect)
{
	for (unsigned looks = 1; atomic_load_explicit(&counter.value, memory_order_acquire) != expect; looks++) {
		cpu_relax();
		if (looks % 1000 == 0)
			sched_yield();
	}
	atomic_store_explicit(&counter.value, expect + 1, memory_order_release);
}

/* The second thread: the even numbers' turn (it answers 1 with 2...). */
static void *answer(void *unused)
{
	(void)unused;
	for (unsigned long long r = 0; r < rounds; r++)
		pass_on(2 * r + 1);
	return NULL;
}

int main(int argc, char **argv)
{
	const struct arg_option options[] = {
	    ARG_WHOLE_OPT("count", 'n', &rounds, "N", "round trips to make (default 2000000)", 1, 1e12),
	    ARG_END,
	};
	const struct arg_program prog = {"roundtrip", NULL,
					 "  Two threads pass one cache line back and forth; the last line says how\n"
					 "  many round trips a second: the ceiling of a capacity-1 channel here.\n",
					 options};
	int rc = args_parse(&prog, argc, argv);
	if (rc >= 0)
		return rc;
	if (process_cpus() < 2) {
		fprintf(stderr, "roundtrip: this process may run on one CPU only: there is no round trip "
				"between two cores to measure\n");
		return 3;
	}
	pthread_t other;
	if (pthread_create(&other, NULL, answer, NULL) != 0) {
		fprintf(stderr, "roundtrip: cannot start a thread\n");
		return 1;
	}
	struct timespec start = clock_now();
	for (unsigned long long r = 0; r < rounds; r++)
		pass_on(2 * r);
	pthread_join(other, NULL);
	double seconds = clock_seconds_since(&start);
	printf("result: ok, %llu round trips in %.3f s, %.0f ns each, round_trips_per_s=%.0f\n", rounds, seconds,
	       seconds / (double)rounds * 1e9, (double)rounds / seconds);
	return 0;
}
