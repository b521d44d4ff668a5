/*
 * 05-filter.c - lesson 05's program: JSON log lines in, the entries the
 * filter keeps out, then a summary that accounts for every line.
 *
 * main plays the tailer and the parser: it reads the lines as the tailer
 * hands them over (src/lib/readlines.c; a line over 64 KiB is a too_long
 * parse error) and parses each with parse_log_line. Parse errors are
 * counted here and go no further; each entry goes over a channel to the
 * filter stage, on its own thread. A third thread plays the metrics
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
#include "filter.h"
#include "log_entry.h"
#include "notimpl.h"
#include "parser.h"
#include "print.h"
#include "readlines.h"
#include "stage_thread.h"

#include <stdio.h>

#define PROG	 "05-filter"
#define MAX_LINE 65536 /* the tailer's default, TAILER_DEFAULT_MAX_LINE */
#define L05	 "lessons/05-filter/README.md"

struct run {
	struct filter_stage stage;
	int quiet;
	unsigned long long lines, parse_errors, received;
};

static int services_bad(const struct arg_program *prog)
{
	fprintf(stderr, PROG ": --services wants 1 to %d comma-separated names, none of them empty\n",
		FILTER_MAX_SERVICES);
	return args_bad(prog, NULL);
}

/* Fills cfg from the options. -1: go on; otherwise the status to exit
 * with (the reason reported). */
static int configure(const struct arg_program *prog, const char *min_level, char *services,
		     struct filter_config *cfg)
{
	*cfg = filter_config_default();
	if (min_level != NULL && log_level_parse(min_level, &cfg->min_level) != 0)
		return args_bad(prog, "--min-level wants trace, debug, info, warn, error or fatal");
	if (services != NULL && filter_config_services(cfg, services) != 0 && !not_implemented_reached())
		return services_bad(prog);
	return not_implemented_end(PROG) ? 1 : -1;
}

/* Each line read: counted, parsed, and its entry sent to the stage. A
 * parse error is counted here, once; the filter never hears of it. */
static int feed(void *ctx, unsigned long lineno, char *text, size_t len)
{
	struct run *r = ctx;
	struct log_entry *e = NULL;
	enum parse_error err = len > MAX_LINE ? PARSE_TOO_LONG : parse_log_line(text, len, &e);
	(void)lineno;
	if (err == PARSE_NOTIMPL)
		return 1;
	r->lines++;
	if (err != PARSE_OK) {
		r->parse_errors++;
		return 0;
	}
	/* CHAN_OK: the entry is the stage's now, and we forget it. */
	if (chan_send(r->stage.in, e) == CHAN_OK)
		return 0;
	log_entry_free(e);
	return 1;
}

/* The metrics stage's stand-in: prints each entry, counts and frees it. */
static void print_passed(void *ctx, void *msg)
{
	struct run *r = ctx;
	r->received++;
	if (!r->quiet)
		print_entry(msg);
	log_entry_free(msg);
}

static void run_filter(void *stage)
{
	filter_run(stage);
}

/* Prints the equation; 0 if every line is accounted for, else 1. */
static int account(const struct run *r)
{
	unsigned long long dropped = atomic_load(&r->stage.stats.dropped),
			   passed = atomic_load(&r->stage.stats.passed);
	int adds_up = r->parse_errors + dropped + passed == r->lines && r->received == passed;
	printf("lines read %llu = parse errors %llu + dropped by the filter %llu + passed %llu%s\n", r->lines,
	       r->parse_errors, dropped, passed, adds_up ? "" : " (does NOT add up)");
	if (!adds_up)
		fprintf(stderr,
			PROG ": lesson 05: %llu entries came out, but the filter counted %llu passed; every "
			     "entry is counted once, as dropped or as passed (see " L05
			     "#counting-what-you-drop)\n",
			r->received, passed);
	return !adds_up;
}

int main(int argc, char **argv)
{
	static struct run r; /* static: zeroed, counters included */
	const char *path = NULL, *min_level = NULL;
	char *services = NULL; /* cut up in place by the filter */
	const struct arg_option options[] = {
	    READLINES_FILE_OPT(&path),
	    ARG_TEXT_OPT(
		"min-level", 'l', &min_level, "LEVEL",
		"keep entries at or above LEVEL: trace, debug, info (the\ndefault), warn, error or fatal"),
	    ARG_TEXT_OPT(
		"services", 's', &services, "A,B,...",
		"keep only these services (exact names; blanks around a\nname are ignored; at most 16)"),
	    ARG_FLAG_OPT("quiet", 'q', &r.quiet, "print the summary only"), ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Parses JSON log lines (from PATH, or stdin), runs the entries through lesson 05's\n"
	    "  filter stage, prints those that pass, then a summary of what became of each line.\n",
	    options};
	int rc = args_parse(&prog, argc, argv);
	if (rc < 0)
		rc = configure(&prog, min_level, services, &r.stage.cfg);
	if (rc >= 0)
		return rc;

	struct stage_thread t = {.run = run_filter,
				 .stage = &r.stage,
				 .in = &r.stage.in,
				 .out = &r.stage.out,
				 .take = print_passed,
				 .ctx = &r,
				 .free_msg = stage_thread_free_entry};
	rc = stage_thread_feed(&t, PROG, path, feed, &r);
	if (not_implemented_end(PROG) || rc < 0)
		return 1;
	if (rc > 0) {
		fprintf(stderr, PROG
			": the filter stage stopped taking entries before the end (make test LESSON=05)\n");
		return 1;
	}
	if (!r.quiet)
		putchar('\n');
	return account(&r);
}
