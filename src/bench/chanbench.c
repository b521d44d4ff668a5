/*
 * chanbench - the channel benchmark: producer threads send the numbers
 * 1..M through one channel to consumer threads, which check every number;
 * the last line says how fast, as msgs_per_s=<number>.
 *
 *   chanbench [--capacity N] [--producers P] [--consumers C] [--messages M]
 *             [--batch B] [--impl plain|lockfree]
 *
 * --impl plain measures lesson 01's channel (src/channel.h), --impl
 * lockfree lesson 14's (src/lfchan.h); the two have headers of their own,
 * so one program holds both. The threads, checks and options are
 * src/lib/traffic.c, as in 01-channel; --impl is the one option of its own.
 */
#include "args.h"
#include "traffic.h"

#include <string.h>

/* --impl: the channel, and the lesson to look at when it fails a check. */
static int take_impl(const char *text, void *traffic)
{
	struct traffic *t = traffic;
	t->lockfree = strcmp(text, "lockfree") == 0;
	t->hint = t->lockfree ? "make test LESSON=14" : "make test LESSON=01";
	return t->lockfree || strcmp(text, "plain") == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct traffic t = {.prog = "chanbench",
			    .hint = "make test LESSON=01",
			    .capacity = 64,
			    .producers = 1,
			    .consumers = 1,
			    .messages = 1000000,
			    .batch = 1};
	const struct arg_option impl = ARG_CUSTOM_OPT(
	    "impl", 0, &t, "plain|lockfree",
	    "the channel to measure: lesson 01's (plain, the\ndefault) or lesson 14's lock-free one",
	    take_impl, "plain or lockfree");
	t.extra = &impl;
	int rc =
	    traffic_begin(argc, argv, &t,
			  "  Producer threads send the numbers 1..M through one channel; consumer threads\n"
			  "  check every number; the last line says how many messages a second.\n");
	if (rc >= 0)
		return rc;
	return traffic_main(&t, t.lockfree ? "impl=lockfree" : "impl=plain");
}
