/*
 * lfchan.h - lesson 14: a lock-free bounded channel (C11 atomics).
 *
 * It moves `void *` messages from sending threads to receiving threads,
 * first in, first out, like lesson 01's channel, but no thread ever holds a
 * lock: a sender and a receiver meet only in the slot they both touch, so
 * when both sides keep up nothing crosses between the cores but the slot's
 * own cache line. A message is a pointer and whoever holds it owns what it
 * points to: CHAN_OK from a send hands it to the receiver.
 *
 * The subset of lessons 01 and 02 it offers:
 *   - buffered channels of capacity 1 to LFCHAN_MAX_CAP (lfchan_new(0)
 *     fails with EINVAL): send blocks while the buffer is full, receive
 *     while it is empty; one producer's messages come out in the order it
 *     sent them;
 *   - blocking, try and timed (absolute CLOCK_MONOTONIC deadline, or
 *     milliseconds) send and receive, answering CHAN_OK, CHAN_CLOSED,
 *     CHAN_WOULDBLOCK (try) or CHAN_TIMEOUT (timed);
 *   - close: no more sends, receivers drain what is buffered and then get
 *     CHAN_CLOSED; every thread waiting in the channel wakes up; closing
 *     twice answers CHAN_CLOSED;
 *   - len and cap, as snapshots.
 * Left out, because each would bring back what this channel exists to
 * avoid (lessons/14-lockfree/README.md, "The contract", says more):
 *   - capacity 0: a rendezvous makes the sender wait until a receiver has
 *     taken the message, a round trip between the cores for every message
 *     whatever the channel is made of; lesson 01's channel does it well;
 *   - select: waiting on several channels at once needs each of them to
 *     know who waits (lesson 02's watchers, under the channel's lock). Here
 *     a waiter is only a count and a futex word per channel; a select would
 *     need a list of waiters, and the lock that guards it, on every send.
 *
 * Waiting: an operation that cannot complete spins a little (a partner on
 * the other core usually acts within a microsecond), then yields, then
 * sleeps on a futex, so an idle channel costs no CPU. Sleeping is never
 * entered after a wake-up has been missed: see struct lfchan_waiters.
 */
#ifndef LFCHAN_H
#define LFCHAN_H

#include "channel.h" /* enum chan_status and chan_status_str, shared with lesson 01 */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The largest capacity lfchan_new accepts. */
#define LFCHAN_MAX_CAP ((size_t)1 << 26)

/* Bytes in a cache line: fields that different threads write are kept
 * this far apart, so that writing one does not take the other away from
 * the core that uses it ("false sharing"). */
#define LFCHAN_LINE 64

/* snippet: lfchan-slot */
/*
 * One slot of the ring. Its stamp says, for the position a thread is at,
 * what the slot holds (pos is a position: a lap number and an index):
 *   stamp == pos              free: a sender at pos may write it;
 *   stamp == pos + 1          full: a receiver at pos may take it;
 *   stamp behind pos          still full from the previous lap
 *                             (pos + 1 - one_lap: the channel is full),
 *                             or that lap's thread is not done with it.
 * msg is a plain pointer: the stamp alone must make its writing and its
 * reading take turns.
 */
struct lfchan_slot {
	atomic_size_t stamp;
	void *msg;
};
/* end snippet */

/* snippet: lfchan-waiters */
/*
 * Where threads that found the channel full (or empty) sleep.
 *   waiting  how many threads are on their way to sleep or asleep: a
 *            thread that completes an operation makes a system call to
 *            wake one only when it is not 0;
 *   epoch    the futex word, bumped by every wake-up: a FUTEX_WAIT on a
 *            value read earlier returns at once if a wake-up came since.
 * Which of these loads and writes come before which, and with what
 * order, is the sleeping protocol (lessons/14-lockfree, "The protocol").
 */
struct lfchan_waiters {
	_Atomic uint32_t epoch;
	_Atomic uint32_t waiting;
};
/* end snippet */

/* snippet: struct-lfchan */
/*
 * The channel. head and tail are positions: the index of a slot in the
 * low bits, the lap count above them (one_lap, a power of two above cap,
 * is one lap).
 * tail also carries mark_bit once the channel is closed, so that a
 * sender's compare-and-swap on tail fails on a closed channel: close and
 * send are ordered by the one word they both change.
 * closed says the same to receivers, on a line nobody writes until the
 * close: a receiver that finds its slot empty reads closed, and reads
 * tail (the senders' line) only once closed is 1, and the mark in tail
 * decides. Close sets it after the mark, and so does any thread that
 * meets the mark first (the given attempt and last_look): a receive that
 * comes after a send answered CHAN_CLOSED finds the channel closed too.
 * Each group that one side writes sits on its own cache line.
 */
struct lfchan {
	_Alignas(LFCHAN_LINE) atomic_size_t head; /* the next position to receive from */
	_Alignas(LFCHAN_LINE) atomic_size_t tail; /* the next position to send to, | mark_bit when closed */
	_Alignas(LFCHAN_LINE) struct lfchan_waiters receivers; /* wait for a message */
	_Alignas(LFCHAN_LINE) struct lfchan_waiters senders;   /* wait for room */
	_Alignas(LFCHAN_LINE) atomic_int closed; /* 1: look at tail, the mark may be there (set by close, or a thread that met the mark) */
	/* Never change after lfchan_new: */
	_Alignas(LFCHAN_LINE) size_t cap;
	size_t mark_bit; /* the smallest power of two above cap */
	size_t one_lap;	 /* 2 * mark_bit: adding it moves a position one lap on */
	struct lfchan_slot *slots;
	unsigned spin_rounds; /* LFCHAN_SPIN_ROUNDS; 0 if the thread that made it could use one CPU only */
};
/* end snippet */

/* snippet: lfchan-api */
/* A new open channel of cap slots (1 to LFCHAN_MAX_CAP). NULL with errno
 * EINVAL (cap 0, or too large) or ENOMEM. Freed with lfchan_free. */
struct lfchan *lfchan_new(size_t cap);

/* Frees the channel (buffered messages are not freed: drain it first).
 * CHAN_EBUSY, freeing nothing, while a thread sleeps in it. */
enum chan_status lfchan_free(struct lfchan *ch);

/* Block until msg is buffered (CHAN_OK: the receiver owns it now) or the
 * channel is closed (CHAN_CLOSED: you still own msg). */
enum chan_status lfchan_send(struct lfchan *ch, void *msg);

/* Block until a message arrives (CHAN_OK: *msg is yours) or the channel is
 * closed and empty (CHAN_CLOSED, *msg = NULL). */
enum chan_status lfchan_recv(struct lfchan *ch, void **msg);

/* Never wait: CHAN_WOULDBLOCK instead. */
enum chan_status lfchan_try_send(struct lfchan *ch, void *msg);
enum chan_status lfchan_try_recv(struct lfchan *ch, void **msg);

/* Wait until the absolute CLOCK_MONOTONIC deadline at most (NULL: no
 * limit; in the past: a try that answers CHAN_TIMEOUT), or timeout_ms. */
enum chan_status lfchan_send_until(struct lfchan *ch, void *msg, const struct timespec *deadline);
enum chan_status lfchan_recv_until(struct lfchan *ch, void **msg, const struct timespec *deadline);
enum chan_status lfchan_send_timed(struct lfchan *ch, void *msg, long timeout_ms);
enum chan_status lfchan_recv_timed(struct lfchan *ch, void **msg, long timeout_ms);

/* No more sends; wakes every waiting thread. CHAN_CLOSED if it already was. */
enum chan_status lfchan_close(struct lfchan *ch);

/* Buffered messages (a snapshot), and the capacity given to lfchan_new. */
size_t lfchan_len(struct lfchan *ch);
size_t lfchan_cap(struct lfchan *ch);
/* end snippet */

/* snippet: lfchan-waiting */
/* The waiting budget: an operation that cannot complete tries again
 * after 1, 2, 4 ... pauses, at most LFCHAN_PAUSES_MAX between two tries
 * (a partner who acts is seen within that; 1 here: a look after every
 * pause), LFCHAN_SPIN_ROUNDS times: 1 000 pauses, 20 µs where a pause
 * takes 20 ns (x86; on arm64 a pause is next to nothing), of the order
 * of a sleep and a wake-up; then after a
 * sched_yield, LFCHAN_YIELD_ROUNDS times; and then sleeps. A channel made
 * by a thread allowed one CPU only (taskset, a container's cpuset) does
 * not spin: no partner could act while it did. */
#ifndef LFCHAN_SPIN_ROUNDS
#define LFCHAN_SPIN_ROUNDS 1000
#endif
#ifndef LFCHAN_PAUSES_MAX
#define LFCHAN_PAUSES_MAX 1
#endif
#ifndef LFCHAN_YIELD_ROUNDS
#define LFCHAN_YIELD_ROUNDS 4
#endif
/* The pauses of spin round r: 2^r, at most LFCHAN_PAUSES_MAX. */
static inline unsigned lfchan_round_pauses(unsigned round)
{
	return round < 16 && 1u << round < LFCHAN_PAUSES_MAX ? 1u << round : LFCHAN_PAUSES_MAX;
}
/* end snippet */

#ifdef LFCHAN_TEST_HOOKS
/*
 * For lesson 14's tests only (the Makefile compiles lfchan.c a second time
 * with LFCHAN_TEST_HOOKS for them; every program's channel has no hook).
 * When set, lfchan_test_hook is called at this point, so that a test can
 * act in the middle of an operation, deterministically:
 *   LFCHAN_AT_PARKING  a waiter has announced itself and looked at the
 *                      channel one last time, and is about to sleep.
 * The given last_look calls it; the code the lesson asks for has no hook.
 */
enum lfchan_hook_point { LFCHAN_AT_PARKING };
extern void (*lfchan_test_hook)(struct lfchan *ch, enum lfchan_hook_point at);
/* When 1, a wait spends no budget: its first NOT_NOW goes to park at
 * once (a last look that answers MIDWAY still yields), so that a test
 * can make a waiter's announcement and last look meet another thread's
 * operation, round after round. The given back_off reads it; set it
 * before starting the threads. */
extern int lfchan_test_sleep_at_once;
#endif

#endif
