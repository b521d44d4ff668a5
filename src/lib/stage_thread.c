#include "stage_thread.h"

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
		t->left_out_open = chan_close(t->out) == CHAN_OK;
	chan_close(t->in);
	return NULL;
}

static void *next_main(void *arg)
{
	struct stage_thread *t = arg;
	void *msg;
	while (chan_recv(t->out, &msg) == CHAN_OK)
		t->take(t->ctx, msg);
	return NULL;
}

int stage_thread_start(struct stage_thread *t, const char *prog)
{
	if (pthread_create(&t->stage_tid, NULL, stage_main, t) != 0) {
		fprintf(stderr, "%s: cannot start the stage's thread\n", prog);
		return -1;
	}
	if (t->out != NULL && pthread_create(&t->next_tid, NULL, next_main, t) != 0) {
		fprintf(stderr, "%s: cannot start the next stage's thread\n", prog);
		chan_close(t->in);
		pthread_join(t->stage_tid, NULL);
		return -1;
	}
	return 0;
}

void stage_thread_finish(struct stage_thread *t)
{
	/* No more input: the stage drains in, closes out, and the next stage
	 * ends. */
	chan_close(t->in);
	pthread_join(t->stage_tid, NULL);
	if (t->out != NULL)
		pthread_join(t->next_tid, NULL);
	/* Messages a stage that stopped early never took. */
	void *msg;
	while (chan_try_recv(t->in, &msg) == CHAN_OK)
		t->free_msg(msg);
	chan_free(t->in);
	if (t->out != NULL)
		chan_free(t->out);
}
