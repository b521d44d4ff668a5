/*
 * Lesson 02: deadlines, the unbuffered rendezvous, try and timed
 * operations, select. Written against src/channel.h and src/clock.h only.
 *
 * A thread "parked" in the channel is observed through the documented
 * fields of struct chan, read under ch->mu: send_waiting and recv_waiting
 * for a blocked send or receive, watchers != NULL for a waiting select.
 * Each of those waits also stops as soon as the thread has returned, so
 * that an operation that should block but does not fails at once, with
 * the status it returned, instead of after a long wait.
 */
#include "chan_testing.h"
#include "clock.h"
#include "interpose.h"

#include <errno.h>
#include <stdlib.h>

#define L02 "lessons/02-select/README.md"

/* ---- helpers ------------------------------------------------------------- */

/* A thread that does one timed receive. */
static void *op_recv_timed(void *arg)
{
	struct op *op = arg;
	op->status = chan_recv_timed(op->ch, &op->msg, op->timeout_ms);
	return NULL;
}

/* Threads whose next wake-up, once they wait in the channel, holds until
 * harness_release_held: the test acts between that wake-up and the
 * thread's next look at the channel. */
static void *op_send_held(void *arg)
{
	struct op *op = arg;
	harness_hold_wake(pthread_self());
	op->status = chan_send(op->ch, op->msg);
	return NULL;
}

static void *op_send_timed_held(void *arg)
{
	struct op *op = arg;
	harness_hold_wake(pthread_self());
	op->status = chan_send_timed(op->ch, op->msg, op->timeout_ms);
	return NULL;
}

/* Starts fn (a send of op->msg on op->ch, unbuffered and without a
 * receiver) in t, and waits until it is parked waiting for its pickup. */
static void start_parked_sender(struct harness_thread *t, void *(*fn)(void *), struct op *op)
{
	harness_thread_start(t, fn, op);
	expect_parked(t, &op->ch, 1, PARKED_SENDING, &op->status,
		      "chan_send on an unbuffered channel with no receiver",
		      "it may return only once a receiver has taken the message: wait for the pickup in chan_after_send "
		      "until taken >= ticket");
}

/* ---- deadlines ------------------------------------------------------------- */

/*
 * A past deadline means "do not wait": ETIMEDOUT at once. The second half
 * is the control that makes "at once" mean something: with a deadline
 * still ahead the call must wait for it. (A chan_cond_wait that always
 * says ETIMEDOUT would pass the first half alone.)
 */
static void test_cond_wait_with_past_deadline_times_out_at_once(void **state)
{
	(void)state;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&mu, NULL);
	pthread_cond_init(&cv, &attr);
	pthread_condattr_destroy(&attr);

	pthread_mutex_lock(&mu);
	harness_on_hang("chan_cond_wait with a deadline in the past did not return: a deadline that has "
			"passed means \"do not wait\", return ETIMEDOUT at once (only NULL waits forever)");
	struct timespec long_ago = deadline_now();
	int rc = chan_cond_wait(&cv, &mu, &long_ago);
	if (rc != ETIMEDOUT)
		fail_msg(
		    "chan_cond_wait with the deadline deadline_now() returned %d, expected ETIMEDOUT (%d)",
		    rc, ETIMEDOUT);
	struct timespec just_now = clock_now();
	rc = chan_cond_wait(&cv, &mu, &just_now);
	if (rc != ETIMEDOUT)
		fail_msg("chan_cond_wait with the deadline clock_now() (just passed) returned %d, expected "
			 "ETIMEDOUT (%d)",
			 rc, ETIMEDOUT);

	harness_on_hang("chan_cond_wait with a deadline 50 ms ahead did not return: is the deadline "
			"given to pthread_cond_timedwait as is (absolute, CLOCK_MONOTONIC), and does it "
			"return ETIMEDOUT once that passes?");
	struct timespec start = clock_now();
	struct timespec ahead = deadline_after_ms(50);
	do
		rc = chan_cond_wait(&cv, &mu, &ahead); /* 0 is a spurious wake-up: wait again */
	while (rc == 0);
	double ms = ms_since(&start);
	pthread_mutex_unlock(&mu);
	if (rc != ETIMEDOUT)
		fail_msg("chan_cond_wait with a deadline 50 ms ahead returned %d, expected 0 or ETIMEDOUT",
			 rc);
	if (ms < 45.0)
		fail_msg("chan_cond_wait with a deadline 50 ms ahead returned ETIMEDOUT after %.1f ms: only "
			 "a deadline that has already passed means \"do not wait\"; one still ahead needs "
			 "pthread_cond_timedwait",
			 ms);
	pthread_cond_destroy(&cv);
	pthread_mutex_destroy(&mu);
}

/*
 * A deadline 50 ms ahead, on CLOCK_MONOTONIC. A condition variable left on
 * the default clock (the wall clock, since 1970) reads that deadline as
 * decades ago and times out at once; one on the monotonic clock waits.
 * Both of the channel's condition variables are checked: chan_new creates
 * them with your chan_cond_init.
 */
static void test_timed_waits_last_until_the_monotonic_deadline(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	expect_timed_waits_last_until_the_deadline(
	    ch, "does chan_cond_init call pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)? On the "
		"default clock a monotonic deadline is long past");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- the rendezvous -------------------------------------------------------- */

static void test_unbuffered_send_blocks_until_a_receiver_takes_it(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct op op = {.ch = ch, .msg = MSG(7)};
	struct harness_thread t;
	start_parked_sender(&t, op_send, &op);
	assert_false(harness_thread_done(&t));

	void *got = NULL;
	harness_on_hang("chan_recv on an unbuffered channel did not take the message a parked sender "
			"had put in the slot");
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 7);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg(
		    "the sender stayed blocked after a receiver took its message: does the pickup wait in chan_after_send "
		    "re-check taken >= ticket each time it wakes on not_full?");
	assert_chan_status(op.status, CHAN_OK);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_unbuffered_send_closed_before_pickup_is_not_delivered(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct op op = {.ch = ch, .msg = MSG(7)};
	struct harness_thread t;
	start_parked_sender(&t, op_send, &op);

	harness_on_hang("chan_close did not return while a sender waited for pickup");
	assert_chan_status(chan_close(ch), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg(
		    "a sender waiting for pickup stayed blocked after chan_close: the pickup wait in chan_after_send must "
		    "stop waiting when the channel closes");
	if (op.status != CHAN_CLOSED)
		fail_msg("a sender waiting for pickup got %s when the channel closed, expected CHAN_CLOSED: "
			 "nobody took the message, so the send failed",
			 chan_status_str(op.status));
	assert_slot_empty(ch, "a send that returned CHAN_CLOSED");
	void *got = MSG(99);
	enum chan_status rc = chan_recv(ch, &got);
	if (rc != CHAN_CLOSED)
		fail_msg(
		    "after a send returned CHAN_CLOSED, chan_recv returned %s (message %lu): a failed send "
		    "must not deliver; the pickup wait in chan_after_send must take the message back out of the slot",
		    chan_status_str(rc), (unsigned long)MSG_VALUE(got));
	assert_null(got);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/*
 * A receiver takes the message, and the channel closes before the sender,
 * woken by the take, looks again (its wake-up is held until then). The
 * send succeeded: taken >= ticket decides, whatever happened since.
 */
static void test_unbuffered_send_taken_then_closed_is_delivered(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct op op = {.ch = ch, .msg = MSG(7)};
	struct harness_thread t;
	start_parked_sender(&t, op_send_held, &op);

	void *got = NULL;
	harness_on_hang("chan_recv or chan_close did not return while a sender waited for its pickup");
	assert_chan_status(chan_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 7);
	assert_chan_status(chan_close(ch), CHAN_OK);
	harness_release_held();
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a sender whose message was taken stayed blocked after the channel closed: the pickup "
			 "wait in chan_after_send must stop once taken >= ticket");
	if (op.status != CHAN_OK)
		fail_msg("a receiver took the message, then the channel closed before the sender looked again, "
			 "and chan_send returned %s, expected CHAN_OK: the message was delivered. After the "
			 "pickup wait, ask whether it was taken (taken >= ticket) before asking whether the "
			 "channel closed: only a message nobody took is taken back",
			 chan_status_str(op.status));
	assert_slot_empty(ch, "a send whose message was taken");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_unbuffered_recv_blocks_until_a_sender_arrives(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct op op = {.ch = ch, .msg = MSG(99)};
	struct harness_thread t;
	harness_thread_start(&t, op_recv, &op);
	expect_parked(&t, &ch, 1, PARKED_RECEIVING, &op.status, "chan_recv on an empty unbuffered channel",
		      "chan_recv waits with no deadline (NULL), so chan_cond_wait must wait on the condition "
		      "variable (pthread_cond_wait), not return ETIMEDOUT");
	assert_false(harness_thread_done(&t));

	harness_on_hang("chan_send on an unbuffered channel with a receiver parked did not return: the "
			"receiver was woken (not_empty) but the sender never learnt its message was taken. "
			"Does the pickup wait in chan_after_send wait for taken >= ticket?");
	assert_chan_status(chan_send(ch, MSG(5)), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the parked receiver did not return after a send");
	assert_chan_status(op.status, CHAN_OK);
	assert_int_equal(MSG_VALUE(op.msg), 5);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* Unbuffered traffic: every send is a hand-over, so senders and receivers
 * contend on the one slot and on not_full's two kinds of waiters (the
 * engine of src/traffic.h, with lesson 01's chan_send and chan_recv). */
static void test_unbuffered_2x2_threads_exactly_once(void **state)
{
	(void)state;
	harness_on_hang("two senders and two receivers on an unbuffered channel stopped making progress: "
			"a sender whose message was taken was never told. After an unbuffered take, "
			"chan_after_recv must wake every sender on not_full (broadcast), not one; the "
			"pickup wait must re-check taken >= ticket in a while loop");
	long total = harness_scale(20000);
	unsigned long long n = total < 2 ? 2 : (unsigned long long)total;
	struct traffic t = {.capacity = 0, .producers = 2, .consumers = 2, .messages = n, .batch = 1};
	expect_traffic_exactly_once(&t, "A send must wait for pickup, a receive with no deadline must not "
					"time out, and a send must not return CHAN_OK before its own "
					"message (ticket) was taken");
}

/* ---- try and timed --------------------------------------------------------- */

static void test_try_recv_never_waits(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	void *got = MSG(99);
	harness_on_hang("chan_try_recv on an empty channel blocked: it must use a deadline that has "
			"already passed (deadline_now()), never NULL");
	assert_chan_status(chan_try_recv(ch, &got), CHAN_WOULDBLOCK);
	assert_chan_status(chan_send(ch, MSG(3)), CHAN_OK);
	assert_chan_status(chan_try_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 3);
	assert_int_equal(chan_len(ch), 0);
	assert_chan_status(chan_try_recv(ch, &got), CHAN_WOULDBLOCK);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_try_send_on_full_channel_would_block(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	harness_on_hang("chan_try_send on a full channel blocked: it must use a deadline that has "
			"already passed (deadline_now()), never NULL");
	enum chan_status rc = chan_try_send(ch, MSG(2));
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("chan_try_send on a full channel returned %s, expected CHAN_WOULDBLOCK (a try turns "
			 "the _until function's CHAN_TIMEOUT into CHAN_WOULDBLOCK)",
			 chan_status_str(rc));
	assert_int_equal(chan_len(ch), 1);
	void *got = NULL;
	assert_chan_status(chan_try_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 1);
	if (chan_try_recv(ch, &got) == CHAN_OK)
		fail_msg("the message of a try_send that returned CHAN_WOULDBLOCK was delivered (%lu)",
			 (unsigned long)MSG_VALUE(got));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_try_send_unbuffered_without_receiver_would_block(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	harness_on_hang("chan_try_send on an unbuffered channel with no receiver blocked: a try uses a "
			"deadline that has already passed, and the pickup wait in chan_after_send must honour it");
	enum chan_status rc = chan_try_send(ch, MSG(1));
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("chan_try_send on an unbuffered channel with no receiver waiting returned %s, "
			 "expected CHAN_WOULDBLOCK: nobody can take the message at once",
			 chan_status_str(rc));
	assert_slot_empty(ch, "a try_send that returned CHAN_WOULDBLOCK");
	void *got = NULL;
	rc = chan_try_recv(ch, &got);
	if (rc != CHAN_WOULDBLOCK)
		fail_msg(
		    "after a try_send returned CHAN_WOULDBLOCK, chan_try_recv returned %s (message %lu): "
		    "the failed try_send left its message in the slot",
		    chan_status_str(rc), (unsigned long)MSG_VALUE(got));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_try_send_unbuffered_hands_over_to_a_parked_receiver(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct op op = {.ch = ch, .msg = MSG(99)};
	struct harness_thread t;
	harness_thread_start(&t, op_recv, &op);
	expect_parked(&t, &ch, 1, PARKED_RECEIVING, &op.status, "chan_recv on an empty unbuffered channel",
		      "chan_recv waits with no deadline (NULL), so chan_cond_wait must wait on the condition "
		      "variable (pthread_cond_wait), not return ETIMEDOUT");

	harness_on_hang("chan_try_send to a parked receiver did not return: once a receiver is waiting "
			"the hand-over completes: chan_after_send waits for the pickup with no deadline (NULL) "
			"when recv_waiting is non-zero");
	enum chan_status rc = chan_try_send(ch, MSG(8));
	if (rc != CHAN_OK)
		fail_msg(
		    "chan_try_send on an unbuffered channel with a receiver blocked in chan_recv returned "
		    "%s, expected CHAN_OK: a waiting receiver can take the message at once",
		    chan_status_str(rc));
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the parked receiver did not return after a successful try_send");
	assert_chan_status(op.status, CHAN_OK);
	assert_int_equal(MSG_VALUE(op.msg), 8);
	assert_slot_empty(ch, "a completed hand-over");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_try_ops_on_closed_channel_report_closed(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(chan_close(ch), CHAN_OK);
	assert_chan_status(chan_try_send(ch, MSG(2)), CHAN_CLOSED);
	void *got = NULL;
	/* A closed channel is drained first. */
	assert_chan_status(chan_try_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 1);
	got = MSG(99);
	enum chan_status rc = chan_try_recv(ch, &got);
	if (rc != CHAN_CLOSED)
		fail_msg("chan_try_recv on a closed, drained channel returned %s, expected CHAN_CLOSED: pass "
			 "the _until function's answer through, only CHAN_TIMEOUT becomes CHAN_WOULDBLOCK",
			 chan_status_str(rc));
	assert_null(got);
	assert_chan_status(chan_free(ch), CHAN_OK);

	struct chan *unbuffered = chan_new_or_fail(0);
	assert_chan_status(chan_close(unbuffered), CHAN_OK);
	assert_chan_status(chan_try_send(unbuffered, MSG(3)), CHAN_CLOSED);
	assert_chan_status(chan_try_recv(unbuffered, &got), CHAN_CLOSED);
	assert_chan_status(chan_free(unbuffered), CHAN_OK);
}

/* Fails the test if the calling thread waited on a condition variable
 * since `before` (a harness_cond_waits() reading) while doing `what`. */
static void expect_no_wait(long before, const char *what)
{
	long waits = harness_cond_waits() - before;
	if (waits != 0)
		fail_msg("%s waited on a condition variable (%ld time(s)): a wait lets go of the channel's "
			 "mutex, so the try was not one critical section (an unbuffered try_send's message sat "
			 "in the slot, visible to other threads, while the lock was free). With a deadline "
			 "already passed, chan_cond_wait must return ETIMEDOUT without calling "
			 "pthread_cond_timedwait, which releases the mutex even then",
			 what, waits);
}

/*
 * A try is one critical section: check and act under the lock, never
 * letting go of it in between. The harness counts the condition-variable
 * waits this thread begins, and each of these tries must begin none: not
 * even a timed wait that returns at once, since glibc's releases the
 * mutex and takes it again.
 */
static void test_try_ops_never_release_the_lock(void **state)
{
	(void)state;
	struct chan *unbuffered = chan_new_or_fail(0);
	struct chan *one = chan_new_or_fail(1);
	void *got = NULL;
	harness_on_hang("a try operation blocked: it must use a deadline that has already passed "
			"(deadline_now()), never NULL");

	long before = harness_cond_waits();
	assert_chan_status(chan_try_send(unbuffered, MSG(1)), CHAN_WOULDBLOCK);
	expect_no_wait(before, "chan_try_send on an unbuffered channel with no receiver");
	assert_slot_empty(unbuffered, "a try_send that returned CHAN_WOULDBLOCK");

	before = harness_cond_waits();
	assert_chan_status(chan_try_recv(one, &got), CHAN_WOULDBLOCK);
	expect_no_wait(before, "chan_try_recv on an empty channel");

	assert_chan_status(chan_send(one, MSG(2)), CHAN_OK);
	before = harness_cond_waits();
	assert_chan_status(chan_try_send(one, MSG(3)), CHAN_WOULDBLOCK);
	expect_no_wait(before, "chan_try_send on a full channel");

	struct chan *chans[2] = {unbuffered, chan_new_or_fail(1)};
	size_t which = 99;
	struct timespec now = deadline_now();
	before = harness_cond_waits();
	assert_chan_status(chan_select(chans, 2, &which, &got, &now), CHAN_WOULDBLOCK);
	expect_no_wait(before, "chan_select with a past deadline over two empty channels");

	assert_chan_status(chan_free(chans[1]), CHAN_OK);
	assert_chan_status(chan_free(one), CHAN_OK);
	assert_chan_status(chan_free(unbuffered), CHAN_OK);
}

static void test_recv_timed_on_empty_times_out_not_before_the_timeout(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	void *got = MSG(99);
	harness_on_hang("a 50 ms chan_recv_timed did not return: is the deadline on CLOCK_MONOTONIC "
			"(deadline_after_ms), the clock the channel's condition variables use?");
	struct timespec start = clock_now();
	enum chan_status rc = chan_recv_timed(ch, &got, 50);
	double ms = ms_since(&start);
	if (rc != CHAN_TIMEOUT)
		fail_msg("chan_recv_timed(50 ms) on an empty channel returned %s, expected CHAN_TIMEOUT",
			 chan_status_str(rc));
	if (ms < 45.0)
		fail_msg(
		    "chan_recv_timed(50 ms) returned CHAN_TIMEOUT after %.1f ms: it must wait until the "
		    "deadline (deadline_after_ms(timeout_ms)), and chan_cond_wait must time out only once "
		    "that has passed",
		    ms);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_send_timed_on_full_times_out(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	harness_on_hang("a 50 ms chan_send_timed did not return: is the deadline on CLOCK_MONOTONIC "
			"(deadline_after_ms)?");
	struct timespec start = clock_now();
	enum chan_status rc = chan_send_timed(ch, MSG(2), 50);
	double ms = ms_since(&start);
	if (rc != CHAN_TIMEOUT)
		fail_msg("chan_send_timed(50 ms) on a full channel returned %s, expected CHAN_TIMEOUT",
			 chan_status_str(rc));
	if (ms < 45.0)
		fail_msg(
		    "chan_send_timed(50 ms) on a full channel returned CHAN_TIMEOUT after %.1f ms, before "
		    "its deadline",
		    ms);
	assert_int_equal(chan_len(ch), 1);
	void *got = NULL;
	assert_chan_status(chan_try_recv(ch, &got), CHAN_OK);
	assert_int_equal(MSG_VALUE(got), 1);
	assert_chan_status(chan_try_recv(ch, &got), CHAN_WOULDBLOCK);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_timed_returns_a_message_that_arrives_in_time(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	struct op op = {.ch = ch, .msg = MSG(99), .timeout_ms = harness_wait_ms()};
	struct harness_thread t;
	harness_thread_start(&t, op_recv_timed, &op);
	expect_parked(&t, &ch, 1, PARKED_RECEIVING, &op.status, "chan_recv_timed on an empty channel",
		      "with its deadline still ahead it must wait (pthread_cond_timedwait), not give up");

	harness_on_hang("chan_send did not return while a timed receiver waited");
	assert_chan_status(chan_send(ch, MSG(6)), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a receiver in chan_recv_timed was not woken by a send before its deadline");
	if (op.status != CHAN_OK)
		fail_msg("chan_recv_timed returned %s although a message arrived well before its deadline",
			 chan_status_str(op.status));
	assert_int_equal(MSG_VALUE(op.msg), 6);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_send_timed_unbuffered_times_out_and_takes_its_message_back(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	harness_on_hang("a 50 ms chan_send_timed on an unbuffered channel did not return: the pickup "
			"wait in chan_after_send must stop waiting at the deadline");
	struct timespec start = clock_now();
	enum chan_status rc = chan_send_timed(ch, MSG(1), 50);
	double ms = ms_since(&start);
	if (rc != CHAN_TIMEOUT)
		fail_msg("chan_send_timed(50 ms) on an unbuffered channel with no receiver returned %s, "
			 "expected CHAN_TIMEOUT",
			 chan_status_str(rc));
	if (ms < 45.0)
		fail_msg("chan_send_timed(50 ms) on an unbuffered channel returned after %.1f ms, before its "
			 "deadline",
			 ms);
	assert_slot_empty(ch, "a send_timed that returned CHAN_TIMEOUT");
	void *got = NULL;
	rc = chan_try_recv(ch, &got);
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("after a send_timed returned CHAN_TIMEOUT, chan_try_recv returned %s (message %lu): "
			 "the sender was told the send failed and still owns the message, so it must not be "
			 "delivered. The pickup wait in chan_after_send must withdraw it from the slot",
			 chan_status_str(rc), (unsigned long)MSG_VALUE(got));
	assert_int_equal(chan_len(ch), 0);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static int held_or_done(void *arg)
{
	return harness_wake_held() || harness_thread_done(arg);
}

/*
 * A timed send holds the slot, a second sender waits for room behind it.
 * The timed send times out (its wake-up held until the second sender is
 * parked) and takes its message back: the slot is free, so the second
 * sender must be woken to fill it, and a receive then gets its message.
 */
static void test_send_timed_taking_back_wakes_a_waiting_sender(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct op timed = {.ch = ch, .msg = MSG(1)};
	struct op behind = {.ch = ch, .msg = MSG(2)};
	struct harness_thread t1, t2;
	harness_on_hang("a chan_send_timed on an unbuffered channel did not return");
	/* The timed send must time out in a wait, its message in the slot. On
	 * a machine so slow that its deadline passes before it waits, it
	 * takes the message back at once: try again with a longer one. */
	for (timed.timeout_ms = 20;; timed.timeout_ms *= 4) {
		harness_thread_start(&t1, op_send_timed_held, &timed);
		if (!harness_wait_until(held_or_done, &t1))
			fail_msg("a %ld ms chan_send_timed on an unbuffered channel neither returned nor woke "
				 "from its wait: the pickup wait must stop at the deadline",
				 timed.timeout_ms);
		if (harness_wake_held())
			break;
		assert_true(harness_thread_join_within(&t1, harness_wait_ms()));
		assert_chan_status(timed.status, CHAN_TIMEOUT);
		if (timed.timeout_ms > harness_wait_ms())
			fail_msg("a %ld ms chan_send_timed on an unbuffered channel returned CHAN_TIMEOUT "
				 "without waiting on a condition variable",
				 timed.timeout_ms);
	}
	harness_thread_start(&t2, op_send, &behind);
	wait_for_senders(ch, 2, "a second chan_send waits for room while the first message fills the slot");
	harness_release_held();
	if (!harness_thread_join_within(&t1, harness_wait_ms()))
		fail_msg("a chan_send_timed on an unbuffered channel did not return after its deadline: the "
			 "pickup wait must stop at the deadline");
	assert_chan_status(timed.status, CHAN_TIMEOUT);

	void *got = NULL;
	enum chan_status rc = chan_recv_timed(ch, &got, harness_wait_ms());
	if (rc != CHAN_OK)
		fail_msg("a timed send took its message back while a second sender waited for the slot; a "
			 "receive then returned %s after %ld ms, expected the second sender's message: the "
			 "take-back freed the slot but nobody told the senders waiting for room (broadcast "
			 "not_full when you take a message back)",
			 chan_status_str(rc), harness_wait_ms());
	assert_int_equal(MSG_VALUE(got), 2);
	if (!harness_thread_join_within(&t2, harness_wait_ms()))
		fail_msg("the second sender stayed blocked after its message was taken");
	assert_chan_status(behind.status, CHAN_OK);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- select ---------------------------------------------------------------- */

static void test_select_returns_the_ready_channel(void **state)
{
	(void)state;
	struct chan *chans[3];
	for (int i = 0; i < 3; i++)
		chans[i] = chan_new_or_fail(1);
	/* Each channel in turn is the only ready one: "always index 0" fails. */
	for (size_t ready = 0; ready < 3; ready++) {
		assert_chan_status(chan_send(chans[ready], MSG(40 + ready)), CHAN_OK);
		size_t which = 99;
		void *got = NULL;
		harness_on_hang("chan_select blocked although one of its channels had a message: it must "
				"try every channel (chan_try_recv) before it sleeps");
		enum chan_status rc = chan_select(chans, 3, &which, &got, NULL);
		if (rc != CHAN_OK)
			fail_msg(
			    "chan_select over three channels, channel %zu holding a message, returned %s, "
			    "expected CHAN_OK",
			    ready, chan_status_str(rc));
		if (which != ready)
			fail_msg("chan_select returned index %zu, but only channel %zu had a message", which,
				 ready);
		assert_int_equal(MSG_VALUE(got), 40 + ready);
		for (int i = 0; i < 3; i++)
			assert_int_equal(chan_len(chans[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		assert_chan_status(chan_free(chans[i]), CHAN_OK);
}

static void test_select_blocks_until_a_channel_gets_a_message(void **state)
{
	(void)state;
	struct select_op s = {.n = 3};
	for (int i = 0; i < 3; i++)
		s.chans[i] = chan_new_or_fail(1);
	struct harness_thread t;
	start_parked_select(&s, &t);
	assert_false(harness_thread_done(&t));

	harness_on_hang("chan_send did not return while a select was parked");
	assert_chan_status(chan_send(s.chans[2], MSG(7)), CHAN_OK);
	harness_on_hang("a parked select did not wake when one of its channels got a message");
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a select parked on three channels did not wake when channel 2 got a message: does "
			 "chan_wake_watchers set fired and signal each waiter, and does the select sleep "
			 "only while !fired?");
	assert_chan_status(s.status, CHAN_OK);
	assert_int_equal(s.which, 2);
	assert_int_equal(MSG_VALUE(s.msg), 7);
	assert_no_watcher_linked(s.chans, 3);
	for (int i = 0; i < 3; i++)
		assert_chan_status(chan_free(s.chans[i]), CHAN_OK);
}

static void test_select_reports_a_closed_channel_and_its_index(void **state)
{
	(void)state;
	struct chan *chans[3];
	for (int i = 0; i < 3; i++)
		chans[i] = chan_new_or_fail(1);
	assert_chan_status(chan_close(chans[1]), CHAN_OK);
	size_t which = 99;
	void *got = MSG(99);
	harness_on_hang("chan_select blocked although one of its channels was closed: a closed channel is "
			"ready (chan_try_recv answers CHAN_CLOSED, which is not CHAN_WOULDBLOCK)");
	enum chan_status rc = chan_select(chans, 3, &which, &got, NULL);
	if (rc != CHAN_CLOSED)
		fail_msg("chan_select over a closed channel and two empty ones returned %s, expected "
			 "CHAN_CLOSED",
			 chan_status_str(rc));
	assert_int_equal(which, 1);
	assert_null(got);

	/* A closed channel with a message left answers the message first. */
	assert_chan_status(chan_send(chans[2], MSG(5)), CHAN_OK);
	assert_chan_status(chan_close(chans[2]), CHAN_OK);
	struct chan *only2[3] = {NULL, NULL, chans[2]};
	assert_chan_status(chan_select(only2, 3, &which, &got, NULL), CHAN_OK);
	assert_int_equal(which, 2);
	assert_int_equal(MSG_VALUE(got), 5);
	got = MSG(99);
	assert_chan_status(chan_select(only2, 3, &which, &got, NULL), CHAN_CLOSED);
	assert_int_equal(which, 2);
	assert_null(got);
	for (int i = 0; i < 3; i++)
		assert_chan_status(chan_free(chans[i]), CHAN_OK);
}

static void test_select_skips_null_entries_and_rejects_no_channels(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(1);
	assert_chan_status(chan_send(ch, MSG(4)), CHAN_OK);
	struct chan *chans[3] = {NULL, ch, NULL};
	size_t which = 99;
	void *got = NULL;
	harness_on_hang("chan_select with NULL entries blocked although its one channel had a message");
	assert_chan_status(chan_select(chans, 3, &which, &got, NULL), CHAN_OK);
	assert_int_equal(which, 1);
	assert_int_equal(MSG_VALUE(got), 4);
	/* A NULL entry is never ready, and never touched. */
	struct timespec now = deadline_now();
	assert_chan_status(chan_select(chans, 3, &which, &got, &now), CHAN_WOULDBLOCK);

	struct chan *none[3] = {NULL, NULL, NULL};
	enum chan_status rc = chan_select(none, 3, &which, &got, NULL);
	if (rc != CHAN_EINVAL)
		fail_msg("chan_select with every entry NULL returned %s, expected CHAN_EINVAL: nothing could "
			 "ever be ready, so a wait would last forever",
			 chan_status_str(rc));
	rc = chan_select(chans, 0, &which, &got, NULL);
	if (rc != CHAN_EINVAL)
		fail_msg("chan_select with n == 0 returned %s, expected CHAN_EINVAL", chan_status_str(rc));
	struct chan *too_many[CHAN_SELECT_MAX + 1] = {NULL};
	too_many[0] = ch;
	rc = chan_select(too_many, CHAN_SELECT_MAX + 1, &which, &got, NULL);
	if (rc != CHAN_EINVAL)
		fail_msg("chan_select with n == CHAN_SELECT_MAX + 1 returned %s, expected CHAN_EINVAL",
			 chan_status_str(rc));
	/* The most it may be given is CHAN_SELECT_MAX, the last one ready. */
	too_many[0] = NULL;
	too_many[CHAN_SELECT_MAX - 1] = ch;
	assert_chan_status(chan_send(ch, MSG(6)), CHAN_OK);
	rc = chan_select(too_many, CHAN_SELECT_MAX, &which, &got, NULL);
	if (rc != CHAN_OK || which != CHAN_SELECT_MAX - 1)
		fail_msg("chan_select with n == CHAN_SELECT_MAX (%d), its last entry holding a message, returned "
			 "%s with which %zu, expected CHAN_OK with which %d: CHAN_SELECT_MAX entries are allowed",
			 CHAN_SELECT_MAX, chan_status_str(rc), which, CHAN_SELECT_MAX - 1);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_select_with_a_deadline_would_block_or_times_out(void **state)
{
	(void)state;
	struct chan *chans[2] = {chan_new_or_fail(1), chan_new_or_fail(0)};
	size_t which = 99;
	void *got = NULL;
	harness_on_hang("chan_select with a past deadline blocked: it is the \"default:\" case and must "
			"return CHAN_WOULDBLOCK at once");
	struct timespec now = deadline_now();
	enum chan_status rc = chan_select(chans, 2, &which, &got, &now);
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("chan_select with a past deadline and nothing ready returned %s, expected "
			 "CHAN_WOULDBLOCK (the \"default:\" case; CHAN_TIMEOUT is for a deadline that was "
			 "still ahead when the select began)",
			 chan_status_str(rc));

	harness_on_hang("chan_select with a 50 ms deadline did not return: is the waiter's condition "
			"variable on CLOCK_MONOTONIC, like the deadline?");
	struct timespec start = clock_now();
	struct timespec soon = deadline_after_ms(50);
	rc = chan_select(chans, 2, &which, &got, &soon);
	double ms = ms_since(&start);
	if (rc != CHAN_TIMEOUT)
		fail_msg(
		    "chan_select with a 50 ms deadline and nothing ready returned %s, expected CHAN_TIMEOUT",
		    chan_status_str(rc));
	if (ms < 45.0)
		fail_msg("chan_select with a 50 ms deadline returned CHAN_TIMEOUT after %.1f ms, before its "
			 "deadline",
			 ms);
	/* A past deadline still takes what is ready: look first, then at the clock. */
	assert_chan_status(chan_send(chans[0], MSG(5)), CHAN_OK);
	now = deadline_now();
	rc = chan_select(chans, 2, &which, &got, &now);
	if (rc != CHAN_OK || which != 0 || MSG_VALUE(got) != 5)
		fail_msg("chan_select with a past deadline and a message waiting in channel 0 returned %s "
			 "(which %zu): a try takes what is ready, CHAN_WOULDBLOCK only when nothing is; poll "
			 "the channels before looking at the deadline",
			 chan_status_str(rc), which);
	assert_chan_status(chan_close(chans[0]), CHAN_OK);
	now = deadline_now();
	rc = chan_select(chans, 2, &which, &got, &now);
	if (rc != CHAN_CLOSED || which != 0)
		fail_msg("chan_select with a past deadline and channel 0 closed returned %s (which %zu), "
			 "expected CHAN_CLOSED with which 0: a closed channel is ready",
			 chan_status_str(rc), which);
	for (int i = 0; i < 2; i++)
		assert_chan_status(chan_free(chans[i]), CHAN_OK);
}

/*
 * Both channels are ready for all 1000 selects. If each select picks one
 * uniformly at random, the count for channel 0 is Binomial(1000, 1/2):
 * mean 500, standard deviation sqrt(1000 / 4) = 15.8. The window 350..650
 * is 150 either side, about 9.5 standard deviations: a fair select falls
 * outside it with a probability below 1e-20, so this test is not flaky. A
 * select that always takes the first ready channel in a fixed order
 * scores 1000 to 0 and fails it; so does a shuffle done once, not per call.
 */
static void test_select_is_fair_between_ready_channels(void **state)
{
	(void)state;
	enum { PER_CHANNEL = 1000, SELECTS = 1000 };
	struct chan *chans[2];
	for (int c = 0; c < 2; c++) {
		chans[c] = chan_new_or_fail(PER_CHANNEL);
		for (int i = 0; i < PER_CHANNEL; i++)
			assert_chan_status(chan_send(chans[c], MSG(c + 1)), CHAN_OK);
	}
	long chosen[2] = {0, 0};
	harness_on_hang("chan_select blocked although both of its channels had messages");
	for (int k = 0; k < SELECTS; k++) {
		size_t which = 99;
		void *got = NULL;
		enum chan_status rc = chan_select(chans, 2, &which, &got, NULL);
		if (rc != CHAN_OK)
			fail_msg("select %d of %d returned %s, expected CHAN_OK: both channels still have "
				 "messages",
				 k + 1, SELECTS, chan_status_str(rc));
		if (which > 1 || MSG_VALUE(got) != which + 1)
			fail_msg("select %d returned index %zu with a message from channel %lu", k + 1, which,
				 (unsigned long)MSG_VALUE(got) - 1);
		chosen[which]++;
	}
	print_message("channel 0 chosen %ld times, channel 1 %ld times\n", chosen[0], chosen[1]);
	int rare = chosen[0] < chosen[1] ? 0 : 1;
	if (chosen[rare] == 0)
		fail_msg("with both channels always ready, all %d selects chose channel %d: whatever the "
			 "order your select polls in, channel %d always comes first. Shuffle at every call, "
			 "with every order possible (Fisher-Yates draws j from 0 to i, both included)",
			 SELECTS, 1 - rare, 1 - rare);
	if (chosen[rare] < 350)
		fail_msg("with both channels always ready, %d selects chose channel %d only %ld times (a fair "
			 "select gives each about 500): the poll order is shuffled, but not uniformly",
			 SELECTS, rare, chosen[rare]);
	for (int c = 0; c < 2; c++)
		assert_chan_status(chan_free(chans[c]), CHAN_OK);
}

/*
 * Two of the three ways out of a select that finds a message (the third,
 * asleep until a send wakes it, is the test above): its first poll finds
 * it, or its poll after registering does. The second is the easiest to
 * leave with the watchers still linked, so the test makes it happen: right after the select's thread
 * unlocks channel 0 with its watcher linked there (the end of its
 * registration on channel 0), that thread sends on channel 0 itself, before
 * its next poll. Whatever the path, every watcher must be unlinked before
 * chan_select returns: it lives on the select's stack.
 */
struct send_when_watched {
	struct chan *ch;
	void *msg;
	int sent; /* 1 once msg went into ch */
};

static void send_once_watched(void *arg)
{
	struct send_when_watched *w = arg;
	if (w->sent)
		return;
	pthread_mutex_lock(&w->ch->mu);
	int linked = w->ch->watchers != NULL;
	pthread_mutex_unlock(&w->ch->mu);
	if (linked)
		w->sent = chan_send(w->ch, w->msg) == CHAN_OK;
}

/* A select on chans[0..1] that must return message `want` from channel 0,
 * and leave no watcher behind. */
static void expect_selected_from_0(struct chan *chans[2], uintptr_t want, const char *path)
{
	size_t which = 99;
	void *got = NULL;
	enum chan_status rc = chan_select(chans, 2, &which, &got, NULL);
	if (rc != CHAN_OK || which != 0 || MSG_VALUE(got) != want)
		fail_msg("a select that %s returned %s, index %zu, message %lu; expected CHAN_OK, index 0, "
			 "message %lu",
			 path, chan_status_str(rc), which, (unsigned long)MSG_VALUE(got), (unsigned long)want);
	assert_no_watcher_linked(chans, 2);
}

static void test_select_unlinks_its_watchers_on_every_path(void **state)
{
	(void)state;
	struct chan *chans[2] = {chan_new_or_fail(1), chan_new_or_fail(1)};
	harness_on_hang("a select on two channels did not return after a message arrived on channel 0");

	assert_chan_status(chan_send(chans[0], MSG(1)), CHAN_OK);
	expect_selected_from_0(chans, 1, "found a message at its first poll");

	struct send_when_watched w = {.ch = chans[0], .msg = MSG(2)};
	harness_after_unlock(&chans[0]->mu, send_once_watched, &w);
	expect_selected_from_0(chans, 2, "registered on channel 0, and then a message arrived there,");
	harness_after_unlock(NULL, NULL, NULL);
	if (!w.sent)
		fail_msg("chan_select never unlocked channel 0 with a watcher linked there: register on every "
			 "channel (link a watcher into its watchers list under its lock) before you sleep");

	for (int c = 0; c < 2; c++)
		chan_free_or_fail(chans[c]);
}

/*
 * Several threads select at once, each on its own two closed channels
 * (always ready), so that nothing but the select's own code is shared
 * between them. Under SANITIZE=thread a random number generator shared
 * by all threads (a plain static state) is a data race reported here.
 */
enum { SELECTING_THREADS = 4 };

struct lone_selector {
	pthread_barrier_t *start;
	struct chan *chans[2]; /* closed */
	long chosen[2];
	int failed; /* 1 after a select that did not return CHAN_CLOSED, 0 or 1 */
	enum chan_status rc;
	size_t which;
};

static void *select_on_closed(void *arg)
{
	struct lone_selector *s = arg;
	pthread_barrier_wait(s->start);
	for (int k = 0; k < 500 && !s->failed; k++) {
		void *got = NULL;
		s->which = 99;
		s->rc = chan_select(s->chans, 2, &s->which, &got, NULL);
		if (s->rc != CHAN_CLOSED || s->which > 1)
			s->failed = 1;
		else
			s->chosen[s->which]++;
	}
	return NULL;
}

static void test_selects_in_several_threads_at_once(void **state)
{
	(void)state;
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, SELECTING_THREADS);
	struct lone_selector sel[SELECTING_THREADS] = {0};
	struct harness_thread t[SELECTING_THREADS];
	harness_on_hang("a select on two closed channels blocked");
	for (int i = 0; i < SELECTING_THREADS; i++) {
		sel[i].start = &start;
		for (int c = 0; c < 2; c++) {
			sel[i].chans[c] = chan_new_or_fail(1);
			assert_chan_status(chan_close(sel[i].chans[c]), CHAN_OK);
		}
		harness_thread_start(&t[i], select_on_closed, &sel[i]);
	}
	for (int i = 0; i < SELECTING_THREADS; i++)
		if (!harness_thread_join_within(&t[i], harness_wait_ms()))
			fail_msg("thread %d's 500 selects on two closed channels did not end", i);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < SELECTING_THREADS; i++) {
		if (sel[i].failed)
			fail_msg("in thread %d, a select on two closed channels returned %s with index %zu, "
				 "expected CHAN_CLOSED with index 0 or 1",
				 i, chan_status_str(sel[i].rc), sel[i].which);
		if (sel[i].chosen[0] == 0 || sel[i].chosen[1] == 0)
			fail_msg("in thread %d, 500 selects on two closed channels chose channel 0 %ld times and "
				 "channel 1 %ld times: each thread's selects must be fair on their own",
				 i, sel[i].chosen[0], sel[i].chosen[1]);
		for (int c = 0; c < 2; c++)
			chan_free_or_fail(sel[i].chans[c]);
	}
}

struct fan_producer {
	struct chan *ch;
	long base; /* sends base + 1 .. base + count */
	long count;
	enum chan_status failed; /* CHAN_OK, or what a send returned */
};

static void *fan_produce(void *arg)
{
	struct fan_producer *p = arg;
	p->failed = CHAN_OK;
	for (long i = 1; i <= p->count; i++) {
		enum chan_status rc = chan_send(p->ch, MSG(p->base + i));
		if (rc != CHAN_OK) {
			p->failed = rc;
			break;
		}
	}
	chan_close(p->ch);
	return NULL;
}

static void test_select_fan_in_from_three_producers_exactly_once(void **state)
{
	(void)state;
	enum { N = 3 };
	long per = harness_scale(10000);
	long total = per * N;
	unsigned char *seen = calloc((size_t)total + 1, 1);
	assert_non_null(seen);
	struct chan *orig[N], *chans[N];
	struct fan_producer prod[N];
	pthread_t tid[N];
	for (int i = 0; i < N; i++) {
		orig[i] = chans[i] = chan_new_or_fail(16);
		prod[i] = (struct fan_producer){.ch = orig[i], .base = i * per, .count = per};
	}
	harness_on_hang("a select loop over three producers' channels stopped making progress: a lost "
			"wake-up? Register on every channel, poll once more, and only then sleep until "
			"fired");
	for (int i = 0; i < N; i++)
		pthread_create(&tid[i], NULL, fan_produce, &prod[i]);

	long received = 0, garbage = 0, last[N] = {0, 0, 0};
	int open = N;
	int stopped = 0; /* 1 after an answer no correct select gives */
	enum chan_status bad_rc = CHAN_OK;
	size_t bad_which = 0;
	while (open > 0) {
		size_t which = 99;
		void *msg = NULL;
		enum chan_status rc = chan_select(chans, N, &which, &msg, NULL);
		if (rc == CHAN_CLOSED && which < N && chans[which] != NULL) {
			chans[which] = NULL; /* switch the case off, as with a nil channel in Go */
			open--;
		} else if (rc == CHAN_OK && which < N && chans[which] != NULL) {
			long v = (long)MSG_VALUE(msg);
			if (v <= (long)which * per || v > ((long)which + 1) * per || v <= last[which]) {
				garbage++;
				continue;
			}
			last[which] = v;
			seen[v]++;
			received++;
		} else {
			stopped = 1;
			bad_rc = rc;
			bad_which = which;
			break;
		}
	}
	if (stopped) /* let blocked producers go before joining them */
		for (int i = 0; i < N; i++)
			chan_close(orig[i]);
	for (int i = 0; i < N; i++)
		pthread_join(tid[i], NULL);
	if (stopped)
		fail_msg("in a select loop over three producers, after %ld messages, chan_select returned %s "
			 "with index %zu: expected CHAN_OK or CHAN_CLOSED, from an index below 3 whose entry "
			 "is not NULL (a NULL entry is never ready)",
			 received, chan_status_str(bad_rc), bad_which);
	for (int i = 0; i < N; i++)
		if (prod[i].failed != CHAN_OK)
			fail_msg("producer %d's chan_send returned %s", i, chan_status_str(prod[i].failed));
	long missing = 0, doubled = 0;
	for (long v = 1; v <= total; v++) {
		missing += seen[v] == 0;
		doubled += seen[v] > 1;
	}
	if (missing || doubled || garbage || received != total)
		fail_msg(
		    "%ld messages sent on three channels, %ld received by select: %ld never arrived, %ld "
		    "twice or more, %ld garbage, out of order or under the wrong index. A channel "
		    "reported CHAN_CLOSED while messages were still buffered loses them: closed means "
		    "closed and drained, decided under the channel's lock",
		    total, received, missing, doubled, garbage);
	free(seen);
	for (int i = 0; i < N; i++)
		assert_chan_status(chan_free(orig[i]), CHAN_OK);
}

static void test_select_wakes_when_a_channel_closes(void **state)
{
	(void)state;
	struct select_op s = {.n = 3, .msg = MSG(99)};
	for (int i = 0; i < 3; i++)
		s.chans[i] = chan_new_or_fail(1);
	struct harness_thread t;
	start_parked_select(&s, &t);

	harness_on_hang("chan_close did not return while a select was parked");
	assert_chan_status(chan_close(s.chans[0]), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a select parked on three channels did not wake when channel 0 closed: close calls "
			 "chan_wake_watchers too, and the select must try again after every wake-up");
	if (s.status != CHAN_CLOSED)
		fail_msg("a select woken by a close returned %s, expected CHAN_CLOSED",
			 chan_status_str(s.status));
	assert_int_equal(s.which, 0);
	assert_null(s.msg);
	for (int i = 0; i < 3; i++)
		assert_chan_status(chan_free(s.chans[i]), CHAN_OK);
}

/* One of two selects racing for one message on one channel. */
struct racer {
	struct chan *ch;
	struct timespec deadline;
	enum chan_status status;
	void *msg;
	double cpu_s;             /* the CPU this thread used inside chan_select */
	long locks;               /* the mutexes it locked there */
	struct harness_thread t;
};

static void *race_select(void *arg)
{
	struct racer *r = arg;
	struct chan *chans[1] = {r->ch};
	size_t which = 99;
	long locks_before = harness_mutex_locks();
	double before = harness_thread_cpu_seconds();
	r->status = chan_select(chans, 1, &which, &r->msg, &r->deadline);
	r->cpu_s = harness_thread_cpu_seconds() - before;
	r->locks = harness_mutex_locks() - locks_before;
	return NULL;
}

struct race {
	struct chan *ch;
	struct racer r[2];
};

/* Both selects asleep, listed on the channel; or one has returned. */
static int both_asleep_or_one_returned(void *arg)
{
	struct race *race = arg;
	if (harness_thread_done(&race->r[0].t) || harness_thread_done(&race->r[1].t))
		return 1;
	pthread_mutex_lock(&race->ch->mu);
	int watched = race->ch->watchers != NULL;
	pthread_mutex_unlock(&race->ch->mu);
	return watched && harness_threads_in_cond_wait() >= 2;
}

/*
 * Starts two selects on race->ch with a deadline window_ms ahead and waits
 * until both sleep. Returns 1 then, with window_ms / 2 or more still to
 * go; 0 if the machine was too slow for that (both selects have returned,
 * timed out). Fails the test if a select returned anything else.
 */
static int start_two_sleeping_selects(struct race *race, long window_ms)
{
	struct timespec deadline = deadline_after_ms(window_ms);
	for (int i = 0; i < 2; i++) {
		race->r[i] = (struct racer){.ch = race->ch, .deadline = deadline, .msg = MSG(99)};
		harness_thread_start(&race->r[i].t, race_select, &race->r[i]);
	}
	int asleep = harness_wait_until(both_asleep_or_one_returned, race);
	long left = deadline_ms_left(&deadline);
	if (asleep && left >= window_ms / 2 && !harness_thread_done(&race->r[0].t) &&
	    !harness_thread_done(&race->r[1].t))
		return 1;
	for (int i = 0; i < 2; i++) {
		struct racer *r = &race->r[i];
		if (!harness_thread_join_within(&r->t, left + harness_wait_ms()))
			fail_msg("a select on an empty channel with a deadline %ld ms ahead had not returned "
				 "%ld ms after it: the select must wake at its deadline and return CHAN_TIMEOUT",
				 window_ms, harness_wait_ms());
		/* CHAN_WOULDBLOCK: the thread began its select after the deadline. */
		int timed_out = r->status == CHAN_TIMEOUT || r->status == CHAN_WOULDBLOCK;
		if (!timed_out || !deadline_passed(&deadline))
			fail_msg("a select on an empty channel with a deadline %ld ms ahead returned %s %s its "
				 "deadline: with nothing ready it must sleep until the deadline, then return "
				 "CHAN_TIMEOUT",
				 window_ms, chan_status_str(r->status),
				 deadline_passed(&deadline) ? "by" : "before");
	}
	return 0;
}

/*
 * Two selects wait on one channel with a deadline; one message arrives and
 * wakes both. One gets it; the other was woken for nothing, and must go
 * back to sleep until its deadline, then return CHAN_TIMEOUT. A select
 * whose wake flag (fired) stays set after such a wake-up never sleeps
 * again: it spins, burning a core until its deadline, and past it if its
 * only way out is a timed wait. The harness measures what the loser did
 * inside chan_select: a sleeping select uses next to no CPU and locks a
 * few mutexes; a spinning one uses all the CPU it gets and, on a machine
 * so loaded that this is little, still goes round its loop, and locks a
 * channel's mutex each time, thousands of times.
 */
static void test_select_that_loses_the_race_sleeps_until_its_deadline(void **state)
{
	(void)state;
	struct race race = {.ch = chan_new_or_fail(1)};
	size_t which = 99;
	void *got = NULL;
	/* First, run the select once through every path the race takes: what
	 * loading the code costs (and, under valgrind, translating it) is not
	 * what waiting costs. */
	struct timespec soon = deadline_after_ms(10);
	harness_on_hang("chan_select with a 10 ms deadline did not return");
	enum chan_status rc = chan_select(&race.ch, 1, &which, &got, &soon);
	/* CHAN_WOULDBLOCK: a slow machine (valgrind) began the select late. */
	if (rc != CHAN_TIMEOUT && rc != CHAN_WOULDBLOCK)
		fail_msg("chan_select on an empty channel with a 10 ms deadline returned %s, expected "
			 "CHAN_TIMEOUT",
			 chan_status_str(rc));

	/* On a machine too slow to put both to sleep in time, try again
	 * with a window twice as long. */
	long window_ms = harness_bound_ms(100);
	while (!start_two_sleeping_selects(&race, window_ms)) {
		window_ms *= 2;
		if (window_ms > harness_bound_ms(1000))
			fail_msg("two selects on one empty channel never both slept (listed on the channel, "
				 "in a condition-variable wait) with half of their %ld ms left: a select with "
				 "nothing ready must register, then sleep on its waiter's condition variable",
				 window_ms / 2);
	}
	harness_on_hang("chan_send did not return while two selects waited on its channel");
	struct timespec sent = clock_now();
	assert_chan_status(chan_send(race.ch, MSG(1)), CHAN_OK);

	harness_on_hang("a select that lost the race for the only message never returned: woken for "
			"nothing, it spins with fired still set and never waits long enough to time out. "
			"Reset fired (or use a fresh waiter) before sleeping again");
	long bound = deadline_ms_left(&race.r[0].deadline) + harness_wait_ms();
	for (int i = 0; i < 2; i++)
		if (!harness_thread_join_within(&race.r[i].t, bound))
			fail_msg("two selects waited on one channel and one message came: one of them had "
				 "not returned %ld ms after its deadline. Both were woken (fired); the one "
				 "that found nothing must sleep again until its deadline, so reset fired (or "
				 "use a fresh waiter) before sleeping again, or it spins forever",
				 harness_wait_ms());
	struct racer *winner = &race.r[race.r[1].status == CHAN_OK];
	struct racer *loser = &race.r[race.r[1].status != CHAN_OK];
	if (winner->status != CHAN_OK || MSG_VALUE(winner->msg) != 1)
		fail_msg("two selects waited on one channel and one message came, but neither returned it "
			 "(they returned %s and %s): a send must wake every select waiting on its channel",
			 chan_status_str(race.r[0].status), chan_status_str(race.r[1].status));
	if (loser->status != CHAN_TIMEOUT || !deadline_passed(&loser->deadline))
		fail_msg("of two selects waiting on one channel for one message, the one that lost the "
			 "race returned %s, expected CHAN_TIMEOUT at its deadline: woken for nothing, it "
			 "must try again and sleep until the deadline",
			 chan_status_str(loser->status));
	double waited_ms = clock_seconds_since(&sent) * 1000.0;
	print_message("the loser used %.1f ms of CPU and locked %ld mutexes while waiting %.0f ms\n",
		      loser->cpu_s * 1000.0, loser->locks, waited_ms);
	/* A correct select locks about ten: each channel's to register,
	 * poll and unregister, its waiter's, for each of its two sleeps. */
	if (loser->cpu_s * 1000.0 > waited_ms / 10 || loser->locks > 200)
		fail_msg("of two selects waiting on one channel for one message, the one that lost the race "
			 "used %.0f ms of CPU and locked %ld mutexes in the %.0f ms until its deadline (a "
			 "sleeping select uses next to no CPU and locks about ten): it spins. Both were "
			 "woken (fired); the one that found nothing went back to its wait with fired still "
			 "set, so the wait returned at once, again and again. Reset fired (or use a fresh "
			 "waiter) before sleeping again",
			 loser->cpu_s * 1000.0, loser->locks, waited_ms);
	assert_chan_status(chan_free(race.ch), CHAN_OK);
}

static void test_select_takes_from_a_blocked_unbuffered_sender(void **state)
{
	(void)state;
	struct chan *quiet = chan_new_or_fail(1);
	struct chan *ch = chan_new_or_fail(0);
	struct op op = {.ch = ch, .msg = MSG(9)};
	struct harness_thread t;
	start_parked_sender(&t, op_send, &op);

	struct chan *chans[2] = {quiet, ch};
	size_t which = 99;
	void *got = NULL;
	harness_on_hang("chan_select blocked although an unbuffered sender's message was in the slot");
	enum chan_status rc = chan_select(chans, 2, &which, &got, NULL);
	if (rc != CHAN_OK)
		fail_msg("chan_select over an empty channel and an unbuffered one whose sender is blocked in "
			 "chan_send returned %s, expected CHAN_OK: the sender's message is in the slot, so "
			 "chan_try_recv can take it",
			 chan_status_str(rc));
	assert_int_equal(which, 1);
	assert_int_equal(MSG_VALUE(got), 9);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a select took an unbuffered sender's message but the sender stayed blocked: "
			 "the pickup wait in chan_after_send must wake and see taken >= ticket");
	assert_chan_status(op.status, CHAN_OK);
	assert_slot_empty(ch, "a select took the message");
	assert_chan_status(chan_free(ch), CHAN_OK);
	assert_chan_status(chan_free(quiet), CHAN_OK);
}

/*
 * The other order: the select sleeps first, then a sender comes. Its
 * message waits in the slot for a receiver, and the select is the only
 * one: the send must wake it before it waits for the pickup.
 */
static void test_select_parked_first_wakes_for_an_unbuffered_sender(void **state)
{
	(void)state;
	struct select_op s = {.n = 2};
	s.chans[0] = chan_new_or_fail(1);
	s.chans[1] = chan_new_or_fail(0);
	struct harness_thread ts, tx;
	start_parked_select(&s, &ts);

	struct op op = {.ch = s.chans[1], .msg = MSG(9)};
	harness_thread_start(&tx, op_send, &op);
	harness_on_hang("a select parked on an unbuffered channel never took a sender's message");
	if (!harness_thread_join_within(&ts, harness_wait_ms()))
		fail_msg("a select parked on an unbuffered channel did not wake when a sender put its message "
			 "in the slot, and the sender waits for a receiver: the select. chan_after_send must "
			 "wake the watchers before it waits for the pickup, not after");
	assert_chan_status(s.status, CHAN_OK);
	assert_int_equal(s.which, 1);
	assert_int_equal(MSG_VALUE(s.msg), 9);
	if (!harness_thread_join_within(&tx, harness_wait_ms()))
		fail_msg("a select took an unbuffered sender's message but the sender stayed blocked");
	assert_chan_status(op.status, CHAN_OK);
	for (int i = 0; i < 2; i++)
		assert_chan_status(chan_free(s.chans[i]), CHAN_OK);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_cond_wait_with_past_deadline_times_out_at_once, L02 "#deadlines"),
	    HTEST(test_timed_waits_last_until_the_monotonic_deadline, L02 "#deadlines"),
	    HTEST(test_unbuffered_send_blocks_until_a_receiver_takes_it, L02 "#rendezvous"),
	    HTEST(test_unbuffered_send_closed_before_pickup_is_not_delivered, L02 "#rendezvous"),
	    HTEST(test_unbuffered_send_taken_then_closed_is_delivered, L02 "#rendezvous"),
	    HTEST(test_unbuffered_recv_blocks_until_a_sender_arrives, L02 "#rendezvous"),
	    HTEST(test_unbuffered_2x2_threads_exactly_once, L02 "#7-what-can-go-wrong"),
	    HTEST(test_try_recv_never_waits, L02 "#try-and-timed"),
	    HTEST(test_try_send_on_full_channel_would_block, L02 "#try-and-timed"),
	    HTEST(test_try_send_unbuffered_without_receiver_would_block, L02 "#try-and-timed"),
	    HTEST(test_try_send_unbuffered_hands_over_to_a_parked_receiver, L02 "#try-and-timed"),
	    HTEST(test_try_ops_on_closed_channel_report_closed, L02 "#try-and-timed"),
	    HTEST(test_try_ops_never_release_the_lock, L02 "#7-what-can-go-wrong"),
	    HTEST(test_recv_timed_on_empty_times_out_not_before_the_timeout, L02 "#try-and-timed"),
	    HTEST(test_send_timed_on_full_times_out, L02 "#try-and-timed"),
	    HTEST(test_recv_timed_returns_a_message_that_arrives_in_time, L02 "#try-and-timed"),
	    HTEST(test_send_timed_unbuffered_times_out_and_takes_its_message_back,
		  L02 "#7-what-can-go-wrong"),
	    HTEST(test_send_timed_taking_back_wakes_a_waiting_sender, L02 "#rendezvous"),
	    HTEST(test_select_returns_the_ready_channel, L02 "#select"),
	    HTEST(test_select_blocks_until_a_channel_gets_a_message, L02 "#select"),
	    HTEST(test_select_reports_a_closed_channel_and_its_index, L02 "#select"),
	    HTEST(test_select_skips_null_entries_and_rejects_no_channels, L02 "#select"),
	    HTEST(test_select_with_a_deadline_would_block_or_times_out, L02 "#select"),
	    HTEST(test_select_is_fair_between_ready_channels, L02 "#select"),
	    HTEST(test_select_unlinks_its_watchers_on_every_path, L02 "#select"),
	    HTEST(test_selects_in_several_threads_at_once, L02 "#select"),
	    HTEST(test_select_fan_in_from_three_producers_exactly_once, L02 "#7-what-can-go-wrong"),
	    HTEST(test_select_wakes_when_a_channel_closes, L02 "#select"),
	    HTEST(test_select_takes_from_a_blocked_unbuffered_sender, L02 "#select"),
	    HTEST(test_select_parked_first_wakes_for_an_unbuffered_sender, L02 "#select"),
	    HTEST(test_select_that_loses_the_race_sleeps_until_its_deadline, L02 "#7-what-can-go-wrong"),
	};
	return harness_main(argc, argv, "02-select", tests, HARNESS_COUNT(tests));
}
