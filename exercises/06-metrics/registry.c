/*
 * registry.c - lesson 06: the registry, its families and their series,
 * and the updates. The contract is in src/metrics.h; read it first.
 *
 * One mutex per registry, reg->mu, protects every family list, series
 * list, hash chain, value and reg->series_dropped. What a family was
 * registered with (name, help, type, label names, bounds, reg) never
 * changes afterwards, so it is read without the lock.
 *
 * Given: creating and freeing registries and families, the checks of
 * names, hashing, and repairing label values. Yours: creating and finding
 * a series under the lock (series_create, series_get), and the updates
 * (series_lock and the four functions of the contract).
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

/* ---- names (given) --------------------------------------------------------- */

/* ASCII ranges on purpose: isalpha() follows the locale, and a name that
 * passes in one locale must pass in all of them. */
static int is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static int metric_name_ok(const char *name)
{
	if (name == NULL || !(is_name_start(name[0]) || name[0] == ':'))
		return 0;
	for (const char *p = name + 1; *p != '\0'; p++)
		if (!is_name_char(*p) && *p != ':')
			return 0;
	return 1;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, and not __reserved. */
static int label_name_ok(const char *name)
{
	if (name == NULL || !is_name_start(name[0]) || strncmp(name, "__", 2) == 0)
		return 0;
	for (const char *p = name + 1; *p != '\0'; p++)
		if (!is_name_char(*p))
			return 0;
	return 1;
}

static int label_names_ok(enum metric_type type, size_t nlabels, const char *const label_names[])
{
	if (nlabels > METRICS_MAX_LABELS || (nlabels > 0 && label_names == NULL))
		return 0;
	for (size_t i = 0; i < nlabels; i++) {
		if (!label_name_ok(label_names[i]))
			return 0;
		/* A histogram's samples carry le themselves. */
		if (type == METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0)
			return 0;
		/* {a="1",a="2"} is not a label set. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(label_names[i], label_names[j]) == 0)
				return 0;
	}
	return 1;
}

/* Finite and increasing: +Inf is the implicit last bucket. */
static int bounds_ok(const double *bounds, size_t nbounds)
{
	if (nbounds > METRICS_MAX_BUCKETS || (nbounds > 0 && bounds == NULL))
		return 0;
	for (size_t i = 0; i < nbounds; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return 0;
	}
	return 1;
}

/* 0 if a family may be registered with these; -1 with errno EINVAL if not. */
static int family_check(enum metric_type type, const char *name, const char *help, size_t nlabels,
			const char *const label_names[], const double *bounds, size_t nbounds)
{
	int ok = metric_name_ok(name) && help != NULL && label_names_ok(type, nlabels, label_names) &&
		 (type != METRIC_HISTOGRAM || bounds_ok(bounds, nbounds));
	if (!ok) {
		errno = EINVAL;
		return -1;
	}
	return 0;
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

/* ---- series: finding them (given) -------------------------------------------- */

/* FNV-1a over the values, each followed by a 0 byte so that ("ab", "c")
 * and ("a", "bc") hash apart. */
EXERCISE_HELPER static size_t values_hash(size_t nlabels, const char *const values[])
{
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < nlabels; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i];; p++) {
			h = (h ^ *p) * 1099511628211u;
			if (*p == '\0')
				break;
		}
	}
	return (size_t)(h % METRICS_HASH_BUCKETS);
}

/* The series of f in hash chain h whose values are all equal to values[],
 * or NULL. Called with reg->mu held. */
EXERCISE_HELPER static struct metric_series *series_find(struct metric_family *f, const char *const values[],
							 size_t h)
{
	for (struct metric_series *s = f->hash[h]; s != NULL; s = s->next_in_hash) {
		size_t i = 0;
		while (i < f->nlabels && strcmp(s->label_values[i], values[i]) == 0)
			i++;
		if (i == f->nlabels)
			return s;
	}
	return NULL;
}

/*
 * A copy of value with every invalid UTF-8 sequence replaced by U+FFFD:
 * what a series stores and a scrape shows. The label escaper already
 * knows UTF-8, so the copy is its output with its three escapes undone
 * (this is why a stub escaper fails the series tests too).
 */
static char *valid_utf8_copy(const char *value)
{
	struct strbuf sb = STRBUF_INIT;
	metrics_escape_label_value(&sb, value);
	/* For "" the escaper appends nothing, and strbuf_take gives "" (not
	 * NULL) for a buffer nothing was appended to: the empty copy. */
	char *text = strbuf_take(&sb, NULL);
	if (text == NULL)
		return NULL;
	char *w = text;
	for (const char *r = text; *r != '\0'; r++) {
		if (*r == '\\') {
			r++;
			*w++ = *r == 'n' ? '\n' : *r;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return text;
}

/* Frees copies[0..n-1]. */
static void values_free(char *copies[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
}

/* Fills copies[] with repaired copies of values (the caller frees them
 * with values_free). Returns 1 if one differs from its value, 0 if none
 * does, -1 (errno ENOMEM, nothing kept) if a copy could not be made. */
EXERCISE_HELPER static int values_repair(const struct metric_family *f, const char *const values[],
					 char *copies[])
{
	int changed = 0;
	for (size_t i = 0; i < f->nlabels; i++) {
		copies[i] = valid_utf8_copy(values[i]);
		if (copies[i] == NULL) {
			values_free(copies, i);
			errno = ENOMEM;
			return -1;
		}
		changed = changed || strcmp(copies[i], values[i]) != 0;
	}
	return changed;
}

/* ---- series: creating them (yours) --------------------------------------------- */

/*
 * A new series at zero in f, whose label values are copies (f->nlabels
 * strings, already repaired, hashing to h). Called with reg->mu held; on
 * return the family keeps the invariants of the lesson's "Finding a
 * series" (1 to 3), the new series the newest in creation order. The
 * copies are the series' own; on failure they are freed all the same, and
 * it returns NULL with errno ENOSPC (the series limit; the refusal is
 * counted in reg->series_dropped) or ENOMEM.
 * Tested through the updates: test_series_limit_refuses_new_series_and_counts_drops,
 * test_series_keep_their_own_copy_of_label_values, test_render_golden (creation order).
 */
EXERCISE_HELPER static struct metric_series *series_create(struct metric_family *f, char *copies[], size_t h)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)h;
	(void)copies;
	NOT_IMPLEMENTED("series_create", "lessons/06-metrics/README.md#finding-a-series");
	errno = ENOSYS;
	return NULL;
}

/*
 * The series of values in f, created at zero if create is 1 and it is not
 * there. Called with reg->mu held. The values may be raw or already
 * repaired: both name the same series (invariant 3 of "Finding a series"),
 * and a lookup that finds its series allocates nothing (invariant 4).
 * NULL with errno: EINVAL for missing values, ENOENT (not there, create
 * 0), ENOSPC (the series limit: counted in series_dropped), ENOMEM.
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

/*
 * Locks the registry and finds or creates the series of values in f.
 * Returns it with reg->mu held; or NULL, unlocked, with errno set (EINVAL
 * if f is NULL or not of the type the update is for; series_get's errno
 * otherwise). The one place an update takes the lock, so the one place
 * its error path must let go of it.
 */
EXERCISE_HELPER static struct metric_series *series_lock(struct metric_family *f, enum metric_type type,
							 const char *const values[])
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)type;
	(void)values;
	NOT_IMPLEMENTED("series_lock", "lessons/06-metrics/README.md#updates");
	errno = ENOSYS;
	return NULL;
}

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

/* Given (lesson 12's metrics tally): the first bucket whose bound is >=
 * value, found by halving (the bounds increase); nbuckets for none. */
static size_t bucket_of(const struct metric_family *f, double value)
{
	size_t lo = 0, hi = f->nbuckets;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (value <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int metrics_histogram_observe_many(struct metric_family *f, const char *const values[], const double *v,
				   size_t n)
{
	if (n == 0)
		return 0;
	struct metric_series *s = series_lock(f, METRIC_HISTOGRAM, values);
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t b = bucket_of(f, v[i]); /* NaN: no bound is >= it, +Inf alone */
		if (b < f->nbuckets)
			s->buckets[b]++;
		s->sum += v[i];
	}
	s->count += n;
	pthread_mutex_unlock(&f->reg->mu);
	return 0;
}
