/*
 * tailer_group.c - lesson 03: several files into one channel. Given, not an
 * exercise; the contract is in src/tailer.h (tailer_group).
 *
 * Fan-in, the way lesson 12's stage runner does it: many senders on one
 * channel, and the last one to finish closes it. The group's own thread
 * counts as a sender until it stops looking for new files, so a channel
 * closed by the last tailer can never be needed again.
 */
#include "tailer.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>

/* 1 if s has a glob(3) metacharacter: a pattern, not a path. */
static int is_pattern(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* 1 if path is followed already. Called by the group's thread only, the
 * one that adds: no lock needed to read what only it writes. */
static int followed(const struct tailer_group *g, const char *path)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->paths[i], path) == 0)
			return 1;
	return 0;
}

/* Starts a tailer for path (NULL: cfg's own source). from_start for a
 * file found after the first look. 0, or -1 if it could not start. */
static int group_add(struct tailer_group *g, const char *path, int from_start)
{
	if (g->n == TAILER_GROUP_MAX)
		return -1;
	char *copy = path != NULL ? strdup(path) : NULL;
	if (path != NULL && copy == NULL)
		return -1;
	struct tailer *t = &g->tailers[g->n];
	memset(t, 0, sizeof(*t));
	t->cfg = g->cfg;
	if (path != NULL)
		t->cfg.path = copy;
	t->cfg.from_start = g->cfg.from_start || from_start;
	t->out = g->out;
	t->done = g->done;
	t->running = &g->running;
	atomic_fetch_add(&g->running, 1); /* before it runs: it may finish at once */
	if (pthread_create(&g->threads[g->n], NULL, tailer_run, t) != 0) {
		atomic_fetch_sub(&g->running, 1);
		free(copy);
		return -1;
	}
	pthread_mutex_lock(&g->mu);
	g->paths[g->n] = copy;
	g->n++;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

/* A tailer for path unless it has one. 1 if it has none and gets none. */
static int group_follow(struct tailer_group *g, const char *path, int later)
{
	return !followed(g, path) && group_add(g, path, later) != 0;
}

/* One look: a tailer for each path, and for each match of each pattern,
 * not followed yet. What could not be followed is counted anew each look. */
static void group_scan(struct tailer_group *g, int later)
{
	unsigned long long left = 0;
	for (size_t i = 0; i < g->npatterns; i++) {
		const char *pat = g->patterns[i];
		if (!is_pattern(pat)) {
			left += (unsigned long long)group_follow(g, pat, later);
			continue;
		}
		glob_t found;
		if (glob(pat, 0, NULL, &found) == 0)
			for (size_t k = 0; k < found.gl_pathc; k++)
				left += (unsigned long long)group_follow(g, found.gl_pathv[k], later);
		globfree(&found);
	}
	atomic_store(&g->unfollowed, left);
}

/* Waits one poll interval on done. 1: stop looking. */
static int group_pause(struct tailer_group *g)
{
	long ms = g->cfg.poll_ms > 0 ? g->cfg.poll_ms : TAILER_DEFAULT_POLL_MS;
	void *msg = NULL;
	return g->done == NULL || chan_recv_timed(g->done, &msg, ms) != CHAN_TIMEOUT;
}

void tailer_group_init(struct tailer_group *g, const struct tailer_config *cfg, const char *const *patterns,
		       size_t npatterns, struct chan *out, struct chan *done)
{
	memset(g, 0, sizeof(*g));
	g->cfg = *cfg;
	g->patterns = patterns;
	g->npatterns = npatterns;
	g->out = out;
	g->done = done;
	pthread_mutex_init(&g->mu, NULL);
	atomic_init(&g->running, 1); /* the group itself, while it may add tailers */
	atomic_init(&g->unfollowed, 0);
}

void *tailer_group_run(void *arg)
{
	struct tailer_group *g = arg;
	if (g->npatterns == 0) {
		group_add(g, g->cfg.path, 0);
	} else {
		group_scan(g, 0);
		/* Without a pattern there is nothing to look for again. */
		int patterns = 0;
		for (size_t i = 0; i < g->npatterns; i++)
			patterns |= is_pattern(g->patterns[i]);
		while (patterns && !g->cfg.stop_at_eof && !group_pause(g))
			group_scan(g, 1);
	}
	/* The group stops sending; the last one out closes out. */
	if (atomic_fetch_sub(&g->running, 1) == 1)
		chan_close(g->out);
	for (size_t i = 0; i < g->n; i++)
		pthread_join(g->threads[i], NULL);
	return NULL;
}

struct tailer *tailer_group_at(struct tailer_group *g, size_t i)
{
	pthread_mutex_lock(&g->mu);
	struct tailer *t = i < g->n ? &g->tailers[i] : NULL;
	pthread_mutex_unlock(&g->mu);
	return t;
}

void tailer_group_stats(struct tailer_group *g, struct tailer_stats *sum)
{
	atomic_ullong *const to[] = {&sum->lines, &sum->too_long, &sum->bytes, &sum->rotations,
				     &sum->truncations};
	for (size_t k = 0; k < sizeof(to) / sizeof(to[0]); k++)
		atomic_init(to[k], 0);
	struct tailer *t;
	for (size_t i = 0; (t = tailer_group_at(g, i)) != NULL; i++) {
		atomic_ullong *const from[] = {&t->stats.lines, &t->stats.too_long, &t->stats.bytes,
					       &t->stats.rotations, &t->stats.truncations};
		for (size_t k = 0; k < sizeof(to) / sizeof(to[0]); k++)
			atomic_fetch_add(to[k], atomic_load(from[k]));
	}
}

void tailer_group_free(struct tailer_group *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->paths[i]);
	g->n = 0;
	pthread_mutex_destroy(&g->mu);
}
