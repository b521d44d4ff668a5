/*
 * chanbench - the channel benchmark: producer threads send the numbers
 * 1..M through one channel to consumer threads, which check every number;
 * the last line says how fast, as msgs_per_s=<number>.
 *
 *   chanbench [--impl plain|lockfree] [--capacity N] [--producers P]
 *             [--consumers C] [--messages M] [--batch B]
 *
 * --impl plain measures lesson 01's channel (src/channel.h), --impl
 * lockfree lesson 14's (src/lfchan.h); the two have headers of their own,
 * so one program holds both. The threads and checks are
 * src/lib/traffic.c, as in 01-channel.
 */
#include "traffic.h"

#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv)
{
	const char *impl = take_impl(&argc, argv);
	int lockfree = impl != NULL && strcmp(impl, "lockfree") == 0;
	if (impl != NULL && strcmp(impl, "plain") != 0 && !lockfree) {
		fprintf(stderr, "chanbench: --impl wants plain or lockfree, not '%s'\n", impl);
		return 2;
	}
	struct traffic t = {.prog = "chanbench",
			    .hint = lockfree ? "make test LESSON=14" : "make test LESSON=01",
			    .capacity = 64,
			    .producers = 1,
			    .consumers = 1,
			    .messages = 1000000,
			    .batch = 1,
			    .lockfree = lockfree};
	int rc =
	    traffic_begin(argc, argv, &t,
			  "  --impl plain|lockfree  the channel to measure: lesson 01's (plain, the\n"
			  "                  default) or lesson 14's lock-free one\n"
			  "  Producer threads send the numbers 1..M through one channel; consumer threads\n"
			  "  check every number; the last line says how many messages a second.\n");
	if (rc >= 0)
		return rc;
	return traffic_main(&t, lockfree ? "impl=lockfree" : "impl=plain");
}
