/*
 * channel.c - lesson 01: a bounded buffer with blocking send and receive,
 * and close. The contract is in src/channel.h; read it first.
 *
 * You write the parts that run with the channel's mutex held: the ring
 * buffer, the wait for room or for a message, close. The public functions
 * around them are given: they take the mutex, call your part, and then
 * call lesson 02's part of the channel (src/channel.h, "the seam"), which
 * adds what an unbuffered channel, a deadline or a waiting select needs.
 */
#include "channel.h"
#include "notimpl.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct chan *chan_new(size_t cap)
{
	/* BEGIN SOLUTION */
	if (cap > SIZE_MAX / sizeof(void *)) {
		errno = EINVAL;
		return NULL;
	}
	struct chan *ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	ch->cap = cap;
	ch->slots = cap == 0 ? 1 : cap;
	ch->buf = calloc(ch->slots, sizeof(void *));
	if (ch->buf == NULL) {
		free(ch);
		return NULL;
	}
	/* pthread_mutex_init returns its error instead of setting errno. */
	int err = pthread_mutex_init(&ch->mu, NULL);
	if (err != 0) {
		free(ch->buf);
		free(ch);
		errno = err;
		return NULL;
	}
	/* The condition variables come last: chan_cond_init reports no
	 * failure (Linux's pthread_cond_init has none to report). */
	chan_cond_init(&ch->not_empty);
	chan_cond_init(&ch->not_full);
	return ch;
	/* END SOLUTION */
	/* STUB
	(void)cap;
	NOT_IMPLEMENTED("chan_new", "lessons/01-channel/README.md#new-and-free");
	errno = ENOSYS;
	return NULL;
	*/
}

/* Frees what chan_new made; nobody is inside the channel any more. */
static void chan_destroy(struct chan *ch)
{
	/* BEGIN SOLUTION */
	pthread_cond_destroy(&ch->not_empty);
	pthread_cond_destroy(&ch->not_full);
	pthread_mutex_destroy(&ch->mu);
	free(ch->buf);
	free(ch);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("chan_destroy", "lessons/01-channel/README.md#new-and-free");
	*/
}

enum chan_status chan_free(struct chan *ch)
{
	if (ch == NULL)
		return CHAN_OK;
	/* Holding mu while we look: a thread blocked in the channel is counted
	 * in recv_waiting or send_waiting (your waits count themselves), or is
	 * a select listed in watchers (lesson 02). Destroying a condition
	 * variable a thread sleeps on is undefined behaviour. */
	pthread_mutex_lock(&ch->mu);
	int busy = ch->recv_waiting > 0 || ch->send_waiting > 0 || ch->watchers != NULL;
	pthread_mutex_unlock(&ch->mu);
	if (busy)
		return CHAN_EBUSY;
	chan_destroy(ch);
	return CHAN_OK;
}

/* BEGIN SOLUTION */
/* The ring buffer. Both are called with ch->mu held. */
static void ring_push(struct chan *ch, void *msg)
{
	ch->buf[(ch->head + ch->len) % ch->slots] = msg;
	ch->len++;
	ch->sent++;
}

static void *ring_pop(struct chan *ch)
{
	void *msg = ch->buf[ch->head];
	ch->buf[ch->head] = NULL;
	ch->head = (ch->head + 1) % ch->slots;
	ch->len--;
	ch->taken++;
	return msg;
}
/* END SOLUTION */

/* With ch->mu held: waits for room (no longer than deadline allows), then
 * puts msg in the buffer. CHAN_OK, CHAN_CLOSED or CHAN_TIMEOUT. */
static enum chan_status send_locked(struct chan *ch, void *msg, const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	/* Wait for room. The predicate is re-checked after every wake-up: a
	 * wake-up can be spurious, or another sender can fill the slot first. */
	ch->send_waiting++;
	int timed_out = 0;
	while (ch->len == ch->slots && !ch->closed && !timed_out)
		timed_out = chan_cond_wait(&ch->not_full, &ch->mu, deadline) == ETIMEDOUT;
	ch->send_waiting--;
	if (ch->closed)
		return CHAN_CLOSED;
	if (ch->len == ch->slots)
		return CHAN_TIMEOUT;
	ring_push(ch, msg);
	pthread_cond_signal(&ch->not_empty);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg;
	(void)deadline;
	NOT_IMPLEMENTED("send_locked", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
	*/
}

/* With ch->mu held: waits for a message (no longer than deadline allows),
 * then takes it. CHAN_OK, or CHAN_CLOSED or CHAN_TIMEOUT with *msg NULL. */
static enum chan_status recv_locked(struct chan *ch, void **msg, const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	ch->recv_waiting++;
	int timed_out = 0;
	while (ch->len == 0 && !ch->closed && !timed_out)
		timed_out = chan_cond_wait(&ch->not_empty, &ch->mu, deadline) == ETIMEDOUT;
	ch->recv_waiting--;
	/* The buffer first: a message there is ours even if the channel is
	 * closed (we drain it) or our time is up (it came as the wait ended). */
	if (ch->len == 0) {
		*msg = NULL;
		return ch->closed ? CHAN_CLOSED : CHAN_TIMEOUT;
	}
	*msg = ring_pop(ch);
	pthread_cond_signal(&ch->not_full);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)deadline;
	*msg = NULL;
	NOT_IMPLEMENTED("recv_locked", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
	*/
}

/* With ch->mu held: marks the channel closed and wakes everyone blocked in
 * it. CHAN_CLOSED if it already was. */
static enum chan_status close_locked(struct chan *ch)
{
	/* BEGIN SOLUTION */
	if (ch->closed)
		return CHAN_CLOSED;
	ch->closed = 1;
	/* Every waiter must see the close, not just one: broadcast both. */
	pthread_cond_broadcast(&ch->not_empty);
	pthread_cond_broadcast(&ch->not_full);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("close_locked", "lessons/01-channel/README.md#close");
	return CHAN_NOTIMPL;
	*/
}

enum chan_status chan_send_until(struct chan *ch, void *msg, const struct timespec *deadline)
{
	if (ch == NULL)
		return CHAN_EINVAL;
	pthread_mutex_lock(&ch->mu);
	enum chan_status rc = send_locked(ch, msg, deadline);
	if (rc == CHAN_OK)
		rc = chan_after_send(ch, deadline);
	pthread_mutex_unlock(&ch->mu);
	return rc;
}

enum chan_status chan_recv_until(struct chan *ch, void **msg, const struct timespec *deadline)
{
	if (ch == NULL || msg == NULL)
		return CHAN_EINVAL;
	pthread_mutex_lock(&ch->mu);
	enum chan_status rc = recv_locked(ch, msg, deadline);
	if (rc == CHAN_OK)
		chan_after_recv(ch);
	pthread_mutex_unlock(&ch->mu);
	return rc;
}

enum chan_status chan_send(struct chan *ch, void *msg)
{
	return chan_send_until(ch, msg, NULL);
}

enum chan_status chan_recv(struct chan *ch, void **msg)
{
	return chan_recv_until(ch, msg, NULL);
}

enum chan_status chan_close(struct chan *ch)
{
	if (ch == NULL)
		return CHAN_EINVAL;
	pthread_mutex_lock(&ch->mu);
	enum chan_status rc = close_locked(ch);
	if (rc == CHAN_OK)
		chan_wake_watchers(ch);
	pthread_mutex_unlock(&ch->mu);
	return rc;
}

size_t chan_len(struct chan *ch)
{
	/* BEGIN SOLUTION */
	if (ch == NULL)
		return 0;
	/* Even a one-word read needs the lock: without it the read races
	 * with every send and receive (undefined behaviour in C11). */
	pthread_mutex_lock(&ch->mu);
	size_t len = ch->cap == 0 ? 0 : ch->len;
	pthread_mutex_unlock(&ch->mu);
	return len;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("chan_len", "lessons/01-channel/README.md#len-and-cap");
	return (size_t)-1;
	*/
}

size_t chan_cap(struct chan *ch)
{
	/* cap never changes after chan_new, so it needs no lock. */
	return ch == NULL ? 0 : ch->cap;
}
