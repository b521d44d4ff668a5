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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	NOT_IMPLEMENTED("filter_config_default", "lessons/05-filter/README.md#the-default-configuration");
	return (struct filter_config){.min_level = LOG_LEVELS};
}

int filter_config_services(struct filter_config *cfg, char *list)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)cfg;
	(void)list;
	NOT_IMPLEMENTED("filter_config_services", "lessons/05-filter/README.md#a-list-of-services");
	errno = ENOSYS;
	return -1;
}

/* ---- one entry ------------------------------------------------------------ */

int filter_accept(const struct filter_config *cfg, const struct log_entry *entry)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)cfg;
	(void)entry;
	NOT_IMPLEMENTED("filter_accept", "lessons/05-filter/README.md#accept-or-drop");
	return 0;
}

/* ---- the stage ------------------------------------------------------------- */

struct log_entry *filter_step(struct filter_stage *st, struct log_entry *entry)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)st;
	(void)entry;
	NOT_IMPLEMENTED("filter_step", "lessons/05-filter/README.md#the-stage-loop");
	return NULL;
}

void *filter_run(void *arg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)arg;
	NOT_IMPLEMENTED("filter_run", "lessons/05-filter/README.md#the-stage-loop");
	return NULL;
}
