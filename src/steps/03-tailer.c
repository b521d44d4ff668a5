/*
 * 03-tailer - the lesson 03 program: a `tail -F` or a log simulator,
 * printing the lines the tailer sends, then its counters.
 *
 *   03-tailer --file PATH [--from-start] [--once] [--poll-ms N] [--max-line N]
 *   03-tailer --simulate [--rate N] [--seed N] [--count N]
 *
 * It runs until the source ends (--once, --count) or until SIGINT or
 * SIGTERM. The signal handler only writes a byte to a pipe; a watcher
 * thread reads it and closes `done`. Channel calls take a mutex, and a
 * signal handler that interrupted a thread holding that mutex would wait
 * for itself forever: nothing but async-signal-safe calls (write) belongs
 * in a handler.
 *
 * smoke: --simulate --count 200 --rate 0
 * smoke: --simulate --count 200 --rate 0 --levels 0,0,10,0,85,5
 * smoke: --file tests/data/sample.log --from-start --once
 */
#include "args.h"
#include "channel.h"
#include "clock.h"
#include "tailer.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LESSON "lessons/03-tailer/README.md"

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	char byte = 's';
	if (write(signal_pipe[1], &byte, 1) < 0) {
		/* the pipe is full: a stop request is already on its way */
	}
	errno = saved;
}

struct watcher {
	struct chan *done;
	atomic_int stop_requested; /* 1 once a signal asked us to stop */
};

/* Waits for a byte on the pipe: 's' from the handler means "stop", 'q'
 * from main means "the program is over anyway". */
static void *watch_signals(void *arg)
{
	struct watcher *w = arg;
	char byte = 0;
	ssize_t n;
	while ((n = read(signal_pipe[0], &byte, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 && byte == 's') {
		/* A second Ctrl-C ends the program the hard way. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		atomic_store(&w->stop_requested, 1);
		chan_close(w->done);
	}
	return NULL;
}

static int install_handlers(void)
{
	if (pipe(signal_pipe) != 0)
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
		return -1;
	return 0;
}

static void usage(FILE *to, const char *prog)
{
	fprintf(to,
		"usage: %s --file PATH [--from-start] [--once] [--poll-ms N] [--max-line N]\n"
		"       %s --simulate [--rate N] [--seed N] [--count N] [--levels T,D,I,W,E,F]\n",
		prog, prog);
}

static void help(const char *prog)
{
	usage(stdout, prog);
	printf("Prints each line the tailer sends (a too-long line as \"[too long: N bytes]\"),\n"
	       "then its counters. --once stops at the end of the file; otherwise it follows the\n"
	       "file like tail -F until Ctrl-C. The simulator makes JSON log lines, N per second\n"
	       "(--rate 0: as fast as they are printed), the same ones for the same --seed.\n"
	       "--levels gives the weight of each level, trace to fatal (0,0,10,0,85,5: an\n"
	       "outage, 90%% errors); the default is the simulator's own mix.\n");
}

static int bad_args(const char *prog, const char *why, const char *what)
{
	fprintf(stderr, "%s: %s%s\n", prog, why, what != NULL ? what : "");
	usage(stderr, prog);
	return 2;
}

struct options {
	struct tailer_config cfg;
	int simulate;
};

/* --levels T,D,I,W,E,F: six whole numbers, the weight of each level, into
 * level_weights. 0, or -1 if the text is not exactly that. */
static int parse_levels(const char *text, unsigned weights[LOG_LEVELS])
{
	char copy[128];
	if (strlen(text) >= sizeof(copy))
		return -1;
	strcpy(copy, text);
	char *save = NULL;
	char *field = strtok_r(copy, ",", &save);
	for (int i = 0; i < LOG_LEVELS; i++) {
		unsigned long long v;
		if (field == NULL || arg_whole(field, 0, 1000000, &v) != 0)
			return -1;
		weights[i] = (unsigned)v;
		field = strtok_r(NULL, ",", &save);
	}
	return field == NULL ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_POLL = 256, OPT_MAXLINE, OPT_LEVELS };
	static const struct option longopts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"from-start", no_argument, NULL, 's'},
	    {"once", no_argument, NULL, 'o'},
	    {"simulate", no_argument, NULL, 'S'},
	    {"rate", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 'e'},
	    {"count", required_argument, NULL, 'c'},
	    {"poll-ms", required_argument, NULL, OPT_POLL},
	    {"max-line", required_argument, NULL, OPT_MAXLINE},
	    {"levels", required_argument, NULL, OPT_LEVELS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *prog = argv[0];
	o->cfg = tailer_config_default();
	o->simulate = 0;
	int c;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->cfg.path = optarg;
			break;
		case 's':
			o->cfg.from_start = 1;
			break;
		case 'o':
			o->cfg.stop_at_eof = 1;
			break;
		case 'S':
			o->simulate = 1;
			break;
		case 'r':
			if (arg_decimal(optarg, 0, HUGE_VAL, &o->cfg.rate) != 0)
				return bad_args(prog, "--rate wants a number of lines per second >= 0, not ",
						optarg);
			break;
		case 'e':
			if (arg_whole(optarg, 0, ULLONG_MAX, &o->cfg.seed) != 0)
				return bad_args(prog, "--seed wants a whole number, not ", optarg);
			break;
		case 'c':
			if (arg_whole(optarg, 0, ULLONG_MAX, &o->cfg.count) != 0)
				return bad_args(prog, "--count wants a whole number, not ", optarg);
			break;
		case OPT_POLL:
			if (arg_whole(optarg, 1, 3600000, &v) != 0)
				return bad_args(prog, "--poll-ms wants milliseconds from 1 to 3600000, not ",
						optarg);
			o->cfg.poll_ms = (long)v;
			break;
		case OPT_MAXLINE:
			if (arg_whole(optarg, 1, SIZE_MAX, &v) != 0)
				return bad_args(prog, "--max-line wants a number of bytes >= 1, not ",
						optarg);
			o->cfg.max_line = (size_t)v;
			break;
		case OPT_LEVELS:
			if (parse_levels(optarg, o->cfg.level_weights) != 0)
				return bad_args(
				    prog,
				    "--levels wants six weights, trace to fatal, like 0,5,65,20,9,1, not ",
				    optarg);
			break;
		case 'h':
			help(prog);
			exit(0);
		default:
			usage(stderr, prog);
			return 2;
		}
	}
	if (optind < argc)
		return bad_args(prog, "unexpected argument: ", argv[optind]);
	if (o->simulate == (o->cfg.path != NULL))
		return bad_args(prog, "give either --file PATH or --simulate", NULL);
	return 0;
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

/* The emit of the probe below: counts lines and frees them. */
static int count_line(void *ctx, struct line *line)
{
	(*(int *)ctx)++;
	line_free(line);
	return 0;
}

/*
 * Before starting, try the lesson's functions that can be tried alone, so
 * that a stub is named at once instead of producing an empty run. Returns
 * 0 if they answer, 1 (after saying which one does not) otherwise.
 */
static int probe(const struct options *o)
{
	if (o->simulate)
		return 0; /* the simulator is given (src/lib/simulate.c) */
	struct line_splitter s;
	int lines = 0;
	splitter_init(&s, 64);
	int rc = splitter_feed(&s, "probe\n", 6, count_line, &lines);
	splitter_free(&s);
	if (rc != 0 || lines != 1) {
		fprintf(stderr, "splitter_feed does not split \"probe\\n\" into one line: write it first "
				"(see " LESSON ")\n");
		return 1;
	}
	return 0;
}

/*
 * The tailer stops by itself only when its work is done. If it stopped
 * sooner, the likeliest reason is a function of the lesson that is still
 * a stub (its NOT IMPLEMENTED message is above). Returns 1 then.
 */
static int stopped_early(const struct options *o, const struct tailer *t, long long file_size)
{
	unsigned long long lines = atomic_load(&t->stats.lines);
	unsigned long long bytes = atomic_load(&t->stats.bytes);
	if (o->simulate && (o->cfg.count == 0 || lines < o->cfg.count)) {
		fprintf(stderr,
			"the simulator stopped after %llu lines, before it was asked to: "
			"is the lesson written? (see " LESSON ")\n",
			lines);
		return 1;
	}
	if (!o->simulate && !o->cfg.stop_at_eof) {
		fprintf(stderr,
			"the follower stopped by itself: is tailer_follow written? (see " LESSON ")\n");
		return 1;
	}
	if (!o->simulate && o->cfg.from_start && file_size >= 0 && bytes < (unsigned long long)file_size) {
		fprintf(stderr,
			"read %llu of the file's %lld bytes: is tailer_follow written? (see " LESSON ")\n",
			bytes, file_size);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc;
	if (probe(&o) != 0)
		return 1;
	long long file_size = -1;
	if (o.cfg.path != NULL) {
		struct stat st;
		if (stat(o.cfg.path, &st) == 0) {
			file_size = (long long)st.st_size;
		} else if (o.cfg.stop_at_eof) {
			fprintf(stderr, "%s: %s: %s\n", argv[0], o.cfg.path, strerror(errno));
			return 1;
		} else {
			fprintf(stderr, "waiting for %s to appear...\n", o.cfg.path);
		}
	}

	struct tailer t = {.cfg = o.cfg};
	t.out = chan_new(64);
	t.done = chan_new(1);
	if (t.out == NULL || t.done == NULL) {
		fprintf(stderr, "chan_new failed: is lesson 01 in place? (%s)\n", strerror(errno));
		return 1;
	}
	struct watcher w = {.done = t.done, .stop_requested = 0};
	pthread_t watcher_tid, tailer_tid;
	if (install_handlers() != 0 || pthread_create(&watcher_tid, NULL, watch_signals, &w) != 0) {
		fprintf(stderr, "cannot set up the signal handling: %s\n", strerror(errno));
		return 1;
	}
	struct timespec start = clock_now();
	if (pthread_create(&tailer_tid, NULL, tailer_run, &t) != 0) {
		fprintf(stderr, "cannot start the tailer thread\n");
		return 1;
	}
	print_lines(t.out);
	pthread_join(tailer_tid, NULL);

	/* Tell the watcher the program is over, unless a signal already did. */
	char quit = 'q';
	if (write(signal_pipe[1], &quit, 1) < 0)
		perror("write");
	pthread_join(watcher_tid, NULL);

	fflush(stdout);
	fprintf(stderr, "%.2f s: %llu lines (%llu too long), %llu bytes, %llu rotations, %llu truncations\n",
		clock_seconds_since(&start), (unsigned long long)atomic_load(&t.stats.lines),
		(unsigned long long)atomic_load(&t.stats.too_long),
		(unsigned long long)atomic_load(&t.stats.bytes),
		(unsigned long long)atomic_load(&t.stats.rotations),
		(unsigned long long)atomic_load(&t.stats.truncations));
	int early = !atomic_load(&w.stop_requested) && stopped_early(&o, &t, file_size);
	chan_free(t.out);
	chan_free(t.done);
	return early ? 1 : 0;
}
