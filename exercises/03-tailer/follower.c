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
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)at_end;
	NOT_IMPLEMENTED("follower_open", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return -1;
}

/* Oldest first. Test: test_follower_read_takes_the_oldest_file_that_has_bytes. */
ssize_t follower_read(struct follower *f, struct follow_file **from)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)from;
	NOT_IMPLEMENTED("follower_read", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 0;
}

/* Whoever sees stats.bytes must find the lines in out. Tests:
 * test_follower_consume_sends_the_lines_then_counts_the_bytes,
 * test_follower_consume_flushes_a_batched_tailer_then_counts_the_bytes,
 * test_follower_consume_says_stop_once_out_is_closed_and_counts_the_bytes. */
int follower_consume(struct follower *f, struct follow_file *file, size_t n)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	(void)file;
	(void)n;
	NOT_IMPLEMENTED("follower_consume", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Every slot owns one splitter before and after. Tests:
 * test_follower_close_oldest_flushes_closes_and_moves_the_others_down,
 * test_follower_close_oldest_flushes_a_batched_tailer,
 * test_follower_close_oldest_closes_the_file_when_out_refuses_its_line. */
int follower_close_oldest(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_close_oldest", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Nothing its writer appended is lost; after a failed send the file stays
 * in its slot. Tests: test_follower_let_go_reads_the_old_file_to_its_end_then_closes_it,
 * test_follower_let_go_leaves_the_file_open_when_a_send_fails. */
int follower_let_go(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_let_go", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Never waits. Test: test_follower_asked_to_stop_looks_at_done_without_waiting. */
int follower_asked_to_stop(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_asked_to_stop", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* The follower's only wait but sending. Test:
 * test_follower_pause_ends_on_a_wake_a_timeout_or_done. */
int follower_pause(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_pause", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Test: test_follower_start_reads_a_file_that_appears_later_from_its_start. */
int follower_start(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_start", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Tests (through follower_look): test_follower_look_starts_over_when_the_size_goes_down,
 * test_follower_sends_a_batched_tailers_partial_line_when_the_file_is_emptied. */
int follower_restart(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_restart", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Tests: test_follower_look_opens_the_new_file_when_the_inode_changes (through
 * follower_look), test_follower_rotate_changes_nothing_more_when_the_open_fails. */
int follower_rotate(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_rotate", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Tests: those of follower_restart and follower_rotate. */
int follower_look(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_look", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* Tests: test_follower_at_eof_lets_go_the_old_files_quiet_for_rotate_wait_ms,
 * test_follower_at_eof_reads_at_once_after_a_look_that_moved. */
int follower_at_eof(struct follower *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)f;
	NOT_IMPLEMENTED("follower_at_eof", "lessons/03-tailer/README.md#the-follower-piece-by-piece");
	return 1;
}

/* The follow loop: the test_follower_* and test_closing_done_stops_* tests
 * that run the whole follower through tailer_run. */
void tailer_follow(struct tailer *t)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)t;
	NOT_IMPLEMENTED("tailer_follow", "lessons/03-tailer/README.md#the-follow-loop");
}
