/*
 * Lesson 10: chan_send_many and chan_recv_many, the stage runner, and the
 * pipeline built on it. Written against src/batch.h, src/stage.h,
 * src/channel.h and src/pipeline.h only.
 */
#include "batch.h"
#include "chan_testing.h"
#include "clock.h"
#include "pipeline.h"
#include "stage.h"
#include "strbuf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define L10 "lessons/10-scaling/README.md"

/* Fills msgs[0..n-1] with MSG(first), MSG(first + 1), ... */
static void numbered(void **msgs, size_t n, uintptr_t first)
{
	for (size_t i = 0; i < n; i++)
		msgs[i] = MSG(first + i);
}

/* Fails unless msgs[0..n-1] are MSG(first), MSG(first + 1), ... */
static void expect_numbered(void *const *msgs, size_t n, uintptr_t first, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (MSG_VALUE(msgs[i]) != first + i)
			fail_msg("%s: message %zu is %lu, expected %lu (messages come out oldest first)",
				 what, i, (unsigned long)MSG_VALUE(msgs[i]), (unsigned long)(first + i));
}

static void expect_count(size_t got, size_t want, const char *what)
{
	if (got != want)
		fail_msg("%s: the count is %zu, expected %zu", what, got, want);
}

/* A thread that sends one batch and reports what happened. */
struct batch_send {
	struct chan *ch;
	void *msgs[64];
	size_t n, sent;
	enum chan_status status;
};

static void *op_send_many(void *arg)
{
	struct batch_send *b = arg;
	b->status = chan_send_many(b->ch, b->msgs, b->n, &b->sent);
	return NULL;
}

/* A thread that receives one batch. */
struct batch_recv {
	struct chan *ch;
	void *msgs[64];
	size_t max, got;
	enum chan_status status;
};

static void *op_recv_many(void *arg)
{
	struct batch_recv *b = arg;
	b->status = chan_recv_many(b->ch, b->msgs, b->max, &b->got);
	return NULL;
}

/* Starts a thread sending MSG(1)..MSG(n) as one batch into ch (of a
 * smaller capacity) and waits until it is blocked on the full channel. */
static void start_blocked_send_many(struct batch_send *b, struct harness_thread *t, struct chan *ch, size_t n)
{
	*b = (struct batch_send){.ch = ch, .n = n};
	numbered(b->msgs, n, 1);
	harness_thread_start(t, op_send_many, b);
	expect_parked(t, &ch, 1, PARKED_SENDING, &b->status,
		      "chan_send_many of more messages than the channel holds",
		      "it must wait for room once the channel is full");
}

/* Starts a thread in chan_recv_many(max) on the empty ch and waits until
 * it is blocked there. */
static void start_blocked_recv_many(struct batch_recv *b, struct harness_thread *t, struct chan *ch,
				    size_t max)
{
	*b = (struct batch_recv){.ch = ch, .max = max};
	harness_thread_start(t, op_recv_many, b);
	expect_parked(t, &ch, 1, PARKED_RECEIVING, &b->status, "chan_recv_many on an empty channel",
		      "it must wait for a message (counted in recv_waiting)");
}

static void join_or_fail(struct harness_thread *t, const char *why)
{
	if (!harness_thread_join_within(t, harness_wait_ms()))
		fail_msg("%s", why);
}

/* ---- one thread ------------------------------------------------------------ */

static void test_a_batch_comes_out_in_order(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(8);
	void *in[5], *out[8];
	size_t sent = 99, got = 99;
	numbered(in, 5, 1);
	assert_chan_status(chan_send_many(ch, in, 5, &sent), CHAN_OK);
	expect_count(sent, 5, "chan_send_many of 5 into 8 free slots");
	assert_int_equal(chan_len(ch), 5);
	harness_on_hang("chan_recv_many blocked with 5 messages buffered");
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_OK);
	expect_count(got, 5, "chan_recv_many(max 8) with 5 buffered takes all 5");
	expect_numbered(out, 5, 1, "chan_recv_many");
	assert_int_equal(chan_len(ch), 0);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_many_takes_at_most_max(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(8);
	void *in[6], *out[8] = {0};
	size_t got = 0;
	numbered(in, 6, 10);
	assert_chan_status(chan_send_many(ch, in, 6, NULL), CHAN_OK);
	harness_on_hang("chan_recv_many blocked with 6 messages buffered");
	assert_chan_status(chan_recv_many(ch, out, 4, &got), CHAN_OK);
	expect_count(got, 4, "chan_recv_many(max 4) with 6 buffered");
	expect_numbered(out, 4, 10, "the first batch");
	if (out[4] != NULL)
		fail_msg("chan_recv_many(max 4) wrote past msgs[3]: it must never write more than max");
	assert_chan_status(chan_recv_many(ch, out, 4, &got), CHAN_OK);
	expect_count(got, 2, "the second chan_recv_many takes the 2 left");
	expect_numbered(out, 2, 14, "the second batch");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* The ring wraps around inside a batch, on both sides. */
static void test_batches_wrap_around_the_ring(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(5);
	void *in[4], *out[5];
	size_t got = 0;
	uintptr_t next = 1;
	harness_on_hang("chan_recv_many blocked with messages buffered");
	for (int round = 0; round < 7; round++) {
		numbered(in, 4, next);
		assert_chan_status(chan_send_many(ch, in, 4, NULL), CHAN_OK);
		assert_chan_status(chan_recv_many(ch, out, 3, &got), CHAN_OK);
		expect_count(got, 3, "chan_recv_many(max 3) with 4 buffered");
		expect_numbered(out, 3, next, "a batch that wraps around the ring");
		assert_chan_status(chan_recv_many(ch, out, 5, &got), CHAN_OK);
		expect_count(got, 1, "chan_recv_many with 1 buffered");
		expect_numbered(out, 1, next + 3, "the last message of the round");
		next += 4;
	}
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* A batch is not a transaction: it waits for one message, not for max. */
static void test_recv_many_does_not_wait_for_a_full_batch(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(8);
	void *out[8];
	size_t got = 0;
	assert_chan_status(chan_send(ch, MSG(7)), CHAN_OK);
	harness_on_hang("chan_recv_many(max 8) blocked with one message buffered: it must return as soon as "
			"it has at least one message, never wait for max");
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_OK);
	expect_count(got, 1, "chan_recv_many with one message buffered");
	assert_ptr_equal(out[0], MSG(7));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* Batch and single operations share one channel and its counters. */
static void test_batches_mix_with_single_operations(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(6);
	void *in[3], *out[6], *one = NULL;
	size_t got = 0;
	numbered(in, 3, 2);
	harness_on_hang("a receive blocked with messages buffered");
	assert_chan_status(chan_send(ch, MSG(1)), CHAN_OK);
	assert_chan_status(chan_send_many(ch, in, 3, NULL), CHAN_OK);
	assert_chan_status(chan_send(ch, MSG(5)), CHAN_OK);
	assert_int_equal(chan_len(ch), 5);
	assert_chan_status(chan_recv(ch, &one), CHAN_OK);
	assert_ptr_equal(one, MSG(1));
	assert_chan_status(chan_recv_many(ch, out, 6, &got), CHAN_OK);
	expect_count(got, 4, "chan_recv_many after a chan_recv");
	expect_numbered(out, 4, 2, "single and batch sends, in the order they were made");
	pthread_mutex_lock(&ch->mu);
	unsigned long long sent = ch->sent, taken = ch->taken;
	pthread_mutex_unlock(&ch->mu);
	if (sent != 5 || taken != 5)
		fail_msg(
		    "after 5 messages in and out, sent=%llu and taken=%llu, expected 5 and 5: the batch "
		    "operations must count each message in sent and taken, as chan_send and chan_recv do",
		    sent, taken);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_bad_arguments_are_einval(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	void *out[2];
	size_t n = 99;
	assert_chan_status(chan_send_many(NULL, out, 1, &n), CHAN_EINVAL);
	assert_chan_status(chan_send_many(ch, NULL, 1, &n), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(NULL, out, 2, &n), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(ch, NULL, 2, &n), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(ch, out, 2, NULL), CHAN_EINVAL);
	assert_chan_status(chan_recv_many(ch, out, 0, &n), CHAN_EINVAL);
	expect_count(n, 0, "the count after CHAN_EINVAL");
	/* The control: an empty batch is a valid batch. */
	assert_chan_status(chan_send_many(ch, NULL, 0, &n), CHAN_OK);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- blocking and close ------------------------------------------------------ */

/* A batch larger than the channel goes in as room appears. */
static void test_send_many_larger_than_the_channel_waits_for_room(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_send b;
	struct harness_thread t;
	start_blocked_send_many(&b, &t, ch, 10);
	void *out[3];
	size_t got = 0, total = 0;
	harness_on_hang("chan_recv_many blocked while a sender still had messages for it: after putting in "
			"what fits, chan_send_many must wake the receivers and wait for room again");
	while (total < 10) {
		assert_chan_status(chan_recv_many(ch, out, 3, &got), CHAN_OK);
		expect_numbered(out, got, 1 + total, "a batch larger than the channel");
		total += got;
	}
	join_or_fail(&t, "chan_send_many did not return after all its messages were received");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.sent, 10, "*sent after a batch larger than the channel");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_many_blocks_until_a_message_arrives(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_recv b;
	struct harness_thread t;
	start_blocked_recv_many(&b, &t, ch, 4);
	assert_chan_status(chan_send(ch, MSG(3)), CHAN_OK);
	join_or_fail(&t, "chan_recv_many stayed asleep after a chan_send: it waits on not_empty, which "
			 "chan_send signals");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.got, 1, "chan_recv_many woken by one message");
	assert_ptr_equal(b.msgs[0], MSG(3));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_send_many_on_a_closed_channel_sends_nothing(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	void *in[3];
	size_t sent = 99;
	numbered(in, 3, 1);
	assert_chan_status(chan_close(ch), CHAN_OK);
	assert_chan_status(chan_send_many(ch, in, 3, &sent), CHAN_CLOSED);
	expect_count(sent, 0, "*sent after chan_send_many on a closed channel");
	assert_int_equal(chan_len(ch), 0);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* Close in the middle of a batch: the part that went in is delivered, the
 * rest is the sender's, and *sent says where the line is. */
static void test_close_during_send_many_says_how_many_went_in(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct batch_send b;
	struct harness_thread t;
	start_blocked_send_many(&b, &t, ch, 10);
	assert_chan_status(chan_close(ch), CHAN_OK);
	join_or_fail(&t, "chan_send_many stayed asleep after chan_close: it must re-check closed after "
			 "every wake-up (close broadcasts not_full)");
	assert_chan_status(b.status, CHAN_CLOSED);
	expect_count(b.sent, 4, "*sent after close interrupted a batch of 10 at 4");
	void *out[8];
	size_t got = 0;
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_OK);
	expect_count(got, 4, "the receiver drains what went in before the close");
	expect_numbered(out, 4, 1, "the part of the batch that went in");
	assert_chan_status(chan_recv_many(ch, out, 8, &got), CHAN_CLOSED);
	expect_count(got, 0, "*got once the channel is closed and drained");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_close_wakes_a_blocked_recv_many(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(2);
	struct batch_recv b;
	struct harness_thread t;
	start_blocked_recv_many(&b, &t, ch, 2);
	assert_chan_status(chan_close(ch), CHAN_OK);
	join_or_fail(&t, "chan_recv_many stayed asleep after chan_close: its wait must end on closed too");
	assert_chan_status(b.status, CHAN_CLOSED);
	expect_count(b.got, 0, "*got after close");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- wake-ups ---------------------------------------------------------------- */

/* Three receivers asleep, one batch of three: one pthread_cond_signal
 * would wake one of them and leave two asleep next to two messages. */
static void test_send_many_wakes_a_receiver_per_message(void **state)
{
	(void)state;
	enum { R = 3 };
	struct chan *ch = chan_new_or_fail(4);
	struct op ops[R];
	struct harness_thread t[R];
	for (int i = 0; i < R; i++) {
		ops[i] = (struct op){.ch = ch};
		harness_thread_start(&t[i], op_recv, &ops[i]);
	}
	wait_for_receivers(ch, R, "three chan_recv on an empty channel must block");
	void *in[R];
	numbered(in, R, 1);
	assert_chan_status(chan_send_many(ch, in, R, NULL), CHAN_OK);
	uintptr_t sum = 0;
	for (int i = 0; i < R; i++) {
		join_or_fail(&t[i], "a receiver stayed asleep although the batch had a message for it: after "
				    "putting in k messages, wake up to k receivers (one signal wakes one)");
		assert_chan_status(ops[i].status, CHAN_OK);
		sum += MSG_VALUE(ops[i].msg);
	}
	assert_int_equal(sum, 1 + 2 + 3);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_recv_many_wakes_a_sender_per_free_slot(void **state)
{
	(void)state;
	enum { S = 3 };
	struct chan *ch = chan_new_or_fail(S);
	for (int i = 0; i < S; i++)
		assert_chan_status(chan_send(ch, MSG(i + 1)), CHAN_OK);
	struct op ops[S];
	struct harness_thread t[S];
	for (int i = 0; i < S; i++) {
		ops[i] = (struct op){.ch = ch, .msg = MSG(10 + i)};
		harness_thread_start(&t[i], op_send, &ops[i]);
	}
	wait_for_senders(ch, S, "three chan_send on a full channel must block");
	void *out[S];
	size_t got = 0;
	assert_chan_status(chan_recv_many(ch, out, S, &got), CHAN_OK);
	expect_count(got, S, "chan_recv_many(max 3) of a full channel of 3");
	for (int i = 0; i < S; i++) {
		join_or_fail(&t[i], "a sender stayed asleep although the batch freed a slot for it: after "
				    "taking k messages, wake up to k senders (one signal wakes one)");
		assert_chan_status(ops[i].status, CHAN_OK);
	}
	assert_int_equal(chan_len(ch), S);
	assert_chan_status(chan_free(ch), CHAN_OK);
}

static void test_send_many_wakes_a_select(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(4);
	struct select_op s = {.chans = {ch}, .n = 1};
	struct harness_thread t;
	start_parked_select(&s, &t);
	void *in[2];
	numbered(in, 2, 1);
	assert_chan_status(chan_send_many(ch, in, 2, NULL), CHAN_OK);
	join_or_fail(&t, "a chan_select stayed asleep after chan_send_many: a select waits on its own "
			 "condition variable, so a batch must call chan_wake_watchers as chan_send does");
	assert_chan_status(s.status, CHAN_OK);
	assert_ptr_equal(s.msg, MSG(1));
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- unbuffered ------------------------------------------------------------ */

static void test_unbuffered_send_many_is_a_rendezvous_per_message(void **state)
{
	(void)state;
	struct chan *ch = chan_new_or_fail(0);
	struct batch_send b = {.ch = ch, .n = 3};
	numbered(b.msgs, 3, 1);
	struct harness_thread t;
	harness_thread_start(&t, op_send_many, &b);
	void *out[4];
	size_t got = 0;
	harness_on_hang("chan_recv_many on an unbuffered channel blocked while chan_send_many had messages "
			"for it");
	for (uintptr_t i = 1; i <= 3; i++) {
		assert_chan_status(chan_recv_many(ch, out, 4, &got), CHAN_OK);
		expect_count(got, 1, "chan_recv_many on an unbuffered channel");
		assert_ptr_equal(out[0], MSG(i));
	}
	join_or_fail(&t, "chan_send_many on an unbuffered channel did not return after its 3 messages "
			 "were received");
	assert_chan_status(b.status, CHAN_OK);
	expect_count(b.sent, 3, "*sent of an unbuffered batch");
	assert_chan_status(chan_free(ch), CHAN_OK);
}

/* ---- many threads -------------------------------------------------------------- */

enum { PRODUCERS = 2, CONSUMERS = 2 };

struct traffic {
	struct chan *ch;
	long per_producer;
	atomic_int *seen; /* seen[m]: times message m was received */
	atomic_long received;
	atomic_int out_of_order;
};

struct producer {
	struct traffic *tr;
	int id;
	enum chan_status status;
};

/* Message m = id * per_producer + i + 1, sent in batches of 1 to 17. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	long per = p->tr->per_producer;
	void *batch[17];
	long i = 0;
	p->status = CHAN_OK;
	while (i < per && p->status == CHAN_OK) {
		size_t n = (size_t)(i % 17) + 1;
		if ((long)n > per - i)
			n = (size_t)(per - i);
		numbered(batch, n, (uintptr_t)(p->id * per + i + 1));
		p->status = chan_send_many(p->tr->ch, batch, n, NULL);
		i += (long)n;
	}
	return NULL;
}

/* Receives in batches of up to 5 until closed; each producer's messages
 * must arrive in increasing order as far as one consumer sees them. */
static void *consume(void *arg)
{
	struct traffic *tr = arg;
	void *batch[5];
	size_t got = 0;
	uintptr_t last[PRODUCERS] = {0};
	while (chan_recv_many(tr->ch, batch, 5, &got) == CHAN_OK) {
		for (size_t i = 0; i < got; i++) {
			uintptr_t m = MSG_VALUE(batch[i]);
			long from = (long)((m - 1) / (uintptr_t)tr->per_producer);
			if (m == 0 || from >= PRODUCERS) {
				atomic_fetch_add(&tr->out_of_order, 1);
				continue;
			}
			if (m <= last[from])
				atomic_fetch_add(&tr->out_of_order, 1);
			last[from] = m;
			atomic_fetch_add(&tr->seen[m], 1);
		}
		atomic_fetch_add(&tr->received, (long)got);
	}
	return NULL;
}

static void test_2x2_threads_move_every_batch_exactly_once(void **state)
{
	(void)state;
	struct traffic tr = {.ch = chan_new_or_fail(16), .per_producer = harness_scale(50000)};
	long total = tr.per_producer * PRODUCERS;
	tr.seen = calloc((size_t)total + 1, sizeof(*tr.seen));
	assert_non_null(tr.seen);
	struct producer p[PRODUCERS];
	struct harness_thread pt[PRODUCERS], ct[CONSUMERS];
	for (int i = 0; i < CONSUMERS; i++)
		harness_thread_start(&ct[i], consume, &tr);
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){.tr = &tr, .id = i};
		harness_thread_start(&pt[i], produce, &p[i]);
	}
	harness_on_hang("two producers and two consumers of batches stopped moving: look for a wait whose "
			"wake-up never comes (a batch must wake as many threads as it has messages or slots "
			"for)");
	for (int i = 0; i < PRODUCERS; i++) {
		assert_true(harness_thread_join_within(&pt[i], 60000));
		assert_chan_status(p[i].status, CHAN_OK);
	}
	assert_chan_status(chan_close(tr.ch), CHAN_OK);
	for (int i = 0; i < CONSUMERS; i++)
		assert_true(harness_thread_join_within(&ct[i], 60000));
	long lost = 0, twice = 0;
	for (long m = 1; m <= total; m++) {
		int n = atomic_load(&tr.seen[m]);
		lost += n == 0;
		twice += n > 1;
	}
	if (lost != 0 || twice != 0 || atomic_load(&tr.received) != total)
		fail_msg("of %ld messages, %ld were lost and %ld received more than once (%ld receipts)",
			 total, lost, twice, atomic_load(&tr.received));
	if (atomic_load(&tr.out_of_order) != 0)
		fail_msg("%d messages came out of order: each sender's messages must keep their order",
			 atomic_load(&tr.out_of_order));
	free(tr.seen);
	assert_chan_status(chan_free(tr.ch), CHAN_OK);
}

/* ---- the stage runner ---------------------------------------------------------- */

/* What the test steps do and count. Items are numbers in the pointer. */
struct work {
	atomic_ulong stepped;		 /* items the step was given */
	atomic_ulong discarded;		 /* items out refused */
	atomic_ullong counted_discarded; /* what the runner counted in r->discarded */
	atomic_ullong sent;		 /* the runner's count of items out took */
	int drop_even;			 /* 1: the step consumes even numbers */
};

static struct work *work_of(void *ctx)
{
	return ctx;
}

/* Adds 1000 to an item, or consumes it (returns NULL) if drop_even and it is even. */
static void *step_add_1000(void *ctx, void *item)
{
	struct work *w = work_of(ctx);
	atomic_fetch_add(&w->stepped, 1);
	if (w->drop_even && MSG_VALUE(item) % 2 == 0)
		return NULL;
	return MSG(MSG_VALUE(item) + 1000);
}

/* The last stage's kind of step: takes every item. */
static void *step_take(void *ctx, void *item)
{
	(void)item;
	atomic_fetch_add(&work_of(ctx)->stepped, 1);
	return NULL;
}

static struct work *discard_counter;

static void discard_count(void *item)
{
	(void)item;
	atomic_fetch_add(&discard_counter->discarded, 1);
}

/* A runner over two new channels (out NULL if out_cap is (size_t)-1). */
static void runner_init(struct stage_runner *r, struct work *w, size_t in_cap, size_t out_cap, size_t batch,
			size_t workers)
{
	*w = (struct work){0};
	discard_counter = w;
	*r = (struct stage_runner){.in = chan_new_or_fail(in_cap),
				   .out = out_cap == (size_t)-1 ? NULL : chan_new_or_fail(out_cap),
				   .step = step_add_1000,
				   .ctx = w,
				   .discard = discard_count,
				   .sent = &w->sent,
				   .discarded = &w->counted_discarded,
				   .batch = batch,
				   .workers = workers};
}

static void runner_start(struct stage_runner *r)
{
	int rc = stage_start(r);
	if (rc != 0)
		fail_msg("stage_start returned %d (%s)", rc, strerror(rc));
}

static void runner_free(struct stage_runner *r)
{
	chan_free(r->in);
	if (r->out != NULL)
		chan_free(r->out);
}

/* A thread that sends MSG(1)..MSG(n) into in, then closes it. */
struct feeder {
	struct chan *in;
	long n;
	long sent;
	atomic_int finished; /* 1 once its sends are over, before it closes in */
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	for (long i = 1; i <= f->n && chan_send(f->in, MSG(i)) == CHAN_OK; i++)
		f->sent = i;
	/* Before the close: workers can only finish after it, so "every
	 * worker gone and finished still 0" means they left too early. */
	atomic_store(&f->finished, 1);
	chan_close(f->in);
	return NULL;
}

/* Receives from out until it is closed; seen[v - 1000] counts each value
 * (NULL: only count); returns how many. */
static long drain_out(struct stage_runner *r, atomic_int *seen, long n, const char *why)
{
	void *msg;
	long count = 0;
	harness_on_hang(why);
	while (chan_recv(r->out, &msg) == CHAN_OK) {
		long v = (long)MSG_VALUE(msg) - 1000;
		if (v < 1 || v > n)
			fail_msg("out carried %lu, which no step made (steps add 1000 to 1..%ld)",
				 (unsigned long)MSG_VALUE(msg), n);
		if (seen != NULL)
			atomic_fetch_add(&seen[v], 1);
		count++;
	}
	return count;
}

/* A worker of r blocked in ch (sending or receiving), or every worker
 * gone: a stub returns at once, so there is no point waiting for it. */
struct worker_parking {
	struct stage_runner *r;
	struct chan *ch;
	int senders; /* 1: wait for send_waiting, 0: recv_waiting */
};

static int workers_gone(struct stage_runner *r)
{
	return atomic_load(&r->running) == 0;
}

static int worker_parked_or_gone(void *arg)
{
	struct worker_parking *k = arg;
	if (workers_gone(k->r))
		return 1;
	pthread_mutex_lock(&k->ch->mu);
	int waiting = k->senders ? k->ch->send_waiting : k->ch->recv_waiting;
	pthread_mutex_unlock(&k->ch->mu);
	return waiting > 0;
}

/* Fails with `why` unless a worker of r blocks in ch; at once if every
 * worker returns instead. */
static void expect_worker_parked(struct stage_runner *r, struct chan *ch, int senders, const char *why)
{
	struct worker_parking k = {r, ch, senders};
	int parked = harness_wait_until(worker_parked_or_gone, &k);
	if (workers_gone(r))
		fail_msg("%s, but every worker returned instead", why);
	if (!parked)
		fail_msg("%s, but within %ld ms it neither blocked nor returned", why, harness_wait_ms());
}

struct feeding {
	struct feeder *feeder;
	struct stage_runner *r;
};

static int fed_or_workers_gone(void *arg)
{
	struct feeding *f = arg;
	return atomic_load(&f->feeder->finished) || workers_gone(f->r);
}

/* Waits for the feeder to have sent everything; fails at once if every
 * worker has returned while it is still sending (nobody will ever take
 * the rest), and after `ms` if it is merely stuck. */
static void join_feeder(struct harness_thread *ft, struct feeder *fd, struct stage_runner *r, long ms)
{
	struct feeding f = {fd, r};
	struct timespec deadline = deadline_after_ms(ms);
	while (!fed_or_workers_gone(&f) && !deadline_passed(&deadline))
		harness_wait_until(fed_or_workers_gone, &f);
	if (!atomic_load(&fd->finished) && workers_gone(r))
		fail_msg("every worker returned while items were still being sent to in: stage_worker must "
			 "receive until chan_recv_many says CHAN_CLOSED");
	if (!atomic_load(&fd->finished))
		fail_msg("the feeder stayed blocked on in for %ld ms: are the workers receiving?", ms);
	if (!harness_thread_join_within(ft, harness_wait_ms()))
		fail_msg("the feeder did not return after its last send: chan_close(in) blocked?");
}

static void join_runner(struct stage_runner *r)
{
	harness_on_hang("stage_join waited for a worker that never finished: each worker must return once "
			"chan_recv_many says CHAN_CLOSED");
	stage_join(r);
}

static void test_runner_steps_every_item_in_order_with_one_worker(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 8, 8, 4, 1);
	struct feeder f = {.in = r.in, .n = 200};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	void *msg;
	long next = 1001;
	harness_on_hang("the consumer of out waited forever: does the worker send what the step returns, and "
			"close out when in is closed and drained?");
	while (chan_recv(r.out, &msg) == CHAN_OK) {
		if ((long)MSG_VALUE(msg) != next)
			fail_msg(
			    "out carried %lu where %ld was next: with one worker, items keep their order",
			    (unsigned long)MSG_VALUE(msg), next);
		next++;
	}
	join_feeder(&ft, &f, &r, harness_wait_ms());
	join_runner(&r);
	if (next != 1201)
		fail_msg("out carried %ld items, expected 200", next - 1001);
	if (atomic_load(&w.sent) != 200)
		fail_msg("*sent counts %llu, expected 200: add what chan_send_many says it sent",
			 atomic_load(&w.sent));
	if (atomic_load(&w.discarded) != 0)
		fail_msg(
		    "%lu items were discarded though out took every one: only the results chan_send_many "
		    "did not take (results[sent..n-1]) are discarded; the others belong to the next stage",
		    atomic_load(&w.discarded));
	runner_free(&r);
}

static void test_runner_sends_on_only_what_the_step_returns(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 64, 16, 1);
	w.drop_even = 1;
	struct feeder f = {.in = r.in, .n = 50};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	long got =
	    drain_out(&r, NULL, 50, "the consumer of out waited forever: out must be closed at the end");
	join_feeder(&ft, &f, &r, harness_wait_ms());
	join_runner(&r);
	if (got != 25 || atomic_load(&w.stepped) != 50)
		fail_msg("the step saw %lu items and out carried %ld, expected 50 and 25: every item goes "
			 "through the step, and only a non-NULL result is sent on",
			 atomic_load(&w.stepped), got);
	runner_free(&r);
}

/* Four workers on one channel: every item stepped and sent exactly once,
 * and out closed only when the last of them is done. A worker that closes
 * out as soon as it sees in closed makes the others' sends fail: their
 * items are discarded, and the count comes out short. */
static void test_workers_move_every_item_exactly_once_and_the_last_closes_out(void **state)
{
	(void)state;
	enum { WORKERS = 4 };
	long n = harness_scale(20000);
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 16, 16, 8, WORKERS);
	atomic_int *seen = calloc((size_t)n + 1, sizeof(*seen));
	assert_non_null(seen);
	struct feeder f = {.in = r.in, .n = n};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	long got = drain_out(&r, seen, n,
			     "out was never closed, or the workers stopped: the last worker to finish closes "
			     "out (count the workers down in running)");
	join_feeder(&ft, &f, &r, 60000);
	join_runner(&r);
	long lost = 0, twice = 0;
	for (long v = 1; v <= n; v++) {
		lost += atomic_load(&seen[v]) == 0;
		twice += atomic_load(&seen[v]) > 1;
	}
	free(seen);
	unsigned long long sent = atomic_load(&w.sent);
	unsigned long discarded = atomic_load(&w.discarded);
	if (discarded > 0 && sent + discarded > (unsigned long long)n)
		fail_msg(
		    "%lu items were discarded and %llu counted as sent, for %ld items: items that "
		    "chan_send_many took were discarded too (only results[sent..n-1] are yours to discard)",
		    discarded, sent, n);
	if (discarded > 0)
		fail_msg(
		    "%lu items were discarded because out was closed while workers still sent: only the "
		    "last worker to finish may close out (worker_finished does it; is it called once per "
		    "worker, after its loop?)",
		    discarded);
	if (got != n || lost != 0 || twice != 0)
		fail_msg("out carried %ld items for %ld sent in; %ld never came out and %ld came out twice",
			 got, n, lost, twice);
	runner_free(&r);
}

/* Nobody downstream: what out refuses is discarded, and in keeps being
 * drained so that the feeder (capacity 1) never blocks for good. */
static void test_runner_keeps_draining_in_when_out_is_closed(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 1, 4, 8, 2);
	assert_chan_status(chan_close(r.out), CHAN_OK);
	struct feeder f = {.in = r.in, .n = 300};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	harness_on_hang("the feeder stayed blocked on in: when out refuses a batch, discard what it did not "
			"take and keep receiving");
	join_feeder(&ft, &f, &r, 60000);
	join_runner(&r);
	if (f.sent != 300)
		fail_msg("the feeder sent %ld of 300 items", f.sent);
	if (atomic_load(&w.discarded) != 300 || atomic_load(&w.sent) != 0)
		fail_msg(
		    "with out closed, %lu items were discarded and %llu counted as sent, expected 300 and 0",
		    atomic_load(&w.discarded), atomic_load(&w.sent));
	if (atomic_load(&w.counted_discarded) != 300)
		fail_msg("300 items were discarded but the runner counted %llu in r->discarded: add the "
			 "items out refused (n - sent) to *discarded, as sent counts the ones it took",
			 atomic_load(&w.counted_discarded));
	runner_free(&r);
}

static void test_runner_as_the_last_stage_has_no_out(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, (size_t)-1, 16, 2);
	r.step = step_take;
	struct feeder f = {.in = r.in, .n = 500};
	struct harness_thread ft;
	runner_start(&r);
	harness_thread_start(&ft, feed, &f);
	join_feeder(&ft, &f, &r, 60000);
	join_runner(&r);
	if (atomic_load(&w.stepped) != 500)
		fail_msg("the last stage's step saw %lu of 500 items", atomic_load(&w.stepped));
	runner_free(&r);
}

/* ---- the runner watching itself ------------------------------------------------ */

/* Time passes while a worker is parked: not a guess at an ordering (the
 * worker is seen parked first), only the interval being measured. */
static double pass_time_ms(long ms)
{
	struct timespec start = clock_now(), pause = {0, ms * 1000000L};
	while (nanosleep(&pause, &pause) != 0)
		;
	return clock_seconds_since(&start) * 1000.0;
}

static void test_runner_counts_the_time_workers_wait_to_receive(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 4, 8, 1);
	runner_start(&r);
	expect_worker_parked(&r, r.in, 0, "a worker on an empty in must wait in chan_recv_many");
	double waited_ms = pass_time_ms(30);
	/* The wait ends with CHAN_CLOSED, not with a batch: the last wait of a
	 * stage counts too. */
	assert_chan_status(chan_close(r.in), CHAN_OK);
	drain_out(&r, NULL, 1, "out was never closed after in was closed and drained");
	join_runner(&r);
	double recv_ms = (double)atomic_load(&r.recv_ns) / 1e6;
	if (recv_ms < waited_ms)
		fail_msg(
		    "recv_ns says %.3f ms, but the worker sat in chan_recv_many for at least %.3f ms before "
		    "it "
		    "returned CHAN_CLOSED: add the time every chan_recv_many takes to recv_ns, the last one "
		    "too (clock_now before, clock_seconds_since after, times 1e9)",
		    recv_ms, waited_ms);
	runner_free(&r);
}

static void test_runner_counts_the_time_workers_wait_to_send(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 4, 1, 8, 1);
	assert_chan_status(chan_send(r.out, MSG(1001)), CHAN_OK); /* out is full */
	runner_start(&r);
	assert_chan_status(chan_send(r.in, MSG(2)), CHAN_OK);
	expect_worker_parked(&r, r.out, 1,
			     "a worker with a result for a full out must wait in chan_send_many");
	double waited_ms = pass_time_ms(30);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	long got = drain_out(&r, NULL, 2, "out was never closed after in was closed and drained");
	join_runner(&r);
	assert_int_equal(got, 2);
	double send_ms = (double)atomic_load(&r.send_ns) / 1e6;
	if (send_ms < waited_ms)
		fail_msg(
		    "send_ns says %.3f ms, but the worker sat in chan_send_many for at least %.3f ms: add "
		    "the time every chan_send_many takes to send_ns",
		    send_ms, waited_ms);
	runner_free(&r);
}

/* ---- the pipeline with batches and workers ------------------------------------ */

/* The lines of an exposition whose values do not depend on timing or on
 * the order of additions: counts, not sums or times. */
static int is_count_line(const char *line)
{
	static const char *const counts[] = {"logpipe_lines_read_total",
					     "logpipe_parse_errors_total",
					     "logpipe_filtered_total",
					     "logpipe_log_entries_total",
					     "logpipe_series_dropped_total",
					     "logpipe_log_latency_seconds_count",
					     "logpipe_log_latency_seconds_bucket"};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (strncmp(line, counts[i], strlen(counts[i])) == 0)
			return 1;
	return 0;
}

static int compare_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A run over the sample log, from its start to its end, no server. */
static struct pipeline_config sample_config(size_t capacity)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = "tests/data/sample.log";
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1;
	cfg.serve = 0;
	cfg.capacity = capacity;
	return cfg;
}

/* 1 once the tailer has closed lines: the log is read to its end. */
static int lines_closed(struct pipeline *p)
{
	pthread_mutex_lock(&p->lines->mu);
	int closed = p->lines->closed;
	pthread_mutex_unlock(&p->lines->mu);
	return closed;
}

/* 1 once the log is read to its end, or once every stage runner (when the
 * stages run in runners) has ended although lines is still open: then
 * nobody will ever drain it, and waiting for the pipeline would wait
 * forever. */
static int read_or_runners_gone(void *arg)
{
	struct pipeline *p = arg;
	if (lines_closed(p))
		return 1;
	if (!pipeline_config_batched(&p->cfg))
		return 0;
	for (int i = 1; i < 4; i++) /* runners[1..3]: parser, filter, metrics stage */
		if (!workers_gone(&p->runners[i]))
			return 0;
	return 1;
}

static void start_or_fail(struct pipeline *p, const struct pipeline_config *cfg, const char *what)
{
	char err[256] = "";
	if (pipeline_start(p, cfg, err, sizeof(err)) != 0)
		fail_msg("pipeline_start (%s) returned -1: %s", what, err);
}

/* Starts p with cfg and waits until it has read the log to its end and
 * drained; `what` names the run in a failure. */
static void run_to_end(struct pipeline *p, const struct pipeline_config *cfg, const char *what)
{
	start_or_fail(p, cfg, what);
	harness_on_hang("the pipeline did not finish the sample log: with stage runners, does each one "
			"close its out once its last worker is done?");
	while (!harness_wait_until(read_or_runners_gone, p))
		; /* a slow stage may take longer than one wait: the test's deadline bounds it */
	if (!lines_closed(p)) {
		pipeline_cancel(p);
		fail_msg("every stage runner ended before the log was read (%s): stage_worker must receive "
			 "until chan_recv_many says CHAN_CLOSED",
			 what);
	}
	pipeline_wait(p);
}

/* Runs the pipeline over the sample log to its end and returns its count
 * lines, sorted and joined (the caller frees them). */
static char *count_sample(size_t capacity, size_t batch, size_t workers)
{
	static struct pipeline p; /* large: one at a time */
	struct pipeline_config cfg = sample_config(capacity);
	cfg.batch = batch;
	cfg.workers = workers;
	run_to_end(&p, &cfg, "batches and workers");
	if (pipeline_lines_read(&p) != pipeline_lines_accounted(&p))
		fail_msg("batch %zu, %zu workers: %llu lines read but %llu accounted for", batch, workers,
			 pipeline_lines_read(&p), pipeline_lines_accounted(&p));
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	pipeline_free(&p);
	assert_non_null(text);
	/* Sorted: series appear in the order they were first counted, which
	 * with several workers is the order of a race. */
	char *lines[512];
	size_t n = 0;
	for (char *line = strtok(text, "\n"); line != NULL && n < 512; line = strtok(NULL, "\n"))
		if (is_count_line(line))
			lines[n++] = line;
	qsort(lines, n, sizeof(lines[0]), compare_lines);
	struct strbuf counts = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_printf(&counts, "%s\n", lines[i]);
	free(text);
	char *joined = strbuf_take(&counts, NULL);
	assert_non_null(joined);
	return joined;
}

static void test_pipeline_counts_the_same_in_batches_and_with_workers(void **state)
{
	(void)state;
	char *plain = count_sample(4, 0, 1);
	char *scaled = count_sample(4, 7, 3);
	if (strcmp(plain, scaled) != 0) {
		fprintf(stderr, "# one at a time:\n%s# batches of 7, 3 parser workers:\n%s", plain, scaled);
		fail_msg(
		    "the sample log gives other counts with --batch 7 --workers 3 than one at a time (both "
		    "printed above): the stage runner must step every item exactly once");
	}
	free(plain);
	free(scaled);
}

static void test_pipeline_exports_its_channels_and_its_waits(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(4);
	cfg.batch = 2;
	run_to_end(&p, &cfg, "batches of 2");
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	pipeline_free(&p);
	assert_non_null(text);
	static const char *const want[] = {
	    "logpipe_channel_capacity{channel=\"lines\"} 4",
	    "logpipe_channel_depth{channel=\"passed\"} 0",
	    "logpipe_stage_blocked_seconds_total{stage=\"parser\",op=\"recv\"} ",
	    "logpipe_stage_blocked_seconds_total{stage=\"filter\",op=\"send\"} ",
	    "logpipe_stage_blocked_seconds_total{stage=\"metrics\",op=\"recv\"} ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(text, want[i]) == NULL) {
			fprintf(stderr, "# the exposition:\n%s", text);
			free(text);
			fail_msg("no line \"%s...\" in the exposition of a pipeline with stage runners",
				 want[i]);
		}
	free(text);
}

/* --slow-stage: a stage that takes 2 ms an item backs up the one before
 * it, and the waits say so; the counts stay the same. */
static void test_a_slow_stage_makes_the_stage_before_it_wait(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(2);
	cfg.slow_stage = "metrics";
	cfg.slow_us = 2000;
	run_to_end(&p, &cfg, "a slow metrics stage");
	unsigned long long read = pipeline_lines_read(&p), accounted = pipeline_lines_accounted(&p);
	/* 26 entries pass the filter; the metrics stage needs 2 ms for each,
	 * and with 2 slots between them the filter's last send cannot end
	 * before about 23 of them are done: 46 ms, of which the filter spends
	 * all but its few receives and steps waiting to send. */
	double filter_send = (double)atomic_load(&p.runners[2].send_ns) / 1e9;
	pipeline_free(&p);
	if (read != accounted)
		fail_msg("with a slow metrics stage, %llu lines read but %llu accounted for", read,
			 accounted);
	if (filter_send < 0.02)
		fail_msg(
		    "the filter waited %.4f s to send into a channel of 2 read by a stage taking 2 ms an "
		    "item (26 items): expected at least 0.02 s in chan_send_many",
		    filter_send);
}

/* ---- cancellation -------------------------------------------------------------- */

static void test_a_cancelled_worker_stops_before_its_next_batch(void **state)
{
	(void)state;
	struct stage_runner r;
	struct work w;
	runner_init(&r, &w, 64, 1, 4, 1);
	r.cancel = chan_new_or_fail(0);
	for (long i = 1; i <= 40; i++)
		assert_chan_status(chan_send(r.in, MSG(i)), CHAN_OK);
	runner_start(&r);
	/* Nobody reads out (capacity 1): the worker's first batch of 4 sticks. */
	expect_worker_parked(&r, r.out, 1,
			     "a worker with 4 results for an out of capacity 1 must wait to send");
	/* What pipeline_cancel does: cancel, then the channels. */
	assert_chan_status(chan_close(r.cancel), CHAN_OK);
	assert_chan_status(chan_close(r.in), CHAN_OK);
	assert_chan_status(chan_close(r.out), CHAN_OK);
	harness_on_hang("a cancelled worker went on: check the cancel channel before each batch");
	join_runner(&r);
	unsigned long stepped = atomic_load(&w.stepped), discarded = atomic_load(&w.discarded);
	if (stepped != 4)
		fail_msg(
		    "the worker stepped %lu items, expected 4: once cancel is closed a worker stops before "
		    "its next batch (36 items were still in in; a closed in would have handed them all "
		    "over)",
		    stepped);
	if (discarded != 3)
		fail_msg("%lu results were discarded, expected 3 (out took 1 of the batch of 4 before it was "
			 "closed)",
			 discarded);
	void *msg;
	while (chan_try_recv(r.out, &msg) == CHAN_OK)
		;
	chan_free(r.cancel);
	runner_free(&r);
}

struct waiter {
	struct pipeline *p;
};

static void *wait_pipeline(void *arg)
{
	pipeline_wait(((struct waiter *)arg)->p);
	return NULL;
}

static int parser_blocked_sending(void *arg)
{
	struct pipeline *p = arg;
	pthread_mutex_lock(&p->entries->mu);
	int waiting = p->entries->send_waiting;
	pthread_mutex_unlock(&p->entries->mu);
	return waiting > 0;
}

/* The Go blog's question: a pipeline whose consumer no longer keeps up
 * (here a filter taking half a second an entry, behind channels of 2).
 * Draining it would take about 17 s; cancelling it takes one step. */
static void test_cancel_stops_a_pipeline_stuck_behind_a_slow_stage(void **state)
{
	(void)state;
	static struct pipeline p;
	struct pipeline_config cfg = sample_config(2);
	cfg.slow_stage = "filter";
	cfg.slow_us = 500000;
	start_or_fail(&p, &cfg, "a filter taking 0.5 s an entry");
	if (!harness_wait_until(parser_blocked_sending, &p))
		fail_msg("the parser never blocked sending to the slow filter (channels of 2)");
	pipeline_cancel(&p);
	struct waiter w = {&p};
	struct harness_thread t;
	harness_thread_start(&t, wait_pipeline, &w);
	harness_on_hang("pipeline_wait did not return after pipeline_cancel: every stage must wake from "
			"its closed channels and stop (runners: before their next batch)");
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("pipeline_wait did not return within %ld ms of pipeline_cancel: a drain would take "
			 "about 17 s; a cancel should take one step of the slow stage (0.5 s)",
			 harness_wait_ms());
	unsigned long long read = pipeline_lines_read(&p), accounted = pipeline_lines_accounted(&p);
	unsigned long long discarded = pipeline_lines_discarded(&p);
	pipeline_free(&p); /* LeakSanitizer checks that what was abandoned was freed */
	if (read != accounted)
		fail_msg("after pipeline_cancel, %llu lines read but %llu accounted for: what a runner "
			 "discards because out was closed must be counted in r->discarded (the pipeline "
			 "counts what the channels still hold)",
			 read, accounted);
	if (discarded == 0)
		fail_msg("pipeline_cancel abandoned a pipeline whose parser was blocked sending, yet "
			 "nothing was counted as discarded");
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_a_batch_comes_out_in_order, L10 "#send-many"),
	    HTEST(test_recv_many_takes_at_most_max, L10 "#receive-many"),
	    HTEST(test_batches_wrap_around_the_ring, L10 "#receive-many"),
	    HTEST(test_recv_many_does_not_wait_for_a_full_batch, L10 "#receive-many"),
	    HTEST(test_batches_mix_with_single_operations, L10 "#send-many"),
	    HTEST(test_bad_arguments_are_einval, L10 "#4-the-contract"),
	    HTEST(test_send_many_larger_than_the_channel_waits_for_room, L10 "#send-many"),
	    HTEST(test_recv_many_blocks_until_a_message_arrives, L10 "#receive-many"),
	    HTEST(test_send_many_on_a_closed_channel_sends_nothing, L10 "#send-many"),
	    HTEST(test_close_during_send_many_says_how_many_went_in, L10 "#send-many"),
	    HTEST(test_close_wakes_a_blocked_recv_many, L10 "#receive-many"),
	    HTEST(test_send_many_wakes_a_receiver_per_message, L10 "#how-many-to-wake"),
	    HTEST(test_recv_many_wakes_a_sender_per_free_slot, L10 "#how-many-to-wake"),
	    HTEST(test_send_many_wakes_a_select, L10 "#how-many-to-wake"),
	    HTEST(test_unbuffered_send_many_is_a_rendezvous_per_message, L10 "#send-many"),
	    HTEST(test_2x2_threads_move_every_batch_exactly_once, L10 "#7-what-can-go-wrong"),
	    HTEST(test_runner_steps_every_item_in_order_with_one_worker, L10 "#build-it-the-worker"),
	    HTEST(test_runner_sends_on_only_what_the_step_returns, L10 "#build-it-the-worker"),
	    HTEST(test_workers_move_every_item_exactly_once_and_the_last_closes_out, L10 "#who-closes-out"),
	    HTEST(test_runner_keeps_draining_in_when_out_is_closed, L10 "#build-it-the-worker"),
	    HTEST(test_runner_as_the_last_stage_has_no_out, L10 "#build-it-the-worker"),
	    HTEST(test_pipeline_counts_the_same_in_batches_and_with_workers, L10 "#what-can-go-wrong"),
	    HTEST(test_runner_counts_the_time_workers_wait_to_receive, L10 "#build-it-the-waits"),
	    HTEST(test_runner_counts_the_time_workers_wait_to_send, L10 "#build-it-the-waits"),
	    HTEST(test_pipeline_exports_its_channels_and_its_waits,
		  L10 "#10-part-3-the-pipeline-watches-itself"),
	    HTEST(test_a_slow_stage_makes_the_stage_before_it_wait, L10 "#build-it-the-waits"),
	    HTEST(test_a_cancelled_worker_stops_before_its_next_batch, L10 "#build-it-the-check"),
	    HTEST(test_cancel_stops_a_pipeline_stuck_behind_a_slow_stage, L10 "#11-part-4-cancellation"),
	};
	return harness_main(argc, argv, "10-scaling", tests, HARNESS_COUNT(tests));
}
