/*
 * last_seen.h - lesson 10: one metric added end to end, from the stage
 * that sees the event to the alert that pages someone.
 *
 *   logpipe_last_entry_timestamp_seconds{service}   gauge
 *       The Unix time (seconds, with a fraction) at which the metrics
 *       stage last counted a log entry of the service.
 *
 * Why a timestamp and not "seconds since": Prometheus computes the age
 * itself, at query time, as time() - logpipe_last_entry_timestamp_seconds.
 * A gauge holding an age would be stale the moment it was scraped, and
 * would need updating even when nothing happens; a timestamp is written
 * once per entry and stays true. The alert LogpipeServiceSilent (lesson
 * 10's rules.yml) fires when a service that used to log stops.
 *
 * Who calls what: the pipeline (lesson 09) registers the family once and
 * stores it in its metrics stage's last_seen field (metrics.h); the
 * metrics stage (lesson 06) calls last_seen_update for every entry it
 * counted. Both take the registry's lock inside the metrics_* calls; the
 * functions here keep no state of their own.
 */
#ifndef LAST_SEEN_H
#define LAST_SEEN_H

#include "log_entry.h"
#include "metrics.h"

#define LAST_SEEN_NAME "logpipe_last_entry_timestamp_seconds"

/* snippet: contract */
/*
 * Registers the gauge LAST_SEEN_NAME in reg, with one label, "service",
 * and a help text that says what the value is and in which unit.
 * Returns the family, or NULL with errno (EINVAL if the name is already
 * registered, ENOMEM) - what metrics_gauge returns.
 */
struct metric_family *last_seen_register(struct metrics_registry *reg);

/*
 * Sets the series {service = entry->service} to now (Unix seconds), the
 * time the entry was counted: any finite now from 0 (the epoch) on.
 * Returns 0, or -1 with errno: EINVAL if family or entry is NULL or now
 * is not a time (NaN, infinite, negative), and then no series is
 * created; ENOSPC if the series limit refused a new service
 * (metrics_gauge_set's answer).
 */
int last_seen_update(struct metric_family *family, const struct log_entry *entry, double now);
/* end snippet */

#endif
