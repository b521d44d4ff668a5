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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	(void)slot_at;
	(void)next_pos;
	(void)behind;
	NOT_IMPLEMENTED("send_attempt (lfchan.c)", L14 "#build-it-1-the-ring");
	return CLOSED;
}

static enum attempt recv_attempt(struct lfchan *ch, void **msg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	NOT_IMPLEMENTED("recv_attempt (lfchan.c)", L14 "#build-it-1-the-ring");
	return CLOSED;
}

/* ---- waiting: spin, then sleep without missing a wake-up ----------------- */

/* After an operation that may let w's threads go on (a message in, room
 * made, or close): wake one of them (all: every one), if any waits. */
static void notify(struct lfchan_waiters *w, int all)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)w;
	(void)all;
	(void)futex;
	NOT_IMPLEMENTED("notify (lfchan.c)", L14 "#build-it-3-sleeping-without-missing-a-wake-up");
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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg_out;
	NOT_IMPLEMENTED("in_flight (lfchan.c)", L14 "#build-it-3-sleeping-without-missing-a-wake-up");
	return 1;
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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)w;
	(void)msg_in;
	(void)msg_out;
	(void)deadline;
	(void)timed_out;
	(void)last_look;
	NOT_IMPLEMENTED("park (lfchan.c)", L14 "#build-it-3-sleeping-without-missing-a-wake-up");
	return CLOSED;
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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	NOT_IMPLEMENTED("lfchan_close", L14 "#build-it-2-close");
	return CHAN_NOTIMPL;
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
