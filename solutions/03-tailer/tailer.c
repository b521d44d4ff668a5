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
 * Opens the path as the newest file, at its end if at_end. Returns 0, or
 * -1 if it cannot be opened now (then nothing changed).
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
	struct follow_file *file = &f->files[f->n++];
	file->fd = fd;
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->offset = offset;
	file->last_bytes = clock_now();
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

/*
 * Reads the next bytes into f->buf: from the oldest file that has any.
 * So a newer file's bytes are read only once every older file is at its
 * end, and whatever the writer put in an old file before it wrote those
 * bytes to the new one is sent first. Returns the count and sets *from,
 * or returns 0 when every file is at its end (or gave an error).
 */
static ssize_t follower_read(struct follower *f, struct follow_file **from)
{
	for (size_t i = 0; i < f->n; i++) {
		ssize_t n;
		do
			n = read(f->files[i].fd, f->buf, sizeof(f->buf));
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			*from = &f->files[i];
			return n;
		}
	}
	return 0;
}

/* Bytes arrived from file: lines out, then count the bytes (after the
 * lines, so that whoever sees the count also sees the lines). 1: stop. */
static int follower_consume(struct follower *f, struct follow_file *file, size_t n)
{
	file->offset += (off_t)n;
	file->last_bytes = clock_now();
	int rc = splitter_feed(&file->split, f->buf, n, tailer_emit, f->t);
	atomic_fetch_add(&f->t->stats.bytes, n);
	return rc != 0;
}

/*
 * Closes the oldest file: flushes its unfinished last line (it will never
 * be completed) and shifts the others down. 1: stop.
 */
static int follower_close_oldest(struct follower *f)
{
	struct follow_file *file = &f->files[0];
	int rc = splitter_flush(&file->split, tailer_emit, f->t);
	close(file->fd);
	struct line_splitter split = file->split; /* its buffer serves the next file */
	memmove(&f->files[0], &f->files[1], (f->n - 1) * sizeof(f->files[0]));
	f->files[--f->n].split = split;
	return rc != 0;
}

/* Lets the oldest file go: reads it to its end, then closes it. 1: stop. */
static int follower_let_go(struct follower *f)
{
	struct follow_file *file = &f->files[0];
	ssize_t n;
	while ((n = read(file->fd, f->buf, sizeof(f->buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && follower_consume(f, file, (size_t)n))
			return 1;
	return follower_close_oldest(f);
}

/* 1 if done was closed: checked after each read, so that a follower with
 * a backlog stops once the lines of that read are sent, not at the end
 * of the backlog. */
static int follower_asked_to_stop(struct follower *f)
{
	void *msg = NULL;
	return f->t->done != NULL && chan_try_recv(f->t->done, &msg) != CHAN_WOULDBLOCK;
}

/*
 * The path names another file: open it at once, from its start, as the
 * newest; the others drain alongside. With FOLLOW_MAX_FILES open, the
 * oldest is let go first. If the new file vanished again before we could
 * open it, keep what we have and look again later. 1: stop.
 */
static int follower_rotate(struct follower *f)
{
	if (f->n == FOLLOW_MAX_FILES && follower_let_go(f))
		return 1;
	if (follower_open(f, 0) != 0)
		return 0;
	f->files[f->n - 2].last_bytes = clock_now(); /* its rotate wait starts now */
	f->moved = 1;
	atomic_fetch_add(&f->t->stats.rotations, 1);
	return 0;
}

/* The newest file is shorter than what we read (copytruncate): start over. */
static int follower_restart(struct follower *f)
{
	struct follow_file *file = &f->files[f->n - 1];
	if (splitter_flush(&file->split, tailer_emit, f->t) != 0)
		return 1;
	if (lseek(file->fd, 0, SEEK_SET) < 0)
		return 0;
	file->offset = 0;
	f->moved = 1;
	atomic_fetch_add(&f->t->stats.truncations, 1);
	return 0;
}

/* What became of the path? Done after every read, not only at the end: a
 * follower that is behind must still see each file while the path names
 * it. 1: stop. */
static int follower_look(struct follower *f)
{
	struct follow_file *newest = &f->files[f->n - 1];
	f->moved = 0;
	switch (follow_check(f->t->cfg.path, newest->dev, newest->ino, newest->offset)) {
	case FOLLOW_TRUNCATED:
		return follower_restart(f);
	case FOLLOW_ROTATED:
		return follower_rotate(f);
	case FOLLOW_MISSING: /* keep the file: the path may come back */
	case FOLLOW_SAME:
		break;
	}
	return 0;
}

/* Every file is at its end: let go of the old ones that have been quiet
 * for rotate_wait_ms, look at the path, and wait. 1: stop. */
static int follower_at_eof(struct follower *f)
{
	while (f->n > 1 && clock_seconds_since(&f->files[0].last_bytes) * 1000 >= (double)f->rotate_wait_ms)
		if (follower_let_go(f))
			return 1;
	if (follower_look(f))
		return 1;
	return f->moved ? 0 : follower_pause(f);
}
/* END SOLUTION */

/* The follower: runs until it must stop; tailer_run closes out after. */
static void tailer_follow(struct tailer *t)
{
	/* BEGIN SOLUTION */
	struct follower follower = {.t = t}, *f = &follower;
	f->poll_ms = t->cfg.poll_ms > 0 ? t->cfg.poll_ms : TAILER_DEFAULT_POLL_MS;
	f->rotate_wait_ms = t->cfg.rotate_wait_ms > 0 ? t->cfg.rotate_wait_ms : f->poll_ms;
	for (size_t i = 0; i < FOLLOW_MAX_FILES; i++)
		splitter_init(&f->files[i].split, t->cfg.max_line > 0 ? t->cfg.max_line : TAILER_DEFAULT_MAX_LINE);
	struct follow_watch watch;
	if (!t->cfg.stop_at_eof && follow_watch_start(&watch, t->cfg.path) == 0)
		f->wake = watch.wake;
	int stop = follower_start(f);
	while (!stop) {
		struct follow_file *from = NULL;
		ssize_t n = follower_read(f, &from);
		if (n > 0)
			stop = follower_consume(f, from, (size_t)n) || follower_asked_to_stop(f) ||
			       (!t->cfg.stop_at_eof && follower_look(f));
		else if (t->cfg.stop_at_eof)
			stop = 1;
		else
			stop = follower_at_eof(f); /* every file at its end, or an error: look at the path */
	}
	/* Whatever stopped us, each file's unfinished last line is still a
	 * line; what was not read stays unread: a stop does not wait for a
	 * backlog. */
	while (f->n > 0)
		follower_close_oldest(f);
	for (size_t i = 0; i < FOLLOW_MAX_FILES; i++)
		splitter_free(&f->files[i].split);
	if (f->wake != NULL)
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
