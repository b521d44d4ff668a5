/*
 * tailer.c - lesson 03: the tailer thread, a `tail -F` or a simulator
 * behind one contract (src/tailer.h).
 *
 * Given here: the defaults, tailer_emit and tailer_flush (the functions
 * that send lines downstream, used by the follower and the simulator
 * alike) and
 * tailer_run, which picks the source and closes `out` at the end,
 * whatever made the source stop. Yours: follow_check. The follower is in
 * follower.c (its pieces in src/follower.h), the line splitter in
 * splitter.c, the simulator (given) in src/lib/simulate.c, the inotify
 * watch (given) in src/lib/follow_watch.c.
 */
#include "batch.h"
#include "follower.h"
#include "notimpl.h"
#include "tailer.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>

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
	if (t->cfg.batch > 1) {
		t->kept[t->nkept++] = line;
		return t->nkept < t->cfg.batch && t->nkept < TAILER_MAX_BATCH ? 0 : tailer_flush(t);
	}
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

/*
 * One channel operation for the lines of a read, where tailer_emit would
 * take out's lock once a line: with two parser workers on two cores that
 * lock's cache line crossed between the cores a million times for a
 * million lines (docs/benchmarks.md). The markers are counted before the
 * send, since the lines are the receiver's after it; what out refused is
 * still ours, and taken back off that count.
 */
int tailer_flush(struct tailer *t)
{
	size_t n = t->nkept, sent = 0;
	if (n == 0)
		return 0;
	unsigned long long too_long = 0;
	for (size_t i = 0; i < n; i++)
		too_long += t->kept[i]->too_long != 0;
	t->nkept = 0;
	enum chan_status rc = chan_send_many(t->out, (void *const *)t->kept, n, &sent);
	for (size_t i = sent; i < n; i++) {
		too_long -= t->kept[i]->too_long != 0;
		line_free(t->kept[i]);
	}
	atomic_fetch_add(&t->stats.lines, sent);
	atomic_fetch_add(&t->stats.too_long, too_long);
	return rc == CHAN_OK ? 0 : -1;
}

/* The four cases of enum follow_change, from one stat. Tests: the four
 * test_follow_check_*. */
enum follow_change follow_check(const char *path, dev_t dev, ino_t ino, off_t offset)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)path;
	(void)dev;
	(void)ino;
	(void)offset;
	NOT_IMPLEMENTED("follow_check", "lessons/03-tailer/README.md#follow_check");
	return FOLLOW_MISSING;
}

void *tailer_run(void *arg)
{
	struct tailer *t = arg;
	t->nkept = 0;
	if (t->cfg.path != NULL)
		tailer_follow(t);
	else
		tailer_simulate(t);
	/* What a batched tailer still keeps (the simulator at rate 0 ends
	 * with a part of a batch; a source that stopped at an error may too)
	 * goes now, before out is closed. */
	tailer_flush(t);
	/* Closing out is how the stages downstream learn that no line will
	 * ever come again. If someone closed it already, this says
	 * CHAN_CLOSED, which is fine. Of several tailers sharing out, only
	 * the last to finish may close it: the others may still be sending. */
	if (t->running == NULL || atomic_fetch_sub(t->running, 1) == 1)
		chan_close(t->out);
	return NULL;
}
