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
 * read again, start over after a truncation, or, after a rotation, open
 * the new file at once and keep the old one draining alongside until it
 * has been quiet for rotate_wait_ms. It waits only in a select on `done`
 * and the watch's wake channel, and in chan_send (through tailer_emit);
 * it checks `done` after each read too, so closing `done` stops it at
 * once, or once the lines of the read in hand are sent. The simulator is in simulate.c,
 * the line splitter in splitter.c, the inotify watch in src/lib/follow_watch.c.
 */
#include "clock.h"
#include "notimpl.h"
#include "tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
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

/* How many files the follower reads at once: the path's, and the ones
 * rotated away before it that it still drains. */
#define FOLLOW_MAX_FILES 8

/*
 * One file the follower reads: its descriptor, which file it is, how far
 * it was read, when it last gave bytes, and the splitter holding its
 * unfinished last line (each file has its own: an old file's half line
 * must never be glued to a newer file's first bytes).
 */
struct follow_file {
	int fd;
	dev_t dev; /* which file fd is: device and inode */
	ino_t ino;
	off_t offset;               /* bytes of it read so far */
	struct timespec last_bytes; /* when it last gave bytes, or was rotated away */
	struct line_splitter split;
};

/*
 * What the follower knows: the files it reads, oldest first. The last,
 * files[n - 1], is the one the path named when we last looked; the
 * others were rotated away and are still read alongside until each has
 * given nothing for rotate_wait_ms (a writer may append to a renamed file
 * until it reopens its log). n is 0 until the path has been opened once;
 * after that the follower always has a file open, even while the path is
 * missing (the file may still grow, and the path may come back).
 */
struct follower {
	struct tailer *t;
	struct follow_file files[FOLLOW_MAX_FILES];
	size_t n;
	long poll_ms;        /* cfg.poll_ms, or the default if that is 0 */
	long rotate_wait_ms; /* cfg.rotate_wait_ms, or poll_ms if that is 0 */
	struct chan *wake;   /* the watch's wakes (follow_watch); NULL: poll only */
	int moved;           /* the last look opened a file or started one over: read, do not wait */
	char buf[FOLLOW_READ_SIZE];
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
	 * CHAN_CLOSED, which is fine. Of several tailers sharing out, only
	 * the last to finish may close it: the others may still be sending. */
	if (t->running == NULL || atomic_fetch_sub(t->running, 1) == 1)
		chan_close(t->out);
	return NULL;
}
