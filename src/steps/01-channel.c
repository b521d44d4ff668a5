/*
 * 01-channel - the lesson 01 program: producer threads send the numbers
 * 1..M through one channel to consumer threads, which check that every
 * number arrived exactly once and in order, and measure how fast.
 *
 *   01-channel [--capacity N] [--producers P] [--consumers C] [--messages M]
 *              [--batch B]
 *
 * The threads, the checks and the stall watch are src/lib/traffic.c. With
 * --batch B (lesson 11) they move B numbers per chan_send_many and up to B
 * per chan_recv_many; B = 1 is lesson 01's chan_send and chan_recv.
 *
 * smoke: --capacity 1 --producers 4 --consumers 4 --messages 20000
 * smoke: --capacity 0 --messages 20000
 * smoke: --producers 3 --consumers 1 --messages 100000
 * smoke: --capacity 16 --producers 3 --consumers 2 --messages 100000 --batch 7
 */
#include "traffic.h"

int main(int argc, char **argv)
{
	struct traffic t = {.prog = "01-channel",
			    .hint = "make test LESSON=01",
			    .capacity = 64,
			    .producers = 2,
			    .consumers = 2,
			    .messages = 1000000,
			    .batch = 1};
	int rc =
	    traffic_begin(argc, argv, &t,
			  "  Producer threads send the numbers 1..M through one channel; consumer threads\n"
			  "  receive them until the channel is closed, then the program checks that every\n"
			  "  number arrived exactly once and in order, and says how fast it went.\n");
	if (rc >= 0)
		return rc;
	return traffic_main(&t, NULL);
}
