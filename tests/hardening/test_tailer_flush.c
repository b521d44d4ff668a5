/*
 * A batched tailer's send (tailer_emit and tailer_flush, given in
 * lesson 03's tailer.c): lines kept until a batch is full or flushed,
 * sent in order with one chan_send_many, counted once they are all in
 * out, and, when out is closed during the send, what went in counted and
 * the rest freed. Not part of any lesson's grade, since the learner does
 * not write it: `make check` runs this suite against the reference, plain
 * and under the sanitizers (a refused line not freed is a leak there).
 */
#include "harness.h"
#include "follower.h"
#include "line.h"
#include "tailer.h"

#include "chan_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L03 "lessons/03-tailer/README.md"

/* On the heap: a failed test leaves while the flushing thread may run. */
static struct tailer *batched_tailer(size_t batch, size_t out_cap)
{
	struct tailer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		fail_msg("out of memory");
	t->cfg = tailer_config_default();
	t->cfg.batch = batch;
	t->out = chan_new_or_fail(out_cap);
	return t;
}

static void keep(struct tailer *t, struct line *line)
{
	if (line == NULL)
		fail_msg("out of memory");
	if (tailer_emit(t, line) != 0)
		fail_msg("tailer_emit refused a line, though out is open");
}

/* Receives the next line, which must be want (NULL: a too-long marker). */
static void expect_line(struct chan *out, const char *want)
{
	void *msg = NULL;
	if (chan_try_recv(out, &msg) != CHAN_OK)
		fail_msg("expected %s in out, found nothing", want != NULL ? want : "a too-long marker");
	struct line *l = msg;
	int same = want == NULL ? l->too_long : !l->too_long && strcmp(l->text, want) == 0;
	line_free(l);
	if (!same)
		fail_msg("out's next line is not %s: the kept lines go in the order tailer_emit got them",
			 want != NULL ? want : "the too-long marker");
}

static void expect_empty(struct chan *out, const char *why)
{
	void *msg = NULL;
	if (chan_try_recv(out, &msg) == CHAN_OK) {
		line_free(msg);
		fail_msg("out holds a line: %s", why);
	}
}

static void free_tailer(struct tailer *t)
{
	void *msg;
	while (chan_try_recv(t->out, &msg) == CHAN_OK)
		line_free(msg);
	chan_free(t->out);
	free(t);
}

static void test_a_batch_goes_when_full_or_flushed_and_is_counted_then(void **state)
{
	(void)state;
	struct tailer *t = batched_tailer(3, 8);
	keep(t, line_new("a", 1));
	keep(t, line_new_too_long(100));
	expect_empty(t->out, "a batched tailer keeps its lines until it has a batch");
	if (atomic_load(&t->stats.lines) != 0 || t->nkept != 2)
		fail_msg("2 lines kept: stats.lines is %llu and nkept %zu; expected 0 and 2",
			 atomic_load(&t->stats.lines), t->nkept);
	keep(t, line_new("b", 1)); /* the third: the batch is full and goes */
	if (atomic_load(&t->stats.lines) != 3 || atomic_load(&t->stats.too_long) != 1 || t->nkept != 0)
		fail_msg("a full batch of 3 sent: stats.lines %llu, too_long %llu, nkept %zu; expected 3, 1, 0",
			 atomic_load(&t->stats.lines), atomic_load(&t->stats.too_long), t->nkept);
	keep(t, line_new("c", 1));
	if (tailer_flush(t) != 0 || atomic_load(&t->stats.lines) != 4 || t->nkept != 0)
		fail_msg("a flush of one kept line: stats.lines %llu, nkept %zu; expected 4 and 0",
			 atomic_load(&t->stats.lines), t->nkept);
	if (tailer_flush(t) != 0 || atomic_load(&t->stats.lines) != 4)
		fail_msg("a flush with nothing kept must send and count nothing");
	expect_line(t->out, "a");
	expect_line(t->out, NULL);
	expect_line(t->out, "b");
	expect_line(t->out, "c");
	free_tailer(t);
}

/* A batch larger than the tailer's array goes TAILER_MAX_BATCH lines at
 * a time (logpipe gives its tailers a batch of 1 024). */
static void test_a_batch_above_the_cap_goes_at_the_cap(void **state)
{
	(void)state;
	struct tailer *t = batched_tailer(1024, 1024);
	char text[16];
	for (int i = 0; i < TAILER_MAX_BATCH + 1; i++) {
		int n = snprintf(text, sizeof(text), "%d", i);
		keep(t, line_new(text, (size_t)n));
	}
	if (chan_len(t->out) != TAILER_MAX_BATCH || t->nkept != 1)
		fail_msg("%d lines given to a tailer with cfg.batch 1024: out holds %zu and %zu are kept; "
			 "expected %d and 1 (the array holds TAILER_MAX_BATCH)",
			 TAILER_MAX_BATCH + 1, chan_len(t->out), t->nkept, TAILER_MAX_BATCH);
	if (tailer_flush(t) != 0 || chan_len(t->out) != TAILER_MAX_BATCH + 1)
		fail_msg("the last line did not follow at the flush");
	free_tailer(t);
}

struct flush_call {
	struct tailer *t;
	int rc;
};

static void *flush_it(void *arg)
{
	struct flush_call *c = arg;
	c->rc = tailer_flush(c->t);
	return NULL;
}

/* out is full: the flush has put in all it can, and cannot return
 * before a receive or a close. */
static int out_full(void *arg)
{
	struct chan *out = arg;
	return chan_len(out) == chan_cap(out);
}

static void test_a_batch_refused_halfway_counts_what_went_in_and_frees_the_rest(void **state)
{
	(void)state;
	struct tailer *t = batched_tailer(8, 2);
	keep(t, line_new("a", 1));
	keep(t, line_new_too_long(100));
	keep(t, line_new("b", 1));
	keep(t, line_new_too_long(200));
	struct flush_call *c = calloc(1, sizeof(*c));
	if (c == NULL)
		fail_msg("out of memory");
	c->t = t;
	struct harness_thread th;
	harness_thread_start(&th, flush_it, c);
	/* out holds two: the flush waits to send the third. */
	if (!harness_wait_until(out_full, t->out))
		fail_msg("tailer_flush of 4 lines into room for 2 never filled out");
	if (atomic_load(&t->stats.lines) != 0)
		fail_msg("stats.lines is %llu while the batch is still going in: a batch is counted once "
			 "the send has returned",
			 atomic_load(&t->stats.lines));
	chan_close(t->out);
	harness_on_hang("tailer_flush went on waiting after out was closed");
	if (!harness_thread_join_within(&th, harness_wait_ms()))
		fail_msg("tailer_flush did not return once out was closed");
	if (c->rc != -1)
		fail_msg("out refused half the batch: tailer_flush returned %d, expected -1 (stop)", c->rc);
	if (atomic_load(&t->stats.lines) != 2 || atomic_load(&t->stats.too_long) != 1 || t->nkept != 0)
		fail_msg("2 of 4 lines went in, one of them a marker: stats.lines %llu, too_long %llu, nkept "
			 "%zu; expected 2, 1, 0 (the refused two are freed, not counted)",
			 atomic_load(&t->stats.lines), atomic_load(&t->stats.too_long), t->nkept);
	expect_line(t->out, "a");
	expect_line(t->out, NULL);
	expect_empty(t->out, "only the two lines that went in before the close");
	free(c);
	free_tailer(t);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_a_batch_goes_when_full_or_flushed_and_is_counted_then, L03 "#4-the-contract"),
	    HTEST(test_a_batch_refused_halfway_counts_what_went_in_and_frees_the_rest, L03 "#4-the-contract"),
	    HTEST(test_a_batch_above_the_cap_goes_at_the_cap, L03 "#4-the-contract"),
	};
	return harness_main(argc, argv, "hardening-tailer-flush", tests, HARNESS_COUNT(tests));
}
