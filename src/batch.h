/*
 * batch.h - lesson 11: moving several messages per channel operation.
 *
 * Every chan_send and chan_recv takes the channel's mutex once, and each
 * one that finds the other side asleep wakes it: a futex system call, and
 * on another core a cross-core wake-up that costs microseconds. A batch
 * pays those costs once for up to n messages. These two functions work on
 * the same struct chan as lessons 01 and 02, and mix freely with the
 * single-message operations and with chan_select.
 *
 * Order: the messages of one chan_send_many enter the channel in array
 * order, and chan_recv_many returns messages oldest first. When a batch
 * does not fit at once, another sender's messages may go in between its
 * parts; the order of each sender's own messages is always kept.
 *
 * Ownership is the channel's rule, per message: a message the channel
 * accepted belongs to its receiver; one it did not is still the sender's.
 */
#ifndef BATCH_H
#define BATCH_H

#include "channel.h"

/* snippet: batch */
/*
 * Sends msgs[0..n-1], in order, and blocks until all n are in the channel
 * or it is closed; n may be larger than the capacity. Nothing goes in
 * once the channel is closed. *sent (if not NULL) is set to how many went
 * in:
 *   CHAN_OK      all n (*sent == n); n == 0 is an empty batch, and
 *                returns CHAN_OK at once, open channel or closed;
 *   CHAN_CLOSED  the channel was closed first: msgs[*sent..n-1] were not
 *                sent and still belong to the caller;
 *   CHAN_EINVAL  ch is NULL, or msgs is NULL with n > 0 (*sent = 0).
 * On an unbuffered channel each message is a rendezvous, as chan_send.
 */
enum chan_status chan_send_many(struct chan *ch, void *const msgs[], size_t n, size_t *sent);

/*
 * Receives at least one message and at most max: blocks while the channel
 * is empty, then takes every buffered message up to max, in one step. It
 * never waits for more once it has one, so a batch costs no latency.
 *   CHAN_OK      *got >= 1 messages are in msgs[0..*got-1];
 *   CHAN_CLOSED  closed and drained (*got = 0);
 *   CHAN_EINVAL  ch, msgs or got is NULL, or max is 0.
 * On an unbuffered channel it receives one message, as chan_recv.
 */
enum chan_status chan_recv_many(struct chan *ch, void *msgs[], size_t max, size_t *got);
/* end snippet */

#endif
