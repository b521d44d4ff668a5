#include "metrics_tally.h"

#include "clock.h"
#include "last_seen.h"
#include "log_entry.h"
#include "metrics.h"
#include "stage.h"

#include <string.h>

/* Distinct level-and-service pairs counted at once; a batch with more is
 * counted in parts. */
#define TALLY_GROUPS 64

/* The entries of one level and service in a batch. */
struct group {
	struct log_entry *first; /* names the level and the service */
	size_t n;		 /* entries */
};

/* One thread's: the entries it kept for one stage, not yet counted. */
struct tally {
	struct metrics_stage *stage;
	size_t n;
	struct log_entry *kept[STAGE_MAX_BATCH];
	size_t group_of[STAGE_MAX_BATCH];
	double lat[STAGE_MAX_BATCH];
	struct group groups[TALLY_GROUPS];
	size_t ngroups;
};

static _Thread_local struct tally mine;

static size_t find_group(struct tally *t, const struct log_entry *e)
{
	for (size_t g = 0; g < t->ngroups; g++) {
		const struct log_entry *f = t->groups[g].first;
		if (f->level == e->level && strcmp(f->service, e->service) == 0)
			return g;
	}
	return TALLY_GROUPS;
}

/* Entry e as metrics_stage_step counts it, after its count was taken:
 * its latency observed, its service seen. */
static void observe_one(struct metrics_stage *stage, const struct log_entry *e, double now)
{
	const char *const service[] = {e->service};
	if (e->has_latency)
		metrics_histogram_observe(stage->latency, service, e->latency_ms / 1000.0);
	if (stage->last_seen != NULL)
		last_seen_update(stage->last_seen, e, now);
}

/* A group whose count was refused, entry by entry as metrics_stage_step
 * would: the first entry's refusal is counted already; each of the
 * others is tried again, and one taken (the refusal was ENOMEM, say) is
 * observed and seen. Rare, so not fast. */
static void count_refused(struct metrics_stage *stage, const struct tally *t, size_t g, double now)
{
	const struct log_entry *first = t->groups[g].first;
	const char *const labels[] = {log_level_name(first->level), first->service};
	for (size_t i = 0; i < t->n; i++)
		if (t->group_of[i] == g && t->kept[i] != first &&
		    metrics_counter_add(stage->entries, labels, 1) == 0)
			observe_one(stage, t->kept[i], now);
}

/* The count and the last-seen time metrics_stage_step makes for each
 * entry, made once for group g's; 0 if the registry took the count. A
 * count refused for the group is made again entry by entry. */
static int count_group(struct metrics_stage *stage, const struct tally *t, size_t g, double now)
{
	const struct group *grp = &t->groups[g];
	const struct log_entry *e = grp->first;
	const char *const labels[] = {log_level_name(e->level), e->service};
	if (metrics_counter_add(stage->entries, labels, (double)grp->n) != 0) {
		count_refused(stage, t, g, now);
		return -1;
	}
	/* Refused (rare): as the step would, entry by entry, until one is taken. */
	if (stage->last_seen != NULL && last_seen_update(stage->last_seen, e, now) != 0)
		for (size_t i = 0; i < t->n; i++)
			if (t->group_of[i] == g && t->kept[i] != e &&
			    last_seen_update(stage->last_seen, t->kept[i], now) == 0)
				break;
	return 0;
}

/* The latencies of the counted entries, one histogram update a service
 * (the histogram's series): in the order the entries came, so that a
 * service's _sum adds the same numbers in the same order as the step
 * would, whatever the batches were. svc[g] is the first group of g's
 * service; counted[g] says whether g's count was taken. */
static void observe_services(struct metrics_stage *stage, struct tally *t, const size_t *svc,
			     const int *counted)
{
	size_t from[TALLY_GROUPS] = {0}, next[TALLY_GROUPS], sum = 0;
	for (size_t i = 0; i < t->n; i++)
		if (counted[t->group_of[i]] && t->kept[i]->has_latency)
			from[svc[t->group_of[i]]]++;
	for (size_t g = 0; g < t->ngroups; g++) {
		size_t m = from[g];
		from[g] = next[g] = sum;
		sum += m;
	}
	for (size_t i = 0; i < t->n; i++)
		if (counted[t->group_of[i]] && t->kept[i]->has_latency)
			t->lat[next[svc[t->group_of[i]]]++] = t->kept[i]->latency_ms / 1000.0;
	for (size_t g = 0; g < t->ngroups; g++) {
		size_t m = next[g] - from[g];
		const char *const service[] = {t->groups[g].first->service};
		if (m > 0 && metrics_histogram_observe_many(stage->latency, service, t->lat + from[g], m) != 0)
			for (size_t i = 1; i < m; i++) /* refused: the first refusal is counted */
				metrics_histogram_observe(stage->latency, service, t->lat[from[g] + i]);
	}
}

static void count_kept(struct tally *t)
{
	struct metrics_stage *stage = t->stage;
	/* received before the families: a scrape never finds more counted
	 * than received. */
	atomic_fetch_add(&stage->received, t->n);
	double now = stage->last_seen != NULL ? clock_unix_seconds() : 0;
	size_t svc[TALLY_GROUPS];
	int counted[TALLY_GROUPS];
	for (size_t g = 0; g < t->ngroups; g++) {
		svc[g] = g;
		for (size_t h = 0; h < g; h++)
			if (strcmp(t->groups[h].first->service, t->groups[g].first->service) == 0) {
				svc[g] = h;
				break;
			}
		counted[g] = count_group(stage, t, g, now) == 0;
	}
	observe_services(stage, t, svc, counted);
	for (size_t i = 0; i < t->n; i++)
		log_entry_free(t->kept[i]);
	t->n = 0;
	t->ngroups = 0;
}

void *metrics_tally_step(void *stage, void *entry)
{
	struct tally *t = &mine;
	struct log_entry *e = entry;
	if (t->n > 0 && (t->stage != stage || t->n == STAGE_MAX_BATCH))
		count_kept(t);
	size_t g = find_group(t, e);
	if (g == TALLY_GROUPS && t->ngroups == TALLY_GROUPS)
		count_kept(t); /* a new group, and no room for it */
	t->stage = stage;
	if (g == TALLY_GROUPS) {
		g = t->ngroups++;
		t->groups[g] = (struct group){.first = e};
	}
	t->groups[g].n++;
	t->group_of[t->n] = g;
	t->kept[t->n++] = e;
	return NULL;
}

void metrics_tally_end(void *stage)
{
	(void)stage;
	if (mine.n > 0)
		count_kept(&mine);
}
