/*
 * lfchan.c - lesson 14: the lock-free bounded channel. The contract, and
 * what each field means, is src/lfchan.h; the lesson says which
 * happens-before edges the memory orders must create
 * (lessons/14-lockfree/README.md#memory-orders).
 */
#define _GNU_SOURCE /* syscall() */
#include "lfchan.h"
#include "clock.h"
#include "notimpl.h"
#include "process.h"
#include "spin.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define L14 "lessons/14-lockfree/README.md"

#ifdef LFCHAN_TEST_HOOKS
void (*lfchan_test_hook)(struct lfchan *ch, enum lfchan_hook_point at);
int lfchan_test_sleep_at_once;
#define HOOK(ch, at) (lfchan_test_hook != NULL ? lfchan_test_hook(ch, at) : (void)0)
#define SLEEP_AT_ONCE lfchan_test_sleep_at_once
#else
#define HOOK(ch, at) ((void)0)
#define SLEEP_AT_ONCE 0
#endif

/*
 * The channel needs no atomic_thread_fence: every ordering it relies on is
 * an atomic operation's own, which ThreadSanitizer models. GCC warns
 * (-Wtsan, an error here) about any fence built for ThreadSanitizer; the
 * warning is off so that a fence tried in an experiment builds, and the
 * test under ThreadSanitizer, not the compiler, judges it.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__SANITIZE_THREAD__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif

/*
 * What one attempt at an operation found. NOT_NOW: the slot is not ready
 * for it. MIDWAY (only a last look before sleeping answers it): not
 * ready, but a thread of the other side has won its position and not yet
 * stored its stamp, or close came; the thread must look again, not sleep.
 */
enum attempt { DONE, CLOSED, NOT_NOW, MIDWAY };

/* ---- given: the futex, pauses, positions --------------------------------- */

/*
 * The only Linux-specific code of the channel. FUTEX_WAIT_BITSET sleeps
 * while *word == val, until a FUTEX_WAKE on word or the absolute
 * CLOCK_MONOTONIC deadline (NULL: none); FUTEX_WAKE wakes up to val
 * sleepers. PRIVATE: the word is not shared with other processes, which
 * saves the kernel a lookup. Another system has its own such call
 * (WaitOnAddress on Windows, __ulock_wait on macOS).
 */
static inline long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *deadline)
{
	return syscall(SYS_futex, (uint32_t *)word, op | FUTEX_PRIVATE_FLAG, val, deadline, NULL,
		       FUTEX_BITSET_MATCH_ANY);
}

/* The waiting budget (lfchan.h): round r of a wait pauses 2^r times (at
 * most LFCHAN_PAUSES_MAX), ch->spin_rounds times, then yields the core;
 * 0 once it is time to sleep instead, unless the other side is midway
 * (got): then it yields, as often as it takes. */
static int back_off(const struct lfchan *ch, unsigned round, enum attempt got)
{
	if (SLEEP_AT_ONCE && got != MIDWAY)
		return 0;
	if (round < ch->spin_rounds) {
		for (unsigned i = 0, n = lfchan_round_pauses(round); i < n; i++)
			cpu_relax();
		return 1;
	}
	if (round < ch->spin_rounds + LFCHAN_YIELD_ROUNDS || got == MIDWAY) {
		sched_yield();
		return 1;
	}
	return 0;
}

static inline struct lfchan_slot *slot_at(const struct lfchan *ch, size_t pos)
{
	return &ch->slots[pos & (ch->mark_bit - 1)];
}

/* The position after pos: the next index, or index 0 of the next lap. */
static inline size_t next_pos(const struct lfchan *ch, size_t pos)
{
	size_t index = pos & (ch->mark_bit - 1);
	size_t lap = pos & ~(ch->one_lap - 1);
	return index + 1 < ch->cap ? pos + 1 : lap + ch->one_lap;
}

/* 1 if a slot's stamp is behind the one a thread at this position wants:
 * the slot is not ready for it yet. Positions only grow, so the difference
 * read as a signed number says which is ahead, even after size_t wraps. */
static inline int behind(size_t stamp, size_t want)
{
	return (ptrdiff_t)(stamp - want) < 0;
}

/* ---- one attempt: the ring ------------------------------------------------ */

static enum attempt send_attempt(struct lfchan *ch, void *msg)
{
	/* BEGIN SOLUTION */
	/* Relaxed: tail is only a guess at our position. The CAS below
	 * checks it, and the slot's stamp, not tail, tells us the slot. */
	size_t tail = atomic_load_explicit(&ch->tail, memory_order_relaxed);
	for (;;) {
		if (tail & ch->mark_bit)
			return CLOSED;
		struct lfchan_slot *slot = slot_at(ch, tail);
		/* Acquire: pairs with the receiver's release of this stamp, so
		 * its reading of the previous lap's msg happens before our
		 * writing of ours. */
		size_t stamp = atomic_load_explicit(&slot->stamp, memory_order_acquire);
		if (stamp == tail) {
			/* Free for this lap. Win the position, or learn the new
			 * tail (a failed CAS writes it into `tail`). The stamp,
			 * not the CAS, carries the data; seq_cst on success
			 * because this CAS is the write a receiver going to
			 * sleep must not miss (see notify). */
			if (atomic_compare_exchange_weak_explicit(&ch->tail, &tail, next_pos(ch, tail),
								  memory_order_seq_cst, memory_order_relaxed)) {
				slot->msg = msg;
				/* Release: a receiver that sees tail + 1 (with
				 * acquire) sees msg too. */
				atomic_store_explicit(&slot->stamp, tail + 1, memory_order_release);
				return DONE;
			}
		} else if (behind(stamp, tail)) {
			/* The slot still holds the previous lap's message (the
			 * channel is full), or the thread of the previous lap has
			 * not finished with it yet: not now, either way. */
			return NOT_NOW;
		} else {
			/* Another sender took this position first: look again. */
			cpu_relax();
			tail = atomic_load_explicit(&ch->tail, memory_order_relaxed);
		}
	}
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg;
	(void)slot_at;
	(void)next_pos;
	(void)behind;
	NOT_IMPLEMENTED("send_attempt (lfchan.c)", L14 "#build-it-1-the-ring");
	return CLOSED;
	*/
}

static enum attempt recv_attempt(struct lfchan *ch, void **msg)
{
	/* BEGIN SOLUTION */
	size_t head = atomic_load_explicit(&ch->head, memory_order_relaxed);
	for (;;) {
		struct lfchan_slot *slot = slot_at(ch, head);
		/* Acquire: pairs with the sender's release, so its msg is
		 * there to read. */
		size_t stamp = atomic_load_explicit(&slot->stamp, memory_order_acquire);
		if (stamp == head + 1) {
			/* Seq_cst on success, for a sender going to sleep. */
			if (atomic_compare_exchange_weak_explicit(&ch->head, &head, next_pos(ch, head),
								  memory_order_seq_cst, memory_order_relaxed)) {
				*msg = slot->msg;
				/* Release: the next lap's sender writes msg only
				 * after we have read it. */
				atomic_store_explicit(&slot->stamp, head + ch->one_lap, memory_order_release);
				return DONE;
			}
		} else if (behind(stamp, head + 1)) {
			/* No message here yet (or the previous lap's receiver is
			 * still reading). Before any close, that is all: tail is
			 * the senders' line, and a look at it would pull it here
			 * for their next CAS to pull back. Relaxed: a tail read
			 * too early after closed is 1 only means another look.
			 * Closed and drained only if close came when tail stood
			 * here: then no send can ever fill it. */
			if (!atomic_load_explicit(&ch->closed, memory_order_relaxed))
				return NOT_NOW;
			size_t tail = atomic_load_explicit(&ch->tail, memory_order_relaxed);
			return tail == (head | ch->mark_bit) ? CLOSED : NOT_NOW;
		} else {
			/* Another receiver took this position first. */
			cpu_relax();
			head = atomic_load_explicit(&ch->head, memory_order_relaxed);
		}
	}
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg;
	NOT_IMPLEMENTED("recv_attempt (lfchan.c)", L14 "#build-it-1-the-ring");
	return CLOSED;
	*/
}

/* ---- waiting: spin, then sleep without missing a wake-up ----------------- */

/* After an operation that may let w's threads go on (a message in, room
 * made, or close): wake one of them (all: every one), if any waits. */
static void notify(struct lfchan_waiters *w, int all)
{
	/* BEGIN SOLUTION */
	/* Seq_cst. Two threads each write one word and then load the
	 * other's: we won our position (a CAS on head or tail, or close's
	 * mark) and load waiting; the waiter increments waiting and loads
	 * head and tail (in_flight). Seq_cst operations fall in one order
	 * that both threads agree on, so one of the loads comes after the
	 * other thread's write and sees it: we see it waiting, or it sees
	 * our position taken. No fence: the CAS is the write (README: "The
	 * protocol"). */
	if (atomic_load_explicit(&w->waiting, memory_order_seq_cst) == 0)
		return;
	atomic_fetch_add_explicit(&w->epoch, 1, memory_order_seq_cst);
	futex(&w->epoch, FUTEX_WAKE, all ? INT_MAX : 1, NULL);
	/* END SOLUTION */
	/* STUB
	(void)w;
	(void)all;
	(void)futex;
	NOT_IMPLEMENTED("notify (lfchan.c)", L14 "#build-it-3-sleeping-without-missing-a-wake-up");
	*/
}

/*
 * Close writes the mark, then closed. A thread that meets the mark before
 * closed is 1 writes closed itself (1, whoever writes it first): so no
 * receiver waits on a closer the scheduler put aside between its two
 * writes, and no receive that comes after a send was told CLOSED finds
 * the channel open.
 */
static void help_close(struct lfchan *ch)
{
	if (!atomic_load_explicit(&ch->closed, memory_order_relaxed))
		atomic_store_explicit(&ch->closed, 1, memory_order_relaxed);
}

/* One attempt at the operation: a send (msg_in) or a receive (msg_out). */
static enum attempt attempt(struct lfchan *ch, void *msg_in, void **msg_out)
{
	if (msg_out != NULL)
		return recv_attempt(ch, msg_out);
	enum attempt got = send_attempt(ch, msg_in);
	if (got == CLOSED)
		help_close(ch);
	return got;
}

/*
 * After a thread announced itself in waiting and its last attempt found
 * the slot not ready: 1 if the channel is not really full (a send) or
 * empty (a receive), because a thread of the other side won its position
 * and has not stored its stamp yet, or the channel was closed; 0 if it
 * may sleep.
 */
static int in_flight(struct lfchan *ch, void **msg_out)
{
	/* BEGIN SOLUTION */
	/* Seq_cst: the loads that pair with notify's (see there). A closed
	 * tail carries the mark, which no position has: in flight too, and
	 * the next attempt answers CLOSED. */
	size_t tail = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
	size_t head = atomic_load_explicit(&ch->head, memory_order_seq_cst);
	/* Empty: tail where head is. Full: tail a lap ahead of head. */
	return msg_out != NULL ? tail != head : tail != head + ch->one_lap;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg_out;
	NOT_IMPLEMENTED("in_flight (lfchan.c)", L14 "#build-it-3-sleeping-without-missing-a-wake-up");
	return 1;
	*/
}

/* The last look before sleeping: one attempt; when the slot is not ready,
 * in_flight says whether to look again (MIDWAY) or sleep (NOT_NOW), and
 * then the tests' hook does the other side's operation right there, in
 * the window between this look and the sleep. */
static enum attempt last_look(struct lfchan *ch, void *msg_in, void **msg_out)
{
	enum attempt got = attempt(ch, msg_in, msg_out);
	if (got == NOT_NOW && in_flight(ch, msg_out)) {
		/* Midway, or closed: a receiver that meets the mark here helps
		 * (the next attempt then answers CLOSED). */
		if (atomic_load_explicit(&ch->tail, memory_order_relaxed) & ch->mark_bit)
			help_close(ch);
		return MIDWAY;
	}
	if (got == NOT_NOW)
		HOOK(ch, LFCHAN_AT_PARKING);
	return got;
}

/*
 * The last attempt before sleeping, and the sleep: the waiter of the
 * protocol (README, "The protocol"). It sleeps only when the last attempt
 * found NOT_NOW, and never through a wake-up that came after that attempt
 * began; waiting counts it until it returns. Returns what the last attempt
 * found; *timed_out is set once the deadline passed while asleep.
 */
static enum attempt park(struct lfchan *ch, struct lfchan_waiters *w, void *msg_in, void **msg_out,
			 const struct timespec *deadline, int *timed_out)
{
	/* BEGIN SOLUTION */
	uint32_t epoch = atomic_load_explicit(&w->epoch, memory_order_seq_cst);
	/* Seq_cst: the write that pairs with notify's load (see there). */
	atomic_fetch_add_explicit(&w->waiting, 1, memory_order_seq_cst);
	enum attempt got = last_look(ch, msg_in, msg_out);
	if (got == NOT_NOW) {
		/* Sleeps only if no wake-up came since `epoch` was read. */
		if (futex(&w->epoch, FUTEX_WAIT_BITSET, epoch, deadline) == -1 && errno == ETIMEDOUT)
			*timed_out = 1;
	}
	atomic_fetch_sub_explicit(&w->waiting, 1, memory_order_seq_cst);
	return got;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)w;
	(void)msg_in;
	(void)msg_out;
	(void)deadline;
	(void)timed_out;
	(void)last_look;
	NOT_IMPLEMENTED("park (lfchan.c)", L14 "#build-it-3-sleeping-without-missing-a-wake-up");
	return CLOSED;
	*/
}

/* ---- given: the operations, on top of attempt, back_off, park, notify ---- */

/*
 * A send (msg_out NULL) or a receive. `mine` are the waiters of this side,
 * `theirs` those of the other, woken after every success.
 *
 * A waiter that was woken either succeeds or passes the wake-up on. A
 * notify wakes one sleeper for one message (or one slot); a sleeper woken
 * as its deadline passes leaves without looking, and the sleepers behind
 * it would sleep on with that message in the channel. So one that leaves
 * unsuccessful after a wake-up wakes the next (README: "The protocol").
 */
static enum chan_status operate(struct lfchan *ch, void *msg_in, void **msg_out,
				const struct timespec *deadline)
{
	struct lfchan_waiters *mine = msg_out != NULL ? &ch->receivers : &ch->senders;
	struct lfchan_waiters *theirs = msg_out != NULL ? &ch->senders : &ch->receivers;
	int timed_out = 0, woken = 0;
	enum attempt got = attempt(ch, msg_in, msg_out);
	for (unsigned round = 0; (got == NOT_NOW || got == MIDWAY) && !timed_out; round++) {
		if (deadline != NULL && deadline_passed(deadline))
			timed_out = 1;
		else if (back_off(ch, round, got))
			got = attempt(ch, msg_in, msg_out);
		else {
			got = park(ch, mine, msg_in, msg_out, deadline, &timed_out);
			woken = got == NOT_NOW && !timed_out;
		}
	}
	if (got == DONE) {
		notify(theirs, 0);
		return CHAN_OK;
	}
	if (woken)
		notify(mine, 0);
	if (msg_out != NULL)
		*msg_out = NULL;
	return got == CLOSED ? CHAN_CLOSED : CHAN_TIMEOUT;
}

enum chan_status lfchan_send_until(struct lfchan *ch, void *msg, const struct timespec *deadline)
{
	return ch == NULL ? CHAN_EINVAL : operate(ch, msg, NULL, deadline);
}

enum chan_status lfchan_recv_until(struct lfchan *ch, void **msg, const struct timespec *deadline)
{
	return ch == NULL || msg == NULL ? CHAN_EINVAL : operate(ch, NULL, msg, deadline);
}

enum chan_status lfchan_send(struct lfchan *ch, void *msg)
{
	return lfchan_send_until(ch, msg, NULL);
}

enum chan_status lfchan_recv(struct lfchan *ch, void **msg)
{
	return lfchan_recv_until(ch, msg, NULL);
}

/* A try is an operation whose deadline has passed already. */
static const struct timespec long_ago = {0, 0};

enum chan_status lfchan_try_send(struct lfchan *ch, void *msg)
{
	enum chan_status rc = lfchan_send_until(ch, msg, &long_ago);
	return rc == CHAN_TIMEOUT ? CHAN_WOULDBLOCK : rc;
}

enum chan_status lfchan_try_recv(struct lfchan *ch, void **msg)
{
	enum chan_status rc = lfchan_recv_until(ch, msg, &long_ago);
	return rc == CHAN_TIMEOUT ? CHAN_WOULDBLOCK : rc;
}

enum chan_status lfchan_send_timed(struct lfchan *ch, void *msg, long timeout_ms)
{
	struct timespec deadline = deadline_after_ms(timeout_ms);
	return lfchan_send_until(ch, msg, &deadline);
}

enum chan_status lfchan_recv_timed(struct lfchan *ch, void **msg, long timeout_ms)
{
	struct timespec deadline = deadline_after_ms(timeout_ms);
	return lfchan_recv_until(ch, msg, &deadline);
}

enum chan_status lfchan_close(struct lfchan *ch)
{
	if (ch == NULL)
		return CHAN_EINVAL;
	/* BEGIN SOLUTION */
	/* One read-modify-write: a sender's CAS on tail either came first
	 * (its message is in, receivers will drain it) or fails and sees the
	 * mark. Seq_cst: the mark is a write that a thread going to sleep
	 * must not miss, paired with the loads of waiting in notify (see
	 * there); on x86 it is one locked instruction whatever the order. */
	size_t old = atomic_fetch_or_explicit(&ch->tail, ch->mark_bit, memory_order_seq_cst);
	if (old & ch->mark_bit)
		return CHAN_CLOSED;
	/* Then the receivers' word. Until they see it, a receiver finding
	 * its slot empty answers "not now" and looks again, or sleeps and is
	 * woken below. Relaxed: it carries no data, and a receiver that sees
	 * it before the mark looks again. */
	atomic_store_explicit(&ch->closed, 1, memory_order_relaxed);
	notify(&ch->receivers, 1);
	notify(&ch->senders, 1);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	NOT_IMPLEMENTED("lfchan_close", L14 "#build-it-2-close");
	return CHAN_NOTIMPL;
	*/
}

/* ---- given: new, free, len, cap --------------------------------------------- */

/* A spin is a bet that the other side runs at this very moment, on another
 * core. A thread allowed one CPU (taskset, a container's cpuset) loses it
 * every time, and each lost bet costs the whole spin: there, a wait goes
 * straight to yielding, which lets the other side run. (Go's runtime does
 * not spin on one processor either.) */
static unsigned spin_rounds_here(void)
{
	return process_cpus() < 2 ? 0 : LFCHAN_SPIN_ROUNDS;
}

struct lfchan *lfchan_new(size_t cap)
{
	if (cap == 0 || cap > LFCHAN_MAX_CAP) {
		errno = EINVAL;
		return NULL;
	}
	struct lfchan *ch = aligned_alloc(LFCHAN_LINE, sizeof(*ch));
	struct lfchan_slot *slots = calloc(cap, sizeof(*slots));
	if (ch == NULL || slots == NULL) {
		free(ch);
		free(slots);
		errno = ENOMEM;
		return NULL;
	}
	size_t mark_bit = 1;
	while (mark_bit <= cap)
		mark_bit <<= 1;
	*ch = (struct lfchan){.cap = cap,
			      .mark_bit = mark_bit,
			      .one_lap = 2 * mark_bit,
			      .slots = slots,
			      .spin_rounds = spin_rounds_here()};
	atomic_init(&ch->head, 0);
	atomic_init(&ch->tail, 0);
	atomic_init(&ch->closed, 0);
	atomic_init(&ch->receivers.epoch, 0);
	atomic_init(&ch->receivers.waiting, 0);
	atomic_init(&ch->senders.epoch, 0);
	atomic_init(&ch->senders.waiting, 0);
	/* Slot i is free for position i: lap 0, index i. */
	for (size_t i = 0; i < cap; i++)
		atomic_init(&slots[i].stamp, i);
	return ch;
}

enum chan_status lfchan_free(struct lfchan *ch)
{
	if (ch == NULL)
		return CHAN_EINVAL;
	if (atomic_load(&ch->receivers.waiting) != 0 || atomic_load(&ch->senders.waiting) != 0)
		return CHAN_EBUSY;
	free(ch->slots);
	free(ch);
	return CHAN_OK;
}

size_t lfchan_len(struct lfchan *ch)
{
	/* head and tail read at one moment: tail again unchanged after head. */
	for (;;) {
		size_t tail = atomic_load(&ch->tail) & ~ch->mark_bit;
		size_t head = atomic_load(&ch->head);
		if ((atomic_load(&ch->tail) & ~ch->mark_bit) != tail)
			continue;
		size_t hix = head & (ch->mark_bit - 1), tix = tail & (ch->mark_bit - 1);
		if (hix < tix)
			return tix - hix;
		if (hix > tix)
			return ch->cap - hix + tix;
		return tail == head ? 0 : ch->cap;
	}
}

size_t lfchan_cap(struct lfchan *ch)
{
	return ch->cap;
}
