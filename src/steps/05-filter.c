/*
 * 05-filter.c - lesson 05's program: JSON log lines in, the entries the
 * filter keeps out, then a summary that accounts for every line.
 *
 * main plays the tailer and the parser: it reads the lines (the newline
 * and a trailing '\r' dropped, blank lines skipped, a line over 64 KiB
 * counted as a too_long parse error, as the tailer and the parser of
 * lessons 03 and 04 do) and parses each with parse_log_line. Parse errors
 * are counted here and go no further; each entry goes over a channel to
 * the filter stage, on its own thread. A third thread plays the metrics
 * stage: it prints the entries that pass and frees them.
 *
 * At the end, every line read must be a parse error, an entry the filter
 * dropped, or an entry it passed, exactly once. If the counts do not add
 * up, the program says so and exits with status 1.
 *
 *   05-filter --file tests/data/sample.log --min-level warn
 *   05-filter --services api,billing --quiet < some.log
 *
 * smoke: --file tests/data/sample.log --min-level warn
 * smoke: --file tests/data/sample.log --min-level debug --services api,billing --quiet
 */
#include "args.h"
#include "channel.h"
#include "filter.h"
#include "log_entry.h"
#include "parser.h"
#include "print.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PROG	    "05-filter"
#define CHANNEL_CAP 64
#define MAX_LINE    65536 /* the tailer's default, TAILER_DEFAULT_MAX_LINE */
#define L05	    "lessons/05-filter/README.md"

struct options {
	const char *path;      /* NULL: stdin */
	const char *min_level; /* NULL: the default */
	char *services;	       /* NULL: every service; cut up in place by the filter */
	int quiet;
};

static void usage(FILE *to)
{
	fprintf(to, "usage: " PROG " [--file PATH] [--min-level LEVEL] [--services A,B,...] [--quiet]\n"
		    "  Parses JSON log lines (from PATH, or stdin), runs the entries through lesson 05's\n"
		    "  filter stage, prints those that pass, then a summary of what became of each line.\n"
		    "  -f, --file PATH          read PATH instead of stdin\n"
		    "  -l, --min-level LEVEL    keep entries at or above LEVEL: trace, debug, info (the\n"
		    "                           default), warn, error or fatal\n"
		    "  -s, --services A,B,...   keep only these services (exact names; blanks around a\n"
		    "                           name are ignored; at most 16)\n"
		    "  -q, --quiet              print the summary only\n"
		    "  -h, --help               this text\n");
}

/* 0: go on; 1: --help was printed; 2: bad arguments (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
	    {"file", required_argument, NULL, 'f'},	{"min-level", required_argument, NULL, 'l'},
	    {"services", required_argument, NULL, 's'}, {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0}};
	*o = (struct options){NULL, NULL, NULL, 0};
	opterr = 0; /* we print our own one-line reasons */
	int c;
	while ((c = getopt_long(argc, argv, ":f:l:s:qh", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->path = optarg;
			break;
		case 'l':
			o->min_level = optarg;
			break;
		case 's':
			o->services = optarg;
			break;
		case 'q':
			o->quiet = 1;
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

/* ---- the configuration ---------------------------------------------------------- */

/* A not-implemented message for the learner, naming the function and the
 * section to read. */
static void not_done(const char *func, const char *anchor)
{
	fprintf(stderr,
		PROG ": lesson 05 is not done yet: %s is still a stub (exercises/05-filter/filter.c; "
		     "see " L05 "#%s)\n",
		func, anchor);
}

/* 0: cfg is ready; 1: lesson 05 is not done (reported); 2: bad arguments
 * (reported). */
static int configure(const struct options *o, struct filter_config *cfg)
{
	*cfg = filter_config_default();
	if ((unsigned)cfg->min_level >= LOG_LEVELS) {
		not_done("filter_config_default", "the-default-configuration");
		return 1;
	}
	if (o->min_level != NULL && log_level_parse(o->min_level, &cfg->min_level) != 0) {
		fprintf(stderr,
			PROG ": --min-level wants trace, debug, info, warn, error or fatal, not '%s'\n",
			o->min_level);
		usage(stderr);
		return 2;
	}
	if (o->services != NULL) {
		errno = 0;
		if (filter_config_services(cfg, o->services) != 0) {
			if (errno == ENOSYS) {
				not_done("filter_config_services", "a-list-of-services");
				return 1;
			}
			fprintf(stderr,
				PROG ": --services wants 1 to %d comma-separated names, none of them empty\n",
				FILTER_MAX_SERVICES);
			usage(stderr);
			return 2;
		}
	}
	/* A fatal entry from a service the filter keeps passes every
	 * configuration. If it does not, filter_accept is not written yet, and
	 * every entry would be dropped without a word. */
	struct log_entry probe = {.level = LOG_FATAL,
				  .service = (char *)(cfg->nservices > 0 ? cfg->services[0] : "probe"),
				  .message = (char *)""};
	if (filter_accept(cfg, &probe) != 1) {
		not_done("filter_accept", "accept-or-drop");
		return 1;
	}
	return 0;
}

/* ---- the threads ---------------------------------------------------------------- */

/* The filter stage, and what became of it. */
struct stage_run {
	struct filter_stage stage;
	int left_out_open; /* filter_run returned without closing out */
};

static void *stage_thread(void *arg)
{
	struct stage_run *r = arg;
	filter_run(&r->stage);
	/* A correct stage returns once in is closed, having closed out, so
	 * both closes below answer CHAN_CLOSED. A stage that returned early
	 * (the exercise stub does) would leave the sink waiting on out and
	 * main blocked sending on in: closing them ends both waits. */
	r->left_out_open = chan_close(r->stage.out) == CHAN_OK;
	chan_close(r->stage.in);
	return NULL;
}

/* The next stage: takes entries until out is closed, prints, counts and
 * frees them. main reads its count after pthread_join, which orders the
 * read after the writes. */
struct sink {
	struct chan *in;
	int quiet;
	unsigned long long received;
};

static void *sink_thread(void *arg)
{
	struct sink *s = arg;
	void *msg;
	while (chan_recv(s->in, &msg) == CHAN_OK) {
		struct log_entry *e = msg;
		s->received++;
		if (!s->quiet)
			print_entry(e);
		log_entry_free(e); /* the last stage frees what it receives */
	}
	return NULL;
}

/* ---- reading ---------------------------------------------------------------------- */

/* What main counts: lines read, and the lines that never became entries. */
struct tally {
	unsigned long long lines, parse_errors, entries;
};

enum feed_result { FEED_OK, FEED_PARSER_NOTIMPL, FEED_STAGE_GONE, FEED_READ_ERROR };

/* Reads f line by line; counts each line, parses it, and sends each entry
 * to the filter stage. */
static enum feed_result feed(FILE *f, struct chan *in, struct tally *t)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	enum feed_result res = FEED_OK;
	while (res == FEED_OK && (n = getline(&buf, &cap, f)) >= 0) {
		size_t len = (size_t)n;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		buf[len] = '\0';
		if (len == strspn(buf, " \t"))
			continue; /* blank: not a log line, counted nowhere */
		t->lines++;
		struct log_entry *e = NULL;
		enum parse_error err = len > MAX_LINE ? PARSE_TOO_LONG : parse_log_line(buf, len, &e);
		if (err == PARSE_NOTIMPL) {
			res = FEED_PARSER_NOTIMPL;
			break;
		}
		if (err != PARSE_OK) {
			/* Counted here, once. The filter never hears of it. */
			t->parse_errors++;
			continue;
		}
		t->entries++;
		/* CHAN_OK: the entry is the stage's now, and we forget it. */
		if (chan_send(in, e) != CHAN_OK) {
			log_entry_free(e);
			res = FEED_STAGE_GONE;
		}
	}
	if (res == FEED_OK && ferror(f))
		res = FEED_READ_ERROR;
	free(buf);
	return res;
}

/* ---- the end ---------------------------------------------------------------------- */

/* Why the run stopped early, for the learner. */
static void explain(enum feed_result res, const struct options *opt)
{
	switch (res) {
	case FEED_PARSER_NOTIMPL:
		fprintf(stderr, PROG ": parse_log_line is a stub: this program needs lesson 04's reference "
				     "(solutions/04-parser)\n");
		break;
	case FEED_STAGE_GONE:
		fprintf(stderr, PROG ": lesson 05: filter_run returned before its input was closed "
				     "(still the stub? see " L05 "#the-stage-loop)\n");
		break;
	case FEED_READ_ERROR:
		fprintf(stderr, PROG ": reading %s: %s\n", opt->path ? opt->path : "stdin", strerror(errno));
		break;
	case FEED_OK:
		break;
	}
}

/* Prints the summary; returns 1 if every line is accounted for. */
static int account(const struct tally *t, const struct filter_stats *st, const struct sink *sink)
{
	unsigned long long dropped = atomic_load(&st->dropped), passed = atomic_load(&st->passed);
	int adds_up = t->parse_errors + dropped + passed == t->lines && sink->received == passed;
	printf("lines read %llu = parse errors %llu + dropped by the filter %llu + passed %llu%s\n", t->lines,
	       t->parse_errors, dropped, passed, adds_up ? "" : " (does NOT add up)");
	if (!adds_up)
		fprintf(stderr,
			PROG ": lesson 05: %llu entries went into the filter and %llu came out, but it "
			     "counted %llu dropped and %llu passed; every entry is counted once, as dropped "
			     "or as passed (see " L05 "#counting-what-you-drop)\n",
			t->entries, sink->received, dropped, passed);
	return adds_up;
}

int main(int argc, char **argv)
{
	struct options opt;
	int rc = parse_args(argc, argv, &opt);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	static struct stage_run run; /* static: zeroed, counters included */
	rc = configure(&opt, &run.stage.cfg);
	if (rc != 0)
		return rc;
	FILE *f = stdin;
	if (opt.path != NULL && (f = fopen(opt.path, "r")) == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", opt.path, strerror(errno));
		return 1;
	}

	static struct sink sink;
	run.stage.in = chan_new(CHANNEL_CAP);
	run.stage.out = chan_new(CHANNEL_CAP);
	if (run.stage.in == NULL || run.stage.out == NULL) {
		fprintf(stderr, PROG ": cannot create channels: %s\n", strerror(errno));
		return 1;
	}
	sink.in = run.stage.out;
	sink.quiet = opt.quiet;
	pthread_t stage_tid, sink_tid;
	if (pthread_create(&stage_tid, NULL, stage_thread, &run) != 0 ||
	    pthread_create(&sink_tid, NULL, sink_thread, &sink) != 0) {
		fprintf(stderr, PROG ": cannot start threads\n");
		return 1;
	}

	struct tally mine = {0, 0, 0};
	enum feed_result res = feed(f, run.stage.in, &mine);
	if (f != stdin)
		fclose(f);
	/* No more entries: the stage drains in, closes out, and the sink ends. */
	chan_close(run.stage.in);
	pthread_join(stage_tid, NULL);
	pthread_join(sink_tid, NULL);
	/* Entries a stage that stopped early never took. */
	void *msg;
	while (chan_try_recv(run.stage.in, &msg) == CHAN_OK)
		log_entry_free(msg);
	chan_free(run.stage.in);
	chan_free(run.stage.out);

	if (res != FEED_OK) {
		explain(res, &opt);
		return 1;
	}
	if (run.left_out_open) {
		fprintf(
		    stderr, PROG
		    ": lesson 05: filter_run returned without closing out (still the stub?); the next stage "
		    "would wait forever (see " L05 "#the-stage-loop)\n");
		return 1;
	}
	if (!opt.quiet)
		putchar('\n');
	return account(&mine, &run.stage.stats, &sink) ? 0 : 1;
}
