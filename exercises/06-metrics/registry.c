/*
 * registry.c - lesson 06: the registry, its families and their series,
 * and the updates. The contract is in src/metrics.h; read it first.
 *
 * One mutex per registry, reg->mu, protects every family list, series
 * list, hash chain, value and reg->series_dropped. What a family was
 * registered with (name, help, type, label names, bounds, reg) never
 * changes afterwards, so it is read without the lock.
 */
#include "metrics.h"
#include "notimpl.h"
#include "strbuf.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct metric_series *series_get(struct metric_family *f, const char *const values[], int create);

/* ---- the registry ------------------------------------------------------------ */

struct metrics_registry *metrics_registry_new(size_t series_limit)
{
	struct metrics_registry *reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return NULL;
	pthread_mutex_init(&reg->mu, NULL);
	reg->series_limit = series_limit > 0 ? series_limit : METRICS_DEFAULT_SERIES_LIMIT;
	return reg;
}

static void series_free(struct metric_series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->label_values[i]);
	free(s);
}

static void family_free(struct metric_family *f)
{
	struct metric_series *s = f->first;
	while (s != NULL) {
		struct metric_series *next = s->next_created;
		series_free(s, f->nlabels);
		s = next;
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->label_names[i]);
	free(f->name);
	free(f->help);
	free(f);
}

void metrics_registry_free(struct metrics_registry *reg)
{
	if (reg == NULL)
		return;
	struct metric_family *f = reg->first;
	while (f != NULL) {
		struct metric_family *next = f->next;
		family_free(f);
		f = next;
	}
	pthread_mutex_destroy(&reg->mu);
	free(reg);
}

unsigned long long metrics_series_dropped(struct metrics_registry *reg)
{
	if (reg == NULL)
		return 0;
	pthread_mutex_lock(&reg->mu);
	unsigned long long n = reg->series_dropped;
	pthread_mutex_unlock(&reg->mu);
	return n;
}

/* ---- names ----------------------------------------------------------------- */

/* 0 if a family may be registered with these; -1 with errno EINVAL if not. */
static int family_check(enum metric_type type, const char *name, const char *help, size_t nlabels,
			const char *const label_names[], const double *bounds, size_t nbounds)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)type;
	(void)name;
	(void)help;
	(void)nlabels;
	(void)label_names;
	(void)bounds;
	(void)nbounds;
	NOT_IMPLEMENTED("family_check", "lessons/06-metrics/README.md#names");
	errno = ENOSYS;
	return -1;
}

/* ---- families ---------------------------------------------------------------- */

/* A new family, not yet in any registry. NULL on ENOMEM. */
static struct metric_family *family_alloc(struct metrics_registry *reg, enum metric_type type,
					  const char *name, const char *help, size_t nlabels,
					  const char *const label_names[], const double *bounds,
					  size_t nbounds)
{
	struct metric_family *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->reg = reg;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help);
	int ok = f->name != NULL && f->help != NULL;
	for (size_t i = 0; i < nlabels; i++) {
		f->label_names[i] = strdup(label_names[i]);
		ok = ok && f->label_names[i] != NULL;
		f->nlabels = i + 1; /* so that family_free frees what was copied */
	}
	if (type == METRIC_HISTOGRAM && nbounds > 0) {
		memcpy(f->bounds, bounds, nbounds * sizeof(bounds[0]));
		f->nbuckets = nbounds;
	}
	if (!ok) {
		family_free(f);
		errno = ENOMEM;
		return NULL;
	}
	return f;
}

static struct metric_family *family_register(struct metrics_registry *reg, enum metric_type type,
					     const char *name, const char *help, size_t nlabels,
					     const char *const label_names[], const double *bounds,
					     size_t nbounds)
{
	if (reg == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (family_check(type, name, help, nlabels, label_names, bounds, nbounds) != 0)
		return NULL;
	struct metric_family *f = family_alloc(reg, type, name, help, nlabels, label_names, bounds, nbounds);
	if (f == NULL)
		return NULL;
	pthread_mutex_lock(&reg->mu);
	int taken = 0;
	for (struct metric_family *g = reg->first; g != NULL; g = g->next)
		taken = taken || strcmp(g->name, name) == 0;
	/* A family without labels has exactly one series: create it now, so
	 * that it is exported (at 0) before its first update. */
	int failed = taken || (nlabels == 0 && series_get(f, NULL, 1) == NULL);
	if (!failed) {
		if (reg->last != NULL)
			reg->last->next = f;
		else
			reg->first = f;
		reg->last = f;
	}
	pthread_mutex_unlock(&reg->mu);
	if (failed) {
		int err = taken ? EINVAL : errno;
		family_free(f);
		errno = err;
		return NULL;
	}
	return f;
}

struct metric_family *metrics_counter(struct metrics_registry *reg, const char *name, const char *help,
				      size_t nlabels, const char *const label_names[])
{
	return family_register(reg, METRIC_COUNTER, name, help, nlabels, label_names, NULL, 0);
}

struct metric_family *metrics_gauge(struct metrics_registry *reg, const char *name, const char *help,
				    size_t nlabels, const char *const label_names[])
{
	return family_register(reg, METRIC_GAUGE, name, help, nlabels, label_names, NULL, 0);
}

struct metric_family *metrics_histogram(struct metrics_registry *reg, const char *name, const char *help,
					size_t nlabels, const char *const label_names[], const double *bounds,
					size_t nbounds)
{
	return family_register(reg, METRIC_HISTOGRAM, name, help, nlabels, label_names, bounds, nbounds);
}

/* ---- series ------------------------------------------------------------------ */

/*
 * The series of values in f, created at zero if create is 1 and it is not
 * there. Called with reg->mu held. NULL with errno: EINVAL for missing
 * values, ENOENT (not there, create 0), ENOSPC (the series limit: counted
 * in series_dropped), ENOMEM.
 */
static struct metric_series *series_get(struct metric_family *f, const char *const values[], int create)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)values;
	(void)create;
	NOT_IMPLEMENTED("series_get", "lessons/06-metrics/README.md#finding-a-series");
	errno = ENOSYS;
	return NULL;
}

double metrics_value(struct metric_family *f, const char *const values[])
{
	if (f == NULL)
		return -1;
	pthread_mutex_lock(&f->reg->mu);
	struct metric_series *s = series_get(f, values, 0);
	double v = s == NULL ? -1 : f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
	pthread_mutex_unlock(&f->reg->mu);
	return v;
}

/* ---- updates ----------------------------------------------------------------- */

int metrics_counter_add(struct metric_family *f, const char *const values[], double delta)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)values;
	(void)delta;
	NOT_IMPLEMENTED("metrics_counter_add", "lessons/06-metrics/README.md#updates");
	errno = ENOSYS;
	return -1;
}

int metrics_counter_set(struct metric_family *f, const char *const values[], double total)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)values;
	(void)total;
	NOT_IMPLEMENTED("metrics_counter_set", "lessons/06-metrics/README.md#updates");
	errno = ENOSYS;
	return -1;
}

int metrics_gauge_set(struct metric_family *f, const char *const values[], double value)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)values;
	(void)value;
	NOT_IMPLEMENTED("metrics_gauge_set", "lessons/06-metrics/README.md#updates");
	errno = ENOSYS;
	return -1;
}

int metrics_histogram_observe(struct metric_family *f, const char *const values[], double value)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)values;
	(void)value;
	NOT_IMPLEMENTED("metrics_histogram_observe", "lessons/06-metrics/README.md#updates");
	errno = ENOSYS;
	return -1;
}
