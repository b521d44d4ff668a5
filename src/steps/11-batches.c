/*
 * 11-batches - the lesson 11 program: the same traffic as lesson 01's
 * program (numbered messages through one channel, every one checked), one
 * message per operation and in batches, in alternating rounds, so that
 * both figures come from the same machine in the same minute.
 *
 *   11-batches [--capacity N] [--producers P] [--consumers C] [--messages M]
 *              [--batch B]
 *
 * Where two threads land (one core or two) changes a round's figure by
 * several times, so one round proves little: the program runs ROUNDS of
 * each, alternating, and prints the ratio of the two medians beside the
 * median of the rounds' ratios.
 *
 * smoke: --capacity 64 --messages 200000 --batch 16
 * smoke: --capacity 0 --messages 2000 --batch 4
 * smoke: --capacity 8 --producers 3 --consumers 3 --messages 100000 --batch 5
 */
#include "stats.h"
#include "traffic.h"

#include <stdio.h>

#define ROUNDS 5

/* One run, its checks quiet unless they fail. Returns messages a second,
 * or -1 if a check failed or the run could not start. */
static double rate(struct traffic t, unsigned long long batch)
{
	double seconds = 0;
	t.batch = batch;
	t.quiet = 1;
	if (traffic_run(&t, &seconds) != 0)
		return -1;
	return seconds > 0 ? (double)t.messages / seconds : 0;
}

int main(int argc, char **argv)
{
	struct traffic t = {.prog = "11-batches",
			    .hint = "make test LESSON=11",
			    .capacity = 1024,
			    .producers = 1,
			    .consumers = 1,
			    .messages = 2000000,
			    .batch = 64};
	int rc =
	    traffic_begin(argc, argv, &t,
			  "  Sends the numbers 1..M through one channel, a message per chan_send and\n"
			  "  chan_recv, then B per chan_send_many and up to B per chan_recv_many, in\n"
			  "  alternating rounds. Every number is checked every time; printed are the\n"
			  "  ratio of the two medians and the median of the rounds' ratios.\n");
	if (rc >= 0)
		return rc;
	double one[ROUNDS], many[ROUNDS], ratio[ROUNDS];
	printf("  round   one at a time (msgs/s)   in batches of %llu (msgs/s)   ratio\n", t.batch);
	for (int r = 0; r < ROUNDS; r++) {
		one[r] = rate(t, 1);
		many[r] = one[r] < 0 ? -1 : rate(t, t.batch);
		if (one[r] < 0 || many[r] < 0) {
			printf("result: FAILED, a check failed (above): %s tells more\n", t.hint);
			return 1;
		}
		ratio[r] = one[r] > 0 ? many[r] / one[r] : 0;
		printf("  %5d   %22.0f   %25.0f   %5.2f\n", r + 1, one[r], many[r], ratio[r]);
	}
	/* Two summaries of the same rounds, both printed, because they differ
	 * and a reader of the table looks for either: the ratio of the two
	 * columns' medians, and the median of the ratio column. */
	double m1 = stats_median(one, ROUNDS), mb = stats_median(many, ROUNDS);
	double mr = stats_median(ratio, ROUNDS);
	printf("result: ok, every message checked; over %d rounds, batches of %llu move %.2fx the "
	       "messages a second of one at a time (median batched / median one at a time; the median "
	       "of the ratio column is %.2f), msgs_per_s=%.0f\n",
	       ROUNDS, t.batch, m1 > 0 ? mb / m1 : 0, mr, mb);
	return 0;
}
