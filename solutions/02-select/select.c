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
	/* BEGIN SOLUTION */
	/* A condition variable times its waits on the clock it was created
	 * with, the wall clock unless told otherwise; deadlines come from
	 * clock.h, on the monotonic clock. The two must agree. */
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	/* END SOLUTION */
	/* STUB
	NOT_IMPLEMENTED("chan_cond_init", "lessons/02-select/README.md#deadlines");
	pthread_cond_init(cv, NULL);
	*/
}

int chan_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	if (deadline == NULL)
		return pthread_cond_wait(cv, mu);
	/* A deadline already behind us means "do not wait": return without
	 * letting go of the mutex, so a try operation is one atomic step. */
	if (deadline_passed(deadline))
		return ETIMEDOUT;
	return pthread_cond_timedwait(cv, mu, deadline) == ETIMEDOUT ? ETIMEDOUT : 0;
	/* END SOLUTION */
	/* STUB
	(void)cv;
	(void)mu;
	(void)deadline;
	NOT_IMPLEMENTED("chan_cond_wait", "lessons/02-select/README.md#deadlines");
	return ETIMEDOUT;
	*/
}

/* BEGIN SOLUTION */
/* The sender of message number `ticket`, which is in the slot of an
 * unbuffered channel, waits until a receiver took it. Called with ch->mu
 * held. */
static enum chan_status await_pickup(struct chan *ch, unsigned long long ticket,
				     const struct timespec *deadline)
{
	/* Our message has been taken once taken >= ticket. Receivers broadcast
	 * not_full after every take on an unbuffered channel. */
	ch->send_waiting++;
	int timed_out = 0;
	while (ch->taken < ticket && !ch->closed && !timed_out)
		timed_out = chan_cond_wait(&ch->not_full, &ch->mu, deadline) == ETIMEDOUT;
	ch->send_waiting--;
	if (ch->taken >= ticket)
		return CHAN_OK;
	/* Nobody took it. The slot holds one message and it is still ours, so
	 * take it back: a send that fails must not deliver its message. */
	ch->buf[ch->head] = NULL;
	ch->len = 0;
	ch->sent--;
	pthread_cond_broadcast(&ch->not_full);
	return ch->closed ? CHAN_CLOSED : CHAN_TIMEOUT;
}
/* END SOLUTION */

enum chan_status chan_after_send(struct chan *ch, const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	chan_wake_watchers(ch);
	if (ch->cap > 0)
		return CHAN_OK;
	/* A receiver blocked in a receive right now will take the message (it
	 * looks at the buffer before at its own deadline), so even a try_send
	 * waits for it then. Without one, the deadline decides: a try_send
	 * (a deadline already past) takes its message back at once. */
	return await_pickup(ch, ch->sent, ch->recv_waiting > 0 ? NULL : deadline);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)deadline;
	NOT_IMPLEMENTED("chan_after_send", "lessons/02-select/README.md#rendezvous");
	return CHAN_NOTIMPL;
	*/
}

void chan_after_recv(struct chan *ch)
{
	/* BEGIN SOLUTION */
	/* Senders wait on not_full for two reasons when the channel is
	 * unbuffered (room in the slot, and "my message was taken"), so lesson
	 * 01's one signal could wake the wrong one: wake them all. */
	if (ch->cap == 0)
		pthread_cond_broadcast(&ch->not_full);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("chan_after_recv", "lessons/02-select/README.md#rendezvous");
	*/
}

enum chan_status chan_try_send(struct chan *ch, void *msg)
{
	/* BEGIN SOLUTION */
	struct timespec now = deadline_now();
	enum chan_status rc = chan_send_until(ch, msg, &now);
	return rc == CHAN_TIMEOUT ? CHAN_WOULDBLOCK : rc;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg;
	NOT_IMPLEMENTED("chan_try_send", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
	*/
}

enum chan_status chan_try_recv(struct chan *ch, void **msg)
{
	/* BEGIN SOLUTION */
	struct timespec now = deadline_now();
	enum chan_status rc = chan_recv_until(ch, msg, &now);
	return rc == CHAN_TIMEOUT ? CHAN_WOULDBLOCK : rc;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_try_recv", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
	*/
}

enum chan_status chan_send_timed(struct chan *ch, void *msg, long timeout_ms)
{
	/* BEGIN SOLUTION */
	struct timespec deadline = deadline_after_ms(timeout_ms);
	return chan_send_until(ch, msg, &deadline);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msg;
	(void)timeout_ms;
	NOT_IMPLEMENTED("chan_send_timed", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
	*/
}

enum chan_status chan_recv_timed(struct chan *ch, void **msg, long timeout_ms)
{
	/* BEGIN SOLUTION */
	struct timespec deadline = deadline_after_ms(timeout_ms);
	return chan_recv_until(ch, msg, &deadline);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)timeout_ms;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_recv_timed", "lessons/02-select/README.md#try-and-timed");
	return CHAN_NOTIMPL;
	*/
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
	/* BEGIN SOLUTION */
	for (struct chan_watcher *w = ch->watchers; w != NULL; w = w->next) {
		pthread_mutex_lock(&w->waiter->mu);
		w->waiter->fired = 1;
		pthread_cond_signal(&w->waiter->cv);
		pthread_mutex_unlock(&w->waiter->mu);
	}
	/* END SOLUTION */
	/* STUB
	(void)ch;
	NOT_IMPLEMENTED("chan_wake_watchers", "lessons/02-select/README.md#select");
	*/
}

/*
 * Links w, whose waiter is set, at the head of ch's watchers list, so that
 * every send or close on ch from now on wakes w's waiter. Takes ch->mu;
 * the caller holds no channel lock.
 */
EXERCISE_HELPER static void watch(struct chan *ch, struct chan_watcher *w)
{
	/* BEGIN SOLUTION */
	pthread_mutex_lock(&ch->mu);
	w->next = ch->watchers;
	ch->watchers = w;
	pthread_mutex_unlock(&ch->mu);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)w;
	NOT_IMPLEMENTED("watch", "lessons/02-select/README.md#select");
	*/
}

/*
 * Unlinks w, which the caller linked with watch and has not unlinked
 * since, from ch's watchers list. Takes ch->mu; once it returns, no send
 * or close on ch can reach w or its waiter again, so both may go.
 */
EXERCISE_HELPER static void unwatch(struct chan *ch, struct chan_watcher *w)
{
	/* BEGIN SOLUTION */
	pthread_mutex_lock(&ch->mu);
	struct chan_watcher **p = &ch->watchers;
	while (*p != w)
		p = &(*p)->next;
	*p = w->next;
	pthread_mutex_unlock(&ch->mu);
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)w;
	NOT_IMPLEMENTED("unwatch", "lessons/02-select/README.md#select");
	*/
}

/*
 * The next number of a random number generator whose state belongs to the
 * calling thread: selects in two threads at once touch no common state
 * (rand() may share one), and two threads do not draw the same numbers.
 */
EXERCISE_HELPER static uint64_t next_random(void)
{
	/* BEGIN SOLUTION */
	static _Thread_local uint64_t state;
	if (state == 0) {
		struct timespec t = clock_now();
		state = (uint64_t)(uintptr_t)&state ^ (uint64_t)t.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dULL;
	/* END SOLUTION */
	/* STUB
	NOT_IMPLEMENTED("next_random", "lessons/02-select/README.md#select");
	return 0;
	*/
}

/*
 * order[0..n-1] becomes a uniformly random permutation of 0..n-1, a new one
 * at each call. n >= 1.
 */
EXERCISE_HELPER static void shuffle(size_t *order, size_t n)
{
	/* BEGIN SOLUTION */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(next_random() % (i + 1));
		size_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* END SOLUTION */
	/* STUB
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	NOT_IMPLEMENTED("shuffle", "lessons/02-select/README.md#select");
	*/
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
	/* BEGIN SOLUTION */
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		if (chans[i] == NULL)
			continue;
		enum chan_status rc = chan_try_recv(chans[i], msg);
		if (rc != CHAN_WOULDBLOCK) {
			*which = i;
			return rc;
		}
	}
	return CHAN_WOULDBLOCK;
	/* END SOLUTION */
	/* STUB
	(void)chans;
	(void)order;
	(void)n;
	(void)which;
	(void)msg;
	NOT_IMPLEMENTED("poll_once", "lessons/02-select/README.md#select");
	return CHAN_NOTIMPL;
	*/
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
	/* BEGIN SOLUTION */
	struct select_waiter waiter = {.fired = 0};
	struct chan_watcher links[CHAN_SELECT_MAX];
	pthread_mutex_init(&waiter.mu, NULL);
	chan_cond_init(&waiter.cv);

	for (size_t i = 0; i < n; i++) {
		links[i].waiter = &waiter;
		if (chans[i] != NULL)
			watch(chans[i], &links[i]);
	}
	enum chan_status rc = poll_once(chans, order, n, which, msg);
	if (rc == CHAN_WOULDBLOCK) {
		pthread_mutex_lock(&waiter.mu);
		int timed_out = 0;
		while (!waiter.fired && !timed_out)
			timed_out = chan_cond_wait(&waiter.cv, &waiter.mu, deadline) == ETIMEDOUT;
		pthread_mutex_unlock(&waiter.mu);
	}
	/* After unwatch returns, no channel can touch waiter or links again. */
	for (size_t i = 0; i < n; i++)
		if (chans[i] != NULL)
			unwatch(chans[i], &links[i]);
	pthread_cond_destroy(&waiter.cv);
	pthread_mutex_destroy(&waiter.mu);
	return rc;
	/* END SOLUTION */
	/* STUB
	(void)chans;
	(void)order;
	(void)n;
	(void)which;
	(void)msg;
	(void)deadline;
	NOT_IMPLEMENTED("wait_for_change", "lessons/02-select/README.md#select");
	return CHAN_NOTIMPL;
	*/
}

enum chan_status chan_select(struct chan *const chans[], size_t n, size_t *which, void **msg,
			     const struct timespec *deadline)
{
	/* BEGIN SOLUTION */
	if (chans == NULL || which == NULL || msg == NULL || n == 0 || n > CHAN_SELECT_MAX)
		return CHAN_EINVAL;
	size_t live = 0;
	for (size_t i = 0; i < n; i++)
		live += chans[i] != NULL;
	if (live == 0)
		return CHAN_EINVAL;

	size_t order[CHAN_SELECT_MAX];
	shuffle(order, n);
	int no_wait = deadline != NULL && deadline_passed(deadline);
	for (;;) {
		enum chan_status rc = poll_once(chans, order, n, which, msg);
		if (rc != CHAN_WOULDBLOCK)
			return rc;
		if (deadline != NULL && deadline_passed(deadline))
			return no_wait ? CHAN_WOULDBLOCK : CHAN_TIMEOUT;
		rc = wait_for_change(chans, order, n, which, msg, deadline);
		if (rc != CHAN_WOULDBLOCK)
			return rc;
	}
	/* END SOLUTION */
	/* STUB
	(void)chans;
	(void)n;
	(void)deadline;
	if (which != NULL)
		*which = 0;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_select", "lessons/02-select/README.md#select");
	return CHAN_NOTIMPL;
	*/
}
