/*
 * filter.c - lesson 05: the filter stage keeps the entries at or above a
 * level, from some services, and drops the rest, counting each one. The
 * contract is in src/filter.h (and the entry in src/log_entry.h); read
 * them first.
 *
 * Who owns what: the stage owns each entry from the moment chan_recv hands
 * it over. An entry it drops, it frees. An entry it passes on belongs to
 * the next stage once chan_send returns CHAN_OK, and is never touched
 * again here; if chan_send answers anything else, the entry is still ours
 * to free.
 */
#include "filter.h"
#include "notimpl.h"

#include <errno.h>
#include <string.h>

/* ---- the configuration --------------------------------------------------- */

/* (The exercise stub answers min_level LOG_LEVELS, a level above every
 * level: it keeps nothing, and a caller can tell it is not a real
 * configuration.) */
struct filter_config filter_config_default(void)
{
	/* BEGIN SOLUTION */
	/* The members not named are zero: nservices 0 (every service), and
	 * every services[i] NULL. */
	return (struct filter_config){.min_level = LOG_INFO};
	/* END SOLUTION */
	/* STUB
	NOT_IMPLEMENTED("filter_config_default", "lessons/05-filter/README.md#the-default-configuration");
	return (struct filter_config){.min_level = LOG_LEVELS};
	*/
}

/* BEGIN SOLUTION */
/* Blanks around a name are not part of it: "api, billing" names "api" and
 * "billing". Blanks inside a name are kept. */
static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cuts the blanks off both ends of name, in place, and returns where the
 * name now starts. */
static char *trim_blanks(char *name)
{
	while (is_blank(*name))
		name++;
	char *end = name + strlen(name);
	while (end > name && is_blank(end[-1]))
		end--;
	*end = '\0';
	return name;
}
/* END SOLUTION */

int filter_config_services(struct filter_config *cfg, char *list)
{
	/* BEGIN SOLUTION */
	if (cfg == NULL || list == NULL) {
		errno = EINVAL;
		return -1;
	}
	/* Collected here first, so that a bad list leaves cfg as it was. */
	const char *names[FILTER_MAX_SERVICES];
	size_t n = 0;
	/* Each turn cuts one name off the front of the list: the comma after
	 * it becomes the NUL that ends it. Not strtok, which would read "a,,b"
	 * as two names and hide the empty one. */
	for (char *name = list, *next; name != NULL; name = next) {
		char *comma = strchr(name, ',');
		next = NULL;
		if (comma != NULL) {
			*comma = '\0';
			next = comma + 1;
		}
		name = trim_blanks(name);
		if (*name == '\0' || n == FILTER_MAX_SERVICES) {
			errno = EINVAL;
			return -1;
		}
		names[n++] = name;
	}
	memcpy(cfg->services, names, n * sizeof(names[0]));
	cfg->nservices = n;
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)cfg;
	(void)list;
	NOT_IMPLEMENTED("filter_config_services", "lessons/05-filter/README.md#a-list-of-services");
	errno = ENOSYS;
	return -1;
	*/
}

/* ---- one entry ------------------------------------------------------------ */

int filter_accept(const struct filter_config *cfg, const struct log_entry *entry)
{
	/* BEGIN SOLUTION */
	/* The levels are declared from the least to the most severe, so "at or
	 * above" is >= on their values. Their names sort otherwise. */
	if (entry->level < cfg->min_level)
		return 0;
	if (cfg->nservices == 0)
		return 1;
	for (size_t i = 0; i < cfg->nservices; i++)
		if (strcmp(entry->service, cfg->services[i]) == 0)
			return 1;
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)cfg;
	(void)entry;
	NOT_IMPLEMENTED("filter_accept", "lessons/05-filter/README.md#accept-or-drop");
	return 0;
	*/
}

/* ---- the stage ------------------------------------------------------------- */

struct log_entry *filter_step(struct filter_stage *st, struct log_entry *entry)
{
	/* BEGIN SOLUTION */
	if (filter_accept(&st->cfg, entry))
		return entry;
	/* Dropped here, so counted here: nobody after us will ever know this
	 * entry existed. */
	log_entry_free(entry);
	atomic_fetch_add(&st->stats.dropped, 1);
	return NULL;
	/* END SOLUTION */
	/* STUB
	(void)st;
	(void)entry;
	NOT_IMPLEMENTED("filter_step", "lessons/05-filter/README.md#the-stage-loop");
	return NULL;
	*/
}

void *filter_run(void *arg)
{
	/* BEGIN SOLUTION */
	struct filter_stage *st = arg;
	void *msg;
	/* chan_recv says CHAN_CLOSED only once in is closed and drained: every
	 * entry the parser sent is judged before the stage stops. */
	while (chan_recv(st->in, &msg) == CHAN_OK) {
		struct log_entry *entry = filter_step(st, msg);
		if (entry == NULL)
			continue;
		/* CHAN_CLOSED: nobody is downstream any more, and the entry is
		 * still ours. Free it and keep receiving, so that the stage before
		 * us never blocks on a full in. It is not counted as passed
		 * (it went nowhere) nor as dropped (the rule did not drop it),
		 * but as discarded, so that every entry is counted once. */
		if (chan_send(st->out, entry) == CHAN_OK) {
			atomic_fetch_add(&st->stats.passed, 1);
		} else {
			log_entry_free(entry);
			atomic_fetch_add(&st->stats.discarded, 1);
		}
	}
	/* The next stage's chan_recv returns CHAN_CLOSED once it has the rest. */
	chan_close(st->out);
	return NULL;
	/* END SOLUTION */
	/* STUB
	(void)arg;
	NOT_IMPLEMENTED("filter_run", "lessons/05-filter/README.md#the-stage-loop");
	return NULL;
	*/
}
