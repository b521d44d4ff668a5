/*
 * chanbench - the channel benchmark: producer threads send the numbers
 * 1..M through one channel to consumer threads, which check every number;
 * the last line says how fast, as msgs_per_s=<number>.
 *
 *   chanbench [--impl plain|fast|lockfree] [--capacity N] [--producers P]
 *             [--consumers C] [--messages M] [--batch B]
 *
 * The program is linked twice (Makefile): chanbench on lesson 01's
 * channel and chanbench-fast on lesson 10's spinning channel
 * (src/fastchan.h), because the two are two implementations of one header
 * and a program holds one. --impl names the one to measure: a program
 * asked for the other one runs its twin, found beside it. Lesson 11's
 * lock-free channel (src/lfchan.h) has a header of its own, so either
 * program measures it (--impl lockfree). The threads and checks are
 * src/lib/traffic.c, as in 01-channel.
 */
#include "traffic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CHANBENCH_FAST
#define OWN_IMPL "fast"
#else
#define OWN_IMPL "plain"
#endif

/* Takes "--impl X" or "--impl=X" out of argv (argc shrinks); returns X,
 * or NULL when it is not there. */
static const char *take_impl(int *argc, char **argv)
{
	const char *impl = NULL;
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--impl") == 0 && i + 1 < *argc)
			impl = argv[++i];
		else if (strncmp(argv[i], "--impl=", 7) == 0)
			impl = argv[i] + 7;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return impl;
}

/* Runs the twin linked on the other channel, with the same arguments:
 * chanbench-fast beside chanbench, or chanbench beside chanbench-fast.
 * Returns only if that fails. */
static int run_twin(char **argv, const char *impl)
{
	const char *self = argv[0];
	const char *slash = strrchr(self, '/');
	size_t dir = slash == NULL ? 0 : (size_t)(slash - self + 1);
	char path[4096];
	if (dir + sizeof("chanbench-fast") > sizeof(path)) {
		fprintf(stderr, "chanbench: the path to the program is too long\n");
		return 1;
	}
	memcpy(path, self, dir);
	strcpy(path + dir, strcmp(impl, "fast") == 0 ? "chanbench-fast" : "chanbench");
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "chanbench: cannot run %s for --impl %s: %s (make chanbench builds both)\n", path,
		impl, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const char *impl = take_impl(&argc, argv);
	int lockfree = impl != NULL && strcmp(impl, "lockfree") == 0;
	if (impl != NULL && strcmp(impl, "plain") != 0 && strcmp(impl, "fast") != 0 && !lockfree) {
		fprintf(stderr, "chanbench: --impl wants plain, fast or lockfree, not '%s'\n", impl);
		return 2;
	}
	if (impl != NULL && !lockfree && strcmp(impl, OWN_IMPL) != 0)
		return run_twin(argv, impl);
	struct traffic t = {.prog = "chanbench",
			    .hint = lockfree ? "make test LESSON=11"
					     : "make test LESSON=01, and LESSON=10 for --impl fast",
			    .capacity = 64,
			    .producers = 1,
			    .consumers = 1,
			    .messages = 1000000,
			    .batch = 1,
			    .lockfree = lockfree};
	int rc =
	    traffic_begin(argc, argv, &t,
			  "  --impl plain|fast|lockfree  the channel to measure: lesson 01's (plain, the\n"
			  "                  default of chanbench), lesson 10's spinning one (fast, the\n"
			  "                  default of chanbench-fast) or lesson 11's lock-free one\n"
			  "  Producer threads send the numbers 1..M through one channel; consumer threads\n"
			  "  check every number; the last line says how many messages a second.\n");
	if (rc >= 0)
		return rc;
	return traffic_main(&t, lockfree ? "impl=lockfree" : "impl=" OWN_IMPL);
}
