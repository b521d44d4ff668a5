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
#include "pipeline.h"

#include <errno.h>
#include <getopt.h>
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
	 * order on the command line (applied by parse_args at the end) */
	const struct log_format *preset;
	const char *fields[4]; /* --level-field, --service-field, --message-field, --latency-field */
	int scale_given;
	enum level_scale scale;
	int simulate;
	int once;
	int from_start;
	char *services; /* --services, cut up in place by filter_config_services */
	const char *files[TAILER_GROUP_MAX]; /* --file, each a path or a glob pattern */
	size_t nfiles;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: " PROG " (--file PATH... [--from-start] [--once] [--file-label] |\n"
		"               --simulate [--rate N] [--seed N])\n"
		"              [--min-level LEVEL] [--services a,b] [--listen ADDR] [--capacity N]\n"
		"              [--batch N] [--workers N] [--slow-stage STAGE:US]\n"
		"              [--format NAME] [--container docker|cri] [--level-scale SCALE]\n"
		"              [--level-field F] [--service-field F] [--message-field F]\n"
		"              [--latency-field F]\n"
		"  Turns a JSON log into Prometheus metrics, served at http://ADDR/metrics.\n"
		"  --file PATH        follow PATH like tail -F (from its end, unless --from-start);\n"
		"                     repeat it for more files (up to %d); a glob pattern in\n"
		"                     quotes ('logs/?*.log') also follows files that match later\n"
		"  --from-start       read what the files already hold first\n"
		"  --file-label       count lines read, rotations and truncations by file\n"
		"                     (a label per file: see docs/metrics.md)\n"
		"  --simulate         make log lines instead of reading a file (the default)\n"
		"  --rate N           simulated lines per second (default 100; 0: as fast as possible)\n"
		"  --seed N           the simulator's seed (default 1)\n"
		"  --min-level LEVEL  keep entries at or above LEVEL (default info)\n"
		"  --services a,b     keep only these services (default: every one)\n"
		"  --listen ADDR      127.0.0.1:PORT, [::1]:PORT or :PORT for every interface\n"
		"                     (default 127.0.0.1:%d)\n"
		"  --capacity N       capacity of each channel between stages (default %d)\n"
		"  --batch N          move up to N items per channel operation (lesson 11;\n"
		"                     1 to %d; default: one at a time, in the stages' own loops)\n"
		"  --workers N        parser threads (lesson 12; 1 to %d, default 1)\n"
		"  --slow-stage S:US  make stage S (parser, filter or metrics) sleep US\n"
		"                     microseconds per item, to watch backpressure (lesson 13)\n"
		"  --format NAME      the log's JSON: default, pino, bunyan, zap, logrus, slog or\n"
		"                     ecs (docs/formats.md)\n"
		"  --container C      lines wrapped by docker (json-file) or cri (Kubernetes)\n"
		"  --level-scale S    numeric levels: pino (10 trace ... 60 fatal), syslog\n"
		"                     (0 emerg ... 7 debug) or none\n"
		"  --level-field F    where the level is: keys or dotted paths, comma-separated,\n"
		"                     tried in order (also --service-field, --message-field,\n"
		"                     --latency-field; they change --format's choice)\n"
		"  --once             with --file: read it from start to end, print the metrics\n"
		"                     to stdout and exit (no server)\n"
		"  --help, --version\n",
		TAILER_GROUP_MAX, HTTP_DEFAULT_PORT, PIPELINE_DEFAULT_CAPACITY, STAGE_MAX_BATCH,
		STAGE_MAX_WORKERS);
}

/* Says what is wrong, then the usage; returns 2 (bad arguments). */
static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

/* bad() for a count from 1 to max. */
static int bad_count(const char *option, int max, const char *arg)
{
	char fmt[96];
	snprintf(fmt, sizeof(fmt), "%s wants a whole number from 1 to %d, not '%%s'", option, max);
	return bad(fmt, arg);
}

enum {
	O_FILE = 256,
	O_FILE_LABEL,
	O_FROM_START,
	O_SIMULATE,
	O_RATE,
	O_SEED,
	O_MIN_LEVEL,
	O_SERVICES,
	O_LISTEN,
	O_CAPACITY,
	O_BATCH,
	O_WORKERS,
	O_SLOW_STAGE,
	O_ONCE,
	O_FORMAT,
	O_CONTAINER,
	O_LEVEL_SCALE,
	O_LEVEL_FIELD,
	O_SERVICE_FIELD,
	O_MESSAGE_FIELD,
	O_LATENCY_FIELD,
	O_HELP,
	O_VERSION
};

/* --slow-stage STAGE:US, cut at the colon in place (argv may be written
 * to). 0, or 2 (reported). */
static int slow_stage(const char *arg, struct options *o)
{
	char *colon = strchr(arg, ':');
	unsigned long long us;
	if (colon == NULL || colon == arg || arg_whole(colon + 1, 1, 10000000, &us) != 0)
		return bad("--slow-stage wants STAGE:MICROSECONDS (parser, filter or metrics; 1 to "
			   "10000000), not '%s'",
			   arg);
	*colon = '\0';
	o->cfg.slow_stage = arg;
	o->cfg.slow_us = (unsigned long)us;
	return 0;
}

/* The log format options. 0: go on; 2: bad (reported). */
static int format_option(int c, const char *arg, struct options *o)
{
	switch (c) {
	case O_FORMAT:
		if ((o->preset = log_format_preset(arg)) == NULL)
			return bad("--format: unknown format '%s' (default, pino, bunyan, zap, logrus, slog, "
				   "ecs)",
				   arg);
		return 0;
	case O_CONTAINER:
		if (log_container_parse(arg, &o->cfg.container) != 0)
			return bad("--container wants docker, cri or none, not '%s'", arg);
		return 0;
	case O_LEVEL_SCALE:
		if (level_scale_parse(arg, &o->scale) != 0)
			return bad("--level-scale wants pino, syslog or none, not '%s'", arg);
		o->scale_given = 1;
		return 0;
	default: /* the four field lists, in the order of enum O_... */
		o->fields[c - O_LEVEL_FIELD] = arg;
		return 0;
	}
}

/* The format the options describe, in o->cfg.format: --format's preset
 * (the default one if none) with the field options over it. Leaves it
 * unset (parse_log_line's own rules, the fastest) when nothing was asked
 * for. 0, or 2 (reported). */
static int settle_format(struct options *o)
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
	char err[256];
	if (log_format_check(f, err, sizeof(err)) != 0)
		return bad("%s", err);
	return 0;
}

/* One option. 0: go on; 2: bad (reported). */
static int option(int c, const char *arg, struct options *o)
{
	unsigned long long n;
	if (c >= O_FORMAT && c <= O_LATENCY_FIELD)
		return format_option(c, arg, o);
	switch (c) {
	case O_FILE:
		if (o->nfiles == TAILER_GROUP_MAX)
			return bad("too many --file options (at most 64): '%s'", arg);
		o->files[o->nfiles++] = arg;
		o->cfg.source.path = o->files[0];
		return 0;
	case O_FILE_LABEL:
		o->cfg.file_label = 1;
		return 0;
	case O_FROM_START:
		o->from_start = 1;
		return 0;
	case O_SIMULATE:
		o->simulate = 1;
		return 0;
	case O_RATE:
		if (arg_decimal(arg, 0, 1e9, &o->cfg.source.rate) != 0)
			return bad("--rate wants lines per second (0 or more), not '%s'", arg);
		return 0;
	case O_SEED:
		if (arg_whole(arg, 0, ULLONG_MAX, &n) != 0)
			return bad("--seed wants a whole number, not '%s'", arg);
		o->cfg.source.seed = n;
		return 0;
	case O_MIN_LEVEL:
		if (log_level_parse(arg, &o->cfg.filter.min_level) != 0)
			return bad("--min-level: unknown level '%s' (trace, debug, info, warn, error, fatal)",
				   arg);
		return 0;
	case O_SERVICES:
		o->services = (char *)arg; /* argv strings may be written to */
		if (filter_config_services(&o->cfg.filter, o->services) != 0)
			return bad("--services wants a,b,... (at most 16 names, none empty), not '%s'", arg);
		return 0;
	case O_LISTEN:
		o->cfg.http.listen = arg;
		return 0;
	case O_CAPACITY:
		if (arg_whole(arg, 1, SIZE_MAX / 16, &n) != 0)
			return bad("--capacity wants a positive number, not '%s'", arg);
		o->cfg.capacity = (size_t)n;
		return 0;
	case O_BATCH:
		if (arg_whole(arg, 1, STAGE_MAX_BATCH, &n) != 0)
			return bad_count("--batch", STAGE_MAX_BATCH, arg);
		o->cfg.batch = (size_t)n;
		return 0;
	case O_WORKERS:
		if (arg_whole(arg, 1, STAGE_MAX_WORKERS, &n) != 0)
			return bad_count("--workers", STAGE_MAX_WORKERS, arg);
		o->cfg.workers = (size_t)n;
		return 0;
	case O_SLOW_STAGE:
		return slow_stage(arg, o);
	case O_ONCE:
		o->once = 1;
		return 0;
	}
	return 2;
}

/* 0: go on; 1: --help or --version was printed; 2: bad arguments (reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"file", required_argument, NULL, O_FILE},
					      {"file-label", no_argument, NULL, O_FILE_LABEL},
					      {"from-start", no_argument, NULL, O_FROM_START},
					      {"simulate", no_argument, NULL, O_SIMULATE},
					      {"rate", required_argument, NULL, O_RATE},
					      {"seed", required_argument, NULL, O_SEED},
					      {"min-level", required_argument, NULL, O_MIN_LEVEL},
					      {"services", required_argument, NULL, O_SERVICES},
					      {"listen", required_argument, NULL, O_LISTEN},
					      {"capacity", required_argument, NULL, O_CAPACITY},
					      {"batch", required_argument, NULL, O_BATCH},
					      {"workers", required_argument, NULL, O_WORKERS},
					      {"slow-stage", required_argument, NULL, O_SLOW_STAGE},
					      {"once", no_argument, NULL, O_ONCE},
					      {"format", required_argument, NULL, O_FORMAT},
					      {"container", required_argument, NULL, O_CONTAINER},
					      {"level-scale", required_argument, NULL, O_LEVEL_SCALE},
					      {"level-field", required_argument, NULL, O_LEVEL_FIELD},
					      {"service-field", required_argument, NULL, O_SERVICE_FIELD},
					      {"message-field", required_argument, NULL, O_MESSAGE_FIELD},
					      {"latency-field", required_argument, NULL, O_LATENCY_FIELD},
					      {"help", no_argument, NULL, O_HELP},
					      {"version", no_argument, NULL, O_VERSION},
					      {NULL, 0, NULL, 0}};
	memset(o, 0, sizeof(*o));
	o->cfg = pipeline_config_default();
	opterr = 0; /* we print our own one-line reasons */
	int c;
	while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
		if (c == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == O_VERSION) {
			printf(PROG " " PIPELINE_VERSION "\n");
			return 1;
		}
		if (c == ':')
			return bad("%s needs a value", argv[optind - 1]);
		if (c == '?')
			return bad("unknown option %s", argv[optind - 1]);
		if (option(c, optarg, o) != 0)
			return 2;
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (o->simulate && o->cfg.source.path != NULL)
		return bad("%s", "--file and --simulate exclude each other");
	if (o->once && o->cfg.source.path == NULL)
		return bad("%s", "--once needs --file (a simulator never ends)");
	if (o->from_start && o->cfg.source.path == NULL)
		return bad("%s", "--from-start needs --file");
	if (o->cfg.file_label && o->cfg.source.path == NULL)
		return bad("%s", "--file-label needs --file");
	o->cfg.files = o->files;
	o->cfg.nfiles = o->nfiles;
	if (o->cfg.container != CONTAINER_NONE && o->cfg.workers > 1)
		return bad("%s", "--container joins pieces of lines in order: it needs one parser worker");
	/* The lines of several files interleave in one channel, and a line
	 * does not say which file it came from. */
	if (o->cfg.container != CONTAINER_NONE && o->nfiles > 0 && (o->nfiles > 1 || strpbrk(o->files[0], "*?[") != NULL))
		return bad("%s", "--container joins pieces of one file's lines: it takes one --file, not "
				 "several or a pattern");
	if (settle_format(o) != 0)
		return 2;
	o->cfg.source.from_start = o->from_start || o->once;
	o->cfg.source.stop_at_eof = o->once;
	o->cfg.serve = !o->once;
	return 0;
}

/* ---- the two ways to run --------------------------------------------------------- */

/* The invariant, checked once every stage has ended: says how it went. */
static void check_invariant(struct pipeline *p, int cancelled)
{
	unsigned long long read = pipeline_lines_read(p), accounted = pipeline_lines_accounted(p);
	unsigned long long unfollowed = atomic_load(&p->tailers.unfollowed);
	if (unfollowed > 0)
		fprintf(stderr, PROG ": warning: %llu files matched but were not followed (at most %d files)\n",
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
	fprintf(stderr, PROG ": stages in batches of up to %zu, %zu parser worker%s (stage runners)\n",
		parser->batch, parser->workers, parser->workers == 1 ? "" : "s");
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
	for (size_t i = 0; i < o->nfiles; i++) {
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
	for (size_t i = 0; i < o->nfiles && used < size; i++)
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
		snprintf(source, sizeof(source), "following %s%s", files, o->from_start ? " from the start" : "");
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
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (o.once)
		return run_once(&o); /* batch: Ctrl-C simply ends it, there is nothing to save */
	/* pipeline_start blocks the signals before it starts any thread, so
	 * that every thread inherits the mask and only sigwait takes them. */
	o.cfg.stop_signals = 1;
	return run_serving(&o);
}
