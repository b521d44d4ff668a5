/*
 * tailer.c - lesson 03: the tailer thread, a `tail -F` or a simulator
 * behind one contract (src/tailer.h).
 *
 * Given here: the defaults, tailer_emit (the one function that sends a
 * line downstream, used by the follower and the simulator alike) and
 * tailer_run, which picks the source and closes `out` at the end,
 * whatever made the source stop. Yours: follow_check. The follower is in
 * follower.c (its pieces in src/follower.h), the line splitter in
 * splitter.c, the simulator (given) in src/lib/simulate.c, the inotify
 * watch (given) in src/lib/follow_watch.c.
 */
#include "follower.h"
#include "notimpl.h"
#include "tailer.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>

struct tailer_config tailer_config_default(void)
{
	struct tailer_config cfg = {
	    .path = NULL,
	    .from_start = 0,
	    .stop_at_eof = 0,
	    .poll_ms = TAILER_DEFAULT_POLL_MS,
	    .rotate_wait_ms = 0,
	    .max_line = TAILER_DEFAULT_MAX_LINE,
	    .rate = 100.0,
	    .seed = 1,
	    .count = 0,
	    .level_weights = {0},
	};
	return cfg;
}

/*
 * A line_emit_fn with ctx = the struct tailer: sends the line on out.
 * Once chan_send returns CHAN_OK the line belongs to the receiver, so its
 * too_long flag is read before. On any other status the line is still
 * ours: it is freed, and -1 tells the source to stop (out was closed
 * under us: nobody wants more lines). The counters move after the send,
 * so they count lines sent, not lines attempted.
 */
int tailer_emit(void *ctx, struct line *line)
{
	struct tailer *t = ctx;
	int too_long = line->too_long;
	if (chan_send(t->out, line) != CHAN_OK) {
		line_free(line);
		return -1;
	}
	atomic_fetch_add(&t->stats.lines, 1);
	if (too_long)
		atomic_fetch_add(&t->stats.too_long, 1);
	return 0;
}

/* The four cases of enum follow_change, from one stat. Tests: the four
 * test_follow_check_*. */
enum follow_change follow_check(const char *path, dev_t dev, ino_t ino, off_t offset)
{
	/* BEGIN SOLUTION */
	struct stat st;
	if (stat(path, &st) != 0) {
		/* ENOENT, or ENOTDIR when a directory on the way is gone. Any
		 * other error (EACCES...) says nothing about the file: keep going. */
		if (errno == ENOENT || errno == ENOTDIR)
			return FOLLOW_MISSING;
		return FOLLOW_SAME;
	}
	if (st.st_dev != dev || st.st_ino != ino)
		return FOLLOW_ROTATED;
	if (st.st_size < offset)
		return FOLLOW_TRUNCATED;
	return FOLLOW_SAME;
	/* END SOLUTION */
	/* STUB
	(void)path;
	(void)dev;
	(void)ino;
	(void)offset;
	NOT_IMPLEMENTED("follow_check", "lessons/03-tailer/README.md#follow_check");
	return FOLLOW_MISSING;
	*/
}

void *tailer_run(void *arg)
{
	struct tailer *t = arg;
	if (t->cfg.path != NULL)
		tailer_follow(t);
	else
		tailer_simulate(t);
	/* Closing out is how the stages downstream learn that no line will
	 * ever come again. If someone closed it already, this says
	 * CHAN_CLOSED, which is fine. Of several tailers sharing out, only
	 * the last to finish may close it: the others may still be sending. */
	if (t->running == NULL || atomic_fetch_sub(t->running, 1) == 1)
		chan_close(t->out);
	return NULL;
}
