/*
 * filter.h - lesson 05: deciding which entries go on. The filter keeps
 * entries whose level is at or above a minimum and, optionally, only those
 * of some services; it counts what it drops. A stage that drops data must
 * say how much, or the numbers at the end of the pipeline cannot be
 * trusted.
 */
#ifndef FILTER_H
#define FILTER_H

#include "channel.h"
#include "log_entry.h"

#include <stdatomic.h>
#include <stddef.h>

/* snippet: config */
#define FILTER_MAX_SERVICES 16

struct filter_config {
	enum log_level min_level; /* keep entries at or above this level */
	size_t nservices;         /* 0: every service */
	const char *services[FILTER_MAX_SERVICES]; /* exact, case-sensitive names */
};

/* The default configuration: min_level info, every service. */
struct filter_config filter_config_default(void);

/*
 * Parses a comma-separated list of services ("api,billing") into cfg,
 * replacing its list; spaces and tabs around a name are not part of it.
 * The names point into list, which is cut up in place (even on failure)
 * and must outlive cfg. Only services[0..nservices-1] mean anything.
 * Returns 0, or -1 with errno EINVAL, and cfg untouched, if a name is
 * empty or blanks only ("a,,b", "a,", ""), there are more than
 * FILTER_MAX_SERVICES names, or cfg or list is NULL.
 */
int filter_config_services(struct filter_config *cfg, char *list);

/* 1 if entry passes cfg, 0 if it is dropped. */
int filter_accept(const struct filter_config *cfg, const struct log_entry *entry);
/* end snippet */

/* snippet: stage */
struct filter_stats {
	atomic_ullong passed;
	atomic_ullong dropped;
	atomic_ullong discarded; /* freed because out was closed under the stage */
};

/*
 * The filter stage: receives struct log_entry * from in until in is
 * closed; sends the accepted ones on out, frees and counts the others;
 * then closes out. If out is closed under it, it frees what it cannot send,
 * counts it in stats.discarded, and keeps draining in.
 */
struct filter_stage {
	struct filter_config cfg;
	struct chan *in;  /* of struct log_entry * */
	struct chan *out; /* of struct log_entry * */
	struct filter_stats stats;
};

/*
 * One entry through the stage's rule, without the channels. Returns the
 * entry, untouched and still the caller's, if the rule keeps it; NULL if
 * the rule refused it, and then the entry is freed and counted in
 * stats.dropped. Sending, and counting what was sent, is filter_run's.
 */
struct log_entry *filter_step(struct filter_stage *st, struct log_entry *entry);

/* A thread function: arg is a struct filter_stage *. Returns NULL. */
void *filter_run(void *arg);
/* end snippet */

#endif
