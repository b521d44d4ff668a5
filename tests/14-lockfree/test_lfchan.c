/*
 * Lesson 14: the lock-free channel. Written against src/lfchan.h. The race
 * windows are entered every time, not by luck: a send claimed and not yet
 * written (the test plays that sender itself, through the fields the
 * header defines); the moment between a waiter's last look and its sleep
 * (the header's test hook, LFCHAN_TEST_HOOKS: the Makefile compiles the
 * lesson's code with it for this program only, and the given last_look
 * calls it); and, with the channel on pages whose writers (or readers)
 * the test holds (tests/harness/held.h), a close between its read of tail
 * and its write, a try between its read of a counter and its read of the
 * stamp, and a notify held at its bump of epoch while a receiver sleeps.
 */
#define _DEFAULT_SOURCE /* syscall */
#define LFCHAN_TEST_HOOKS
#include "chan_testing.h" /* MSG, MSG_VALUE, assert_chan_status */
#include "clock.h"
#include "held.h"
#include "interpose.h"     /* harness_thread_cpu_seconds */
#include "lfchan.h"
#include "notimpl.h" /* not_implemented_reached */
#include "spin.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h> /* offsetof */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h> /* sysconf, syscall */

#define L14 "lessons/14-lockfree/README.md"

static struct lfchan *new_or_fail(size_t cap)
{
	struct lfchan *ch = lfchan_new(cap);
	if (ch == NULL)
		fail_msg("lfchan_new(%zu) returned NULL", cap);
	return ch;
}

/* Frees ch, or says why it cannot: a thread that left park without
 * taking itself out of waiting makes the channel look busy for ever. */
static void free_or_fail(struct lfchan *ch)
{
	enum chan_status rc = lfchan_free(ch);
	if (rc == CHAN_EBUSY)
		fail_msg("lfchan_free returned CHAN_EBUSY with no thread in the channel: receivers.waiting is "
			 "%u and senders.waiting %u. park must take itself out of waiting (the fetch_sub) on "
			 "every way out: after the sleep, and when its last look found something",
			 atomic_load(&ch->receivers.waiting), atomic_load(&ch->senders.waiting));
	assert_chan_status(rc, CHAN_OK);
}

/* ---- the ring ------------------------------------------------------------ */

static void test_capacity_zero_is_refused_and_one_slot_works(void **state)
{
	(void)state;
	errno = 0;
	assert_null(lfchan_new(0));
	assert_int_equal(errno, EINVAL);
	struct lfchan *ch = new_or_fail(1);
	void *got = NULL;
	assert_chan_status(lfchan_send(ch, MSG(7)), CHAN_OK);
	assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(7));
	free_or_fail(ch);
}

static void test_messages_come_out_in_order_over_many_laps(void **state)
{
	(void)state;
	/* Three slots (not a power of two), a hundred laps: every position
	 * of every lap is written once and read once. */
	struct lfchan *ch = new_or_fail(3);
	uintptr_t next_out = 1;
	for (uintptr_t i = 1; i <= 300; i += 2) {
		assert_chan_status(lfchan_send(ch, MSG(i)), CHAN_OK);
		assert_chan_status(lfchan_send(ch, MSG(i + 1)), CHAN_OK);
		for (int k = 0; k < 2; k++, next_out++) {
			void *got = NULL;
			assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
			if (MSG_VALUE(got) != next_out)
				fail_msg("received %lu, expected %lu: does next_pos go to index 0 of the next "
					 "lap after the last index, and does a receive stamp head + one_lap?",
					 (unsigned long)MSG_VALUE(got), (unsigned long)next_out);
		}
	}
	free_or_fail(ch);
}

static void test_try_send_on_a_full_channel_would_block(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(2);
	assert_chan_status(lfchan_try_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(lfchan_try_send(ch, MSG(2)), CHAN_OK);
	assert_int_equal(lfchan_len(ch), 2);
	if (lfchan_try_send(ch, MSG(3)) != CHAN_WOULDBLOCK)
		fail_msg("a third message went into two slots: a slot whose stamp is behind the sender's "
			 "position (last lap's message still there) is full");
	void *got = NULL;
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(1));
	assert_chan_status(lfchan_try_send(ch, MSG(3)), CHAN_OK);
	free_or_fail(ch);
}

static void test_try_recv_on_an_empty_channel_would_block(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(4);
	void *got = MSG(99);
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_WOULDBLOCK);
	assert_null(got);
	assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_OK);
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_WOULDBLOCK);
	assert_int_equal(lfchan_len(ch), 0);
	free_or_fail(ch);
}

/* Close writes two words: the mark in tail (what senders go by), then
 * closed (what receivers read first). The test makes both states a thread
 * can meet between them, by hand:
 *   tail marked, closed 0 (close between its writes): a receiver whose
 *     slot is empty answers "not now" without reading tail; a sender
 *     answers CLOSED from the mark, and then (the given attempt sets closed
 *     for it) a receiver answers CLOSED too;
 *   closed 1, tail not marked (what a receiver may read with relaxed
 *     loads): closed alone proves nothing, the mark decides.
 * A receiver that decides from tail alone answers CLOSED in the first
 * state, having read tail on this and every empty look: the senders'
 * cache line, pulled to its core. (One that reads tail first and then
 * closed answers as this test wants, only slower; no test sees which it
 * read first.) */
static void test_a_receiver_answers_closed_only_once_closed_is_set(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(2);
	void *got = MSG(99);
	atomic_store(&ch->tail, atomic_load(&ch->head) | ch->mark_bit);
	enum chan_status rc = lfchan_try_recv(ch, &got);
	if (rc == CHAN_CLOSED && !not_implemented_reached()) /* a stub answers "closed" too */
		fail_msg("lfchan_try_recv answered CHAN_CLOSED on an empty channel whose closed is 0 (tail "
			 "marked at head, as close leaves it between its two writes): it decided from tail. A "
			 "receiver whose slot is empty reads closed first and answers NOT_NOW while it is 0; "
			 "only then does it read tail (Build it 1)");
	assert_chan_status(rc, CHAN_WOULDBLOCK);
	rc = lfchan_try_send(ch, MSG(1));
	if (rc != CHAN_CLOSED && !not_implemented_reached())
		fail_msg("lfchan_try_send answered %s with tail marked and closed still 0: a sender goes by "
			 "the mark in tail, which close writes first; closed is the receivers' word",
			 chan_status_str(rc));
	assert_chan_status(rc, CHAN_CLOSED);
	rc = lfchan_try_recv(ch, &got);
	if (rc != CHAN_CLOSED)
		fail_msg("lfchan_try_recv answered %s after a send was told CHAN_CLOSED (closed is now 1, tail "
			 "marked at head): once closed is 1 the receiver compares tail with head | mark_bit, "
			 "and they are equal: CHAN_CLOSED",
			 chan_status_str(rc));
	assert_null(got);
	free_or_fail(ch);

	ch = new_or_fail(2);
	atomic_store(&ch->closed, 1);
	rc = lfchan_try_recv(ch, &got);
	if (rc == CHAN_CLOSED)
		fail_msg("lfchan_try_recv answered CHAN_CLOSED with closed 1 but no mark in tail (tail == "
			 "head): closed tells a receiver to look at tail, and only tail == head | mark_bit, "
			 "mark included, means no send can fill the slot");
	assert_chan_status(rc, CHAN_WOULDBLOCK);
	free_or_fail(ch);
}

static void test_timed_recv_on_an_empty_channel_times_out(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	void *got = MSG(99);
	harness_on_hang("lfchan_recv_timed slept past its deadline: is it passed to the futex wait?");
	assert_chan_status(lfchan_recv_timed(ch, &got, 50), CHAN_TIMEOUT);
	assert_null(got);
	assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(lfchan_send_timed(ch, MSG(2), 50), CHAN_TIMEOUT);
	free_or_fail(ch);
}

/* ---- close ------------------------------------------------------------------ */

static void test_close_lets_receivers_drain_then_says_closed(void **state)
{
	(void)state;
	struct lfchan *empty = new_or_fail(2);
	void *got = NULL;
	assert_chan_status(lfchan_close(empty), CHAN_OK);
	enum chan_status rc = lfchan_try_recv(empty, &got);
	if (rc != CHAN_CLOSED && !not_implemented_reached())
		fail_msg("lfchan_try_recv on a closed, empty channel answered %s: after its mark, close sets "
			 "closed to 1 (Build it 2), which a receiver reads before tail",
			 chan_status_str(rc));
	assert_chan_status(rc, CHAN_CLOSED);
	free_or_fail(empty);
	struct lfchan *ch = new_or_fail(4);
	assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(lfchan_send(ch, MSG(2)), CHAN_OK);
	assert_chan_status(lfchan_close(ch), CHAN_OK);
	if (lfchan_send(ch, MSG(3)) != CHAN_CLOSED)
		fail_msg("a send after close went in: close must set mark_bit in tail, and a sender must "
			 "check it before its CAS");
	assert_chan_status(lfchan_close(ch), CHAN_CLOSED);
	assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(1));
	assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(2));
	harness_on_hang("lfchan_recv on a closed, drained channel waits: when the slot is empty and closed "
			"is 1, compare tail with head | mark_bit");
	assert_chan_status(lfchan_recv(ch, &got), CHAN_CLOSED);
	assert_null(got);
	free_or_fail(ch);
}

/* Threads that do one blocking operation and keep what it answered. */
struct lfop {
	struct lfchan *ch;
	void *msg;
	enum chan_status status;
};

static void *lfop_recv(void *arg)
{
	struct lfop *op = arg;
	op->status = lfchan_recv(op->ch, &op->msg);
	return NULL;
}

static void *lfop_send(void *arg)
{
	struct lfop *op = arg;
	op->status = lfchan_send(op->ch, op->msg);
	return NULL;
}

struct sleepers {
	_Atomic uint32_t *waiting;
	uint32_t n;
};

static int enough_asleep(void *arg)
{
	struct sleepers *s = arg;
	return atomic_load(s->waiting) >= s->n;
}

/* Waits until n threads have announced themselves in w (they are asleep or
 * about to be), or fails. */
static void wait_for_sleepers(struct lfchan_waiters *w, uint32_t n, const char *side)
{
	struct sleepers s = {&w->waiting, n};
	if (!harness_wait_until(enough_asleep, &s))
		fail_msg("expected %u %s asleep in the channel (%s.waiting), saw %u: does a waiter that has "
			 "spent its budget add itself to waiting before it sleeps, and does in_flight let it "
			 "sleep when the channel is truly empty or full (\"Build it 3\")?",
			 n, side, side, atomic_load(&w->waiting));
}

#define CROWD 4

static void start_crowd(struct harness_thread *t, struct lfop *ops, struct lfchan *ch, void *(*fn)(void *))
{
	for (int i = 0; i < CROWD; i++) {
		ops[i] = (struct lfop){.ch = ch, .msg = MSG(100 + i), .status = CHAN_NOTIMPL};
		harness_thread_start(&t[i], fn, &ops[i]);
	}
}

static void expect_all_closed(struct harness_thread *t, struct lfop *ops, const char *who)
{
	for (int i = 0; i < CROWD; i++) {
		if (!harness_thread_join_within(&t[i], harness_wait_ms()))
			fail_msg("%s %d still sleeps after lfchan_close: close must wake every sleeper "
				 "(FUTEX_WAKE with INT_MAX, on both sides), after setting mark_bit",
				 who, i + 1);
		assert_chan_status(ops[i].status, CHAN_CLOSED);
	}
}

static void test_close_wakes_every_sleeping_receiver(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(2);
	struct harness_thread t[CROWD];
	struct lfop ops[CROWD];
	start_crowd(t, ops, ch, lfop_recv);
	wait_for_sleepers(&ch->receivers, CROWD, "receivers");
	assert_chan_status(lfchan_close(ch), CHAN_OK);
	expect_all_closed(t, ops, "receiver");
	free_or_fail(ch);
}

static void test_close_wakes_every_sleeping_sender(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
	struct harness_thread t[CROWD];
	struct lfop ops[CROWD];
	start_crowd(t, ops, ch, lfop_send);
	wait_for_sleepers(&ch->senders, CROWD, "senders");
	assert_chan_status(lfchan_close(ch), CHAN_OK);
	expect_all_closed(t, ops, "sender");
	free_or_fail(ch);
}

/* ---- sleeping and waking ------------------------------------------------- */

static void test_a_sleeping_receiver_wakes_for_a_message(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	struct harness_thread t;
	struct lfop op = {.ch = ch, .status = CHAN_NOTIMPL};
	harness_thread_start(&t, lfop_recv, &op);
	wait_for_sleepers(&ch->receivers, 1, "receivers");
	assert_chan_status(lfchan_send(ch, MSG(5)), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the receiver sleeps on with a message in the channel: a send must wake a "
			 "sleeper (notify: if waiting, bump epoch and FUTEX_WAKE)");
	assert_chan_status(op.status, CHAN_OK);
	assert_ptr_equal(op.msg, MSG(5));
	free_or_fail(ch);
}

static void test_a_sleeping_sender_wakes_for_room(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
	struct harness_thread t;
	struct lfop op = {.ch = ch, .msg = MSG(2), .status = CHAN_NOTIMPL};
	harness_thread_start(&t, lfop_send, &op);
	wait_for_sleepers(&ch->senders, 1, "senders");
	void *got = NULL;
	assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the sender sleeps on with room in the channel: a receive must wake a sleeping "
			 "sender (notify the senders' waiters)");
	assert_chan_status(op.status, CHAN_OK);
	assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(2));
	free_or_fail(ch);
}

/*
 * The lost wake-up, forced: the hook runs in the waiter after its last
 * look and before its sleep, and does the other side's operation right
 * there, from the waiter's own thread. That operation's wake-up comes in
 * the window every time. A waiter that sleeps on the epoch it read before
 * the last look returns at once (the epoch has moved); one that reads the
 * epoch only now, or announced itself only after looking, sleeps forever.
 * The hook notes what it saw, for the failure message.
 */
static enum chan_status in_window_status = CHAN_NOTIMPL;
static int in_window_calls;
static uint32_t waiting_at_look, epoch_before, epoch_after;

static void send_in_window(struct lfchan *ch, enum lfchan_hook_point at)
{
	if (at != LFCHAN_AT_PARKING || in_window_calls++ > 0)
		return;
	waiting_at_look = atomic_load(&ch->receivers.waiting);
	epoch_before = atomic_load(&ch->receivers.epoch);
	in_window_status = lfchan_try_send(ch, MSG(42));
	epoch_after = atomic_load(&ch->receivers.epoch);
}

static void recv_in_window(struct lfchan *ch, enum lfchan_hook_point at)
{
	void *got = NULL;
	if (at != LFCHAN_AT_PARKING || in_window_calls++ > 0)
		return;
	waiting_at_look = atomic_load(&ch->senders.waiting);
	epoch_before = atomic_load(&ch->senders.epoch);
	in_window_status = lfchan_try_recv(ch, &got);
	epoch_after = atomic_load(&ch->senders.epoch);
}

/* A correct waiter returns within microseconds of the hook: a bound well
 * inside the deadline, so that a lost wake-up fails quickly. */
#define WAKE_BOUND_MS 1500

/* Waits for the waiter t, which is side (receiver or sender), and fails
 * with the causes a lost wake-up can have, in the order of the protocol. */
static void expect_woken(struct harness_thread *t, const char *side, const char *other_op)
{
	if (harness_thread_join_within(t, harness_bound_ms(WAKE_BOUND_MS)))
		return;
	if (in_window_calls == 0)
		fail_msg("the %s never went to sleep (or never called the hook before it): does it park "
			 "after its budget?",
			 side);
	fail_msg("the %s slept through a wake-up that came between its last look and its sleep (a lost "
		 "wake-up). In the order of the protocol: (1) before its last look, park must count itself "
		 "in waiting (at the hook, after the look, waiting was %u) and read epoch (both before the "
		 "look; either first when both are seq_cst, and a relaxed read of epoch must come "
		 "first); (2) it must sleep on that epoch, not on one read after the look; (3) the %s in the window must, seeing waiting, bump epoch before its FUTEX_WAKE (epoch went "
		 "from %u to %u)",
		 side, waiting_at_look, other_op, epoch_before, epoch_after);
}

static void test_a_wake_up_between_last_look_and_sleep_is_not_lost_receiving(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	lfchan_test_hook = send_in_window;
	struct harness_thread t;
	struct lfop op = {.ch = ch, .status = CHAN_NOTIMPL};
	harness_thread_start(&t, lfop_recv, &op);
	expect_woken(&t, "receiver", "send");
	assert_chan_status(in_window_status, CHAN_OK);
	assert_chan_status(op.status, CHAN_OK);
	assert_ptr_equal(op.msg, MSG(42));
	free_or_fail(ch);
}

static void test_a_wake_up_between_last_look_and_sleep_is_not_lost_sending(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
	lfchan_test_hook = recv_in_window;
	struct harness_thread t;
	struct lfop op = {.ch = ch, .msg = MSG(2), .status = CHAN_NOTIMPL};
	harness_thread_start(&t, lfop_send, &op);
	expect_woken(&t, "sender", "receive");
	assert_chan_status(in_window_status, CHAN_OK);
	assert_chan_status(op.status, CHAN_OK);
	free_or_fail(ch);
}

/*
 * The order inside notify, forced. The copy of the channel sits across two
 * pages, receivers.epoch at the start of the second; the test makes that
 * page read-only. A receiver at its hook (its last look found nothing)
 * starts a sender and lets it run until it is caught at its first write
 * there, the bump of epoch. Then the receiver goes to sleep on the old
 * epoch, and once it is asleep the test lets the sender go on. Bumping
 * before waking, the sender is caught before its FUTEX_WAKE, which then
 * wakes the sleeper; waking first, it woke nobody (the receiver was not
 * asleep yet), and the bump after it wakes no one: the receiver sleeps on.
 */
static struct lfchan *epoch_on_held_page(const struct lfchan *made)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *base = held_map(2 * page);
	struct lfchan *ch = (struct lfchan *)(base + page - offsetof(struct lfchan, receivers));
	memcpy(ch, made, sizeof(*ch));
	return ch;
}

static struct harness_thread bump_sender;
static struct lfop bump_op;
static atomic_long sleeper_tid; /* the receiver's, once the sender is caught */

static void hold_sender_at_bump(struct lfchan *ch, enum lfchan_hook_point at)
{
	if (at != LFCHAN_AT_PARKING || atomic_load(&sleeper_tid) != 0)
		return;
	if (HELD_WORKS)
		held_hold(&ch->receivers, sizeof(ch->receivers));
	bump_op = (struct lfop){.ch = ch, .msg = MSG(42), .status = CHAN_NOTIMPL};
	harness_thread_start(&bump_sender, lfop_send, &bump_op);
	if (HELD_WORKS && !held_wait_for_writers(1))
		held_release(); /* the test fails below, on the sender's status */
	atomic_store(&sleeper_tid, (long)syscall(SYS_gettid));
}

/* 1 once the thread whose id is at arg (an atomic_long, 0 until the
 * thread stores it) is asleep in the kernel (state S). */
static int thread_asleep(void *arg)
{
	return harness_tid_asleep(atomic_load((atomic_long *)arg));
}

static int sender_caught(void *arg)
{
	(void)arg;
	return atomic_load(&sleeper_tid) != 0;
}

static void test_notify_bumps_epoch_before_it_wakes(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(1);
	struct lfchan *ch = epoch_on_held_page(made);
	lfchan_test_sleep_at_once = 1;
	lfchan_test_hook = hold_sender_at_bump;
	struct harness_thread t;
	struct lfop op = {.ch = ch, .status = CHAN_NOTIMPL};
	harness_thread_start(&t, lfop_recv, &op);
	if (!harness_wait_until(sender_caught, NULL))
		fail_msg("the receiver never went to sleep (or never called the hook before it)");
	if (HELD_WORKS && !harness_wait_until(thread_asleep, &sleeper_tid)) {
		held_release();
		fail_msg("the receiver did not fall asleep after its last look found the channel empty");
	}
	held_release();
	int woken = harness_thread_join_within(&t, harness_bound_ms(WAKE_BOUND_MS));
	if (!woken)
		fail_msg("a receiver went to sleep while a sender was inside notify, and slept on with the "
			 "message in the channel: notify called FUTEX_WAKE before it bumped epoch, so the "
			 "wake-up came while the receiver was not yet asleep and the bump, after it, woke "
			 "nobody. Bump epoch first, then FUTEX_WAKE");
	if (!harness_thread_join_within(&bump_sender, harness_wait_ms()))
		fail_msg("the sender did not return");
	held_unmap();
	free_or_fail(made);
	assert_chan_status(bump_op.status, CHAN_OK);
	assert_chan_status(op.status, CHAN_OK);
	assert_ptr_equal(op.msg, MSG(42));
}

/*
 * A wake-up that comes as a deadline passes. Receiver 1 sleeps with a
 * deadline, receiver 2 after it with none. Receiver 1's clock is then moved
 * past its deadline (harness_clock_ahead: its sleep in the kernel goes on),
 * and one message comes. The kernel wakes sleepers of equal priority in the
 * order they fell asleep, so the message's one wake-up goes to receiver 1,
 * which finds its deadline passed and leaves. Unless it passes the wake-up
 * on, receiver 2 sleeps on with the message in the channel.
 */
struct sleeper {
	struct lfop op;
	const struct timespec *deadline;
	int sending; /* sends op.msg; receives into it otherwise */
	atomic_long tid;
};

static void *sleeper_run(void *arg)
{
	struct sleeper *s = arg;
	atomic_store(&s->tid, (long)syscall(SYS_gettid));
	s->op.status = s->sending ? lfchan_send_until(s->op.ch, s->op.msg, s->deadline)
				  : lfchan_recv_until(s->op.ch, &s->op.msg, s->deadline);
	return NULL;
}

static struct lfchan_waiters *sleeper_side(struct sleeper *s)
{
	return s->sending ? &s->op.ch->senders : &s->op.ch->receivers;
}

/* Starts the n-th receiver (or sender) and waits until it is asleep in
 * the kernel, on an empty (or full) channel. */
static void start_sleeper(struct harness_thread *t, struct sleeper *s, uint32_t n)
{
	harness_thread_start(t, sleeper_run, s);
	wait_for_sleepers(sleeper_side(s), n, s->sending ? "senders" : "receivers");
	if (!harness_wait_until(thread_asleep, &s->tid))
		fail_msg("%s %u did not fall asleep on %s", s->sending ? "sender" : "receiver", n,
			 s->sending ? "a full channel" : "an empty channel");
}

static void test_a_waiter_woken_as_its_deadline_passes_hands_the_wake_up_on(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	lfchan_test_sleep_at_once = 1;
	struct timespec in_an_hour = deadline_after_ms(3600L * 1000);
	struct harness_thread t1, t2;
	struct sleeper r1 = {.op = {.ch = ch, .status = CHAN_NOTIMPL}, .deadline = &in_an_hour};
	struct sleeper r2 = {.op = {.ch = ch, .status = CHAN_NOTIMPL}, .deadline = NULL};
	start_sleeper(&t1, &r1, 1);
	start_sleeper(&t2, &r2, 2);
	harness_clock_ahead(t1.tid, 7200.0);
	assert_chan_status(lfchan_send(ch, MSG(7)), CHAN_OK);
	int received = harness_thread_join_within(&t2, harness_bound_ms(WAKE_BOUND_MS));
	assert_chan_status(lfchan_close(ch), CHAN_OK); /* lets go of whoever still sleeps */
	if (!received)
		fail_msg("receiver 1 was woken by the message as its deadline passed and left (%s); receiver "
			 "2 slept on with the message in the channel: a waiter that was woken must take a "
			 "message or pass the wake-up on (notify its own side as it leaves)",
			 r1.op.status == CHAN_TIMEOUT ? "CHAN_TIMEOUT" : "still running");
	if (!harness_thread_join_within(&t1, harness_wait_ms()))
		fail_msg("receiver 1 did not return after lfchan_close");
	harness_clock_ahead(t1.tid, 0);
	assert_chan_status(r2.op.status, CHAN_OK);
	assert_ptr_equal(r2.op.msg, MSG(7));
	free_or_fail(ch);
}

/*
 * A timeout is no wake-up. Receiver 1 sleeps with no deadline on an empty
 * channel; receiver 2 sleeps 50 ms beside it and times out. Nothing woke
 * receiver 2, so it has nothing to pass on. park must say that its
 * deadline passed (*timed_out); otherwise operate takes the timeout for a
 * wake-up it did not use and notifies its side as it leaves: a bump of
 * epoch and a FUTEX_WAKE that rouse receiver 1 for nothing. The hook
 * tells that receiver 2 did go to sleep (a thread slowed past its
 * deadline before it parks proves nothing), and receiver 2 tries again
 * if it did not.
 */
static atomic_int parkings;

static void count_parking(struct lfchan *ch, enum lfchan_hook_point at)
{
	(void)ch;
	if (at == LFCHAN_AT_PARKING)
		atomic_fetch_add(&parkings, 1);
}

static void test_a_waiter_that_times_out_wakes_nobody(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	lfchan_test_sleep_at_once = 1;
	lfchan_test_hook = count_parking;
	struct harness_thread t1;
	struct sleeper r1 = {.op = {.ch = ch, .status = CHAN_NOTIMPL}, .deadline = NULL};
	start_sleeper(&t1, &r1, 1);
	uint32_t epoch = atomic_load(&ch->receivers.epoch);
	int before = atomic_load(&parkings);
	enum chan_status rc = CHAN_NOTIMPL;
	void *got = NULL;
	for (int tries = 0; tries < 5 && atomic_load(&parkings) == before; tries++)
		rc = lfchan_recv_timed(ch, &got, 50);
	int parked = atomic_load(&parkings) > before;
	uint32_t after = atomic_load(&ch->receivers.epoch);
	int still_asleep = !harness_thread_done(&t1);
	assert_chan_status(lfchan_close(ch), CHAN_OK); /* lets receiver 1 go */
	if (!harness_thread_join_within(&t1, harness_wait_ms()))
		fail_msg("receiver 1 did not return after lfchan_close");
	free_or_fail(ch);
	if (!parked)
		fail_msg("receiver 2 never went to sleep in five waits of 50 ms on an empty channel: does "
			 "park sleep on the futex when its last look finds nothing?");
	assert_chan_status(rc, CHAN_TIMEOUT);
	if (after != epoch || !still_asleep)
		fail_msg("receiver 2 slept 50 ms and timed out, and then woke the receivers (epoch went from %u "
			 "to %u%s): it took its timeout for a wake-up and passed it on. park must set "
			 "*timed_out when the futex wait fails with ETIMEDOUT; a waiter whose deadline passed "
			 "was woken by nobody and has nothing to pass on",
			 epoch, after, still_asleep ? "" : ", and receiver 1 returned");
	assert_chan_status(r1.op.status, CHAN_CLOSED);
}

/*
 * The sleeping protocol, by many meetings. A sender wins its position (a
 * CAS on tail) and then loads receivers.waiting; a receiver on its way to
 * sleep adds itself to waiting and then looks at the slot and at tail.
 * One of the two must see the other's write. The meetings that matter
 * fall within a few nanoseconds, which no hook can arrange (a thread
 * stopped between its write and its load has its write visible by the
 * time it loads), so the test makes the meeting happen often: round after
 * round a receiver and a sender start together, the receiver going to
 * sleep at its first empty look. A last look that judges by the stamp
 * alone (no in_flight) loses a wake-up here within a few hundred rounds;
 * the mistakes of memory order alone (a relaxed CAS, relaxed loads in
 * in_flight) are no instruction of their own on x86, so no run here can
 * see them (the lesson says what is a proof instead).
 * Under a sanitizer, a perturbed run or valgrind the threads are slowed
 * apart: a few rounds there, for the protocol alone.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define MEETINGS 20
#else
#define MEETINGS 2000
#endif

struct meeting {
	struct lfchan *ch;
	long rounds;
	atomic_long go;		 /* the round the receiver may start */
	atomic_long done;	 /* the last round the receiver finished */
	long failed;		 /* the round whose receive failed, or 0 */
	enum chan_status status; /* what that receive answered */
};

static void *meet_as_receiver(void *arg)
{
	struct meeting *m = arg;
	for (long r = 1; r <= m->rounds; r++) {
		while (atomic_load(&m->go) < r)
			cpu_relax();
		void *got = NULL;
		enum chan_status rc = lfchan_recv(m->ch, &got);
		if (rc != CHAN_OK || got != MSG(r)) {
			m->failed = r;
			m->status = rc;
			atomic_store(&m->done, m->rounds);
			return NULL;
		}
		atomic_store(&m->done, r);
	}
	return NULL;
}

/* 1 once the receiver has finished round r, 0 if it did not within ms
 * (a spin, not a sleep: the next round must start at once). */
static int round_done_within(struct meeting *m, long r, long ms)
{
	struct timespec deadline = deadline_after_ms(ms);
	for (unsigned n = 1; atomic_load(&m->done) < r; n++) {
		cpu_relax();
		if (n % 1024 == 0 && deadline_passed(&deadline))
			return 0;
	}
	return 1;
}

static void test_a_send_meeting_a_receiver_going_to_sleep_wakes_it(void **state)
{
	(void)state;
	struct meeting m = {.ch = new_or_fail(1), .rounds = harness_scale_capped(MEETINGS, MEETINGS / 20)};
	lfchan_test_sleep_at_once = 1;
	struct harness_thread t;
	harness_thread_start(&t, meet_as_receiver, &m);
	for (long r = 1; r <= m.rounds && m.failed == 0; r++) {
		atomic_store(&m.go, r);
		assert_chan_status(lfchan_send(m.ch, MSG(r)), CHAN_OK);
		if (!round_done_within(&m, r, harness_bound_ms(WAKE_BOUND_MS)))
			fail_msg("in round %ld of %ld the receiver went to sleep as the message came, and "
				 "sleeps on with it in the channel: a lost wake-up. Two causes: (1) a last look "
				 "that goes to sleep on a slot not yet stamped while tail already counts the "
				 "message (in_flight must say so): the sender, between its CAS and its stamp, "
				 "saw nobody waiting; (2) notify calling FUTEX_WAKE before it bumps epoch: a "
				 "receiver that goes to sleep between the two sleeps on the old epoch, and the "
				 "bump wakes nobody. test_notify_bumps_epoch_before_it_wakes, before this one, "
				 "fails (2) every time: if it passed, look for (1)",
				 r, m.rounds);
	}
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the receiving thread did not return");
	if (m.failed != 0)
		fail_msg("in round %ld the receive answered %s, not CHAN_OK with that round's message",
			 m.failed, chan_status_str(m.status));
	free_or_fail(m.ch);
}

/*
 * A send claimed and not yet written, forced: the test plays a sender that
 * has won position 0 of a one-slot channel (its CAS on tail, to the next
 * lap's position) and has not written yet, as if the scheduler had stopped
 * it right there. Then the learner's code meets that state every time.
 */
static struct lfchan_slot *claim_position_zero(struct lfchan *ch)
{
	size_t zero = 0;
	if (ch->cap != 1 || !atomic_compare_exchange_strong(&ch->tail, &zero, ch->one_lap))
		fail_msg("the test's own claim of position 0 failed: it needs a new channel of capacity 1");
	return &ch->slots[0];
}

/* What that sender does once it runs again: the message, then the stamp
 * "full for the receiver at position 0". */
static void finish_claimed_send(struct lfchan_slot *slot, void *msg)
{
	slot->msg = msg;
	atomic_store_explicit(&slot->stamp, 1, memory_order_release);
}

/* The ABA: the slot's stamp is still 0, "free" for lap 0 but not for the
 * second sender's position, lap 1. With the lap in the comparison it
 * waits; with the index alone it writes into the claimed slot. */
static void test_a_claimed_slot_is_not_free_to_the_next_lap(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	struct lfchan_slot *slot = claim_position_zero(ch);
	enum chan_status rc = lfchan_try_send(ch, MSG(2));
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("a send into a one-slot channel whose only slot another sender had claimed (and not "
			 "yet written) returned %s, not CHAN_WOULDBLOCK: the slot's stamp must be compared with "
			 "the whole position (lap and index), not the index alone (ABA)",
			 chan_status_str(rc));
	finish_claimed_send(slot, MSG(1));
	void *got = NULL;
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(1));
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_WOULDBLOCK);
	free_or_fail(ch);
}

/* Close while that send is on its way: the send won its position before
 * the close, so its message is in the channel's future and a receiver
 * must wait for it, not answer CLOSED. */
static void test_a_send_claimed_before_close_is_still_received(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	struct lfchan_slot *slot = claim_position_zero(ch);
	assert_chan_status(lfchan_close(ch), CHAN_OK);
	void *got = MSG(99);
	enum chan_status rc = lfchan_try_recv(ch, &got);
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("closed while a sender had claimed position 0 and not yet written, lfchan_try_recv "
			 "returned %s, not CHAN_WOULDBLOCK: the mark in tail says no more sends will start, "
			 "not that none is on its way. The channel is drained only when tail == (head | "
			 "mark_bit): the close came when tail stood at the receiver's own position",
			 chan_status_str(rc));
	assert_chan_status(lfchan_try_send(ch, MSG(2)), CHAN_CLOSED);
	finish_claimed_send(slot, MSG(1));
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_OK);
	assert_ptr_equal(got, MSG(1));
	assert_chan_status(lfchan_try_recv(ch, &got), CHAN_CLOSED);
	free_or_fail(ch);
}

/* ---- a position taken by another thread meanwhile ------------------------ */

/* The tests below that hold a thread at its store (or compare-and-swap)
 * do so where that store survives the hold: not under a sanitizer, and
 * not under valgrind (held.h). */
#define STORES_HELD (HELD_WORKS && held_usable())

/* A copy of made (as on_held_page below) whose slots are a copy too, on a
 * page of their own that the test can make unreadable: a thread that has
 * read head or tail is caught before its read of the slot's stamp. */
static struct lfchan *slots_on_held_page(const struct lfchan *made)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *base = held_map(page + made->cap * sizeof(*made->slots));
	struct lfchan *ch = (struct lfchan *)base;
	memcpy(ch, made, sizeof(*ch));
	ch->slots = (struct lfchan_slot *)(base + page);
	memcpy(ch->slots, made->slots, made->cap * sizeof(*made->slots));
	return ch;
}

static void *lfop_try_send(void *arg)
{
	struct lfop *op = arg;
	op->status = lfchan_try_send(op->ch, op->msg);
	return NULL;
}

static void *lfop_try_recv(void *arg)
{
	struct lfop *op = arg;
	op->status = lfchan_try_recv(op->ch, &op->msg);
	return NULL;
}

/*
 * Starts fn (a try on ch) and, where accesses can be held, waits until it
 * is caught at the slots (it has read tail or head by then); then does
 * `other`, the same operation of another thread that takes that position
 * first, and lets the first go on. It finds the slot's stamp AHEAD of the
 * position it read: a lap further for a receiver, one more for a sender.
 */
static void overtaken(struct lfchan *ch, struct lfop *op, void *(*fn)(void *), void (*other)(struct lfchan *))
{
	struct harness_thread t;
	if (HELD_WORKS)
		held_hold_readers(ch->slots, ch->cap * sizeof(*ch->slots));
	harness_thread_start(&t, fn, op);
	if (HELD_WORKS && !held_wait_for_writers(1)) {
		held_release();
		fail_msg("the try did not read a slot's stamp within %ld ms", harness_wait_ms());
	}
	held_unprotect();
	other(ch);
	held_release();
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("a try overtaken by another thread did not return within %ld ms", harness_wait_ms());
}

static void send_one(struct lfchan *ch)
{
	assert_chan_status(lfchan_try_send(ch, MSG(1)), CHAN_OK);
}

static void *other_got;

static void recv_one(struct lfchan *ch)
{
	assert_chan_status(lfchan_try_recv(ch, &other_got), CHAN_OK);
}

/* Messages 1 and 2, in either order: without holding (under a sanitizer)
 * either thread may come first. */
static void expect_one_and_two(void *a, void *b)
{
	if (!((a == MSG(1) && b == MSG(2)) || (a == MSG(2) && b == MSG(1))))
		fail_msg("received %p and %p, not messages 1 and 2", a, b);
}

static void expect_ok_after_overtaken(enum chan_status rc, const char *what, const char *still, const char *counter)
{
	if (rc != CHAN_OK)
		fail_msg("%s; this one then returned %s, not CHAN_OK, %s. It found the slot's stamp AHEAD of "
			 "the position it read (another thread took that position): that means read %s again; "
			 "only a stamp behind means not now",
			 what, chan_status_str(rc), still, counter);
}

/* Two senders into an empty channel of 4: both read tail 0, the other
 * wins. The slot's stamp is then 1, ahead of 0: the tail this sender read
 * is old, and positions 1 to 3 are free. */
static void test_a_sender_overtaken_reads_tail_again(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(4);
	struct lfchan *ch = slots_on_held_page(made);
	struct lfop op = {.ch = ch, .msg = MSG(2), .status = CHAN_NOTIMPL};
	overtaken(ch, &op, lfop_try_send, send_one);
	void *first = NULL, *second = NULL;
	enum chan_status r1 = lfchan_try_recv(ch, &first), r2 = lfchan_try_recv(ch, &second);
	held_unmap();
	free_or_fail(made);
	expect_ok_after_overtaken(op.status, "two senders read tail 0 of an empty channel of 4 and the other won",
				  "with 3 slots free", "tail");
	assert_chan_status(r1, CHAN_OK);
	assert_chan_status(r2, CHAN_OK);
	expect_one_and_two(first, second);
}

/* Messages 1 to n buffered in a new channel by the test itself, playing the
 * senders through the header's fields: no send runs, so this part's test
 * needs nothing but recv_attempt (a send would call notify, Build it 3). */
static void buffer_by_hand(struct lfchan *ch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ch->slots[i].msg = MSG(i + 1);
		atomic_store_explicit(&ch->slots[i].stamp, i + 1, memory_order_release);
	}
	atomic_store(&ch->tail, n);
}

/* The mirror: two receivers, two messages buffered; both read head 0, the
 * other takes message 1, and slot 0's stamp is a lap ahead. */
static void test_a_receiver_overtaken_reads_head_again(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(4);
	struct lfchan *ch = slots_on_held_page(made);
	buffer_by_hand(ch, 2);
	struct lfop op = {.ch = ch, .status = CHAN_NOTIMPL};
	overtaken(ch, &op, lfop_try_recv, recv_one);
	held_unmap();
	free_or_fail(made);
	expect_ok_after_overtaken(op.status, "two receivers read head 0 with 2 messages buffered and the other "
				  "took the first", "with a message still there", "head");
	expect_one_and_two(op.msg, other_got);
}

/*
 * A message behind one still being written. Receivers 1 and 2 sleep on an
 * empty channel of 2; sender A wins position 0 and is held before its
 * write (held.h); sender B fills position 1, and its one wake-up goes to
 * a receiver that finds position 0 not ready. If that receiver sleeps
 * again, A's wake-up, once A is let go, reaches one receiver, which takes
 * message 1, and message 2 waits beside the other, asleep. A receiver
 * that finds the other side midway must wait for it without sleeping.
 * Capacity 2, so that tail (index 0 of lap 1) has head's index: an empty
 * test that compares indexes only takes the channel for empty here. The
 * mirror for senders follows it.
 */
struct midway {
	struct sleeper s[2];
	struct harness_thread t[2];
	struct harness_thread held; /* A, the thread that took position 0 */
};

/* Two sleepers on ch, both sending or both receiving. */
static void start_two_sleepers(struct midway *m, struct lfchan *ch, int sending)
{
	for (int i = 0; i < 2; i++) {
		m->s[i] = (struct sleeper){.op = {.ch = ch, .msg = sending ? MSG(i + 1) : NULL, .status = CHAN_NOTIMPL},
					   .sending = sending};
		start_sleeper(&m->t[i], &m->s[i], (uint32_t)i + 1);
	}
}

/* Starts A (op, running fn) and, where writes can be held, waits until it
 * is caught at its first write to the slots: msg for a sender, the stamp
 * for a receiver. It has won position 0 by then. */
static void start_held_at_slot(struct midway *m, struct lfop *op, void *(*fn)(void *), const char *who)
{
	struct lfchan *ch = op->ch;
	if (STORES_HELD)
		held_hold(ch->slots, ch->cap * sizeof(*ch->slots));
	harness_thread_start(&m->held, fn, op);
	if (STORES_HELD && !held_wait_for_writers(1)) {
		held_release();
		fail_msg("%s was not caught at its write to the slot", who);
	}
	held_unprotect();
}

/* 1 once both sleepers are counted in waiting and asleep in the kernel:
 * the one B woke has gone back to sleep. */
static int both_asleep_again(void *arg)
{
	struct midway *m = arg;
	return atomic_load(&sleeper_side(&m->s[0])->waiting) == 2 && thread_asleep(&m->s[0].tid) &&
	       thread_asleep(&m->s[1].tid);
}

/* After B: gives a wrong sleeper time to show itself (a right one never
 * sleeps again), lets A go and waits for both sleepers. If one sleeps on,
 * closes the channel to let it go and fails with what happened and why,
 * saying whether the one B woke had gone back to sleep. */
static void midway_finish(struct midway *m, const char *what, const char *why)
{
	int slept_again = STORES_HELD && harness_wait_until_ms(both_asleep_again, m, harness_bound_ms(300));
	held_release();
	if (harness_thread_join_within(&m->t[0], harness_bound_ms(WAKE_BOUND_MS)) &&
	    harness_thread_join_within(&m->t[1], harness_bound_ms(WAKE_BOUND_MS)))
		return;
	assert_chan_status(lfchan_close(m->s[0].op.ch), CHAN_OK);
	fail_msg("%s%s: %s", what, slept_again ? " (the one woken had gone back to sleep)" : "", why);
}

static void join_held(struct midway *m, const char *who)
{
	if (!harness_thread_join_within(&m->held, harness_wait_ms()))
		fail_msg("%s did not return", who);
}

static void test_a_receiver_woken_behind_a_send_midway_does_not_sleep_again(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(2);
	struct lfchan *ch = slots_on_held_page(made);
	lfchan_test_sleep_at_once = 1;
	struct midway m;
	start_two_sleepers(&m, ch, 0);
	struct lfop a = {.ch = ch, .msg = MSG(1), .status = CHAN_NOTIMPL};
	start_held_at_slot(&m, &a, lfop_send, "sender A");
	assert_chan_status(lfchan_send(ch, MSG(2)), CHAN_OK);
	midway_finish(&m, "a receiver sleeps on with message 2 in the channel",
		      "woken by message 2 while message 1 was still being written, it went back to sleep, "
		      "and message 1's one wake-up went to the other receiver. While head and tail count a "
		      "message that is not there yet, in_flight must say so (the waiter yields, it does not "
		      "sleep): its empty test must compare whole positions (tail where head is), not "
		      "indexes, which are the same when the channel is full too");
	join_held(&m, "sender A");
	held_unmap();
	free_or_fail(made);
	assert_chan_status(m.s[0].op.status, CHAN_OK);
	assert_chan_status(m.s[1].op.status, CHAN_OK);
	expect_one_and_two(m.s[0].op.msg, m.s[1].op.msg);
}

/*
 * The mirror: room behind a message still being read. A full channel of 2
 * (messages 3 and 4), senders 1 and 2 asleep; receiver A wins position 0
 * and is held before its stamp; receiver B takes position 1, and its one
 * wake-up goes to a sender that finds slot 0 not free yet. Then tail is
 * where head is: the channel is not full, a receive is midway. A sender
 * whose in_flight compares indexes only takes that for full and sleeps
 * again, and A's one wake-up leaves the other sender asleep beside room.
 */
static void test_a_sender_woken_behind_a_receive_midway_does_not_sleep_again(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(2);
	struct lfchan *ch = slots_on_held_page(made);
	assert_chan_status(lfchan_send(ch, MSG(3)), CHAN_OK);
	assert_chan_status(lfchan_send(ch, MSG(4)), CHAN_OK);
	lfchan_test_sleep_at_once = 1;
	struct midway m;
	start_two_sleepers(&m, ch, 1);
	struct lfop a = {.ch = ch, .status = CHAN_NOTIMPL};
	start_held_at_slot(&m, &a, lfop_recv, "receiver A");
	void *b = NULL;
	assert_chan_status(lfchan_recv(ch, &b), CHAN_OK);
	midway_finish(&m, "a sender sleeps on with room in the channel",
		      "woken by the receive of slot 1 while slot 0 was still being read, it went back to "
		      "sleep, and that receive's one wake-up went to the other sender. With a receive "
		      "midway tail equals head: not full. in_flight's full test must compare whole "
		      "positions (tail a lap ahead of head), not indexes, which are the same when the "
		      "channel is empty too");
	join_held(&m, "receiver A");
	void *c = NULL, *d = NULL;
	enum chan_status rc = lfchan_try_recv(ch, &c), rd = lfchan_try_recv(ch, &d);
	held_unmap();
	free_or_fail(made);
	assert_chan_status(a.status, CHAN_OK);
	/* Held, A takes message 3; under a sanitizer A and B race for it. */
	if (!((a.msg == MSG(3) && b == MSG(4)) || (!STORES_HELD && a.msg == MSG(4) && b == MSG(3))))
		fail_msg("receivers A and B got %p and %p, not messages 3 and 4", a.msg, b);
	assert_chan_status(m.s[0].op.status, CHAN_OK);
	assert_chan_status(m.s[1].op.status, CHAN_OK);
	assert_chan_status(rc, CHAN_OK);
	assert_chan_status(rd, CHAN_OK);
	expect_one_and_two(c, d);
}

/* ---- close: one read-modify-write ----------------------------------------- */

static void *lfop_close(void *arg)
{
	struct lfop *op = arg;
	op->status = lfchan_close(op->ch);
	return NULL;
}

/* A copy of made (the channel lfchan_new returned, which shares its slots
 * and is the one to free) on a page whose writers the test can hold
 * between their read and their write (tests/harness/held.h). */
static struct lfchan *on_held_page(const struct lfchan *made)
{
	struct lfchan *ch = held_map(sizeof(*ch));
	memcpy(ch, made, sizeof(*ch));
	return ch;
}

/* Starts a thread closing op->ch and, where writes can be held, waits
 * until it is caught writing to the channel (n writers caught in all). */
static void start_closer(struct harness_thread *t, struct lfop *op, struct lfchan *ch, int n)
{
	*op = (struct lfop){.ch = ch, .status = CHAN_NOTIMPL};
	harness_thread_start(t, lfop_close, op);
	if (HELD_WORKS && !held_wait_for_writers(n)) {
		held_release();
		fail_msg("lfchan_close wrote nothing to the channel within %ld ms: it must set mark_bit in "
			 "tail",
			 harness_wait_ms());
	}
}

static void join_closer(struct harness_thread *t)
{
	if (!harness_thread_join_within(t, harness_wait_ms()))
		fail_msg("lfchan_close did not return within %ld ms", harness_wait_ms());
}

/*
 * The close is caught between its read of tail and its write; a send wins
 * position 0 meanwhile, and then the close goes on. A close made of a load
 * and a store writes back the tail it read, with the mark: tail moves back
 * under the send, and a receiver that takes its message finds tail behind
 * it for ever. One read-modify-write sees the send's change and keeps it.
 */
static void test_a_send_during_close_is_received_and_then_closed(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(4);
	struct lfchan *ch = on_held_page(made);
	struct harness_thread t;
	struct lfop op;
	if (HELD_WORKS)
		held_hold(ch, sizeof(*ch));
	start_closer(&t, &op, ch, 1);
	held_unprotect();
	/* Held: the close has not written tail yet, so the send goes in.
	 * Without holding (sanitizers), either may come first. */
	enum chan_status sent = lfchan_try_send(ch, MSG(1));
	held_release();
	join_closer(&t);
	assert_chan_status(op.status, CHAN_OK);
	if (HELD_WORKS)
		assert_chan_status(sent, CHAN_OK);
	void *got = NULL;
	if (sent == CHAN_OK) {
		assert_chan_status(lfchan_try_recv(ch, &got), CHAN_OK);
		assert_ptr_equal(got, MSG(1));
	}
	enum chan_status rc = lfchan_try_recv(ch, &got);
	held_unmap();
	free_or_fail(made);
	if (rc != CHAN_CLOSED)
		fail_msg("a send won position 0 while lfchan_close had read tail and not yet written it; "
			 "with that message received, lfchan_try_recv answered %s, not CHAN_CLOSED: close "
			 "wrote back the tail it had read, plus the mark, moving tail back under the send, so "
			 "tail never equals head | mark_bit. Set the mark with one read-modify-write "
			 "(atomic_fetch_or), which cannot write over a change it did not see",
			 chan_status_str(rc));
}

/* Two closes caught between their read of tail and their write, then let
 * go together: one of them comes first, and the other must say so. */
static void test_of_two_closes_at_once_one_answers_closed(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(4);
	struct lfchan *ch = on_held_page(made);
	struct harness_thread t[2];
	struct lfop op[2];
	if (HELD_WORKS)
		held_hold(ch, sizeof(*ch));
	start_closer(&t[0], &op[0], ch, 1);
	start_closer(&t[1], &op[1], ch, 2);
	held_release();
	join_closer(&t[0]);
	join_closer(&t[1]);
	held_unmap();
	free_or_fail(made);
	if ((op[0].status == CHAN_OK) + (op[1].status == CHAN_OK) != 1 ||
	    (op[0].status == CHAN_CLOSED) + (op[1].status == CHAN_CLOSED) != 1)
		fail_msg("two closes at once answered %s and %s, not CHAN_OK once and CHAN_CLOSED once: "
			 "both read tail unmarked before either wrote it. Set the mark with one "
			 "read-modify-write (atomic_fetch_or) and answer from the value it returns",
			 chan_status_str(op[0].status), chan_status_str(op[1].status));
}

/*
 * A try that loses its CAS to close. The try is caught at its CAS on tail,
 * after it has read tail (not marked) and found the slot free; the test
 * closes the channel and lets the try go on. Its CAS fails and brings back
 * the marked tail. The channel was never full: the answer is CHAN_CLOSED.
 * A sender that looks for the mark only once, before its loop, compares
 * the marked tail with the slot's stamp, finds the stamp behind and
 * answers "not now": CHAN_WOULDBLOCK on a closed channel.
 */
static void test_a_try_send_that_loses_its_cas_to_close_answers_closed(void **state)
{
	(void)state;
	struct lfchan *made = new_or_fail(4);
	struct lfchan *ch = on_held_page(made);
	struct harness_thread t;
	struct lfop op = {.ch = ch, .msg = MSG(1), .status = CHAN_NOTIMPL};
	if (STORES_HELD)
		held_hold(ch, sizeof(*ch));
	harness_thread_start(&t, lfop_try_send, &op);
	if (STORES_HELD && !held_wait_for_writers(1)) {
		held_release();
		fail_msg("lfchan_try_send wrote nothing to the channel within %ld ms: it must win its position "
			 "with a compare-and-swap on tail",
			 harness_wait_ms());
	}
	held_unprotect();
	assert_chan_status(lfchan_close(ch), CHAN_OK);
	held_release();
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("lfchan_try_send did not return within %ld ms", harness_wait_ms());
	void *got = NULL;
	enum chan_status rc = lfchan_try_recv(ch, &got);
	held_unmap();
	free_or_fail(made);
	/* Unheld (a sanitizer, valgrind), the try may also come first. */
	if (op.status == CHAN_OK && !STORES_HELD) {
		assert_chan_status(rc, CHAN_OK);
		assert_ptr_equal(got, MSG(1));
	} else if (op.status != CHAN_CLOSED)
		fail_msg("lfchan_try_send, stopped at its compare-and-swap on tail, let go after lfchan_close, "
			 "answered %s, not CHAN_CLOSED: its CAS failed and brought back the marked tail. A "
			 "sender whose CAS fails must try again with the tail it brought back, looking for the "
			 "mark on every round of its loop (not once before it), and must not take a lost CAS "
			 "for 'not now'",
			 chan_status_str(op.status));
}

/* ---- idle: no CPU -------------------------------------------------------- */

#define IDLE_MS 600
#define SHORT_IDLE_MS 60

static enum chan_status recv_for(struct lfchan *ch, long ms)
{
	void *got = NULL;
	return lfchan_recv_timed(ch, &got, ms);
}

static enum chan_status send_for(struct lfchan *ch, long ms)
{
	return lfchan_send_timed(ch, MSG(9), ms);
}

/*
 * The channel's own deadline is the clock here: no sleep in the test. A
 * waiter that parks costs the same however long it waits; one that spins
 * or yields pays for every millisecond. So this compares a short timed
 * wait (wait_for must time out) with a long one: what the long one costs
 * beyond the short one (not counting what a slow build, valgrind, adds to
 * both) must stay under 1% of the time added. A first, shorter wait runs
 * the code once: what it costs to load (and, under valgrind, to
 * translate) is not what waiting costs. The waiter skips its spin budget
 * (lfchan_test_sleep_at_once; a waiter that finds the other side midway
 * still yields): the spin is paid once, but under valgrind it lasts
 * longer than the short wait (the short wait's deadline ended it after
 * 1 ms of CPU, the long wait spun all of it, 20 ms), and the two would no
 * longer differ by the wait alone. `who` waits on `what`.
 */
static void expect_no_cpu_while_waiting(struct lfchan *ch, enum chan_status (*wait_for)(struct lfchan *, long),
					const char *who, const char *what)
{
	lfchan_test_sleep_at_once = 1;
	assert_chan_status(wait_for(ch, 10), CHAN_TIMEOUT);
	double before = harness_thread_cpu_seconds();
	assert_chan_status(wait_for(ch, SHORT_IDLE_MS), CHAN_TIMEOUT);
	double short_wait = harness_thread_cpu_seconds() - before;
	before = harness_thread_cpu_seconds();
	assert_chan_status(wait_for(ch, IDLE_MS), CHAN_TIMEOUT);
	double used = harness_thread_cpu_seconds() - before - short_wait;
	if (used > (IDLE_MS - SHORT_IDLE_MS) / 1000.0 / 100.0)
		fail_msg("a %s waiting %d ms on %s used %.1f ms of CPU more than one waiting %d ms (over 1%% "
			 "of a core): it spins or yields instead of sleeping on the futex "
			 "(does in_flight say the channel is %s when it is?)",
			 who, IDLE_MS, what, used * 1000.0, SHORT_IDLE_MS,
			 wait_for == recv_for ? "empty" : "full");
}

static void test_a_receiver_waiting_on_an_empty_channel_uses_no_cpu(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	expect_no_cpu_while_waiting(ch, recv_for, "receiver", "an empty channel");
	free_or_fail(ch);
}

/* The same for a sender on a full channel, with head in lap 0 and then in
 * lap 1: a full test that holds in one lap and not the next (one that
 * compares bits of the positions rather than their difference) keeps a
 * sender yielding the core there for as long as it waits. */
static void test_a_sender_waiting_on_a_full_channel_uses_no_cpu_in_any_lap(void **state)
{
	(void)state;
	struct lfchan *ch = new_or_fail(1);
	void *got = NULL;
	for (int lap = 0; lap < 2; lap++) {
		assert_chan_status(lfchan_send(ch, MSG(1)), CHAN_OK);
		char what[96];
		snprintf(what, sizeof(what), "a full channel (head in lap %d, head %zu, tail %zu)", lap,
			 (size_t)atomic_load(&ch->head), (size_t)atomic_load(&ch->tail));
		expect_no_cpu_while_waiting(ch, send_for, "sender", what);
		assert_chan_status(lfchan_recv(ch, &got), CHAN_OK);
	}
	free_or_fail(ch);
}

/* ---- many threads -------------------------------------------------------- */

struct block_sender {
	struct lfchan *ch;
	long n;
	enum chan_status rc;
};

/* Tries only, so that the test needs nothing but the ring (Build it 1):
 * a full channel is tried again after a yield, never waited on. */
static void *send_blocks(void *arg)
{
	struct block_sender *b = arg;
	b->rc = CHAN_OK;
	for (long i = 0; i < b->n && b->rc == CHAN_OK; i++) {
		long *block = malloc(sizeof(*block));
		if (block == NULL)
			break;
		*block = i;
		while ((b->rc = lfchan_try_send(b->ch, block)) == CHAN_WOULDBLOCK)
			sched_yield();
		if (b->rc != CHAN_OK)
			free(block);
	}
	return NULL;
}

/* The next message from a sender of n that may stop early (then NULL). */
static void *next_block(struct lfchan *ch, struct harness_thread *sender)
{
	void *got = NULL;
	for (;;) {
		int sender_done = harness_thread_done(sender);
		enum chan_status rc = lfchan_try_recv(ch, &got);
		if (rc == CHAN_OK)
			return got;
		if (rc != CHAN_WOULDBLOCK)
			fail_msg("lfchan_try_recv returned %s while blocks were sent", chan_status_str(rc));
		if (sender_done)
			return NULL;
		sched_yield();
	}
}

static void test_a_message_and_what_it_points_to_reach_the_receiver_whole(void **state)
{
	(void)state;
	/* Each message is a block the sender fills and the receiver reads
	 * and frees: the stamp's release and acquire must order the block's
	 * filling (and the slot's msg) before their reading; ThreadSanitizer
	 * reports the race when they do not. */
	struct lfchan *ch = new_or_fail(4);
	struct block_sender b = {.ch = ch, .n = harness_scale(20000)};
	struct harness_thread t;
	harness_thread_start(&t, send_blocks, &b);
	harness_on_hang("the receiver stopped while blocks were sent: a slot that never becomes ready (a "
			"stamp stored with the wrong value)?");
	long next = 0;
	void *got;
	while (next < b.n && (got = next_block(ch, &t)) != NULL) {
		long value = *(long *)got;
		free(got);
		if (value != next)
			fail_msg("block %ld arrived as %ld: lost, repeated or torn on the way", next, value);
		next++;
	}
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the sender did not finish");
	assert_chan_status(b.rc, CHAN_OK);
	assert_int_equal(next, b.n);
	free_or_fail(ch);
}

/*
 * Exactly once, across many laps: 8 producers and 8 consumers through 3
 * slots, with lfchan_send and lfchan_recv (the engine of src/traffic.h,
 * which lesson 14's program runs too).
 */
static void test_8x8_threads_exactly_once_across_many_laps(void **state)
{
	(void)state;
	harness_on_hang("8 producers and 8 consumers stopped: a lost wake-up, or a slot that never becomes "
			"ready (a stamp written with the wrong lap)?");
	unsigned long long n = (unsigned long long)harness_scale(60000);
	struct traffic t = {.capacity = 3, .producers = 8, .consumers = 8, .messages = n, .batch = 1, .lockfree = 1};
	expect_traffic_exactly_once(&t, "Two threads won one position, or a slot was reused before its "
					"reader was done?");
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_capacity_zero_is_refused_and_one_slot_works, L14 "#4-the-contract"),
	    HTEST(test_messages_come_out_in_order_over_many_laps, L14 "#build-it-1-the-ring"),
	    HTEST(test_try_send_on_a_full_channel_would_block, L14 "#build-it-1-the-ring"),
	    HTEST(test_try_recv_on_an_empty_channel_would_block, L14 "#build-it-1-the-ring"),
	    HTEST(test_a_receiver_answers_closed_only_once_closed_is_set, L14 "#build-it-1-the-ring"),
	    HTEST(test_a_claimed_slot_is_not_free_to_the_next_lap, L14 "#stamps-and-laps"),
	    HTEST(test_a_sender_overtaken_reads_tail_again, L14 "#stamps-and-laps"),
	    HTEST(test_a_receiver_overtaken_reads_head_again, L14 "#stamps-and-laps"),
	    HTEST(test_a_message_and_what_it_points_to_reach_the_receiver_whole, L14 "#memory-orders"),
	    HTEST(test_close_lets_receivers_drain_then_says_closed, L14 "#build-it-2-close"),
	    HTEST(test_a_send_claimed_before_close_is_still_received, L14 "#build-it-2-close"),
	    HTEST(test_a_send_during_close_is_received_and_then_closed, L14 "#build-it-2-close"),
	    HTEST(test_of_two_closes_at_once_one_answers_closed, L14 "#build-it-2-close"),
	    HTEST(test_a_try_send_that_loses_its_cas_to_close_answers_closed, L14 "#build-it-2-close"),
	    HTEST(test_timed_recv_on_an_empty_channel_times_out, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_a_sleeping_receiver_wakes_for_a_message, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_a_sleeping_sender_wakes_for_room, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_a_wake_up_between_last_look_and_sleep_is_not_lost_receiving, L14 "#the-protocol"),
	    HTEST(test_a_wake_up_between_last_look_and_sleep_is_not_lost_sending, L14 "#the-protocol"),
	    HTEST(test_notify_bumps_epoch_before_it_wakes, L14 "#the-protocol"),
	    HTEST(test_a_send_meeting_a_receiver_going_to_sleep_wakes_it, L14 "#the-protocol"),
	    HTEST(test_a_waiter_woken_as_its_deadline_passes_hands_the_wake_up_on, L14 "#the-protocol"),
	    HTEST(test_a_waiter_that_times_out_wakes_nobody, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_a_receiver_woken_behind_a_send_midway_does_not_sleep_again, L14 "#the-protocol"),
	    HTEST(test_a_sender_woken_behind_a_receive_midway_does_not_sleep_again, L14 "#the-protocol"),
	    HTEST(test_a_receiver_waiting_on_an_empty_channel_uses_no_cpu, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_a_sender_waiting_on_a_full_channel_uses_no_cpu_in_any_lap, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_close_wakes_every_sleeping_receiver, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_close_wakes_every_sleeping_sender, L14 "#build-it-3-sleeping-without-missing-a-wake-up"),
	    HTEST(test_8x8_threads_exactly_once_across_many_laps, L14 "#7-what-can-go-wrong"),
	};
	return harness_main(argc, argv, "14-lockfree", tests, HARNESS_COUNT(tests));
}
