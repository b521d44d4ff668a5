/*
 * pipeline.c - lesson 09: the stages of lessons 03 to 06 wired into one
 * pipeline, with the server of lesson 08 in front. The contract is in
 * src/pipeline.h; read its comments first.
 *
 * Given here: the defaults, the registry with every known series at 0,
 * the wiring of each stage to its channels, how to start and join one
 * stage, and the copy of the stages' counters a scrape reads. Yours: the
 * assembly. The channels and their end, the stop signals blocked before
 * any thread starts, the stages started in an order that lets a failed
 * start be undone, the end of the stages by close propagation and joins,
 * the wait for a signal, and the collect step of a scrape.
 */
#include "last_seen.h"
#include "metrics_tally.h"
#include "notimpl.h"
#include "pipeline.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define L09 "lessons/09-pipeline/README.md"

/* Index of each stage in p->threads (the pipeline's order, upstream first). */
enum { T_TAILER, T_PARSER, T_FILTER, T_SINK, T_COUNT };

struct pipeline_config pipeline_config_default(void)
{
	struct pipeline_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.source = tailer_config_default();
	cfg.filter = filter_config_default();
	cfg.capacity = PIPELINE_DEFAULT_CAPACITY;
	cfg.series_limit = 0;
	cfg.serve = 1;
	cfg.http = http_server_config_default();
	return cfg;
}

/* Writes a one-line reason to err (which may be NULL). */
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- the pieces pipeline_start is made of (given) ----------------------- */

/* A counter family without labels, or NULL. */
static struct metric_family *counter(struct pipeline *p, const char *name, const char *help)
{
	return metrics_counter(p->reg, name, help, 0, NULL);
}

/* A counter of the tailers': with file_label, by file. */
static struct metric_family *file_counter(struct pipeline *p, const char *name, const char *help)
{
	static const char *const file[] = {"file"};
	return metrics_counter(p->reg, name, help, p->cfg.file_label ? 1 : 0, p->cfg.file_label ? file : NULL);
}

/* ---- lesson 12: the stages as stage runners ---------------------------------- */

/* The steps, in the runner's terms. */
static void *parse_item(void *ctx, void *item)
{
	return parser_step(ctx, item);
}

static void *filter_item(void *ctx, void *item)
{
	return filter_step(ctx, item);
}

/*
 * With several parser workers, fused, each worker parses and filters with
 * stages of its own (the pipeline's settings, counters of its own; the
 * steps use no channel) and adds their counters to the pipeline's stages
 * once a batch,
 * as the tally does with the metrics (src/metrics_tally.h): a counter
 * that two workers add 1 to at every line moves its cache line between
 * their cores at every line (docs/benchmarks.md). Its thread's own, like
 * the tally; never with --container, which takes one worker (a parser
 * stage's pieces must stay with the pipeline's, for parser_finish).
 */
struct own_stages {
	const struct pipeline *of; /* whose stages these copy; NULL: not set up yet */
	struct parser_stage parser;
	struct filter_stage filter;
};
static _Thread_local struct own_stages own;

static struct own_stages *own_stages(const struct pipeline *p)
{
	if (own.of != p) {
		own.of = p;
		own.parser.format = p->parser.format;
		own.parser.container = p->parser.container;
		own.parser.max_line = p->parser.max_line;
		own.filter.cfg = p->filter.cfg;
	}
	return &own;
}

static void *parse_own(void *ctx, void *item)
{
	return parser_step(&own_stages(ctx)->parser, item);
}

static void *filter_own(void *ctx, void *item)
{
	return filter_step(&own_stages(ctx)->filter, item);
}

/* Moves what `from` counted to `to`: only this thread writes `from`. */
static void add_own(atomic_ullong *to, atomic_ullong *from)
{
	unsigned long long n = atomic_exchange_explicit(from, 0, memory_order_relaxed);
	if (n != 0)
		atomic_fetch_add(to, n);
}

/* The end of a worker's batch: the lines first, as parser.h's rule has
 * it for every reader of p->parser.stats (a line is counted before its
 * outcome), then its errors and the filter's drops, all the steps count
 * (entries, passes and discards are their loops' and the runner's; joins
 * need --container). The copies are made again for the next batch: a
 * thread that served another pipeline never keeps its settings. */
static void own_end(void *ctx)
{
	struct pipeline *p = ctx;
	add_own(&p->parser.stats.lines, &own.parser.stats.lines);
	for (int r = 0; r < PARSE_REASONS; r++)
		add_own(&p->parser.stats.errors[r], &own.parser.stats.errors[r]);
	add_own(&p->filter.stats.dropped, &own.filter.stats.dropped);
	own.of = NULL;
}

static void free_entry(void *item)
{
	log_entry_free(item);
}

/* --slow-stage: the stage's step, after a pause. For watching backpressure
 * build up behind a slow stage (lesson 13), never for speed. */
static void *slow_item(void *ctx, void *item)
{
	struct slow_step *slow = ctx;
	struct timespec pause = {(time_t)(slow->us / 1000000), (long)(slow->us % 1000000) * 1000};
	while (nanosleep(&pause, &pause) != 0)
		;
	return slow->step(slow->ctx, item);
}

int pipeline_config_batched(const struct pipeline_config *cfg)
{
	return cfg->batch > 0 || cfg->workers > 1 || cfg->slow_stage != NULL;
}

static int runs_batched(const struct pipeline *p)
{
	return pipeline_config_batched(&p->cfg);
}

/* The stages by index, as --slow-stage and the self-metrics name them. */
static const char *const stage_name[T_COUNT] = {"tailer", "parser", "filter", "metrics"};

/* The stage --slow-stage names (T_PARSER...), or -1. */
static int slow_stage_index(const char *name)
{
	for (int i = T_PARSER; name != NULL && i < T_COUNT; i++)
		if (strcmp(name, stage_name[i]) == 0)
			return i;
	return -1;
}

/* A runner from in to out (NULL for the last stage) around a step; what
 * out refuses is an entry, counted sends go to *sent and what out refused
 * to *discarded. */
static struct stage_runner runner_of(const struct pipeline *p, struct chan *in, struct chan *out,
				     stage_step_fn step, void *ctx, atomic_ullong *sent,
				     atomic_ullong *discarded, size_t workers)
{
	return (struct stage_runner){.in = in,
				     .out = out,
				     .step = step,
				     .ctx = ctx,
				     .discard = out != NULL ? free_entry : NULL,
				     .sent = sent,
				     .discarded = discarded,
				     .cancel = p->cancel,
				     .batch = p->cfg.batch > 0 ? p->cfg.batch : 1,
				     .workers = workers};
}

static void wire_runners(struct pipeline *p)
{
	size_t workers = p->cfg.workers > 0 ? p->cfg.workers : 1;
	p->runners[T_PARSER] = runner_of(p, p->lines, p->entries, parse_item, &p->parser,
					 &p->parser.stats.entries, &p->parser.stats.discarded, workers);
	p->runners[T_FILTER] = runner_of(p, p->entries, p->passed, filter_item, &p->filter,
					 &p->filter.stats.passed, &p->filter.stats.discarded, 1);
	/* The metrics stage counts a batch at a time: its registry lock once a
	 * series a batch, not three times an entry (src/metrics_tally.h). */
	p->runners[T_SINK] = runner_of(p, p->passed, NULL, metrics_tally_step, &p->sink, NULL, NULL, 1);
	p->runners[T_SINK].end_batch = metrics_tally_end;
	for (int i = T_PARSER; i < T_COUNT; i++)
		p->runners[i].name = stage_name[i];
	int slow = slow_stage_index(p->cfg.slow_stage);
	if (slow > 0) {
		p->slow = (struct slow_step){p->runners[slow].step, p->runners[slow].ctx, p->cfg.slow_us};
		p->runners[slow].step = slow_item;
		p->runners[slow].ctx = &p->slow;
	}
	/* Fused: the parser's workers filter and count what they parse, and
	 * no entry crosses a channel (fuse.h). Not when a stage is slowed: a
	 * slow stage is there to watch its channel fill. The filter's and the
	 * metrics stage's runners still run, and wait for entries that never
	 * come; the parser's closes entries at the end, and the filter's then
	 * closes passed. */
	p->fused = (struct fused){0};
	if (slow < 0 && !p->cfg.separate_stages) {
		for (int i = T_PARSER; i < T_COUNT; i++)
			fused_add(&p->fused, &p->runners[i]);
		if (workers > 1) { /* links 0 and 1: the parser and the filter */
			p->fused.step[0] = parse_own;
			p->fused.step[1] = filter_own;
			p->fused.ctx[0] = p->fused.ctx[1] = p;
			p->fused.end_batch[0] = own_end;
		}
		p->runners[T_PARSER].step = fused_step;
		p->runners[T_PARSER].ctx = &p->fused;
		p->runners[T_PARSER].end_batch = fused_end;
	}
}

/*
 * The registry, its families in the order the data flows, and every
 * series known in advance created at 0: a series that appears only with
 * its first event is invisible to rate() and to alerts until then.
 * Needs p->passed (the metrics stage registers its two families here).
 */
EXERCISE_HELPER static int make_registry(struct pipeline *p)
{
	static const char *const reason[] = {"reason"};
	static const char *const stage[] = {"stage"};
	static const char *const version[] = {"version"};
	if ((p->reg = metrics_registry_new(p->cfg.series_limit)) == NULL)
		return -1;
	p->lines_read = file_counter(p, "logpipe_lines_read_total", "Log lines read (blank lines are skipped).");
	p->parse_errors = metrics_counter(p->reg, "logpipe_parse_errors_total",
					  "Log lines the parser rejected, by reason.", 1, reason);
	p->filtered = counter(p, "logpipe_filtered_total", "Log entries the filter dropped.");
	if (p->lines_read == NULL || p->parse_errors == NULL || p->filtered == NULL)
		return -1;
	for (int r = 1; r < PARSE_REASONS; r++) {
		const char *v[] = {parse_error_name((enum parse_error)r)};
		if (metrics_counter_add(p->parse_errors, v, 0) != 0)
			return -1;
	}
	if (metrics_stage_init(&p->sink, p->reg, p->passed) != 0)
		return -1;
	p->series_dropped = counter(p, "logpipe_series_dropped_total",
				    "Updates refused because their family had reached its series limit.");
	p->discarded =
	    metrics_counter(p->reg, "logpipe_discarded_total",
			    "Lines and entries freed unfinished when the pipeline was abandoned, by "
			    "the stage that held them or would have taken them.",
			    1, stage);
	p->joined = counter(p, "logpipe_lines_joined_total",
			    "Pieces of container log lines (CRI P, Docker without a newline) joined into "
			    "the line that ends them.");
	for (int i = T_PARSER; p->discarded != NULL && i < T_COUNT; i++) {
		const char *v[] = {stage_name[i]};
		if (metrics_counter_add(p->discarded, v, 0) != 0)
			return -1;
	}
	p->rotations = file_counter(p, "logpipe_file_rotations_total",
			       "Times the followed file was renamed away and recreated.");
	p->truncations = file_counter(p, "logpipe_file_truncations_total",
				 "Times the followed file shrank under the reader (copytruncate).");
	if (pipeline_watch_register(p) != 0)
		return -1;
	struct metric_family *info = metrics_gauge(p->reg, "logpipe_build_info",
						   "The version of logpipe that runs; always 1.", 1, version);
	const char *v[] = {PIPELINE_VERSION};
	if (p->series_dropped == NULL || p->discarded == NULL || p->joined == NULL || p->rotations == NULL ||
	    p->truncations == NULL || info == NULL || metrics_gauge_set(info, v, 1) != 0)
		return -1;
	/* Lesson 10's gauge. Until that lesson is done its stub answers
	 * ENOSYS, and logpipe runs without the gauge rather than not at all. */
	p->sink.last_seen = last_seen_register(p->reg);
	if (p->sink.last_seen == NULL && errno != ENOSYS)
		return -1;
	return process_metrics_register(&p->process, p->reg);
}

/* Each stage reads the channel the one before it writes. */
EXERCISE_HELPER static void wire_stages(struct pipeline *p)
{
	/* Batched stages take the lines of a read in one operation too, up
	 * to a batch (tailer.h); unbatched, a line at a time. */
	struct tailer_config source = p->cfg.source;
	source.batch = p->cfg.batch;
	tailer_group_init(&p->tailers, &source, p->cfg.files, p->cfg.nfiles, p->lines, p->done);
	p->parser.in = p->lines;
	p->parser.out = p->entries;
	p->parser.format = p->cfg.format.name != NULL ? &p->cfg.format : NULL;
	p->parser.container = p->cfg.container;
	p->parser.max_line = p->cfg.source.max_line;
	p->filter.cfg = p->cfg.filter;
	p->filter.in = p->entries;
	p->filter.out = p->passed;
	/* p->sink was set up by metrics_stage_init in make_registry. */
	wire_runners(p);
}

/* Starts stage i: its own thread, or with stage runners (lesson 12) its
 * workers. 0, or an errno value. Either way *running says whether stage i
 * now runs, to be ended and joined like the others: a runner may have
 * started some of its workers before one could not start. */
EXERCISE_HELPER static int launch_stage(struct pipeline *p, int i, int *running)
{
	static void *(*const run[T_COUNT])(void *) = {tailer_group_run, parser_run, filter_run,
						     metrics_stage_run};
	void *arg[T_COUNT] = {&p->tailers, &p->parser, &p->filter, &p->sink};
	int runner = i != T_TAILER && runs_batched(p);
	int rc = runner ? stage_start(&p->runners[i]) : pthread_create(&p->threads[i], NULL, run[i], arg[i]);
	*running = rc == 0 || (runner && p->runners[i].started > 0);
	return rc;
}

/* Waits until stage i, which runs, has ended: its thread, or every worker
 * of its runner. Once, for each start that left it running. */
EXERCISE_HELPER static void join_stage(struct pipeline *p, int i)
{
	if (i != T_TAILER && runs_batched(p))
		stage_join(&p->runners[i]);
	else
		pthread_join(p->threads[i], NULL);
}

/* Frees what a channel still holds (of lines, or of entries), and counts
 * it in *count (which may be NULL). */
static void drain(struct chan *ch, int of_lines, atomic_ullong *count)
{
	void *msg;
	while (ch != NULL && chan_try_recv(ch, &msg) == CHAN_OK) {
		if (of_lines)
			line_free(msg);
		else
			log_entry_free(msg);
		if (count != NULL)
			atomic_fetch_add(count, 1);
	}
}

/* Once every stage has ended, at the end of every walk. After an abandon
 * (pipeline_cancel), what the channels still hold was read but will never
 * be counted anywhere else: it is counted as left over, by the stage that
 * would have taken it. A second walk finds nothing here to count. */
EXERCISE_HELPER static void settle(struct pipeline *p)
{
	drain(p->lines, 1, &p->left_over[T_PARSER]);
	drain(p->entries, 0, &p->left_over[T_FILTER]);
	drain(p->passed, 0, &p->left_over[T_SINK]);
	parser_finish(&p->parser);
}

void pipeline_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

/* ---- yours: the assembly ------------------------------------------------------ */

/*
 * Makes the five channels: done and cancel carry nothing (they are only
 * ever closed), lines, entries and passed hold p->cfg.capacity messages
 * each. 0, or -1 if one could not be made; those made stay in p, where
 * free_channels finds them.
 */
EXERCISE_HELPER static int make_channels(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("make_channels", L09 "#the-pieces");
	return -1;
}

/*
 * Frees every channel p holds (any may be NULL) and sets it to NULL. Only
 * once no stage runs: a stage in chan_recv on a freed channel would wake
 * up in freed memory. What a channel still holds is freed first (drain):
 * the channel does not know how to free a line or an entry.
 */
EXERCISE_HELPER static void free_channels(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("free_channels", L09 "#the-pieces");
}

/*
 * With p->cfg.stop_signals, blocks the stop signals (pipeline_signal_set)
 * in the calling thread: every thread it starts from then on inherits the
 * mask. 0, or an errno value.
 */
EXERCISE_HELPER static int block_stop_signals(const struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("block_stop_signals", L09 "#taking-the-signals");
	return ENOSYS;
}

/*
 * 1 if stage i (T_TAILER...) runs: it was started and not joined yet.
 * p->started counts the stages that run; which ones they are follows from
 * the order in which start_stages starts them.
 */
EXERCISE_HELPER static int stage_runs(const struct pipeline *p, int i)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	(void)i;
	NOT_IMPLEMENTED("stage_runs", L09 "#starting-in-order");
	return 0;
}

/*
 * Starts the four stages (launch_stage), counting in p->started each one
 * that runs. 0, or the errno of the start that failed; the stages that
 * run then are those stage_runs names, and nothing else was started.
 */
EXERCISE_HELPER static int start_stages(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("start_stages", L09 "#starting-in-order");
	return ENOSYS;
}

/*
 * Ends the stages and joins every one that runs, once, then settles the
 * channels' left-overs. close_done: ask the source to stop first
 * (pipeline_stop, or a failed start); without it, wait for the end that
 * comes on its own (pipeline_wait). Channels that may be NULL (a start
 * that failed while making them) are left alone.
 */
EXERCISE_HELPER static void end_stages(struct pipeline *p, int close_done)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	(void)close_done;
	NOT_IMPLEMENTED("end_stages", L09 "#stopping-in-order");
}

/* A start that failed half-way: ends what runs, frees what was made, and
 * returns -1 for pipeline_start to return. */
EXERCISE_HELPER static int unwind(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("unwind", L09 "#when-a-start-fails-half-way");
	return -1;
}

/* ---- start and stop ------------------------------------------------------- */

/* The configuration's own mistakes, before anything is made. 0, or -1
 * with a reason in err. */
static int check_config(const struct pipeline_config *cfg, char *err, size_t errlen)
{
	if (cfg->batch > STAGE_MAX_BATCH || cfg->workers > STAGE_MAX_WORKERS) {
		say(err, errlen, "a batch of at most %d and at most %d workers, not %zu and %zu",
		    STAGE_MAX_BATCH, STAGE_MAX_WORKERS, cfg->batch, cfg->workers);
		return -1;
	}
	if (cfg->slow_stage != NULL && slow_stage_index(cfg->slow_stage) < 0) {
		say(err, errlen, "--slow-stage names parser, filter or metrics, not '%s'", cfg->slow_stage);
		return -1;
	}
	/* Pieces of a container line are joined in the order they come,
	 * which several parser workers would not keep. */
	if (cfg->container != CONTAINER_NONE && cfg->workers > 1) {
		say(err, errlen, "--container joins pieces of lines in order: one parser worker, not %zu",
		    cfg->workers);
		return -1;
	}
	if (cfg->format.name != NULL && log_format_check(&cfg->format, err, errlen) != 0)
		return -1;
	return 0;
}

int pipeline_start(struct pipeline *p, const struct pipeline_config *cfg, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	if (p->cfg.capacity == 0)
		p->cfg.capacity = PIPELINE_DEFAULT_CAPACITY;
	if (check_config(&p->cfg, err, errlen) != 0)
		return -1;
	/* TODO: replace this stub with your code (the lesson section is named below). */
	say(err, errlen, "pipeline_start is not implemented yet (lesson 09)");
	NOT_IMPLEMENTED("pipeline_start", L09 "#starting-in-order");
	return -1;
}

void pipeline_stop(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_stop", L09 "#stopping-in-order");
}

void pipeline_wait(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_wait", L09 "#stopping-in-order");
}

int pipeline_await_signal(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_await_signal", L09 "#taking-the-signals");
	return 0;
}

/* ---- what a scrape sees ----------------------------------------------------- */

/* The tailers' counters: their sums, or with file_label one series per
 * file (a file is one tailer: see tailer_group). */
static void copy_tailer_counters(struct pipeline *p)
{
	struct metric_family *fams[] = {p->lines_read, p->rotations, p->truncations};
	if (!p->cfg.file_label) {
		struct tailer_stats sum;
		tailer_group_stats(&p->tailers, &sum);
		atomic_ullong *const counts[] = {&sum.lines, &sum.rotations, &sum.truncations};
		for (size_t k = 0; k < 3; k++)
			metrics_counter_set(fams[k], NULL, (double)atomic_load(counts[k]));
		return;
	}
	struct tailer *t;
	for (size_t i = 0; (t = tailer_group_at(&p->tailers, i)) != NULL; i++) {
		const char *v[] = {t->cfg.path != NULL ? t->cfg.path : "-"};
		atomic_ullong *const counts[] = {&t->stats.lines, &t->stats.rotations, &t->stats.truncations};
		for (size_t k = 0; k < 3; k++)
			metrics_counter_set(fams[k], v, (double)atomic_load(counts[k]));
	}
}

/* What stage i freed unfinished, and what was left in its input. */
static unsigned long long stage_discarded(struct pipeline *p, int i)
{
	unsigned long long own = i == T_PARSER	 ? atomic_load(&p->parser.stats.discarded)
				 : i == T_FILTER ? atomic_load(&p->filter.stats.discarded)
						 : 0;
	return own + atomic_load(&p->left_over[i]);
}

/*
 * The stages count in atomics, the cheapest thing a hot loop can do; the
 * registry learns the totals only here, once per scrape. metrics_counter_set
 * never moves a counter backwards, so a render racing a stage at worst
 * shows a count one scrape late.
 */
EXERCISE_HELPER static void copy_stage_counters(struct pipeline *p)
{
	copy_tailer_counters(p);
	for (int r = 1; r < PARSE_REASONS; r++) {
		const char *v[] = {parse_error_name((enum parse_error)r)};
		metrics_counter_set(p->parse_errors, v, (double)atomic_load(&p->parser.stats.errors[r]));
	}
	metrics_counter_set(p->filtered, NULL, (double)atomic_load(&p->filter.stats.dropped));
	metrics_counter_set(p->series_dropped, NULL, (double)metrics_series_dropped(p->reg));
	for (int i = T_PARSER; i < T_COUNT; i++) {
		const char *v[] = {stage_name[i]};
		metrics_counter_set(p->discarded, v, (double)stage_discarded(p, i));
	}
	metrics_counter_set(p->joined, NULL, (double)atomic_load(&p->parser.stats.joined));
	pipeline_watch_copy(p);
}

char *pipeline_render(void *arg, size_t *len)
{
	struct pipeline *p = arg;
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	(void)len;
	NOT_IMPLEMENTED("pipeline_render", L09 "#collecting-at-scrape-time");
	return NULL;
}

unsigned long long pipeline_lines_read(struct pipeline *p)
{
	struct tailer_stats sum;
	tailer_group_stats(&p->tailers, &sum);
	return atomic_load(&sum.lines);
}

/* Every line ends in exactly one place: a parse error, the filter's drop
 * count, the metrics stage (which counts it in log_entries_total, or, if
 * the series limit refused it, in series_dropped), a stage's discards, or
 * the pieces the parser joined into the line that ends them. */
unsigned long long pipeline_lines_accounted(struct pipeline *p)
{
	unsigned long long n = atomic_load(&p->parser.stats.joined) + pipeline_lines_discarded(p);
	for (int r = 1; r < PARSE_REASONS; r++)
		n += atomic_load(&p->parser.stats.errors[r]);
	return n + atomic_load(&p->filter.stats.dropped) + atomic_load(&p->sink.received);
}

unsigned long long pipeline_lines_discarded(struct pipeline *p)
{
	unsigned long long n = 0;
	for (int i = T_PARSER; i < T_COUNT; i++)
		n += stage_discarded(p, i);
	return n;
}

void pipeline_free(struct pipeline *p)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	NOT_IMPLEMENTED("pipeline_free", L09 "#the-pieces");
}
