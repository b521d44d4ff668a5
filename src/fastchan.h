/*
 * fastchan.h - lesson 10, part 5: the spinning channel, a second
 * implementation of src/channel.h chosen when the program is linked.
 *
 * It is lesson 01's channel with a front. Measured (lesson 10, section
 * 3), lesson 01's channel loses most of its time when a send or a receive
 * goes to sleep: a futex system call, and a wake-up from the other core
 * that takes microseconds. The front tries an operation that would block a
 * few more times first, pausing a little longer between tries each time,
 * for about as long as one sleep and one wake-up cost, and only then lets
 * it block. If the other side acts within that time, nobody enters the
 * kernel. That is spin-then-sleep, or two-phase waiting: never spinning
 * longer than a sleep would have cost keeps the worst case within twice
 * the best choice, without knowing in advance which one is right.
 *
 * The front spins only where that pays, as measured on two cores:
 *   - buffered channels of fewer than FASTCHAN_SPIN_BELOW slots. With more
 *     slots the buffer already hides a wake-up (a side that finds it full
 *     or empty sleeps while the other side has a whole buffer to work on)
 *     and a spinner only takes the mutex away from the side doing work;
 *   - not unbuffered channels: a rendezvous needs a partner parked in the
 *     channel, and two spinners trying at each other never meet;
 *   - not try operations (a deadline already passed): they never wait, so
 *     there is nothing to spin instead of.
 *
 * How it is built: lesson 01's channel.c is compiled a second time with
 * FASTCHAN_PLAIN_BUILD defined and this header included first, so that its
 * chan_send_until, chan_recv_until, chan_send and chan_recv take the names
 * below; the front (solutions/10-scaling/fast/fastchan.c, or your
 * exercises/10-scaling/fast/fastchan.c) defines the real ones on top of
 * them. Lesson 02's select.c and lesson 10's batch.c are unchanged: try and
 * timed operations reach the front through chan_send_until, select through
 * chan_try_recv, and batches take the lock themselves.
 *
 * The contract is channel.h's, whole: lessons 01 and 02's tests run against
 * this channel too (make test LESSON=10 runs them), and make bench and
 * bin/chanbench --impl fast measure it beside the plain one.
 */
#ifndef FASTCHAN_H
#define FASTCHAN_H

#ifdef FASTCHAN_PLAIN_BUILD
#define chan_send_until plain_chan_send_until
#define chan_recv_until plain_chan_recv_until
#define chan_send	plain_chan_send
#define chan_recv	plain_chan_recv
#endif

#include "channel.h"

/* Lesson 01's blocking operations, under the names the second build of
 * channel.c gives them. Same contract as chan_send_until and
 * chan_recv_until: a deadline in the past makes them try operations. */
enum chan_status plain_chan_send_until(struct chan *ch, void *msg, const struct timespec *deadline);
enum chan_status plain_chan_recv_until(struct chan *ch, void **msg, const struct timespec *deadline);

/* snippet: fastchan-budget */
/* Spin only on buffered channels with fewer slots than this. */
#define FASTCHAN_SPIN_BELOW 16

/* Between two tries the front executes the pause instruction this many
 * times, doubling from FIRST up to LAST: 4 + 8 + ... + 256 = 508 pauses,
 * about 9 µs on a current x86 core (a pause takes some 18 ns there), which
 * is about what one sleep and one wake-up cost. */
#define FASTCHAN_PAUSES_FIRST 4
#define FASTCHAN_PAUSES_LAST  256
/* end snippet */

#endif
