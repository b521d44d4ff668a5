/*
 * stage.c - lesson 12: the stage runner, batches and workers for every
 * stage after the tailer. The contract is in src/stage.h.
 */
#include "stage.h"
#include "notimpl.h"

#include <errno.h>

/* A worker is done: the last one out closes the door. */
static void worker_finished(struct stage_runner *r)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)r;
	NOT_IMPLEMENTED("worker_finished", "lessons/12-workers/README.md#who-closes-out");
}

/* 1 if the runner can run as the caller set it up. */
static int runner_valid(const struct stage_runner *r)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)r;
	NOT_IMPLEMENTED("runner_valid", "lessons/12-workers/README.md#5-build-it-the-runner");
	return 1;
}

int stage_start(struct stage_runner *r)
{
	if (!runner_valid(r))
		return EINVAL;
	atomic_init(&r->recv_ns, 0);
	atomic_init(&r->send_ns, 0);
	/* TODO: replace this stub with your code (the lesson section is named below). */
	r->started = 0;
	NOT_IMPLEMENTED("stage_start", "lessons/12-workers/README.md#who-closes-out");
	return ENOSYS;
}

void stage_join(struct stage_runner *r)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	r->started = 0;
	NOT_IMPLEMENTED("stage_join", "lessons/12-workers/README.md#who-closes-out");
}

void *stage_worker(void *arg)
{
	struct stage_runner *r = arg;
	/* TODO: replace this stub with your code (the lesson section is named below). */
	NOT_IMPLEMENTED("stage_worker", "lessons/12-workers/README.md#5-build-it-the-runner");
	worker_finished(r);
	return NULL;
}
