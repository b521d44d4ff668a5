/*
 * pipeline.h - lesson 09: the stages wired together. One thread per stage,
 * a bounded channel between each pair, a metrics registry they all count
 * into, and the /metrics server reading it:
 *
 *   tailer --lines--> parser --entries--> filter --passed--> metrics stage
 *     ^                                                         |
 *   done (closed to stop)                registry <-------------+
 *                                           ^
 *                                  /metrics server (lesson 08)
 *
 * Shutdown has one mechanism: closing. Once `done` is closed, the tailer
 * closes `lines`; the parser drains `lines` and closes `entries`; and so on
 * down to the metrics stage, which ends when `passed` is closed. The server
 * outlives the stages, so a last scrape sees the final counts. When the
 * pipeline has drained, the accounting invariant holds exactly:
 *
 *   lines_read = sum(parse_errors) + filtered + sum(log_entries) + series_dropped
 *                + sum(discarded) + joined
 *
 * where discarded counts what a stage freed because the stage after it was
 * gone (an abandon: pipeline_cancel) and what was left in the channels
 * then, by the stage that would have taken it, and joined counts the
 * pieces of container lines that the parser joined into one.
 *
 * The metrics the pipeline exports (the contract docs/metrics.md lists):
 *   logpipe_lines_read_total, logpipe_parse_errors_total{reason},
 *   logpipe_filtered_total, logpipe_log_entries_total{level,service},
 *   logpipe_log_latency_seconds{service} (histogram),
 *   logpipe_series_dropped_total, logpipe_discarded_total{stage},
 *   logpipe_lines_joined_total, logpipe_file_rotations_total,
 *   logpipe_file_truncations_total (with file_label, these two and
 *   lines_read_total by {file}), logpipe_build_info{version},
 *   logpipe_last_entry_timestamp_seconds{service} (lesson 10),
 *   logpipe_channel_depth{channel}, logpipe_channel_capacity{channel} and,
 *   with stage runners, logpipe_stage_blocked_seconds_total{stage,op}
 *   (lesson 13),
 *   and the process_* metrics of process.h.
 */
#ifndef PIPELINE_H
#define PIPELINE_H

#include "channel.h"
#include "filter.h"
#include "fuse.h"
#include "http.h"
#include "metrics.h"
#include "parser.h"
#include "process.h"
#include "stage.h"
#include "tailer.h"

#include <pthread.h>
#include <signal.h>

#define PIPELINE_VERSION "1.0.0"
#define PIPELINE_DEFAULT_CAPACITY 1024
/* logpipe's --batch when none is given (and no --slow-stage): the stages
 * in runners moving up to this many items a channel operation, as fast
 * as any setting measured (docs/benchmarks.md). The configuration's own default, 0, keeps lesson
 * 09's stages in their own loops. */
#define PIPELINE_FAST_BATCH 1024

/* snippet: config */
struct pipeline_config {
	struct tailer_config source; /* a file (source.path) or the simulator */
	const char *const *files;    /* nfiles paths or glob patterns (lesson 03's group):
	                                one tailer each, instead of source.path */
	size_t nfiles;
	int file_label;              /* 1: lines read, rotations and truncations by file */
	struct log_format format;    /* the parser's fields (format.name NULL: the
	                                plain JSON of parse_log_line) */
	enum log_container container; /* Docker or CRI lines around the log's own */
	struct filter_config filter;
	size_t capacity;             /* of each channel (0: PIPELINE_DEFAULT_CAPACITY) */
	size_t batch;                /* lesson 11: items per channel operation, up to
	                                STAGE_MAX_BATCH (0: the stages' own loops); the
	                                tailers' too (source.batch is set from it) */
	size_t workers;              /* lesson 12: parser threads, up to STAGE_MAX_WORKERS
	                                (0 or 1: one; more runs the stages batched) */
	const char *slow_stage;      /* lesson 13: "parser", "filter" or "metrics" sleeps
	                                slow_us microseconds per item (runs the stages
	                                batched); NULL: none */
	unsigned long slow_us;
	int separate_stages;         /* lesson 12: 1: each stage in a runner of its own;
	                                0: in runners, the filter and the metrics stage run
	                                inside the parser's workers (fused, fuse.h), unless
	                                a stage is slowed */
	size_t series_limit;         /* of the registry (0: the default) */
	int serve;                   /* 1: start the /metrics server */
	struct http_server_config http;
	int stop_signals;            /* 1: pipeline_start blocks SIGINT and SIGTERM
	                                in the calling thread before any thread
	                                starts (so in all of them), for
	                                pipeline_await_signal to take */
};
/* end snippet */

/* snippet: struct */
/* Everything one running pipeline owns. */
struct pipeline {
	struct pipeline_config cfg;
	struct metrics_registry *reg;
	struct chan *done, *lines, *entries, *passed;
	struct chan *cancel; /* lesson 13: closed by pipeline_cancel */
	struct tailer_group tailers; /* the source: one tailer per file, or the simulator */
	struct parser_stage parser;
	struct filter_stage filter;
	struct metrics_stage sink;
	pthread_t threads[4]; /* tailer, parser, filter, metrics stage */
	/* lesson 12: when pipeline_config_batched, the parser, filter and
	 * metrics stage run as stage runners (stage.h) around their steps
	 * instead; indexed as threads (runners[0], the tailer's, is unused) */
	struct stage_runner runners[4];
	struct fused fused; /* lesson 12: the parser's runner's steps when fused */
	struct slow_step {
		stage_step_fn step; /* the stage's own step */
		void *ctx;
		unsigned long us;
	} slow;
	int started;          /* stages that run: started and not joined yet */
	struct http_server *server;
	/* families filled from the stages' counters at each render */
	struct metric_family *lines_read, *parse_errors, *filtered, *series_dropped;
	struct metric_family *discarded, *joined;
	/* what the channels held after the stages ended, by the stage that
	 * would have taken it (indexed as threads) */
	atomic_ullong left_over[4];
	struct metric_family *rotations, *truncations;
	/* lesson 13: the pipeline watching itself */
	struct metric_family *channel_depth, *channel_capacity, *blocked;
	struct process_metrics process;
};
/* end snippet */

/* A configuration with every default: the simulator, min level info,
 * capacity PIPELINE_DEFAULT_CAPACITY, serving on 127.0.0.1:8479. */
struct pipeline_config pipeline_config_default(void);

/* snippet: lifecycle */
/*
 * With cfg->stop_signals, first blocks SIGINT and SIGTERM in the calling
 * thread, so that every thread started from it blocks them too. Creates
 * the channels, the registry (with every known series at 0) and the
 * stages, and starts each stage's thread (or, with stage runners, its
 * workers) and, if cfg->serve, the server. Throughout: when a stage
 * starts, its reader already runs, and the server starts only once every
 * stage runs. Returns 0, or -1 with a one-line reason in err: then every
 * stage that started has been ended and joined, and everything made freed
 * (the signals stay blocked).
 */
int pipeline_start(struct pipeline *p, const struct pipeline_config *cfg, char *err, size_t errlen);

/* Asks the source to stop and waits until every stage has drained its
 * input and ended; each stage is joined exactly once. A stop discards
 * nothing, and the server keeps serving. Safe to call twice, and after
 * pipeline_wait. */
void pipeline_stop(struct pipeline *p);

/* Waits until every stage has ended on its own (the source reached the end
 * of its input: --once, or a simulator with a count). */
void pipeline_wait(struct pipeline *p);
/* end snippet */

/* snippet: signals */
/* The signals that stop the pipeline: SIGINT and SIGTERM. */
void pipeline_signal_set(sigset_t *set);

/*
 * With cfg.stop_signals: waits in sigwait until one of the stop signals
 * arrives (pipeline_start blocked them in every thread, so none is ever
 * delivered to a handler or its default action), then closes done: the
 * stages begin to drain. Returns the signal. The caller then joins with
 * pipeline_stop, or first abandons with pipeline_cancel.
 */
int pipeline_await_signal(struct pipeline *p);
/* end snippet */

/* snippet: render */
/* Copies the stages' counters into the registry and renders it: the
 * /metrics body (an http_render_fn; arg is the struct pipeline *). */
char *pipeline_render(void *arg, size_t *len);

/* The two sides of the invariant, from the stages' counters; equal once
 * the pipeline has drained. */
unsigned long long pipeline_lines_read(struct pipeline *p);
unsigned long long pipeline_lines_accounted(struct pipeline *p);
/* Of the lines accounted for, those discarded (sum of
 * logpipe_discarded_total): 0 unless the pipeline was abandoned. */
unsigned long long pipeline_lines_discarded(struct pipeline *p);
/* end snippet */

/* Lesson 12: 1 if cfg runs the stages after the tailer in stage runners
 * (a batch, more than one worker, or a slow stage), 0 if in their own
 * loops. */
int pipeline_config_batched(const struct pipeline_config *cfg);

/* snippet: watch */
/*
 * Lesson 13: the pipeline watching itself. pipeline_watch_register
 * registers, in p->reg, how full each channel between the stages is and
 * can be (gauges logpipe_channel_depth and logpipe_channel_capacity, label
 * channel: lines, entries, passed) and, when the stages run in runners,
 * how long each has waited (the counter
 * logpipe_stage_blocked_seconds_total, labels stage and op) into
 * p->channel_depth, p->channel_capacity and p->blocked (NULL without
 * runners). Returns 0, or -1 if the registry refused one. Called once by
 * pipeline_start. pipeline_watch_copy sets them from the channels and the
 * runners, at each scrape.
 */
int pipeline_watch_register(struct pipeline *p);
void pipeline_watch_copy(struct pipeline *p);
/* end snippet */

/* snippet: cancel */
/*
 * Lesson 13: stops now instead of draining. When it returns, every
 * channel the pipeline made is closed, the stages' and its own. So a
 * stage blocked in a send or a receive wakes up at once
 * (a send on a closed channel answers CHAN_CLOSED here, where Go would
 * panic), the source stops as pipeline_stop stops it (a tailer group
 * following a glob pattern looks for new files until done is closed,
 * whatever becomes of lines), and every stage runner stops before its
 * next batch: a runner that one of these closes wakes takes no other
 * batch, whenever it runs. What was in flight is abandoned: freed, and
 * counted as discarded once the stages have ended.
 * Does not wait: pipeline_stop or pipeline_wait, perhaps already waiting
 * in another thread, then returns promptly. Safe from any thread, any
 * number of times, between pipeline_start and pipeline_free.
 */
void pipeline_cancel(struct pipeline *p);
/* end snippet */

/* Frees everything pipeline_start made, each part only if it was made
 * (the server, the registry, the channels, the tailer group), and never
 * a part a thread still running may use. Afterwards p->server, p->reg and the channels are NULL and the
 * group reads as never readied, so a half-made pipeline, as a failed
 * start leaves it, is freed safely. The stages' own copies of the channel
 * pointers (p->parser.in...) are left as they are: no stage runs to read
 * them. It ends no stage: call it once none runs (after pipeline_stop or
 * pipeline_wait; a pipeline_start that returned -1 has freed everything
 * already). */
void pipeline_free(struct pipeline *p);

#endif
