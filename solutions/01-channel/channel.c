/*
 * channel.c - lesson 01: a bounded buffer with blocking send and receive,
 * and close. The contract is in src/channel.h; read it first.
 */
#include "channel.h"
#include "clock.h"
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
	/* Lesson 02 waits with deadlines on the monotonic clock; the condition
	 * variables must be told to use it when they are created. */
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&ch->mu, NULL);
	pthread_cond_init(&ch->not_empty, &attr);
	pthread_cond_init(&ch->not_full, &attr);
	pthread_condattr_destroy(&attr);
	return ch;
	/* END SOLUTION */
	/* STUB
	(void)cap;
	NOT_IMPLEMENTED("chan_new", "lessons/01-channel/README.md#5-build-it");
	errno = ENOSYS;
	return NULL;
	*/
}

enum chan_status chan_free(struct chan *ch)
{
	/* BEGIN SOLUTION */
	if (ch == NULL)
		return CHAN_OK;
	/* Holding mu while we look: a thread blocked in the channel is counted
	 * in recv_waiting or send_waiting, or listed in watchers. */
	pthread_mutex_lock(&ch->mu);
	int busy = ch->recv_waiting > 0 || ch->send_waiting > 0 || ch->watchers != NULL;
	pthread_mutex_unlock(&ch->mu);
	if (busy)
		return CHAN_EBUSY;
	pthread_cond_destroy(&ch->not_empty);
	pthread_cond_destroy(&ch->not_full);
	pthread_mutex_destroy(&ch->mu);
	free(ch->buf);
	free(ch);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("chan_free", "lessons/01-channel/README.md#5-build-it");
	return CHAN_NOTIMPL;
	*/
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

enum chan_status chan_send_until(struct chan *ch, void *msg, const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	if (ch == NULL)
		return CHAN_EINVAL;
	pthread_mutex_lock(&ch->mu);
	/* Wait for room. The predicate is re-checked after every wake-up: a
	 * wake-up can be spurious, or another sender can fill the slot first. */
	ch->send_waiting++;
	int timed_out = 0;
	while (ch->len == ch->slots && !ch->closed && !timed_out)
		timed_out = chan_cond_wait(&ch->not_full, &ch->mu, deadline) == ETIMEDOUT;
	ch->send_waiting--;
	if (ch->closed) {
		pthread_mutex_unlock(&ch->mu);
		return CHAN_CLOSED;
	}
	if (ch->len == ch->slots) {
		pthread_mutex_unlock(&ch->mu);
		return CHAN_TIMEOUT;
	}
	/* An unbuffered try_send only hands over to a receiver already waiting:
	 * without one, nobody would take the message before the deadline. */
	if (ch->cap == 0 && ch->recv_waiting == 0 && deadline != NULL && deadline_passed(deadline)) {
		pthread_mutex_unlock(&ch->mu);
		return CHAN_TIMEOUT;
	}
	int receiver_waiting = ch->recv_waiting > 0;
	ring_push(ch, msg);
	unsigned long long ticket = ch->sent;
	pthread_cond_signal(&ch->not_empty);
	chan_wake_watchers(ch);
	enum chan_status rc = CHAN_OK;
	if (ch->cap == 0)
		rc = chan_await_pickup(ch, ticket, receiver_waiting ? NULL : deadline);
	pthread_mutex_unlock(&ch->mu);
	return rc;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg;
	(void)deadline;
	NOT_IMPLEMENTED("chan_send_until", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
	*/
}

enum chan_status chan_recv_until(struct chan *ch, void **msg, const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	if (ch == NULL || msg == NULL)
		return CHAN_EINVAL;
	pthread_mutex_lock(&ch->mu);
	/* Wait for a message. A message that arrives is taken even if the
	 * deadline passed meanwhile: an unbuffered sender may have handed it
	 * to us because we were waiting. */
	ch->recv_waiting++;
	int timed_out = 0;
	while (ch->len == 0 && !ch->closed && !timed_out)
		timed_out = chan_cond_wait(&ch->not_empty, &ch->mu, deadline) == ETIMEDOUT;
	ch->recv_waiting--;
	if (ch->len == 0) {
		/* Decide while still holding the lock: once it is released, a send
		 * and a close could both happen before we read `closed`. */
		enum chan_status rc = ch->closed ? CHAN_CLOSED : CHAN_TIMEOUT;
		pthread_mutex_unlock(&ch->mu);
		*msg = NULL;
		return rc;
	}
	*msg = ring_pop(ch);
	/* Senders wait on not_full for two reasons when the channel is
	 * unbuffered (room in the slot, and "my message was taken"), so one
	 * signal could wake the wrong one: wake them all. */
	if (ch->cap == 0)
		pthread_cond_broadcast(&ch->not_full);
	else
		pthread_cond_signal(&ch->not_full);
	pthread_mutex_unlock(&ch->mu);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)deadline;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_recv_until", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
	*/
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
	/* BEGIN SOLUTION */
	if (ch == NULL)
		return CHAN_EINVAL;
	pthread_mutex_lock(&ch->mu);
	if (ch->closed) {
		pthread_mutex_unlock(&ch->mu);
		return CHAN_CLOSED;
	}
	ch->closed = 1;
	/* Every waiter must see the close, not just one: broadcast both. */
	pthread_cond_broadcast(&ch->not_empty);
	pthread_cond_broadcast(&ch->not_full);
	chan_wake_watchers(ch);
	pthread_mutex_unlock(&ch->mu);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("chan_close", "lessons/01-channel/README.md#close");
	return CHAN_NOTIMPL;
	*/
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
