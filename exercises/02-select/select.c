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

/*
 * Links w, whose waiter is set, at the head of ch's watchers list, so that
 * every send or close on ch from now on wakes w's waiter. Takes ch->mu;
 * the caller holds no channel lock.
 */
EXERCISE_HELPER static void watch(struct chan *ch, struct chan_watcher *w)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)w;
	NOT_IMPLEMENTED("watch", "lessons/02-select/README.md#select");
}

/*
 * Unlinks w, which the caller linked with watch and has not unlinked
 * since, from ch's watchers list. Takes ch->mu; once it returns, no send
 * or close on ch can reach w or its waiter again, so both may go.
 */
EXERCISE_HELPER static void unwatch(struct chan *ch, struct chan_watcher *w)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)w;
	NOT_IMPLEMENTED("unwatch", "lessons/02-select/README.md#select");
}

/*
 * The next number of a random number generator whose state belongs to the
 * calling thread: selects in two threads at once touch no common state
 * (rand() may share one), and two threads do not draw the same numbers.
 */
EXERCISE_HELPER static uint64_t next_random(void)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	NOT_IMPLEMENTED("next_random", "lessons/02-select/README.md#select");
	return 0;
}

/*
 * order[0..n-1] becomes a uniformly random permutation of 0..n-1, a new one
 * at each call. n >= 1.
 */
EXERCISE_HELPER static void shuffle(size_t *order, size_t n)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	NOT_IMPLEMENTED("shuffle", "lessons/02-select/README.md#select");
}

/*
 * One pass of chan_try_recv over the non-NULL channels in the given order.
 * The first that is not CHAN_WOULDBLOCK ends the pass: its index goes in
 * *which, its message (if any) in *msg, and its status is the result.
 * Each try is atomic under its channel's lock, so "ready" and "taken"
 * cannot come apart. CHAN_WOULDBLOCK when none was ready. No lock held.
 */
EXERCISE_HELPER static enum chan_status poll_once(struct chan *const chans[], const size_t *order,
						  size_t n, size_t *which, void **msg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)chans;
	(void)order;
	(void)n;
	(void)which;
	(void)msg;
	NOT_IMPLEMENTED("poll_once", "lessons/02-select/README.md#select");
	return CHAN_NOTIMPL;
}

/*
 * One round of a blocking select: returns a channel's answer, as poll_once
 * gives it, if one is ready now, and otherwise once a channel of chans may
 * have changed or the deadline (NULL: none) has passed, with
 * CHAN_WOULDBLOCK ("look again"). No send or close that happens during the
 * call goes unnoticed. On return, by any path, no watcher of this call is
 * linked to any channel. No lock held.
 */
EXERCISE_HELPER static enum chan_status wait_for_change(struct chan *const chans[],
							const size_t *order, size_t n,
							size_t *which, void **msg,
							const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)chans;
	(void)order;
	(void)n;
	(void)which;
	(void)msg;
	(void)deadline;
	NOT_IMPLEMENTED("wait_for_change", "lessons/02-select/README.md#select");
	return CHAN_NOTIMPL;
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
