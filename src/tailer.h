/*
 * tailer.h - lesson 03: where lines come from. A tailer is the pipeline's
 * source: a thread that sends struct line * (see line.h) on its output
 * channel until it is told to stop, and then closes that channel, which
 * shuts the rest of the pipeline down in order.
 *
 * Two sources behind one contract:
 *   - the simulator makes realistic JSON log lines at a given rate and
 *     level mix; seeded, so a test gets the same lines every time;
 *   - the file follower behaves like `tail -F`: it starts at the end of
 *     the file (or its beginning), emits a line only once its newline has
 *     arrived, follows the file when it is truncated in place (copytruncate)
 *     or renamed away and recreated (rotation), and waits for a file that
 *     does not exist yet or disappears for a while. When the path names a
 *     new file it opens it at once and reads it, while the renamed file
 *     drains alongside until it has been quiet for rotate_wait_ms (a
 *     writer may append to it until it reopens its log). Order: a line
 *     written to the old file before a line of the new one was written
 *     is sent first; the old file's unfinished last line is sent when the
 *     old file is let go. Where the platform has inotify the follower
 *     wakes on the directory's events, and polls as well; elsewhere it
 *     polls only. What remains lost: a file created and renamed away
 *     entirely between two looks at the path (lessons/03-tailer).
 * What counts as a line: the bytes before a '\n', without a trailing '\r';
 * a partial line flushed at the end loses a trailing '\r' like any other.
 * Blank lines (empty, or only spaces, tabs and '\r's: line_is_blank) are
 * skipped and counted nowhere. Too long, one rule: whether a line is too
 * long is decided on its length without the trailing '\r' (a line of
 * max_line bytes and its "\r\n" is fine); a line over max_line is not
 * split and not emitted as text, but as one line_new_too_long marker
 * whose length counts every byte before the '\n', a '\r' included; the
 * rest of it is skipped through its newline. Length is decided first: a
 * line over max_line made only of blanks is a marker too (its bytes were
 * dropped unseen, as any too-long line's are).
 */
#ifndef TAILER_H
#define TAILER_H

#include "channel.h"
#include "line.h"
#include "log_entry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#define TAILER_DEFAULT_MAX_LINE (64 * 1024)
#define TAILER_DEFAULT_POLL_MS 100
/* The most lines a tailer keeps before it sends them (cfg.batch). */
#define TAILER_MAX_BATCH 256

/* snippet: config */
struct tailer_config {
	/* the file follower (path != NULL) */
	const char *path;
	int from_start;  /* 1: read what the file holds first; 0: start at its end */
	int stop_at_eof; /* 1: stop at the end of the file instead of following (--once) */
	long poll_ms;    /* at the end of the file, look again after this long;
	                    0: TAILER_DEFAULT_POLL_MS */
	long rotate_wait_ms; /* after a rotation, read the old file until it was quiet
	                        this long (a writer may append until it reopens);
	                        0: poll_ms */
	size_t max_line; /* longest line, without its newline */
	size_t batch;    /* lines a send: 0 or 1, each line as soon as it is split;
	                    more, the lines of one read in one chan_send_many
	                    (lesson 11), up to batch at a time (a batch above
	                    TAILER_MAX_BATCH sends that many at a time) */
	/* the simulator (path == NULL) */
	double rate;                 /* lines per second; 0: as fast as the channel takes them */
	unsigned long long seed;     /* same seed, same lines */
	unsigned long long count;    /* stop after this many lines; 0: never */
	unsigned level_weights[LOG_LEVELS]; /* relative frequency of each level; all 0: a default mix */
};

/* The defaults above, with path NULL (the simulator at 100 lines/s). */
struct tailer_config tailer_config_default(void);
/* end snippet */

/* snippet: run */
/* Counters the tailer keeps while it runs; read them at any time. */
struct tailer_stats {
	atomic_ullong lines;       /* lines sent (too-long markers included); a batched
	                              tailer counts a batch once all of it is in out */
	atomic_ullong too_long;    /* of which too-long markers */
	atomic_ullong bytes;       /* bytes read from the file so far, each read's added once
	                              the lines it completed are sent: whoever sees the
	                              count finds those lines in out */
	atomic_ullong rotations;   /* the path was renamed away and recreated */
	atomic_ullong truncations; /* the file shrank under us (copytruncate) */
};

struct tailer {
	struct tailer_config cfg;
	struct chan *out;  /* of struct line *; closed by the tailer when it stops */
	struct chan *done; /* closed by someone else to ask the tailer to stop (a message
	                      on it asks as well); may be NULL */
	struct tailer_stats stats;
	/* Several tailers may send on one out (one per file: fan-in). Then
	 * they share this counter, set to their number before any starts,
	 * and the last one to finish closes out, as a stage runner's last
	 * worker does (stage.h). NULL: this tailer alone closes out. */
	atomic_size_t *running;
	/* With cfg.batch > 1, the lines tailer_emit has split and not sent yet
	 * (the tailer's thread alone: tailer_flush sends them). */
	struct line *kept[TAILER_MAX_BATCH];
	size_t nkept;
};

/*
 * A thread function: arg is a struct tailer *. Sends lines on out until
 * done is closed, the simulator's count is reached, the file ends in
 * stop_at_eof mode, or out is closed under it; then closes out (the last
 * of a group does: see running) and returns NULL. It waits on done with a
 * deadline and nowhere else but in sending (chan_send, or chan_send_many
 * for a batched tailer's tailer_flush): the simulator until its next
 * line is due, the follower in follower_pause (a select on done and the
 * watch's wake); without done, it sleeps. The follower also checks done
 * after each read's lines are sent: once asked, it reads nothing more,
 * loses no byte it read (stats.bytes counts them all), and each open
 * file's unfinished last line is flushed. A send on a full out does
 * not watch done: the stages downstream drain out until it closes (lesson
 * 13's pipeline_cancel closes it, and the blocked send answers CHAN_CLOSED).
 */
void *tailer_run(void *arg);
/* end snippet */

/* snippet: group */
/*
 * Several files, one stream of lines: one tailer thread per file, all
 * sending on the same out (fan-in), and the group's own thread, which
 * finds the files and starts their tailers. Given, in src/lib/tailer_group.c.
 *
 * patterns are paths or glob(3) patterns such as "/var/log/app/?*.log". A path
 * is followed even while it does not exist (its tailer waits for it); a
 * pattern is looked up again every poll interval, and a file that starts
 * matching gets a tailer of its own, reading it from its start (all of it
 * was written after we began). Each tailer follows its file's rotation
 * and truncation on its own. A file is followed by its path: pick a
 * pattern that the rotated names do not match (app.log.1 for *.log), or
 * the renamed file would be followed, and counted, a second time.
 *
 * Who closes out: the tailers share `running`, counting the group's
 * thread as one more; the last to finish closes out, so no tailer closes
 * it while another may still send, or while the group may still start
 * one. The group's thread returns once every tailer it started has
 * returned; it stops looking when done is closed (or, in stop_at_eof
 * mode, after its first look).
 */
#define TAILER_GROUP_MAX 64

struct tailer_group {
	/* Set by the caller before the thread starts: */
	struct tailer_config cfg;    /* every tailer's; cfg.path is ignored with patterns */
	const char *const *patterns; /* npatterns paths or patterns; 0: cfg alone (its path,
					or the simulator) */
	size_t npatterns;
	struct chan *out;  /* of struct line *; closed by the last to finish */
	struct chan *done; /* closed to stop every tailer and the group */
	/* The group's own: */
	pthread_mutex_t mu; /* protects n, and tailers[i].cfg.path while it is added */
	size_t n;           /* tailers started */
	struct tailer tailers[TAILER_GROUP_MAX];
	char *paths[TAILER_GROUP_MAX]; /* each tailer's path (the group's copy) */
	pthread_t threads[TAILER_GROUP_MAX];
	atomic_size_t running;
	atomic_ullong unfollowed; /* at the last look, files not followed (TAILER_GROUP_MAX
				     reached, or a tailer could not start) */
};

/* Sets the caller's fields and readies the group's own. Before the thread.
 * out is never NULL: a group whose out is NULL (zeroed) is one never
 * readied. */
void tailer_group_init(struct tailer_group *g, const struct tailer_config *cfg, const char *const *patterns,
		       size_t npatterns, struct chan *out, struct chan *done);

/* The group's thread: arg is the struct tailer_group *. Returns NULL once
 * every tailer it started has returned. */
void *tailer_group_run(void *arg);

/* The sum of every tailer's counters, at any time from any thread. */
void tailer_group_stats(struct tailer_group *g, struct tailer_stats *sum);

/* Tailer i (its cfg.path and stats; i from 0), or NULL past the last one
 * started. The tailer stays where it is until tailer_group_free. */
struct tailer *tailer_group_at(struct tailer_group *g, size_t i);

/* Frees what the group allocated: after its thread returned, or on a
 * group whose thread never started. Only on a group tailer_group_init
 * readied: a group never initialised (zeroed) holds no mutex to destroy,
 * and must not be passed here. */
void tailer_group_free(struct tailer_group *g);
/* end snippet */

/* ---- the pieces the tailer is built from (each tested on its own) ------ */
/* (The follower's own pieces, and its state, are in follower.h: lesson
 * 03's internal contract, which the rest of the pipeline never includes.) */

/* snippet: splitter */
/*
 * A line splitter: bytes in, lines out. It keeps the partial line that has
 * no newline yet, and skips over a line that is too long.
 */
struct line_splitter {
	char *buf;        /* the partial line so far */
	size_t len, cap;
	size_t max_line;
	int skipping;     /* 1: inside a too-long line, dropping bytes up to '\n' */
	size_t skipped;   /* bytes of that line so far */
};

/* emit gets each line (ownership with it) and returns 0, or -1 to stop. */
typedef int (*line_emit_fn)(void *ctx, struct line *line);

void splitter_init(struct line_splitter *s, size_t max_line);
void splitter_free(struct line_splitter *s);

/* Feeds n bytes. Returns 0, or -1 if emit returned -1 or memory ran out. */
int splitter_feed(struct line_splitter *s, const char *data, size_t n, line_emit_fn emit, void *ctx);

/* The file ended for good (rotation, truncation, stop): a partial line
 * left in the buffer is emitted as a line (if not blank) and the splitter
 * starts afresh. Returns 0 or -1 like splitter_feed. */
int splitter_flush(struct line_splitter *s, line_emit_fn emit, void *ctx);
/* end snippet */

/* snippet: follow-check */
/* What stat(path) says about the file we have open, at its end. */
enum follow_change {
	FOLLOW_SAME,      /* nothing changed: wait and read again */
	FOLLOW_MISSING,   /* the path does not exist (now) */
	FOLLOW_ROTATED,   /* the path is another file (another inode or device) */
	FOLLOW_TRUNCATED, /* the same file, shorter than our offset */
};

/* Compares stat(path) with the open file (dev, ino) read up to offset. */
enum follow_change follow_check(const char *path, dev_t dev, ino_t ino, off_t offset);
/* end snippet */

/* snippet: watch */
/*
 * Waking on inotify (Linux; given, in src/lib/follow_watch.c). A thread reads the events
 * of the directory that holds the followed path (a file created or moved
 * into it, a file in it written or truncated) and turns each batch into
 * one message on wake, a channel of capacity 1: a wake that finds one
 * already waiting merges with it, so the events can never block the
 * thread or pile up. The follower selects on done and wake (lesson 02)
 * where it would only wait on done, and still looks at the path after
 * each poll interval: inotify drops events when its queue overflows and
 * never sees writes made over NFS, or to a file renamed to another
 * directory.
 */
struct follow_watch {
	int fd;            /* the inotify instance; -1 without one */
	int stop[2];       /* a pipe: closing stop[1] ends the thread */
	struct chan *wake; /* of a dummy pointer; NULL without inotify */
	pthread_t thread;
};

/* Starts watching the directory of path. 0, or -1 if the platform has no
 * inotify or the directory cannot be watched now: then w->wake is NULL
 * and the follower polls only (at poll_ms, as without inotify). */
int follow_watch_start(struct follow_watch *w, const char *path);

/* Ends the thread and frees what start made. Harmless after a failed start. */
void follow_watch_stop(struct follow_watch *w);
/* end snippet */

/* snippet: simulate */
/*
 * The simulator's next line, as a new NUL-terminated string (the caller
 * frees it), for line number n (0, 1, ...), drawn from *state (a PRNG state
 * seeded with cfg->seed; never 0). Always one JSON object on one line with
 * "ts", "level", "service", "msg" and, for most lines, "latency_ms".
 */
char *simulate_line(const struct tailer_config *cfg, unsigned long long *state, unsigned long long n);
/* end snippet */

#endif
