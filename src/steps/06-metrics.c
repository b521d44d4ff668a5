/*
 * 06-metrics.c - lesson 06's program: JSON log lines in, the Prometheus
 * text exposition out, as a scrape of /metrics will return it.
 *
 * It counts into a registry exactly as the pipeline will: main plays the
 * tailer and the parser (lines read as src/lib/readlines.c hands them over, parse errors by reason, kept as
 * plain counts and copied into the registry with metrics_counter_set, as the pipeline copies its stages'
 * atomic counters), and the entries go over a channel to the metrics stage, on its own thread, which counts
 * them by level and service and observes their latency. At the end it renders the registry to stdout, and a
 * one-line summary to stderr.
 *
 *   06-metrics --file tests/data/sample.log
 *   06-metrics --series-limit 3 < some.log
 *   06-metrics --file tests/data/sample.log | promtool check metrics
 *
 * smoke: --file tests/data/sample.log
 * smoke: --file tests/data/sample.log --series-limit 4
 */
#include "args.h"
#include "log_entry.h"
#include "metrics.h"
#include "notimpl.h"
#include "parser.h"
#include "readlines.h"
#include "stage_thread.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "06-metrics"

/* ---- the registry ------------------------------------------------------------- */

/* What the program counts itself, as the tailer and the parser stage do. */
struct counts {
	struct chan *in;
	unsigned long long max_line;
	unsigned long long lines;
	unsigned long long errors[PARSE_REASONS]; /* by reason; [PARSE_OK] stays 0 */
};

struct families {
	struct metric_family *lines, *errors, *dropped;
};

/* Says why the registry could not be built: a stub (named by its own
 * NOT IMPLEMENTED line), or what errno says. */
static int registry_failed(const char *what)
{
	if (!not_implemented_end(PROG))
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
	fam->errors = metrics_counter(reg, "logpipe_parse_errors_total",
				      "Log lines the parser rejected, by reason.", 1, reason);
	if (fam->lines == NULL || fam->errors == NULL)
		return registry_failed("registering a family (family_check)");
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
	return fam->dropped == NULL ? registry_failed("registering a family (family_check)") : 0;
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

/* ---- reading ---------------------------------------------------------------------- */

/* Each line read: parsed, counted, and its entry sent to the stage. */
static int feed(void *ctx, unsigned long lineno, char *text, size_t len)
{
	struct counts *n = ctx;
	struct log_entry *e = NULL;
	enum parse_error err = len > n->max_line ? PARSE_TOO_LONG : parse_log_line(text, len, &e);
	(void)lineno;
	n->lines++;
	if (err != PARSE_OK || e == NULL) {
		/* Out of memory counts as invalid_json, as the parser stage counts it. */
		n->errors[(unsigned)err < PARSE_REASONS ? err : PARSE_INVALID_JSON]++;
		return 0;
	}
	/* CHAN_OK: the entry is the stage's now, and we forget it. */
	if (chan_send(n->in, e) == CHAN_OK)
		return 0;
	log_entry_free(e);
	return 1;
}

static void run_metrics(void *stage)
{
	metrics_stage_run(stage);
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

/* Counts the lines of path into reg through the stage. 0, or 1 (reported). */
static int run(const char *path, struct counts *n, struct metrics_registry *reg)
{
	static struct metrics_stage stage; /* static: zeroed */
	struct families fam = {NULL, NULL, NULL};
	struct stage_thread t = {
	    .run = run_metrics, .stage = &stage, .in = &stage.in, .free_msg = stage_thread_free_entry};
	if (register_families(reg, &stage, n->in, &fam) != 0) {
		chan_free(n->in);
		return 1;
	}
	int rc = stage_thread_feed(&t, PROG, path, feed, n);
	if (rc < 0)
		return 1;
	if (rc > 0 && !not_implemented_end(PROG))
		fprintf(stderr, PROG
			": the metrics stage stopped taking entries before the end (make test LESSON=06)\n");
	if (rc > 0 || copy_counts(reg, &fam, n) != 0 || print_registry(reg) != 0 || not_implemented_end(PROG))
		return 1;
	unsigned long long errors = 0;
	for (int r = 1; r < PARSE_REASONS; r++)
		errors += n->errors[r];
	/* "received", not "counted": each entry received is counted once, in
	 * a series or among the updates the series limit refused. */
	fprintf(stderr,
		PROG ": %llu lines: %llu parse errors, %llu entries received by the stage, %llu updates "
		     "refused by the series limit\n",
		n->lines, errors, (unsigned long long)atomic_load(&stage.received),
		metrics_series_dropped(reg));
	return 0;
}

int main(int argc, char **argv)
{
	static struct counts n = {.max_line = 65536}; /* static: zeroed */
	const char *path = NULL;
	unsigned long long series_limit = METRICS_DEFAULT_SERIES_LIMIT;
	const struct arg_option options[] = {READLINES_FILE_OPT(&path),
					     ARG_WHOLE_OPT("series-limit", 's', &series_limit, "N",
							   "at most N series per family (default 10000)", 1,
							   ARG_NO_MAX),
					     READLINES_MAX_LINE_OPT(&n.max_line), ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Counts JSON log lines (from PATH, or stdin) into a metrics registry as the\n"
	    "  pipeline does, and prints it in the Prometheus text format.\n",
	    options};
	int rc = args_parse(&prog, argc, argv);
	if (rc >= 0)
		return rc;
	struct metrics_registry *reg = metrics_registry_new((size_t)series_limit);
	n.in = chan_new(64);
	if (reg == NULL || n.in == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	rc = run(path, &n, reg);
	metrics_registry_free(reg);
	return rc;
}
