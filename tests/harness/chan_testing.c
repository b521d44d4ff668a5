#include "chan_testing.h"
#include "interpose.h"
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

struct chan *chan_new_or_fail(size_t cap)
{
	struct chan *ch = chan_new(cap);
	if (ch == NULL)
		fail_msg("chan_new(%zu) returned NULL", cap);
	return ch;
}

void chan_free_or_fail(struct chan *ch)
{
	pthread_mutex_lock(&ch->mu);
	int receivers = ch->recv_waiting, senders = ch->send_waiting;
	pthread_mutex_unlock(&ch->mu);
	enum chan_status rc = chan_free(ch);
	if (rc == CHAN_EBUSY)
		fail_msg("chan_free returned CHAN_EBUSY, expected CHAN_OK: no thread is inside the channel "
			 "any more, yet recv_waiting is %d and send_waiting is %d. A wait that ends (woken, "
			 "closed or timed out) must take itself off its count before it returns, whichever "
			 "way it returns",
			 receivers, senders);
	if (rc != CHAN_OK)
		fail_msg("chan_free returned %s, expected CHAN_OK", chan_status_str(rc));
}

/* "2 producers and 2 consumers on an unbuffered channel", for messages. */
static const char *describe_traffic(const struct traffic *t, char *buf, size_t size)
{
	if (t->capacity == 0)
		snprintf(buf, size, "%llu producers and %llu consumers on an unbuffered channel",
			 t->producers, t->consumers);
	else
		snprintf(buf, size, "%llu producers and %llu consumers on a channel of capacity %zu",
			 t->producers, t->consumers, t->capacity);
	return buf;
}

void expect_traffic_exactly_once(const struct traffic *t, const char *mistake)
{
	struct traffic_result r;
	struct traffic run = *t;
	char who[96];
	describe_traffic(t, who, sizeof(who));
	run.prog = "the test"; /* for the engine's own messages */
	if (traffic_measure(&run, &r) != 0)
		fail_msg("%s: the channel could not be made, or a thread not started", who);
	if (r.send_rc != CHAN_OK)
		fail_msg("%s: a send returned %s, expected CHAN_OK. %s", who, chan_status_str(r.send_rc), mistake);
	if (r.recv_rc != CHAN_CLOSED)
		fail_msg("%s: a consumer's receive returned %s, where only CHAN_CLOSED (closed and drained) "
			 "may end its loop. %s",
			 who, chan_status_str(r.recv_rc), mistake);
	if (r.close_rc != CHAN_OK)
		fail_msg("%s: the last producer's chan_close returned %s, expected CHAN_OK", who,
			 chan_status_str(r.close_rc));
	if (!r.exactly_once)
		fail_msg("%s: %llu messages sent, %llu received, %llu of them not a number sent at all; the "
			 "numbers received are not those sent, each once (their count, sum or sum of squares "
			 "differs): messages were lost or duplicated. %s",
			 who, r.sent, r.received, r.bogus, mistake);
	if (r.out_of_order != 0)
		fail_msg("%s: %llu times a consumer got a producer's number after a larger one of the same "
			 "producer's: the channel is not first in, first out. %s",
			 who, r.out_of_order, mistake);
	if (r.free_rc != CHAN_OK)
		fail_msg(
		    "%s: freeing the channel once every thread had left it returned %s, expected CHAN_OK: "
		    "a wait that ends (woken, closed or timed out) must take itself off its count of "
		    "waiting threads before it returns, whichever way it returns",
		    who, chan_status_str(r.free_rc));
}

void expect_timed_waits_last_until_the_deadline(struct chan *ch, const char *cause)
{
	harness_on_hang("a wait with a deadline 50 ms ahead did not return: does chan_cond_wait return "
			"ETIMEDOUT once the deadline has passed, and does the wait loop stop then?");
	for (int sending = 0; sending <= 1; sending++) {
		struct timespec start = clock_now();
		struct timespec due = deadline_after_ms(50);
		void *got = NULL;
		enum chan_status rc = sending ? chan_send_until(ch, MSG(2), &due) : chan_recv_until(ch, &got, &due);
		double ms = ms_since(&start);
		const char *what = sending ? "chan_send_until on a full channel" : "chan_recv_until on an empty channel";
		if (rc != CHAN_TIMEOUT)
			fail_msg("%s with a deadline 50 ms ahead returned %s, expected CHAN_TIMEOUT", what,
				 chan_status_str(rc));
		if (ms < 45.0)
			fail_msg("%s with a deadline 50 ms ahead returned CHAN_TIMEOUT after %.1f ms, waiting on "
				 "%s: %s",
				 what, ms, sending ? "not_full" : "not_empty", cause);
		if (!sending)
			assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK); /* full, for the send */
	}
}

void assert_slot_empty(struct chan *ch, const char *why)
{
	pthread_mutex_lock(&ch->mu);
	size_t len = ch->len;
	unsigned long long sent = ch->sent, taken = ch->taken;
	pthread_mutex_unlock(&ch->mu);
	if (len != 0 || sent != taken)
		fail_msg("after %s the channel holds len=%zu (sent=%llu, taken=%llu), expected an empty slot "
			 "and sent == taken: a send that fails must take its message back out, the newest one "
			 "(number sent: its slot emptied, len and sent one less, head where it is)",
			 why, len, sent, taken);
}

int chan_is_closed(struct chan *ch)
{
	pthread_mutex_lock(&ch->mu);
	int closed = ch->closed;
	pthread_mutex_unlock(&ch->mu);
	return closed;
}

void assert_no_watcher_linked(struct chan *const chans[], size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (chans[k] == NULL)
			continue;
		pthread_mutex_lock(&chans[k]->mu);
		int linked = chans[k]->watchers != NULL;
		pthread_mutex_unlock(&chans[k]->mu);
		if (linked)
			fail_msg("chan_select returned with its watcher still linked on channel %zu: unwatch "
				 "every channel before returning, on every path",
				 k);
	}
}

double ms_since(const struct timespec *start)
{
	return clock_seconds_since(start) * 1000.0;
}

struct waiting {
	struct chan *ch;
	int n;
	int senders;
	int seen; /* the last count read, under the channel's lock */
};

static int enough_waiting(void *arg)
{
	struct waiting *w = arg;
	pthread_mutex_lock(&w->ch->mu);
	w->seen = w->senders ? w->ch->send_waiting : w->ch->recv_waiting;
	pthread_mutex_unlock(&w->ch->mu);
	return w->seen >= w->n;
}

void wait_for_receivers(struct chan *ch, int n, const char *why)
{
	struct waiting w = {ch, n, 0, 0};
	if (!harness_wait_until(enough_waiting, &w))
		fail_msg("expected %d receiver(s) blocked in the channel (recv_waiting), saw %d: %s", n, w.seen,
			 why);
}

void wait_for_senders(struct chan *ch, int n, const char *why)
{
	struct waiting w = {ch, n, 1, 0};
	if (!harness_wait_until(enough_waiting, &w))
		fail_msg("expected %d sender(s) blocked in the channel (send_waiting), saw %d: %s", n, w.seen,
			 why);
}

struct threads {
	struct harness_thread *t;
	int n;
};

static int all_returned(void *arg)
{
	struct threads *th = arg;
	for (int i = 0; i < th->n; i++)
		if (!harness_thread_done(&th->t[i]))
			return 0;
	return 1;
}

int threads_still_running(struct harness_thread *t, int n)
{
	struct threads th = {t, n};
	harness_wait_until(all_returned, &th);
	int running = 0;
	for (int i = 0; i < n; i++) {
		if (harness_thread_done(&t[i]))
			harness_thread_join_within(&t[i], harness_wait_ms());
		else
			running++;
	}
	return running;
}

/* ---- the channel's wait, wrapped ------------------------------------------ */

int __real_chan_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline);

typedef void (*then_fn)(void *);
/* What the next wait runs instead of sleeping; cut_arg is written before
 * cut_then is set, and read after it is taken. */
static _Atomic then_fn cut_then;
static void *cut_arg;

/* Woken waiters hold still at the harness gate while holding is 1. */
static atomic_int holding;

void cut_short_next_wait(void (*then)(void *), void *arg)
{
	cut_arg = arg;
	atomic_store(&cut_then, then);
}

int cut_short_pending(void)
{
	return atomic_load(&cut_then) != NULL;
}

void hold_woken_waiters(void)
{
	harness_close_gate();
	atomic_store(&holding, 1);
}

void release_woken_waiters(void)
{
	atomic_store(&holding, 0);
	harness_release_held();
}

int __wrap_chan_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline)
{
	then_fn then = atomic_exchange(&cut_then, NULL);
	if (then != NULL) {
		pthread_mutex_unlock(mu);
		then(cut_arg);
		pthread_mutex_lock(mu);
		return ETIMEDOUT;
	}
	int rc = __real_chan_cond_wait(cv, mu, deadline);
	if (rc == 0 && atomic_load(&holding))
		harness_hold_at_gate(mu);
	return rc;
}

void *op_send(void *arg)
{
	struct op *op = arg;
	op->status = chan_send(op->ch, op->msg);
	return NULL;
}

void *op_recv(void *arg)
{
	struct op *op = arg;
	op->status = chan_recv(op->ch, &op->msg);
	return NULL;
}

void park_ops(struct chan *ch, void *(*fn)(void *), struct op *ops, struct harness_thread *t, int n,
	      uintptr_t first)
{
	for (int i = 0; i < n; i++) {
		ops[i] = (struct op){.ch = ch, .msg = MSG(first + i)};
		harness_thread_start(&t[i], fn, &ops[i]);
	}
	if (fn == op_send)
		wait_for_senders(ch, n, "a send on a full channel must wait (counted in send_waiting)");
	else
		wait_for_receivers(ch, n, "a receive on an empty channel must wait (counted in recv_waiting)");
}

struct parking {
	struct chan *const *chans; /* NULL entries are skipped */
	size_t n;
	enum park_kind kind;
	struct harness_thread *t;
};

/* 1 once the thread is blocked in every channel (in the way `kind` says),
 * or once it has returned. */
static int parked_or_returned(void *arg)
{
	struct parking *p = arg;
	if (harness_thread_done(p->t))
		return 1;
	for (size_t i = 0; i < p->n; i++) {
		struct chan *ch = p->chans[i];
		if (ch == NULL)
			continue;
		pthread_mutex_lock(&ch->mu);
		int in = p->kind == PARKED_SENDING     ? ch->send_waiting > 0
			 : p->kind == PARKED_RECEIVING ? ch->recv_waiting > 0
						       : ch->watchers != NULL;
		pthread_mutex_unlock(&ch->mu);
		if (!in)
			return 0;
	}
	return 1;
}

/*
 * Waits until thread t is blocked in chans[0..n-1]. Fails the test if it
 * returned instead (with the status it returned and `if_returned`, the
 * likely mistake), or if it is still neither parked nor done.
 */
void expect_parked(struct harness_thread *t, struct chan *const *chans, size_t n, enum park_kind kind,
		   const enum chan_status *status, const char *what, const char *if_returned)
{
	static const char *const seen_as[] = {
	    "counted in send_waiting",
	    "counted in recv_waiting",
	    "listed in the watchers of every channel",
	};
	struct parking p = {chans, n, kind, t};
	if (!harness_wait_until(parked_or_returned, &p))
		fail_msg("%s should block, but within %ld ms it was neither %s nor returned", what,
			 harness_wait_ms(), seen_as[kind]);
	if (harness_thread_done(t)) {
		harness_thread_join_within(t, harness_wait_ms());
		fail_msg("%s should block, but returned %s at once: %s", what, chan_status_str(*status),
			 if_returned);
	}
}

void *op_select(void *arg)
{
	struct select_op *s = arg;
	s->status = chan_select(s->chans, s->n, &s->which, &s->msg, NULL);
	return NULL;
}

void start_parked_select(struct select_op *s, struct harness_thread *t)
{
	harness_thread_start(t, op_select, s);
	expect_parked(t, s->chans, s->n, PARKED_SELECTING, &s->status, "chan_select over empty channels",
		      "with nothing ready and no deadline it must register a watcher on every channel "
		      "and sleep until one fires");
}

void expect_counted_once_sent(unsigned long long counted, const char *name)
{
	if (counted == 0)
		fail_msg("while the stage was blocked sending its second entry on a full out, %s was 0, "
			 "expected 1: the first entry was sent but not counted. Count an entry as soon as "
			 "its chan_send returned CHAN_OK, not later (a count kept in a local and added "
			 "after the loop is 0 for as long as the stage runs)",
			 name);
	if (counted != 1)
		fail_msg("while the stage was blocked sending its second entry on a full out, %s was %llu, "
			 "expected 1: count an entry once chan_send returned CHAN_OK, never before (counted "
			 "before the send, it counts an entry that may never be sent, and must go down again "
			 "when the send fails)",
			 name, counted);
}
