/*
 * pipebench - how fast does the pipeline read a log, compared with the
 * same work done in one loop on one thread? make bench runs both modes on
 * the same file, in separate processes, and reports their ratio.
 *
 *   pipebench --mode reference --file F    read, split, parse, filter and
 *                                          count in one loop, one thread
 *   pipebench --mode pipeline --file F     logpipe --once: four threads,
 *            [--capacity N]                three channels, the same calls
 *
 * The reference uses the very functions the stages use (the splitter of
 * lesson 03, parse_log_line, filter_accept, the registry of lesson 06), so
 * the ratio measures what the threads and channels cost or gain, nothing
 * else. One line of output, "key=value" pairs:
 *   mode=... lines=... seconds=... lines_per_s=... max_rss_kb=...
 */
#include "clock.h"
#include "filter.h"
#include "line.h"
#include "metrics.h"
#include "parser.h"
#include "pipeline.h"
#include "tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PROG "pipebench"

/* The single-threaded reference: everything the stages keep, in one place. */
struct reference {
	struct filter_config filter;
	struct metrics_registry *reg;
	struct metric_family *entries, *latency;
	unsigned long long lines, errors, filtered;
};

/* One line, start to end: what the tailer, parser, filter and metrics
 * stage do to it, without a channel in between. */
static int reference_line(void *ctx, struct line *line)
{
	struct reference *r = ctx;
	struct log_entry *e = NULL;
	r->lines++;
	enum parse_error err = line->too_long ? PARSE_TOO_LONG : parse_log_line(line->text, line->len, &e);
	line_free(line);
	if (err != PARSE_OK) {
		r->errors++;
		return 0;
	}
	if (!filter_accept(&r->filter, e)) {
		r->filtered++;
	} else {
		const char *const labels[] = {log_level_name(e->level), e->service};
		const char *const service[] = {e->service};
		if (metrics_counter_add(r->entries, labels, 1) == 0 && e->has_latency)
			metrics_histogram_observe(r->latency, service, e->latency_ms / 1000.0);
	}
	log_entry_free(e);
	return 0;
}

/* Blank lines are skipped before they are counted, as the tailer does. */
static int reference_emit(void *ctx, struct line *line)
{
	if (!line->too_long && line_is_blank(line->text, line->len)) {
		line_free(line);
		return 0;
	}
	return reference_line(ctx, line);
}

static int run_reference(const char *path, unsigned long long *lines)
{
	static const char *const entry_labels[] = {"level", "service"};
	static const char *const latency_labels[] = {"service"};
	static const double bounds[] = METRICS_LATENCY_BUCKETS;
	struct reference r = {.filter = filter_config_default()};
	r.reg = metrics_registry_new(0);
	if (r.reg == NULL)
		return -1;
	r.entries = metrics_counter(r.reg, "entries_total", "Entries.", 2, entry_labels);
	r.latency = metrics_histogram(r.reg, "latency_seconds", "Latency.", 1, latency_labels, bounds,
				      sizeof(bounds) / sizeof(bounds[0]));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || r.entries == NULL || r.latency == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		metrics_registry_free(r.reg);
		return -1;
	}
	struct line_splitter s;
	splitter_init(&s, TAILER_DEFAULT_MAX_LINE);
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		splitter_feed(&s, buf, (size_t)n, reference_emit, &r);
	splitter_flush(&s, reference_emit, &r);
	splitter_free(&s);
	close(fd);
	*lines = r.lines;
	metrics_registry_free(r.reg);
	return 0;
}

static int run_pipeline(const char *path, size_t capacity, unsigned long long *lines)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = path;
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1;
	cfg.serve = 0;
	cfg.capacity = capacity;
	static struct pipeline p;
	char err[256];
	if (pipeline_start(&p, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	pipeline_wait(&p);
	*lines = pipeline_lines_read(&p);
	int ok = pipeline_lines_read(&p) == pipeline_lines_accounted(&p);
	pipeline_free(&p);
	if (!ok)
		fprintf(stderr, PROG ": the accounting invariant does not hold\n");
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"mode", required_argument, NULL, 'm'},
					      {"file", required_argument, NULL, 'f'},
					      {"capacity", required_argument, NULL, 'c'},
					      {NULL, 0, NULL, 0}};
	const char *mode = NULL, *path = NULL;
	size_t capacity = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (c == 'm')
			mode = optarg;
		else if (c == 'f')
			path = optarg;
		else if (c == 'c')
			capacity = (size_t)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (mode == NULL || path == NULL || (strcmp(mode, "reference") != 0 && strcmp(mode, "pipeline") != 0)) {
		fprintf(stderr, "usage: " PROG " --mode reference|pipeline --file PATH [--capacity N]\n");
		return 2;
	}
	unsigned long long lines = 0;
	struct timespec t0 = clock_now();
	int rc = strcmp(mode, "reference") == 0 ? run_reference(path, &lines) : run_pipeline(path, capacity, &lines);
	double seconds = clock_seconds_since(&t0);
	if (rc != 0)
		return 1;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("mode=%s lines=%llu seconds=%.3f lines_per_s=%.0f max_rss_kb=%ld\n", mode, lines, seconds,
	       (double)lines / seconds, ru.ru_maxrss);
	return 0;
}
