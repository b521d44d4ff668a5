/*
 * stage.c - lesson 06: the metrics stage, the pipeline's last stage. It
 * takes log entries from its channel, counts them into the registry and
 * frees them. The contract is in src/metrics.h.
 */
#include "clock.h"
#include "last_seen.h"
#include "metrics.h"
#include "notimpl.h"

#include <errno.h>

int metrics_stage_init(struct metrics_stage *stage, struct metrics_registry *reg, struct chan *in)
{
	static const char *const entry_labels[] = {"level", "service"};
	static const char *const latency_labels[] = {"service"};
	static const double bounds[] = METRICS_LATENCY_BUCKETS;
	if (stage == NULL || reg == NULL) {
		errno = EINVAL;
		return -1;
	}
	stage->in = in;
	stage->last_seen = NULL; /* the pipeline sets it, in lesson 10 */
	atomic_init(&stage->received, 0);
	stage->entries = metrics_counter(reg, "logpipe_log_entries_total",
					 "Log entries that reached the metrics stage, by level and service.",
					 2, entry_labels);
	if (stage->entries == NULL)
		return -1;
	stage->latency = metrics_histogram(reg, "logpipe_log_latency_seconds",
					   "The latency_ms field of log entries, in seconds, by service.", 1,
					   latency_labels, bounds, sizeof(bounds) / sizeof(bounds[0]));
	return stage->latency != NULL ? 0 : -1;
}

void metrics_stage_step(struct metrics_stage *stage, struct log_entry *e)
{
	/* BEGIN SOLUTION */
	atomic_fetch_add(&stage->received, 1);
	const char *const labels[] = {log_level_name(e->level), e->service};
	const char *const service[] = {e->service};
	/* Refused by the series limit: counted as dropped by the registry, so
	 * not observed either (counted once, not twice). */
	if (metrics_counter_add(stage->entries, labels, 1) == 0) {
		if (e->has_latency)
			metrics_histogram_observe(stage->latency, service, e->latency_ms / 1000.0);
		if (stage->last_seen != NULL) /* lesson 10 */
			last_seen_update(stage->last_seen, e, clock_unix_seconds());
	}
	log_entry_free(e); /* the last stage frees what it receives */
	/* END SOLUTION */
	/* STUB
	(void)stage;
	(void)e;
	NOT_IMPLEMENTED("metrics_stage_step", "lessons/06-metrics/README.md#the-stage");
	*/
}

void *metrics_stage_run(void *arg)
{
	/* BEGIN SOLUTION */
	struct metrics_stage *stage = arg;
	void *msg;
	/* CHAN_CLOSED once the filter has closed the channel and we took
	 * everything in it: then, and only then, the stage is done. */
	while (chan_recv(stage->in, &msg) == CHAN_OK)
		metrics_stage_step(stage, msg);
	return NULL;
	/* END SOLUTION */
	/* STUB
	(void)arg;
	NOT_IMPLEMENTED("metrics_stage_run", "lessons/06-metrics/README.md#the-stage");
	return NULL;
	*/
}
