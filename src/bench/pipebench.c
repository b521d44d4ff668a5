/*
 * pipebench - how fast does the pipeline read a log, compared with the
 * same work done in one loop on one thread? make bench runs both modes on
 * the same file, in separate processes, and reports their ratio.
 *
 *   pipebench --mode reference --file F    read, split, parse, filter and
 *                                          count in one loop, one thread
 *   pipebench --mode pipeline --file F     logpipe --once, with its default
 *            [--capacity N] [--batch N]    flags unless told: four stages,
 *            [--workers N]                 three channels, the same calls
 *            [--separate-stages]
 *
 * The reference runs the very steps the stages run (the splitter of lesson
 * 03, parser_step, filter_step, metrics_stage_step with the lesson 10
 * gauge), one line after the other, so the ratio measures what the
 * threads and channels cost or gain, nothing else. Both modes install the
 * arena logpipe installs for cJSON's trees (src/json_arena.h), for the same
 * reason. One line of output, "key=value" pairs:
 *   mode=... lines=... seconds=... lines_per_s=... max_rss_kb=...
 */
#include "args.h"
#include "clock.h"
#include "filter.h"
#include "json_arena.h"
#include "last_seen.h"
#include "line.h"
#include "metrics.h"
#include "parser.h"
#include "pipeline.h"
#include "tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PROG "pipebench"

/* The single-threaded reference: the three stages, without their channels. */
struct reference {
	struct parser_stage parser;
	struct filter_stage filter;
	struct metrics_stage sink;
	struct metrics_registry *reg;
};

/* One line, start to end: the steps of the parser, filter and metrics
 * stage, without a channel in between. */
static int reference_line(void *ctx, struct line *line)
{
	struct reference *r = ctx;
	struct log_entry *e = parser_step(&r->parser, line);
	if (e != NULL)
		e = filter_step(&r->filter, e);
	if (e != NULL)
		metrics_stage_step(&r->sink, e);
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
	static struct reference r;
	r.filter.cfg = filter_config_default();
	r.reg = metrics_registry_new(0);
	if (r.reg == NULL)
		return -1;
	int fd = -1;
	if (metrics_stage_init(&r.sink, r.reg, NULL) == 0 &&
	    (r.sink.last_seen = last_seen_register(r.reg)) != NULL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
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
	*lines = atomic_load(&r.parser.stats.lines);
	metrics_registry_free(r.reg);
	return 0;
}

/* logpipe --once on path, with cfg's capacity, batch and workers. */
static int run_pipeline(const char *path, struct pipeline_config cfg, unsigned long long *lines)
{
	cfg.source.path = path;
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1;
	cfg.serve = 0;
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

/* --mode: the text itself, once it names one. */
static int take_mode(const char *text, void *mode)
{
	*(const char **)mode = text;
	return strcmp(text, "reference") == 0 || strcmp(text, "pipeline") == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *path = NULL;
	/* logpipe's defaults: 0 for the pipeline's own, and its --batch */
	unsigned long long capacity = 0, batch = PIPELINE_FAST_BATCH, workers = 0;
	int separate = 0;
	const struct arg_option options[] = {
	    ARG_CUSTOM_OPT("mode", 0, &mode, "MODE",
			   "reference: one loop, one thread; pipeline: logpipe --once", take_mode,
			   "reference or pipeline"),
	    ARG_TEXT_OPT("file", 0, &path, "PATH", "the log to read"),
	    ARG_WHOLE_OPT(
		"capacity", 0, &capacity, "N",
		"pipeline: capacity of each channel (default " ARG_STR(PIPELINE_DEFAULT_CAPACITY) ")", 1,
		1 << 20),
	    ARG_WHOLE_OPT("batch", 0, &batch, "N",
			  "pipeline: items per channel operation (default " ARG_STR(
			      PIPELINE_FAST_BATCH) ", as logpipe; 0: lesson 09's loops)",
			  0,
			  STAGE_MAX_BATCH),
	    ARG_WHOLE_OPT("workers", 0, &workers, "N", "pipeline: parser threads (default, as logpipe: one a core)",
			  1, STAGE_MAX_WORKERS),
	    ARG_FLAG_OPT("separate-stages", 0, &separate,
			 "pipeline: the filter and the metrics stage in\nrunners of their own (not fused)"),
	    ARG_END};
	const struct arg_program prog = {
	    PROG, "--mode reference|pipeline --file PATH [--capacity N] [--batch N] [--workers N] [--separate-stages]",
	    "  Reads a log in one loop on one thread, or through the pipeline, and prints\n"
	    "  mode=... lines=... seconds=... lines_per_s=... max_rss_kb=...\n",
	    options};
	int rc = args_parse(&prog, argc, argv);
	if (rc < 0 && (mode == NULL || path == NULL))
		rc = args_bad(&prog, "--mode and --file are needed");
	if (rc >= 0)
		return rc;
	struct pipeline_config cfg = pipeline_config_default();
	cfg.capacity = capacity;
	cfg.batch = batch;
	cfg.workers = process_workers((size_t)workers, batch == 0); /* as logpipe does */
	cfg.separate_stages = separate;
	json_arena_install(); /* as logpipe does, in both modes */
	unsigned long long lines = 0;
	struct timespec t0 = clock_now();
	rc = strcmp(mode, "reference") == 0 ? run_reference(path, &lines) : run_pipeline(path, cfg, &lines);
	double seconds = clock_seconds_since(&t0);
	if (rc != 0)
		return 1;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("mode=%s lines=%llu seconds=%.3f lines_per_s=%.0f max_rss_kb=%ld\n", mode, lines, seconds,
	       (double)lines / seconds, ru.ru_maxrss);
	return 0;
}
