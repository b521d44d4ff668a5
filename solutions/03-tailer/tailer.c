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

/* BEGIN SOLUTION */
/*
 * Waits poll_ms, or less if done is closed first. Returns 1 when the
 * tailer must stop. A timed receive on done, and not a sleep: a sleep
 * cannot be cut short, so the program would take up to poll_ms to stop.
 * Without a done channel nobody can ask us to stop, and a plain
 * nanosleep loses nothing.
 */
static int follower_pause(struct follower *f)
{
	if (f->t->done == NULL) {
		struct timespec pause = {f->poll_ms / 1000, (f->poll_ms % 1000) * 1000000L};
		nanosleep(&pause, NULL);
		return 0;
	}
	void *msg = NULL;
	return chan_recv_timed(f->t->done, &msg, f->poll_ms) != CHAN_TIMEOUT;
}

/*
 * Opens the path, at its end if at_end, and makes it the file we follow
 * (closing the one we had). Returns 0, or -1 if it cannot be opened now
 * (then the old file, if any, is kept).
 */
static int follower_open(struct follower *f, int at_end)
{
	int fd = open(f->t->cfg.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	off_t offset = at_end ? lseek(fd, 0, SEEK_END) : 0;
	if (fstat(fd, &st) != 0 || offset < 0) {
		close(fd);
		return -1;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->offset = offset;
	f->draining = 0;
	return 0;
}

/*
 * The first open. A file that is there is read from its end (or start);
 * a file that is not there yet is waited for, and then read from its
 * start, since everything in it was written after we began. Returns 1 if
 * the tailer must stop before it had a file.
 */
static int follower_start(struct follower *f)
{
	if (follower_open(f, !f->t->cfg.from_start) == 0)
		return 0;
	for (;;) {
		if (f->t->cfg.stop_at_eof || follower_pause(f))
			return 1;
		if (follower_open(f, 0) == 0)
			return 0;
	}
}

/* Bytes arrived: lines out, then count the bytes (after the lines, so
 * that whoever sees the count also sees the lines). 1: stop. */
static int follower_consume(struct follower *f, const char *buf, size_t n)
{
	f->offset += (off_t)n;
	f->draining = 0;
	int rc = splitter_feed(&f->split, buf, n, tailer_emit, f->t);
	atomic_fetch_add(&f->t->stats.bytes, n);
	return rc != 0;
}

/*
 * The path is another file and ours gave nothing for a whole poll
 * interval: move to the new one, from its start. It is opened before the
 * old one is let go, so if it vanished again we keep what we have.
 */
static int follower_switch(struct follower *f)
{
	if (follower_open(f, 0) != 0)
		return follower_pause(f);
	atomic_fetch_add(&f->t->stats.rotations, 1);
	/* The old file ended for good: its unfinished last line is a line. */
	return splitter_flush(&f->split, tailer_emit, f->t) != 0;
}

/* The file is shorter than what we read (copytruncate): start over. */
static int follower_restart(struct follower *f)
{
	if (splitter_flush(&f->split, tailer_emit, f->t) != 0)
		return 1;
	if (lseek(f->fd, 0, SEEK_SET) < 0)
		return follower_pause(f);
	f->offset = 0;
	atomic_fetch_add(&f->t->stats.truncations, 1);
	return 0;
}

/* At the end of the file: what became of the path? 1: stop. */
static int follower_at_eof(struct follower *f)
{
	switch (follow_check(f->t->cfg.path, f->dev, f->ino, f->offset)) {
	case FOLLOW_TRUNCATED:
		return follower_restart(f);
	case FOLLOW_ROTATED:
		/* A writer may still append to the renamed file for a moment:
		 * switch only after it stayed quiet for one whole interval. */
		if (f->draining)
			return follower_switch(f);
		f->draining = 1;
		break;
	case FOLLOW_MISSING: /* keep the old file: the path may come back */
	case FOLLOW_SAME:
		f->draining = 0;
		break;
	}
	return follower_pause(f);
}
/* END SOLUTION */

/* The follower: runs until it must stop; tailer_run closes out after. */
static void tailer_follow(struct tailer *t)
{
	/* BEGIN SOLUTION */
	struct follower f = {.t = t, .fd = -1};
	f.poll_ms = t->cfg.poll_ms > 0 ? t->cfg.poll_ms : TAILER_DEFAULT_POLL_MS;
	splitter_init(&f.split, t->cfg.max_line > 0 ? t->cfg.max_line : TAILER_DEFAULT_MAX_LINE);
	char buf[FOLLOW_READ_SIZE];
	int stop = follower_start(&f);
	while (!stop) {
		ssize_t n = read(f.fd, buf, sizeof(buf));
		if (n > 0)
			stop = follower_consume(&f, buf, (size_t)n);
		else if (n < 0 && errno == EINTR)
			continue;
		else if (t->cfg.stop_at_eof)
			stop = 1;
		else
			stop = follower_at_eof(&f); /* end of file, or an error: look at the path */
	}
	/* Whatever stopped us, a last unfinished line is still a line. */
	splitter_flush(&f.split, tailer_emit, t);
	splitter_free(&f.split);
	if (f.fd >= 0)
		close(f.fd);
	/* END SOLUTION */
	/* STUB
	(void)t;
	NOT_IMPLEMENTED("tailer_follow", "lessons/03-tailer/README.md#the-follow-loop");
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
	 * CHAN_CLOSED, which is fine. */
	chan_close(t->out);
	return NULL;
}
