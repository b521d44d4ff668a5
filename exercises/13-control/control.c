/*
 * control.c - lesson 13: the stage runner watched and cancellable. Its two
 * channel operations count the time every worker waits on in and on out,
 * and look at the cancel channel before every batch; the waits are
 * exported as a scrape sees them; and pipeline_cancel abandons what is in
 * flight. The contracts are in src/stage.h and src/pipeline.h.
 */
#include "stage.h"
#include "batch.h"
#include "clock.h"
#include "metrics.h"
#include "notimpl.h"
#include "pipeline.h"

#include <errno.h>

enum chan_status stage_recv(struct stage_runner *r, void *items[], size_t *got)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)r;
	(void)items;
	*got = 0;
	NOT_IMPLEMENTED("stage_recv", "lessons/13-control/README.md#the-waits");
	return CHAN_CLOSED;
}

size_t stage_send(struct stage_runner *r, void *const results[], size_t n)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)r;
	(void)results;
	(void)n;
	NOT_IMPLEMENTED("stage_send", "lessons/13-control/README.md#the-waits");
	return 0;
}

void stage_export(const struct stage_runner *r, struct metric_family *blocked)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)r;
	(void)blocked;
	NOT_IMPLEMENTED("stage_export", "lessons/13-control/README.md#the-export");
}

int pipeline_watch_register(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_watch_register", "lessons/13-control/README.md#the-export");
	errno = ENOSYS;
	return -1;
}

void pipeline_watch_copy(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_watch_copy", "lessons/13-control/README.md#the-export");
}

void pipeline_cancel(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_cancel", "lessons/13-control/README.md#the-cancel");
}
