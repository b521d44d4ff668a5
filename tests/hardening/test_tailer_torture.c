/*
 * Hardening: the file follower (lesson 03) against a writer at full
 * speed while the file is rotated under it. Not part of any lesson's
 * grade: `make check` runs this suite against the reference.
 *
 * The writer appends numbered lines ("n=123") as fast as write(2) goes.
 * The follower's lines are checked as they arrive: each number must be
 * the one after the last, so a line lost, repeated, reordered or torn is
 * caught at the line where it happens.
 */
#include "harness.h"
#include "line.h"
#include "pipeline.h"
#include "tailer.h"

#include "chan_testing.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOC "docs/hardening.md"

static char dir[64];
static char path[96], rotated[96];

static void cleanup(void)
{
	unlink(path);
	unlink(rotated);
	rmdir(dir);
}

static void make_dir(void)
{
	strcpy(dir, "/tmp/logpipe-torture-XXXXXX");
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	harness_at_end(cleanup);
	snprintf(path, sizeof(path), "%s/app.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/app.log.1", dir);
}

static int open_log(void)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	return fd;
}

static void write_line(int fd, long n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "n=%ld\n", n);
	if (write(fd, buf, (size_t)len) != len)
		fail_msg("write: %s", strerror(errno));
}

/* What the reader has seen: the next number it expects. */
static atomic_long next_expected;

/* Waits (with the harness's deadline) until the reader expects n. */
static void wait_reader_reaches(long n)
{
	struct timespec deadline = deadline_after_ms(harness_wait_ms());
	while (atomic_load(&next_expected) < n) {
		if (deadline_passed(&deadline))
			fail_msg("the follower stopped at line %ld; the writer is at %ld", atomic_load(&next_expected),
				 n);
		struct timespec t = {0, 1000000};
		nanosleep(&t, NULL);
	}
}

enum rotation { BY_RENAME, BY_COPYTRUNCATE };

struct writer {
	enum rotation how;
	long lines, every;
	long window; /* lines written to the old file during a rotation */
	struct tailer *t;
	long rotations; /* made so far */
};

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (in < 0 || out < 0)
		fail_msg("copy %s: %s", from, strerror(errno));
	char buf[65536];
	ssize_t r;
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r)
			fail_msg("copy: %s", strerror(errno));
	close(in);
	close(out);
}

static void wait_truncations(struct tailer *t, unsigned long long n)
{
	struct timespec deadline = deadline_after_ms(harness_wait_ms());
	while (atomic_load(&t->stats.truncations) < n) {
		if (deadline_passed(&deadline))
			fail_msg("the follower did not notice truncation %llu of the file", n);
		struct timespec pause = {0, 1000000};
		nanosleep(&pause, NULL);
	}
}

/*
 * Rotation by rename: app.log becomes app.log.1 (replacing the last one),
 * the writer goes on appending `window` lines to the renamed file (as a
 * program does until it reopens its log), then opens a new app.log.
 *
 * Rotation by copytruncate: app.log is copied to app.log.1, the writer
 * appends `window` lines, and app.log is truncated to 0: those lines are
 * in neither file. That loss is copytruncate's, not the follower's; the
 * follower may still have read some of them before the truncate.
 *
 * One rotation is in flight at a time: before the next one the writer
 * waits until the follower has reached the current file (rename) or has
 * read everything and noticed the last truncation (copytruncate). With
 * logrotate, rotations are hours apart and the follower polls every few
 * milliseconds; two rotations before the follower looks again would skip
 * a whole file under any follower that goes by name, tail -F included.
 */
static void *write_lines(void *arg)
{
	struct writer *w = arg;
	int fd = open_log();
	long first_of_file = 0;
	unsigned long long truncations = 0;
	for (long n = 0; n < w->lines;) {
		if (n > 0 && n % w->every == 0 && n + w->window < w->lines) {
			if (w->how == BY_RENAME) {
				wait_reader_reaches(first_of_file + 1);
				if (rename(path, rotated) != 0)
					fail_msg("rename: %s", strerror(errno));
				for (long k = 0; k < w->window; k++)
					write_line(fd, n++);
				close(fd);
				fd = open_log();
				first_of_file = n;
				w->rotations++;
			} else {
				wait_reader_reaches(n);
				copy_file(path, rotated);
				for (long k = 0; k < w->window; k++)
					write_line(fd, n++);
				if (truncate(path, 0) != 0)
					fail_msg("truncate: %s", strerror(errno));
				wait_truncations(w->t, ++truncations);
				w->rotations++;
			}
		}
		write_line(fd, n++);
	}
	close(fd);
	return NULL;
}

/* Gaps that did not start and end at a file's edge (allow_gaps > 1). */
static long gaps_cut_files;

/* Receives lines until `want` numbers were seen or the deadline passes.
 * Returns the numbers skipped (lost); fails at once on a repeat, a
 * reordering or a torn line. allow_gaps: 0, none; 1, any; more, only
 * whole files of that many lines (counted in gaps_cut_files). */
static long read_lines(struct tailer *t, long want, long allow_gaps)
{
	long lost = 0;
	struct timespec deadline = deadline_after_ms(harness_wait_ms());
	while (atomic_load(&next_expected) < want) {
		void *msg;
		enum chan_status rc = chan_recv_timed(t->out, &msg, 50);
		if (rc == CHAN_TIMEOUT) {
			if (deadline_passed(&deadline))
				fail_msg("after %ld ms the follower had delivered up to line %ld of %ld", harness_wait_ms(),
					 atomic_load(&next_expected), want);
			continue;
		}
		if (rc != CHAN_OK)
			fail_msg("the follower closed its channel at line %ld of %ld", atomic_load(&next_expected), want);
		struct line *l = msg;
		char *end;
		long got = strncmp(l->text, "n=", 2) == 0 ? strtol(l->text + 2, &end, 10) : -1;
		long exp = atomic_load(&next_expected);
		if (got < 0 || *end != '\0')
			fail_msg("a torn or foreign line after line %ld: \"%.40s\"", exp - 1, l->text);
		if (got < exp)
			fail_msg("line %ld came again (or out of order) after line %ld", got, exp - 1);
		if (got > exp && !allow_gaps)
			fail_msg("lines %ld to %ld were lost (the next line that came was %ld)", exp, got - 1, got);
		if (got > exp && allow_gaps > 1 && (exp % allow_gaps != 0 || got % allow_gaps != 0))
			gaps_cut_files++;
		lost += got - exp;
		line_free(l);
		atomic_store(&next_expected, got + 1);
	}
	return lost;
}

/* A follower of path from its start, polling every 10 ms, ready to run. */
static void follower_init(struct tailer *t, long rotate_wait_ms)
{
	memset(t, 0, sizeof(*t));
	t->cfg = tailer_config_default();
	t->cfg.path = path;
	t->cfg.from_start = 1;
	t->cfg.poll_ms = 10;
	t->cfg.rotate_wait_ms = rotate_wait_ms;
	t->out = chan_new_or_fail(256);
	t->done = chan_new_or_fail(0);
}

/* Once the writer has finished: stops the follower and drains its out. */
static void follower_stop(struct tailer *t, struct harness_thread *tt, struct harness_thread *wt)
{
	if (!harness_thread_join_within(wt, harness_wait_ms()))
		fail_msg("the writer did not finish");
	assert_chan_status(chan_close(t->done), CHAN_OK);
	void *msg;
	while (chan_recv(t->out, &msg) == CHAN_OK) /* until the tailer closes out */
		line_free(msg);
	if (!harness_thread_join_within(tt, harness_wait_ms()))
		fail_msg("the follower did not stop after done was closed");
}

static void run(enum rotation how, long lines, long every, int allow_gaps, const char *what)
{
	make_dir();
	int fd = open_log(); /* the file exists before the follower starts */
	close(fd);
	struct tailer t;
	follower_init(&t, 0);
	struct harness_thread tt, wt;
	struct writer w = {.how = how, .lines = lines, .every = every, .window = 500, .t = &t};
	harness_thread_start(&tt, tailer_run, &t);
	harness_thread_start(&wt, write_lines, &w);
	harness_on_hang(what);
	long lost = read_lines(&t, lines, allow_gaps);
	follower_stop(&t, &tt, &wt);
	unsigned long long rotations = atomic_load(&t.stats.rotations);
	unsigned long long truncations = atomic_load(&t.stats.truncations);
	print_message("# %s: %ld lines, %llu rotations, %llu truncations seen, %ld lines lost\n",
		      how == BY_RENAME ? "rename" : "copytruncate (500 lines written inside each window)", lines,
		      rotations, truncations, lost);
	long rotations_made = w.rotations;
	if (how == BY_RENAME && rotations != (unsigned long long)rotations_made)
		fail_msg("%llu rotations counted, %ld happened", rotations, rotations_made);
	if (how == BY_COPYTRUNCATE && truncations != (unsigned long long)rotations_made)
		fail_msg("%llu truncations counted, %ld happened", truncations, rotations_made);
	if (lost > rotations_made * w.window)
		fail_msg("%ld lines lost, more than the %ld written inside copytruncate's windows", lost,
			 rotations_made * w.window);
	chan_free(t.out);
	chan_free(t.done);
}

static void test_rename_rotation_under_a_full_speed_writer_loses_nothing(void **state)
{
	(void)state;
	run(BY_RENAME, harness_scale(200000), harness_scale(20000), 0,
	    "rename rotation: the follower must drain the renamed file, then open the new one");
}

/*
 * copytruncate cannot be lossless: what the writer appends between the
 * copy and the truncate is in neither file, and what the follower had
 * not read yet of the truncated part is gone too. The test asks for what
 * can be asked: no line twice, none torn, order kept; the loss is printed.
 */
static void test_copytruncate_under_a_full_speed_writer_repeats_nothing(void **state)
{
	(void)state;
	run(BY_COPYTRUNCATE, harness_scale(200000), harness_scale(20000), 1,
	    "copytruncate: the follower must notice the file shrank and start over at 0");
}

/* ---- rotation at speed ------------------------------------------------------ */

/*
 * Files rotated every 20 ms, by a writer that never waits for the
 * follower: it creates app.log, fills it with `lines` numbered lines,
 * renames it away once 20 ms have passed since it was created, appends
 * `late` more lines to the renamed file (it has not reopened yet), and
 * starts the next file. The follower goes by name, so a file created and
 * renamed away entirely between two of its looks at the path is never
 * seen: that is the window that remains (lessons/03-tailer, "Rotation at
 * speed"). What the test asks: every file the follower opened is read
 * whole, late lines included, in order, each line once; a file it missed
 * is missed whole, and the files it opened are the rotations it counted.
 * The loss is printed.
 */
struct fast_writer {
	long files, lines, late;
};

enum { FAST_EVERY_MS = 20 };

static void *write_fast(void *arg)
{
	struct fast_writer *w = arg;
	long n = 0;
	for (long k = 0; k < w->files; k++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			fail_msg("create %s: %s", path, strerror(errno));
		struct timespec rotate_at = deadline_after_ms(FAST_EVERY_MS);
		for (long i = 0; i < w->lines; i++)
			write_line(fd, n++);
		if (k == w->files - 1) { /* the last file stays */
			for (long i = 0; i < w->late; i++)
				write_line(fd, n++);
			close(fd);
			break;
		}
		/* The rotation's cadence, not a guess about the follower. */
		while (!deadline_passed(&rotate_at)) {
			struct timespec t = {0, 1000000};
			nanosleep(&t, NULL);
		}
		if (rename(path, rotated) != 0)
			fail_msg("rename: %s", strerror(errno));
		for (long i = 0; i < w->late; i++)
			write_line(fd, n++);
		close(fd);
	}
	return NULL;
}

static void test_rotation_every_20_ms_loses_only_whole_files_it_never_saw(void **state)
{
	(void)state;
	make_dir();
	struct fast_writer w = {.files = harness_scale(50), .lines = 400, .late = 20};
	long per_file = w.lines + w.late, total = w.files * per_file;
	struct tailer t;
	/* Late lines always come before the next file exists; a long wait
	 * keeps a slow follower from letting a renamed file go before them. */
	follower_init(&t, harness_wait_ms());
	struct harness_thread tt, wt;
	harness_thread_start(&tt, tailer_run, &t);
	harness_thread_start(&wt, write_fast, &w);
	harness_on_hang("rotation every 20 ms: the follower must open each new file at once");
	long lost = read_lines(&t, total, per_file), missed = 0;
	follower_stop(&t, &tt, &wt);
	missed = lost / per_file;
	unsigned long long rotations = atomic_load(&t.stats.rotations);
	print_message("# rotation every %d ms: %ld files of %ld lines, %ld missed whole (%ld lines), %llu "
		      "rotations followed\n",
		      FAST_EVERY_MS, w.files, per_file, missed, lost, rotations);
	if (lost % per_file != 0 || gaps_cut_files != 0)
		fail_msg("%ld lines lost, not whole files: a file the follower opened must be read to its end, "
			 "late lines included",
			 lost);
	if ((long)rotations + 1 != w.files - missed)
		fail_msg("the follower counted %llu rotations, but read %ld of %ld files", rotations,
			 w.files - missed, w.files);
	chan_free(t.out);
	chan_free(t.done);
}

/* ---- two files through the pipeline ------------------------------------------ */

static char other[96];

static void cleanup_other(void)
{
	unlink(other);
}

struct pipe_rotated {
	struct pipeline *p;
	unsigned long long want;
};

/* 1 once the first file's tailer has opened the file of rotation `want`
 * (for 0, the file that was there: it has read from it). */
static int rotated_to(void *arg)
{
	struct pipe_rotated *r = arg;
	struct tailer *t = tailer_group_at(&r->p->tailers, 0);
	return t != NULL && atomic_load(&t->stats.rotations) >= r->want && atomic_load(&t->stats.bytes) > 0;
}

static void write_json(int fd, const char *service, long n)
{
	char buf[96];
	int len = snprintf(buf, sizeof(buf), "{\"level\":\"info\",\"service\":\"%s\",\"msg\":\"n=%ld\"}\n", service, n);
	if (write(fd, buf, (size_t)len) != len)
		fail_msg("write: %s", strerror(errno));
}

static int all_read(void *arg)
{
	struct pipe_rotated *r = arg;
	return pipeline_lines_read(r->p) >= r->want;
}

/*
 * logpipe --file app.log --file other.log, as a pipeline: app.log is
 * rotated by rename every `every` lines while other.log grows line for
 * line beside it. Every line of both files is read once and accounted
 * for; each file's tailer counts its own rotations.
 */
static void test_two_files_one_rotating_one_growing_through_the_pipeline(void **state)
{
	(void)state;
	make_dir();
	snprintf(other, sizeof(other), "%s/other.log", dir);
	harness_at_end(cleanup_other);
	close(open_log());
	close(open(other, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	static struct pipeline p;
	struct pipeline_config cfg = pipeline_config_default();
	const char *files[] = {path, other};
	cfg.files = files;
	cfg.nfiles = 2;
	cfg.source.path = path;
	cfg.source.from_start = 1;
	cfg.source.poll_ms = 10;
	cfg.serve = 0;
	char err[256];
	if (pipeline_start(&p, &cfg, err, sizeof(err)) != 0)
		fail_msg("pipeline_start: %s", err);
	long lines = harness_scale(20000), every = lines / 10;
	int a = open_log(), b = open(other, O_WRONLY | O_APPEND | O_CLOEXEC);
	long rotations = 0;
	harness_on_hang("two files: each tailer must follow its own file");
	for (long n = 0; n < lines; n++) {
		if (n > 0 && n % every == 0) {
			/* One rotation in flight at a time: see write_lines. */
			struct pipe_rotated r = {&p, (unsigned long long)rotations};
			if (!harness_wait_until(rotated_to, &r))
				fail_msg("the first file's tailer did not open the file of rotation %ld", rotations);
			if (rename(path, rotated) != 0)
				fail_msg("rename: %s", strerror(errno));
			write_json(a, "app", n); /* into the renamed file */
			close(a);
			a = open_log();
			rotations++;
			continue;
		}
		write_json(a, "app", n);
		write_json(b, "other", n);
	}
	close(a);
	close(b);
	unsigned long long written = 2 * (unsigned long long)lines - (unsigned long long)rotations;
	struct pipe_rotated r = {&p, written};
	int ok = harness_wait_until(all_read, &r);
	pipeline_stop(&p);
	unsigned long long read = pipeline_lines_read(&p), accounted = pipeline_lines_accounted(&p);
	struct tailer *ta = tailer_group_at(&p.tailers, 0), *tb = tailer_group_at(&p.tailers, 1);
	unsigned long long ra = atomic_load(&ta->stats.rotations), rb = atomic_load(&tb->stats.rotations);
	print_message("# two files: %llu lines written, %llu read, %llu accounted; rotations %llu and %llu\n",
		      written, read, accounted, ra, rb);
	if (!ok || read != written)
		fail_msg("%llu lines written to the two files, %llu read", written, read);
	if (accounted != read)
		fail_msg("%llu lines read but %llu accounted for", read, accounted);
	if (ra != (unsigned long long)rotations || rb != 0)
		fail_msg("rotations counted %llu and %llu, made %ld and 0: each tailer counts its own file's", ra,
			 rb, rotations);
	pipeline_free(&p);
}

int main(int argc, char **argv)
{
	const struct harness_test tests[] = {
	    HTEST(test_rename_rotation_under_a_full_speed_writer_loses_nothing, DOC "#the-tailer"),
	    HTEST(test_copytruncate_under_a_full_speed_writer_repeats_nothing, DOC "#the-tailer"),
	    HTEST(test_rotation_every_20_ms_loses_only_whole_files_it_never_saw, DOC "#the-tailer"),
	    HTEST(test_two_files_one_rotating_one_growing_through_the_pipeline, DOC "#the-tailer"),
	};
	return harness_main(argc, argv, "hardening-tailer", tests, HARNESS_COUNT(tests));
}
