/*
 * stage_thread.h - one stage of the pipeline on its own thread, with a
 * thread behind it playing the next stage, for the step programs of
 * lessons 04 to 06: main plays the tailer, reading a log as the tailer
 * hands it over (readlines.h), and sends into the stage's input.
 */
#ifndef STAGE_THREAD_H
#define STAGE_THREAD_H

#include "channel.h"
#include "readlines.h"

#include <pthread.h>

struct stage_thread {
	/* Set by the caller. */
	void (*run)(void *stage); /* the stage's loop: parser_run, filter_run... */
	void *stage;
	/* The stage's own channel fields: each made here (capacity 64) if it
	 * is NULL, and freed at the end. out NULL: no next stage. */
	struct chan **in, **out;
	/* The next stage: called with each message received on out, which it
	 * then owns. It runs on its own thread; what it counts is read after
	 * stage_thread_feed returns, whose join orders the reads after the
	 * writes. */
	void (*take)(void *ctx, void *msg);
	void *ctx;
	void (*free_msg)(void *msg); /* frees what the stage left in in */

	/* Set by stage_thread_feed: run returned without closing out. */
	int left_out_open;
	pthread_t stage_tid, next_tid;
};

/* Starts both threads, calls readlines(path, each, ctx) (each sends to
 * the stage), closes in, waits for both threads, frees what is left in
 * in, and the channels. Returns what readlines returned, or -1 if the
 * channels or threads could not be made; a -1 is reported on stderr
 * after "prog: ". */
int stage_thread_feed(struct stage_thread *t, const char *prog, const char *path, readlines_fn *each,
		      void *ctx);

/* free_msg for a stage that takes lines (struct line), and for one that
 * takes entries (struct log_entry). */
void stage_thread_free_line(void *msg);
void stage_thread_free_entry(void *msg);

#endif
