/*
 * 09-pipeline.c - lesson 09's program: the whole pipeline, run and shown.
 *
 * Default mode: it runs the pipeline in batch mode (what `logpipe --once`
 * does: the file from its start to its end, every stage drained, no
 * server) on a log file, renders /metrics as a scrape would see it, and
 * shows where every line went: the counts of the scrape, and the
 * accounting invariant added up from them and from the stages' counters.
 * Whether the counts are right is for lesson 09's tests and for make e2e,
 * which compares a real scrape with tests/data/sample.expected.
 *
 * --simulate N, a measurement: N simulated lines as fast as the pipeline
 * takes them (rate 0), while main samples the depth of each channel. The
 * channel in front of the slowest stage sits full, and the tailer, which
 * could go much faster, waits in chan_send: that is backpressure.
 *
 *   09-pipeline                                   shows tests/data/sample.log
 *   09-pipeline --file tests/data/sample.log --min-level warn --print
 *   09-pipeline --simulate 200000 --capacity 64
 *
 * smoke: --file tests/data/sample.log
 * smoke: --file tests/data/sample.log --min-level info --capacity 1
 * smoke: --simulate 5000 --capacity 16
 */
#include "args.h"
#include "clock.h"
#include "notimpl.h"
#include "pipeline.h"
#include "samples.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG	     "09-pipeline"
#define DEFAULT_FILE "tests/data/sample.log"

struct options {
	const char *path;
	unsigned long long capacity;
	enum log_level min_level;
	unsigned long long simulate; /* 0: the file */
	int print;
};

static int take_level(const char *text, void *level)
{
	return log_level_parse(text, level);
}

/* -1: go on; otherwise the status to exit with. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){DEFAULT_FILE, PIPELINE_DEFAULT_CAPACITY, LOG_TRACE, 0, 0};
	const struct arg_option options[] = {
	    ARG_TEXT_OPT("file", 'f', &o->path, "PATH", "the log (default " DEFAULT_FILE ")"),
	    ARG_CUSTOM_OPT("min-level", 'm', &o->min_level, "LEVEL",
			   "the filter's minimum level (default trace: keep all)", take_level,
			   "trace, debug, info, warn, error or fatal"),
	    ARG_WHOLE_OPT("capacity", 'c', &o->capacity, "N",
			  "capacity of each channel (default " ARG_STR(PIPELINE_DEFAULT_CAPACITY) ")", 1,
			  ARG_NO_MAX),
	    ARG_FLAG_OPT("print", 'p', &o->print, "also print the exposition to stdout"),
	    ARG_WHOLE_OPT("simulate", 's', &o->simulate, "N", "measure: N simulated lines at full speed", 1,
			  ARG_NO_MAX),
	    ARG_END};
	const struct arg_program prog = {
	    PROG, "[--file PATH] [--min-level LEVEL] [--capacity N] [--print]\n--simulate N [--capacity N]",
	    "  Runs the whole pipeline on a log file in batch mode and shows the counts of\n"
	    "  its scrape and the accounting invariant; or measures the channels' depths on\n"
	    "  N simulated lines.\n",
	    options};
	return args_parse(&prog, argc, argv);
}

/* Starts the pipeline, or says why not (naming the lesson when it is a stub). */
static int start(struct pipeline *p, const struct pipeline_config *cfg)
{
	char err[256] = "";
	if (pipeline_start(p, cfg, err, sizeof(err)) == 0)
		return 0;
	if (!not_implemented_end(PROG))
		fprintf(stderr, PROG ": %s\n", err[0] ? err : "pipeline_start failed");
	return -1;
}

/* ---- one pass over a file ------------------------------------------------------ */

/* One line: a series of the scrape and its value, summed over the
 * samples whose labels contain `label` when it is not NULL. */
static double show(const char *text, const char *name, const char *label)
{
	double v = samples_sum(text, name, label);
	v = v < 0 ? 0 : v; /* a family with no sample yet counts 0 */
	char what[128];
	if (label == NULL)
		snprintf(what, sizeof(what), "%s", name);
	else
		snprintf(what, sizeof(what), "sum(%s{%s})", name, label);
	printf("  %-56s %8.0f\n", what, v);
	return v;
}

/* The counts of the scrape, by parse error and by level, summed over the
 * other labels; then where every line went, added up. */
static void show_counts(const char *text, struct pipeline *p)
{
	char label[64];
	double read = show(text, "logpipe_lines_read_total", NULL), errors = 0, entries = 0;
	for (int r = 1; r < PARSE_REASONS; r++) {
		snprintf(label, sizeof(label), "reason=\"%s\"", parse_error_name((enum parse_error)r));
		errors += show(text, "logpipe_parse_errors_total", label);
	}
	for (int l = 0; l < LOG_LEVELS; l++) {
		snprintf(label, sizeof(label), "level=\"%s\"", log_level_name((enum log_level)l));
		entries += show(text, "logpipe_log_entries_total", label);
	}
	double filtered = show(text, "logpipe_filtered_total", NULL);
	double dropped = show(text, "logpipe_series_dropped_total", NULL);
	show(text, "logpipe_log_latency_seconds_count", NULL);
	show(text, "logpipe_build_info", "version=\"" PIPELINE_VERSION "\"");
	show(text, "process_open_fds", NULL);
	printf("invariant: lines_read = sum(parse_errors) + filtered + sum(log_entries) + series_dropped\n");
	printf("  in the exposition:    %.0f = %.0f + %.0f + %.0f + %.0f\n", read, errors, filtered, entries,
	       dropped);
	printf("  the stages' counters: pipeline_lines_read %llu, pipeline_lines_accounted %llu\n",
	       pipeline_lines_read(p), pipeline_lines_accounted(p));
}

static int run_file(const struct options *o)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = o->path;
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1; /* --once: read to the end, then the close travels down */
	cfg.filter.min_level = o->min_level;
	cfg.capacity = (size_t)o->capacity;
	cfg.serve = 0;
	static struct pipeline p; /* static: large, and zeroed */
	if (start(&p, &cfg) != 0)
		return 1;
	pipeline_wait(&p);
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	if (text == NULL) {
		if (!not_implemented_end(PROG))
			fprintf(stderr, PROG ": pipeline_render returned NULL\n");
		pipeline_free(&p);
		return 1;
	}
	if (o->print)
		fwrite(text, 1, len, stdout);
	printf("%s, batch mode, min level %s, channels of %zu; the scrape says:\n", o->path,
	       log_level_name(o->min_level), cfg.capacity);
	show_counts(text, &p);
	free(text);
	pipeline_free(&p);
	return 0;
}

/* ---- the measurement ------------------------------------------------------------ */

struct depth {
	size_t max;
	double sum;
};

static void sample_depth(struct depth *d, struct chan *ch)
{
	size_t n = chan_len(ch);
	if (n > d->max)
		d->max = n;
	d->sum += (double)n;
}

static int measure(const struct options *o)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.rate = 0; /* as fast as the channel takes them */
	cfg.source.count = o->simulate;
	cfg.filter.min_level = o->min_level;
	cfg.capacity = (size_t)o->capacity;
	cfg.serve = 0;
	static struct pipeline p;
	struct timespec t0 = clock_now();
	if (start(&p, &cfg) != 0)
		return 1;
	/* Sample every 200 microseconds until every line has ended somewhere
	 * (or a minute has passed: something is stuck). */
	struct depth lines = {0, 0}, entries = {0, 0}, passed = {0, 0};
	unsigned long samples = 0;
	struct timespec limit = deadline_after_ms(60000);
	const struct timespec tick = {0, 200000};
	while (pipeline_lines_accounted(&p) < o->simulate && !deadline_passed(&limit)) {
		sample_depth(&lines, p.lines);
		sample_depth(&entries, p.entries);
		sample_depth(&passed, p.passed);
		samples++;
		nanosleep(&tick, NULL);
	}
	pipeline_wait(&p);
	double secs = clock_seconds_since(&t0);
	unsigned long long read = pipeline_lines_read(&p), ended = pipeline_lines_accounted(&p);
	printf("%llu lines in %.3f s (%.0f lines/s), channels of %zu\n", read, secs, (double)read / secs,
	       cfg.capacity);
	if (samples == 0)
		samples = 1;
	printf("  depth of lines    (tailer -> parser): max %5zu, mean %8.1f\n", lines.max,
	       lines.sum / (double)samples);
	printf("  depth of entries  (parser -> filter): max %5zu, mean %8.1f\n", entries.max,
	       entries.sum / (double)samples);
	printf("  depth of passed   (filter -> metrics): max %5zu, mean %8.1f\n", passed.max,
	       passed.sum / (double)samples);
	printf("  (%lu samples; a channel that stays near full sits in front of the slowest stage)\n",
	       samples);
	printf("invariant: read %llu, accounted %llu: %s\n", read, ended, read == ended ? "holds" : "BROKEN");
	pipeline_free(&p);
	return read == ended && read == o->simulate ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	return o.simulate > 0 ? measure(&o) : run_file(&o);
}
