/*
 * follower.h - lesson 03's internal contract: the pieces the file
 * follower is built from. tailer_run (tailer.h) calls tailer_follow when
 * cfg.path is set; tailer_follow is a short loop over the helpers below,
 * each small enough to write, and test, on its own. Only lesson 03's code
 * and its tests include this header: the rest of the pipeline knows the
 * tailer by tailer.h alone.
 *
 * The helpers that may send lines (through tailer_emit, on t->out) return
 * 1 when the tailer must stop (out was closed under it, or done was
 * closed) and 0 to go on. None of them closes out: tailer_run does.
 */
#ifndef FOLLOWER_H
#define FOLLOWER_H

#include "tailer.h"

#include <sys/types.h>
#include <time.h>

/* How much the follower reads at a time. */
#define FOLLOW_READ_SIZE 16384

/* How many files the follower reads at once: the path's, and the ones
 * rotated away before it that it still drains. */
#define FOLLOW_MAX_FILES 8

/* snippet: state */
/*
 * One file the follower reads: its descriptor, which file it is, how far
 * it was read, when it last gave bytes, and the splitter holding its
 * unfinished last line (each file has its own: an old file's half line
 * must never be glued to a newer file's first bytes).
 */
struct follow_file {
	int fd;
	dev_t dev; /* which file fd is: device and inode (fstat) */
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
 * Each of the FOLLOW_MAX_FILES slots owns its splitter, whether a file is
 * open in it or not: no two slots ever share a splitter's buffer.
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

/* Given: no file open, the intervals from t->cfg, a splitter in each slot
 * (max_line from t->cfg), no wake channel. */
void follower_init(struct follower *f, struct tailer *t);

/* Given: frees the splitters. Every file must be closed first. */
void follower_free(struct follower *f);
/* end snippet */

/* snippet: helpers */
/* Opens the path as the newest file, files[n], at its end if at_end, else
 * at its start; records which file it is (fstat of the descriptor) and
 * its offset, and that it gave bytes now. 0, or -1 if it cannot be opened
 * now: then nothing changed. */
int follower_open(struct follower *f, int at_end);

/* The next bytes, into f->buf, from the oldest file that has any: a
 * newer file is read only when every older one is at its end. Returns how
 * many and sets *from to that file, or 0 when every file is at its end. */
ssize_t follower_read(struct follower *f, struct follow_file **from);

/* n bytes from file are in f->buf: moves its offset and last_bytes, sends
 * the lines they complete (its splitter, tailer_emit), then adds n to
 * stats.bytes, so whoever sees the count finds those lines in out. */
int follower_consume(struct follower *f, struct follow_file *file, size_t n);

/* Closes files[0] after flushing its unfinished last line; the others move
 * down one. Its splitter goes to the slot freed at the end. Reads nothing. */
int follower_close_oldest(struct follower *f);

/* Lets files[0] go: reads it to its end (sending its lines), then closes
 * it as follower_close_oldest does. If a send fails (out was closed), it
 * returns 1 at once and the file stays open in files[0], n unchanged:
 * whoever stops the follower closes every file (tailer_follow does). */
int follower_let_go(struct follower *f);

/* 1 if done has been closed, or a message was waiting on it (taken: a
 * message means stop too); 0 if neither, or t->done is NULL. Never waits. */
int follower_asked_to_stop(struct follower *f);

/* Waits poll_ms, less if the watch wakes us or done is closed. 0 after a
 * timeout or a wake (read again), 1 when done was closed. Without done
 * and wake, sleeps poll_ms. */
int follower_pause(struct follower *f);

/* The first open: the path at its end (its start with cfg.from_start). If
 * it is not there, waits (follower_pause) and tries again, and then reads
 * it from its start: all of it is new. 1 if the tailer must stop before a
 * file was opened (done, or cfg.stop_at_eof). */
int follower_start(struct follower *f);

/* The newest file shrank below its offset (copytruncate): flushes its
 * partial line, reads it again from offset 0, counts a truncation, sets
 * moved. */
int follower_restart(struct follower *f);

/* The path names another file: opens it from its start as the newest;
 * the old newest waits rotate_wait_ms from now. Counts a rotation, sets
 * moved. With FOLLOW_MAX_FILES open there is no slot for it, so the
 * oldest is let go first (follower_let_go). If the open fails, nothing
 * more changes: no rotation counted, moved not set, the files as they
 * were (but for the oldest, when it was let go); look again later. */
int follower_rotate(struct follower *f);

/* Clears moved, asks follow_check about the newest file, and restarts or
 * rotates as it says; FOLLOW_SAME and FOLLOW_MISSING change nothing. */
int follower_look(struct follower *f);

/* Every file is at its end: lets go of the old files (never the newest)
 * that gave nothing for rotate_wait_ms, oldest first; looks at the path;
 * pauses unless the look moved. */
int follower_at_eof(struct follower *f);

/* The follower: runs until it must stop, then flushes and closes every
 * file; it reads nothing more once asked to stop. tailer_run closes out
 * after it. */
void tailer_follow(struct tailer *t);
/* end snippet */

/* Given, in src/lib/simulate.c: the simulator, run until it must stop
 * (tailer_run calls it when cfg.path is NULL). */
void tailer_simulate(struct tailer *t);

/* Given, in tailer.c: sends a line on t->out (ctx is the struct tailer)
 * and counts it; -1 when out was closed (the line is freed then). */
int tailer_emit(void *ctx, struct line *line);

#endif
