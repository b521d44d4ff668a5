/*
 * chan_testing.h - helpers shared by the channel tests of lessons 01, 02
 * and 10. Tests see only the contract (src/channel.h): these helpers read
 * the documented fields of struct chan, under its lock, to observe a
 * thread parked inside the channel.
 */
#ifndef CHAN_TESTING_H
#define CHAN_TESTING_H

#include "channel.h"
#include "harness.h"
#include "traffic.h"

#include <stdint.h>

/* Messages in tests are small integers carried in the pointer. */
#define MSG(i) ((void *)(uintptr_t)(i))
#define MSG_VALUE(p) ((uintptr_t)(p))

/* Fails the test with a readable message unless got == want. */
#define assert_chan_status(got, want)                                                                  \
	do {                                                                                           \
		enum chan_status got_ = (got), want_ = (want);                                         \
		if (got_ != want_)                                                                     \
			fail_msg("%s returned %s, expected %s", #got, chan_status_str(got_),           \
				 chan_status_str(want_));                                              \
	} while (0)

/* chan_new that fails the test, with a message, when it returns NULL. */
struct chan *chan_new_or_fail(size_t cap);

/* chan_free that fails the test, with a message, unless it returns
 * CHAN_OK. Called when no thread is inside the channel any more: a
 * CHAN_EBUSY then means a wait count left behind, and the message says so. */
void chan_free_or_fail(struct chan *ch);

/*
 * A timed receive on ch (empty, capacity 1) and then a timed send on it
 * (full, after one send), each with a deadline 50 ms ahead on
 * CLOCK_MONOTONIC, must time out, and not before the deadline. A condition
 * variable left on the default clock (the wall clock, since 1970) reads
 * that deadline as decades ago and times out at once (the test programs'
 * pthread_cond_timedwait stops the test before that). `cause` ends the
 * message of a wait that returned early: where the clock is chosen.
 * Leaves ch full; the caller frees it.
 */
void expect_timed_waits_last_until_the_deadline(struct chan *ch, const char *cause);

/* The slot of an unbuffered channel is empty and the counters agree
 * (chan_len is always 0 on an unbuffered channel, so it cannot tell);
 * fails the test, naming `why` (the operation just done), otherwise. */
void assert_slot_empty(struct chan *ch, const char *why);

/*
 * Runs t (src/traffic.h: producers send the numbers 1..t->messages through
 * one channel to consumers; t->prog and t->hint are not read) and fails
 * the test unless every send and close
 * returned CHAN_OK, every consumer's loop ended with CHAN_CLOSED, every
 * number arrived exactly once, each producer's in order, and the channel
 * was free to free at the end. `mistake`, the likely cause, ends the
 * message of a failed run.
 */
void expect_traffic_exactly_once(const struct traffic *t, const char *mistake);

/* After a chan_select on chans[0..n-1] has returned, with no other
 * select on those channels: fails the test unless every watchers list is
 * empty, naming the channel whose list still holds the select's watcher
 * (it lived on the select's stack, so the next send would reach a dead
 * frame). */
void assert_no_watcher_linked(struct chan *const chans[], size_t n);

/* 1 if ch is closed (read under its lock): no message taken, none waited for. */
int chan_is_closed(struct chan *ch);

/* For a stage blocked sending its second entry on a full out of capacity
 * 1: fails unless `counted`, its count of entries sent (named `name`), is
 * 1. An entry counts once chan_send returned CHAN_OK (lessons 04, 05). */
void expect_counted_once_sent(unsigned long long counted, const char *name);

/* Milliseconds since start (a clock_now() reading). */
double ms_since(const struct timespec *start);

/* 1 once n threads are blocked receiving / sending in ch (polled with a
 * deadline); fails the test with `why` otherwise. */
void wait_for_receivers(struct chan *ch, int n, const char *why);
void wait_for_senders(struct chan *ch, int n, const char *why);

/*
 * The channel's wait, chan_cond_wait, as the course's code calls it, is
 * wrapped in the test programs (-Wl,--wrap=chan_cond_wait, TEST_WRAP in
 * the Makefile): these two change what the next waits do, to make happen
 * at will what a loaded machine makes happen now and then.
 */
/* The next chan_cond_wait, in any thread, does not sleep: it lets go of
 * the mutex, runs then(arg) (which may use the channel: a send, a receive,
 * a close), takes the mutex back and returns ETIMEDOUT. A timed wait whose
 * deadline came just as the state changed does exactly that. */
void cut_short_next_wait(void (*then)(void *), void *arg);
/* 1 while the wait armed by cut_short_next_wait has not happened. */
int cut_short_pending(void);
/* From now on, a thread woken from chan_cond_wait (it returns 0) lets go
 * of the mutex again and holds still until release_woken_waiters, as a
 * woken thread the scheduler leaves waiting would: the thread that woke it
 * carries on first, and finds the state as it left it. */
void hold_woken_waiters(void);
void release_woken_waiters(void);

/* Waits (harness_wait_ms at most) for the n threads t[0..n-1] to return,
 * joins those that did, and returns how many have not: a count a failure
 * message can give, where "the first one still blocked" would not say. */
int threads_still_running(struct harness_thread *t, int n);

/* Threads that do one operation and report its status. */
struct op {
	struct chan *ch;
	void *msg;              /* to send, or what was received */
	enum chan_status status; /* what the operation returned */
	long timeout_ms;        /* for the timed variants */
};
void *op_send(void *arg); /* chan_send(op->ch, op->msg) */
void *op_recv(void *arg); /* chan_recv(op->ch, &op->msg) */
/* Starts n threads, the i-th doing ops[i] with fn (op_send or op_recv) on
 * ch, with message first + i (what a receive overwrites), and waits until
 * all n are blocked in the channel (it is full, or empty). */
void park_ops(struct chan *ch, void *(*fn)(void *), struct op *ops, struct harness_thread *t, int n,
	      uintptr_t first);

/* A thread that does one select with no deadline (op_select). */
struct select_op {
	struct chan *chans[CHAN_SELECT_MAX];
	size_t n;
	size_t which;
	void *msg;
	enum chan_status status;
};
void *op_select(void *arg);

/* How a thread is expected to block: sending, receiving, or in a select. */
enum park_kind { PARKED_SENDING, PARKED_RECEIVING, PARKED_SELECTING };

/*
 * Waits until thread t is blocked in chans[0..n-1] (NULL entries are
 * skipped). Fails the test if it returned instead (with the status it
 * returned, read from *status, and `if_returned`, the likely mistake), or
 * if it is still neither parked nor done.
 */
void expect_parked(struct harness_thread *t, struct chan *const *chans, size_t n, enum park_kind kind,
		   const enum chan_status *status, const char *what, const char *if_returned);

/* Starts op_select on s in t, and waits until it is parked on s->chans. */
void start_parked_select(struct select_op *s, struct harness_thread *t);

#endif
