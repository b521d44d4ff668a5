/*
 * 04-parser.c - lesson 04's program: JSON log lines in, entries and parse
 * errors out, then a summary.
 *
 * It reads lines the way the tailer will hand them over (src/lib/
 * readlines.c; a line over --max-line bytes becomes a too-long marker)
 * and sends them to a parser stage running on its own thread, as in the
 * pipeline. A third thread plays the next stage: it takes the entries and
 * counts them by level. The summary comes from the stage's counters and
 * from that thread. To say what became of each line, with its number, the
 * program also calls parse_log_line on every line itself.
 *
 *   04-parser --file tests/data/sample.log
 *   04-parser --quiet < some.log
 *
 * smoke: --file tests/data/sample.log --quiet
 */
#include "args.h"
#include "line.h"
#include "log_entry.h"
#include "notimpl.h"
#include "parser.h"
#include "print.h"
#include "readlines.h"
#include "stage_thread.h"

#include <stdint.h>
#include <stdio.h>

#define PROG "04-parser"

struct run {
	struct parser_stage stage;
	int quiet;
	unsigned long long max_line;
	unsigned long long levels[LOG_LEVELS]; /* the next stage's counts */
};

/* Parses the line directly and prints what became of it. Returns 1 if
 * parse_log_line is a stub. */
static int report(const struct run *r, unsigned long lineno, const struct line *line)
{
	struct log_entry *e = NULL;
	enum parse_error err = line->too_long ? PARSE_TOO_LONG : parse_log_line(line->text, line->len, &e);
	if (r->quiet || err == PARSE_NOTIMPL) {
		log_entry_free(e);
		return err == PARSE_NOTIMPL;
	}
	printf("%5lu  ", lineno);
	if (err == PARSE_OK && e != NULL) {
		print_entry(e);
		log_entry_free(e);
		return 0;
	}
	printf("rejected: %s", parse_error_name(err == PARSE_ENOMEM ? PARSE_INVALID_JSON : err));
	if (line->too_long)
		printf(" (%zu bytes)", line->len);
	putchar('\n');
	return 0;
}

/* Each line read: reported, then sent to the stage, which owns it then. */
static int feed(void *ctx, unsigned long lineno, char *text, size_t len)
{
	struct run *r = ctx;
	struct line *line = len > r->max_line ? line_new_too_long(len) : line_new(text, len);
	if (line == NULL)
		return -1;
	if (report(r, lineno, line) == 0 && chan_send(r->stage.in, line) == CHAN_OK)
		return 0;
	line_free(line); /* a stub, or a stage that stopped taking lines */
	return 1;
}

/* The next stage: counts each entry by level and frees it, as the last
 * stage does. */
static void count_levels(void *ctx, void *msg)
{
	struct run *r = ctx;
	struct log_entry *e = msg;
	if ((unsigned)e->level < LOG_LEVELS)
		r->levels[e->level]++;
	log_entry_free(e);
}

static void run_parser(void *stage)
{
	parser_run(stage);
}

static void print_summary(const struct run *r)
{
	const struct parser_stats *st = &r->stage.stats;
	unsigned long long errors = 0;
	printf("by level: ");
	for (int l = 0; l < LOG_LEVELS; l++)
		printf(" %s %llu%s", log_level_name((enum log_level)l), r->levels[l],
		       l + 1 < LOG_LEVELS ? "," : "\n");
	printf("by reason:");
	for (int e = 1; e < PARSE_REASONS; e++) {
		unsigned long long n = atomic_load(&st->errors[e]);
		errors += n;
		printf(" %s %llu%s", parse_error_name((enum parse_error)e), n,
		       e + 1 < PARSE_REASONS ? "," : "\n");
	}
	unsigned long long lines = atomic_load(&st->lines), entries = atomic_load(&st->entries);
	printf("%llu line%s: %llu %s, %llu error%s\n", lines, lines == 1 ? "" : "s", entries,
	       entries == 1 ? "entry" : "entries", errors, errors == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
	static struct run r = {.max_line = 65536}; /* static: zeroed, counters included */
	const char *path = NULL;
	const struct arg_option options[] = {READLINES_FILE_OPT(&path),
					     ARG_FLAG_OPT("quiet", 'q', &r.quiet, "print the summary only"),
					     READLINES_MAX_LINE_OPT(&r.max_line), ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Parses JSON log lines (from PATH, or stdin) with lesson 04's parser and prints\n"
	    "  each entry or parse error with its line number, then a summary.\n",
	    options};
	int rc = args_parse(&prog, argc, argv);
	if (rc >= 0)
		return rc;

	struct stage_thread t = {.run = run_parser,
				 .stage = &r.stage,
				 .in = &r.stage.in,
				 .out = &r.stage.out,
				 .take = count_levels,
				 .ctx = &r,
				 .free_msg = stage_thread_free_line};
	rc = stage_thread_feed(&t, PROG, path, feed, &r);
	if (not_implemented_end(PROG) || rc < 0)
		return 1;
	if (rc > 0) {
		fprintf(stderr, PROG
			": the parser stage stopped taking lines before the end (make test LESSON=04)\n");
		return 1;
	}
	if (!r.quiet)
		putchar('\n');
	print_summary(&r);
	return 0;
}
