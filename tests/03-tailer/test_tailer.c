/*
 * Lesson 03: the tailer. Written against src/tailer.h, and src/follower.h
 * (the lesson's internal contract) for the follower's pieces, which are
 * tested one at a time on a follower the test sets up itself; then the
 * whole follower runs through tailer_run.
 *
 * The follower's tests use real files in a fresh directory under /tmp and
 * never guess with a sleep. To know the tailer has consumed some bytes,
 * they wait for stats.bytes to reach the count; to know it is waiting at
 * the end of the file, they wait until it is parked in its receive on
 * `done` or a select that includes done (recv_waiting and watchers,
 * documented fields of struct chan); to know it
 * emitted nothing, they try a receive after stats.bytes has caught up.
 */
#include "chan_testing.h"
#include "clock.h"
#include "follower.h"
#include "interpose.h"
#include "process.h"
#include "tailer.h"
#include "text_testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define L03 "lessons/03-tailer/README.md"

/* ---- a temporary directory, removed even when a test fails ------------- */

static char tmpdir[64];

static void remove_tmpdir(void)
{
	if (tmpdir[0] == '\0')
		return;
	DIR *d = opendir(tmpdir);
	if (d != NULL) {
		struct dirent *e;
		char path[sizeof(tmpdir) + sizeof(e->d_name) + 2];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

/* Each test runs in its own process (see harness.h); harness_at_end
 * cleans up after a failed test too. */
static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/logpipe-03-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	harness_at_end(remove_tmpdir);
}

struct path {
	char s[128];
};

static struct path tmp_path(const char *name)
{
	struct path p;
	snprintf(p.s, sizeof(p.s), "%s/%s", tmpdir, name);
	return p;
}

/* Writes a file with these contents, creating it or emptying it first. */
static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	write_all_or_fail(fd, text);
	close(fd);
}

/* Renames a file, as logrotate does. */
static void rename_or_fail(const char *from, const char *to)
{
	if (rename(from, to) != 0)
		fail_msg("rename %s: %s", from, strerror(errno));
}

static void append_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	write_all_or_fail(fd, text);
	close(fd);
}

/* ---- the splitter, with an emit that collects --------------------------- */

#define MAX_COLLECTED 16

struct collected {
	struct line *lines[MAX_COLLECTED];
	size_t n;
	int calls;  /* emit was called this often */
	int refuse; /* 1: emit returns -1 (and frees the line, as it owns it) */
};

static int collect(void *ctx, struct line *line)
{
	struct collected *c = ctx;
	c->calls++;
	if (c->refuse || c->n == MAX_COLLECTED) {
		line_free(line);
		return -1;
	}
	c->lines[c->n++] = line;
	return 0;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		line_free(c->lines[i]);
	c->n = 0;
}

/* Fails unless the splitter has emitted exactly `want` lines so far. */
static void assert_count(struct collected *c, size_t want, const char *why)
{
	if (c->n != want)
		fail_msg("the splitter emitted %zu line(s), expected %zu: %s", c->n, want, why);
}

/* Fails unless line i is the text `want` (not a marker). */
static void assert_text(struct collected *c, size_t i, const char *want)
{
	if (i >= c->n)
		fail_msg("line %zu was never emitted (only %zu were), expected %s", i + 1, c->n, quoted(want));
	struct line *l = c->lines[i];
	if (l->too_long)
		fail_msg("line %zu is a too-long marker, expected the line %s", i + 1, quoted(want));
	if (l->len != strlen(want) || strcmp(l->text, want) != 0)
		fail_msg("line %zu is %s (len %zu), expected %s (len %zu)", i + 1, quoted(l->text), l->len,
			 quoted(want), strlen(want));
}

static void assert_marker(struct collected *c, size_t i, size_t skipped)
{
	if (i >= c->n)
		fail_msg("line %zu was never emitted (only %zu were), expected a too-long marker", i + 1,
			 c->n);
	struct line *l = c->lines[i];
	if (!l->too_long)
		fail_msg("line %zu is the text \"%.40s...\" (len %zu), expected a too-long marker "
			 "(line_new_too_long) for a line of %zu bytes",
			 i + 1, l->text, l->len, skipped);
	if (l->len != skipped)
		fail_msg("the too-long marker says %zu bytes, the line had %zu (every byte before its '\\n')",
			 l->len, skipped);
}

static void feed(struct line_splitter *s, struct collected *c, const char *data)
{
	if (splitter_feed(s, data, strlen(data), collect, c) != 0)
		fail_msg("splitter_feed(%s) returned -1, though emit accepted every line", quoted(data));
}

static void test_splitter_joins_a_line_split_across_feeds(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 64);
	feed(&s, &c, "hel");
	feed(&s, &c, "lo\nwor");
	feed(&s, &c, "ld\n");
	assert_text(&c, 0, "hello");
	assert_text(&c, 1, "world");
	assert_count(&c, 2, "two newlines, two lines");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_holds_a_partial_line_until_its_newline(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 64);
	feed(&s, &c, "abc");
	feed(&s, &c, "def");
	assert_count(&c, 0, "no newline yet: the bytes so far are kept, not emitted");
	feed(&s, &c, "\n");
	assert_text(&c, 0, "abcdef");
	assert_count(&c, 1, "one newline, one line");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_strips_the_carriage_return_of_crlf(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 64);
	feed(&s, &c, "one\r\ntwo\r");
	feed(&s, &c, "\na\rb\n");
	feed(&s, &c, "abc\r\r\n");
	assert_text(&c, 0, "one");
	assert_text(&c, 1, "two");
	assert_text(&c, 2, "a\rb"); /* only the '\r' right before '\n' goes */
	assert_text(&c, 3, "abc\r"); /* one '\r' goes, not every trailing one */
	assert_count(&c, 4, "four newlines, four lines");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_skips_blank_and_whitespace_only_lines(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 64);
	feed(&s, &c, "\n\n  \n\t\t\n \t\r\nreal\n\n");
	assert_text(&c, 0, "real");
	assert_count(&c, 1,
		     "empty lines and lines of only spaces, tabs and a '\\r' are not log lines: "
		     "skip them (line_is_blank)");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_sends_one_marker_for_a_too_long_line_then_goes_on(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 8);
	feed(&s, &c, "short\n0123");
	feed(&s, &c, "456789abcdef");
	feed(&s, &c, "ghij\nnext\n");
	assert_text(&c, 0, "short");
	assert_marker(&c, 1, 20);
	assert_text(&c, 2, "next");
	assert_count(&c, 3,
		     "a line over max_line gives exactly one marker, whatever the number of feeds "
		     "it came in, and the line after it is a normal line");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_sends_a_marker_for_a_too_long_blank_line(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 8);
	/* 9 blanks, one over and kept whole; 20, dropped as they come; 8. */
	feed(&s, &c, "         \n");
	feed(&s, &c, " \t \t \t \t \t \t \t \t \t \t\n");
	feed(&s, &c, "        \n");
	assert_count(&c, 2,
		     "a line over max_line is a marker even when it is only blanks: decide on its length "
		     "first (end_line), then on whether it is blank; a blank line within the limit is skipped");
	assert_marker(&c, 0, 9);
	assert_marker(&c, 1, 20);
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_accepts_a_line_of_exactly_max_line(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 8);
	feed(&s, &c, "12345678\n");
	feed(&s, &c, "abcdefgh\r\n");
	feed(&s, &c, "123456789\n");
	feed(&s, &c, "abcdefghi\r\n");
	assert_text(&c, 0, "12345678");
	assert_text(&c, 1, "abcdefgh"); /* max_line counts the line without its "\r\n" */
	assert_marker(&c, 2, 9);
	assert_marker(&c, 3, 10); /* too long: the marker counts every byte before '\n', the '\r' too */
	assert_count(&c, 4, "two lines of max_line bytes, then two of max_line + 1");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_flush_emits_a_partial_line(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 64);
	feed(&s, &c, "last words");
	assert_count(&c, 0, "no newline yet");
	assert_int_equal(splitter_flush(&s, collect, &c), 0);
	assert_text(&c, 0, "last words");
	assert_int_equal(splitter_flush(&s, collect, &c), 0);
	assert_count(&c, 1, "a second flush has nothing left to emit");
	feed(&s, &c, " \t");
	assert_int_equal(splitter_flush(&s, collect, &c), 0);
	assert_count(&c, 1, "a blank partial line is skipped by flush too");
	feed(&s, &c, "fresh\n");
	assert_text(&c, 1, "fresh");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_flush_strips_the_carriage_return_of_a_partial_line(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 4);
	feed(&s, &c, "tail\r");
	assert_int_equal(splitter_flush(&s, collect, &c), 0);
	assert_text(&c, 0, "tail"); /* and not a marker: max_line counts the line without its '\r' */
	assert_count(&c, 1,
		     "a partial line flushed at the end loses a trailing '\r' like any other: strip it where "
		     "the line ends, in the helper both splitter_feed and splitter_flush call");
	feed(&s, &c, "ab\r\r");
	assert_int_equal(splitter_flush(&s, collect, &c), 0);
	assert_text(&c, 1, "ab\r"); /* one '\r' goes, not every trailing one */
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_flush_ends_a_too_long_partial_line_with_its_marker(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {0};
	splitter_init(&s, 4);
	feed(&s, &c, "abcdefgh");
	assert_count(&c, 0, "the long line has not ended yet: its marker waits for the newline or the flush");
	assert_int_equal(splitter_flush(&s, collect, &c), 0);
	assert_marker(&c, 0, 8);
	feed(&s, &c, "ok\n");
	assert_text(&c, 1, "ok");
	collected_free(&c);
	splitter_free(&s);
}

static void test_splitter_feed_fails_when_emit_refuses(void **state)
{
	(void)state;
	struct line_splitter s;
	struct collected c = {.refuse = 1};
	splitter_init(&s, 64);
	if (splitter_feed(&s, "a\nb\nc\n", 6, collect, &c) != -1)
		fail_msg(
		    "emit returned -1 (the tailer's output is closed) but splitter_feed did not return -1");
	if (c.calls != 1)
		fail_msg("emit was called %d times: after it returns -1, stop and return -1 at once",
			 c.calls);
	splitter_free(&s);
}

/* ---- follow_check -------------------------------------------------------- */

static void stat_or_fail(const char *path, struct stat *st)
{
	if (stat(path, st) != 0)
		fail_msg("stat %s: %s", path, strerror(errno));
}

static const char *change_name(enum follow_change c)
{
	switch (c) {
	case FOLLOW_SAME:
		return "FOLLOW_SAME";
	case FOLLOW_MISSING:
		return "FOLLOW_MISSING";
	case FOLLOW_ROTATED:
		return "FOLLOW_ROTATED";
	case FOLLOW_TRUNCATED:
		return "FOLLOW_TRUNCATED";
	}
	return "(not a follow_change)";
}

#define assert_change(got, want, why)                                                                        \
	do {                                                                                                 \
		enum follow_change got_ = (got), want_ = (want);                                             \
		if (got_ != want_)                                                                           \
			fail_msg("follow_check returned %s, expected %s: %s", change_name(got_),             \
				 change_name(want_), why);                                                   \
	} while (0)

static void test_follow_check_says_same_for_an_unchanged_or_grown_file(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct stat st;
	write_file(p.s, "0123456789");
	stat_or_fail(p.s, &st);
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_SAME, "same file, read to its end");
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 4), FOLLOW_SAME,
		      "same file, longer than what we read: more to read, nothing changed");
	remove_tmpdir();
}

static void test_follow_check_says_missing_when_the_path_is_gone(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct stat st;
	write_file(p.s, "0123456789");
	stat_or_fail(p.s, &st);
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_SAME, "the file is there");
	unlink(p.s);
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_MISSING,
		      "stat fails with ENOENT: the path does not exist now");
	remove_tmpdir();
}

static void test_follow_check_says_rotated_when_the_path_is_another_file(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	struct stat st;
	write_file(p.s, "0123456789");
	stat_or_fail(p.s, &st);
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_SAME, "the file is there");
	rename_or_fail(p.s, old.s);
	write_file(p.s, "a much longer new file\n");
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_ROTATED,
		      "the path now names another inode: compare st_dev and st_ino, not the size");
	remove_tmpdir();
}

static void test_follow_check_says_truncated_when_the_file_shrank(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct stat st;
	write_file(p.s, "0123456789");
	stat_or_fail(p.s, &st);
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_SAME, "the file is there");
	if (truncate(p.s, 3) != 0)
		fail_msg("truncate: %s", strerror(errno));
	assert_change(follow_check(p.s, st.st_dev, st.st_ino, 10), FOLLOW_TRUNCATED,
		      "same inode, st_size 3 below our offset 10");
	remove_tmpdir();
}

/* ---- the tailer thread ---------------------------------------------------- */

/*
 * A tailer thread and what it uses. On the heap, path included: when a
 * test fails, cmocka leaves the test function at once, and the thread,
 * still running, must not find its memory gone (the leak that follows is
 * reported after the failure, not instead of it).
 */
struct fixture {
	struct tailer t;
	struct harness_thread thread;
	int joined; /* the thread has been joined (harness_thread_join_within said 1) */
	char path[128];
};

static struct tailer_config follow_config(const char *path, long poll_ms)
{
	struct tailer_config cfg = tailer_config_default();
	cfg.path = path;
	cfg.poll_ms = poll_ms;
	return cfg;
}

static struct fixture *fixture_start(struct tailer_config cfg, size_t out_cap)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		fail_msg("out of memory");
	if (cfg.path != NULL) {
		snprintf(f->path, sizeof(f->path), "%s", cfg.path);
		cfg.path = f->path;
	}
	f->t.cfg = cfg;
	f->t.out = chan_new_or_fail(out_cap);
	f->t.done = chan_new_or_fail(1);
	harness_thread_start(&f->thread, tailer_run, &f->t);
	return f;
}

/* Writes text to path and starts a tailer following it from its start. */
static struct fixture *follow_from_start(const char *path, const char *text, long poll_ms)
{
	write_file(path, text);
	struct tailer_config cfg = follow_config(path, poll_ms);
	cfg.from_start = 1;
	return fixture_start(cfg, 8);
}

/* Frees what is left in out; 1 if out was closed (the tailer is over). */
static int drain(struct chan *out)
{
	void *msg;
	enum chan_status rc;
	while ((rc = chan_try_recv(out, &msg)) == CHAN_OK)
		line_free(msg);
	return rc == CHAN_CLOSED;
}

/* Waits for the tailer thread to return; fails with `why` if it does not. */
static void fixture_join(struct fixture *f, const char *why)
{
	if (f->joined)
		return;
	if (!harness_thread_join_within(&f->thread, harness_wait_ms()))
		fail_msg("the tailer did not stop within %ld ms: %s", harness_wait_ms(), why);
	f->joined = 1;
}

/* Closes done, waits for the tailer to end, checks it closed out, frees. */
static void fixture_stop(struct fixture *f)
{
	harness_on_hang("the tailer did not stop after done was closed: every wait of the follower must "
			"end the moment done is closed (a sleep cannot)");
	chan_close(f->t.done);
	fixture_join(f, "after done is closed, the tailer must stop at once: does each of its waits end "
			"when done is closed, and does it stop then?");
	if (!drain(f->t.out))
		fail_msg("the tailer thread returned without closing out: close it at the end, always");
	assert_chan_status(chan_free(f->t.out), CHAN_OK);
	assert_chan_status(chan_free(f->t.done), CHAN_OK);
}

static void fixture_free(struct fixture *f)
{
	free(f);
}

static unsigned long long stat_of(atomic_ullong *counter)
{
	return atomic_load(counter);
}

/* Stops the tailer, checks it counted `rotations`, frees, cleans up. */
static void finish_expecting_rotations(struct fixture *f, unsigned long long rotations, const char *why)
{
	fixture_stop(f);
	if (stat_of(&f->t.stats.rotations) != rotations)
		fail_msg("stats.rotations is %llu, expected %llu: %s", stat_of(&f->t.stats.rotations), rotations,
			 why);
	fixture_free(f);
	remove_tmpdir();
}

/* Receives the next line from out and fails unless it is `want`. */
static void expect_line_on(struct chan *out, const char *want, const char *why)
{
	harness_on_hang("the test waited for a line that never came");
	void *msg = NULL;
	enum chan_status rc = chan_recv_timed(out, &msg, harness_wait_ms());
	if (rc == CHAN_TIMEOUT)
		fail_msg("expected the line %s, but no line came within %ld ms: %s", quoted(want),
			 harness_wait_ms(), why);
	if (rc == CHAN_CLOSED)
		fail_msg("expected the line %s, but the tailer closed out: it stopped too early (%s)",
			 quoted(want), why);
	struct line *l = msg;
	char got[96];
	snprintf(got, sizeof(got), "%s", l->too_long ? "(a too-long marker)" : l->text);
	int same = !l->too_long && strcmp(l->text, want) == 0;
	line_free(l);
	if (!same)
		fail_msg("expected the line %s, got %s: %s", quoted(want), quoted(got), why);
}

/* Receives the tailer's next line and fails unless it is `want`. */
static void expect_line(struct fixture *f, const char *want, const char *why)
{
	expect_line_on(f->t.out, want, why);
}

/* Fails if a line is waiting in out. */
static void expect_nothing_on(struct chan *out, const char *why)
{
	void *msg = NULL;
	enum chan_status rc = chan_try_recv(out, &msg);
	if (rc == CHAN_OK) {
		struct line *l = msg;
		char got[96];
		snprintf(got, sizeof(got), "%s", l->too_long ? "(a too-long marker)" : l->text);
		line_free(l);
		fail_msg("the tailer sent %s, which it should not have: %s", quoted(got), why);
	}
}

/* Fails if a line is waiting in the tailer's out. */
static void expect_nothing(struct fixture *f, const char *why)
{
	expect_nothing_on(f->t.out, why);
}

/* Fails unless the tailer closes out (after the lines already received). */
static void expect_closed(struct fixture *f, const char *why)
{
	harness_on_hang("the test waited for the tailer to close out");
	void *msg = NULL;
	enum chan_status rc = chan_recv_timed(f->t.out, &msg, harness_wait_ms());
	if (rc == CHAN_OK) {
		line_free(msg);
		fail_msg("the tailer sent one more line, where it should have closed out: %s", why);
	}
	if (rc != CHAN_CLOSED)
		fail_msg("the tailer did not close out within %ld ms: %s", harness_wait_ms(), why);
}

struct progress {
	struct fixture *f;
	unsigned long long bytes;
};

static int bytes_reached(void *arg)
{
	struct progress *p = arg;
	return stat_of(&p->f->t.stats.bytes) >= p->bytes || harness_thread_done(&p->f->thread);
}

/* Waits until the tailer has read `bytes` bytes in all. */
static void wait_bytes(struct fixture *f, unsigned long long bytes, const char *why)
{
	struct progress p = {f, bytes};
	harness_wait_until(bytes_reached, &p);
	unsigned long long got = stat_of(&f->t.stats.bytes);
	if (got != bytes)
		fail_msg("stats.bytes is %llu, expected %llu%s: %s", got, bytes,
			 harness_thread_done(&f->thread) ? " (and the tailer has stopped)" : "", why);
}

/* 1 if a thread waits on done: in a receive, or in a select that includes
 * it (with the watch's wake channel). */
static int waits_on(struct chan *done)
{
	pthread_mutex_lock(&done->mu);
	int waiting = done->recv_waiting > 0 || done->watchers != NULL;
	pthread_mutex_unlock(&done->mu);
	return waiting;
}

static int parked(void *arg)
{
	struct fixture *f = arg;
	return waits_on(f->t.done) || harness_thread_done(&f->thread);
}

/* Waits until the tailer is parked in its timed receive on done: it has
 * done everything it could and waits for the next poll. */
static void wait_parked(struct fixture *f, const char *why)
{
	int ok = harness_wait_until(parked, f);
	if (harness_thread_done(&f->thread))
		fail_msg("the tailer stopped by itself, where it should wait: %s", why);
	if (!ok)
		fail_msg("the tailer never waited on done within %ld ms: whenever it waits (for the next "
			 "poll), it must wait in a timed receive on done (%s)",
			 harness_wait_ms(), why);
}

static void test_follower_starts_at_the_end_and_ignores_existing_lines(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "old 1\nold 2\n");
	struct fixture *f = fixture_start(follow_config(p.s, 10), 8);
	wait_parked(f, "the file exists and has been read to its end");
	append_file(p.s, "new 1\n");
	expect_line(f, "new 1",
		    "by default the follower starts at the end of the file, like tail -f: "
		    "lines already there are history");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

static void test_follower_from_start_reads_existing_lines(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = follow_from_start(p.s, "old 1\nold 2\n", 10);
	expect_line(f, "old 1", "from_start reads what the file holds first");
	expect_line(f, "old 2", "from_start reads what the file holds first");
	append_file(p.s, "new 1\n");
	expect_line(f, "new 1", "then it follows the file");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

static void test_follower_holds_a_partial_line_until_its_newline(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = follow_from_start(p.s, "abc", 10);
	wait_bytes(f, 3, "the follower reads the three bytes there are");
	expect_nothing(f, "\"abc\" has no newline yet: the writer is in the middle of the line");
	append_file(p.s, "def\n");
	expect_line(f, "abcdef", "the partial line is completed by the next bytes");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

static void test_follower_follows_truncation_in_place(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = follow_from_start(p.s, "old 1\nold 2\nold 3\nold 4\n", 10); /* 24 bytes */
	for (int i = 1; i <= 4; i++) {
		char want[16];
		snprintf(want, sizeof(want), "old %d", i);
		expect_line(f, want, "from_start reads the existing lines");
	}
	wait_bytes(f, 24, "all of the file was read");
	/* What copytruncate does: same file, emptied, written again. */
	write_file(p.s, "new 1\nnew 2\n");
	expect_line(f, "new 1",
		    "the file shrank below our offset: it was truncated, and what it holds now starts at its "
		    "first byte, where the follower's next read must start too");
	expect_line(f, "new 2", "the rest of the truncated file");
	wait_bytes(f, 36, "24 bytes before the truncation, 12 after");
	expect_nothing(f, "nothing else was written");
	fixture_stop(f);
	if (stat_of(&f->t.stats.truncations) != 1)
		fail_msg("stats.truncations is %llu, expected 1", stat_of(&f->t.stats.truncations));
	if (stat_of(&f->t.stats.rotations) != 0)
		fail_msg("stats.rotations is %llu, expected 0: the inode never changed",
			 stat_of(&f->t.stats.rotations));
	fixture_free(f);
	remove_tmpdir();
}

/* Writes text to p, and the configuration of a follower that reads p
 * from its start, polling every 10 ms. */
static struct tailer_config from_start_of(const struct path *p, const char *text)
{
	write_file(p->s, text);
	struct tailer_config cfg = follow_config(p->s, 10);
	cfg.from_start = 1;
	return cfg;
}

static void test_follower_flushes_a_partial_line_when_the_file_is_truncated(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = fixture_start(from_start_of(&p, "a\npart"), 8);
	expect_line(f, "a", "from_start reads the existing lines");
	wait_bytes(f, 6, "the whole file, the partial line too");
	/* Emptied and written again: at every moment shorter than 6 bytes. */
	write_file(p.s, "new\n");
	expect_line(f, "part",
		    "the file was truncated: its partial line will never be completed, so it goes out as a "
		    "line before the file is read again, or it is glued to the new first line");
	expect_line(f, "new", "then the file again from its start");
	fixture_stop(f);
	if (stat_of(&f->t.stats.truncations) != 1)
		fail_msg("stats.truncations is %llu, expected 1", stat_of(&f->t.stats.truncations));
	fixture_free(f);
	remove_tmpdir();
}

/* Emptied and left empty: no read follows the restart, so a batched
 * tailer's flush is all that sends the partial line. */
static void test_follower_sends_a_batched_tailers_partial_line_when_the_file_is_emptied(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct tailer_config cfg = from_start_of(&p, "a\npart");
	cfg.batch = 64;
	struct fixture *f = fixture_start(cfg, 8);
	expect_line(f, "a", "from_start reads the existing lines (a batched tailer: cfg.batch 64)");
	wait_bytes(f, 6, "the whole file, the partial line too");
	write_file(p.s, "");
	expect_line(f, "part",
		    "the file was emptied: its partial line goes out as a line, and with a batched tailer "
		    "only tailer_flush sends it (follower_restart flushes the splitter, then the tailer), "
		    "since no read follows while the file stays empty");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

enum { K = 20 };

static void write_numbered(int fd, int from, int to, unsigned long long *bytes)
{
	char line[32];
	for (int i = from; i <= to; i++) {
		snprintf(line, sizeof(line), "line %d\n", i);
		write_all_or_fail(fd, line);
		*bytes += strlen(line);
	}
}

static void test_follower_follows_rename_rotation_without_losing_lines(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	unsigned long long bytes = 0;
	/* The writer keeps its descriptor across the rename, like a real
	 * program until it is told to reopen its log. */
	int writer = open(p.s, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (writer < 0)
		fail_msg("open: %s", strerror(errno));
	write_numbered(writer, 1, K, &bytes);
	struct tailer_config cfg = follow_config(p.s, 20);
	cfg.from_start = 1;
	struct fixture *f = fixture_start(cfg, 2 * K);
	char want[32];
	for (int i = 1; i <= K; i++) {
		snprintf(want, sizeof(want), "line %d", i);
		expect_line(f, want, "from_start reads the existing lines");
	}
	rename_or_fail(p.s, old.s);
	write_numbered(writer, K + 1, K + 5, &bytes); /* into app.log.1 now */
	close(writer);
	writer = open(p.s, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
	if (writer < 0)
		fail_msg("open the new file: %s", strerror(errno));
	write_numbered(writer, K + 6, 2 * K, &bytes);
	close(writer);
	for (int i = K + 1; i <= 2 * K; i++) {
		snprintf(want, sizeof(want), "line %d", i);
		expect_line(f, want,
			    i <= K + 5 ? "lines appended to the renamed file must be read before "
					 "moving to the new file (drain the old descriptor)"
				       : "after the rotation, read the new file from its start");
	}
	wait_bytes(f, bytes, "both files read to their end, each byte once");
	expect_nothing(f, "every line was already received once");
	finish_expecting_rotations(f, 1, "one rename, one rotation");
}

static void test_follower_flushes_the_unfinished_last_line_of_a_rotated_file(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	struct fixture *f = follow_from_start(p.s, "complete\nunfinished", 10);
	expect_line(f, "complete", "from_start reads the existing lines");
	wait_bytes(f, 19, "the whole file, the unfinished line too");
	rename_or_fail(p.s, old.s);
	write_file(p.s, "next\n");
	expect_line(f, "next", "after the rotation, read the new file from its start, at once");
	expect_line(f, "unfinished",
		    "the renamed file will never get the rest of its last line: when you let it go "
		    "(quiet for rotate_wait_ms), its partial line goes out as a line; each file has a "
		    "splitter of its own");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

/* A rotate_wait_ms no test waits out: the old file is let go only when a
 * third file comes, or at the stop. */
#define FOREVER_MS 600000

/* Renames p to old and creates p anew with `text` in it. */
static void rotate_to_new_file(const struct path *p, const struct path *old, const char *text)
{
	if (rename(p->s, old->s) != 0)
		fail_msg("rename: %s", strerror(errno));
	write_file(p->s, text);
}

static int blocked_sending(void *arg)
{
	struct fixture *f = arg;
	pthread_mutex_lock(&f->t.out->mu);
	int waiting = f->t.out->send_waiting > 0;
	pthread_mutex_unlock(&f->t.out->mu);
	return waiting || harness_thread_done(&f->thread);
}

/* Waits until the tailer is blocked sending on out (full): it cannot read
 * anything until the test receives. */
static void wait_blocked_sending(struct fixture *f, const char *why)
{
	if (!harness_wait_until(blocked_sending, f) || harness_thread_done(&f->thread))
		fail_msg("the tailer did not block sending on its full out within %ld ms: %s", harness_wait_ms(),
			 why);
}

/* A follower of p from its start, that never lets a renamed file go by
 * itself (rotate_wait_ms), once it has sent p's first line, `first`. */
static struct fixture *start_rotating(const struct path *p, const char *first, size_t out_cap)
{
	char text[64];
	snprintf(text, sizeof(text), "%s\n", first);
	write_file(p->s, text);
	struct tailer_config cfg = follow_config(p->s, 10);
	cfg.from_start = 1;
	cfg.rotate_wait_ms = FOREVER_MS;
	struct fixture *f = fixture_start(cfg, out_cap);
	expect_line(f, first, "from_start reads the existing lines");
	return f;
}

static void test_follower_keeps_reading_the_renamed_file_after_opening_the_new_one(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	struct fixture *f = start_rotating(&p, "old 1", 8);
	rotate_to_new_file(&p, &old, "new 1\n");
	expect_line(f, "new 1",
		    "the path names a new file: open it at once and read it, even though the old one "
		    "may still be written to (rotate_wait_ms has not passed)");
	wait_parked(f, "both files read to their end");
	/* The writer has not reopened its log yet. */
	append_file(old.s, "old late\n");
	expect_line(f, "old late",
		    "a line appended to the renamed file inside rotate_wait_ms must be read: keep the old "
		    "file open beside the new one, and let it go only once it was quiet that long");
	finish_expecting_rotations(f, 1, "one rename, one rotation");
}

static void test_follower_reads_the_old_file_to_its_end_before_the_new_one(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	struct fixture *f = start_rotating(&p, "old 1", 1);
	rotate_to_new_file(&p, &old, "new 1\nnew 2\n");
	wait_blocked_sending(f, "out holds one line: the tailer sends \"new 1\", then waits to send \"new 2\"");
	/* While it cannot read: a late line in the old file, then a line in
	 * the new one, in that order. */
	append_file(old.s, "old late\n");
	append_file(p.s, "new 3\n");
	expect_line(f, "new 1", "the new file's lines, in order");
	expect_line(f, "new 2", "the new file's lines, in order");
	expect_line(f, "old late",
		    "the old file's late line was written before the new file's next one: read from the "
		    "oldest file that has bytes, so the old one is at its end before the new one is read");
	expect_line(f, "new 3", "the new file goes on");
	finish_expecting_rotations(f, 1, "one rename, one rotation");
}

static void test_follower_drains_several_rotated_files_oldest_first(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old1 = tmp_path("app.log.1"), old2 = tmp_path("app.log.2");
	struct fixture *f = start_rotating(&p, "a 1", 1);
	rotate_to_new_file(&p, &old1, "b 1\n");
	expect_line(f, "b 1", "the second file, read at once");
	rotate_to_new_file(&p, &old2, "c 1\nc 2\n");
	wait_blocked_sending(f, "out holds one line: the tailer sends \"c 1\", then waits to send \"c 2\"");
	/* Two writers that have not reopened yet, then the newest file. */
	append_file(old1.s, "a 2\n");
	append_file(old2.s, "b 2\n");
	append_file(p.s, "c 3\n");
	expect_line(f, "c 1", "the third file, read at once");
	expect_line(f, "c 2", "the third file, read at once");
	expect_line(f, "a 2",
		    "two rotations inside rotate_wait_ms: both renamed files are still read, the oldest "
		    "first (read the oldest file that has bytes)");
	expect_line(f, "b 2", "the second file is still read alongside");
	expect_line(f, "c 3", "the newest file goes on");
	finish_expecting_rotations(f, 2, "two renames, two rotations");
}

/* A follower of p from its start, behind: p holds "a 1" and "a 2", out
 * holds one line, so the follower has sent "a 1" and waits to send "a 2",
 * and reads nothing meanwhile. It never lets a renamed file go by itself. */
static struct fixture *start_behind(const struct path *p)
{
	struct tailer_config cfg = from_start_of(p, "a 1\na 2\n");
	cfg.rotate_wait_ms = FOREVER_MS;
	struct fixture *f = fixture_start(cfg, 1);
	wait_blocked_sending(f, "out holds one line: the tailer sends \"a 1\", then waits to send \"a 2\"");
	return f;
}

/* Renames p to old, then moves a new file holding `text` to p: the new
 * file never appears empty, so the follower cannot open it before its
 * first line is there. */
static void rotate_to_full_file(const struct path *p, const struct path *old, const char *text)
{
	struct path next = tmp_path("next.tmp");
	write_file(next.s, text);
	if (rename(p->s, old->s) != 0 || rename(next.s, p->s) != 0)
		fail_msg("rename: %s", strerror(errno));
}

/* The backlog: BACKLOG_LINES lines of 1000 bytes, about four reads
 * (FOLLOW_READ_SIZE) in all. */
#define BACKLOG_LINES 64
#define BACKLOG_LINE 1000

/* The text of backlog line i (from 0), without its newline. */
static const char *backlog_line(int i)
{
	static char line[BACKLOG_LINE];
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, (char[]){'a', ' ', (char)('0' + i / 10), (char)('0' + i % 10), ' '}, 5);
	return line;
}

static const char *backlog_of_long_lines(void)
{
	static char text[BACKLOG_LINES * BACKLOG_LINE + 1];
	for (int i = 0; i < BACKLOG_LINES; i++) {
		memcpy(text + i * BACKLOG_LINE, backlog_line(i), BACKLOG_LINE - 1);
		text[(i + 1) * BACKLOG_LINE - 1] = '\n';
	}
	return text;
}

/* Receives the backlog's lines from line `next` on until stats.bytes has
 * grown past `bytes` (a read of the backlog has ended, its lines sent);
 * returns the number of the next line to receive. */
static int expect_lines_until_a_read_ends(struct fixture *f, unsigned long long bytes, int next)
{
	while (stat_of(&f->t.stats.bytes) <= bytes) {
		if (next == BACKLOG_LINES)
			fail_msg("the whole backlog came, yet stats.bytes is still %llu", stat_of(&f->t.stats.bytes));
		expect_line(f, backlog_line(next++), "the old file's backlog, in order");
	}
	return next;
}

/* Receives the rest of the backlog, from line `next`. */
static void expect_backlog_from(struct fixture *f, int next)
{
	while (next < BACKLOG_LINES)
		expect_line(f, backlog_line(next++), "the old file's backlog, in order");
}

/* Receives the line of a file that a follower which looks too late never
 * opens (`why` says when), then that of the file the path names now. */
static void expect_file_lost_by_a_late_look(struct fixture *f, const char *lost, const char *now, const char *why)
{
	expect_line(f, lost, why);
	expect_line(f, now, "then the file the path names now");
}

static void test_follower_looks_at_the_path_after_every_read(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), a = tmp_path("app.log.a"), b = tmp_path("app.log.b");
	struct fixture *f = start_behind(&p);
	/* While the follower is behind: a rotation, and a late line in the
	 * renamed file, so that its next read still gives bytes. */
	rotate_to_full_file(&p, &a, "b 1\n");
	append_file(a.s, "a 3\n");
	expect_line(f, "a 1", "the first file's lines, in order");
	wait_bytes(f, 8, "the first read, its lines sent");
	wait_blocked_sending(f, "out holds \"a 2\": the tailer waits to send the renamed file's late \"a 3\"");
	/* The follower never was at the end of a file: the second file lives
	 * and goes while it reads. */
	rotate_to_full_file(&p, &b, "c 1\n");
	expect_line(f, "a 2", "the first file's lines, in order");
	expect_line(f, "a 3", "the renamed file is read to its end first");
	expect_file_lost_by_a_late_look(f, "b 1", "c 1",
					"the path named a second file between two reads that gave bytes, and was "
					"renamed away before the follower reached the end of a file: look at the "
					"path after every read that gave bytes, not only at the end, or a follower "
					"that is behind loses whole files");
	wait_bytes(f, 20, "every file read to its end");
	wait_parked(f, "every file is at its end");
	/* Now the renamed first file gets a backlog of several reads while
	 * the newest is at its end: the path must be looked at after each
	 * read of the old file too, not only after reads of the newest. */
	append_file(a.s, backlog_of_long_lines());
	wait_blocked_sending(f, "out is full: the tailer waits to send a line of the first file's backlog");
	/* Blocked in the send, it has not counted this read's bytes yet. */
	unsigned long long before = stat_of(&f->t.stats.bytes);
	struct path c = tmp_path("app.log.c"), d = tmp_path("app.log.d");
	rotate_to_full_file(&p, &c, "d 1\n");
	int next = expect_lines_until_a_read_ends(f, before, 0);
	/* A read of the first file ended after d came, and another has
	 * begun: a follower that looks after every read has opened d. */
	wait_blocked_sending(f, "out is full: the tailer waits to send the next line of the backlog");
	rotate_to_full_file(&p, &d, "e 1\n");
	expect_backlog_from(f, next);
	expect_file_lost_by_a_late_look(f, "d 1", "e 1",
					"the path named a fourth file while the follower drained the old first "
					"file, and was renamed away before the drain ended: look at the path after "
					"every read that gave bytes, the old files' reads too, or the file is lost "
					"whole");
	finish_expecting_rotations(f, 4, "four renames, four rotations");
}

static void test_follower_counts_bytes_after_their_lines_are_sent(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = start_behind(&p);
	if (stat_of(&f->t.stats.bytes) >= 8)
		fail_msg("stats.bytes is %llu while \"a 2\" is not sent yet: add a read's bytes after its "
			 "lines are sent (after splitter_feed), so that whoever sees the count has the lines",
			 stat_of(&f->t.stats.bytes));
	expect_line(f, "a 1", "the file's lines, in order");
	expect_line(f, "a 2", "the file's lines, in order");
	wait_bytes(f, 8, "both lines sent, every byte counted");
	finish_expecting_rotations(f, 0, "nothing was renamed");
}

static void test_follower_lets_the_oldest_file_go_when_a_ninth_comes(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct tailer_config cfg = from_start_of(&p, "f0 1\nf0 unfinished");
	cfg.rotate_wait_ms = FOREVER_MS;
	struct fixture *f = fixture_start(cfg, 8);
	expect_line(f, "f0 1", "from_start reads the existing lines");
	wait_bytes(f, 18, "the whole file, the unfinished line too");
	for (int i = 1; i <= 8; i++) {
		char name[32], text[32], want[32];
		snprintf(name, sizeof(name), "app.log.%d", i);
		snprintf(text, sizeof(text), "f%d 1\n", i);
		snprintf(want, sizeof(want), "f%d 1", i);
		struct path old = tmp_path(name);
		rotate_to_full_file(&p, &old, text);
		if (i == 8)
			expect_line(f, "f0 unfinished",
				    "eight files are open (FOLLOW_MAX_FILES) and the path names a ninth: let the "
				    "oldest go first (read it to its end, flush it, close it), then open the new one");
		expect_line(f, want, "each new file is read at once");
	}
	append_file(p.s, "f8 2\n");
	expect_line(f, "f8 2", "the newest file goes on");
	finish_expecting_rotations(f, 8, "eight renames, eight rotations");
}

struct since {
	struct timespec start;
	double seconds;
};

static int time_passed(void *arg)
{
	struct since *s = arg;
	return clock_seconds_since(&s->start) >= s->seconds;
}

static void test_follower_lets_the_old_file_go_after_rotate_wait_ms_not_poll_ms(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	/* Polls every ten minutes; lets a renamed file go after 1 ms of quiet. */
	struct tailer_config cfg = from_start_of(&p, "old 1\nold half");
	cfg.poll_ms = FOREVER_MS;
	cfg.rotate_wait_ms = 1;
	struct fixture *f = fixture_start(cfg, 8);
	expect_line(f, "old 1", "from_start reads the existing lines");
	wait_bytes(f, 14, "the whole file, the unfinished line too");
	rotate_to_full_file(&p, &old, "new 1\n");
	expect_line(f, "new 1", "the watch wakes the follower for the new file, which it reads at once");
	/* The old file has given nothing since the rotation, before "new 1":
	 * once 5 ms have passed, it is quiet for more than rotate_wait_ms. */
	struct since quiet = {clock_now(), 0.005};
	harness_wait_until(time_passed, &quiet);
	append_file(p.s, "new 2\n");
	const char *why = "the old file was quiet for more than rotate_wait_ms (1 ms) when the follower "
			  "woke for \"new 2\": let it go then and flush its unfinished line. Wait "
			  "rotate_wait_ms, not poll_ms (ten minutes here)";
	harness_on_hang(why);
	/* Both lines within the wait, each on its own wake-up or one: a wake
	 * left over from the rotation's events may let the old file go before
	 * "new 2" is even written, and the follower parks between the two. */
	int seen_new = 0, seen_old = 0;
	for (int i = 0; i < 2; i++) {
		void *msg = NULL;
		enum chan_status rc = chan_recv_timed(f->t.out, &msg, harness_wait_ms());
		if (rc != CHAN_OK)
			fail_msg("%s (got %s)", why,
				 seen_new ? "\"new 2\" only" : seen_old ? "\"old half\" only" : "nothing");
		struct line *l = msg;
		seen_new += strcmp(l->text, "new 2") == 0;
		seen_old += strcmp(l->text, "old half") == 0;
		line_free(l);
	}
	if (seen_new != 1 || seen_old != 1)
		fail_msg("expected \"new 2\" and \"old half\", in either order: %s", why);
	finish_expecting_rotations(f, 1, "one rename, one rotation");
}

static void test_follower_wakes_on_the_watch_before_its_poll(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	write_file(p.s, "");
	struct tailer_config cfg = follow_config(p.s, FOREVER_MS);
	struct fixture *f = fixture_start(cfg, 8);
	wait_parked(f, "the file exists and has been read to its end");
	append_file(p.s, "written\n");
	expect_line(f, "written",
		    "the poll interval is ten minutes: only the watch can have woken the follower. "
		    "Start follow_watch and select on done and its wake channel");
	wait_parked(f, "the follower waits again");
	rotate_to_new_file(&p, &old, "rotated\n");
	expect_line(f, "rotated", "a file created in the directory wakes the follower too");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

static void test_follower_waits_for_a_missing_file_and_reads_it_from_its_start(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("late.log");
	struct fixture *f = fixture_start(follow_config(p.s, 10), 8); /* from_start is 0 */
	wait_parked(f, "the file does not exist yet: wait for it, polling");
	write_file(p.s, "first\nsecond\n");
	expect_line(f, "first", "a file that did not exist when we started is new: read it from its start");
	expect_line(f, "second", "the rest of the new file");
	fixture_stop(f);
	if (stat_of(&f->t.stats.rotations) != 0)
		fail_msg("stats.rotations is %llu, expected 0: a file that appears is not a rotation",
			 stat_of(&f->t.stats.rotations));
	fixture_free(f);
	remove_tmpdir();
}

static void test_follower_stop_at_eof_reads_everything_and_closes_out(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "one\ntwo\nthree");
	struct tailer_config cfg = follow_config(p.s, 10);
	cfg.from_start = 1;
	cfg.stop_at_eof = 1;
	struct fixture *f = fixture_start(cfg, 8);
	expect_line(f, "one", "stop_at_eof reads the file");
	expect_line(f, "two", "stop_at_eof reads the file");
	expect_line(f, "three", "at the end, a last line without its newline is still a line");
	expect_closed(f, "stop_at_eof: at the end of the file, stop and close out");
	if (stat_of(&f->t.stats.lines) != 3)
		fail_msg("stats.lines is %llu, expected 3", stat_of(&f->t.stats.lines));
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

static void test_follower_sends_one_marker_for_a_too_long_line(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	char text[160];
	memset(text, 'x', sizeof(text));
	memcpy(text, "short\n", 6);
	memcpy(text + 6 + 100, "\nafter\n", 8); /* 100 x's between, and the NUL */
	write_file(p.s, text);
	struct tailer_config cfg = follow_config(p.s, 10);
	cfg.from_start = 1;
	cfg.stop_at_eof = 1;
	cfg.max_line = 16;
	struct fixture *f = fixture_start(cfg, 8);
	expect_line(f, "short", "the first line is short");
	harness_on_hang("the test waited for a too-long marker");
	void *msg = NULL;
	if (chan_recv_timed(f->t.out, &msg, harness_wait_ms()) != CHAN_OK)
		fail_msg("no line after \"short\": a line over max_line must give a too-long marker");
	struct line *l = msg;
	int too_long = l->too_long;
	size_t len = l->len;
	line_free(l);
	if (!too_long || len != 100)
		fail_msg("expected a too-long marker for 100 bytes, got %s of length %zu",
			 too_long ? "a marker" : "a text line", len);
	expect_line(f, "after", "the line after a too-long line is a normal line");
	expect_closed(f, "stop_at_eof");
	if (stat_of(&f->t.stats.too_long) != 1 || stat_of(&f->t.stats.lines) != 3)
		fail_msg(
		    "stats say %llu lines, %llu too long; expected 3 lines (the marker included), 1 too long",
		    stat_of(&f->t.stats.lines), stat_of(&f->t.stats.too_long));
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

/* FOREVER_MS as a poll interval: only closing done can end the wait. */

static void test_closing_done_stops_the_follower_waiting_at_eof(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = follow_from_start(p.s, "one\n", FOREVER_MS);
	expect_line(f, "one", "from_start reads the file");
	wait_parked(f, "at the end of the file, the follower waits for the next poll");
	fixture_stop(f); /* fails unless the tailer stops well before its 10-minute poll */
	fixture_free(f);
	remove_tmpdir();
}

static void test_closing_done_stops_the_follower_waiting_for_its_file(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("never.log");
	struct fixture *f = fixture_start(follow_config(p.s, FOREVER_MS), 8);
	wait_parked(f, "the file does not exist: the follower waits for it");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

static void test_closing_done_stops_a_follower_with_a_backlog(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct fixture *f = start_behind(&p);
	append_file(p.s, "a 3\nnot a line yet"); /* the backlog: written, not read yet */
	chan_close(f->t.done);
	expect_line(f, "a 1", "the lines of the read in hand are sent");
	expect_line(f, "a 2", "the lines of the read in hand are sent");
	expect_closed(f, "done was closed while the follower was sending: check done after each read, "
			 "and stop without reading the rest of the file (a stop must not wait for a backlog)");
	finish_expecting_rotations(f, 0, "nothing was renamed");
}

/* An inotify instance that hears each read() of path that gives bytes
 * (IN_ACCESS): how a test knows whether the file was read at all. */
static int watch_reads(const char *path)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, path, IN_ACCESS) < 0)
		fail_msg("inotify on %s: %s", path, strerror(errno));
	return fd;
}

/* 1 if path was read since the last look (an IN_ACCESS event waits);
 * takes the events. */
static int was_read(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int read_since = 0;
	while (read(fd, buf, sizeof(buf)) > 0)
		read_since = 1;
	return read_since;
}

/* Lines of 16 bytes, "a 0000000000001\n" and on, FOLLOW_READ_SIZE bytes
 * of them (exactly one read's worth, ending at a newline), then `rest`. */
static const char *one_read_of_lines_then(const char *rest)
{
	static char text[FOLLOW_READ_SIZE + 64];
	for (size_t i = 0; i < FOLLOW_READ_SIZE / 16; i++)
		snprintf(text + 16 * i, 17, "a %013zu\n", i + 1);
	snprintf(text + FOLLOW_READ_SIZE, sizeof(text) - FOLLOW_READ_SIZE, "%s", rest);
	return text;
}

static void test_closing_done_loses_no_line_of_a_read_in_hand(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct tailer_config cfg = from_start_of(&p, one_read_of_lines_then("b 1\nb 2\n"));
	int reads = watch_reads(p.s);
	struct fixture *f = fixture_start(cfg, 1);
	expect_line(f, "a 0000000000001", "from_start reads the existing lines");
	/* The follower is sending the first read's lines, one at a time. */
	chan_close(f->t.done);
	was_read(reads); /* that first read */
	unsigned long long lines = 1;
	void *msg;
	while (chan_recv_timed(f->t.out, &msg, harness_wait_ms()) == CHAN_OK) {
		lines++;
		line_free(msg);
	}
	fixture_join(f, "done was closed while the follower was sending");
	int read_again = was_read(reads);
	close(reads);
	unsigned long long bytes = stat_of(&f->t.stats.bytes);
	if (read_again || bytes != 16 * lines)
		fail_msg("done was closed while the follower sent the lines of its first read; %llu lines of 16 "
			 "bytes came, stats.bytes is %llu%s: look at done after a read's lines are sent, never "
			 "between a read and its lines (a read in hand is consumed: its lines sent, its bytes "
			 "counted), and once asked read nothing more",
			 lines, bytes, read_again ? ", and it read the file again after done was closed" : "");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

/* What a running tailer holds, counted for the whole process: descriptors
 * (/proc/self/fd), threads started and not joined, condition variables
 * alive (two per channel). */
struct held {
	int fds;
	int threads;
	long conds;
	unsigned char fd_open[256]; /* which descriptors below 256 are open */
};

static struct held held_now(void)
{
	struct held h = {process_count_open_fds(), harness_threads_unjoined(NULL), harness_conds_alive(), {0}};
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < (int)sizeof(h.fd_open))
			h.fd_open[fd] = 1;
	}
	if (d != NULL)
		closedir(d);
	return h;
}

/* Names the descriptors open in `after` and not in `before`, by what they
 * are (their /proc/self/fd target), so that a failure says whether a file
 * or the watch was left open. */
static void name_new_fds(const struct held *before, const struct held *after, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (int fd = 0; fd < (int)sizeof(after->fd_open) && used < size; fd++) {
		if (!after->fd_open[fd] || before->fd_open[fd])
			continue;
		char link[64], target[256];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		const char *what = strstr(target, "inotify") != NULL ? "the watch's inotify descriptor"
				   : strncmp(target, "pipe:", 5) == 0 ? "a pipe, the watch's"
								       : "a file the follower opened";
		used += (size_t)snprintf(out + used, size - used, "%sdescriptor %d, %s (%s)", used > 0 ? "; " : "",
					 fd, what, target);
	}
}

/* Runs a tailer on path (polling every ten minutes) until it parks, stops
 * it, and fails unless the process holds what it held before. */
static void expect_nothing_held_after_a_stop(const char *path, const char *why)
{
	struct held before = held_now();
	struct fixture *f = fixture_start(follow_config(path, FOREVER_MS), 8);
	wait_parked(f, why);
	struct held during = held_now();
	fixture_stop(f);
	fixture_free(f);
	struct held after = held_now();
	char left[512];
	name_new_fds(&before, &after, left, sizeof(left));
	if (after.fds != before.fds || after.threads != before.threads || after.conds != before.conds)
		fail_msg("the tailer has stopped (%s) and its channels are freed, yet %d descriptor(s) [%s], %d "
			 "thread(s) never joined and %ld condition variable(s) (two a channel) are left over "
			 "(while it ran, with its watch: %d, %d and %ld): whatever stopped the follower, and "
			 "wherever, every file it opened is closed and the watch it started is stopped (its "
			 "thread, inotify descriptor, pipe and wake channel)",
			 why, after.fds - before.fds, left, after.threads - before.threads, after.conds - before.conds,
			 during.fds - before.fds, during.threads - before.threads, during.conds - before.conds);
}

static void test_follower_stops_its_watch_when_it_stops(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "");
	expect_nothing_held_after_a_stop(p.s, "the file exists and has been read to its end");
	remove_tmpdir();
}

static void test_follower_stops_its_watch_when_stopped_before_its_file_appears(void **state)
{
	(void)state;
	make_tmpdir();
	expect_nothing_held_after_a_stop(tmp_path("never.log").s,
					 "done was closed while the follower waited for a file that never came");
	remove_tmpdir();
}

static void test_follower_sees_a_late_file_by_its_watch_not_its_poll(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("late.log");
	struct fixture *f = fixture_start(follow_config(p.s, FOREVER_MS), 8);
	wait_parked(f, "the file does not exist yet: wait for it");
	write_file(p.s, "first\n");
	expect_line(f, "first",
		    "the poll interval is ten minutes, so only the watch can tell the follower that its file "
		    "appeared: the watch must run while the follower waits for its first file, not only "
		    "once that file is open");
	fixture_stop(f);
	fixture_free(f);
	remove_tmpdir();
}

/* ---- the follower's pieces, one at a time (src/follower.h) ----------------- */

/*
 * A follower set up as tailer_follow sets it up (follower_init), with its
 * tailer, for calling one helper at a time. The test puts files into its
 * slots itself (piece_add), so that each helper's test runs that helper
 * and as little else as the contract allows. On the heap, like a fixture:
 * a helper that never returns must not find its memory gone.
 */
struct piece {
	struct tailer t;
	struct follower f;
	struct chan *done; /* t.done, kept for the end when a test set t.done to NULL */
	struct harness_thread thread;
	int (*fn)(struct follower *);
	int rc;
	char path[128];
};

static struct piece *piece_new(const char *path, size_t out_cap, long poll_ms, long rotate_wait_ms)
{
	struct piece *pc = calloc(1, sizeof(*pc));
	if (pc == NULL)
		fail_msg("out of memory");
	snprintf(pc->path, sizeof(pc->path), "%s", path);
	pc->t.cfg = follow_config(pc->path, poll_ms);
	pc->t.cfg.rotate_wait_ms = rotate_wait_ms;
	pc->t.out = chan_new_or_fail(out_cap);
	pc->t.done = pc->done = chan_new_or_fail(1);
	follower_init(&pc->f, &pc->t);
	return pc;
}

/* Closes the files still in the slots (the test's own way, not the
 * helpers'), frees the splitters, the lines left in out, the channels. */
static void piece_free(struct piece *pc)
{
	for (size_t i = 0; i < pc->f.n; i++)
		close(pc->f.files[i].fd);
	pc->f.n = 0;
	follower_free(&pc->f);
	while (pc->t.nkept > 0)
		line_free(pc->t.kept[--pc->t.nkept]);
	drain(pc->t.out);
	assert_chan_status(chan_free(pc->t.out), CHAN_OK);
	assert_chan_status(chan_free(pc->done), CHAN_OK);
	free(pc);
	remove_tmpdir();
}

/* Puts the file at path into the next slot as follower_open would: at its
 * end or its start, its identity from fstat, last bytes now. */
static struct follow_file *piece_add(struct piece *pc, const char *path, int at_end)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		fail_msg("open %s: %s", path, strerror(errno));
	struct follow_file *file = &pc->f.files[pc->f.n++];
	file->fd = fd;
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->offset = at_end ? lseek(fd, 0, SEEK_END) : 0;
	file->last_bytes = clock_now();
	return file;
}

/* A follower of app.log as after a rotation: app.log.1 ("a 1\n") in
 * files[0], app.log ("b 1\n") in files[1], both at their start or both at
 * their end. */
static struct piece *piece_rotated(int at_end)
{
	make_tmpdir();
	struct path old = tmp_path("app.log.1"), p = tmp_path("app.log");
	write_file(old.s, "a 1\n");
	write_file(p.s, "b 1\n");
	struct piece *pc = piece_new(p.s, 8, 10, 0);
	piece_add(pc, old.s, at_end);
	piece_add(pc, p.s, at_end);
	return pc;
}

/* A time `seconds` before now, for a file that has been quiet that long. */
static struct timespec seconds_ago(long seconds)
{
	struct timespec ts = clock_now();
	ts.tv_sec -= ts.tv_sec > seconds ? seconds : ts.tv_sec;
	return ts;
}

/* The helper started by piece_start waits on done (or has returned). */
static int waits_on_done_of(void *arg)
{
	struct piece *pc = arg;
	return waits_on(pc->done) || harness_thread_done(&pc->thread);
}

static void *piece_call(void *arg)
{
	struct piece *pc = arg;
	pc->rc = pc->fn(&pc->f);
	return NULL;
}

/* Starts fn(&pc->f) in a thread of its own, for a helper that may wait. */
static void piece_start(struct piece *pc, int (*fn)(struct follower *))
{
	pc->fn = fn;
	harness_thread_start(&pc->thread, piece_call, pc);
}

/* Waits for the helper started by piece_start to return; fails with why
 * if it does not. Returns what it returned. */
static int piece_join(struct piece *pc, const char *why)
{
	harness_on_hang(why);
	if (!harness_thread_join_within(&pc->thread, harness_wait_ms()))
		fail_msg("the helper did not return within %ld ms: %s", harness_wait_ms(), why);
	return pc->rc;
}

/* fn(&pc->f) in a thread, and its result: a helper that must not wait
 * fails the test instead of hanging it. */
static int piece_run(struct piece *pc, int (*fn)(struct follower *), const char *why)
{
	piece_start(pc, fn);
	return piece_join(pc, why);
}

/* Reads what fd gives now, up to size - 1 bytes, as a string. */
static void read_now(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* Fails unless the descriptor reads exactly `want` now. */
static void expect_to_read(int fd, const char *want, const char *why)
{
	char got[128];
	read_now(fd, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("the descriptor reads %s, expected %s: %s", quoted(got), quoted(want), why);
}

/* A partial line waiting in a file's splitter, as if its bytes had been read. */
static void keep_partial(struct follow_file *file, const char *text)
{
	struct collected c = {0};
	if (splitter_feed(&file->split, text, strlen(text), collect, &c) != 0 || c.n != 0)
		fail_msg("the splitter (lesson 03, the line splitter) did not keep %s as a partial line", quoted(text));
}

/* A rotation, done by harness_after_open right after a chosen open. */
struct rename_after_open {
	struct path p, old;
};

static void rotate_after_open(void *arg)
{
	struct rename_after_open *r = arg;
	if (rename(r->p.s, r->old.s) == 0)
		write_file(r->p.s, "b 1\n");
}

static void test_follower_open_at_the_end_or_the_start_records_the_file(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "old 1\nold 2\n");
	struct stat st;
	stat_or_fail(p.s, &st);
	struct piece *pc = piece_new(p.s, 8, 10, 0);
	harness_on_hang("follower_open hung: it opens, seeks, calls fstat, and nothing more");
	if (follower_open(&pc->f, 1) != 0 || pc->f.n != 1)
		fail_msg("follower_open(f, 1) on a file that exists returned -1 or left n at %zu: open it into "
			 "files[n] and count it (n + 1)",
			 pc->f.n);
	struct follow_file *end = &pc->f.files[0];
	if (end->dev != st.st_dev || end->ino != st.st_ino)
		fail_msg("files[0] is not the device and inode of the file opened: the identity is the "
			 "descriptor's, the path may name another file by now");
	if (end->offset != 12)
		fail_msg("opened at its end, files[0].offset is %lld, expected 12 (the file's size): follow_check "
			 "compares the size with it, so a wrong offset hides a truncation",
			 (long long)end->offset);
	append_file(p.s, "new 1\n");
	expect_to_read(end->fd, "new 1\n", "opened at its end, the descriptor reads only what comes after");
	if (follower_open(&pc->f, 0) != 0 || pc->f.n != 2 || pc->f.files[1].offset != 0)
		fail_msg("follower_open(f, 0) must open the file again as files[1], at offset 0 (n is %zu)", pc->f.n);
	expect_to_read(pc->f.files[1].fd, "old 1\nold 2\nnew 1\n", "opened at its start, it reads everything");
	/* A rotation right after the open, before anything else looks at the
	 * path: the descriptor reads the renamed file, the path names another. */
	struct rename_after_open r = {p, tmp_path("app.log.1")};
	harness_after_open(p.s, rotate_after_open, &r);
	if (follower_open(&pc->f, 0) != 0 || pc->f.n != 3)
		fail_msg("follower_open(f, 0) must open the file again as files[2] (n is %zu)", pc->f.n);
	harness_after_open(p.s, NULL, NULL);
	if (pc->f.files[2].ino != st.st_ino)
		fail_msg("the path was rotated right after the open: files[2] holds the new file's inode while its "
			 "descriptor reads the renamed one, so follow_check finds the path unchanged and the new file "
			 "is never opened; take the identity from the descriptor (fstat), not from the path (stat)");
	if (follower_look(&pc->f) != 0 || pc->f.n != 4 || stat_of(&pc->t.stats.rotations) != 1)
		fail_msg("after a rotation right after the open, follower_look must see it and open the new file "
			 "(n is %zu, expected 4; %llu rotation(s), expected 1)",
			 pc->f.n, stat_of(&pc->t.stats.rotations));
	expect_to_read(pc->f.files[3].fd, "b 1\n", "the file that the path names after the rotation");
	unlink(p.s);
	if (follower_open(&pc->f, 0) != -1 || pc->f.n != 4)
		fail_msg("the path is gone: follower_open must return -1 and change nothing (n is %zu, expected 4)",
			 pc->f.n);
	piece_free(pc);
}

static void test_follower_read_takes_the_oldest_file_that_has_bytes(void **state)
{
	(void)state;
	struct piece *pc = piece_rotated(0);
	struct path old = tmp_path("app.log.1"), p = tmp_path("app.log");
	const char *want[] = {"a 1\n", "b 1\n", "a 2\n", "b 2\n"};
	for (int i = 0; i < 4; i++) {
		if (i == 2) {
			append_file(p.s, "b 2\n");
			append_file(old.s, "a 2\n");
		}
		struct follow_file *from = NULL;
		harness_on_hang("follower_read hung: a read of a regular file at its end returns 0 at once");
		ssize_t n = follower_read(&pc->f, &from);
		pc->f.buf[n > 0 ? n : 0] = '\0';
		if (n != 4 || from != &pc->f.files[i % 2] || strcmp(pc->f.buf, want[i]) != 0)
			fail_msg("read %d gave %zd bytes %s from files[%d], expected %s from files[%d]: read the oldest "
				 "file that has bytes (files[0] first), each file in turn only when the older ones are "
				 "at their end",
				 i + 1, n, quoted(pc->f.buf), from == NULL ? -1 : (int)(from - pc->f.files), want[i], i % 2);
	}
	struct follow_file *from = NULL;
	if (follower_read(&pc->f, &from) != 0)
		fail_msg("every file is at its end: follower_read must return 0");
	piece_free(pc);
}

static int sending_on(void *arg)
{
	struct chan *out = arg;
	pthread_mutex_lock(&out->mu);
	int waiting = out->send_waiting > 0;
	pthread_mutex_unlock(&out->mu);
	return waiting;
}

static int consume_bytes(struct follower *f)
{
	return follower_consume(f, &f->files[0], 11);
}

static void test_follower_consume_sends_the_lines_then_counts_the_bytes(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "");
	struct piece *pc = piece_new(p.s, 1, 10, 0);
	struct follow_file *file = piece_add(pc, p.s, 0);
	file->last_bytes = seconds_ago(5);
	memcpy(pc->f.buf, "a 1\na 2\nhal", 11);
	piece_start(pc, consume_bytes);
	/* out holds one line: consume sends "a 1", then waits to send "a 2". */
	harness_wait_until(sending_on, pc->t.out);
	if (stat_of(&pc->t.stats.bytes) != 0)
		fail_msg("stats.bytes is %llu while \"a 2\" is not sent yet: add the bytes after the splitter "
			 "has sent their lines, so whoever sees the count finds the lines in out",
			 stat_of(&pc->t.stats.bytes));
	expect_line_on(pc->t.out, "a 1", "the lines of the bytes, in order (splitter_feed with tailer_emit)");
	expect_line_on(pc->t.out, "a 2", "the lines of the bytes, in order (splitter_feed with tailer_emit)");
	if (piece_join(pc, "follower_consume did not return once its lines were sent") != 0)
		fail_msg("follower_consume returned 1, though out took every line");
	if (stat_of(&pc->t.stats.bytes) != 11 || file->offset != 11)
		fail_msg("after 11 bytes, stats.bytes is %llu and the file's offset %lld; expected 11 and 11: the "
			 "offset is what follow_check compares the size with",
			 stat_of(&pc->t.stats.bytes), (long long)file->offset);
	if (clock_seconds_since(&file->last_bytes) > 4)
		fail_msg("the file gave bytes now, but its last_bytes is older: an old file would be let go "
			 "while it is still being written to");
	piece_free(pc);
}

/* The helper is sending on out, or has returned. */
static int sending_or_returned(void *arg)
{
	struct piece *pc = arg;
	return sending_on(pc->t.out) || harness_thread_done(&pc->thread);
}

/* A tailer with cfg.batch > 1 keeps what tailer_emit gets; tailer_flush
 * sends it, and must have before the bytes are counted. */
static void test_follower_consume_flushes_a_batched_tailer_then_counts_the_bytes(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "");
	struct piece *pc = piece_new(p.s, 1, 10, 0);
	pc->t.cfg.batch = 64;
	struct follow_file *file = piece_add(pc, p.s, 0);
	memcpy(pc->f.buf, "a 1\na 2\nhal", 11);
	piece_start(pc, consume_bytes);
	/* out holds one line: the flush sends "a 1", then waits to send "a 2". */
	harness_wait_until(sending_or_returned, pc);
	if (!sending_on(pc->t.out)) {
		piece_join(pc, "follower_consume hung");
		fail_msg("follower_consume returned with %zu line(s) kept by a batched tailer (cfg.batch 64) and "
			 "not sent: tailer_emit keeps the lines, tailer_flush sends them; call it after the "
			 "splitter, or they wait for the next read, which may never come",
			 pc->t.nkept);
	}
	if (stat_of(&pc->t.stats.bytes) != 0)
		fail_msg("stats.bytes is %llu while the kept lines are still being sent: flush, then add the "
			 "bytes, so whoever sees the count finds the lines in out",
			 stat_of(&pc->t.stats.bytes));
	expect_line_on(pc->t.out, "a 1", "the lines tailer_flush sends, in order");
	expect_line_on(pc->t.out, "a 2", "the lines tailer_flush sends, in order");
	if (piece_join(pc, "follower_consume did not return once its lines were sent") != 0)
		fail_msg("follower_consume returned 1, though out took every line");
	if (stat_of(&pc->t.stats.bytes) != 11 || file->offset != 11 || stat_of(&pc->t.stats.lines) != 2)
		fail_msg("after 11 bytes and 2 lines, stats.bytes is %llu, the offset %lld and stats.lines %llu",
			 stat_of(&pc->t.stats.bytes), (long long)file->offset, stat_of(&pc->t.stats.lines));
	piece_free(pc);
}

/* out closed under the follower: a consume says stop, and what it read
 * is still read: counted, and the offset past it. A plain tailer learns
 * of the refusal from tailer_emit, a batched one from tailer_flush. */
static void test_follower_consume_says_stop_once_out_is_closed_and_counts_the_bytes(void **state)
{
	(void)state;
	for (int batched = 0; batched < 2; batched++) {
		const char *which = batched ? "a batched tailer (cfg.batch 64)" : "a plain tailer";
		make_tmpdir();
		struct path p = tmp_path("app.log");
		write_file(p.s, "");
		struct piece *pc = piece_new(p.s, 8, 10, 0);
		pc->t.cfg.batch = batched ? 64 : 0;
		struct follow_file *file = piece_add(pc, p.s, 0);
		chan_close(pc->t.out);
		for (long i = 1; i <= 2; i++) {
			memcpy(pc->f.buf, "a 1\na 2\nhal", 11);
			int rc = piece_run(pc, consume_bytes, "follower_consume hung: out is closed, so a send fails at once");
			if (rc != 1)
				fail_msg("%s, out closed: follower_consume returned %d; a refused line means stop (1)%s",
					 which, rc,
					 batched ? ", and a batched tailer's refusal comes from tailer_flush's -1" : "");
			if (stat_of(&pc->t.stats.bytes) != 11ULL * i || file->offset != 11 * i)
				fail_msg("%s, out closed: after %ld reads of 11 bytes, stats.bytes is %llu and the offset "
					 "%lld; expected %ld and %ld: the bytes were read whatever became of their lines, so "
					 "they are counted, and the offset moves past them (by n, each read)",
					 which, i, stat_of(&pc->t.stats.bytes), (long long)file->offset, 11 * i, 11 * i);
			if (pc->t.nkept != 0)
				fail_msg("%s, out closed: %zu line(s) still kept after follower_consume", which, pc->t.nkept);
		}
		piece_free(pc);
	}
}

/* Fails if two slots share a splitter's buffer. */
static void expect_own_splitters(struct follower *f)
{
	for (size_t i = 0; i < FOLLOW_MAX_FILES; i++)
		for (size_t j = i + 1; j < FOLLOW_MAX_FILES; j++)
			if (f->files[i].split.buf != NULL && f->files[i].split.buf == f->files[j].split.buf)
				fail_msg("slots %zu and %zu share one splitter buffer: moving the files down copies "
					 "files[n - 1]'s splitter into files[n - 2]; give the closed file's splitter to "
					 "the slot freed at the end (files[n] after n - 1)",
					 i, j);
}

static void test_follower_close_oldest_flushes_closes_and_moves_the_others_down(void **state)
{
	(void)state;
	struct piece *pc = piece_rotated(1);
	struct follow_file *a = &pc->f.files[0], *b = &pc->f.files[1];
	keep_partial(a, "a half");
	keep_partial(b, "b half");
	int a_fd = a->fd;
	ino_t b_ino = b->ino;
	harness_on_hang("follower_close_oldest hung: it flushes one splitter, closes, moves the slots");
	if (follower_close_oldest(&pc->f) != 0)
		fail_msg("follower_close_oldest returned 1, though out took the line");
	expect_line_on(pc->t.out, "a half",
		       "the oldest file will never be completed: its partial line goes out as a line when it "
		       "closes");
	expect_nothing_on(pc->t.out, "only the oldest file is flushed");
	if (pc->f.n != 1 || pc->f.files[0].ino != b_ino)
		fail_msg("n is %zu; expected 1, with the newer file moved down to files[0]", pc->f.n);
	if (fcntl(a_fd, F_GETFD) != -1 || errno != EBADF)
		fail_msg("the oldest file's descriptor is still open: close it");
	expect_own_splitters(&pc->f);
	if (follower_close_oldest(&pc->f) != 0 || pc->f.n != 0)
		fail_msg("closing the last file must leave n at 0");
	expect_line_on(pc->t.out, "b half", "the moved file kept its own splitter, partial line and all");
	piece_free(pc);
}

static void test_follower_close_oldest_flushes_a_batched_tailer(void **state)
{
	(void)state;
	struct piece *pc = piece_rotated(1);
	pc->t.cfg.batch = 64;
	keep_partial(&pc->f.files[0], "a half");
	harness_on_hang("follower_close_oldest hung: it flushes one splitter, closes, moves the slots");
	if (follower_close_oldest(&pc->f) != 0)
		fail_msg("follower_close_oldest returned 1, though out has room");
	void *msg = NULL;
	if (chan_try_recv(pc->t.out, &msg) != CHAN_OK && pc->t.nkept == 0)
		fail_msg("follower_close_oldest gave out nothing and a batched tailer (cfg.batch 64) keeps nothing: "
			 "the closed file's unfinished line \"a half\" must go out (splitter_flush)");
	if (msg == NULL)
		fail_msg("follower_close_oldest returned with the closed file's last line kept by a batched "
			 "tailer (cfg.batch 64; %zu kept): call tailer_flush after splitter_flush, or the line "
			 "waits for the next file's next read",
			 pc->t.nkept);
	int same = strcmp(((struct line *)msg)->text, "a half") == 0;
	line_free(msg);
	if (!same)
		fail_msg("the line sent is not the closed file's unfinished \"a half\"");
	piece_free(pc);
}

/* The closed file's line refused: the file is closed all the same, and
 * the answer is stop. */
static void test_follower_close_oldest_closes_the_file_when_out_refuses_its_line(void **state)
{
	(void)state;
	for (int batched = 0; batched < 2; batched++) {
		const char *which = batched ? "a batched tailer (cfg.batch 64)" : "a plain tailer";
		struct piece *pc = piece_rotated(1);
		pc->t.cfg.batch = batched ? 64 : 0;
		keep_partial(&pc->f.files[0], "a half");
		int a_fd = pc->f.files[0].fd;
		chan_close(pc->t.out);
		harness_on_hang("follower_close_oldest hung: out is closed, so its send fails at once");
		int rc = follower_close_oldest(&pc->f);
		if (rc != 1)
			fail_msg("%s, out closed: follower_close_oldest returned %d though out refused the closed file's "
				 "last line: 1 (stop)%s",
				 which, rc, batched ? ", and a batched tailer's refusal comes from tailer_flush's -1" : "");
		if (pc->f.n != 1 || fcntl(a_fd, F_GETFD) != -1)
			fail_msg("%s, out closed: n is %zu and the oldest file's descriptor %s; expected n 1 and it "
				 "closed: the file is closed even when its line is refused",
				 which, pc->f.n, fcntl(a_fd, F_GETFD) != -1 ? "still open" : "closed");
		piece_free(pc);
	}
}

static void test_follower_let_go_reads_the_old_file_to_its_end_then_closes_it(void **state)
{
	(void)state;
	struct piece *pc = piece_rotated(0);
	struct path old = tmp_path("app.log.1");
	append_file(old.s, "a 2\na half"); /* the writer had not reopened yet */
	harness_on_hang("follower_let_go hung: it reads one file to its end and closes it");
	if (follower_let_go(&pc->f) != 0)
		fail_msg("follower_let_go returned 1, though out took every line");
	const char *why = "letting a file go reads it to its end first: the lines its writer appended since the "
			  "last read would be lost (read until read returns 0, then close it as "
			  "follower_close_oldest does)";
	expect_line_on(pc->t.out, "a 1", why);
	expect_line_on(pc->t.out, "a 2", why);
	expect_line_on(pc->t.out, "a half", "then its unfinished last line is flushed");
	expect_nothing_on(pc->t.out, "only the oldest file is let go: the newest is not read");
	if (pc->f.n != 1 || stat_of(&pc->t.stats.bytes) != 14)
		fail_msg("n is %zu and stats.bytes %llu; expected 1 file left and the old file's 14 bytes counted "
			 "(its bytes go through follower_consume)",
			 pc->f.n, stat_of(&pc->t.stats.bytes));
	piece_free(pc);
}

static void test_follower_let_go_leaves_the_file_open_when_a_send_fails(void **state)
{
	(void)state;
	make_tmpdir();
	struct path old = tmp_path("app.log.1"), p = tmp_path("app.log");
	write_file(old.s, "a 1\na 2\n");
	write_file(p.s, "b 1\n");
	struct piece *pc = piece_new(p.s, 1, 10, 0);
	int a_fd = piece_add(pc, old.s, 0)->fd;
	piece_add(pc, p.s, 0);
	piece_start(pc, follower_let_go);
	/* out holds one line: let go sends "a 1", then waits to send "a 2". */
	if (!harness_wait_until(sending_on, pc->t.out))
		fail_msg("follower_let_go never sent the old file's second line within %ld ms: it reads the file "
			 "to its end, sending its lines (follower_consume)",
			 harness_wait_ms());
	chan_close(pc->t.out);
	if (piece_join(pc, "out was closed under follower_let_go: its send fails, and it returns at once") != 1)
		fail_msg("follower_let_go returned 0, though out was closed under it: a failed send means stop (1)");
	if (pc->f.n != 2 || pc->f.files[0].fd != a_fd || fcntl(a_fd, F_GETFD) == -1)
		fail_msg("after a failed send, n is %zu and the old file %s; expected n 2 and the old file still "
			 "open in files[0]: return 1 at once, and leave the closing to whoever stops the follower "
			 "(a descriptor closed but left in its slot is closed twice, the second time perhaps "
			 "another file's)",
			 pc->f.n, pc->f.files[0].fd != a_fd ? "moved" : "closed");
	piece_free(pc);
}

static void test_follower_asked_to_stop_looks_at_done_without_waiting(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct piece *pc = piece_new(p.s, 8, 10, 0);
	const char *why = "follower_asked_to_stop must not wait: done is open and empty, so the answer is 0 "
			  "at once";
	if (piece_run(pc, follower_asked_to_stop, why) != 0)
		fail_msg("follower_asked_to_stop returned 1 while done is open: %s", why);
	static int token;
	assert_chan_status(chan_send(pc->done, &token), CHAN_OK);
	if (piece_run(pc, follower_asked_to_stop, "a message waits on done: the answer is 1, at once") != 1)
		fail_msg("follower_asked_to_stop returned 0 with a message waiting on done: anything received "
			 "on done means stop (CHAN_OK as well as CHAN_CLOSED; only CHAN_WOULDBLOCK means go on)");
	chan_close(pc->done);
	if (piece_run(pc, follower_asked_to_stop, "done is closed: the answer is 1, at once") != 1)
		fail_msg("follower_asked_to_stop returned 0 after done was closed: CHAN_CLOSED means stop");
	pc->t.done = NULL;
	if (piece_run(pc, follower_asked_to_stop, "without done, the answer is 0, at once") != 0)
		fail_msg("follower_asked_to_stop returned 1 without a done channel: nobody can ask, so go on");
	piece_free(pc);
}

static void test_follower_pause_ends_on_a_wake_a_timeout_or_done(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct piece *pc = piece_new(p.s, 8, FOREVER_MS, 0);
	struct chan *wake = chan_new_or_fail(1);
	pc->f.wake = wake;
	static int token;
	assert_chan_status(chan_send(wake, &token), CHAN_OK);
	if (piece_run(pc, follower_pause,
		      "a wake is waiting, and the poll interval is ten minutes: the pause must end on a wake "
		      "as on done, and a receive on done alone, or a sleep, cannot") != 0)
		fail_msg("follower_pause returned 1 on a wake: a wake means \"read again\" (0); only done means stop");
	pc->f.poll_ms = 1;
	if (piece_run(pc, follower_pause, "poll_ms is 1: the pause must end after 1 ms (the select's deadline)") != 0)
		fail_msg("follower_pause returned 1 after its poll interval: a timeout means \"read again\" (0)");
	/* A deadline that has passed before the select looks at it, as when a
	 * busy machine runs something else for poll_ms in between: the select
	 * answers as a try does. */
	pc->f.poll_ms = 0;
	if (piece_run(pc, follower_pause, "poll_ms is 0: the pause must end at once") != 0)
		fail_msg("follower_pause returned 1 when its deadline had passed before chan_select looked: "
			 "chan_select then answers CHAN_WOULDBLOCK (a try, see src/channel.h), which is a timeout "
			 "too (\"read again\", 0); only done means stop");
	pc->f.poll_ms = FOREVER_MS;
	struct chan *closed_wake = chan_new_or_fail(1);
	chan_close(closed_wake);
	pc->f.wake = closed_wake;
	if (piece_run(pc, follower_pause, "wake is closed: the pause must end at once") != 1)
		fail_msg("follower_pause returned 0 on a closed wake: chan_select would answer CHAN_CLOSED at "
			 "once, pause after pause, a busy loop; only a message on wake means \"read again\", "
			 "anything else from the select but a timeout means stop (1)");
	pc->f.wake = wake;
	assert_chan_status(chan_free(closed_wake), CHAN_OK);
	piece_start(pc, follower_pause);
	if (!harness_wait_until(waits_on_done_of, pc))
		fail_msg("follower_pause never waited on done within %ld ms: a pause that does not wait on "
			 "done (a sleep) cannot be ended by closing it",
			 harness_wait_ms());
	chan_close(pc->done);
	if (piece_join(pc, "done was closed during the pause: it must end at once") != 1)
		fail_msg("follower_pause returned 0 after done was closed: CHAN_CLOSED means stop (1)");
	pc->f.wake = NULL;
	assert_chan_status(chan_free(wake), CHAN_OK);
	piece_free(pc);
}

static void test_follower_start_reads_a_file_that_appears_later_from_its_start(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("late.log");
	struct piece *pc = piece_new(p.s, 8, 10, 0);
	piece_start(pc, follower_start);
	if (!harness_wait_until(waits_on_done_of, pc))
		fail_msg("follower_start never paused on done while the file was missing: between tries it "
			 "must wait where closing done can end the wait");
	write_file(p.s, "first\n");
	if (piece_join(pc, "the file appeared: the next try opens it") != 0 || pc->f.n != 1)
		fail_msg("follower_start must return 0 with the file open once it appears (n is %zu)", pc->f.n);
	if (pc->f.files[0].offset != 0)
		fail_msg("a file that appeared after the start was opened at offset %lld: all of it is new, so "
			 "read it from its start (only a file there at the start is read from its end)",
			 (long long)pc->f.files[0].offset);
	close(pc->f.files[0].fd);
	pc->f.n = 0;
	unlink(p.s);
	pc->t.cfg.stop_at_eof = 1;
	if (piece_run(pc, follower_start, "stop_at_eof never waits: with no file, stop at once") != 1 ||
	    pc->f.n != 0)
		fail_msg("with stop_at_eof and no file, follower_start must return 1 without opening anything");
	pc->t.cfg.stop_at_eof = 0;
	chan_close(pc->done);
	if (piece_run(pc, follower_start, "done is closed: stop instead of waiting for the file") != 1)
		fail_msg("done is closed and there is no file: follower_start must return 1");
	piece_free(pc);
}

static void test_follower_look_opens_the_new_file_when_the_inode_changes(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	write_file(p.s, "old 1\n");
	struct piece *pc = piece_new(p.s, 8, 10, 1000);
	struct follow_file *first = piece_add(pc, p.s, 1);
	ino_t old_ino = first->ino;
	first->last_bytes = seconds_ago(5);
	harness_on_hang("follower_look hung: one follow_check, then at most an open");
	append_file(p.s, "old 2\n");
	if (follower_look(&pc->f) != 0 || pc->f.n != 1 || pc->f.moved)
		fail_msg("the file only grew (FOLLOW_SAME): follower_look must change nothing and clear moved");
	rotate_to_new_file(&p, &old, "new 1\n");
	if (follower_look(&pc->f) != 0 || pc->f.n != 2)
		fail_msg("the path names another inode (FOLLOW_ROTATED): open it as files[1], and keep the old "
			 "file open as files[0] (n is %zu, expected 2)",
			 pc->f.n);
	struct stat st;
	stat_or_fail(p.s, &st);
	if (pc->f.files[0].ino != old_ino || pc->f.files[1].ino != st.st_ino || pc->f.files[1].offset != 0)
		fail_msg("expected the old file in files[0] and the new one in files[1] at offset 0: a new file is "
			 "read from its start");
	expect_to_read(pc->f.files[1].fd, "new 1\n", "the new file, from its start");
	if (!pc->f.moved || stat_of(&pc->t.stats.rotations) != 1)
		fail_msg("after a rotation moved must be 1 (read at once, do not wait) and stats.rotations 1 "
			 "(moved %d, rotations %llu)",
			 pc->f.moved, stat_of(&pc->t.stats.rotations));
	if (clock_seconds_since(&pc->f.files[0].last_bytes) > 4)
		fail_msg("the old file had been quiet for 5 s before the rotation, and its last_bytes still says "
			 "so: its rotate_wait_ms starts at the rotation (set it to now), or it is let go at the "
			 "next end of file and the lines its writer appends before reopening are lost");
	unlink(p.s);
	if (follower_look(&pc->f) != 0 || pc->f.n != 2)
		fail_msg("the path is missing (FOLLOW_MISSING): keep every file, the path may come back");
	piece_free(pc);
}

static void test_follower_rotate_starts_the_wait_of_the_file_that_was_newest(void **state)
{
	(void)state;
	make_tmpdir();
	struct path oldest = tmp_path("app.log.2"), p = tmp_path("app.log"), old = tmp_path("app.log.1");
	write_file(oldest.s, "a 1\n");
	write_file(p.s, "b 1\n");
	/* The rotate wait is what this test's own steps may take, at most: a
	 * slow build must not see the file just rotated away as quiet. */
	long wait_ms = harness_bound_ms(1000), quiet_s = 5 * wait_ms / 1000;
	struct piece *pc = piece_new(p.s, 8, FOREVER_MS, wait_ms);
	piece_add(pc, oldest.s, 1)->last_bytes = seconds_ago(quiet_s);
	struct follow_file *newest = piece_add(pc, p.s, 1);
	newest->last_bytes = seconds_ago(quiet_s);
	ino_t rotated = newest->ino;
	rotate_to_new_file(&p, &old, "c 1\n");
	harness_on_hang("follower_look hung: one follow_check, then at most an open");
	if (follower_look(&pc->f) != 0 || pc->f.n != 3)
		fail_msg("the path names another inode: open it as files[2] (n is %zu, expected 3)", pc->f.n);
	chan_close(pc->done); /* so that the pause at the end returns 1 at once */
	piece_run(pc, follower_at_eof, "done is closed: the pause after the look returns at once");
	if (pc->f.n != 2 || pc->f.files[0].ino != rotated)
		fail_msg("%zu file(s) left, expected 2: the oldest had been quiet for %ld s (rotate_wait_ms is "
			 "%ld) and goes; the file just renamed away starts its rotate wait at the rotation and "
			 "stays. A rotation refreshes the file that was the newest, whichever slot it is in, "
			 "not the oldest",
			 pc->f.n, quiet_s, wait_ms);
	piece_free(pc);
}

/* A UNIX socket bound at path: stat(2) finds a file there, another inode,
 * but open(2) fails (ENXIO), as an open in a permissions race does. */
static int socket_at(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		fail_msg("%s is too long for a socket's address", path);
	memcpy(sa.sun_path, path, len + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("binding a socket at %s: %s", path, strerror(errno));
	return fd;
}

/* Adds app.log.<i> ("f<i>\n"), read from its start, for i in [from, to). */
static void piece_add_rotated(struct piece *pc, int from, int to)
{
	for (int i = from; i < to; i++) {
		char name[32], text[32];
		snprintf(name, sizeof(name), "app.log.%d", i);
		snprintf(text, sizeof(text), "f%d\n", i);
		struct path q = tmp_path(name);
		write_file(q.s, text);
		piece_add(pc, q.s, 0);
	}
}

static void test_follower_rotate_changes_nothing_more_when_the_open_fails(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	struct piece *pc = piece_new(p.s, 8, 10, 0);
	piece_add_rotated(pc, 0, 2);
	int sock = socket_at(p.s);
	harness_on_hang("follower_rotate hung: at most a let go and an open, which fails at once here");
	const char *why = "the path names a file that cannot be opened (a socket: open fails, as in a permissions "
			  "race during rotation): keep what you have and look again later; count the rotation "
			  "and set moved only once the new file is open, or every look counts one more and the "
			  "follower never pauses";
	if (follower_rotate(&pc->f) != 0)
		fail_msg("follower_rotate returned 1: a file that cannot be opened now is no reason to stop (%s)", why);
	if (pc->f.n != 2 || pc->f.moved || stat_of(&pc->t.stats.rotations) != 0)
		fail_msg("follower_rotate left n %zu (expected 2), moved %d and rotations %llu (expected 0): %s",
			 pc->f.n, pc->f.moved, stat_of(&pc->t.stats.rotations), why);
	expect_nothing_on(pc->t.out, "with a free slot, nothing is let go");
	piece_add_rotated(pc, 2, FOLLOW_MAX_FILES);
	ino_t second = pc->f.files[1].ino;
	if (follower_rotate(&pc->f) != 0)
		fail_msg("follower_rotate returned 1, though out took the oldest file's line: %s", why);
	if (pc->f.n != FOLLOW_MAX_FILES - 1 || pc->f.files[0].ino != second)
		fail_msg("with FOLLOW_MAX_FILES open, follower_rotate lets the oldest go first, and it stays let go "
			 "when the open then fails: expected %d files, the second oldest now files[0] (n is %zu)",
			 FOLLOW_MAX_FILES - 1, pc->f.n);
	expect_line_on(pc->t.out, "f0", "the oldest file was let go: read to its end, its lines sent");
	if (pc->f.moved || stat_of(&pc->t.stats.rotations) != 0)
		fail_msg("moved %d and rotations %llu after an open that failed, expected 0: %s", pc->f.moved,
			 stat_of(&pc->t.stats.rotations), why);
	close(sock);
	piece_free(pc);
}

static void test_follower_look_starts_over_when_the_size_goes_down(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "a\npart");
	struct piece *pc = piece_new(p.s, 8, 10, 0);
	keep_partial(piece_add(pc, p.s, 1), "part");
	write_file(p.s, "new\n"); /* emptied and written again: 4 bytes, below our offset 6 */
	harness_on_hang("follower_look hung: one follow_check, then at most a flush and an lseek");
	if (follower_look(&pc->f) != 0)
		fail_msg("follower_look returned 1, though out took the line");
	expect_line_on(pc->t.out, "part",
		       "the file shrank below our offset (FOLLOW_TRUNCATED): flush its partial line first, it "
		       "will never be completed");
	if (pc->f.n != 1 || pc->f.files[0].offset != 0 || !pc->f.moved ||
	    stat_of(&pc->t.stats.truncations) != 1)
		fail_msg("after a truncation: n %zu (expected 1), offset %lld (0), moved %d (1), "
			 "stats.truncations %llu (1). The offset must be 0 again, or the next look sees the "
			 "size below it once more and reads the file from the top again",
			 pc->f.n, (long long)pc->f.files[0].offset, pc->f.moved, stat_of(&pc->t.stats.truncations));
	expect_to_read(pc->f.files[0].fd, "new\n", "after a truncation the descriptor itself reads from the start (the follower reads with "
		       "read(), at the descriptor's own position)");
	if (follower_look(&pc->f) != 0 || stat_of(&pc->t.stats.truncations) != 1 || pc->f.moved)
		fail_msg("nothing changed since: no second truncation, moved cleared");
	piece_free(pc);
}

static void test_follower_at_eof_lets_go_the_old_files_quiet_for_rotate_wait_ms(void **state)
{
	(void)state;
	make_tmpdir();
	const char *names[] = {"app.log.3", "app.log.2", "app.log.1", "app.log"};
	struct piece *pc = piece_new(tmp_path("app.log").s, 8, FOREVER_MS, 1000);
	ino_t kept = 0;
	for (int i = 0; i < 4; i++) {
		struct path q = tmp_path(names[i]);
		write_file(q.s, "x\n");
		struct follow_file *file = piece_add(pc, q.s, 1);
		/* Quiet for 5 s, but for app.log.1, which gave bytes just now. */
		if (i != 2)
			file->last_bytes = seconds_ago(5);
		else
			kept = file->ino;
	}
	chan_close(pc->done); /* so that the pause at the end returns 1 at once */
	if (piece_run(pc, follower_at_eof, "done is closed: the pause after the look returns at once") != 1)
		fail_msg("follower_at_eof returned 0, though done is closed: after letting go and looking, it "
			 "pauses (follower_pause), which says 1");
	if (pc->f.n != 2 || pc->f.files[0].ino != kept)
		fail_msg("%zu file(s) left, expected 2: the two oldest were quiet for 5 s, more than "
			 "rotate_wait_ms (1 s, not poll_ms), so both go (a loop, oldest first); app.log.1 gave "
			 "bytes just now and stays; the newest, the path's, never goes",
			 pc->f.n);
	piece_free(pc);
}

static void test_follower_at_eof_reads_at_once_after_a_look_that_moved(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log"), old = tmp_path("app.log.1");
	write_file(p.s, "old 1\n");
	struct piece *pc = piece_new(p.s, 8, FOREVER_MS, FOREVER_MS);
	piece_add(pc, p.s, 1);
	rotate_to_new_file(&p, &old, "new 1\n");
	if (piece_run(pc, follower_at_eof,
		      "the look opened a new file (moved): return 0 to read it at once, without the pause "
		      "(ten minutes here)") != 0 ||
	    pc->f.n != 2)
		fail_msg("follower_at_eof must look at the path (a rotation: n becomes 2, it is %zu) and return "
			 "0 without pausing",
			 pc->f.n);
	piece_free(pc);
}

/* ---- several tailers on one out (fan-in) ------------------------------------ */

/* Two tailers sharing one out; on the heap, like a fixture. */
struct pair {
	struct tailer sim, follow;
	atomic_size_t running;
	struct harness_thread sim_thread, follow_thread;
	char path[128];
};

static int follower_of_pair_parked(void *arg)
{
	struct pair *pr = arg;
	return waits_on(pr->follow.done) || harness_thread_done(&pr->follow_thread);
}

static void test_tailers_sharing_out_leave_it_open_until_the_last_one_ends(void **state)
{
	(void)state;
	make_tmpdir();
	struct path p = tmp_path("app.log");
	write_file(p.s, "");
	struct pair *pr = calloc(1, sizeof(*pr));
	if (pr == NULL)
		fail_msg("out of memory");
	snprintf(pr->path, sizeof(pr->path), "%s", p.s);
	struct chan *out = chan_new_or_fail(8), *done = chan_new_or_fail(1);
	/* A simulator that stops after one line, and a follower that waits
	 * for its file until done is closed. */
	atomic_init(&pr->running, 2);
	struct tailer_config one_line = tailer_config_default();
	one_line.rate = 0;
	one_line.count = 1;
	pr->sim = (struct tailer){.cfg = one_line, .out = out, .done = done, .running = &pr->running};
	pr->follow = (struct tailer){
	    .cfg = follow_config(pr->path, 10), .out = out, .done = done, .running = &pr->running};
	harness_thread_start(&pr->sim_thread, tailer_run, &pr->sim);
	harness_thread_start(&pr->follow_thread, tailer_run, &pr->follow);
	if (!harness_thread_join_within(&pr->sim_thread, harness_wait_ms()))
		fail_msg("the simulator with count 1 did not stop");
	if (!harness_wait_until(follower_of_pair_parked, pr) || harness_thread_done(&pr->follow_thread))
		fail_msg("the follower did not wait at the end of its file");
	void *msg = NULL;
	if (chan_recv_timed(out, &msg, harness_wait_ms()) != CHAN_OK)
		fail_msg("the simulator's line did not come");
	line_free(msg);
	enum chan_status rc = chan_try_recv(out, &msg);
	if (rc != CHAN_WOULDBLOCK)
		fail_msg("out says %s after the first tailer ended, while the other still follows its file: "
			 "with running set, only the last tailer to end may close out",
			 chan_status_str(rc));
	append_file(p.s, "still here\n");
	expect_line_on(out, "still here", "the second tailer goes on sending on the shared out");
	chan_close(done);
	if (!harness_thread_join_within(&pr->follow_thread, harness_wait_ms()))
		fail_msg("the follower did not stop after done was closed");
	if (!drain(out))
		fail_msg("both tailers ended, but out is still open: the last one to end must close it");
	assert_chan_status(chan_free(out), CHAN_OK);
	assert_chan_status(chan_free(done), CHAN_OK);
	free(pr);
	remove_tmpdir();
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_splitter_joins_a_line_split_across_feeds, L03 "#the-line-splitter"),
	    HTEST(test_splitter_holds_a_partial_line_until_its_newline, L03 "#the-line-splitter"),
	    HTEST(test_splitter_strips_the_carriage_return_of_crlf, L03 "#partial-long-blank-and-crlf-lines"),
	    HTEST(test_splitter_skips_blank_and_whitespace_only_lines,
		  L03 "#partial-long-blank-and-crlf-lines"),
	    HTEST(test_splitter_sends_one_marker_for_a_too_long_line_then_goes_on, L03 "#the-line-splitter"),
	    HTEST(test_splitter_accepts_a_line_of_exactly_max_line, L03 "#the-line-splitter"),
	    HTEST(test_splitter_sends_a_marker_for_a_too_long_blank_line, L03 "#partial-long-blank-and-crlf-lines"),
	    HTEST(test_splitter_flush_emits_a_partial_line, L03 "#the-line-splitter"),
	    HTEST(test_splitter_flush_strips_the_carriage_return_of_a_partial_line,
		  L03 "#partial-long-blank-and-crlf-lines"),
	    HTEST(test_splitter_flush_ends_a_too_long_partial_line_with_its_marker, L03 "#the-line-splitter"),
	    HTEST(test_splitter_feed_fails_when_emit_refuses, L03 "#the-line-splitter"),
	    HTEST(test_follow_check_says_same_for_an_unchanged_or_grown_file, L03 "#follow_check"),
	    HTEST(test_follow_check_says_missing_when_the_path_is_gone, L03 "#follow_check"),
	    HTEST(test_follow_check_says_rotated_when_the_path_is_another_file, L03 "#follow_check"),
	    HTEST(test_follow_check_says_truncated_when_the_file_shrank, L03 "#follow_check"),
	    HTEST(test_follower_open_at_the_end_or_the_start_records_the_file, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_read_takes_the_oldest_file_that_has_bytes, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_consume_sends_the_lines_then_counts_the_bytes, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_consume_flushes_a_batched_tailer_then_counts_the_bytes,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_consume_says_stop_once_out_is_closed_and_counts_the_bytes,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_close_oldest_flushes_a_batched_tailer, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_close_oldest_closes_the_file_when_out_refuses_its_line,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_close_oldest_flushes_closes_and_moves_the_others_down,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_let_go_reads_the_old_file_to_its_end_then_closes_it, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_let_go_leaves_the_file_open_when_a_send_fails, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_asked_to_stop_looks_at_done_without_waiting, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_pause_ends_on_a_wake_a_timeout_or_done, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_start_reads_a_file_that_appears_later_from_its_start,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_look_opens_the_new_file_when_the_inode_changes, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_look_starts_over_when_the_size_goes_down, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_rotate_changes_nothing_more_when_the_open_fails, L03 "#rotation-by-rename"),
	    HTEST(test_follower_rotate_starts_the_wait_of_the_file_that_was_newest, L03 "#rotation-at-speed"),
	    HTEST(test_follower_at_eof_lets_go_the_old_files_quiet_for_rotate_wait_ms,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_at_eof_reads_at_once_after_a_look_that_moved, L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_starts_at_the_end_and_ignores_existing_lines, L03 "#the-follow-loop"),
	    HTEST(test_follower_from_start_reads_existing_lines, L03 "#the-follow-loop"),
	    HTEST(test_follower_holds_a_partial_line_until_its_newline, L03 "#the-follow-loop"),
	    HTEST(test_follower_follows_truncation_in_place, L03 "#truncation-in-place-copytruncate"),
	    HTEST(test_follower_sends_a_batched_tailers_partial_line_when_the_file_is_emptied,
		  L03 "#the-follower-piece-by-piece"),
	    HTEST(test_follower_flushes_a_partial_line_when_the_file_is_truncated,
		  L03 "#truncation-in-place-copytruncate"),
	    HTEST(test_follower_follows_rename_rotation_without_losing_lines, L03 "#rotation-by-rename"),
	    HTEST(test_follower_keeps_reading_the_renamed_file_after_opening_the_new_one, L03 "#rotation-by-rename"),
	    HTEST(test_follower_reads_the_old_file_to_its_end_before_the_new_one, L03 "#rotation-by-rename"),
	    HTEST(test_follower_drains_several_rotated_files_oldest_first, L03 "#rotation-at-speed"),
	    HTEST(test_follower_looks_at_the_path_after_every_read, L03 "#rotation-at-speed"),
	    HTEST(test_follower_lets_the_oldest_file_go_when_a_ninth_comes, L03 "#rotation-at-speed"),
	    HTEST(test_follower_lets_the_old_file_go_after_rotate_wait_ms_not_poll_ms, L03 "#rotation-by-rename"),
	    HTEST(test_follower_counts_bytes_after_their_lines_are_sent, L03 "#the-follow-loop"),
	    HTEST(test_follower_wakes_on_the_watch_before_its_poll, L03 "#waking-on-inotify-and-why-poll-as-well"),
	    HTEST(test_tailers_sharing_out_leave_it_open_until_the_last_one_ends, L03 "#several-files-fan-in"),
	    HTEST(test_follower_flushes_the_unfinished_last_line_of_a_rotated_file,
		  L03 "#rotation-by-rename"),
	    HTEST(test_follower_waits_for_a_missing_file_and_reads_it_from_its_start, L03 "#the-follow-loop"),
	    HTEST(test_follower_stop_at_eof_reads_everything_and_closes_out, L03 "#the-follow-loop"),
	    HTEST(test_follower_sends_one_marker_for_a_too_long_line, L03 "#the-follow-loop"),
	    HTEST(test_closing_done_stops_the_follower_waiting_at_eof, L03 "#stopping-promptly"),
	    HTEST(test_closing_done_stops_the_follower_waiting_for_its_file, L03 "#stopping-promptly"),
	    HTEST(test_closing_done_stops_a_follower_with_a_backlog, L03 "#stopping-promptly"),
	    HTEST(test_closing_done_loses_no_line_of_a_read_in_hand, L03 "#stopping-promptly"),
	    HTEST(test_follower_stops_its_watch_when_it_stops, L03 "#the-follow-loop"),
	    HTEST(test_follower_stops_its_watch_when_stopped_before_its_file_appears, L03 "#the-follow-loop"),
	    HTEST(test_follower_sees_a_late_file_by_its_watch_not_its_poll,
		  L03 "#waking-on-inotify-and-why-poll-as-well"),
	};
	return harness_main(argc, argv, "03-tailer", tests, HARNESS_COUNT(tests));
}
