/*
 * Lesson 01: the bounded buffer, blocking send and receive, close.
 * Written against src/channel.h only.
 */
#include "chan_testing.h"
#include "clock.h"

#include "interpose.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L01 "lessons/01-channel/README.md"

/* What a receive that never returns on a closed, drained channel means. */
#define DRAINED_RECV_HANGS                                                                             \
	"a receive on a closed channel, after its last message, did not return: does the receive's "   \
	"wait loop check closed?"

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
					 "(head advances on recv, the next free slot is (head + len) %% slots)?",
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

/* chan_free refuses while the thread the caller saw parked is inside ch. */
static void expect_free_refused(struct chan *ch, const char *who)
{
	if (chan_free(ch) != CHAN_EBUSY)
		fail_msg("chan_free did not return CHAN_EBUSY while %s: it freed the channel under a "
			 "sleeping thread",
			 who);
}

/*
 * Starts recv (op_recv, or a receive with a deadline far ahead) on ch,
 * empty: it must sleep counted in recv_waiting (`why` says so otherwise),
 * chan_free must refuse meanwhile, and a send must wake it with message 7.
 */
static void expect_receive_parked_until_a_send(struct chan *ch, void *(*recv)(void *), const char *why)
{
	struct op op = {.ch = ch};
	struct harness_thread t;
	harness_thread_start(&t, recv, &op);
	wait_for_receivers(ch, 1, why);
	assert_false(harness_thread_done(&t));
	expect_free_refused(ch, "a receiver waits on the empty channel");

	harness_on_hang("a receiver blocked on an empty channel was not woken by a send: "
			"does chan_send signal not_empty?");
	assert_chan_status(chan_send(ch, MSG(7)), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the blocked receiver did not return after a send: does chan_send signal not_empty?");
	assert_chan_status(op.status, CHAN_OK);
	assert_int_equal(MSG_VALUE(op.msg), 7);
}

static void test_recv_blocks_while_empty(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	expect_receive_parked_until_a_send(
	    ch, op_recv, "a receive on an empty channel must wait (and count itself in recv_waiting)");
	chan_free_or_fail(ch);
}

/*
 * N receivers, each receiving once, sleep on an empty channel with room
 * for N messages; then N sends. Each message needs a receiver awake to
 * take it, so each send must wake one, whatever len was before it: the
 * thread it wakes may not have run yet when the next send comes (here it
 * never has: the woken are held until the N sends are done), so a send
 * that finds a message already buffered cannot conclude that nobody
 * sleeps. A send that signals only when the buffer was empty wakes one
 * receiver of N, and the others sleep next to their messages.
 */
static void test_every_send_wakes_a_receiver(void **state)
{
	(void)state;
	enum { N = 3 };
	struct chan *ch = chan_new_or_fail(4);
	struct op ops[N];
	struct harness_thread t[N];
	park_ops(ch, op_recv, ops, t, N, 99);
	hold_woken_waiters();
	for (uintptr_t i = 1; i <= N; i++)
		assert_chan_status(chan_send(ch, MSG(i)), CHAN_OK);
	release_woken_waiters();
	int blocked = threads_still_running(t, N);
	if (blocked > 0)
		fail_msg("%d of %d receivers still blocked after %d sends to a channel with room for them all, "
			 "%zu message(s) still buffered: does every send signal not_empty, not only one that "
			 "finds the buffer empty? A receiver woken by the first send may not have run yet",
			 blocked, N, N, chan_len(ch));
	uintptr_t sum = 0;
	for (int i = 0; i < N; i++) {
		assert_chan_status(ops[i].status, CHAN_OK);
		sum += MSG_VALUE(ops[i].msg);
	}
	assert_int_equal(sum, N * (N + 1) / 2);
	chan_free_or_fail(ch);
}

/* The mirror: N senders sleep on a full channel, then N receives. */
static void test_every_receive_wakes_a_sender(void **state)
{
	(void)state;
	enum { N = 3, CAP = 4 };
	struct chan *ch = chan_new_or_fail(CAP);
	for (uintptr_t i = 1; i <= CAP; i++)
		assert_chan_status(chan_send(ch, MSG(i)), CHAN_OK);
	struct op ops[N];
	struct harness_thread t[N];
	park_ops(ch, op_send, ops, t, N, CAP + 1);
	hold_woken_waiters();
	for (uintptr_t i = 1; i <= N; i++) {
		void *got = NULL;
		assert_chan_status(chan_recv(ch, &got), CHAN_OK);
		assert_int_equal(MSG_VALUE(got), i);
	}
	release_woken_waiters();
	int blocked = threads_still_running(t, N);
	if (blocked > 0)
		fail_msg("%d of %d senders still blocked after %d receives made room for them all, %zu of %d "
			 "slots full: does every receive signal not_full, not only one that finds the buffer "
			 "full? A sender woken by the first receive may not have run yet",
			 blocked, N, N, chan_len(ch), CAP);
	for (int i = 0; i < N; i++)
		assert_chan_status(ops[i].status, CHAN_OK);
	for (int i = 0; i < CAP; i++) {
		void *got = NULL;
		assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	}
	chan_free_or_fail(ch);
}

/* A receive that returned without a message set *msg to NULL. */
static void expect_nothing_received(void *got, const char *what)
{
	if (got != NULL)
		fail_msg("%s returned CHAN_CLOSED with *msg %lu, expected NULL: "
			 "a receive that takes no message sets *msg to NULL",
			 what, (unsigned long)MSG_VALUE(got));
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
	harness_on_hang(DRAINED_RECV_HANGS);
	assert_chan_status(chan_recv(ch, &got), CHAN_CLOSED);
	expect_nothing_received(got, "chan_recv on a closed, drained channel");
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
	park_ops(ch, op_recv, ops, t, N, 99);
	harness_on_hang("chan_recv did not return after chan_close: does close wake every waiter "
			"(broadcast, not signal)?");
	assert_chan_status(chan_close(ch), CHAN_OK);
	int blocked = threads_still_running(t, N);
	if (blocked > 0)
		fail_msg("%d of %d receivers still blocked after chan_close: does close broadcast not_empty, "
			 "and does the wait loop check closed?",
			 blocked, N);
	for (int i = 0; i < N; i++) {
		assert_chan_status(ops[i].status, CHAN_CLOSED);
		expect_nothing_received(ops[i].msg, "a chan_recv woken by chan_close on an empty channel");
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
	park_ops(ch, op_send, ops, t, N, 10);
	harness_on_hang("chan_send did not return after chan_close: a sender blocked on a full "
			"channel must wake up and get CHAN_CLOSED");
	assert_chan_status(chan_close(ch), CHAN_OK);
	int blocked = threads_still_running(t, N);
	if (blocked > 0)
		fail_msg("%d of %d senders still blocked after chan_close: does close broadcast not_full, "
			 "and does the send loop check closed?",
			 blocked, N);
	for (int i = 0; i < N; i++)
		assert_chan_status(ops[i].status, CHAN_CLOSED);
	/* The message sent before the close is still there, and only it. */
	harness_on_hang(DRAINED_RECV_HANGS);
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
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a receiver blocked on an empty channel did not return after chan_close: does close "
			 "broadcast not_empty, and does the receive's wait loop check closed?");
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

/*
 * Calls chan_new(cap), which must fail with errno `err` because of what
 * arm(arg) set up just before (`what` says what that is), rounds times,
 * and checks that nothing it made is left: neither bytes, nor a mutex or
 * condition variable still initialised.
 */
static void expect_failed_new_leaks_nothing(size_t cap, void (*arm)(long), long arg, int err, const char *what)
{
	enum { WARM = 8, ROUNDS = 8 };
	size_t before = 0;
	long conds = harness_conds_alive();
	long mutexes = harness_mutexes_alive();
	for (int round = 0; round < WARM + ROUNDS; round++) {
		if (round == WARM)
			before = harness_bytes_in_use();
		arm(arg);
		errno = 0;
		struct chan *ch = chan_new(cap);
		harness_allocations_restored();
		if (ch != NULL)
			fail_msg("chan_new(%zu) returned a channel, though %s", cap, what);
		if (errno != err)
			fail_msg("chan_new(%zu) returned NULL with errno %d (%s) when %s, expected %s (%s): "
				 "the error of the call that failed",
				 cap, errno, strerror(errno), what, err == ENOMEM ? "ENOMEM" : "EAGAIN",
				 strerror(err));
	}
	size_t after = harness_bytes_in_use();
	if (after > before)
		fail_msg("chan_new(%zu) returned NULL %d times when %s, and %zu bytes it allocated are still in "
			 "use: free what you allocated before returning NULL",
			 cap, ROUNDS, what, after - before);
	if (harness_mutexes_alive() != mutexes)
		fail_msg("chan_new(%zu) returned NULL when %s, but left its mutex initialised: destroy it "
			 "before you free the memory it lives in (or initialise it after the allocations)",
			 cap, what);
	if (harness_conds_alive() != conds)
		fail_msg("chan_new(%zu) returned NULL %d times when %s, but left %ld condition variable(s) "
			 "initialised in all (%ld a call): allocate and initialise what can fail first, the "
			 "condition variables last (or destroy what you initialised before returning)",
			 cap, WARM + ROUNDS, what, harness_conds_alive() - conds,
			 (harness_conds_alive() - conds) / (WARM + ROUNDS));
}

/*
 * Each allocation chan_new makes fails in turn (tests/harness/
 * interpose.h): granted = 0, 1, 2... allocations succeed and the next
 * fails, until chan_new makes no more than it was granted. Each failure
 * must be NULL with ENOMEM, and leave nothing behind.
 */
static void test_new_that_cannot_allocate_leaks_nothing(void **state)
{
	(void)state;
	enum { MOST = 16 };
	for (long granted = 0; granted < MOST; granted++) {
		harness_fail_allocations_after(granted);
		struct chan *ch = chan_new(4);
		long refused = harness_allocations_restored();
		if (refused == 0 && ch == NULL)
			fail_msg("chan_new(4) returned NULL (errno %d, %s) though none of its allocations failed",
				 errno, strerror(errno));
		if (refused == 0 && granted == 0)
			fail_msg("chan_new(4) made a channel while every malloc, calloc and realloc failed: "
				 "allocate the channel and its buffer with those, so that this test can see what "
				 "chan_new does when memory runs out");
		if (refused == 0) {
			assert_chan_status(chan_free(ch), CHAN_OK);
			return;
		}
		if (ch != NULL)
			fail_msg("chan_new(4) returned a channel though its allocation number %ld failed", granted + 1);
		char what[96];
		snprintf(what, sizeof(what), "its allocation number %ld failed (the %ld before it succeeded)",
			 granted + 1, granted);
		expect_failed_new_leaks_nothing(4, harness_fail_allocations_after, granted, ENOMEM, what);
	}
	fail_msg("chan_new(4) made more than %d allocations: it needs two (the channel and its buffer)", MOST);
}

static void fail_next_mutex_init(long err)
{
	harness_fail_next_mutex_init((int)err);
}

/*
 * POSIX lets pthread_mutex_init fail (EAGAIN, ENOMEM); Linux's does not with
 * default attributes, so the test programs make it fail (interpose.h).
 * A channel without its mutex must not be handed out.
 */
static void test_new_that_cannot_init_its_mutex_leaks_nothing(void **state)
{
	(void)state;
	expect_failed_new_leaks_nothing(4, fail_next_mutex_init, EAGAIN, EAGAIN,
					"pthread_mutex_init returned EAGAIN (check its result: it is the "
					"error number, and errno is not set)");
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
		if (chan_len(ch) != 0) {
			harness_see(L01 "#len-and-cap");
			fail_msg("chan_len of an unbuffered channel is %zu, expected 0: a message in its one "
				 "slot is being handed over, not buffered",
				 chan_len(ch));
		}
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

/* An hour: a deadline that never comes while the test runs. */
enum { FAR_MS = 60 * 60 * 1000 };

static void *op_recv_until_far(void *arg)
{
	struct op *op = arg;
	struct timespec far = deadline_after_ms(FAR_MS);
	op->status = chan_recv_until(op->ch, &op->msg, &far);
	return NULL;
}

static void *op_send_until_far(void *arg)
{
	struct op *op = arg;
	struct timespec far = deadline_after_ms(FAR_MS);
	op->status = chan_send_until(op->ch, op->msg, &far);
	return NULL;
}

#define TIMED_WAIT_UNCOUNTED                                                                            \
	"a wait with a deadline ahead sleeps on a condition variable like any other and must count "    \
	"itself, or chan_free cannot see it and destroys the condition variable under it"

/*
 * A receive and a send with a deadline an hour ahead sleep in the channel
 * as chan_recv and chan_send do: counted in recv_waiting or send_waiting,
 * so that chan_free refuses while they sleep.
 */
static void test_waits_with_a_deadline_ahead_count_themselves(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	expect_receive_parked_until_a_send(ch, op_recv_until_far,
					   "chan_recv_until with a deadline an hour ahead, on an empty channel: "
					   TIMED_WAIT_UNCOUNTED);

	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	struct op op = {.ch = ch, .msg = MSG(2)};
	struct harness_thread t;
	harness_thread_start(&t, op_send_until_far, &op);
	wait_for_senders(ch, 1, "chan_send_until with a deadline an hour ahead, on a full channel: "
			 TIMED_WAIT_UNCOUNTED);
	expect_free_refused(ch, "a chan_send_until waits on the full channel");
	const char *unwoken = "a sender in chan_send_until was not woken by a receive: does chan_recv signal "
			      "not_full?";
	harness_on_hang(unwoken);
	void *got = NULL;
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("%s", unwoken);
	assert_chan_status(op.status, CHAN_OK);
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 2);
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
			"that each wait is in a while loop, and that the receive's loop checks closed "
			"(the consumers stop only at the close)");
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
		assert_chan_status(chan_close(ch), CHAN_OK);
		if (!harness_thread_join_within(&t, harness_wait_ms()))
			fail_msg("round %d: a receiver woken for nothing, then the channel closed, did not "
				 "return: does close broadcast not_empty, and does the receive's wait loop "
				 "check closed?",
				 round);
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

/*
 * A wait with a deadline ahead can end with ETIMEDOUT just as the state
 * changed: the message (or the room, or the close) arrived while the
 * waiter was being woken by its clock. The wrapped chan_cond_wait makes
 * that happen at will (cut_short_next_wait): it lets go of the mutex,
 * lets `then` change the channel, and answers ETIMEDOUT. What the
 * operation returns must follow from the state it then finds, as after
 * any wait: ETIMEDOUT says why the wait ended, not what to return.
 */
static void send_five(void *arg)
{
	assert_chan_status(chan_send(arg, MSG(5)), CHAN_OK);
}

static void receive_one(void *arg)
{
	void *got = NULL;
	assert_chan_status(chan_recv(arg, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 1);
}

static void close_it(void *arg)
{
	assert_chan_status(chan_close(arg), CHAN_OK);
}

/* The next wait of ch ends with ETIMEDOUT after then(ch) has run. */
static void cut_short_by(void (*then)(void *), struct chan *ch)
{
	cut_short_next_wait(then, ch);
	harness_on_hang("a wait cut short by its deadline did not return: does the wait loop stop once "
			"chan_cond_wait returns ETIMEDOUT?");
}

/* Fails the test if the wait armed by cut_short_by never came. */
static void expect_waited(const char *op)
{
	if (cut_short_pending())
		fail_msg("%s returned without waiting (chan_cond_wait was never called): it can only go on "
			 "once the state lets it", op);
}

static void test_recv_cut_short_takes_what_arrived_as_the_wait_ended(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	struct timespec ahead = deadline_after_ms(harness_wait_ms());
	void *got = MSG(99);
	cut_short_by(send_five, ch);
	enum chan_status rc = chan_recv_until(ch, &got, &ahead);
	expect_waited("chan_recv_until on an empty channel");
	if (rc != CHAN_OK || MSG_VALUE(got) != 5)
		fail_msg("chan_recv_until whose wait ended with ETIMEDOUT as message 5 arrived returned %s "
			 "with message %lu, expected CHAN_OK with 5: after the wait, decide from the buffer, "
			 "not from why the wait ended (a message there is yours)",
			 chan_status_str(rc), (unsigned long)MSG_VALUE(got));
	got = MSG(99);
	cut_short_by(close_it, ch);
	rc = chan_recv_until(ch, &got, &ahead);
	expect_waited("chan_recv_until on an empty channel");
	if (rc != CHAN_CLOSED || got != NULL)
		fail_msg("chan_recv_until whose wait ended with ETIMEDOUT as the channel closed returned %s "
			 "with message %lu, expected CHAN_CLOSED with NULL: after the wait, an empty channel "
			 "that is closed says CHAN_CLOSED, deadline or not",
			 chan_status_str(rc), (unsigned long)MSG_VALUE(got));
	chan_free_or_fail(ch);
}

static void test_send_cut_short_uses_room_that_appeared_as_the_wait_ended(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	struct timespec ahead = deadline_after_ms(harness_wait_ms());
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	cut_short_by(receive_one, ch);
	enum chan_status rc = chan_send_until(ch, MSG(2), &ahead);
	expect_waited("chan_send_until on a full channel");
	if (rc != CHAN_OK)
		fail_msg("chan_send_until whose wait ended with ETIMEDOUT as a receive made room returned %s, "
			 "expected CHAN_OK: after the wait, decide from the buffer, not from why the wait "
			 "ended (room there is yours)",
			 chan_status_str(rc));
	cut_short_by(close_it, ch);
	rc = chan_send_until(ch, MSG(3), &ahead);
	expect_waited("chan_send_until on a full channel");
	if (rc != CHAN_CLOSED)
		fail_msg("chan_send_until whose wait ended with ETIMEDOUT as the channel closed returned %s, "
			 "expected CHAN_CLOSED: after the wait, a closed channel says CHAN_CLOSED, deadline "
			 "or not",
			 chan_status_str(rc));
	void *got = NULL;
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 2);
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
		HTEST(test_every_send_wakes_a_receiver, L01 "#send-and-receive"),
		HTEST(test_every_receive_wakes_a_sender, L01 "#send-and-receive"),
		HTEST(test_close_lets_receivers_drain_then_reports_closed, L01 "#close"),
		HTEST(test_send_on_closed_channel_returns_closed, L01 "#close"),
		HTEST(test_close_twice_returns_closed, L01 "#close"),
		HTEST(test_close_wakes_every_blocked_receiver, L01 "#close"),
		HTEST(test_close_wakes_every_blocked_sender, L01 "#close"),
		HTEST(test_free_refuses_while_a_thread_is_blocked, L01 "#new-and-free"),
		HTEST(test_new_refuses_a_capacity_too_large_to_allocate, L01 "#new-and-free"),
		HTEST(test_new_that_cannot_allocate_leaks_nothing, L01 "#new-and-free"),
		HTEST(test_new_that_cannot_init_its_mutex_leaks_nothing, L01 "#new-and-free"),
		HTEST(test_unbuffered_channel_moves_messages_through_its_one_slot, L01 "#the-ring-buffer"),
		HTEST(test_timed_waits_last_until_their_deadline, L01 "#new-and-free"),
		HTEST(test_waits_with_a_deadline_ahead_count_themselves, L01 "#send-and-receive"),
		HTEST(test_null_channel_is_an_error_not_a_crash, L01 "#5-build-it"),
		HTEST(test_4x4_threads_move_a_million_messages_exactly_once, L01 "#7-what-can-go-wrong"),
		HTEST(test_4x4_threads_through_one_slot_exactly_once, L01 "#7-what-can-go-wrong"),
		HTEST(test_woken_receiver_rechecks_before_taking, L01 "#7-what-can-go-wrong"),
		HTEST(test_len_is_safe_to_call_during_traffic, L01 "#len-and-cap"),
		HTEST(test_recv_until_a_past_deadline_takes_a_message_or_says_why_not, L01 "#send-and-receive"),
		HTEST(test_send_until_a_past_deadline_sends_if_there_is_room, L01 "#send-and-receive"),
		HTEST(test_recv_cut_short_takes_what_arrived_as_the_wait_ended, L01 "#send-and-receive"),
		HTEST(test_send_cut_short_uses_room_that_appeared_as_the_wait_ended, L01 "#send-and-receive"),
	};
	return harness_main(argc, argv, "01-channel", tests, HARNESS_COUNT(tests));
}
