/*
 * Lesson 11: chan_send_many and chan_recv_many. Written against
 * src/batch.h and src/channel.h only.
 */
#include "batch.h"
#include "chan_testing.h"
#include "clock.h"
#include "interpose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define L11 "lessons/11-batches/README.md"

/* Fills msgs[0..n-1] with MSG(first), MSG(first + 1), ... */
static void numbered(void **msgs, size_t n, uintptr_t first)
{
	for (size_t i = 0; i < n; i++)
		msgs[i] = MSG(first + i);
}

/* Fails unless msgs[0..n-1] are MSG(first), MSG(first + 1), ... */
static void expect_numbered(void *const *msgs, size_t n, uintptr_t first, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (MSG_VALUE(msgs[i]) != first + i)
			fail_msg("%s: message %zu is %lu, expected %lu (messages come out oldest first)",
				 what, i, (unsigned long)MSG_VALUE(msgs[i]), (unsigned long)(first + i));
}

static void expect_count(size_t got, size_t want, const char *what)
{
	if (got != want)
		fail_msg("%s: the count is %zu, expected %zu", what, got, want);
}

/* A thread that sends one batch and reports what happened. */
struct batch_send {
	struct chan *ch;
	void *msgs[64];
	size_t n, sent;
	enum chan_status status;
};

static void *op_send_many(void *arg)
{
	struct batch_send *b = arg;
	b->status = chan_send_many(b->ch, b->msgs, b->n, &b->sent);
	return NULL;
}

/* A thread that receives one batch. */
struct batch_recv {
	struct chan *ch;
	void *msgs[64];
	size_t max, got;
	enum chan_status status;
};

static void *op_recv_many(void *arg)
{
	struct batch_recv *b = arg;
	b->status = chan_recv_many(b->ch, b->msgs, b->max, &b->got);
	return NULL;
}

/* Starts a thread sending MSG(1)..MSG(n) as one batch into ch. */
static void start_send_many(struct batch_send *b, struct harness_thread *t, struct chan *ch, size_t n)
{
	*b = (struct batch_send){.ch = ch, .n = n};
	numbered(b->msgs, n, 1);
	harness_thread_start(t, op_send_many, b);
}

/* The same into ch of a smaller capacity, and waits until the thread is
 * blocked on the full channel. */
static void start_blocked_send_many(struct batch_send *b, struct harness_thread *t, struct chan *ch, size_t n)
{
	start_send_many(b, t, ch, n);
	expect_parked(t, &ch, 1, PARKED_SENDING, &b->status,
		      "chan_send_many of more messages than the channel holds",
		      "it must wait for room once the channel is full");
}

/* Starts a thread in chan_recv_many(max) on the empty ch and waits until
 * it is blocked there. */
static void start_blocked_recv_many(struct batch_recv *b, struct harness_thread *t, struct chan *ch,
				    size_t max)
{
	*b = (struct batch_recv){.ch = ch, .max = max};
	harness_thread_start(t, op_recv_many, b);
	expect_parked(t, &ch, 1, PARKED_RECEIVING, &b->status, "chan_recv_many on an empty channel",
		      "it must wait for a message (counted in recv_waiting)");
}

/* Waits for t with the harness's deadline, and fails with why if it does
 * not end. A macro, not a function, so that a failure names the line of
 * the test that waited, not a line of a helper every test shares. */
#define join_or_fail(t, why)                                                                           \
	do {                                                                                           \
		if (!harness_thread_join_within((t), harness_wait_ms()))                               \
			fail_msg("%s", (why));                                                         \
	} while (0)

/* chan_recv_many(ch, out, max, got) on a closed channel that still holds
 * messages, which must hand them out. A macro, as join_or_fail. */
#define recv_many_after_close(ch, out, max, got)                                                       \
	do {                                                                                           \
		size_t held_ = chan_len(ch);                                                           \
		enum chan_status rc_ = chan_recv_many((ch), (out), (max), (got));                      \
		if (rc_ != CHAN_OK)                                                                    \
			fail_msg("chan_recv_many on a closed channel holding %zu message(s) "          \
				 "returned %s, expected CHAN_OK: a closed channel still hands "        \
				 "out what it holds, so after the wait look at len before "            \
				 "closed (CHAN_CLOSED only once it is drained)",                       \
				 held_, chan_status_str(rc_));                                         \
	} while (0)

/* Fails unless the slots at the given indices of ch's ring are NULL (a
 * slot cleared once its message is taken). Called with no other thread
 * in ch. */
static void expect_cleared(struct chan *ch, const size_t *slot, size_t n, const char *what)
{
	pthread_mutex_lock(&ch->mu);
	for (size_t i = 0; i < n; i++) {
		void *left = ch->buf[slot[i]];
		if (left != NULL) {
			pthread_mutex_unlock(&ch->mu);
			fail_msg("%s: buf[%zu] still holds message %lu after it was taken: clear each slot as "
				 "its message leaves, or the channel keeps a pointer its receiver may free",
				 what, slot[i], (unsigned long)MSG_VALUE(left));
		}
	}
	pthread_mutex_unlock(&ch->mu);
}

/* ---- one thread ------------------------------------------------------------ */

static void test_a_batch_comes_out_in_order(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(8);
	void *in[5], *out[8];
	size_t sent = 99, got = 99;
	numbered(in, 5, 1);
	assert_chan_status(chan_send_many(ch, in, 5, &sent), CHAN_OK);
	expect_count(sent, 5, "chan_send_many of 5 into 8 free slots");
	assert_int_equal(chan_len(ch), 5);
	harness_on_hang("chan_recv_many blocked with 5 messages buffered");
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_OK);
	expect_count(got, 5, "chan_recv_many(max 8) with 5 buffered takes all 5");
	expect_numbered(out, 5, 1, "chan_recv_many");
	assert_int_equal(chan_len(ch), 0);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_many_takes_at_most_max(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(8);
	void *in[6], *out[8] = {0};
	size_t got = 0;
	numbered(in, 6, 10);
	assert_chan_status(chan_send_many(ch, in, 6, NULL), CHAN_OK);
	harness_on_hang("chan_recv_many blocked with 6 messages buffered");
	assert_chan_status(chan_recv_many(ch, out, 4, &got), CHAN_OK);
	expect_count(got, 4, "chan_recv_many(max 4) with 6 buffered");
	expect_numbered(out, 4, 10, "the first batch");
	if (out[4] != NULL)
		fail_msg("chan_recv_many(max 4) wrote past msgs[3]: it must never write more than max");
	assert_chan_status(chan_recv_many(ch, out, 4, &got), CHAN_OK);
	expect_count(got, 2, "the second chan_recv_many takes the 2 left");
	expect_numbered(out, 2, 14, "the second batch");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* The ring wraps around inside a batch, on both sides. */
static void test_batches_wrap_around_the_ring(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(5);
	void *in[4], *out[5];
	size_t got = 0;
	uintptr_t next = 1;
	harness_on_hang("chan_recv_many blocked with messages buffered");
	for (int round = 0; round < 7; round++) {
		numbered(in, 4, next);
		assert_chan_status(chan_send_many(ch, in, 4, NULL), CHAN_OK);
		assert_chan_status(chan_recv_many(ch, out, 3, &got), CHAN_OK);
		expect_count(got, 3, "chan_recv_many(max 3) with 4 buffered");
		expect_numbered(out, 3, next, "a batch that wraps around the ring");
		assert_chan_status(chan_recv_many(ch, out, 5, &got), CHAN_OK);
		expect_count(got, 1, "chan_recv_many with 1 buffered");
		expect_numbered(out, 1, next + 3, "the last message of the round");
		next += 4;
	}
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* Every slot a batch takes is cleared, also where the batch runs past the
 * end of buf: the channel must not keep a pointer that is the receiver's. */
static void test_recv_many_clears_the_slots_it_takes(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(5);
	void *in[4], *out[3];
	size_t got = 0;
	harness_on_hang("chan_recv_many blocked with messages buffered");
	numbered(in, 4, 1);
	assert_chan_status(chan_send_many(ch, in, 4, NULL), CHAN_OK); /* slots 0..3 */
	assert_chan_status(chan_recv_many(ch, out, 3, &got), CHAN_OK);
	expect_count(got, 3, "chan_recv_many(max 3) with 4 buffered");
	expect_cleared(ch, (const size_t[]){0, 1, 2}, 3, "a batch of 3 taken from slots 0, 1 and 2");
	numbered(in, 4, 5);
	assert_chan_status(chan_send_many(ch, in, 4, NULL), CHAN_OK); /* slots 4, 0, 1, 2 */
	assert_chan_status(chan_recv_many(ch, out, 3, &got), CHAN_OK);
	expect_count(got, 3, "chan_recv_many(max 3) with 5 buffered");
	expect_numbered(out, 3, 4, "a batch taken across the end of the ring");
	expect_cleared(ch, (const size_t[]){3, 4, 0}, 3, "a batch of 3 taken from slots 3, 4 and 0 (across the end)");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* A batch is not a transaction: it waits for one message, not for max. */
static void test_recv_many_does_not_wait_for_a_full_batch(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(8);
	void *out[8];
	size_t got = 0;
	assert_chan_status(chan_send(ch, MSG(7)), CHAN_OK);
	harness_on_hang("chan_recv_many(max 8) blocked with one message buffered: it must return as soon as "
			"it has at least one message, never wait for max");
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_OK);
	expect_count(got, 1, "chan_recv_many with one message buffered");
	assert_ptr_equal(out[0], MSG(7));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* Batch and single operations share one channel and its counters. */
static void test_batches_mix_with_single_operations(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(6);
	void *in[3], *out[6], *one = NULL;
	size_t got = 0;
	numbered(in, 3, 2);
	harness_on_hang("a receive blocked with messages buffered");
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send_many(ch, in, 3, NULL), CHAN_OK);
	assert_chan_status(chan_send(ch, MSG(5)), CHAN_OK);
	assert_int_equal(chan_len(ch), 5);
	assert_chan_status(chan_recv(ch, &one), CHAN_OK);
	assert_ptr_equal(one, MSG(1));
	assert_chan_status(chan_recv_many(ch, out, 6, &got), CHAN_OK);
	expect_count(got, 4, "chan_recv_many after a chan_recv");
	expect_numbered(out, 4, 2, "single and batch sends, in the order they were made");
	pthread_mutex_lock(&ch->mu);
	unsigned long long sent = ch->sent, taken = ch->taken;
	pthread_mutex_unlock(&ch->mu);
	if (sent != 5 || taken != 5)
		fail_msg(
		    "after 5 messages in and out, sent=%llu and taken=%llu, expected 5 and 5: the batch "
		    "operations must count each message in sent and taken, as chan_send and chan_recv do",
		    sent, taken);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_bad_arguments_are_einval(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	void *out[2];
	size_t n = 99;
	assert_chan_status(chan_send_many(NULL, out, 1, &n), CHAN_EINVAL);
	assert_chan_status(chan_send_many(ch, NULL, 1, &n), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(NULL, out, 2, &n), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(ch, NULL, 2, &n), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(ch, out, 2, NULL), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(ch, out, 0, &n), CHAN_EINVAL);
	expect_count(n, 0, "the count after CHAN_EINVAL");
	/* The control: an empty batch is a valid batch. */
	assert_chan_status(chan_send_many(ch, NULL, 0, &n), CHAN_OK);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- blocking and close ------------------------------------------------------ */

/* A batch larger than the channel goes in as room appears. */
static void test_send_many_larger_than_the_channel_waits_for_room(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_send b;
	struct harness_thread t;
	start_blocked_send_many(&b, &t, ch, 10);
	void *out[3];
	size_t got = 0, total = 0;
	harness_on_hang("chan_recv_many blocked while a sender still had messages for it: after putting in "
			"what fits, chan_send_many must wake the receivers and wait for room again");
	while (total < 10) {
		assert_chan_status(chan_recv_many(ch, out, 3, &got), CHAN_OK);
		expect_numbered(out, got, 1 + total, "a batch larger than the channel");
		total += got;
	}
	join_or_fail(&t, "chan_send_many did not return after all its messages were received");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.sent, 10, "*sent after a batch larger than the channel");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_many_blocks_until_a_message_arrives(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_recv b;
	struct harness_thread t;
	start_blocked_recv_many(&b, &t, ch, 4);
	assert_chan_status(chan_send(ch, MSG(3)), CHAN_OK);
	join_or_fail(&t, "chan_recv_many stayed asleep after a chan_send: it waits on not_empty, which "
			 "chan_send signals");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.got, 1, "chan_recv_many woken by one message");
	assert_ptr_equal(b.msgs[0], MSG(3));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_send_many_on_a_closed_channel_sends_nothing(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	void *in[3];
	size_t sent = 99;
	numbered(in, 3, 1);
	assert_chan_status(chan_close(ch), CHAN_OK);
	assert_chan_status(chan_send_many(ch, in, 3, &sent), CHAN_CLOSED);
	expect_count(sent, 0, "*sent after chan_send_many on a closed channel");
	assert_int_equal(chan_len(ch), 0);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* An empty batch is a complete batch, even on a closed channel: nothing
 * was refused, so the answer is CHAN_OK, buffered or not. */
static void test_an_empty_batch_on_a_closed_channel_is_ok(void **state)
{
	(void)state;
	void *in[1] = {MSG(1)};
	for (size_t cap = 0; cap <= 4; cap += 4) {
		struct chan *ch = chan_new_or_fail(cap);
		size_t sent = 99;
		assert_chan_status(chan_close(ch), CHAN_OK);
		enum chan_status rc = chan_send_many(ch, in, 0, &sent);
		if (rc != CHAN_OK || sent != 0)
			fail_msg("chan_send_many of 0 messages on a closed channel of capacity %zu returned %s "
				 "with *sent %zu, expected CHAN_OK and 0: an empty batch has nothing to refuse "
				 "(src/batch.h), so look at what is left to send before looking at closed",
				 cap, chan_status_str(rc), sent);
		assert_chan_status(chan_free(ch), CHAN_OK);
	}
}

/* Close in the middle of a batch: the part that went in is delivered, the
 * rest is the sender's, and *sent says where the line is. */
static void test_close_during_send_many_says_how_many_went_in(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_send b;
	struct harness_thread t;
	start_blocked_send_many(&b, &t, ch, 10);
	assert_chan_status(chan_close(ch), CHAN_OK);
	join_or_fail(&t, "chan_send_many stayed asleep after chan_close: it must re-check closed after "
			 "every wake-up (close broadcasts not_full)");
	assert_chan_status(b.status, CHAN_CLOSED);
	expect_count(b.sent, 4, "*sent after close interrupted a batch of 10 at 4");
	void *out[8];
	size_t got = 0;
	recv_many_after_close(ch, out, 8, &got);
	expect_count(got, 4, "the receiver drains what went in before the close");
	expect_numbered(out, 4, 1, "the part of the batch that went in");
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_CLOSED);
	expect_count(got, 0, "*got once the channel is closed and drained");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* The same line on an unbuffered channel: a receiver takes 2 of a batch of
 * 5, and the channel closes while the sender offers the third. The third
 * was never taken, so it is still the sender's: *sent is 2. */
static void test_unbuffered_close_during_send_many_says_how_many_went_in(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct batch_send b;
	struct harness_thread t;
	start_send_many(&b, &t, ch, 5);
	void *one = NULL;
	harness_on_hang("chan_recv on an unbuffered channel blocked while chan_send_many had messages for it");
	for (uintptr_t i = 1; i <= 2; i++) {
		assert_chan_status(chan_recv(ch, &one), CHAN_OK);
		assert_ptr_equal(one, MSG(i));
	}
	expect_parked(&t, &ch, 1, PARKED_SENDING, &b.status,
		      "chan_send_many of 5 on an unbuffered channel after 2 were received",
		      "each message is a rendezvous, so it waits for a receiver");
	assert_chan_status(chan_close(ch), CHAN_OK);
	join_or_fail(&t, "chan_send_many on an unbuffered channel stayed asleep after chan_close");
	assert_chan_status(b.status, CHAN_CLOSED);
	size_t sent = 99;
	assert_chan_status(chan_send_many(ch, b.msgs, 5, &sent), CHAN_CLOSED);
	if (b.sent != 2 || sent != 0)
		fail_msg("on an unbuffered channel, *sent is %zu after a close interrupted a batch of 5 whose "
			 "first 2 were received, expected 2; and %zu for a batch on the closed channel, "
			 "expected 0. A message counts as sent once chan_send returned CHAN_OK, never "
			 "before: the one the close interrupted is still the caller's",
			 b.sent, sent);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* Room appears, and then the channel closes, before the waiting sender runs
 * again (its wake-up held until both are done, as a sender that loses the
 * race for the mutex sees them). Whatever woke it, it must see the close
 * before it puts in anything more. */
static void test_send_many_woken_by_room_sees_a_close_first(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_send b;
	struct harness_thread t;
	start_blocked_send_many(&b, &t, ch, 10);
	harness_hold_wake(t.tid);
	void *out[2];
	size_t got = 0;
	harness_on_hang("chan_recv_many blocked on a full channel");
	assert_chan_status(chan_recv_many(ch, out, 2, &got), CHAN_OK);
	expect_count(got, 2, "chan_recv_many(max 2) of a full channel of 4");
	assert_chan_status(chan_close(ch), CHAN_OK);
	harness_release_held();
	join_or_fail(&t, "chan_send_many stayed asleep after room appeared and the channel closed");
	if (b.sent != 4 || chan_len(ch) != 2)
		fail_msg("a batch of 10 waiting at 4 was woken by a receive that made room, then the channel "
			 "closed before it ran: *sent is %zu and %zu messages are buffered, expected 4 and 2. "
			 "The sender put messages into a closed channel: re-check closed after every wake-up, "
			 "not only while the channel is full",
			 b.sent, chan_len(ch));
	assert_chan_status(b.status, CHAN_CLOSED);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_close_wakes_a_blocked_recv_many(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	struct batch_recv b;
	struct harness_thread t;
	start_blocked_recv_many(&b, &t, ch, 2);
	assert_chan_status(chan_close(ch), CHAN_OK);
	join_or_fail(&t, "chan_recv_many stayed asleep after chan_close: its wait must end on closed too");
	assert_chan_status(b.status, CHAN_CLOSED);
	expect_count(b.got, 0, "*got after close");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* A close ends the sending, not the receiving: what is buffered still
 * comes out, in batches, and only then CHAN_CLOSED. */
static void test_recv_many_drains_a_closed_channel(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	void *in[3], *out[2];
	size_t got = 0;
	numbered(in, 3, 1);
	assert_chan_status(chan_send_many(ch, in, 3, NULL), CHAN_OK);
	assert_chan_status(chan_close(ch), CHAN_OK);
	harness_on_hang("chan_recv_many blocked on a closed channel");
	recv_many_after_close(ch, out, 2, &got);
	expect_count(got, 2, "chan_recv_many(max 2) of a closed channel holding 3");
	expect_numbered(out, 2, 1, "the first batch after the close");
	recv_many_after_close(ch, out, 2, &got);
	expect_count(got, 1, "chan_recv_many of a closed channel holding 1");
	expect_numbered(out, 1, 3, "the last message after the close");
	assert_chan_status(chan_recv_many(ch, out, 2, &got), CHAN_CLOSED);
	expect_count(got, 0, "*got once the channel is closed and drained");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- wake-ups ---------------------------------------------------------------- */

/* Three receivers asleep, one batch of three: one pthread_cond_signal
 * would wake one of them and leave two asleep next to two messages. */
static void test_send_many_wakes_a_receiver_per_message(void **state)
{
	(void)state;
	enum { R = 3 };
	struct chan *ch = chan_new_or_fail(4);
	struct op ops[R];
	struct harness_thread t[R];
	park_ops(ch, op_recv, ops, t, R, 0);
	void *in[R];
	numbered(in, R, 1);
	assert_chan_status(chan_send_many(ch, in, R, NULL), CHAN_OK);
	uintptr_t sum = 0;
	for (int i = 0; i < R; i++) {
		join_or_fail(&t[i], "a receiver stayed asleep although the batch had a message for it: after "
				    "putting in k messages, wake up to k receivers (one signal wakes one)");
		assert_chan_status(ops[i].status, CHAN_OK);
		sum += MSG_VALUE(ops[i].msg);
	}
	assert_int_equal(sum, 1 + 2 + 3);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_many_wakes_a_sender_per_free_slot(void **state)
{
	(void)state;
	enum { S = 3 };
	struct chan *ch = chan_new_or_fail(S);
	for (int i = 0; i < S; i++)
		assert_chan_status(chan_send(ch, MSG(i + 1)), CHAN_OK);
	struct op ops[S];
	struct harness_thread t[S];
	park_ops(ch, op_send, ops, t, S, 10);
	void *out[S];
	size_t got = 0;
	assert_chan_status(chan_recv_many(ch, out, S, &got), CHAN_OK);
	expect_count(got, S, "chan_recv_many(max 3) of a full channel of 3");
	for (int i = 0; i < S; i++) {
		join_or_fail(&t[i], "a sender stayed asleep although the batch freed a slot for it: after "
				    "taking k messages, wake up to k senders (one signal wakes one)");
		assert_chan_status(ops[i].status, CHAN_OK);
	}
	assert_int_equal(chan_len(ch), S);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/*
 * Two receivers asleep. A chan_send wakes one of them, and before it runs
 * (the woken are held, as threads that lost the race for the mutex) a
 * batch of one goes in. The batch finds a message already buffered, yet
 * the other receiver still sleeps and needs a signal of its own: a batch
 * that signals only when it finds the channel empty leaves it asleep
 * beside its message.
 */
static void test_send_many_onto_a_buffered_message_still_wakes_a_receiver(void **state)
{
	(void)state;
	enum { R = 2 };
	struct chan *ch = chan_new_or_fail(4);
	struct op ops[R];
	struct harness_thread t[R];
	park_ops(ch, op_recv, ops, t, R, 0);
	void *in[1] = {MSG(2)};
	hold_woken_waiters();
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send_many(ch, in, 1, NULL), CHAN_OK);
	release_woken_waiters();
	int blocked = threads_still_running(t, R);
	if (blocked > 0)
		fail_msg("%d of %d receivers still asleep beside %zu buffered message(s): a chan_send woke one "
			 "receiver, which had not run yet when chan_send_many put one more message in. A batch "
			 "that finds messages already buffered cannot conclude that no receiver sleeps: wake "
			 "up to k receivers (as many as recv_waiting counts), whatever len was before",
			 blocked, R, chan_len(ch));
	for (int i = 0; i < R; i++)
		assert_chan_status(ops[i].status, CHAN_OK);
	assert_int_equal(MSG_VALUE(ops[0].msg) + MSG_VALUE(ops[1].msg), 1 + 2);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* The mirror: two senders asleep on a full channel; a chan_recv wakes one,
 * and before it runs a batch takes one more message. */
static void test_recv_many_from_a_channel_with_room_still_wakes_a_sender(void **state)
{
	(void)state;
	enum { S = 2, CAP = 2 };
	struct chan *ch = chan_new_or_fail(CAP);
	for (uintptr_t i = 1; i <= CAP; i++)
		assert_chan_status(chan_send(ch, MSG(i)), CHAN_OK);
	struct op ops[S];
	struct harness_thread t[S];
	park_ops(ch, op_send, ops, t, S, 10);
	void *one = NULL, *out[1];
	size_t got = 0;
	hold_woken_waiters();
	assert_chan_status(chan_recv(ch, &one), CHAN_OK);
	assert_chan_status(chan_recv_many(ch, out, 1, &got), CHAN_OK);
	release_woken_waiters();
	expect_count(got, 1, "chan_recv_many(max 1) of a channel holding 1");
	int blocked = threads_still_running(t, S);
	if (blocked > 0)
		fail_msg("%d of %d senders still asleep beside %zu free slot(s): a chan_recv woke one sender, "
			 "which had not run yet when chan_recv_many took one more message. A batch that finds "
			 "free slots already cannot conclude that no sender sleeps: wake up to k "
			 "senders (as many as send_waiting counts), whatever len was before",
			 blocked, S, CAP - chan_len(ch));
	for (int i = 0; i < S; i++)
		assert_chan_status(ops[i].status, CHAN_OK);
	assert_int_equal(chan_len(ch), CAP);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_send_many_wakes_a_select(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct select_op s = {.chans = {ch}, .n = 1};
	struct harness_thread t;
	start_parked_select(&s, &t);
	void *in[2];
	numbered(in, 2, 1);
	assert_chan_status(chan_send_many(ch, in, 2, NULL), CHAN_OK);
	join_or_fail(&t, "a chan_select stayed asleep after chan_send_many: a select waits on its own "
			 "condition variable, so a batch must call chan_wake_watchers as chan_send does");
	assert_chan_status(s.status, CHAN_OK);
	assert_ptr_equal(s.msg, MSG(1));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* A select that keeps receiving until it has `want` messages, in order. */
struct select_loop {
	struct select_op s;
	size_t want, got;
};

static void *op_select_until(void *arg)
{
	struct select_loop *l = arg;
	while (l->got < l->want) {
		op_select(&l->s);
		if (l->s.status != CHAN_OK || MSG_VALUE(l->s.msg) != l->got + 1)
			return NULL;
		l->got++;
	}
	return NULL;
}

/* The select is the only consumer, and the batch does not fit: the sender
 * fills the channel and waits for room that only the select can make. So
 * the select must hear of each part as it goes in, not of the batch once
 * it is all in. */
static void test_send_many_larger_than_the_channel_wakes_a_select_per_part(void **state)
{
	(void)state;
	enum { N = 10 };
	struct chan *ch = chan_new_or_fail(4);
	struct select_loop l = {.s = {.chans = {ch}, .n = 1}, .want = N};
	struct harness_thread selector, sender;
	harness_thread_start(&selector, op_select_until, &l);
	expect_parked(&selector, &ch, 1, PARKED_SELECTING, &l.s.status, "chan_select over an empty channel",
		      "with nothing ready and no deadline it must wait");
	struct batch_send b;
	start_send_many(&b, &sender, ch, N);
	if (!harness_thread_join_within(&selector, harness_wait_ms()))
		fail_msg("a chan_select, the only consumer, stayed asleep beside %zu buffered messages while "
			 "chan_send_many of %d into a channel of 4 waited for room: wake the watchers "
			 "(chan_wake_watchers) after each part that goes in, before the sender waits again, "
			 "not once after the whole batch",
			 chan_len(ch), N);
	if (l.got != N)
		fail_msg("the select received %zu messages in order, then %s with message %lu, expected "
			 "messages 1 to %d",
			 l.got, chan_status_str(l.s.status), (unsigned long)MSG_VALUE(l.s.msg), N);
	join_or_fail(&sender, "chan_send_many did not return after the select received all its messages");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.sent, N, "*sent of a batch a select received");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- unbuffered ------------------------------------------------------------ */

static void test_unbuffered_send_many_is_a_rendezvous_per_message(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct batch_send b;
	struct harness_thread t;
	start_send_many(&b, &t, ch, 3);
	void *out[4];
	size_t got = 0;
	harness_on_hang("chan_recv_many on an unbuffered channel blocked while chan_send_many had messages "
			"for it");
	for (uintptr_t i = 1; i <= 3; i++) {
		/* Before the last receive the batch is not done: a send on an
		 * unbuffered channel returns once its message is taken, not once
		 * it sits in the one slot. (A bounded look, not a guess at an
		 * ordering: a right answer never returns here, however long.) */
		if (i == 3 && harness_thread_join_within(&t, harness_bound_ms(100)))
			fail_msg("chan_send_many on an unbuffered channel returned before its last message was "
				 "received: capacity 0 is a rendezvous per message (send each with chan_send), not a "
				 "buffer of one slot");
		assert_chan_status(chan_recv_many(ch, out, 4, &got), CHAN_OK);
		expect_count(got, 1, "chan_recv_many on an unbuffered channel");
		assert_ptr_equal(out[0], MSG(i));
	}
	join_or_fail(&t, "chan_send_many on an unbuffered channel did not return after its 3 messages "
			 "were received");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.sent, 3, "*sent of an unbuffered batch");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- many threads -------------------------------------------------------------- */

/* Two producers send batches of 1 to 17 (some larger than the channel)
 * through a channel of 16 to two consumers receiving up to 17 at a time
 * (the engine of src/traffic.h, which lesson 11's program runs too). */
static void test_2x2_threads_move_every_batch_exactly_once(void **state)
{
	(void)state;
	harness_on_hang("two producers and two consumers of batches stopped moving: look for a wait whose "
			"wake-up never comes (a batch must wake as many threads as it has messages or slots "
			"for)");
	unsigned long long n = (unsigned long long)harness_scale(100000);
	struct traffic t = {.capacity = 16, .producers = 2, .consumers = 2, .messages = n, .batch = 17, .mixed = 1};
	expect_traffic_exactly_once(&t, "Each batch must move whole or in part under one lock, each "
					"sender's messages keeping their order, and *sent must say how many "
					"went");
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_a_batch_comes_out_in_order, L11 "#send-many"),
	    HTEST(test_recv_many_takes_at_most_max, L11 "#receive-many"),
	    HTEST(test_batches_wrap_around_the_ring, L11 "#receive-many"),
	    HTEST(test_recv_many_clears_the_slots_it_takes, L11 "#receive-many"),
	    HTEST(test_recv_many_does_not_wait_for_a_full_batch, L11 "#receive-many"),
	    HTEST(test_batches_mix_with_single_operations, L11 "#send-many"),
	    HTEST(test_bad_arguments_are_einval, L11 "#4-the-contract"),
	    HTEST(test_send_many_larger_than_the_channel_waits_for_room, L11 "#send-many"),
	    HTEST(test_recv_many_blocks_until_a_message_arrives, L11 "#receive-many"),
	    HTEST(test_close_wakes_a_blocked_recv_many, L11 "#receive-many"),
	    HTEST(test_recv_many_drains_a_closed_channel, L11 "#receive-many"),
	    HTEST(test_send_many_on_a_closed_channel_sends_nothing, L11 "#send-many"),
	    HTEST(test_an_empty_batch_on_a_closed_channel_is_ok, L11 "#4-the-contract"),
	    HTEST(test_close_during_send_many_says_how_many_went_in, L11 "#send-many"),
	    HTEST(test_unbuffered_close_during_send_many_says_how_many_went_in, L11 "#send-many"),
	    HTEST(test_send_many_woken_by_room_sees_a_close_first, L11 "#send-many"),
	    HTEST(test_send_many_wakes_a_receiver_per_message, L11 "#how-many-to-wake"),
	    HTEST(test_recv_many_wakes_a_sender_per_free_slot, L11 "#how-many-to-wake"),
	    HTEST(test_send_many_onto_a_buffered_message_still_wakes_a_receiver, L11 "#how-many-to-wake"),
	    HTEST(test_recv_many_from_a_channel_with_room_still_wakes_a_sender, L11 "#how-many-to-wake"),
	    HTEST(test_send_many_wakes_a_select, L11 "#how-many-to-wake"),
	    HTEST(test_send_many_larger_than_the_channel_wakes_a_select_per_part, L11 "#how-many-to-wake"),
	    HTEST(test_unbuffered_send_many_is_a_rendezvous_per_message, L11 "#send-many"),
	    HTEST(test_2x2_threads_move_every_batch_exactly_once, L11 "#7-what-can-go-wrong"),
	};
	return harness_main(argc, argv, "11-batches", tests, HARNESS_COUNT(tests));
}
