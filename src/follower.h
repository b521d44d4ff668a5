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
 * One file the follower reads, and the splitter holding its unfinished
 * last line: each file has its own, so an old file's half line is never
 * glued to a newer file's first bytes.
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
 * The files it reads, oldest first: files[n - 1] is the one the path
 * named at the last look; the others were rotated away and are read
 * alongside until each has given nothing for rotate_wait_ms (a writer may
 * append to a renamed file until it reopens its log). n is 0 until the
 * path is first opened; after that a file is always open, even while the
 * path is missing. Each of the FOLLOW_MAX_FILES slots owns its splitter,
 * a file open in it or not: no two slots ever share a splitter's buffer.
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

/* Opens the path as the newest file, files[n]. Its slot then says which
 * file the descriptor is (the path may name another by now) and gave bytes
 * now; the descriptor's own position is where the next read starts (the
 * size if at_end, else 0): the follower reads with read(), not pread, and
 * offset records that same position for follow_check. 0, or -1 if the
 * path cannot be opened now: then f is as it was. */
int follower_open(struct follower *f, int at_end);

/* The next bytes, into f->buf, never from a newer file while an older one
 * has any; *from is their file. 0 only when every file is at its end. */
ssize_t follower_read(struct follower *f, struct follow_file **from);

/* n bytes of file are in f->buf, just read from it. The invariant it
 * keeps: whoever sees stats.bytes finds in out every line those bytes
 * completed. Afterwards the slot describes the file with the n bytes read
 * (an old file that gives bytes is not quiet), and the bytes are counted,
 * whatever became of their lines. 1 if out refused a line (closed), from
 * tailer_emit or from tailer_flush; 0 otherwise. */
int follower_consume(struct follower *f, struct follow_file *file, size_t n);

/* Closes files[0], its unfinished last line sent; the others move down
 * one. Reads nothing. Every slot still owns a splitter of its own. The
 * file is closed even if out refused that line: 1 then, 0 otherwise. */
int follower_close_oldest(struct follower *f);

/* Lets files[0] go without losing a byte its writer appended. 0: every
 * line it held is in out, and it is closed as by follower_close_oldest.
 * 1 if out refused a line (closed): one of the lines read, and the file
 * stays open in files[0] (n unchanged); or its unfinished last line, and
 * it is closed all the same, as follower_close_oldest closes it. */
int follower_let_go(struct follower *f);

/* 1 if done has been closed, or a message was waiting on it (taken: a
 * message means stop too); 0 if neither, or t->done is NULL. Never waits. */
int follower_asked_to_stop(struct follower *f);

/* Waits at most poll_ms, less if the watch wakes us or done is closed. 0
 * after a timeout or a wake (read again), 1 when done was closed. A
 * closed wake (the given watch never closes it) is a stop too, 1 at once:
 * a select would find it closed at once, pause after pause, a busy loop.
 * Without done and wake, waits poll_ms all the same. */
int follower_pause(struct follower *f);

/* The first open: the path at its end (its start with cfg.from_start). A
 * file not there yet is waited for (follower_pause) and read from its
 * start: all of it is new. 1 if the tailer must stop before a file was
 * opened (done, or cfg.stop_at_eof). */
int follower_start(struct follower *f);

/* The newest file shrank below its offset (copytruncate). No byte read
 * before the truncation is lost or glued to one read after it; the
 * descriptor's own position, and offset, are back at the start; the
 * truncation is counted, and moved set. */
int follower_restart(struct follower *f);

/* The path names another file. On return, 0: that file is open as the
 * newest, read from its start, the rotation counted and moved set; or the
 * open failed and no rotation is counted. Never more than
 * FOLLOW_MAX_FILES files are open, and no byte of a file let go is lost:
 * with FOLLOW_MAX_FILES open, the oldest is let go before the open (the
 * new descriptor needs its slot), and stays let go if the open fails.
 * A file rotated away counts as quiet no sooner than rotate_wait_ms
 * after its rotation. 1 if out refused a line. */
int follower_rotate(struct follower *f);

/* Acts on follow_check's answer for the newest file: restarts it, rotates,
 * or (FOLLOW_SAME, FOLLOW_MISSING) nothing. moved then says whether this
 * look opened a file or started one over. */
int follower_look(struct follower *f);

/* Every file is at its end. On return the old files that were quiet for
 * rotate_wait_ms are let go, their lines in order; the path has been
 * looked at; and no time was spent waiting while there was something to
 * read. 0: read again; 1: stop. */
int follower_at_eof(struct follower *f);

/* The follower: runs until it must stop, then flushes and closes every
 * file; it reads nothing more once asked to stop, and loses nothing it
 * read: every byte read is consumed (follower_consume: its complete lines
 * sent, or refused by a closed out, and the bytes counted in stats.bytes)
 * before done is looked at. tailer_run closes out after it. */
void tailer_follow(struct tailer *t);

/* Given, in src/lib/simulate.c: the simulator, run until it must stop
 * (tailer_run calls it when cfg.path is NULL). */
void tailer_simulate(struct tailer *t);

/* Given, in tailer.c: sends a line on t->out (ctx is the struct tailer)
 * and counts it; -1 when out was closed (the line is freed then). With
 * t->cfg.batch > 1 it keeps the line instead, and sends only once it has
 * kept batch lines: tailer_flush sends the rest. */
int tailer_emit(void *ctx, struct line *line);

/* Given, in tailer.c: sends the lines tailer_emit kept, in order, with one
 * chan_send_many, and counts them; 0, or -1 when out was closed (what it
 * refused is freed then). Nothing kept: returns 0 at once. Every function
 * that hands lines to tailer_emit calls it before it returns, so that no
 * line waits in the tailer while the tailer reads on or waits. */
int tailer_flush(struct tailer *t);

#endif
