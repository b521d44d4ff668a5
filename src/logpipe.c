/*
 * logpipe.c - the course's program: follow a log (or simulate one), count
 * it, and serve the counts at /metrics for Prometheus.
 *
 *   logpipe --file /var/log/app.log                  follow it, serve 127.0.0.1:8479
 *   logpipe --simulate --rate 500 --listen :8479     simulated lines, every interface
 *   logpipe --file app.log --once                    count the whole file, print, exit
 *   logpipe --file a.log --file 'logs/?*.log'        several files, and any that match later
 *   logpipe --file app.log --format pino             a log written by pino (docs/formats.md)
 *
 * The threads: one per stage (pipeline.h), the server's, and, at the stop,
 * one that drains the pipeline. SIGINT and SIGTERM are blocked in every
 * thread (pipeline_start sets the mask before it starts any thread, and
 * threads inherit it), so the kernel never runs a handler in the middle of a chan_send
 * holding a mutex; the main thread takes them with sigwait, as an ordinary
 * thread that may call anything. The first stops the pipeline and drains
 * it; a second one, during the drain, abandons what is in flight.
 *
 * Exit status: 0 after a clean stop (or --once), 1 if the pipeline cannot
 * start (a port in use, a file that cannot be read), 2 for bad arguments.
 */
#include "args.h"
#include "json_arena.h"
#include "pipeline.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "logpipe"

struct options {
	struct pipeline_config cfg;
	/* --format's preset, then the field options over it, whatever their
	 * order on the command line (applied by settle_format at the end) */
	const struct log_format *preset;
	const char *fields[4]; /* --level-field, --service-field, --message-field, --latency-field */
	int scale_given;
	enum level_scale scale;
	unsigned long long capacity, batch, workers; /* cfg's size_t ones, as ARG_WHOLE reads them */
	int simulate, once, from_start, version;
	const char *files[TAILER_GROUP_MAX + 1]; /* --file, each a path or a glob pattern */
};

/* The options that are not a flag, a number or a text: each stores its
 * text's meaning in its destination (0), or refuses the text (-1). */
static int take_level(const char *text, void *level)
{
	return log_level_parse(text, level);
}

static int take_services(const char *text, void *filter)
{
	return filter_config_services(filter, (char *)text); /* argv strings may be written to */
}

/* --batch not given: settle picks it. Out of the option's range, so no
 * --batch can name it. */
#define BATCH_UNSET ULLONG_MAX

/* --slow-stage STAGE:US, cut at the colon in place. */
static int take_slow_stage(const char *text, void *config)
{
	struct pipeline_config *cfg = config;
	char *colon = strchr(text, ':');
	unsigned long long us;
	if (colon == NULL || colon == text || arg_whole(colon + 1, 1, 10000000, &us) != 0)
		return -1;
	*colon = '\0';
	cfg->slow_stage = text;
	cfg->slow_us = (unsigned long)us;
	return 0;
}

static int take_format(const char *text, void *preset)
{
	return (*(const struct log_format **)preset = log_format_preset(text)) != NULL ? 0 : -1;
}

static int take_container(const char *text, void *container)
{
	return log_container_parse(text, container);
}

static int take_scale(const char *text, void *options)
{
	struct options *o = options;
	o->scale_given = 1;
	return level_scale_parse(text, &o->scale);
}

/* The format the options describe, in o->cfg.format: --format's preset
 * (the default one if none) with the field options over it. Leaves it
 * unset (parse_log_line's own rules, the fastest) when nothing was asked
 * for. 0, or -1 with the reason in err. */
static int settle_format(struct options *o, char *err, size_t errlen)
{
	if (o->preset == NULL && !o->scale_given && !o->fields[0] && !o->fields[1] && !o->fields[2] &&
	    !o->fields[3])
		return 0;
	struct log_format *f = &o->cfg.format;
	*f = *(o->preset != NULL ? o->preset : log_format_preset("default"));
	const char **lists[] = {&f->level, &f->service, &f->message, &f->latency};
	for (int i = 0; i < 4; i++)
		if (o->fields[i] != NULL)
			*lists[i] = o->fields[i];
	if (o->scale_given)
		f->scale = o->scale;
	return log_format_check(f, err, errlen) != 0 ? -1 : 0;
}

/* What is wrong with the options taken together, or NULL. */
static const char *conflict(const struct options *o)
{
	int file = o->files[0] != NULL;
	if (o->simulate && file)
		return "--file and --simulate exclude each other";
	if (o->once && !file)
		return "--once needs --file (a simulator never ends)";
	if (o->from_start && !file)
		return "--from-start needs --file";
	if (o->cfg.file_label && !file)
		return "--file-label needs --file";
	if (o->cfg.container != CONTAINER_NONE && o->workers > 1)
		return "--container joins pieces of lines in order: it needs one parser worker";
	/* The lines of several files interleave in one channel, and a line
	 * does not say which file it came from. */
	if (o->cfg.container != CONTAINER_NONE && file &&
	    (o->files[1] != NULL || strpbrk(o->files[0], "*?[") != NULL))
		return "--container joins pieces of one file's lines: it takes one --file, not several or a "
		       "pattern";
	return NULL;
}

/* The configuration the options describe, once they are known to agree. */
static void settle(struct options *o)
{
	o->cfg.source.path = o->files[0];
	o->cfg.files = o->files;
	while (o->files[o->cfg.nfiles] != NULL)
		o->cfg.nfiles++;
	o->cfg.capacity = (size_t)o->capacity;
	/* Without --batch: the fastest batches; with --slow-stage, batches of
	 * one item, so that the slowed stage's channel fills item by item and
	 * a cancel waits for one slowed step at most (lesson 13). */
	if (o->batch == BATCH_UNSET)
		o->batch = o->cfg.slow_stage != NULL ? 1 : PIPELINE_FAST_BATCH;
	o->cfg.batch = (size_t)o->batch;
	/* More parser workers than cores only contend for the same channel
	 * (process.h): --workers N is never slower than one worker. Without
	 * --workers, one a core, the fastest; one with --container, which
	 * joins pieces of lines in order, and with --batch 0, lesson 09's
	 * loops (more than one worker would put the stages in runners). */
	o->cfg.workers = process_workers((size_t)o->workers, o->cfg.container != CONTAINER_NONE || o->batch == 0);
	if (o->workers > 0 && o->cfg.workers < o->workers)
		fprintf(stderr, PROG ": --workers %llu on %zu cores: %zu parser workers, one a core\n",
			o->workers, o->cfg.workers, o->cfg.workers);
	o->cfg.source.from_start = o->from_start || o->once;
	o->cfg.source.stop_at_eof = o->once;
	o->cfg.serve = !o->once;
}

/* -1: go on; otherwise the status to exit with: 0 after --help or
 * --version, 2 for bad arguments (reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->cfg = pipeline_config_default();
	o->capacity = o->cfg.capacity;
	o->batch = BATCH_UNSET;
	const struct arg_option options[] = {
	    ARG_LIST_OPT(
		"file", 0, o->files, "PATH",
		"follow PATH like tail -F (from its end, unless\n--from-start); repeat it for more files "
		"(up to " ARG_STR(TAILER_GROUP_MAX) ");\na glob pattern in quotes ('logs/?*.log') also\n"
						    "follows files that match later",
		TAILER_GROUP_MAX),
	    ARG_FLAG_OPT("from-start", 0, &o->from_start, "read what the files already hold first"),
	    ARG_FLAG_OPT("file-label", 0, &o->cfg.file_label,
			 "count lines read, rotations and truncations by\nfile (a label per file: see "
			 "docs/metrics.md)"),
	    ARG_FLAG_OPT("once", 0, &o->once,
			 "with --file: read it from start to end, print the\nmetrics to stdout and exit (no "
			 "server)"),
	    ARG_FLAG_OPT("simulate", 0, &o->simulate,
			 "make log lines instead of reading a file (the default)"),
	    ARG_DECIMAL_OPT("rate", 0, &o->cfg.source.rate, "N",
			    "simulated lines per second (default 100; 0: as\nfast as possible)", 0, 1e9),
	    ARG_WHOLE_OPT("seed", 0, &o->cfg.source.seed, "N", "the simulator's seed (default 1)", 0,
			  ARG_NO_MAX),
	    ARG_CUSTOM_OPT("min-level", 0, &o->cfg.filter.min_level, "LEVEL",
			   "keep entries at or above LEVEL (default info)", take_level,
			   "trace, debug, info, warn, error or fatal"),
	    ARG_CUSTOM_OPT("services", 0, &o->cfg.filter, "a,b",
			   "keep only these services (default: every one)", take_services,
			   "a,b,... (at most " ARG_STR(FILTER_MAX_SERVICES) " names, none empty)"),
	    ARG_TEXT_OPT("listen", 0, &o->cfg.http.listen, "ADDR",
			 "127.0.0.1:PORT, [::1]:PORT or :PORT for every\ninterface (default "
			 "127.0.0.1:" ARG_STR(HTTP_DEFAULT_PORT) ")"),
	    ARG_WHOLE_OPT(
		"capacity", 0, &o->capacity, "N",
		"capacity of each channel between stages (default " ARG_STR(PIPELINE_DEFAULT_CAPACITY) ")", 1,
		SIZE_MAX / 16),
	    ARG_WHOLE_OPT("batch", 0, &o->batch, "N",
			  "move up to N items per channel operation (lesson\n11; 1 to " ARG_STR(
			      STAGE_MAX_BATCH) ", default " ARG_STR(PIPELINE_FAST_BATCH) ", 1 with\n--slow-stage; 0: one at a "
			  "time, in the stages'\nown loops of lesson 09)",
			  0, STAGE_MAX_BATCH),
	    ARG_WHOLE_OPT("workers", 0, &o->workers, "N",
			  "parser threads (lesson 12; 1 to " ARG_STR(STAGE_MAX_WORKERS) ", at most\nand by default one a core; one with --container\nor --batch 0)", 1,
			  STAGE_MAX_WORKERS),
	    ARG_FLAG_OPT("separate-stages", 0, &o->cfg.separate_stages,
			 "run the filter and the metrics stage in runners\nof their own, not inside the parser's "
			 "workers\n(lesson 12)"),
	    ARG_CUSTOM_OPT(
		"slow-stage", 0, &o->cfg, "S:US",
		"make stage S (parser, filter or metrics) sleep US\nmicroseconds per item, to watch "
		"backpressure\n(lesson 13)",
		take_slow_stage, "STAGE:MICROSECONDS (parser, filter or metrics; 1 to 10000000)"),
	    ARG_CUSTOM_OPT(
		"format", 0, &o->preset, "NAME",
		"the log's JSON: default, pino, bunyan, zap, logrus,\nslog or ecs (docs/formats.md)",
		take_format, "default, pino, bunyan, zap, logrus, slog or ecs"),
	    ARG_CUSTOM_OPT("container", 0, &o->cfg.container, "C",
			   "lines wrapped by docker (json-file) or cri\n(Kubernetes)", take_container,
			   "docker, cri or none"),
	    ARG_CUSTOM_OPT(
		"level-scale", 0, o, "S",
		"numeric levels: pino (10 trace ... 60 fatal),\nsyslog (0 emerg ... 7 debug) or none",
		take_scale, "pino, syslog or none"),
	    ARG_TEXT_OPT("level-field", 0, &o->fields[0], "F",
			 "where the level is: keys or dotted paths,\ncomma-separated, tried in order (these "
			 "four change\n--format's choice)"),
	    ARG_TEXT_OPT("service-field", 0, &o->fields[1], "F", "where the service is"),
	    ARG_TEXT_OPT("message-field", 0, &o->fields[2], "F", "where the message is"),
	    ARG_TEXT_OPT("latency-field", 0, &o->fields[3], "F", "where the latency (milliseconds) is"),
	    ARG_FLAG_OPT("version", 0, &o->version, "print the version"),
	    ARG_END};
	const struct arg_program prog = {
	    PROG,
	    "--file PATH... [--from-start] [--file-label] [--once] [OPTION...]\n"
	    "[--simulate [--rate N] [--seed N]] [OPTION...]",
	    "  Turns a JSON log into Prometheus metrics, served at http://ADDR/metrics.\n", options};
	int rc = args_parse(&prog, argc, argv);
	if (rc < 0 && o->version) {
		printf(PROG " " PIPELINE_VERSION "\n");
		return 0;
	}
	if (rc >= 0)
		return rc;
	char err[256];
	const char *why = conflict(o);
	if (why == NULL && settle_format(o, err, sizeof(err)) != 0)
		why = err;
	if (why != NULL)
		return args_bad(&prog, why);
	settle(o);
	return -1;
}

/* ---- the two ways to run --------------------------------------------------------- */

/* The invariant, checked once every stage has ended: says how it went. */
static void check_invariant(struct pipeline *p, int cancelled)
{
	unsigned long long read = pipeline_lines_read(p), accounted = pipeline_lines_accounted(p);
	unsigned long long unfollowed = atomic_load(&p->tailers.unfollowed);
	if (unfollowed > 0)
		fprintf(stderr,
			PROG ": warning: %llu files matched but were not followed (at most %d files)\n",
			unfollowed, TAILER_GROUP_MAX);
	if (read != accounted)
		fprintf(stderr,
			PROG ": warning: %llu lines read but %llu accounted for (parse errors + filtered + "
			     "entries + dropped + discarded + joined): a stage lost or invented lines\n",
			read, accounted);
	else if (cancelled)
		fprintf(stderr,
			PROG ": cancelled: all %llu lines accounted for, %llu of them discarded in flight\n",
			read, pipeline_lines_discarded(p));
	else
		fprintf(stderr,
			PROG ": all %llu lines accounted for (parse errors + filtered + entries + dropped + "
			     "discarded + joined)\n",
			read);
}

/* With lessons 11 to 13's options, says how the stages run: what the pipeline
 * made of them, as its parser runner holds it. */
static void say_stages(const struct pipeline *p)
{
	if (!pipeline_config_batched(&p->cfg))
		return;
	const struct stage_runner *parser = &p->runners[1]; /* indexed as p->threads */
	int one = parser->workers == 1;
	const char *fused = one ? " that also filters and counts (fused " : " that also filter and count (fused ";
	fprintf(stderr, PROG ": stages in batches of up to %zu, %zu parser worker%s%sstage runners)\n",
		parser->batch, parser->workers, one ? "" : "s", p->fused.n > 0 ? fused : " (");
	if (p->cfg.slow_stage != NULL)
		fprintf(stderr, PROG ": the %s stage sleeps %lu us per item (--slow-stage)\n",
			p->cfg.slow_stage, p->cfg.slow_us);
}

/* Following waits for a file that is not there yet; a batch run would
 * quietly count nothing, so say it. A pattern that matches nothing comes
 * back from glob as itself (GLOB_NOCHECK), and is not there either.
 * 0, or 1 (reported). */
static int check_files_there(const struct options *o)
{
	for (size_t i = 0; i < o->cfg.nfiles; i++) {
		glob_t found;
		int rc = glob(o->files[i], GLOB_NOCHECK, NULL, &found) == 0 ? 0 : 1;
		for (size_t k = 0; rc == 0 && k < found.gl_pathc; k++)
			if (access(found.gl_pathv[k], R_OK) != 0) {
				fprintf(stderr, PROG ": %s: %s\n", found.gl_pathv[k], strerror(errno));
				rc = 1;
			}
		globfree(&found);
		if (rc != 0)
			return 1;
	}
	return 0;
}

/* "a.log, b.log" for the messages; the first ones when they are many. */
static void name_files(const struct options *o, char *to, size_t size)
{
	size_t used = 0;
	to[0] = '\0';
	for (size_t i = 0; i < o->cfg.nfiles && used < size; i++)
		used += (size_t)snprintf(to + used, size - used, "%s%s", i > 0 ? ", " : "", o->files[i]);
}

/* --once: the batch mode. Read to the end, drain, print, exit. */
static int run_once(struct options *o)
{
	static struct pipeline p;
	char err[256] = "";
	if (check_files_there(o) != 0)
		return 1;
	if (pipeline_start(&p, &o->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	char files[300];
	name_files(o, files, sizeof(files));
	fprintf(stderr, PROG ": reading %s once, from start to end\n", files);
	say_stages(&p);
	pipeline_wait(&p); /* the tailer stops at the end; the close travels down */
	size_t len = 0;
	char *text = pipeline_render(&p, &len);
	int rc = text != NULL && fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
	if (text == NULL)
		fprintf(stderr, PROG ": cannot render the metrics\n");
	free(text);
	check_invariant(&p, 0);
	pipeline_free(&p);
	return rc;
}

/* pipeline_stop on a thread of its own, so that the main thread can go on
 * listening for a second signal while the stages drain. */
struct stopper {
	struct pipeline *p;
	atomic_int finished; /* 1 once pipeline_stop has returned */
};

static void *stop_pipeline(void *arg)
{
	struct stopper *s = arg;
	pipeline_stop(s->p);
	atomic_store(&s->finished, 1);
	return NULL;
}

/*
 * The first SIGINT or SIGTERM stops the pipeline the careful way: the
 * source stops, and every line in flight is drained and counted
 * (pipeline_await_signal begins it, pipeline_stop waits for it). If that
 * takes too long, say because a stage is stuck, a second signal abandons
 * what is in flight (pipeline_cancel, lesson 13). Returns the first
 * signal, and sets *cancelled.
 */
static int stop_on_signals(struct pipeline *p, int *cancelled)
{
	int signo = pipeline_await_signal(p);
	fprintf(stderr, PROG ": %s: draining what is in flight (again to abandon it)\n", strsignal(signo));
	struct stopper s = {.p = p};
	atomic_init(&s.finished, 0);
	pthread_t tid;
	*cancelled = 0;
	if (pthread_create(&tid, NULL, stop_pipeline, &s) != 0) {
		pipeline_stop(p);
		return signo;
	}
	sigset_t set;
	pipeline_signal_set(&set);
	const struct timespec tick = {0, 100 * 1000000L};
	while (!atomic_load(&s.finished)) {
		int again = sigtimedwait(&set, NULL, &tick);
		if (again > 0 && !*cancelled) {
			fprintf(stderr, PROG ": %s again: abandoning what is in flight\n", strsignal(again));
			pipeline_cancel(p);
			*cancelled = 1;
		}
	}
	pthread_join(tid, NULL);
	return signo;
}

/* Follow or simulate, serving /metrics, until SIGINT or SIGTERM. */
static int run_serving(struct options *o)
{
	static struct pipeline p;
	char err[256] = "";
	if (pipeline_start(&p, &o->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	char source[320], files[280];
	name_files(o, files, sizeof(files));
	if (o->cfg.source.path != NULL)
		snprintf(source, sizeof(source), "following %s%s", files,
			 o->from_start ? " from the start" : "");
	else if (o->cfg.source.rate > 0)
		snprintf(source, sizeof(source), "simulating %g lines/s (seed %llu)", o->cfg.source.rate,
			 o->cfg.source.seed);
	else
		snprintf(source, sizeof(source),
			 "simulating lines as fast as the pipeline takes them (seed %llu)",
			 o->cfg.source.seed);
	const char *where = o->cfg.http.listen[0] == ':' ? "every interface" : o->cfg.http.listen;
	fprintf(stderr, PROG " " PIPELINE_VERSION ": %s; serving /metrics on %s (port %d)\n", source, where,
		http_server_port(p.server));
	say_stages(&p);
	int cancelled = 0;
	int signo = stop_on_signals(&p, &cancelled); /* returns once every stage has ended */
	fprintf(stderr, PROG ": %s: stopped; %llu lines read\n", strsignal(signo), pipeline_lines_read(&p));
	/* Last: until now, a scrape could still read the final counts. */
	http_server_stop(p.server);
	p.server = NULL;
	check_invariant(&p, cancelled);
	pipeline_free(&p);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	/* Before any thread starts: the parser's trees come from the arena. */
	json_arena_install();
	if (o.once)
		return run_once(&o); /* batch: Ctrl-C simply ends it, there is nothing to save */
	/* pipeline_start blocks the signals before it starts any thread, so
	 * that every thread inherits the mask and only sigwait takes them. */
	o.cfg.stop_signals = 1;
	return run_serving(&o);
}
