/*
 * Lesson 01: the bounded buffer, blocking send and receive, close.
 * Written against src/channel.h only.
 */
#include "chan_testing.h"
#include "clock.h"

#include "interpose.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define L01 "lessons/01-channel/README.md"

static void test_new_channel_is_empty_with_its_capacity(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	assert_int_equal(chan_cap(ch), 4);
	assert_int_equal(chan_len(ch), 0);
	chan_free_or_fail(ch);
}

static void test_recv_returns_what_was_sent(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	int value = 42;
	void *got = NULL;
	assert_chan_status(chan_send(ch, &value), CHAN_OK);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, &value);
	chan_free_or_fail(ch);
}

static void test_messages_come_out_in_fifo_order(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(3);
	/* Ten rounds of two messages through three slots: the ring wraps. */
	uintptr_t next_out = 1;
	for (uintptr_t i = 1; i <= 20; i += 2) {
		assert_chan_status(chan_send(ch, MSG(i)), CHAN_OK);
		assert_chan_status(chan_send(ch, MSG(i + 1)), CHAN_OK);
		for (int k = 0; k < 2; k++) {
			void *got = NULL;
			assert_chan_status(chan_recv(ch, &got), CHAN_OK);
			if (MSG_VALUE(got) != next_out)
				fail_msg("received message %lu, expected %lu: is the buffer a FIFO ring "
					 "(head advances on recv, tail = (head + len) %% cap)?",
					 (unsigned long)MSG_VALUE(got), (unsigned long)next_out);
			next_out++;
		}
	}
	chan_free_or_fail(ch);
}

static void test_len_counts_buffered_messages(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(5);
	for (uintptr_t i = 1; i <= 3; i++)
		assert_chan_status(chan_send(ch, MSG(i)), CHAN_OK);
	assert_int_equal(chan_len(ch), 3);
	void *got;
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(chan_len(ch), 2);
	assert_int_equal(chan_cap(ch), 5);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	chan_free_or_fail(ch);
}

static void test_send_blocks_while_full(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send(ch, MSG(2)), CHAN_OK);
	struct op op = {.ch = ch, .msg = MSG(3)};
	struct harness_thread t;
	harness_thread_start(&t, op_send, &op);
	wait_for_senders(ch, 1, "a send on a full channel must wait (and count itself in send_waiting)");
	assert_false(harness_thread_done(&t));

	void *got = NULL;
	harness_on_hang("a sender blocked on a full channel was not woken when a receive made room: "
			"does chan_recv signal not_full?");
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_true(harness_thread_join_within(&t, harness_wait_ms()));
	assert_chan_status(op.status, CHAN_OK);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 3);
	chan_free_or_fail(ch);
}

static void test_recv_blocks_while_empty(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	struct op op = {.ch = ch};
	struct harness_thread t;
	harness_thread_start(&t, op_recv, &op);
	wait_for_receivers(ch, 1, "a receive on an empty channel must wait (and count itself in recv_waiting)");
	assert_false(harness_thread_done(&t));

	harness_on_hang("a receiver blocked on an empty channel was not woken by a send: "
			"does chan_send signal not_empty?");
	assert_chan_status(chan_send(ch, MSG(7)), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the blocked receiver did not return after a send: does chan_send signal not_empty?");
	assert_chan_status(op.status, CHAN_OK);
	assert_int_equal(MSG_VALUE(op.msg), 7);
	chan_free_or_fail(ch);
}

static void test_close_lets_receivers_drain_then_reports_closed(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send(ch, MSG(2)), CHAN_OK);
	assert_chan_status(chan_close(ch), CHAN_OK);
	void *got = NULL;
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 1);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 2);
	got = MSG(99);
	assert_chan_status(chan_recv(ch, &got), CHAN_CLOSED);
	assert_null(got);
	/* And it stays that way. */
	assert_chan_status(chan_recv(ch, &got), CHAN_CLOSED);
	chan_free_or_fail(ch);
}

static void test_send_on_closed_channel_returns_closed(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	assert_chan_status(chan_close(ch), CHAN_OK);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_CLOSED);
	assert_int_equal(chan_len(ch), 0);
	chan_free_or_fail(ch);
}

static void test_close_twice_returns_closed(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	assert_chan_status(chan_close(ch), CHAN_OK);
	assert_chan_status(chan_close(ch), CHAN_CLOSED);
	chan_free_or_fail(ch);
}

static void test_close_wakes_every_blocked_receiver(void **state)
{
	(void)state;
	enum { N = 3 };
	struct chan *ch = chan_new_or_fail(1);
	struct op ops[N];
	struct harness_thread t[N];
	for (int i = 0; i < N; i++) {
		ops[i] = (struct op){.ch = ch, .msg = MSG(99)};
		harness_thread_start(&t[i], op_recv, &ops[i]);
	}
	wait_for_receivers(ch, N, "three receivers should be blocked on the empty channel");
	harness_on_hang("chan_recv did not return after chan_close: does close wake every waiter "
			"(broadcast, not signal)?");
	assert_chan_status(chan_close(ch), CHAN_OK);
	for (int i = 0; i < N; i++) {
		if (!harness_thread_join_within(&t[i], harness_wait_ms()))
			fail_msg("receiver %d of %d still blocked after chan_close: does close broadcast "
				 "not_empty, and does the wait loop check closed?",
				 i + 1, N);
		assert_chan_status(ops[i].status, CHAN_CLOSED);
		assert_null(ops[i].msg);
	}
	chan_free_or_fail(ch);
}

static void test_close_wakes_every_blocked_sender(void **state)
{
	(void)state;
	enum { N = 3 };
	struct chan *ch = chan_new_or_fail(1);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	struct op ops[N];
	struct harness_thread t[N];
	for (int i = 0; i < N; i++) {
		ops[i] = (struct op){.ch = ch, .msg = MSG(10 + i)};
		harness_thread_start(&t[i], op_send, &ops[i]);
	}
	wait_for_senders(ch, N, "three senders should be blocked on the full channel");
	harness_on_hang("chan_send did not return after chan_close: a sender blocked on a full "
			"channel must wake up and get CHAN_CLOSED");
	assert_chan_status(chan_close(ch), CHAN_OK);
	for (int i = 0; i < N; i++) {
		if (!harness_thread_join_within(&t[i], harness_wait_ms()))
			fail_msg("sender %d of %d still blocked after chan_close: does close broadcast "
				 "not_full, and does the send loop check closed?",
				 i + 1, N);
		assert_chan_status(ops[i].status, CHAN_CLOSED);
	}
	/* The message sent before the close is still there, and only it. */
	void *got = NULL;
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 1);
	assert_chan_status(chan_recv(ch, &got), CHAN_CLOSED);
	chan_free_or_fail(ch);
}

static void test_free_refuses_while_a_thread_is_blocked(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	struct op op = {.ch = ch};
	struct harness_thread t;
	harness_thread_start(&t, op_recv, &op);
	wait_for_receivers(ch, 1, "a receiver should be blocked on the empty channel");
	assert_chan_status(chan_free(ch), CHAN_EBUSY);
	assert_chan_status(chan_close(ch), CHAN_OK);
	assert_true(harness_thread_join_within(&t, harness_wait_ms()));
	chan_free_or_fail(ch);
}

static void test_null_channel_is_an_error_not_a_crash(void **state)
{
	(void)state;
	void *got = MSG(1);
	assert_chan_status(chan_send(NULL, MSG(1)), CHAN_EINVAL);
	assert_chan_status(chan_recv(NULL, &got), CHAN_EINVAL);
	assert_chan_status(chan_close(NULL), CHAN_EINVAL);
	assert_int_equal(chan_len(NULL), 0);
}

/*
 * A capacity whose buffer (cap pointers) would not fit in a size_t: the
 * multiplication wraps, and a buffer of a few bytes would be allocated for
 * a channel that thinks it has 2^61 slots. chan_new must see it coming.
 */
static void test_new_refuses_a_capacity_too_large_to_allocate(void **state)
{
	(void)state;
	const size_t too_large[] = {SIZE_MAX / sizeof(void *) + 1, SIZE_MAX};
	for (int i = 0; i < 2; i++) {
		errno = 0;
		struct chan *ch = chan_new(too_large[i]);
		if (ch != NULL)
			fail_msg("chan_new(%zu) returned a channel: its buffer of %zu pointers is more bytes than "
				 "a size_t holds (cap * sizeof(void *) wraps round); check cap > SIZE_MAX / "
				 "sizeof(void *) before allocating",
				 too_large[i], too_large[i]);
		if (errno != EINVAL)
			fail_msg("chan_new(%zu) returned NULL with errno %d (%s), expected EINVAL: a capacity "
				 "whose buffer size overflows is an invalid argument, checked before allocating",
				 too_large[i], errno, strerror(errno));
	}
}

/* Bytes the program has allocated and not freed (0 where the allocator
 * does not say, as under the sanitizers, whose leak check runs instead).
 * glibc counts a freed block it keeps in its per-thread cache (at most 7
 * of a size) as in use, so a measure is taken only after rounds that fill
 * that cache: from then on, a round that frees what it allocated leaves
 * the count where it was. */
static size_t bytes_in_use(void)
{
	return mallinfo2().uordblks;
}

/*
 * The largest capacity that passes the overflow check asks for 2^64 - 8
 * bytes of buffer, which no allocator gives: the allocation fails, after
 * chan_new has (most likely) already made the channel itself.
 */
static void test_new_that_cannot_allocate_leaks_nothing(void **state)
{
	(void)state;
	enum { WARM = 8, ROUNDS = 8 };
	size_t cap = SIZE_MAX / sizeof(void *);
	if (harness_under_valgrind()) {
		printf("note: valgrind's allocator aborts on a block this large; not tested here\n");
		return;
	}
	size_t before = 0;
	long conds = harness_conds_alive();
	for (int round = 0; round < WARM + ROUNDS; round++) {
		if (round == WARM)
			before = bytes_in_use();
		errno = 0;
		struct chan *ch = chan_new(cap);
		if (ch != NULL)
			fail_msg("chan_new(%zu) returned a channel, though its buffer cannot be allocated", cap);
		if (errno != ENOMEM)
			fail_msg("chan_new(%zu), whose buffer cannot be allocated, returned NULL with errno %d "
				 "(%s), expected ENOMEM (as the failed allocation left it)",
				 cap, errno, strerror(errno));
	}
	size_t after = bytes_in_use();
	if (after > before)
		fail_msg("chan_new(%zu) failed to allocate its buffer and returned NULL, %d times, and %zu "
			 "bytes it allocated are still in use: free the channel itself before returning NULL",
			 cap, ROUNDS, after - before);
	if (harness_conds_alive() != conds)
		fail_msg("chan_new(%zu) failed and returned NULL, but left %ld condition variable(s) "
			 "initialised: allocate everything first, then initialise (or destroy what you "
			 "initialised before returning)",
			 cap, harness_conds_alive() - conds);
}

/* Sends 1, 2, ... n on the channel, then closes it. */
struct numbers {
	struct chan *ch;
	uintptr_t n;
	enum chan_status status; /* of the first send that failed, or CHAN_OK */
};

static void *send_numbers(void *arg)
{
	struct numbers *nb = arg;
	nb->status = CHAN_OK;
	for (uintptr_t i = 1; i <= nb->n && nb->status == CHAN_OK; i++)
		nb->status = chan_send(nb->ch, MSG(i));
	chan_close(nb->ch);
	return NULL;
}

/*
 * An unbuffered channel (capacity 0) still passes each message through
 * one slot of its buffer: slots is 1 while cap is 0, and the ring's
 * indices are taken modulo slots. Lesson 02's reference makes each send
 * wait until its message is taken (linked while you work on lesson 01).
 */
static void test_unbuffered_channel_moves_messages_through_its_one_slot(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	if (chan_cap(ch) != 0 || chan_len(ch) != 0)
		fail_msg("a new unbuffered channel has cap %zu and len %zu, expected 0 and 0", chan_cap(ch),
			 chan_len(ch));
	struct numbers nb = {.ch = ch, .n = 100};
	struct harness_thread t;
	harness_on_hang("messages through an unbuffered channel (cap 0, one slot) stopped: is slots 1 when "
			"cap is 0, and do the waits test len against slots?");
	harness_thread_start(&t, send_numbers, &nb);
	for (uintptr_t want = 1; want <= nb.n; want++) {
		void *got = NULL;
		enum chan_status rc = chan_recv(ch, &got);
		if (rc != CHAN_OK || MSG_VALUE(got) != want)
			fail_msg("message %lu through an unbuffered channel: chan_recv returned %s with message "
				 "%lu: the ring's indices are modulo slots (1 here), not cap (0)",
				 (unsigned long)want, chan_status_str(rc), (unsigned long)MSG_VALUE(got));
		if (chan_len(ch) != 0)
			fail_msg("chan_len of an unbuffered channel is %zu, expected 0", chan_len(ch));
	}
	assert_true(harness_thread_join_within(&t, harness_wait_ms()));
	assert_chan_status(nb.status, CHAN_OK);
	chan_free_or_fail(ch);
}

/*
 * Deadlines are on CLOCK_MONOTONIC, and a condition variable times its
 * waits on the clock it was created with: chan_new must create both of
 * the channel's with chan_cond_init. The wait itself is lesson 02's
 * reference chan_cond_wait.
 */
static void test_timed_waits_last_until_their_deadline(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	expect_timed_waits_last_until_the_deadline(
	    ch, "does chan_new create not_empty and not_full with chan_cond_init (not pthread_cond_init "
		"with NULL, which uses the wall clock)?");
	chan_free_or_fail(ch);
}

/* ---- many threads ---------------------------------------------------------- */

/* Four producers send the numbers 1..total through one channel of
 * capacity cap to four consumers, with lesson 01's chan_send and chan_recv
 * (the engine of src/traffic.h, which lesson 01's program runs too). */
static void run_traffic(size_t cap, unsigned long long total)
{
	harness_on_hang("the producers and consumers stopped making progress: a lost wake-up? "
			"Check that every send signals not_empty and every receive signals not_full, "
			"and that each wait is in a while loop");
	struct traffic t = {.capacity = cap, .producers = 4, .consumers = 4, .messages = total, .batch = 1};
	expect_traffic_exactly_once(&t, "A thread woken from its wait must re-check its condition in a "
					"while loop, not carry on: a receive that runs when the buffer is "
					"empty (an `if` instead of a `while` around the wait) does this");
}

static void test_4x4_threads_move_a_million_messages_exactly_once(void **state)
{
	(void)state;
	run_traffic(64, (unsigned long long)harness_scale(1000000));
}

static void test_4x4_threads_through_one_slot_exactly_once(void **state)
{
	(void)state;
	/* Capacity 1 makes every operation contend: the case where a thread
	 * woken from its wait finds that another one got there first. */
	run_traffic(1, (unsigned long long)harness_scale(20000));
}

/*
 * Plays the thread that gets there first: with the channel's lock held, it
 * puts a message in the buffer as a send would, signals not_empty, and
 * takes the message back out, all before the woken receiver can run (it
 * needs the lock to return from its wait). Uses only the documented
 * fields of struct chan.
 */
static void send_and_steal(struct chan *ch, void *msg)
{
	pthread_mutex_lock(&ch->mu);
	ch->buf[(ch->head + ch->len) % ch->slots] = msg;
	ch->len++;
	ch->sent++;
	pthread_cond_signal(&ch->not_empty);
	ch->head = (ch->head + 1) % ch->slots;
	ch->len--;
	ch->taken++;
	pthread_mutex_unlock(&ch->mu);
}

/*
 * A receiver woken by a send can find the buffer empty again: another
 * thread took the message between the signal and the wake-up. Here that
 * happens every round, by construction (send_and_steal): the receiver is
 * woken for nothing, and must go back to waiting (and later see the close),
 * not return. A receiver that does not recheck returns as soon as it runs;
 * it is given a short bound to do so, scaled like the test's deadline.
 */
static void test_woken_receiver_rechecks_before_taking(void **state)
{
	(void)state;
	for (int round = 0; round < 5; round++) {
		struct chan *ch = chan_new_or_fail(1);
		struct op op = {.ch = ch};
		struct harness_thread t;
		harness_thread_start(&t, op_recv, &op);
		wait_for_receivers(ch, 1, "a receiver should be blocked on the empty channel");
		send_and_steal(ch, MSG(1));
		if (harness_thread_join_within(&t, harness_bound_ms(20)))
			fail_msg("round %d: the receiver was woken, but the message was taken by another thread "
				 "before it ran, and it returned %s (message %lu) instead of waiting on: wait in "
				 "a while loop, not an if",
				 round, chan_status_str(op.status), (unsigned long)MSG_VALUE(op.msg));
		harness_on_hang("a receiver woken for nothing, then the channel closed: does close "
				"broadcast not_empty?");
		assert_chan_status(chan_close(ch), CHAN_OK);
		assert_true(harness_thread_join_within(&t, harness_wait_ms()));
		if (op.status != CHAN_CLOSED)
			fail_msg("round %d: after a wake-up for nothing and then a close, the receiver returned "
				 "%s, expected CHAN_CLOSED",
				 round, chan_status_str(op.status));
		chan_free_or_fail(ch);
	}
}

/* chan_len may be called at any time, from any thread. The churning
 * thread returns non-NULL if a send or a receive failed: without that, the
 * test would pass with chan_send and chan_recv not written yet. */
static void *churn(void *arg)
{
	struct chan *ch = arg;
	void *msg;
	for (long i = 0; i < harness_scale(20000); i++)
		if (chan_send(ch, MSG(1)) != CHAN_OK || chan_recv(ch, &msg) != CHAN_OK)
			return arg;
	return NULL;
}

static void test_len_is_safe_to_call_during_traffic(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	pthread_t t;
	pthread_create(&t, NULL, churn, ch);
	size_t max_seen = 0;
	for (long i = 0; i < harness_scale(20000); i++) {
		size_t n = chan_len(ch);
		if (n > max_seen)
			max_seen = n;
	}
	void *failed = NULL;
	pthread_join(t, &failed);
	if (failed != NULL)
		fail_msg("chan_send or chan_recv failed on an open channel of capacity 2, one thread "
			 "sending and receiving in turn");
	if (max_seen > 2)
		fail_msg("chan_len returned %zu on a channel of capacity 2", max_seen);
	chan_free_or_fail(ch);
}

/* ---- a wait that may not wait: the _until operations ----------------------- */

/*
 * chan_send_until and chan_recv_until run your send_locked and recv_locked.
 * With a deadline that has already passed, chan_cond_wait answers ETIMEDOUT
 * at once, without releasing the mutex: a try. What the answer is then is
 * decided by your code, from the state of the buffer, and checked here.
 */

/* Receive with a deadline that has already passed, and check the answer. */
static void expect_recv_now(struct chan *ch, enum chan_status want, uintptr_t want_msg, const char *why)
{
	struct timespec past = deadline_now();
	void *got = MSG(99);
	enum chan_status rc = chan_recv_until(ch, &got, &past);
	if (rc != want)
		fail_msg("chan_recv_until with a past deadline on %s returned %s, expected %s", why,
			 chan_status_str(rc), chan_status_str(want));
	if (MSG_VALUE(got) != want_msg)
		fail_msg("chan_recv_until with a past deadline on %s set *msg to %lu, expected %lu%s", why,
			 (unsigned long)MSG_VALUE(got), (unsigned long)want_msg,
			 want_msg == 0 ? " (NULL, when nothing was received)" : "");
}

static void test_recv_until_a_past_deadline_takes_a_message_or_says_why_not(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	harness_on_hang("chan_recv_until with a deadline that has passed must not wait: "
			"does your loop stop once chan_cond_wait returns ETIMEDOUT?");
	expect_recv_now(ch, CHAN_TIMEOUT, 0, "an open, empty channel");
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	expect_recv_now(ch, CHAN_OK, 1,
			"a channel holding a message (look at the buffer before the deadline: a message "
			"there is yours)");
	assert_chan_status(chan_send(ch, MSG(2)), CHAN_OK);
	assert_chan_status(chan_close(ch), CHAN_OK);
	expect_recv_now(ch, CHAN_OK, 2,
			"a closed channel still holding a message (drain first: a message there is "
			"yours even after close)");
	expect_recv_now(ch, CHAN_CLOSED, 0,
			"a closed, empty channel (closed wins over the deadline when both are true, or a "
			"try_recv could never tell \"closed\" from \"nothing yet\")");
	chan_free_or_fail(ch);
}

/* Send with a deadline that has already passed, and check the answer. */
static void expect_send_now(struct chan *ch, uintptr_t msg, enum chan_status want, const char *why)
{
	struct timespec past = deadline_now();
	enum chan_status rc = chan_send_until(ch, MSG(msg), &past);
	if (rc != want)
		fail_msg("chan_send_until with a past deadline on %s returned %s, expected %s", why,
			 chan_status_str(rc), chan_status_str(want));
}

static void test_send_until_a_past_deadline_sends_if_there_is_room(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	harness_on_hang("chan_send_until with a deadline that has passed must not wait: "
			"does your loop stop once chan_cond_wait returns ETIMEDOUT?");
	expect_send_now(ch, 1, CHAN_OK, "a channel with room");
	expect_send_now(ch, 2, CHAN_TIMEOUT, "a full channel (still full after the loop means timed out)");
	if (chan_len(ch) != 1)
		fail_msg("after a send that timed out on a full channel of capacity 1, chan_len is %zu, "
			 "expected 1: a send that fails must not touch the buffer",
			 chan_len(ch));
	assert_chan_status(chan_close(ch), CHAN_OK);
	expect_send_now(ch, 3, CHAN_CLOSED,
			"a closed, full channel (after the loop, look at closed before the full buffer: "
			"a closed channel answers CHAN_CLOSED, not CHAN_TIMEOUT)");
	void *got = NULL;
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	expect_send_now(ch, 4, CHAN_CLOSED,
			"a closed channel with room (closed comes first: a closed channel refuses a "
			"message even when it has room)");
	assert_int_equal(chan_len(ch), 0);
	chan_free_or_fail(ch);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
		HTEST(test_new_channel_is_empty_with_its_capacity, L01 "#new-and-free"),
		HTEST(test_recv_returns_what_was_sent, L01 "#send-and-receive"),
		HTEST(test_messages_come_out_in_fifo_order, L01 "#the-ring-buffer"),
		HTEST(test_len_counts_buffered_messages, L01 "#len-and-cap"),
		HTEST(test_send_blocks_while_full, L01 "#send-and-receive"),
		HTEST(test_recv_blocks_while_empty, L01 "#send-and-receive"),
		HTEST(test_close_lets_receivers_drain_then_reports_closed, L01 "#close"),
		HTEST(test_send_on_closed_channel_returns_closed, L01 "#close"),
		HTEST(test_close_twice_returns_closed, L01 "#close"),
		HTEST(test_close_wakes_every_blocked_receiver, L01 "#close"),
		HTEST(test_close_wakes_every_blocked_sender, L01 "#close"),
		HTEST(test_free_refuses_while_a_thread_is_blocked, L01 "#new-and-free"),
		HTEST(test_new_refuses_a_capacity_too_large_to_allocate, L01 "#new-and-free"),
		HTEST(test_new_that_cannot_allocate_leaks_nothing, L01 "#new-and-free"),
		HTEST(test_unbuffered_channel_moves_messages_through_its_one_slot, L01 "#the-ring-buffer"),
		HTEST(test_timed_waits_last_until_their_deadline, L01 "#new-and-free"),
		HTEST(test_null_channel_is_an_error_not_a_crash, L01 "#5-build-it"),
		HTEST(test_4x4_threads_move_a_million_messages_exactly_once, L01 "#7-what-can-go-wrong"),
		HTEST(test_4x4_threads_through_one_slot_exactly_once, L01 "#7-what-can-go-wrong"),
		HTEST(test_woken_receiver_rechecks_before_taking, L01 "#7-what-can-go-wrong"),
		HTEST(test_len_is_safe_to_call_during_traffic, L01 "#len-and-cap"),
		HTEST(test_recv_until_a_past_deadline_takes_a_message_or_says_why_not, L01 "#send-and-receive"),
		HTEST(test_send_until_a_past_deadline_sends_if_there_is_room, L01 "#send-and-receive"),
	};
	return harness_main(argc, argv, "01-channel", tests, HARNESS_COUNT(tests));
}
