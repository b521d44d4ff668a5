/*
 * fuse.h - lesson 12: several stages run by one runner, one step after the
 * other on the same worker ("fused", what stream processors call operator
 * chaining).
 *
 * Between two stage runners an item crosses a channel: a lock, now and
 * then a wake-up, and the item's memory moving from one core's cache to
 * another's. When the stages after the parser are cheap next to that
 * crossing, the parser's workers can do their work themselves: each
 * worker takes a batch of lines and, line by line, parses, filters and
 * counts, and nothing crosses a channel after the lines. The steps are the
 * stages' own, unchanged; only who runs them changes.
 *
 * A fused step hands each link's result to the next link; a link that
 * returns NULL (it freed or kept the item) ends the item's way, and the
 * last link's result is the fused step's. A fused end_batch calls each
 * link's end_batch (those set), first to last.
 */
#ifndef FUSE_H
#define FUSE_H

#include "stage.h"

#define FUSE_MAX 4

struct fused {
	size_t n;
	stage_step_fn step[FUSE_MAX];
	void *ctx[FUSE_MAX];
	void (*end_batch[FUSE_MAX])(void *ctx);
};

/* Appends r's step, ctx and end_batch as the last link (at most FUSE_MAX:
 * 0, or -1 when f is full). */
int fused_add(struct fused *f, const struct stage_runner *r);

/* A stage_step_fn and an end_batch for a runner whose ctx is the struct fused *. */
void *fused_step(void *fused, void *item);
void fused_end(void *fused);

#endif
