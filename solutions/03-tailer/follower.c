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
 * wake channel, and in sending (tailer_emit, tailer_flush); it checks `done`
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

/* The next read is read(fd) from the descriptor's own position; offset
 * mirrors it for follow_check. Test:
 * test_follower_open_at_the_end_or_the_start_records_the_file. */
int follower_open(struct follower *f, int at_end)
{
	/* BEGIN SOLUTION */
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
	/* END SOLUTION */
	/* STUB
	(void)f;
	(void)at_end;
	NOT_IMPLEMENTED("follower_open", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return -1;
	*/
}

/* Oldest first. Test: test_follower_read_takes_the_oldest_file_that_has_bytes. */
ssize_t follower_read(struct follower *f, struct follow_file **from)
{
	/* BEGIN SOLUTION */
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
	/* END SOLUTION */
	/* STUB
	(void)f;
	(void)from;
	NOT_IMPLEMENTED("follower_read", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 0;
	*/
}

/* Whoever sees stats.bytes must find the lines in out. Tests:
 * test_follower_consume_sends_the_lines_then_counts_the_bytes,
 * test_follower_consume_flushes_a_batched_tailer_then_counts_the_bytes,
 * test_follower_consume_says_stop_once_out_is_closed_and_counts_the_bytes. */
int follower_consume(struct follower *f, struct follow_file *file, size_t n)
{
	/* BEGIN SOLUTION */
	file->offset += (off_t)n;
	file->last_bytes = clock_now();
	int rc = splitter_feed(&file->split, f->buf, n, tailer_emit, f->t);
	rc |= tailer_flush(f->t); /* a batched tailer's lines, before the bytes are counted */
	atomic_fetch_add(&f->t->stats.bytes, n);
	return rc != 0;
	/* END SOLUTION */
	/* STUB
	(void)f;
	(void)file;
	(void)n;
	NOT_IMPLEMENTED("follower_consume", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Every slot owns one splitter before and after. Tests:
 * test_follower_close_oldest_flushes_closes_and_moves_the_others_down,
 * test_follower_close_oldest_flushes_a_batched_tailer,
 * test_follower_close_oldest_closes_the_file_when_out_refuses_its_line. */
int follower_close_oldest(struct follower *f)
{
	/* BEGIN SOLUTION */
	struct follow_file *file = &f->files[0];
	int rc = splitter_flush(&file->split, tailer_emit, f->t);
	rc |= tailer_flush(f->t);
	close(file->fd);
	struct line_splitter split = file->split; /* its buffer serves the slot freed at the end */
	memmove(&f->files[0], &f->files[1], (f->n - 1) * sizeof(f->files[0]));
	f->files[--f->n].split = split;
	f->files[f->n].fd = -1;
	return rc != 0;
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_close_oldest", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Nothing its writer appended is lost; after a failed send the file stays
 * in its slot. Tests: test_follower_let_go_reads_the_old_file_to_its_end_then_closes_it,
 * test_follower_let_go_leaves_the_file_open_when_a_send_fails. */
int follower_let_go(struct follower *f)
{
	/* BEGIN SOLUTION */
	struct follow_file *file = &f->files[0];
	ssize_t n;
	while ((n = read(file->fd, f->buf, sizeof(f->buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && follower_consume(f, file, (size_t)n))
			return 1;
	return follower_close_oldest(f);
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_let_go", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Never waits. Test: test_follower_asked_to_stop_looks_at_done_without_waiting. */
int follower_asked_to_stop(struct follower *f)
{
	/* BEGIN SOLUTION */
	void *msg = NULL;
	return f->t->done != NULL && chan_try_recv(f->t->done, &msg) != CHAN_WOULDBLOCK;
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_asked_to_stop", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* The follower's only wait but sending. Test:
 * test_follower_pause_ends_on_a_wake_a_timeout_or_done. */
int follower_pause(struct follower *f)
{
	/* BEGIN SOLUTION */
	/* A select, and not a sleep: a sleep cannot be cut short, so the
	 * program would take up to poll_ms to stop. Without a done channel
	 * nobody can ask us to stop; without a wake channel either, a plain
	 * nanosleep loses nothing. */
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
	/* A deadline that passed before the select looked (a busy machine
	 * can take poll_ms between the two lines) is a try: CHAN_WOULDBLOCK,
	 * a timeout all the same. */
	if (rc == CHAN_TIMEOUT || rc == CHAN_WOULDBLOCK)
		return 0;
	return !(rc == CHAN_OK && which == 1);
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_pause", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Test: test_follower_start_reads_a_file_that_appears_later_from_its_start. */
int follower_start(struct follower *f)
{
	/* BEGIN SOLUTION */
	if (follower_open(f, !f->t->cfg.from_start) == 0)
		return 0;
	for (;;) {
		if (f->t->cfg.stop_at_eof || follower_pause(f))
			return 1;
		if (follower_open(f, 0) == 0)
			return 0;
	}
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_start", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Tests (through follower_look): test_follower_look_starts_over_when_the_size_goes_down,
 * test_follower_sends_a_batched_tailers_partial_line_when_the_file_is_emptied. */
int follower_restart(struct follower *f)
{
	/* BEGIN SOLUTION */
	struct follow_file *file = &f->files[f->n - 1];
	if (splitter_flush(&file->split, tailer_emit, f->t) != 0 || tailer_flush(f->t) != 0)
		return 1;
	if (lseek(file->fd, 0, SEEK_SET) < 0)
		return 0;
	file->offset = 0;
	f->moved = 1;
	atomic_fetch_add(&f->t->stats.truncations, 1);
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_restart", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Tests: test_follower_look_opens_the_new_file_when_the_inode_changes (through
 * follower_look), test_follower_rotate_changes_nothing_more_when_the_open_fails. */
int follower_rotate(struct follower *f)
{
	/* BEGIN SOLUTION */
	if (f->n == FOLLOW_MAX_FILES && follower_let_go(f))
		return 1;
	if (follower_open(f, 0) != 0)
		return 0;
	f->files[f->n - 2].last_bytes = clock_now(); /* its rotate wait starts now */
	f->moved = 1;
	atomic_fetch_add(&f->t->stats.rotations, 1);
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_rotate", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Tests: those of follower_restart and follower_rotate. */
int follower_look(struct follower *f)
{
	/* BEGIN SOLUTION */
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
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_look", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* Tests: test_follower_at_eof_lets_go_the_old_files_quiet_for_rotate_wait_ms,
 * test_follower_at_eof_reads_at_once_after_a_look_that_moved. */
int follower_at_eof(struct follower *f)
{
	/* BEGIN SOLUTION */
	while (f->n > 1 && clock_seconds_since(&f->files[0].last_bytes) * 1000 >= (double)f->rotate_wait_ms)
		if (follower_let_go(f))
			return 1;
	if (follower_look(f))
		return 1;
	return f->moved ? 0 : follower_pause(f);
	/* END SOLUTION */
	/* STUB
	(void)f;
	NOT_IMPLEMENTED("follower_at_eof", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
	*/
}

/* The follow loop: the test_follower_* and test_closing_done_stops_* tests
 * that run the whole follower through tailer_run. */
void tailer_follow(struct tailer *t)
{
	/* BEGIN SOLUTION */
	struct follower follower, *f = &follower;
	follower_init(f, t);
	/* The watch first: a change between our first open and its start
	 * would otherwise wait for the next poll. Never in stop_at_eof mode,
	 * which never waits. */
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
	if (f->wake != NULL)
		follow_watch_stop(&watch);
	follower_free(f);
	/* END SOLUTION */
	/* STUB
	(void)t;
	NOT_IMPLEMENTED("tailer_follow", "lessons/03-tailer/README.md#the-follow-loop");
	*/
}
