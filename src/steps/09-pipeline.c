/*
 * 09-pipeline.c - lesson 09's program: the whole pipeline, checked.
 *
 * Default mode, a self-check: it runs the pipeline in batch mode (what
 * `logpipe --once` does: the file from its start to its end, every stage
 * drained, no server) on a log file, renders /metrics as a scrape would
 * see it, and checks every number against the file's .expected companion
 * (tests/data/sample.expected: "name value" lines) and the accounting
 * invariant, printing each check.
 *
 * --simulate N, a measurement: N simulated lines as fast as the pipeline
 * takes them (rate 0), while main samples the depth of each channel. The
 * channel in front of the slowest stage sits full, and the tailer, which
 * could go much faster, waits in chan_send: that is backpressure.
 *
 *   09-pipeline                                   checks tests/data/sample.log
 *   09-pipeline --file tests/data/sample.log --min-level warn --print
 *   09-pipeline --simulate 200000 --capacity 64
 *
 * smoke: --file tests/data/sample.log
 * smoke: --file tests/data/sample.log --min-level info --capacity 1
 * smoke: --simulate 5000 --capacity 16
 */
#include "args.h"
#include "clock.h"
#include "pipeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG	     "09-pipeline"
#define L09	     "lessons/09-pipeline/README.md"
#define DEFAULT_FILE "tests/data/sample.log"
#define MAX_EXPECTED 64

struct options {
	const char *path;
	const char *expected; /* NULL: path with .log replaced by .expected */
	size_t capacity;
	enum log_level min_level;
	unsigned long long simulate; /* 0: the self-check */
	int print;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: " PROG
		" [--file PATH] [--expected PATH] [--min-level LEVEL] [--capacity N] [--print]\n"
		"       " PROG " --simulate N [--capacity N]\n"
		"  Runs the whole pipeline on a log file in batch mode and checks every count\n"
		"  against the file's .expected companion and the accounting invariant; or\n"
		"  measures the channels' depths on N simulated lines.\n"
		"  -f, --file PATH       the log (default " DEFAULT_FILE ")\n"
		"  -e, --expected PATH   the expected counts (default: PATH with .expected for .log)\n"
		"  -m, --min-level LEVEL the filter's minimum level (default trace: keep all)\n"
		"  -c, --capacity N      capacity of each channel (default %d)\n"
		"  -p, --print           also print the exposition to stdout\n"
		"  -s, --simulate N      measure: N simulated lines at full speed\n"
		"  -h, --help            this text\n",
		PIPELINE_DEFAULT_CAPACITY);
}

/* 0: go on; 1: --help was printed; 2: bad arguments (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"file", required_argument, NULL, 'f'},
					      {"expected", required_argument, NULL, 'e'},
					      {"min-level", required_argument, NULL, 'm'},
					      {"capacity", required_argument, NULL, 'c'},
					      {"print", no_argument, NULL, 'p'},
					      {"simulate", required_argument, NULL, 's'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	*o = (struct options){DEFAULT_FILE, NULL, PIPELINE_DEFAULT_CAPACITY, LOG_TRACE, 0, 0};
	opterr = 0;
	int c;
	unsigned long long n;
	while ((c = getopt_long(argc, argv, ":f:e:m:c:ps:h", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->path = optarg;
			break;
		case 'e':
			o->expected = optarg;
			break;
		case 'm':
			if (log_level_parse(optarg, &o->min_level) != 0) {
				fprintf(stderr, PROG ": --min-level: unknown level '%s'\n", optarg);
				goto bad;
			}
			break;
		case 'c':
			if (arg_whole(optarg, 1, SIZE_MAX, &n) != 0) {
				fprintf(stderr, PROG ": --capacity wants a positive number, not '%s'\n",
					optarg);
				goto bad;
			}
			o->capacity = (size_t)n;
			break;
		case 'p':
			o->print = 1;
			break;
		case 's':
			if (arg_whole(optarg, 1, SIZE_MAX, &o->simulate) != 0) {
				fprintf(stderr,
					PROG ": --simulate wants a positive number of lines, not '%s'\n",
					optarg);
				goto bad;
			}
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
	if (arg_none_left(PROG, argc, argv, NULL) != 0)
		goto bad;
	return 0;
bad:
	usage(stderr);
	return 2;
}

/* Starts the pipeline, or says why not (naming the lesson when it is a stub). */
static int start(struct pipeline *p, const struct pipeline_config *cfg)
{
	char err[256] = "";
	if (pipeline_start(p, cfg, err, sizeof(err)) == 0)
		return 0;
	if (strstr(err, "not implemented") != NULL)
		fprintf(stderr, PROG ": lesson 09 is not done yet: %s (see " L09 "#5-build-it)\n", err);
	else
		fprintf(stderr, PROG ": %s\n", err[0] ? err : "pipeline_start failed");
	return -1;
}

/* ---- the expected counts ----------------------------------------------------- */

struct expected {
	char name[MAX_EXPECTED][64];
	double value[MAX_EXPECTED];
	int n;
};

static int read_expected(const char *path, struct expected *ex)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[256];
	ex->n = 0;
	while (fgets(line, sizeof(line), f) != NULL && ex->n < MAX_EXPECTED) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %lf", ex->name[ex->n], &ex->value[ex->n]) == 2)
			ex->n++;
	}
	fclose(f);
	return 0;
}

/* The expected value of name, or -1 if the file does not give it. */
static double want(const struct expected *ex, const char *name)
{
	for (int i = 0; i < ex->n; i++)
		if (strcmp(ex->name[i], name) == 0)
			return ex->value[i];
	return -1;
}

/* ---- reading the exposition, as Prometheus would ------------------------------ */

/*
 * The sum of the samples of metric `name` whose labels contain `label`
 * (e.g. level="info"; NULL or "" for all). -1 if there is none. Reads the
 * text a scrape returns: "name{labels} value" or "name value" lines.
 */
static double sample_sum(const char *text, const char *name, const char *label)
{
	size_t nlen = strlen(name);
	double sum = -1;
	for (const char *l = text; *l != '\0';) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		if (l[0] != '#' && len > nlen && strncmp(l, name, nlen) == 0 &&
		    (l[nlen] == '{' || l[nlen] == ' ')) {
			const char *sp = l + len;
			while (sp > l && sp[-1] != ' ')
				sp--;
			char labels[512] = "";
			if (l[nlen] == '{' && (size_t)(sp - l - nlen) < sizeof(labels))
				memcpy(labels, l + nlen, (size_t)(sp - l - nlen - 1));
			if (label == NULL || label[0] == '\0' || strstr(labels, label) != NULL)
				sum = (sum < 0 ? 0 : sum) + strtod(sp, NULL);
		}
		l += len + (eol ? 1 : 0);
	}
	return sum;
}

static int failures;

/* Prints one check and counts it if it failed. */
static void check(const char *what, double got, double expected)
{
	int ok = got == expected;
	printf("  %-4s %-52s %10.0f  (expected %.0f)\n", ok ? "ok" : "FAIL", what, got, expected);
	if (!ok)
		failures++;
}

/* ---- the self-check ------------------------------------------------------------- */

static void check_counts(const char *text, const struct expected *ex, enum log_level min_level)
{
	char what[96], label[64];
	check("logpipe_lines_read_total", sample_sum(text, "logpipe_lines_read_total", NULL),
	      want(ex, "lines"));
	check("sum(logpipe_parse_errors_total)", sample_sum(text, "logpipe_parse_errors_total", NULL),
	      want(ex, "errors"));
	for (int r = 1; r < PARSE_REASONS; r++) {
		const char *reason = parse_error_name((enum parse_error)r);
		char key[64];
		snprintf(what, sizeof(what), "logpipe_parse_errors_total{reason=\"%s\"}", reason);
		snprintf(label, sizeof(label), "reason=\"%s\"", reason);
		snprintf(key, sizeof(key), "errors.%s", reason);
		check(what, sample_sum(text, "logpipe_parse_errors_total", label), want(ex, key));
	}
	double filtered = 0;
	for (int l = 0; l < LOG_LEVELS; l++) {
		char key[64];
		snprintf(key, sizeof(key), "level.%s", log_level_name((enum log_level)l));
		double n = want(ex, key) < 0 ? 0 : want(ex, key);
		snprintf(what, sizeof(what), "sum(logpipe_log_entries_total{level=\"%s\"})",
			 log_level_name((enum log_level)l));
		snprintf(label, sizeof(label), "level=\"%s\"", log_level_name((enum log_level)l));
		double got = sample_sum(text, "logpipe_log_entries_total", label);
		check(what, got < 0 ? 0 : got, (int)l >= (int)min_level ? n : 0);
		if ((int)l < (int)min_level)
			filtered += n;
	}
	check("logpipe_filtered_total", sample_sum(text, "logpipe_filtered_total", NULL), filtered);
	if (min_level == LOG_TRACE) {
		for (int i = 0; i < ex->n; i++) {
			if (strncmp(ex->name[i], "service.", 8) != 0)
				continue;
			snprintf(what, sizeof(what), "sum(logpipe_log_entries_total{service=\"%s\"})",
				 ex->name[i] + 8);
			snprintf(label, sizeof(label), "service=\"%s\"", ex->name[i] + 8);
			check(what, sample_sum(text, "logpipe_log_entries_total", label), ex->value[i]);
		}
		check("sum(logpipe_log_latency_seconds_count)",
		      sample_sum(text, "logpipe_log_latency_seconds_count", NULL), want(ex, "with_latency"));
	} else {
		printf("  --   by service and latency: skipped (the filter drops some entries)\n");
	}
	check("logpipe_series_dropped_total", sample_sum(text, "logpipe_series_dropped_total", NULL), 0);
	check("logpipe_build_info{version=\"" PIPELINE_VERSION "\"}",
	      sample_sum(text, "logpipe_build_info", "version=\"" PIPELINE_VERSION "\""), 1);
	double fds = sample_sum(text, "process_open_fds", NULL);
	check("process_open_fds > 0", fds > 0, 1);
}

/* The invariant, from the exposition and from the stages' counters. */
static void check_invariant(const char *text, struct pipeline *p)
{
	double read = sample_sum(text, "logpipe_lines_read_total", NULL);
	double ended = sample_sum(text, "logpipe_parse_errors_total", NULL) +
		       sample_sum(text, "logpipe_filtered_total", NULL) +
		       sample_sum(text, "logpipe_log_entries_total", NULL) +
		       sample_sum(text, "logpipe_series_dropped_total", NULL);
	printf("invariant: lines_read = sum(parse_errors) + filtered + sum(log_entries) + series_dropped\n");
	check("in the exposition: lines_read - (the sum of the four)", read - ended, 0);
	check("pipeline_lines_read - pipeline_lines_accounted",
	      (double)pipeline_lines_read(p) - (double)pipeline_lines_accounted(p), 0);
}

static int self_check(const struct options *o)
{
	char expected_path[4096];
	const char *ep = o->expected;
	if (ep == NULL) {
		size_t n = strlen(o->path);
		if (n > 4 && strcmp(o->path + n - 4, ".log") == 0)
			n -= 4; /* sample.log -> sample.expected */
		snprintf(expected_path, sizeof(expected_path), "%.*s.expected", (int)n, o->path);
		ep = expected_path;
	}
	struct expected ex;
	if (read_expected(ep, &ex) != 0)
		return 1;

	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = o->path;
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1; /* --once: read to the end, then the close travels down */
	cfg.filter.min_level = o->min_level;
	cfg.capacity = o->capacity;
	cfg.serve = 0;
	static struct pipeline p; /* static: large, and zeroed */
	if (start(&p, &cfg) != 0)
		return 1;
	pipeline_wait(&p);
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	if (text == NULL) {
		fprintf(stderr, PROG ": pipeline_render returned NULL (still the stub? see " L09
				     "#collecting-at-scrape-time)\n");
		pipeline_free(&p);
		return 1;
	}
	if (o->print)
		fwrite(text, 1, len, stdout);
	printf("%s, batch mode, min level %s, channels of %zu:\n", o->path, log_level_name(o->min_level),
	       cfg.capacity);
	check_counts(text, &ex, o->min_level);
	check_invariant(text, &p);
	free(text);
	pipeline_free(&p);
	printf(failures == 0 ? "all checks hold\n" : "%d check(s) failed\n", failures);
	return failures == 0 ? 0 : 1;
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
	cfg.capacity = o->capacity;
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
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	return o.simulate > 0 ? measure(&o) : self_check(&o);
}
