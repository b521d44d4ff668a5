/*
 * traffic.c - numbered messages through one channel, checked and timed
 * (the contract is src/traffic.h).
 */
#include "traffic.h"
#include "args.h"
#include "batch.h"
#include "channel.h"
#include "clock.h"
#include "lfchan.h"
#include "notimpl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALL_SECONDS 5
/* Consumers publish their count for the stall watch once every this many
 * messages: often enough to see progress, rarely enough to cost nothing. */
#define PROGRESS_EVERY 1024

/* What a set of messages adds up to. Two sets with the same count, sum
 * and sum of squares are, for our purposes, the same set: a lost message
 * and a duplicated one cannot cancel out in both sums at once. The sums
 * wrap around modulo 2^64, identically on both sides. */
struct tally {
	unsigned long long count;
	unsigned long long sum;
	unsigned long long squares;
};

/*
 * The two channels the programs measure, behind one set of calls: lesson
 * 01's (channel.h, with lesson 11's batches) and lesson 14's lock-free one
 * (lfchan.h, which has no batches). `name` prefixes the calls in messages.
 */
struct chan_ops {
	const char *name;
	void *(*make)(size_t cap);
	enum chan_status (*send)(void *ch, void *msg);
	enum chan_status (*recv)(void *ch, void **msg);
	enum chan_status (*close)(void *ch);
	enum chan_status (*destroy)(void *ch);
};

static void *chan_make(size_t cap) { return chan_new(cap); }
static enum chan_status chan_send_one(void *ch, void *msg) { return chan_send(ch, msg); }
static enum chan_status chan_recv_one(void *ch, void **msg) { return chan_recv(ch, msg); }
static enum chan_status chan_close_it(void *ch) { return chan_close(ch); }
static enum chan_status chan_destroy(void *ch) { return chan_free(ch); }
static const struct chan_ops chan_ops = {"chan", chan_make, chan_send_one, chan_recv_one, chan_close_it,
					 chan_destroy};

static void *lfchan_make(size_t cap) { return lfchan_new(cap); }
static enum chan_status lfchan_send_one(void *ch, void *msg) { return lfchan_send(ch, msg); }
static enum chan_status lfchan_recv_one(void *ch, void **msg) { return lfchan_recv(ch, msg); }
static enum chan_status lfchan_close_it(void *ch) { return lfchan_close(ch); }
static enum chan_status lfchan_destroy(void *ch) { return lfchan_free(ch); }
static const struct chan_ops lfchan_ops = {"lfchan", lfchan_make, lfchan_send_one, lfchan_recv_one,
					   lfchan_close_it, lfchan_destroy};

static const struct chan_ops *ops_of(const struct traffic *t)
{
	return t->lockfree ? &lfchan_ops : &chan_ops;
}

/* What the producers share: the channel, and who closes it. */
struct shared {
	void *ch;
	const struct chan_ops *ops;
	pthread_mutex_t mu;	    /* protects running */
	unsigned long long running; /* producers that have not finished yet */
	enum chan_status close_rc;  /* what chan_close said to the last one */
};

/* Each producer and each consumer writes its own struct at every message
 * (its tally), so each struct starts a cache line of its own (LFCHAN_LINE,
 * the line lfchan.h lays its channel out by) and fills whole lines: two
 * threads writing one line would pass it between their cores at every
 * message, and the programs would time that, not the channel. (Before
 * this, a change of heap layout elsewhere put a producer's and a
 * consumer's tallies on one line, and lesson 14's channel measured a
 * third of its speed at capacity 64: docs/benchmarks.md.) */

struct producer {
	_Alignas(LFCHAN_LINE) struct shared *sh;
	unsigned long long first; /* it sends first, first + step, ... up to last */
	unsigned long long step;
	unsigned long long last;
	size_t batch;
	int mixed;	     /* batches of 1, 2, ... batch in turn */
	struct tally sent;   /* the messages chan_send accepted */
	enum chan_status rc; /* CHAN_OK, or the status that stopped it early */
};

struct consumer {
	_Alignas(LFCHAN_LINE) void *ch;
	const struct chan_ops *ops;
	unsigned long long producers;
	unsigned long long messages;
	size_t batch;
	unsigned long long *last_seen; /* per producer: the last number received from it */
	struct tally got;
	unsigned long long out_of_order; /* a number smaller than one seen before from its producer */
	unsigned long long bogus;	 /* a message that is not a number 1..M at all */
	enum chan_status rc;		 /* how its receive loop ended: CHAN_CLOSED is right */
	atomic_ullong progress;		 /* got.count, now and then, for the stall watch */
};

/* ---- the probe: is the channel there at all? ---------------------------- */

/* Says what went wrong if got is not want. Returns 0 if it is. */
static int expect(const struct traffic *t, const char *call, enum chan_status got, enum chan_status want)
{
	if (got == want)
		return 0;
	/* A stub may answer something else than CHAN_NOTIMPL (lesson 14's
	 * inner functions answer "closed", so that nothing waits on them). */
	if (got == CHAN_NOTIMPL || not_implemented_reached())
		fprintf(stderr, "%s: %s returned %s from a stub: is that lesson done? (%s)\n", t->prog,
			call, chan_status_str(got), t->hint);
	else
		fprintf(stderr, "%s: %s returned %s where the contract says %s (%s tells more)\n", t->prog,
			call, chan_status_str(got), chan_status_str(want), t->hint);
	return 1;
}

static int probe_single(const struct traffic *t, const struct chan_ops *ops, void *ch)
{
	void *one = (void *)(uintptr_t)1;
	void *msg = NULL;
	char send[64], recv[64];
	snprintf(send, sizeof(send), "%s_send on an empty channel of capacity 2", ops->name);
	snprintf(recv, sizeof(recv), "%s_recv after one send", ops->name);
	int bad = expect(t, send, ops->send(ch, one), CHAN_OK) || expect(t, recv, ops->recv(ch, &msg), CHAN_OK);
	if (!bad && msg != one) {
		fprintf(stderr, "%s: %s_recv returned %p, not the %p that was sent (%s)\n", t->prog, ops->name,
			msg, one, t->hint);
		bad = 1;
	}
	return bad;
}

static int probe_batch(const struct traffic *t, struct chan *ch)
{
	void *two[2] = {(void *)(uintptr_t)1, (void *)(uintptr_t)2}, *got[2] = {NULL, NULL};
	size_t n = 0;
	int bad =
	    expect(t, "chan_send_many of 2 into 2 free slots", chan_send_many(ch, two, 2, &n), CHAN_OK) ||
	    expect(t, "chan_recv_many after it", chan_recv_many(ch, got, 2, &n), CHAN_OK);
	if (!bad && (n != 2 || got[0] != two[0] || got[1] != two[1])) {
		fprintf(stderr, "%s: chan_recv_many did not return the batch chan_send_many sent (%s)\n",
			t->prog, t->hint);
		bad = 1;
	}
	return bad;
}

static int probe(const struct traffic *t)
{
	const struct chan_ops *ops = ops_of(t);
	void *ch = ops->make(2);
	if (ch == NULL) {
		fprintf(stderr, "%s: %s_new returned NULL: is that lesson done? (%s) (errno says: %s)\n",
			t->prog, ops->name, t->hint, strerror(errno));
		return 1;
	}
	void *msg = NULL;
	char what[3][64];
	snprintf(what[0], sizeof(what[0]), "%s_close on an open channel", ops->name);
	snprintf(what[1], sizeof(what[1]), "%s_recv on a closed, empty channel", ops->name);
	snprintf(what[2], sizeof(what[2]), "%s_send on a closed channel", ops->name);
	int bad = probe_single(t, ops, ch) || (t->batch > 1 && probe_batch(t, ch));
	bad = bad || expect(t, what[0], ops->close(ch), CHAN_OK) ||
	      expect(t, what[1], ops->recv(ch, &msg), CHAN_CLOSED) ||
	      expect(t, what[2], ops->send(ch, msg), CHAN_CLOSED);
	enum chan_status freed = ops->destroy(ch);
	return bad || expect(t, "freeing an idle channel", freed, CHAN_OK);
}

/* ---- producers and consumers ------------------------------------------- */

static void tally_add(struct tally *t, unsigned long long v)
{
	t->count++;
	t->sum += v;
	t->squares += v * v;
}

/*
 * Only a sender may close a channel, and only once every sender is done:
 * a close while another producer is still sending would make its next
 * send fail with CHAN_CLOSED. So each producer counts itself out under a
 * mutex, and the one that brings the count to zero closes.
 */
static void producer_finished(struct shared *sh)
{
	pthread_mutex_lock(&sh->mu);
	int last = --sh->running == 0;
	pthread_mutex_unlock(&sh->mu);
	if (last)
		sh->close_rc = sh->ops->close(sh->ch);
}

/* One message: lesson 01's chan_send. Several: lesson 11's chan_send_many.
 * *sent says how many of them the channel took. */
static enum chan_status send_batch(const struct chan_ops *ops, void *ch, void *const batch[], size_t n,
				   size_t *sent)
{
	if (n > 1)
		return chan_send_many(ch, batch, n, sent);
	enum chan_status rc = ops->send(ch, batch[0]);
	*sent = rc == CHAN_OK;
	return rc;
}

static enum chan_status recv_batch(const struct chan_ops *ops, void *ch, void *batch[], size_t max,
				   size_t *got)
{
	if (max > 1)
		return chan_recv_many(ch, batch, max, got);
	enum chan_status rc = ops->recv(ch, &batch[0]);
	*got = rc == CHAN_OK;
	return rc;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	void *batch[TRAFFIC_MAX_BATCH];
	unsigned long long v = p->first;
	p->rc = CHAN_OK;
	for (size_t round = 0; v <= p->last && p->rc == CHAN_OK; round++) {
		size_t n = 0, sent = 0, size = p->mixed ? round % p->batch + 1 : p->batch;
		for (; n < size && v <= p->last; v += p->step)
			batch[n++] = (void *)(uintptr_t)v;
		/* CHAN_OK is the only answer that hands every message over; on
		 * any other, only the first `sent` went. */
		p->rc = send_batch(p->sh->ops, p->sh->ch, batch, n, &sent);
		for (size_t i = 0; i < sent; i++)
			tally_add(&p->sent, (uintptr_t)batch[i]);
	}
	producer_finished(p->sh);
	return NULL;
}

/* Producer k sends k+1, k+1+P, k+1+2P...: the producer of v is (v-1) % P. */
static void check_message(struct consumer *c, uintptr_t v)
{
	if (v == 0 || v > c->messages) {
		c->bogus++;
		return;
	}
	unsigned long long *last = &c->last_seen[(v - 1) % c->producers];
	/* One producer sends its numbers in increasing order, and the channel
	 * is first in, first out: whichever of them this consumer gets must
	 * come in increasing order too. */
	if (v <= *last)
		c->out_of_order++;
	*last = v;
	tally_add(&c->got, v);
}

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	void *batch[TRAFFIC_MAX_BATCH];
	size_t got = 0;
	unsigned long long published = 0;
	/* CHAN_CLOSED comes only once the channel is closed AND drained: no
	 * message is left behind when this loop ends. */
	while ((c->rc = recv_batch(c->ops, c->ch, batch, c->batch, &got)) == CHAN_OK) {
		for (size_t i = 0; i < got; i++)
			check_message(c, (uintptr_t)batch[i]);
		if (c->got.count - published >= PROGRESS_EVERY) {
			published = c->got.count;
			atomic_store_explicit(&c->progress, published, memory_order_relaxed);
		}
	}
	atomic_store_explicit(&c->progress, c->got.count, memory_order_relaxed);
	return NULL;
}

/* ---- the stall watch ---------------------------------------------------- */

/*
 * A channel with a lost wake-up does not crash: it stops. The watch looks
 * at the consumers' counts once a second and says so once nothing has
 * moved for STALL_SECONDS, instead of leaving the learner in front of a
 * silent terminal. It uses plain pthreads, not the channel under test.
 */
struct watch {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* signalled when stop becomes 1 */
	int stop;	     /* protected by mu */
	const struct traffic *t;
	struct consumer *consumers;
	unsigned long long n;
};

static unsigned long long total_progress(const struct watch *w)
{
	unsigned long long total = 0;
	for (unsigned long long i = 0; i < w->n; i++)
		total += atomic_load_explicit(&w->consumers[i].progress, memory_order_relaxed);
	return total;
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	unsigned long long seen = total_progress(w);
	int quiet = 0;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec tick = deadline_after_ms(1000);
		if (pthread_cond_timedwait(&w->wake, &w->mu, &tick) != ETIMEDOUT)
			continue; /* woken to stop, or for no reason: the loop re-checks */
		unsigned long long now = total_progress(w);
		quiet = now == seen ? quiet + 1 : 0;
		seen = now;
		if (quiet == STALL_SECONDS)
			fprintf(stderr,
				"%s: no message received for %d s: threads are probably waiting for a "
				"wake-up that never comes (a missing signal, or a close without "
				"broadcast?). Try %s SANITIZE=thread; Ctrl-C to stop.\n",
				w->t->prog, STALL_SECONDS, w->t->hint);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The watch's condition variable runs on CLOCK_MONOTONIC, like every
 * deadline in this course (see clock.h). */
static int watch_start(struct watch *w, pthread_t *tid)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	w->stop = 0;
	return pthread_create(tid, NULL, watch_main, w);
}

static void watch_stop(struct watch *w, pthread_t tid)
{
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	pthread_join(tid, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->mu);
}

/* ---- one run ------------------------------------------------------------ */

struct run {
	struct traffic o;
	struct shared sh;
	struct producer *producers;
	struct consumer *consumers;
	pthread_t *producer_tids;
	pthread_t *consumer_tids;
	unsigned long long started_producers;
	unsigned long long started_consumers;
};

/* n zeroed objects of size bytes, on cache lines no other allocation
 * shares (see struct producer). NULL when out of memory. */
static void *calloc_lines(size_t n, size_t size)
{
	if (size != 0 && n > (SIZE_MAX - LFCHAN_LINE) / size)
		return NULL;
	size_t bytes = (n * size + LFCHAN_LINE - 1) / LFCHAN_LINE * LFCHAN_LINE;
	void *p = aligned_alloc(LFCHAN_LINE, bytes);
	return p != NULL ? memset(p, 0, bytes) : NULL;
}

static int run_alloc(struct run *r)
{
	unsigned long long np = r->o.producers, nc = r->o.consumers;
	r->producers = calloc_lines(np, sizeof(*r->producers));
	r->consumers = calloc_lines(nc, sizeof(*r->consumers));
	r->producer_tids = calloc(np, sizeof(*r->producer_tids));
	r->consumer_tids = calloc(nc, sizeof(*r->consumer_tids));
	if (r->producers == NULL || r->consumers == NULL || r->producer_tids == NULL ||
	    r->consumer_tids == NULL)
		return -1;
	for (unsigned long long i = 0; i < nc; i++) {
		struct consumer *c = &r->consumers[i];
		c->ch = r->sh.ch;
		c->ops = r->sh.ops;
		c->producers = np;
		c->messages = r->o.messages;
		c->batch = (size_t)r->o.batch;
		c->last_seen = calloc_lines(np, sizeof(*c->last_seen));
		atomic_init(&c->progress, 0);
		if (c->last_seen == NULL)
			return -1;
	}
	for (unsigned long long k = 0; k < np; k++)
		r->producers[k] = (struct producer){.sh = &r->sh,
						    .first = k + 1,
						    .step = np,
						    .last = r->o.messages,
						    .batch = (size_t)r->o.batch,
						    .mixed = r->o.mixed};
	return 0;
}

static void run_free(struct run *r)
{
	for (unsigned long long i = 0; r->consumers != NULL && i < r->o.consumers; i++)
		free(r->consumers[i].last_seen);
	free(r->producers);
	free(r->consumers);
	free(r->producer_tids);
	free(r->consumer_tids);
	pthread_mutex_destroy(&r->sh.mu);
}

/*
 * Consumers first, so that someone is receiving when the first send comes.
 * If a thread cannot be created, the run still ends cleanly: producers that
 * never started are counted out as if they had finished, so the last one
 * still closes the channel and every consumer still sees CHAN_CLOSED.
 */
static int start_threads(struct run *r)
{
	int err = 0;
	for (unsigned long long i = 0; i < r->o.consumers && err == 0; i++)
		if ((err = pthread_create(&r->consumer_tids[i], NULL, consumer_main, &r->consumers[i])) == 0)
			r->started_consumers++;
	for (unsigned long long k = 0; k < r->o.producers && err == 0; k++)
		if ((err = pthread_create(&r->producer_tids[k], NULL, producer_main, &r->producers[k])) == 0)
			r->started_producers++;
	for (unsigned long long k = r->started_producers; k < r->o.producers; k++)
		producer_finished(&r->sh);
	if (err != 0)
		fprintf(stderr, "%s: cannot start a thread: %s\n", r->o.prog, strerror(err));
	return err == 0 ? 0 : -1;
}

static void join_threads(struct run *r)
{
	for (unsigned long long k = 0; k < r->started_producers; k++)
		pthread_join(r->producer_tids[k], NULL);
	for (unsigned long long i = 0; i < r->started_consumers; i++)
		pthread_join(r->consumer_tids[i], NULL);
}

/* ---- the report --------------------------------------------------------- */

static void describe(const struct traffic *o)
{
	int one = o->producers == 1;
	printf("%s: %llu producer%s send%s the numbers 1..%llu to %llu consumer%s through ", o->prog,
	       o->producers, one ? "" : "s", one ? "s" : "", o->messages, o->consumers,
	       o->consumers == 1 ? "" : "s");
	if (o->capacity == 0)
		printf("an unbuffered channel (capacity 0: every send waits for a receiver)\n");
	else
		printf("a channel of capacity %zu\n", o->capacity);
	if (o->batch > 1)
		printf("%s: in batches of up to %llu (chan_send_many, chan_recv_many)\n", o->prog, o->batch);
}

/* Says which threads stopped for another reason than the normal one.
 * Returns the number of them. */
static int report_threads(const struct run *r)
{
	int bad = 0;
	for (unsigned long long k = 0; k < r->o.producers; k++) {
		const struct producer *p = &r->producers[k];
		if (p->rc == CHAN_OK)
			continue;
		printf("producer %llu stopped after %llu messages: %s_send returned %s\n", k + 1,
		       p->sent.count, r->sh.ops->name, chan_status_str(p->rc));
		bad++;
	}
	if (r->sh.close_rc != CHAN_OK) {
		printf("the last producer's chan_close returned %s, not CHAN_OK\n",
		       chan_status_str(r->sh.close_rc));
		bad++;
	}
	for (unsigned long long i = 0; i < r->o.consumers; i++) {
		const struct consumer *c = &r->consumers[i];
		double share = 100.0 * (double)c->got.count / (double)r->o.messages;
		if (!r->o.quiet || c->rc != CHAN_CLOSED)
			printf("consumer %llu received %llu messages (%.1f%%)\n", i + 1, c->got.count, share);
		if (c->rc != CHAN_CLOSED) {
			printf("  ...then chan_recv returned %s; only CHAN_CLOSED should end it\n",
			       chan_status_str(c->rc));
			bad++;
		}
	}
	return bad;
}

static void tally_merge(struct tally *into, const struct tally *t)
{
	into->count += t->count;
	into->sum += t->sum;
	into->squares += t->squares;
}

/* What the threads did, added up, into *res. */
static void summarize(const struct run *r, struct traffic_result *res)
{
	struct tally sent = {0, 0, 0}, got = {0, 0, 0};
	*res =
	    (struct traffic_result){.send_rc = CHAN_OK, .recv_rc = CHAN_CLOSED, .close_rc = r->sh.close_rc};
	for (unsigned long long k = 0; k < r->o.producers; k++) {
		tally_merge(&sent, &r->producers[k].sent);
		if (r->producers[k].rc != CHAN_OK)
			res->send_rc = r->producers[k].rc;
	}
	for (unsigned long long i = 0; i < r->o.consumers; i++) {
		tally_merge(&got, &r->consumers[i].got);
		res->bogus += r->consumers[i].bogus;
		res->out_of_order += r->consumers[i].out_of_order;
		if (r->consumers[i].rc != CHAN_CLOSED)
			res->recv_rc = r->consumers[i].rc;
	}
	unsigned long long m = r->o.messages;
	unsigned long long want_sum = m % 2 == 0 ? m / 2 * (m + 1) : (m + 1) / 2 * m;
	res->sent = sent.count;
	res->received = got.count;
	res->exactly_once = got.count == m && got.sum == want_sum && got.squares == sent.squares &&
			    sent.count == m && res->bogus == 0;
}

/* Compares what was received with what was sent. Returns 0 if they match. */
static int report_exactly_once(const struct run *r)
{
	struct traffic_result res;
	struct tally sent = {0, 0, 0}, got = {0, 0, 0};
	summarize(r, &res);
	for (unsigned long long k = 0; k < r->o.producers; k++)
		tally_merge(&sent, &r->producers[k].sent);
	for (unsigned long long i = 0; i < r->o.consumers; i++)
		tally_merge(&got, &r->consumers[i].got);
	unsigned long long m = r->o.messages;
	unsigned long long want_sum = m % 2 == 0 ? m / 2 * (m + 1) : (m + 1) / 2 * m;
	if (res.exactly_once) {
		if (!r->o.quiet)
			printf(
			    "exactly once: ok - %llu messages received, their sum %llu is 1+2+...+%llu, and "
			    "their sum of squares matches too\n",
			    got.count, got.sum, m);
		return 0;
	}
	printf("exactly once: FAILED - received %llu messages (expected %llu), sum %llu (expected %llu)",
	       got.count, m, got.sum, want_sum);
	printf("%s%s\n", got.squares == sent.squares ? "" : ", sums of squares differ",
	       sent.count == m ? "" : ", not every message was sent");
	if (res.bogus > 0)
		printf("  %llu messages were not numbers 1..%llu at all (NULL or garbage)\n", res.bogus, m);
	printf("  messages were lost, duplicated or damaged on the way: %s tells more\n", r->o.hint);
	return 1;
}

static int report_order(const struct run *r)
{
	unsigned long long out_of_order = 0;
	for (unsigned long long i = 0; i < r->o.consumers; i++)
		out_of_order += r->consumers[i].out_of_order;
	if (out_of_order == 0) {
		if (!r->o.quiet)
			printf("order: ok - each consumer got each producer's numbers in increasing order "
			       "(first in, "
			       "first out)\n");
		return 0;
	}
	printf("order: FAILED - %llu times a consumer got a producer's number after a larger one: the "
	       "channel is not first in, first out (%s)\n",
	       out_of_order, r->o.hint);
	return 1;
}

/* ---- the run ------------------------------------------------------------ */

/* The channel, the threads' records and the mutex: 0, or -1 after saying
 * why not on stderr when loud (then nothing is left to free). */
static int run_open(struct run *r, const struct traffic *o, int loud)
{
	*r = (struct run){.o = *o};
	r->sh.running = o->producers;
	r->sh.close_rc = CHAN_OK;
	r->sh.ops = ops_of(o);
	r->sh.ch = r->sh.ops->make(o->capacity);
	if (r->sh.ch == NULL) {
		if (loud)
			fprintf(stderr, "%s: %s_new(%zu) returned NULL (%s) (%s)\n", o->prog, r->sh.ops->name,
				o->capacity, strerror(errno), o->hint);
		return -1;
	}
	pthread_mutex_init(&r->sh.mu, NULL);
	if (run_alloc(r) == 0)
		return 0;
	if (loud)
		fprintf(stderr, "%s: out of memory for %llu producers and %llu consumers\n", o->prog,
			o->producers, o->consumers);
	r->sh.ops->destroy(r->sh.ch);
	run_free(r);
	return -1;
}

int traffic_measure(const struct traffic *t, struct traffic_result *res)
{
	struct run r;
	if (run_open(&r, t, 0) != 0)
		return -1;
	int started = start_threads(&r) == 0;
	join_threads(&r);
	summarize(&r, res);
	res->free_rc = r.sh.ops->destroy(r.sh.ch);
	run_free(&r);
	return started ? 0 : -1;
}

int traffic_run(const struct traffic *o, double *seconds)
{
	struct run r;
	if (run_open(&r, o, 1) != 0)
		return -1;
	struct watch w = {.t = o, .consumers = r.consumers, .n = o->consumers};
	pthread_t watch_tid;
	int watching = watch_start(&w, &watch_tid) == 0;

	struct timespec start = clock_now();
	int failed = start_threads(&r) != 0;
	join_threads(&r);
	*seconds = clock_seconds_since(&start);
	if (watching)
		watch_stop(&w, watch_tid);

	failed += report_threads(&r) + report_exactly_once(&r) + report_order(&r);
	enum chan_status freed = r.sh.ops->destroy(r.sh.ch);
	if (freed != CHAN_OK) {
		printf("%s_free returned %s though every thread has left the channel: is every count "
		       "of waiting threads brought back down on every path? (%s)\n",
		       r.sh.ops->name, chan_status_str(freed), o->hint);
		failed++;
	}
	run_free(&r);
	return failed;
}

/* ---- the command line ---------------------------------------------------- */

/* The options, their help naming the defaults (the values t holds before
 * parsing), and t->extra if there is one. -1: go on; otherwise the
 * status to exit with. */
static int parse_args(int argc, char **argv, struct traffic *t, const char *about)
{
	static char help[5][96];
	snprintf(help[0], sizeof(help[0]), "slots in the channel; 0 = unbuffered (default %zu)", t->capacity);
	snprintf(help[1], sizeof(help[1]), "sending threads (default %llu)", t->producers);
	snprintf(help[2], sizeof(help[2]), "receiving threads (default %llu)", t->consumers);
	snprintf(help[3], sizeof(help[3]), "how many numbers to send (default %llu)", t->messages);
	snprintf(
	    help[4], sizeof(help[4]),
	    "messages per chan_send_many and chan_recv_many;\n1 = chan_send and chan_recv (default %llu)",
	    t->batch);
	unsigned long long capacity = t->capacity;
	struct arg_option options[] = {
	    ARG_WHOLE_OPT("capacity", 0, &capacity, "N", help[0], 0, TRAFFIC_MAX_CAPACITY),
	    ARG_WHOLE_OPT("producers", 0, &t->producers, "P", help[1], 1, TRAFFIC_MAX_THREADS),
	    ARG_WHOLE_OPT("consumers", 0, &t->consumers, "C", help[2], 1, TRAFFIC_MAX_THREADS),
	    ARG_WHOLE_OPT("messages", 0, &t->messages, "M", help[3], 1, TRAFFIC_MAX_MESSAGES),
	    ARG_WHOLE_OPT("batch", 0, &t->batch, "B", help[4], 1, TRAFFIC_MAX_BATCH),
	    ARG_END,
	    ARG_END};
	if (t->extra != NULL)
		options[5] = *t->extra;
	const struct arg_program prog = {t->prog, NULL, about, options};
	int rc = args_parse(&prog, argc, argv);
	t->capacity = (size_t)capacity;
	if (rc < 0 && t->lockfree && (t->capacity == 0 || t->batch > 1))
		rc = args_bad(&prog, "lesson 14's lock-free channel has no capacity 0 and no batches "
				     "(lessons/14-lockfree/README.md#4-the-contract)");
	return rc;
}

int traffic_begin(int argc, char **argv, struct traffic *t, const char *about)
{
	/* One line at a time, even into a pipe, so that stdout and stderr
	 * interleave in the order things happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rc = parse_args(argc, argv, t, about);
	if (rc >= 0)
		return rc;
	describe(t);
	return probe(t) == 0 ? -1 : 1;
}

int traffic_main(const struct traffic *t, const char *what)
{
	double seconds = 0;
	int failed = traffic_run(t, &seconds);
	if (failed < 0)
		return 1;
	/* The figure includes starting and joining the threads: with few
	 * messages that is much of the time, so it reads low. */
	double per_s = seconds > 0 ? (double)t->messages / seconds : 0;
	printf("result: %s, %s%s%llu messages in %.3f s, msgs_per_s=%.0f\n", failed == 0 ? "ok" : "FAILED",
	       what != NULL ? what : "", what != NULL ? ", " : "", t->messages, seconds, per_s);
	return failed == 0 ? 0 : 1;
}
