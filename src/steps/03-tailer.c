/*
 * 03-tailer - the lesson 03 program: a `tail -F` or a log simulator,
 * printing the lines the tailer sends, then its counters.
 *
 *   03-tailer --file PATH [--from-start] [--once] [--poll-ms N] [--max-line N]
 *   03-tailer --simulate [--rate N] [--seed N] [--count N]
 *
 * It runs until the source ends (--once, --count) or until SIGINT or
 * SIGTERM. The signal handler only writes a byte to a pipe (src/lib/
 * signals.c); a watcher thread waits on it and closes `done`. Channel
 * calls take a mutex, and a signal handler that interrupted a thread
 * holding that mutex would wait for itself forever: nothing but
 * async-signal-safe calls (write) belongs in a handler.
 *
 * smoke: --simulate --count 200 --rate 0
 * smoke: --simulate --count 200 --rate 0 --levels 0,0,10,0,85,5
 * smoke: --file tests/data/sample.log --from-start --once
 */
#include "args.h"
#include "channel.h"
#include "clock.h"
#include "notimpl.h"
#include "signals.h"
#include "tailer.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROG "03-tailer"

/* --levels T,D,I,W,E,F: six whole numbers, the weight of each level. */
static int take_levels(const char *text, void *dest)
{
	unsigned *weights = dest;
	for (int i = 0; i < LOG_LEVELS; i++) {
		size_t n = strcspn(text, ",");
		char field[16];
		unsigned long long v;
		if (n >= sizeof(field) || (text[n] == ',') != (i + 1 < LOG_LEVELS))
			return -1;
		memcpy(field, text, n);
		field[n] = '\0';
		if (arg_whole(field, 0, 1000000, &v) != 0)
			return -1;
		weights[i] = (unsigned)v;
		text += n + 1;
	}
	return 0;
}

/* Waits for a signal; if one comes, the tailer is told to stop. */
static void *watch_signals(void *done)
{
	if (signals_wait(0))
		chan_close(done);
	return NULL;
}

/* Receives and prints every line until the tailer closes out. */
static void print_lines(struct chan *out)
{
	void *msg;
	while (chan_recv(out, &msg) == CHAN_OK) {
		struct line *line = msg;
		if (line->too_long)
			printf("[too long: %zu bytes]\n", line->len);
		else
			printf("%s\n", line->text);
		line_free(line);
	}
}

static int parse_args(int argc, char **argv, struct tailer_config *cfg)
{
	static int simulate;
	static unsigned long long poll_ms, max_line;
	poll_ms = (unsigned long long)cfg->poll_ms;
	max_line = cfg->max_line;
	const struct arg_option options[] = {
	    ARG_TEXT_OPT("file", 0, &cfg->path, "PATH", "follow PATH like tail -F"),
	    ARG_FLAG_OPT("from-start", 0, &cfg->from_start, "read what the file holds first"),
	    ARG_FLAG_OPT("once", 0, &cfg->stop_at_eof, "stop at the end of the file"),
	    ARG_WHOLE_OPT("poll-ms", 0, &poll_ms, "N", "at the end of the file, look again after N ms", 1,
			  3600000),
	    ARG_WHOLE_OPT("max-line", 0, &max_line, "N", "longer lines are skipped, counted as too long", 1,
			  ARG_NO_MAX),
	    ARG_FLAG_OPT("simulate", 0, &simulate, "make JSON log lines instead"),
	    ARG_DECIMAL_OPT("rate", 0, &cfg->rate, "N", "N lines per second (0: as fast as they are printed)",
			    0, ARG_NO_MAX),
	    ARG_WHOLE_OPT("seed", 0, &cfg->seed, "N", "the same lines for the same seed", 0, ARG_NO_MAX),
	    ARG_WHOLE_OPT("count", 0, &cfg->count, "N", "stop after N lines (0: never)", 0, ARG_NO_MAX),
	    ARG_CUSTOM_OPT("levels", 0, cfg->level_weights, "T,D,I,W,E,F",
			   "the weight of each level, trace to fatal (0,0,10,0,85,5:\nan outage, 90% errors)",
			   take_levels, "six weights, trace to fatal, like 0,5,65,20,9,1"),
	    ARG_END};
	const struct arg_program prog = {
	    PROG,
	    "--file PATH [--from-start] [--once] [--poll-ms N] [--max-line N]\n"
	    "--simulate [--rate N] [--seed N] [--count N] [--levels T,D,I,W,E,F]",
	    "  Prints each line the tailer sends (a too-long line as \"[too long: N bytes]\"),\n"
	    "  then its counters, until the source ends or Ctrl-C.\n",
	    options};
	int rc = args_parse(&prog, argc, argv);
	if (rc < 0 && simulate == (cfg->path != NULL))
		rc = args_bad(&prog, "give either --file PATH or --simulate");
	cfg->poll_ms = (long)poll_ms;
	cfg->max_line = (size_t)max_line;
	return rc;
}

int main(int argc, char **argv)
{
	struct tailer t = {.cfg = tailer_config_default()};
	int rc = parse_args(argc, argv, &t.cfg);
	if (rc >= 0)
		return rc;
	if (t.cfg.path != NULL && access(t.cfg.path, F_OK) != 0) {
		if (t.cfg.stop_at_eof) {
			fprintf(stderr, PROG ": %s: %s\n", t.cfg.path, strerror(errno));
			return 1;
		}
		fprintf(stderr, "waiting for %s to appear...\n", t.cfg.path);
	}
	t.out = chan_new(64);
	t.done = chan_new(1);
	pthread_t watcher, tailer;
	if (t.out == NULL || t.done == NULL || signals_catch() != 0 ||
	    pthread_create(&watcher, NULL, watch_signals, t.done) != 0) {
		fprintf(stderr, PROG ": cannot set up: %s\n", strerror(errno));
		return 1;
	}
	struct timespec start = clock_now();
	if (pthread_create(&tailer, NULL, tailer_run, &t) != 0) {
		fprintf(stderr, PROG ": cannot start the tailer thread\n");
		return 1;
	}
	print_lines(t.out);
	pthread_join(tailer, NULL);
	signals_wake(); /* the program is over, unless a signal already said so */
	pthread_join(watcher, NULL);

	fflush(stdout);
	const struct tailer_stats *st = &t.stats;
	fprintf(stderr, "%.2f s: %llu lines (%llu too long), %llu bytes, %llu rotations, %llu truncations\n",
		clock_seconds_since(&start), (unsigned long long)atomic_load(&st->lines),
		(unsigned long long)atomic_load(&st->too_long), (unsigned long long)atomic_load(&st->bytes),
		(unsigned long long)atomic_load(&st->rotations),
		(unsigned long long)atomic_load(&st->truncations));
	chan_free(t.out);
	chan_free(t.done);
	return not_implemented_end(PROG);
}
