/*
 * select.c - lesson 02: waiting with deadlines, the unbuffered rendezvous,
 * try and timed operations, and select over several channels.
 * The contract is in src/channel.h: lesson 01's channel.c calls the first
 * five functions here ("the seam") with the channel's mutex held.
 */
#include "channel.h"
#include "clock.h"
#include "notimpl.h"

#include <errno.h>
#include <stdint.h>

void chan_cond_init(pthread_cond_t *cv)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	NOT_IMPLEMENTED("chan_cond_init", "lessons/02-select/README.md#deadlines");
	pthread_cond_init(cv, NULL);
}

int chan_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)cv;
	(void)mu;
	(void)deadline;
	NOT_IMPLEMENTED("chan_cond_wait", "lessons/02-select/README.md#deadlines");
	return ETIMEDOUT;
}

enum chan_status chan_after_send(struct chan *ch, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)deadline;
	NOT_IMPLEMENTED("chan_after_send", "lessons/02-select/README.md#rendezvous");
	return CHAN_NOTIMPL;
}

void chan_after_recv(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_after_recv", "lessons/02-select/README.md#rendezvous");
}

enum chan_status chan_try_send(struct chan *ch, void *msg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	NOT_IMPLEMENTED("chan_try_send", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
}

enum chan_status chan_try_recv(struct chan *ch, void **msg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_try_recv", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
}

enum chan_status chan_send_timed(struct chan *ch, void *msg, long timeout_ms)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	(void)timeout_ms;
	NOT_IMPLEMENTED("chan_send_timed", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
}

enum chan_status chan_recv_timed(struct chan *ch, void **msg, long timeout_ms)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)timeout_ms;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_recv_timed", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
}

/*
 * A select that is waiting. It sits in the watchers list of every channel
 * it selects on (one struct chan_watcher per channel, all pointing at the
 * same struct select_waiter). Lock order: a channel's mu, then a waiter's mu.
 */
struct select_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when fired becomes 1 */
	int fired;         /* protected by mu: some channel changed */
};

struct chan_watcher {
	struct select_waiter *waiter;
	struct chan_watcher *next; /* protected by the channel's mu */
};

void chan_wake_watchers(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_wake_watchers", "lessons/02-select/README.md#select");
}

enum chan_status chan_select(struct chan *const chans[], size_t n, size_t *which, void **msg,
			     const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)chans;
	(void)n;
	(void)deadline;
	if (which != NULL)
		*which = 0;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_select", "lessons/02-select/README.md#select");
	return CHAN_NOTIMPL;
}
