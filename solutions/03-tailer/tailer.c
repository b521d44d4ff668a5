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
 * has been quiet for a poll interval. It waits only in a select on `done`
 * and the watch's wake channel, so closing `done` stops it at once, and
 * in chan_send (through tailer_emit). The simulator is in simulate.c,
 * the line splitter in splitter.c, the inotify watch in watch.c.
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
 * One file the follower reads: its descriptor, which file it is, how far
 * it was read, and the splitter holding its unfinished last line (each
 * file has its own: the old file's half line must never be glued to the
 * new file's first bytes).
 */
struct follow_file {
	int fd;    /* -1: none */
	dev_t dev; /* which file fd is: device and inode */
	ino_t ino;
	off_t offset; /* bytes of it read so far */
	struct line_splitter split;
};

/*
 * What the follower knows. cur is the file the path named when we last
 * looked; fd is -1 until it has been opened once, and after that the
 * follower always has a file open, even while the path is missing (the
 * old file may still grow). old is the file the path named before the
 * last rotation, still read alongside until it has given nothing since
 * old_quiet (one poll interval: a writer may append to it until it
 * reopens its log); its fd is -1 when there is none.
 */
struct follower {
	struct tailer *t;
	struct follow_file cur, old;
	struct timespec old_quiet; /* when old last gave bytes, or was let go by the path */
	long poll_ms;              /* cfg.poll_ms, or the default if that is 0 */
	long rotate_wait_ms;       /* cfg.rotate_wait_ms, or poll_ms if that is 0 */
	struct chan *wake;         /* the watch's wakes (follow_watch); NULL: poll only */
};

/* BEGIN SOLUTION */
/*
 * Waits poll_ms, or less if done is closed first or the watch wakes us.
 * Returns 1 when the tailer must stop. A select on done (and wake), and
 * not a sleep: a sleep cannot be cut short, so the program would take up
 * to poll_ms to stop. Without a done channel nobody can ask us to stop;
 * without a wake channel either, a plain nanosleep loses nothing.
 */
static int follower_pause(struct follower *f)
{
	if (f->t->done == NULL && f->wake == NULL) {
		struct timespec pause = {f->poll_ms / 1000, (f->poll_ms % 1000) * 1000000L};
		nanosleep(&pause, NULL);
		return 0;
	}
	struct chan *const chans[2] = {f->t->done, f->wake};
	struct timespec deadline = deadline_after_ms(f->poll_ms);
	size_t which = 0;
	void *msg = NULL;
	enum chan_status rc = chan_select(chans, 2, &which, &msg, &deadline);
	return rc != CHAN_TIMEOUT && !(rc == CHAN_OK && which == 1);
}

/*
 * Opens the path into *file, at its end if at_end. Returns 0, or -1 if it
 * cannot be opened now (then *file is untouched).
 */
static int follow_file_open(struct follow_file *file, const char *path, int at_end)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	off_t offset = at_end ? lseek(fd, 0, SEEK_END) : 0;
	if (fstat(fd, &st) != 0 || offset < 0) {
		close(fd);
		return -1;
	}
	file->fd = fd;
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->offset = offset;
	return 0;
}

/* The file ended for good: its unfinished last line is a line. 1: stop. */
static int follow_file_close(struct follower *f, struct follow_file *file)
{
	int rc = splitter_flush(&file->split, tailer_emit, f->t);
	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
	return rc != 0;
}

/*
 * The first open. A file that is there is read from its end (or start);
 * a file that is not there yet is waited for, and then read from its
 * start, since everything in it was written after we began. Returns 1 if
 * the tailer must stop before it had a file.
 */
static int follower_start(struct follower *f)
{
	if (follow_file_open(&f->cur, f->t->cfg.path, !f->t->cfg.from_start) == 0)
		return 0;
	for (;;) {
		if (f->t->cfg.stop_at_eof || follower_pause(f))
			return 1;
		if (follow_file_open(&f->cur, f->t->cfg.path, 0) == 0)
			return 0;
	}
}

/* Bytes arrived from file: lines out, then count the bytes (after the
 * lines, so that whoever sees the count also sees the lines). 1: stop. */
static int follower_consume(struct follower *f, struct follow_file *file, const char *buf, size_t n)
{
	file->offset += (off_t)n;
	int rc = splitter_feed(&file->split, buf, n, tailer_emit, f->t);
	atomic_fetch_add(&f->t->stats.bytes, n);
	return rc != 0;
}

/*
 * Reads the old file to its end, if there is one. Called before any bytes
 * of the new file are sent: whatever the writer put in the old file
 * before it wrote those bytes to the new one is in the old file by now,
 * so it goes first. 1: stop.
 */
static int follower_drain_old(struct follower *f)
{
	char buf[FOLLOW_READ_SIZE];
	while (f->old.fd >= 0) {
		ssize_t n = read(f->old.fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		f->old_quiet = clock_now();
		if (follower_consume(f, &f->old, buf, (size_t)n))
			return 1;
	}
	return 0;
}

/*
 * The path names another file: open it at once, from its start, and keep
 * the one we had as old, to drain alongside. A third file lets the old
 * one go first (read to its end, then flushed). If the new file vanished
 * again before we could open it, keep what we have and look again later.
 */
static int follower_rotate(struct follower *f)
{
	struct follow_file next = {.fd = -1};
	if (follow_file_open(&next, f->t->cfg.path, 0) != 0)
		return follower_pause(f);
	if (follower_drain_old(f) || follow_file_close(f, &f->old)) {
		close(next.fd);
		return 1;
	}
	/* The splitters move with their files: old keeps its half line. */
	next.split = f->old.split;
	f->old = f->cur;
	f->cur = next;
	f->old_quiet = clock_now();
	atomic_fetch_add(&f->t->stats.rotations, 1);
	return 0;
}

/* The file is shorter than what we read (copytruncate): start over. */
static int follower_restart(struct follower *f)
{
	if (splitter_flush(&f->cur.split, tailer_emit, f->t) != 0)
		return 1;
	if (lseek(f->cur.fd, 0, SEEK_SET) < 0)
		return follower_pause(f);
	f->cur.offset = 0;
	atomic_fetch_add(&f->t->stats.truncations, 1);
	return 0;
}

/* At the end of the current file: drain the old one, let it go once it has
 * been quiet for rotate_wait_ms, and see what became of the path. 1: stop. */
static int follower_at_eof(struct follower *f)
{
	if (follower_drain_old(f))
		return 1;
	if (f->old.fd >= 0 && clock_seconds_since(&f->old_quiet) * 1000 >= (double)f->rotate_wait_ms &&
	    follow_file_close(f, &f->old))
		return 1;
	switch (follow_check(f->t->cfg.path, f->cur.dev, f->cur.ino, f->cur.offset)) {
	case FOLLOW_TRUNCATED:
		return follower_restart(f);
	case FOLLOW_ROTATED:
		return follower_rotate(f);
	case FOLLOW_MISSING: /* keep the file: the path may come back */
	case FOLLOW_SAME:
		break;
	}
	return follower_pause(f);
}
/* END SOLUTION */

/* The follower: runs until it must stop; tailer_run closes out after. */
static void tailer_follow(struct tailer *t)
{
	/* BEGIN SOLUTION */
	struct follower f = {.t = t, .cur.fd = -1, .old.fd = -1};
	f.poll_ms = t->cfg.poll_ms > 0 ? t->cfg.poll_ms : TAILER_DEFAULT_POLL_MS;
	f.rotate_wait_ms = t->cfg.rotate_wait_ms > 0 ? t->cfg.rotate_wait_ms : f.poll_ms;
	size_t max_line = t->cfg.max_line > 0 ? t->cfg.max_line : TAILER_DEFAULT_MAX_LINE;
	splitter_init(&f.cur.split, max_line);
	splitter_init(&f.old.split, max_line);
	struct follow_watch watch;
	if (!t->cfg.stop_at_eof && follow_watch_start(&watch, t->cfg.path) == 0)
		f.wake = watch.wake;
	char buf[FOLLOW_READ_SIZE];
	int stop = follower_start(&f);
	while (!stop) {
		ssize_t n = read(f.cur.fd, buf, sizeof(buf));
		if (n > 0)
			stop = follower_drain_old(&f) || follower_consume(&f, &f.cur, buf, (size_t)n);
		else if (n < 0 && errno == EINTR)
			continue;
		else if (t->cfg.stop_at_eof)
			stop = 1;
		else
			stop = follower_at_eof(&f); /* end of file, or an error: look at the path */
	}
	/* Whatever stopped us, a last unfinished line is still a line. */
	follow_file_close(&f, &f.old);
	follow_file_close(&f, &f.cur);
	splitter_free(&f.old.split);
	splitter_free(&f.cur.split);
	if (f.wake != NULL)
		follow_watch_stop(&watch);
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
	 * CHAN_CLOSED, which is fine. Of several tailers sharing out, only
	 * the last to finish may close it: the others may still be sending. */
	if (t->running == NULL || atomic_fetch_sub(t->running, 1) == 1)
		chan_close(t->out);
	return NULL;
}
