/*
 * stage_thread.h - one stage of the pipeline on its own thread, with a
 * thread behind it playing the next stage, for the step programs of
 * lessons 04 to 06: main plays the stages before it and sends into in.
 */
#ifndef STAGE_THREAD_H
#define STAGE_THREAD_H

#include "channel.h"

#include <pthread.h>

struct stage_thread {
	/* Set by the caller before stage_thread_start. */
	void (*run)(void *stage); /* the stage's loop: parser_run, filter_run... */
	void *stage;
	struct chan *in, *out; /* the stage's channels; out NULL: no next stage */
	/* The next stage: called with each message received on out, which it
	 * then owns. It runs on its own thread; main reads what it counted
	 * after stage_thread_finish, whose join orders the reads after the
	 * writes. */
	void (*take)(void *ctx, void *msg);
	void *ctx;
	void (*free_msg)(void *msg); /* frees what the stage left in in */

	/* Set by stage_thread_finish: run returned without closing out. */
	int left_out_open;
	pthread_t stage_tid, next_tid;
};

/* Starts both threads. 0, or -1 (reported on stderr after "prog: "). */
int stage_thread_start(struct stage_thread *t, const char *prog);

/* Closes in, waits for both threads, frees what is left in in and both
 * channels. */
void stage_thread_finish(struct stage_thread *t);

#endif
