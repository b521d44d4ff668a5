/*
 * metrics_tally.h - the metrics stage a batch at a time (lesson 12).
 *
 * metrics_stage_step (lesson 06) takes the registry's lock three times an
 * entry: once to count it, once to observe its latency, once for the
 * time its service was last seen; each time it looks the series up by
 * its label values. A batch of hundreds of entries holds
 * a handful of series, each many times. The tally keeps a batch's
 * entries, groups them by level and service, and makes one update a
 * group (metrics_counter_add by the group's size, one last_seen_update)
 * and one histogram update a service (metrics_histogram_observe_many
 * with the service's latencies, in the order the entries came, so that
 * its _sum adds as the step's does). The counts are those of metrics_stage_step, entry
 * for entry, refusals too; what moves is when a scrape can see them, to
 * the end of the batch, and the last-seen time, the batch's end.
 *
 * The two functions are a stage runner's step and end_batch (src/stage.h),
 * ctx the struct metrics_stage:
 *   metrics_tally_step keeps the entry, on the calling thread, and returns
 *       NULL (the last stage sends nothing on);
 *   metrics_tally_end counts every entry the calling thread kept (stage's
 *       received first, then the families), and frees them.
 * What is kept belongs to the calling thread, so several workers may share
 * one stage; a step must be followed by an end on the same thread (the
 * runner does so). A thread keeps at most STAGE_MAX_BATCH entries: a step
 * beyond that, or one for another stage, counts what was kept first.
 */
#ifndef METRICS_TALLY_H
#define METRICS_TALLY_H

void *metrics_tally_step(void *stage, void *entry);
void metrics_tally_end(void *stage);

#endif
