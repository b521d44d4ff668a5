/*
 * control.c - lesson 13: the stage runner watched and cancellable. Its two
 * channel operations count the time every worker waits on in and on out,
 * and look at the cancel channel before every batch; the waits are
 * exported as a scrape sees them; and pipeline_cancel abandons what is in
 * flight. The contracts are in src/stage.h and src/pipeline.h.
 */
#include "stage.h"
#include "batch.h"
#include "clock.h"
#include "metrics.h"
#include "notimpl.h"
#include "pipeline.h"

#include <errno.h>

/* BEGIN SOLUTION */
/* Adds the time since start to *total, in nanoseconds: one atomic
 * addition, since several workers add to the same total at once. */
static void add_time_since(atomic_ullong *total, const struct timespec *start)
{
	atomic_fetch_add(total, (unsigned long long)(clock_seconds_since(start) * 1e9));
}

/* 1 once the runner's cancel channel is closed (it never carries a
 * message: closing it is the only thing anyone does to it). */
static int cancelled(struct stage_runner *r)
{
	void *msg;
	return r->cancel != NULL && chan_try_recv(r->cancel, &msg) == CHAN_CLOSED;
}
/* END SOLUTION */

enum chan_status stage_recv(struct stage_runner *r, void *items[], size_t *got)
{
	/* BEGIN SOLUTION */
	*got = 0;
	if (cancelled(r))
		return CHAN_CLOSED;
	/* The time a receive takes is time waiting for the stage before:
	 * every call counts, the last one (CHAN_CLOSED) too. */
	struct timespec start = clock_now();
	enum chan_status rc = chan_recv_many(r->in, items, r->batch, got);
	add_time_since(&r->recv_ns, &start);
	return rc;
	/* END SOLUTION */
	/* STUB
	(void)r;
	(void)items;
	*got = 0;
	NOT_IMPLEMENTED("stage_recv", "lessons/13-control/README.md#the-waits");
	return CHAN_CLOSED;
	*/
}

size_t stage_send(struct stage_runner *r, void *const results[], size_t n)
{
	/* BEGIN SOLUTION */
	size_t sent = 0;
	/* The time a send takes is time waiting for the stage after. */
	struct timespec start = clock_now();
	chan_send_many(r->out, results, n, &sent);
	add_time_since(&r->send_ns, &start);
	return sent;
	/* END SOLUTION */
	/* STUB
	(void)r;
	(void)results;
	(void)n;
	NOT_IMPLEMENTED("stage_send", "lessons/13-control/README.md#the-waits");
	return 0;
	*/
}

void stage_export(const struct stage_runner *r, struct metric_family *blocked)
{
	/* BEGIN SOLUTION */
	const char *recv[] = {r->name, "recv"};
	metrics_counter_set(blocked, recv, (double)atomic_load(&r->recv_ns) / 1e9);
	/* The last stage sends nothing: a series that is always 0 would say
	 * "never waits to send", which is not the same as "never sends". */
	if (r->out == NULL)
		return;
	const char *send[] = {r->name, "send"};
	metrics_counter_set(blocked, send, (double)atomic_load(&r->send_ns) / 1e9);
	/* END SOLUTION */
	/* STUB
	(void)r;
	(void)blocked;
	NOT_IMPLEMENTED("stage_export", "lessons/13-control/README.md#the-export");
	*/
}

int pipeline_watch_register(struct pipeline *p)
{
	/* BEGIN SOLUTION */
	static const char *const channel[] = {"channel"};
	static const char *const stage_op[] = {"stage", "op"};
	/* A depth is a gauge: a snapshot, up and down. A wait only ever adds
	 * up: a counter, whose rate is the share of each second spent waiting. */
	p->channel_depth =
	    metrics_gauge(p->reg, "logpipe_channel_depth",
			  "Items buffered in each channel between two stages, at the scrape.", 1, channel);
	p->channel_capacity =
	    metrics_gauge(p->reg, "logpipe_channel_capacity",
			  "How many items each channel between two stages can hold.", 1, channel);
	if (p->channel_depth == NULL || p->channel_capacity == NULL)
		return -1;
	/* The stages' own loops count no waits: no family that would stay at 0. */
	p->blocked = NULL;
	if (!pipeline_config_batched(&p->cfg))
		return 0;
	p->blocked = metrics_counter(p->reg, "logpipe_stage_blocked_seconds_total",
				     "Time a stage's workers spent receiving (op=recv) or sending "
				     "(op=send) on its channels, waiting included.",
				     2, stage_op);
	return p->blocked != NULL ? 0 : -1;
	/* END SOLUTION */
	/* STUB
	(void)p;
	NOT_IMPLEMENTED("pipeline_watch_register", "lessons/13-control/README.md#the-export");
	errno = ENOSYS;
	return -1;
	*/
}

void pipeline_watch_copy(struct pipeline *p)
{
	/* BEGIN SOLUTION */
	static const char *const channel_name[] = {"lines", "entries", "passed"};
	struct chan *const chans[] = {p->lines, p->entries, p->passed};
	/* chan_len is a snapshot, never a promise about the next operation
	 * (lesson 01): to report is what it is for. */
	for (size_t c = 0; c < sizeof(chans) / sizeof(chans[0]); c++) {
		const char *v[] = {channel_name[c]};
		metrics_gauge_set(p->channel_depth, v, (double)chan_len(chans[c]));
		metrics_gauge_set(p->channel_capacity, v, (double)chan_cap(chans[c]));
	}
	/* runners[0] is the tailer's place, which never runs in a runner. */
	for (size_t i = 1; p->blocked != NULL && i < sizeof(p->runners) / sizeof(p->runners[0]); i++)
		stage_export(&p->runners[i], p->blocked);
	/* END SOLUTION */
	/* STUB
	(void)p;
	NOT_IMPLEMENTED("pipeline_watch_copy", "lessons/13-control/README.md#the-export");
	*/
}

void pipeline_cancel(struct pipeline *p)
{
	/* BEGIN SOLUTION */
	/* cancel first, so that a runner woken by a closed channel already
	 * sees it and does not take another batch; done too, so that the
	 * tailer stops reading; then every channel between the stages, so
	 * that a stage blocked in a send or a receive wakes at once. A channel
	 * closed twice only answers CHAN_CLOSED: cancelling twice is safe. */
	struct chan *chans[] = {p->cancel, p->done, p->lines, p->entries, p->passed};
	for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]); i++)
		chan_close(chans[i]);
	/* END SOLUTION */
	/* STUB
	(void)p;
	NOT_IMPLEMENTED("pipeline_cancel", "lessons/13-control/README.md#the-cancel");
	*/
}
