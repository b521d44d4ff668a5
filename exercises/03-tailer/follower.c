/*
 * follower.c - lesson 03: the file follower, a `tail -F` in a thread. Its
 * pieces are declared, with their contracts, in src/follower.h (lesson
 * 03's internal contract); each is tested on its own in tests/03-tailer.
 *
 * The follower keeps the file open and reads it; after each read it asks
 * stat(path) what became of the file (follow_check) and decides: read on,
 * start over after a truncation, or, after a rotation, open the new file
 * at once and keep the old one draining alongside until it has been quiet
 * for rotate_wait_ms. It waits only in a select on `done` and the watch's
 * wake channel, and in chan_send (through tailer_emit); it checks `done`
 * after each read too, so closing `done` stops it at once, or once the
 * lines of the read in hand are sent. Given here: follower_init and
 * follower_free. Yours: the rest, in the order of the header.
 */
#include "clock.h"
#include "follower.h"
#include "notimpl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void follower_init(struct follower *f, struct tailer *t)
{
	memset(f, 0, sizeof(*f));
	f->t = t;
	f->poll_ms = t->cfg.poll_ms > 0 ? t->cfg.poll_ms : TAILER_DEFAULT_POLL_MS;
	f->rotate_wait_ms = t->cfg.rotate_wait_ms > 0 ? t->cfg.rotate_wait_ms : f->poll_ms;
	for (size_t i = 0; i < FOLLOW_MAX_FILES; i++) {
		f->files[i].fd = -1;
		splitter_init(&f->files[i].split, t->cfg.max_line > 0 ? t->cfg.max_line : TAILER_DEFAULT_MAX_LINE);
	}
}

void follower_free(struct follower *f)
{
	for (size_t i = 0; i < FOLLOW_MAX_FILES; i++)
		splitter_free(&f->files[i].split);
}

int follower_open(struct follower *f, int at_end)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)at_end;
	NOT_IMPLEMENTED("follower_open", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return -1;
}

ssize_t follower_read(struct follower *f, struct follow_file **from)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)from;
	NOT_IMPLEMENTED("follower_read", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 0;
}

int follower_consume(struct follower *f, struct follow_file *file, size_t n)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)file;
	(void)n;
	NOT_IMPLEMENTED("follower_consume", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_close_oldest(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_close_oldest", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_let_go(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_let_go", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_asked_to_stop(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_asked_to_stop", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_pause(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_pause", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_start(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_start", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_restart(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_restart", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_rotate(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_rotate", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_look(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_look", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

int follower_at_eof(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_at_eof", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

void tailer_follow(struct tailer *t)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)t;
	NOT_IMPLEMENTED("tailer_follow", "lessons/03-tailer/README.md#the-follow-loop");
}
