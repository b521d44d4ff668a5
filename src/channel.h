/*
 * channel.h - a Go-style channel for threads (lessons 01 and 02).
 *
 * A channel moves messages of type `void *` from sending threads to
 * receiving threads, in order, through a bounded buffer. A message is a
 * pointer, and whoever holds the pointer owns what it points to: when
 * chan_send returns CHAN_OK the receiver owns the message; when it returns
 * anything else the sender still owns it and must free or keep it.
 *
 * Semantics, the same as Go's where Go has an answer:
 *   - capacity N >= 1: send blocks while N messages are buffered, receive
 *     blocks while none are; messages come out in the order they went in.
 *   - capacity 0: no buffer. A send returns only once a receiver has taken
 *     the value (a rendezvous).
 *   - close: no more sends. Receivers first drain what is buffered, then
 *     get CHAN_CLOSED. A send on a closed channel returns CHAN_CLOSED (in
 *     Go it panics). A sender or receiver blocked when close happens wakes
 *     up and gets CHAN_CLOSED. Closing twice returns CHAN_CLOSED.
 *   - len and cap are snapshots; never use them to decide whether the next
 *     send or receive will block (use the try_ operations for that).
 *
 * Deadlines are absolute times on CLOCK_MONOTONIC (see clock.h), so a jump
 * of the wall clock can neither stretch nor cut a wait.
 *
 * Two lessons write it, each rule once: lesson 01 the bounded buffer
 * (channel.c), lesson 02 the clock of the waits, the rendezvous of
 * capacity 0 and the wake-up of a waiting select (select.c, reached from
 * channel.c through "the seam" at the end of this header), then the try,
 * timed and select operations.
 */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

enum chan_status {
	CHAN_OK = 0,     /* done */
	CHAN_CLOSED,     /* the channel is closed (and, for a receive, empty) */
	CHAN_WOULDBLOCK, /* try_ operation: it could not complete at once */
	CHAN_TIMEOUT,    /* timed operation: the deadline passed first */
	CHAN_EINVAL,     /* a bad argument (NULL channel, too many cases...) */
	CHAN_EBUSY,      /* chan_free while threads are still blocked in it */
	CHAN_NOTIMPL,    /* an exercise stub that has not been written yet */
};

/* "CHAN_OK", "CHAN_CLOSED", ... for messages and tests. */
const char *chan_status_str(enum chan_status status);

struct chan_watcher; /* a select waiting on this channel (lesson 02) */

/* snippet: struct-chan */
/*
 * The channel. Its fields are here, not hidden in the .c file, so that the
 * lessons can talk about them and tests can observe a blocked thread.
 *
 * `mu` protects every field below it. Invariants, true whenever `mu` is
 * free:
 *   0 <= len <= slots, where slots = (cap == 0 ? 1 : cap);
 *   the buffered messages are buf[head], buf[(head+1) % slots], ...
 *     (len of them), oldest first;
 *   sent - taken == len (every message sent and not yet taken is buffered);
 *   messages leave in the order they came: the oldest buffered one is
 *     message number taken + 1 (counting from 1), the newest, at
 *     buf[(head + len - 1) % slots], number sent. A send that takes its
 *     message back out (lesson 02) removes the newest and leaves head
 *     where it is;
 *   once closed is 1 it stays 1.
 */
struct chan {
	pthread_mutex_t mu;
	pthread_cond_t not_empty; /* signalled when a message is added or on close */
	pthread_cond_t not_full;  /* signalled when a message is taken or on close */
	size_t cap;               /* as given to chan_new; 0 = unbuffered */
	size_t slots;             /* size of buf: cap, or 1 when cap is 0 */
	void **buf;               /* ring buffer of slots messages */
	size_t head;              /* index of the oldest message */
	size_t len;               /* number of buffered messages */
	unsigned long long sent;  /* messages ever added to the buffer */
	unsigned long long taken; /* messages ever taken out of it */
	int closed;               /* 1 after chan_close */
	int recv_waiting;         /* threads blocked in a receive right now */
	int send_waiting;         /* threads blocked in a send right now */
	struct chan_watcher *watchers; /* selects waiting on this channel */
};
/* end snippet */

/* ---- lesson 01: the bounded buffer ------------------------------------ */

/* snippet: lesson01-api */
/*
 * A new open channel of the given capacity (0 = unbuffered). Returns NULL
 * with errno set (ENOMEM, or EINVAL for an absurd capacity) on failure.
 * The caller owns the channel and frees it with chan_free.
 */
struct chan *chan_new(size_t cap);

/*
 * Frees the channel. Messages still buffered are not freed (the channel
 * does not know what they point to): drain it first. Returns CHAN_EBUSY,
 * and frees nothing, while any thread is blocked in the channel.
 */
enum chan_status chan_free(struct chan *ch);

/* Blocks until msg is in the buffer (taken, when cap is 0) or the channel
 * is closed. CHAN_OK: the receiver owns msg now. CHAN_CLOSED: you still do. */
enum chan_status chan_send(struct chan *ch, void *msg);

/* Blocks until a message arrives or the channel is closed and empty.
 * CHAN_OK: *msg is yours. CHAN_CLOSED: *msg is set to NULL. */
enum chan_status chan_recv(struct chan *ch, void **msg);

/* Closes the channel and wakes every blocked sender and receiver.
 * CHAN_CLOSED if it was already closed. Only a sender should close. */
enum chan_status chan_close(struct chan *ch);

/* Number of buffered messages (always 0 for an unbuffered channel). */
size_t chan_len(struct chan *ch);

/* The capacity given to chan_new. */
size_t chan_cap(struct chan *ch);

/*
 * The two operations every other send and receive is built on. deadline is
 * NULL to wait as long as it takes, a time already past to not wait at all
 * (a try), or (lesson 02) an absolute CLOCK_MONOTONIC time to wait until.
 * They return CHAN_OK, CHAN_CLOSED or CHAN_TIMEOUT (the wait allowed was
 * over first). chan_send/chan_recv call them with NULL, and lesson 02's try
 * and timed variants with a deadline.
 */
enum chan_status chan_send_until(struct chan *ch, void *msg, const struct timespec *deadline);
enum chan_status chan_recv_until(struct chan *ch, void **msg, const struct timespec *deadline);
/* end snippet */

/* ---- lesson 02: deadlines, rendezvous, try, timed, select ---------------- */

/* snippet: try-timed */
/* Non-blocking: CHAN_WOULDBLOCK instead of waiting. On an unbuffered
 * channel, try_send succeeds only if a receiver is already blocked in a
 * receive, and then returns once that receiver has the message: its past
 * deadline does not cut that hand-over short (chan_after_send). */
enum chan_status chan_try_send(struct chan *ch, void *msg);
enum chan_status chan_try_recv(struct chan *ch, void **msg);

/* Wait at most timeout_ms milliseconds: CHAN_TIMEOUT if that passes. */
enum chan_status chan_send_timed(struct chan *ch, void *msg, long timeout_ms);
enum chan_status chan_recv_timed(struct chan *ch, void **msg, long timeout_ms);
/* end snippet */

/* snippet: chan-select */
#define CHAN_SELECT_MAX 64

/*
 * Receive from whichever of chans[0..n-1] is ready first (Go's select with
 * only receive cases). A NULL entry is never ready, like a nil channel in
 * Go: set an entry to NULL to stop selecting on it. On return *which is the
 * index of the channel that answered:
 *   CHAN_OK      *msg is a message from chans[*which];
 *   CHAN_CLOSED  chans[*which] is closed and drained (*msg = NULL);
 *   CHAN_TIMEOUT the deadline passed; CHAN_WOULDBLOCK with a deadline in
 *                the past (the "default:" case) when nothing was ready;
 *   CHAN_EINVAL  n is 0 or > CHAN_SELECT_MAX, every entry is NULL, or
 *                chans, which or msg is NULL.
 * Fairness: when several channels are ready, each is equally likely to be
 * chosen, so no ready channel is starved.
 */
enum chan_status chan_select(struct chan *const chans[], size_t n, size_t *which, void **msg,
			     const struct timespec *deadline);
/* end snippet */

/* snippet: seam */
/*
 * The seam between lessons 01 and 02. Lesson 01's channel.c is the
 * bounded buffer; its given functions (chan_send_until, chan_recv_until,
 * chan_close) call these, which lesson 02's select.c implements, at the
 * points where a deadline, an unbuffered hand-over or a waiting select
 * adds something. Each is called with ch->mu held (chan_cond_wait: with
 * *mu held) and returns with it still held.
 */

/* pthread_cond_init, with the clock that chan_cond_wait's deadlines are
 * read on (CLOCK_MONOTONIC). chan_new creates the channel's two condition
 * variables with it, and select its waiter's. */
void chan_cond_init(pthread_cond_t *cv);

/* Wait on cv until signalled or until deadline (NULL = no deadline).
 * Returns 0, or ETIMEDOUT once the deadline has passed (any other error
 * of pthread_cond_timedwait is returned as 0: the caller re-checks). Like
 * pthread_cond_wait it may return early for no reason: callers re-check. */
int chan_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline);

/* A send has just put its message in the buffer (it is message number
 * ch->sent). Wakes every select waiting on ch and, on an unbuffered
 * channel, waits until a receiver took the message (CHAN_OK), or takes it
 * back out of the slot when the channel closes or the deadline passes
 * first (CHAN_CLOSED, CHAN_TIMEOUT). A buffered send: CHAN_OK at once.
 * A receiver already blocked in a receive when the message went in
 * (recv_waiting > 0) will take it, since a receive looks at the buffer
 * before at its own deadline: the send then waits for that pickup with
 * no deadline, whatever the caller's (a try's, long past, included), and
 * only the pickup or a close ends the wait. */
enum chan_status chan_after_send(struct chan *ch, const struct timespec *deadline);

/* A receive has just taken a message out of the buffer. On an unbuffered
 * channel the sender waiting for that pickup must hear of it. */
void chan_after_recv(struct chan *ch);

/* Tell every select waiting on ch that a receive may have become possible
 * (a message arrived, or the channel closed). */
void chan_wake_watchers(struct chan *ch);
/* end snippet */

#endif
