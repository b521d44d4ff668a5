/*
 * metrics.h - lesson 06: a small metrics registry, written by hand, and
 * its rendering in the Prometheus text exposition format (version 0.0.4).
 *
 * A registry holds metric families (a name, a help text, a type, label
 * names); a family holds series (one per combination of label values).
 * Counters only go up; gauges are set; histograms count observations into
 * buckets. Any thread may update any metric while another renders: one
 * mutex per registry protects every family and series in it.
 *
 * The exposition rules this renderer follows (and its tests check):
 *   - each family: "# HELP name text", "# TYPE name type", then its
 *     samples, all together; families in the order they were registered,
 *     series in the order they were created;
 *   - help text escapes \ and newline; label values escape \, " and
 *     newline; label values are valid UTF-8 (each maximal invalid
 *     sequence becomes one U+FFFD), and a series is identified by its
 *     repaired values;
 *   - numbers round-trip (the shortest of %.15g, %.16g, %.17g that reads
 *     back equal), and +Inf, -Inf, NaN are spelled so;
 *   - histograms: cumulative name_bucket{le="..."} samples in increasing
 *     order of le, ending with le="+Inf", then name_sum and name_count;
 *   - no timestamps; the output ends with a newline (an empty registry
 *     renders as the empty string).
 * Each family may hold at most series_limit series (one limit, set once
 * for the whole registry; default 10 000): an update that would create
 * one series too many is refused and counted in metrics_series_dropped().
 * Label values are repaired (invalid UTF-8 -> U+FFFD) before a series is
 * looked up, by updates and by metrics_value alike.
 */
#ifndef METRICS_H
#define METRICS_H

#include "channel.h"
#include "log_entry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 32
#define METRICS_DEFAULT_SERIES_LIMIT 10000
#define METRICS_HASH_BUCKETS 1024

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_family;

/* snippet: series */
/* One series: a family's values for one combination of label values. */
struct metric_series {
	char *label_values[METRICS_MAX_LABELS]; /* owned, valid UTF-8 */
	double value;                            /* counter or gauge */
	unsigned long long buckets[METRICS_MAX_BUCKETS]; /* histogram: observations <= bound i, not cumulative */
	unsigned long long count;                /* histogram: all observations */
	double sum;                              /* histogram: their sum */
	struct metric_series *next_created;      /* creation order, for rendering */
	struct metric_series *next_in_hash;      /* the family's hash chain */
};
/* end snippet */

struct metric_family {
	struct metrics_registry *reg;
	char *name;
	char *help;
	enum metric_type type;
	size_t nlabels;
	char *label_names[METRICS_MAX_LABELS];
	size_t nbuckets;                   /* histogram: finite upper bounds */
	double bounds[METRICS_MAX_BUCKETS]; /* increasing; +Inf is implicit */
	size_t nseries;
	struct metric_series *first, *last;            /* creation order */
	struct metric_series *hash[METRICS_HASH_BUCKETS]; /* by label values */
	struct metric_family *next;
};

/* snippet: registry */
/*
 * mu protects everything reachable from the registry: the family list,
 * every family's series and values, and series_dropped. Updates and
 * renders take it; nothing else does.
 */
struct metrics_registry {
	pthread_mutex_t mu;
	struct metric_family *first, *last;
	size_t series_limit;
	unsigned long long series_dropped;
};
/* end snippet */

/* A new, empty registry (series_limit 0 means the default). NULL on ENOMEM. */
struct metrics_registry *metrics_registry_new(size_t series_limit);
void metrics_registry_free(struct metrics_registry *reg);

/* snippet: families */
/*
 * Registers a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, each label
 * name [a-zA-Z_][a-zA-Z0-9_]* and not start with "__" (a metric name
 * may); a histogram may not
 * have a label named "le", and its bounds must be finite and increasing.
 * Label names must be distinct and help must not be NULL. The registry
 * copies every string. A family without labels has its one series from
 * the start, exported at 0. NULL with errno EINVAL (bad name, too many
 * labels or buckets, name already registered) or ENOMEM.
 */
struct metric_family *metrics_counter(struct metrics_registry *reg, const char *name, const char *help,
				      size_t nlabels, const char *const label_names[]);
struct metric_family *metrics_gauge(struct metrics_registry *reg, const char *name, const char *help,
				    size_t nlabels, const char *const label_names[]);
struct metric_family *metrics_histogram(struct metrics_registry *reg, const char *name, const char *help,
					size_t nlabels, const char *const label_names[], const double *bounds,
					size_t nbounds);
/* end snippet */

/* snippet: updates */
/*
 * Updates the series of the given label values (nlabels of them; NULL when
 * the family has no labels), creating it at zero first if needed.
 * Returns 0; -1 with errno EINVAL for a negative or NaN counter delta, a
 * wrong family type or a missing (NULL) label value, and nothing changes;
 * -1 with errno ENOSPC when the family already has
 * series_limit series (the update is counted as dropped), ENOMEM when
 * the new series cannot be allocated; nothing changes either way.
 * metrics_counter_add(f, values, 0) creates a series without changing it:
 * do that for every series known in advance, so it is exported at 0. A
 * delta of +Inf is accepted (it is not below zero): the counter is +Inf
 * from then on, which the format spells "+Inf".
 * A histogram takes any value: a negative one lands in the lowest bucket
 * (and lowers _sum), NaN only in +Inf (and makes _sum NaN); the metrics
 * stage observes whatever latency the log gave.
 */
int metrics_counter_add(struct metric_family *f, const char *const values[], double delta);
/* For a counter kept elsewhere (an atomic in a stage): sets it to total
 * if total is larger (a smaller total is ignored and returns 0); a
 * counter never goes down, so the comparison and the write are one hold
 * of the lock. A NaN total is -1 with errno EINVAL. */
int metrics_counter_set(struct metric_family *f, const char *const values[], double total);
int metrics_gauge_set(struct metric_family *f, const char *const values[], double value);
int metrics_histogram_observe(struct metric_family *f, const char *const values[], double value);
/* end snippet */

/* Given: n observations in one hold of the lock, as n calls of
 * metrics_histogram_observe would make them (the metrics tally's,
 * src/metrics_tally.h). n == 0 changes nothing and creates no series. */
int metrics_histogram_observe_many(struct metric_family *f, const char *const values[], const double *v,
				   size_t n);

/* snippet: render */
/* Updates refused because of the series limit, over the whole registry. */
unsigned long long metrics_series_dropped(struct metrics_registry *reg);

/* The current value of a counter or gauge series, or of a histogram's
 * count; -1 if the series does not exist. For tests and programs. */
double metrics_value(struct metric_family *f, const char *const values[]);

/*
 * The whole registry in the text format, as a new NUL-terminated string
 * the caller frees; *len (if not NULL) gets its length. NULL with errno
 * EINVAL if reg is NULL, ENOMEM if the text cannot be allocated.
 */
char *metrics_render(struct metrics_registry *reg, size_t *len);
/* end snippet */

/* ---- the pieces of the format (lesson 06 builds these first) ----------- */

struct strbuf;

/* snippet: format-pieces */
/* Appends v so that it reads back as the same double: "+Inf", "-Inf",
 * "NaN", integers without a decimal point ("3", and "-0" for negative
 * zero, as printf writes it), others in the shortest
 * of %.15g, %.16g, %.17g that round-trips ("0.1", not "0.10000000000000001"). */
void metrics_format_value(struct strbuf *out, double v);

/* Appends a label value: \ -> \\, " -> \", newline -> \n; every byte
 * sequence that is not valid UTF-8 becomes U+FFFD (EF BF BD). */
void metrics_escape_label_value(struct strbuf *out, const char *value);

/* Appends a help text: \ -> \\, newline -> \n (quotes stay). */
void metrics_escape_help(struct strbuf *out, const char *help);
/* end snippet */

/* ---- the metrics stage: the pipeline's sink -------------------------- */

/* Latency buckets, in seconds, for logpipe_log_latency_seconds. */
#define METRICS_LATENCY_BUCKETS {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

/* snippet: stage */
/*
 * Receives struct log_entry * from in until in is closed, frees each, and
 * counts it:
 *   logpipe_log_entries_total{level,service}   every entry;
 *   logpipe_log_latency_seconds{service}        latency_ms / 1000, for
 *                                               entries that have one;
 *   and, when last_seen is not NULL (lesson 10), the time it counted the
 *   service's entry, with last_seen_update (src/last_seen.h).
 * An entry whose series the limit refuses is counted by the registry as
 * dropped, and not observed in the histogram either, so every entry is
 * counted exactly once: in entries_total or in the dropped count.
 */
struct metrics_stage {
	struct chan *in; /* of struct log_entry * */
	struct metric_family *entries;
	struct metric_family *latency;
	struct metric_family *last_seen; /* lesson 10; NULL until the pipeline sets it */
	atomic_ullong received;
};

/* Registers the two families in reg. Returns 0, or -1 with errno. (in
 * may be NULL for a stage driven by metrics_stage_step alone.) */
int metrics_stage_init(struct metrics_stage *stage, struct metrics_registry *reg, struct chan *in);

/* One entry, without the channel: counts it (received, then the families
 * as above, so that entries_total plus the drops never exceed received
 * for a scrape that reads them all) and frees it. metrics_stage_run is a
 * loop around it. */
void metrics_stage_step(struct metrics_stage *stage, struct log_entry *entry);

/* A thread function: arg is a struct metrics_stage *. Returns NULL. */
void *metrics_stage_run(void *arg);
/* end snippet */

#endif
