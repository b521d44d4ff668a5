/*
 * 04-parser.c - lesson 04's program: JSON log lines in, entries and parse
 * errors out, then a summary.
 *
 * It reads lines the way the tailer will hand them over (the newline and a
 * trailing '\r' dropped, blank lines skipped, a line over --max-line bytes
 * replaced by a too-long marker) and sends them to a parser stage running
 * on its own thread, as in the pipeline. A third thread plays the next
 * stage: it takes the entries and counts them by level. The summary comes
 * from the stage's counters and from that thread.
 *
 * To say what became of each line, with its number, the program also calls
 * parse_log_line on every line itself. The two paths must agree; if they
 * do not, the stage has a bug and the program says so.
 *
 *   04-parser --file tests/data/sample.log
 *   04-parser --quiet < some.log
 *
 * smoke: --file tests/data/sample.log --quiet
 */
#include "args.h"
#include "channel.h"
#include "line.h"
#include "log_entry.h"
#include "parser.h"
#include "print.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PROG		 "04-parser"
#define CHANNEL_CAP	 64
#define DEFAULT_MAX_LINE 65536

struct options {
	const char *path; /* NULL: stdin */
	int quiet;
	size_t max_line;
};

static void usage(FILE *to)
{
	fprintf(to, "usage: " PROG " [--file PATH] [--quiet] [--max-line BYTES]\n"
		    "  Parses JSON log lines (from PATH, or stdin) with lesson 04's parser and prints\n"
		    "  each entry or parse error with its line number, then a summary.\n"
		    "  -f, --file PATH       read PATH instead of stdin\n"
		    "  -q, --quiet           print the summary only\n"
		    "  -m, --max-line BYTES  longer lines count as too_long (default 65536)\n"
		    "  -h, --help            this text\n");
}

/* 0: go on; 1: --help was printed; 2: bad arguments (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"file", required_argument, NULL, 'f'},
					      {"quiet", no_argument, NULL, 'q'},
					      {"max-line", required_argument, NULL, 'm'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	*o = (struct options){NULL, 0, DEFAULT_MAX_LINE};
	opterr = 0; /* we print our own one-line reasons */
	int c;
	while ((c = getopt_long(argc, argv, ":f:qm:h", longs, NULL)) != -1) {
		unsigned long long n;
		switch (c) {
		case 'f':
			o->path = optarg;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'm':
			if (arg_whole(optarg, 1, SIZE_MAX, &n) != 0) {
				fprintf(stderr,
					PROG ": --max-line wants a positive number of bytes, not '%s'\n",
					optarg);
				goto bad;
			}
			o->max_line = (size_t)n;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
		default:
			arg_getopt_error(PROG, c, argv);
			goto bad;
		}
	}
	if (arg_none_left(PROG, argc, argv, "use --file PATH") != 0)
		goto bad;
	return 0;
bad:
	usage(stderr);
	return 2;
}

/* ---- printing ------------------------------------------------------------------- */

static void print_numbered_entry(unsigned long lineno, const struct log_entry *e)
{
	printf("%5lu  ", lineno);
	print_entry(e);
}

static void print_rejected(unsigned long lineno, enum parse_error err, const struct line *line)
{
	printf("%5lu  rejected: %s", lineno, parse_error_name(err));
	if (line->too_long)
		printf(" (%zu bytes)", line->len);
	putchar('\n');
}

/* ---- the threads ---------------------------------------------------------------- */

/* The parser stage, and what became of it. */
struct stage_run {
	struct parser_stage stage;
	int left_out_open; /* parser_run returned without closing out */
};

static void *stage_thread(void *arg)
{
	struct stage_run *r = arg;
	parser_run(&r->stage);
	/* A correct stage returns once in is closed, having closed out, so
	 * both closes below answer CHAN_CLOSED. A stage that returned early
	 * (the exercise stub does) would leave the sink waiting on out and
	 * main blocked sending on in: closing them ends both waits. */
	r->left_out_open = chan_close(r->stage.out) == CHAN_OK;
	chan_close(r->stage.in);
	return NULL;
}

/* The next stage: takes entries until out is closed, counts and frees them.
 * Its counts are read by main after pthread_join, which orders the reads
 * after the writes. */
struct sink {
	struct chan *in;
	unsigned long long entries;
	unsigned long long levels[LOG_LEVELS];
};

static void *sink_thread(void *arg)
{
	struct sink *s = arg;
	void *msg;
	while (chan_recv(s->in, &msg) == CHAN_OK) {
		struct log_entry *e = msg;
		s->entries++;
		if ((unsigned)e->level < LOG_LEVELS)
			s->levels[e->level]++;
		log_entry_free(e); /* the last stage frees what it receives */
	}
	return NULL;
}

/* ---- reading ---------------------------------------------------------------------- */

/* What the program counts itself, calling parse_log_line line by line. */
struct tally {
	unsigned long long lines, entries;
	unsigned long long errors[PARSE_REASONS];
	unsigned long long levels[LOG_LEVELS];
};

enum feed_result { FEED_OK, FEED_NOTIMPL, FEED_STAGE_GONE, FEED_ENOMEM, FEED_READ_ERROR };

/* Parses the line directly, counts it in t and prints what became of it. */
static enum feed_result report(unsigned long lineno, const struct line *line, int quiet, struct tally *t)
{
	struct log_entry *e = NULL;
	enum parse_error err = line->too_long ? PARSE_TOO_LONG : parse_log_line(line->text, line->len, &e);
	if (err == PARSE_NOTIMPL)
		return FEED_NOTIMPL;
	if (err == PARSE_ENOMEM)
		err = PARSE_INVALID_JSON; /* as the stage counts it */
	t->lines++;
	if (err == PARSE_OK && e != NULL) {
		t->entries++;
		if ((unsigned)e->level < LOG_LEVELS)
			t->levels[e->level]++;
		if (!quiet)
			print_numbered_entry(lineno, e);
		log_entry_free(e);
	} else {
		if ((unsigned)err < PARSE_REASONS)
			t->errors[err]++;
		if (!quiet)
			print_rejected(lineno, err, line);
	}
	return FEED_OK;
}

/*
 * Reads f line by line and sends each line to the stage. The tailer of
 * lesson 03 skips an overlong line without holding it in memory; this
 * program can afford to read it whole and then replace it by a marker.
 */
static enum feed_result feed(FILE *f, const struct options *opt, struct chan *in, struct tally *t)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	enum feed_result res = FEED_OK;
	while (res == FEED_OK && (n = getline(&buf, &cap, f)) >= 0) {
		lineno++;
		size_t len = (size_t)n;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		buf[len] = '\0';
		if (line_is_blank(buf, len))
			continue;
		struct line *line = len > opt->max_line ? line_new_too_long(len) : line_new(buf, len);
		if (line == NULL) {
			res = FEED_ENOMEM;
			break;
		}
		res = report(lineno, line, opt->quiet, t);
		if (res != FEED_OK) {
			line_free(line);
			break;
		}
		/* CHAN_OK: the line is the stage's now, and we forget it. */
		if (chan_send(in, line) != CHAN_OK) {
			line_free(line);
			res = FEED_STAGE_GONE;
		}
	}
	if (res == FEED_OK && ferror(f))
		res = FEED_READ_ERROR;
	free(buf);
	return res;
}

/* ---- the summary ------------------------------------------------------------------ */

static void print_summary(const struct parser_stats *st, const struct sink *sink)
{
	unsigned long long errors = 0;
	printf("by level: ");
	for (int l = 0; l < LOG_LEVELS; l++)
		printf(" %s %llu%s", log_level_name((enum log_level)l), sink->levels[l],
		       l + 1 < LOG_LEVELS ? "," : "\n");
	printf("by reason:");
	for (int r = 1; r < PARSE_REASONS; r++) {
		unsigned long long n = atomic_load(&st->errors[r]);
		errors += n;
		printf(" %s %llu%s", parse_error_name((enum parse_error)r), n,
		       r + 1 < PARSE_REASONS ? "," : "\n");
	}
	unsigned long long lines = atomic_load(&st->lines), entries = atomic_load(&st->entries);
	printf("%llu line%s: %llu %s, %llu error%s\n", lines, lines == 1 ? "" : "s", entries,
	       entries == 1 ? "entry" : "entries", errors, errors == 1 ? "" : "s");
}

/* 1 if the stage and the sink counted what parse_log_line counted. */
static int stage_agrees(const struct tally *t, const struct parser_stats *st, const struct sink *sink)
{
	int same = atomic_load(&st->lines) == t->lines && atomic_load(&st->entries) == t->entries &&
		   sink->entries == t->entries;
	for (int r = 1; r < PARSE_REASONS; r++)
		same = same && atomic_load(&st->errors[r]) == t->errors[r];
	for (int l = 0; l < LOG_LEVELS; l++)
		same = same && sink->levels[l] == t->levels[l];
	if (!same)
		fprintf(
		    stderr,
		    PROG
		    ": the parser stage disagrees with parse_log_line: it saw %llu lines and sent %llu "
		    "entries (the sink got %llu), where parse_log_line found %llu lines and %llu entries\n",
		    (unsigned long long)atomic_load(&st->lines),
		    (unsigned long long)atomic_load(&st->entries), sink->entries, t->lines, t->entries);
	return same;
}

/* Why the run stopped early, for the learner. */
static void explain(enum feed_result res, const struct options *opt)
{
	switch (res) {
	case FEED_NOTIMPL:
		fprintf(stderr, PROG
			": lesson 04 is not done yet: parse_log_line is still a stub "
			"(exercises/04-parser/parser.c; see lessons/04-parser/README.md#parsing-one-line)\n");
		break;
	case FEED_STAGE_GONE:
		fprintf(stderr, PROG ": lesson 04: parser_run returned before its input was closed "
				     "(still the stub? see lessons/04-parser/README.md#the-stage-loop)\n");
		break;
	case FEED_ENOMEM:
		fprintf(stderr, PROG ": out of memory\n");
		break;
	case FEED_READ_ERROR:
		fprintf(stderr, PROG ": reading %s: %s\n", opt->path ? opt->path : "stdin", strerror(errno));
		break;
	case FEED_OK:
		break;
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	int rc = parse_args(argc, argv, &opt);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	FILE *f = stdin;
	if (opt.path != NULL && (f = fopen(opt.path, "r")) == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", opt.path, strerror(errno));
		return 1;
	}

	static struct stage_run run; /* static: zeroed, counters included */
	static struct sink sink;
	run.stage.in = chan_new(CHANNEL_CAP);
	run.stage.out = chan_new(CHANNEL_CAP);
	if (run.stage.in == NULL || run.stage.out == NULL) {
		fprintf(stderr, PROG ": cannot create channels: %s\n", strerror(errno));
		return 1;
	}
	sink.in = run.stage.out;
	pthread_t stage_tid, sink_tid;
	if (pthread_create(&stage_tid, NULL, stage_thread, &run) != 0 ||
	    pthread_create(&sink_tid, NULL, sink_thread, &sink) != 0) {
		fprintf(stderr, PROG ": cannot start threads\n");
		return 1;
	}

	struct tally mine = {0};
	enum feed_result res = feed(f, &opt, run.stage.in, &mine);
	if (f != stdin)
		fclose(f);
	/* No more lines: the stage drains in, closes out, and the sink ends. */
	chan_close(run.stage.in);
	pthread_join(stage_tid, NULL);
	pthread_join(sink_tid, NULL);
	/* Lines a stage that stopped early never took. */
	void *msg;
	while (chan_try_recv(run.stage.in, &msg) == CHAN_OK)
		line_free(msg);
	chan_free(run.stage.in);
	chan_free(run.stage.out);

	if (res == FEED_OK && atomic_load(&run.stage.stats.lines) < mine.lines)
		res = FEED_STAGE_GONE;
	if (res != FEED_OK) {
		explain(res, &opt);
		return 1;
	}
	if (run.left_out_open) {
		fprintf(stderr, PROG ": lesson 04: parser_run returned without closing out; the next stage "
				     "would wait forever (see lessons/04-parser/README.md#the-stage-loop)\n");
		return 1;
	}
	if (!opt.quiet)
		putchar('\n');
	print_summary(&run.stage.stats, &sink);
	return stage_agrees(&mine, &run.stage.stats, &sink) ? 0 : 1;
}
