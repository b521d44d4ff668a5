/*
 * 06-metrics.c - lesson 06's program: JSON log lines in, the Prometheus
 * text exposition out, as a scrape of /metrics will return it.
 *
 * It counts into a registry exactly as the pipeline will: main plays the
 * tailer and the parser (lines read, parse errors by reason, kept as plain
 * counts and copied into the registry with metrics_counter_set, as the
 * pipeline copies its stages' atomic counters), and the entries go over a
 * channel to the metrics stage, on its own thread, which counts them by
 * level and service and observes their latency. At the end it renders the
 * registry to stdout, and a one-line summary to stderr.
 *
 *   06-metrics --file tests/data/sample.log
 *   06-metrics --series-limit 3 < some.log
 *   06-metrics --file tests/data/sample.log | promtool check metrics
 *
 * smoke: --file tests/data/sample.log
 * smoke: --file tests/data/sample.log --series-limit 4
 */
#include "args.h"
#include "channel.h"
#include "line.h"
#include "log_entry.h"
#include "metrics.h"
#include "parser.h"
#include "strbuf.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PROG		 "06-metrics"
#define CHANNEL_CAP	 64
#define DEFAULT_MAX_LINE 65536
#define L06		 "lessons/06-metrics/README.md"

struct options {
	const char *path; /* NULL: stdin */
	size_t series_limit;
	size_t max_line;
};

static void usage(FILE *to)
{
	fprintf(to, "usage: " PROG " [--file PATH] [--series-limit N] [--max-line BYTES]\n"
		    "  Counts JSON log lines (from PATH, or stdin) into a metrics registry as the\n"
		    "  pipeline does, and prints it in the Prometheus text format.\n"
		    "  -f, --file PATH         read PATH instead of stdin\n"
		    "  -s, --series-limit N    at most N series per family (default 10000)\n"
		    "  -m, --max-line BYTES    longer lines count as too_long (default 65536)\n"
		    "  -h, --help              this text\n");
}

/* 0: go on; 1: --help was printed; 2: bad arguments (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"file", required_argument, NULL, 'f'},
					      {"series-limit", required_argument, NULL, 's'},
					      {"max-line", required_argument, NULL, 'm'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	*o = (struct options){NULL, METRICS_DEFAULT_SERIES_LIMIT, DEFAULT_MAX_LINE};
	opterr = 0; /* we print our own one-line reasons */
	int c;
	unsigned long long n;
	while ((c = getopt_long(argc, argv, ":f:s:m:h", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->path = optarg;
			break;
		case 's':
			if (arg_whole(optarg, 1, SIZE_MAX, &n) != 0) {
				fprintf(stderr, PROG ": --series-limit wants a positive number, not '%s'\n",
					optarg);
				goto bad;
			}
			o->series_limit = (size_t)n;
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

/* ---- the registry ------------------------------------------------------------- */

/* What the program counts itself, as the tailer and the parser stage do. */
struct counts {
	unsigned long long lines;
	unsigned long long errors[PARSE_REASONS]; /* by reason; [PARSE_OK] stays 0 */
	unsigned long long sent;		  /* entries sent to the stage */
	int read_errno;				  /* why reading stopped early */
};

struct families {
	struct metric_family *lines, *errors, *dropped;
};

/* Says why the registry could not be built: a stub, most likely. */
static int registry_failed(const char *what)
{
	if (errno == ENOSYS)
		fprintf(stderr,
			PROG ": lesson 06 is not done yet: %s is still a stub (see " L06 "#5-build-it)\n",
			what);
	else
		fprintf(stderr, PROG ": %s failed: %s\n", what, strerror(errno));
	return -1;
}

/* The pipeline's families, in the pipeline's order, with every parse
 * error reason created at 0 so that it is exported before it happens. */
static int register_families(struct metrics_registry *reg, struct metrics_stage *stage, struct chan *in,
			     struct families *fam)
{
	static const char *const reason[] = {"reason"};
	fam->lines = metrics_counter(reg, "logpipe_lines_read_total",
				     "Log lines read (blank lines are skipped).", 0, NULL);
	if (fam->lines == NULL)
		return registry_failed("registering a family (family_check)");
	fam->errors = metrics_counter(reg, "logpipe_parse_errors_total",
				      "Log lines the parser rejected, by reason.", 1, reason);
	if (fam->errors == NULL)
		return registry_failed("registering a family with labels (family_check)");
	for (int r = 1; r < PARSE_REASONS; r++) {
		const char *v[] = {parse_error_name((enum parse_error)r)};
		if (metrics_counter_add(fam->errors, v, 0) != 0)
			return registry_failed("metrics_counter_add");
	}
	if (metrics_stage_init(stage, reg, in) != 0)
		return registry_failed("metrics_stage_init");
	fam->dropped =
	    metrics_counter(reg, "logpipe_series_dropped_total",
			    "Updates refused because their family had reached its series limit.", 0, NULL);
	if (fam->dropped == NULL)
		return registry_failed("registering a family (family_check)");
	return 0;
}

/* The format pieces return nothing, so their stubs cannot say "not
 * implemented" to a caller: try each on a small case instead. */
static int pieces_work(void)
{
	struct strbuf sb = STRBUF_INIT;
	metrics_format_value(&sb, 1.5);
	metrics_escape_label_value(&sb, " \"\\");
	metrics_escape_help(&sb, " \n");
	int ok = sb.data != NULL && strcmp(sb.data, "1.5 \\\"\\\\ \\n") == 0;
	strbuf_free(&sb);
	if (!ok)
		fprintf(stderr, PROG
			": lesson 06 is not done yet: metrics_escape_label_value or "
			"metrics_escape_help gives the wrong text (see " L06 "#escaping)\n");
	return ok;
}

/* Copies the program's own counts into the registry, as the pipeline does
 * before each scrape. */
static int copy_counts(struct metrics_registry *reg, const struct families *fam, const struct counts *n)
{
	int rc = metrics_counter_set(fam->lines, NULL, (double)n->lines);
	for (int r = 1; r < PARSE_REASONS; r++) {
		const char *v[] = {parse_error_name((enum parse_error)r)};
		rc |= metrics_counter_set(fam->errors, v, (double)n->errors[r]);
	}
	rc |= metrics_counter_set(fam->dropped, NULL, (double)metrics_series_dropped(reg));
	return rc != 0 ? registry_failed("metrics_counter_set") : 0;
}

/* ---- the stage thread ---------------------------------------------------------- */

static void *stage_thread(void *arg)
{
	struct metrics_stage *stage = arg;
	metrics_stage_run(stage);
	/* A correct stage returns once in is closed and drained, and this
	 * close answers CHAN_CLOSED. A stage that returned early (the stub
	 * does) would leave main blocked in a send: closing in ends it. */
	chan_close(stage->in);
	return NULL;
}

/* ---- reading ---------------------------------------------------------------------- */

enum feed_result { FEED_OK, FEED_STAGE_GONE, FEED_READ_ERROR };

/* Parses one line, counts it, and sends its entry to the stage. */
static enum feed_result feed_line(const char *text, size_t len, const struct options *opt, struct chan *in,
				  struct counts *n)
{
	struct log_entry *e = NULL;
	enum parse_error err = len > opt->max_line ? PARSE_TOO_LONG : parse_log_line(text, len, &e);
	n->lines++;
	if (err != PARSE_OK || e == NULL) {
		/* Out of memory counts as invalid_json, as the parser stage counts it. */
		n->errors[(unsigned)err < PARSE_REASONS ? err : PARSE_INVALID_JSON]++;
		return FEED_OK;
	}
	/* CHAN_OK: the entry is the stage's now, and we forget it. */
	if (chan_send(in, e) != CHAN_OK) {
		log_entry_free(e);
		return FEED_STAGE_GONE;
	}
	n->sent++;
	return FEED_OK;
}

static enum feed_result feed(FILE *f, const struct options *opt, struct chan *in, struct counts *n)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t got;
	enum feed_result res = FEED_OK;
	while (res == FEED_OK && (got = getline(&buf, &cap, f)) >= 0) {
		size_t len = (size_t)got;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		buf[len] = '\0'; /* parse_log_line wants text[len] == '\0' */
		if (!line_is_blank(buf, len))
			res = feed_line(buf, len, opt, in, n);
	}
	if (res == FEED_OK && ferror(f)) {
		n->read_errno = errno;
		res = FEED_READ_ERROR;
	}
	free(buf);
	return res;
}

/* ---- main -------------------------------------------------------------------------- */

/* Renders the registry to stdout. */
static int print_registry(struct metrics_registry *reg)
{
	size_t len = 0;
	char *text = metrics_render(reg, &len);
	if (text == NULL)
		return registry_failed("metrics_render");
	fwrite(text, 1, len, stdout);
	free(text);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* Counts the lines of f into reg through the stage. 0, or 1 (reported). */
static int run(FILE *f, const struct options *opt, struct metrics_registry *reg, struct chan *in)
{
	static struct metrics_stage stage; /* static: zeroed */
	struct families fam = {NULL, NULL, NULL};
	if (!pieces_work() || register_families(reg, &stage, in, &fam) != 0)
		return 1;
	pthread_t tid;
	if (pthread_create(&tid, NULL, stage_thread, &stage) != 0) {
		fprintf(stderr, PROG ": cannot start the stage thread\n");
		return 1;
	}
	struct counts n = {0};
	enum feed_result res = feed(f, opt, in, &n);
	/* No more lines: the stage drains what is left and returns. */
	chan_close(in);
	pthread_join(tid, NULL);
	if (res == FEED_READ_ERROR) {
		fprintf(stderr, PROG ": reading %s: %s\n", opt->path ? opt->path : "stdin",
			strerror(n.read_errno));
		return 1;
	}
	if (res == FEED_STAGE_GONE || atomic_load(&stage.received) < n.sent) {
		fprintf(stderr, PROG ": lesson 06: metrics_stage_run returned before its input was closed "
				     "(still the stub? see " L06 "#the-stage)\n");
		return 1;
	}
	if (copy_counts(reg, &fam, &n) != 0 || print_registry(reg) != 0)
		return 1;
	unsigned long long errors = 0;
	for (int r = 1; r < PARSE_REASONS; r++)
		errors += n.errors[r];
	/* "received", not "counted": each entry received is counted once, in
	 * a series or among the updates the series limit refused. */
	fprintf(stderr,
		PROG ": %llu lines: %llu parse errors, %llu entries received by the stage, %llu updates "
		     "refused by the series limit\n",
		n.lines, errors, (unsigned long long)atomic_load(&stage.received),
		metrics_series_dropped(reg));
	return 0;
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
	struct metrics_registry *reg = metrics_registry_new(opt.series_limit);
	struct chan *in = chan_new(CHANNEL_CAP);
	if (reg == NULL || in == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	rc = run(f, &opt, reg, in);
	if (f != stdin)
		fclose(f);
	/* Entries a stage that stopped early never took. */
	void *msg;
	while (chan_try_recv(in, &msg) == CHAN_OK)
		log_entry_free(msg);
	chan_free(in);
	metrics_registry_free(reg);
	return rc;
}
