/*
 * tailer.c - lesson 03: the tailer thread and its file follower, a
 * `tail -F` in a thread. The contract is in src/tailer.h.
 *
 * Given here: the defaults, tailer_emit (the one function that sends a
 * line downstream, used by the follower and the simulator alike) and
 * tailer_run, which picks the source and closes `out` at the end,
 * whatever made the source stop. Yours: follow_check and the follower.
 *
 * The follower keeps the file open and reads it to its end; then it asks
 * stat(path) what became of the file (follow_check) and decides: wait and
 * read again, start over after a truncation, or move to the new file after
 * a rotation. It waits only in a timed receive on `done`, so closing
 * `done` stops it at once, and in chan_send (through tailer_emit).
 * The simulator is in simulate.c, the line splitter in splitter.c.
 */
#include "clock.h"
#include "notimpl.h"
#include "tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* In simulate.c: runs the simulator until it must stop. */
void tailer_simulate(struct tailer *t);

/* Also used by simulate.c. */
int tailer_emit(void *ctx, struct line *line);

struct tailer_config tailer_config_default(void)
{
	struct tailer_config cfg = {
	    .path = NULL,
	    .from_start = 0,
	    .stop_at_eof = 0,
	    .poll_ms = TAILER_DEFAULT_POLL_MS,
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

/* How much the follower reads at a time. */
#define FOLLOW_READ_SIZE 16384

enum follow_change follow_check(const char *path, dev_t dev, ino_t ino, off_t offset)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)path;
	(void)dev;
	(void)ino;
	(void)offset;
	NOT_IMPLEMENTED("follow_check", "lessons/03-tailer/README.md#follow_check");
	return FOLLOW_MISSING;
}

/*
 * What the follower knows about the file it has open. fd is -1 until the
 * file has been opened once; after that the follower always has a file
 * open, even while the path is missing (the old file may still grow).
 */
struct follower {
	struct tailer *t;
	int fd;
	dev_t dev; /* which file fd is: device and inode */
	ino_t ino;
	off_t offset; /* bytes of it read so far */
	int draining; /* 1: the path names another file; ours gets one more quiet interval */
	long poll_ms; /* cfg.poll_ms, or the default if that is 0 */
	struct line_splitter split;
};

/* The follower: runs until it must stop; tailer_run closes out after. */
static void tailer_follow(struct tailer *t)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)t;
	NOT_IMPLEMENTED("tailer_follow", "lessons/03-tailer/README.md#the-follow-loop");
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
	 * CHAN_CLOSED, which is fine. */
	chan_close(t->out);
	return NULL;
}
