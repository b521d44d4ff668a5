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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)cap;
	NOT_IMPLEMENTED("chan_new", "lessons/01-channel/README.md#new-and-free");
	errno = ENOSYS;
	return NULL;
}

/* Frees what chan_new made; nobody is inside the channel any more. */
static void chan_destroy(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_destroy", "lessons/01-channel/README.md#new-and-free");
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

/* With ch->mu held: waits for room (no longer than deadline allows), then
 * puts msg in the buffer. CHAN_OK, CHAN_CLOSED or CHAN_TIMEOUT. */
static enum chan_status send_locked(struct chan *ch, void *msg, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	(void)deadline;
	NOT_IMPLEMENTED("send_locked", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
}

/* With ch->mu held: waits for a message (no longer than deadline allows),
 * then takes it. CHAN_OK, or CHAN_CLOSED or CHAN_TIMEOUT with *msg NULL. */
static enum chan_status recv_locked(struct chan *ch, void **msg, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)deadline;
	*msg = NULL;
	NOT_IMPLEMENTED("recv_locked", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
}

/* With ch->mu held: marks the channel closed and wakes everyone blocked in
 * it. CHAN_CLOSED if it already was. */
static enum chan_status close_locked(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("close_locked", "lessons/01-channel/README.md#close");
	return CHAN_NOTIMPL;
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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_len", "lessons/01-channel/README.md#len-and-cap");
	return (size_t)-1;
}

size_t chan_cap(struct chan *ch)
{
	/* cap never changes after chan_new, so it needs no lock. */
	return ch == NULL ? 0 : ch->cap;
}
