#include "stage_thread.h"

#include "line.h"
#include "log_entry.h"

#include <stdio.h>

static void *stage_main(void *arg)
{
	struct stage_thread *t = arg;
	t->run(t->stage);
	/* A correct stage returns once in is closed, having closed out, so
	 * both closes below answer CHAN_CLOSED. A stage that returned early
	 * (the exercise stub does) would leave the next stage waiting on out
	 * and main blocked sending on in: closing them ends both waits. */
	if (t->out != NULL)
		t->left_out_open = chan_close(*t->out) == CHAN_OK;
	chan_close(*t->in);
	return NULL;
}

static void *next_main(void *arg)
{
	struct stage_thread *t = arg;
	void *msg;
	while (chan_recv(*t->out, &msg) == CHAN_OK)
		t->take(t->ctx, msg);
	return NULL;
}

/* Makes the channels and starts the threads; 0 or -1. */
static int start(struct stage_thread *t)
{
	if (*t->in == NULL)
		*t->in = chan_new(64);
	if (t->out != NULL && *t->out == NULL)
		*t->out = chan_new(64);
	if (*t->in == NULL || (t->out != NULL && *t->out == NULL) ||
	    pthread_create(&t->stage_tid, NULL, stage_main, t) != 0)
		return -1;
	if (t->out != NULL && pthread_create(&t->next_tid, NULL, next_main, t) != 0) {
		chan_close(*t->in);
		pthread_join(t->stage_tid, NULL);
		return -1;
	}
	return 0;
}

/* Lines are over: the stage drains in, closes out, and the next stage
 * ends. Then frees what a stage that stopped early never took. */
static void finish(struct stage_thread *t)
{
	chan_close(*t->in);
	pthread_join(t->stage_tid, NULL);
	if (t->out != NULL)
		pthread_join(t->next_tid, NULL);
	void *msg;
	while (chan_try_recv(*t->in, &msg) == CHAN_OK)
		t->free_msg(msg);
}

static void free_channels(struct stage_thread *t)
{
	if (*t->in != NULL)
		chan_free(*t->in);
	if (t->out != NULL && *t->out != NULL)
		chan_free(*t->out);
}

int stage_thread_feed(struct stage_thread *t, const char *prog, const char *path, readlines_fn *each,
		      void *ctx)
{
	if (start(t) != 0) {
		fprintf(stderr, "%s: cannot make the stage's channels or threads\n", prog);
		free_channels(t);
		return -1;
	}
	int rc = readlines(path, each, ctx);
	if (rc < 0)
		readlines_error(prog, path);
	finish(t);
	free_channels(t);
	return rc;
}

void stage_thread_free_line(void *msg)
{
	line_free(msg);
}

void stage_thread_free_entry(void *msg)
{
	log_entry_free(msg);
}
