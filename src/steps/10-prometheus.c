/*
 * 10-prometheus.c - lesson 10's program: what Prometheus does with
 * /metrics, done by hand, in one process.
 *
 * It runs the pipeline on the simulator and, every --interval seconds,
 * "scrapes" it: renders the exposition (the very bytes GET /metrics
 * returns), reads the samples back from the text, and keeps them with the
 * time of the scrape. From two scrapes it computes what PromQL's rate()
 * would: (counter now - counter then) / seconds between. It prints, per
 * level, the counter and its rate, and per service how long ago the
 * metrics stage last counted one of its entries (lesson 10's gauge):
 * time() - logpipe_last_entry_timestamp_seconds, as the alert computes it.
 *
 * After --stop-after scrapes the source is stopped (pipeline_stop; the
 * registry stays readable): the next scrapes show what Prometheus sees
 * when logs stop coming. Counters stay where they were, so their rate
 * falls to 0, and the age of every service's last entry grows.
 *
 *   10-prometheus                     6 scrapes, 1 s apart, 200 lines/s, stopped after the 4th
 *   10-prometheus --rate 1000 --interval 2 --scrapes 4 --stop-after 0   (never stopped)
 *
 * smoke: --scrapes 4 --interval 0.5 --stop-after 2
 * smoke: --scrapes 3 --interval 0.3 --rate 5000 --stop-after 0
 */
#include "args.h"
#include "clock.h"
#include "last_seen.h"
#include "pipeline.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "10-prometheus"
#define L10  "lessons/10-prometheus/README.md"
#define MAX_SAMPLES 64

struct options {
	double interval;
	int scrapes;
	long rate;
	int stop_after; /* scrapes; 0: never */
};

/* One scrape: the time it was taken and the samples we kept from it. */
struct sample {
	char series[160]; /* name{labels}, as written in the exposition */
	double value;
};
struct scrape {
	double at; /* Unix seconds */
	int n;
	struct sample s[MAX_SAMPLES];
};

static void usage(FILE *to)
{
	fprintf(to, "usage: " PROG " [--interval SECONDS] [--scrapes N] [--rate LINES_PER_S]\n"
		    "                     [--stop-after N]\n"
		    "Runs the pipeline on the simulator and scrapes it by hand: counters, their rate\n"
		    "between scrapes, and how long ago each service last logged; the source stops after\n"
		    "scrape N (default 4; 0: never). See " L10 ".\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"interval", required_argument, NULL, 'i'},
					      {"scrapes", required_argument, NULL, 'n'},
					      {"rate", required_argument, NULL, 'r'},
					      {"stop-after", required_argument, NULL, 's'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	*o = (struct options){.interval = 1.0, .scrapes = 6, .rate = 200, .stop_after = 4};
	int c;
	unsigned long long n;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (arg_decimal(optarg, 0.05, 60, &o->interval) != 0)
				return fprintf(stderr, PROG ": --interval takes 0.05 to 60 seconds\n"), -1;
			break;
		case 'n':
			if (arg_whole(optarg, 2, 1000, &n) != 0)
				return fprintf(stderr, PROG ": --scrapes takes 2 to 1000 (a rate needs two)\n"), -1;
			o->scrapes = (int)n;
			break;
		case 'r':
			if (arg_whole(optarg, 1, 1000000, &n) != 0)
				return fprintf(stderr, PROG ": --rate takes 1 to 1000000 lines a second\n"), -1;
			o->rate = (long)n;
			break;
		case 's':
			if (arg_whole(optarg, 0, 1000, &n) != 0)
				return fprintf(stderr, PROG ": --stop-after takes 0 to 1000 scrapes\n"), -1;
			o->stop_after = (int)n;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc)
		return fprintf(stderr, PROG ": unexpected argument: %s\n", argv[optind]), -1;
	return 0;
}

/* Keeps the samples of the families we print, parsed back from the
 * exposition text as Prometheus parses it: "name{labels} value" lines,
 * comments skipped. Returns 0, or -1 if the text is not what we expect. */
static int parse_exposition(const char *text, struct scrape *sc)
{
	static const char *const wanted[] = {"logpipe_log_entries_total{", LAST_SEEN_NAME "{"};
	sc->n = 0;
	for (const char *line = text; *line != '\0';) {
		size_t len = strcspn(line, "\n");
		int keep = 0;
		for (size_t w = 0; w < 2; w++)
			keep |= strncmp(line, wanted[w], strlen(wanted[w])) == 0;
		if (keep && sc->n < MAX_SAMPLES) {
			const char *space = memchr(line, ' ', len);
			if (space == NULL || (size_t)(space - line) >= sizeof(sc->s[0].series))
				return -1;
			struct sample *s = &sc->s[sc->n++];
			memcpy(s->series, line, (size_t)(space - line));
			s->series[space - line] = '\0';
			s->value = strtod(space + 1, NULL);
		}
		line += len + (line[len] == '\n');
	}
	return 0;
}

static int scrape(struct pipeline *p, struct scrape *sc)
{
	char *text = pipeline_render(p, NULL);
	sc->at = clock_unix_seconds();
	if (text == NULL)
		return -1;
	int rc = parse_exposition(text, sc);
	free(text);
	return rc;
}

/* The value of `series` in sc, or -1 if the scrape did not have it. */
static double lookup(const struct scrape *sc, const char *series)
{
	for (int i = 0; i < sc->n; i++)
		if (strcmp(sc->s[i].series, series) == 0)
			return sc->s[i].value;
	return -1;
}

/* A counter summed over every series with label=value, as sum by (level). */
static double sum_where(const struct scrape *sc, const char *prefix, const char *label_eq)
{
	double sum = 0;
	for (int i = 0; i < sc->n; i++)
		if (strncmp(sc->s[i].series, prefix, strlen(prefix)) == 0 && strstr(sc->s[i].series, label_eq))
			sum += sc->s[i].value;
	return sum;
}

static void report(const struct scrape *then, const struct scrape *now, int k)
{
	double dt = now->at - then->at;
	printf("scrape %d (%.2f s after the one before)\n", k, dt);
	printf("  %-8s %12s %12s\n", "level", "counter", "rate /s");
	for (int l = LOG_INFO; l < LOG_LEVELS; l++) {
		char eq[32];
		snprintf(eq, sizeof(eq), "level=\"%s\"", log_level_name((enum log_level)l));
		double a = sum_where(then, "logpipe_log_entries_total{", eq);
		double b = sum_where(now, "logpipe_log_entries_total{", eq);
		printf("  %-8s %12.0f %12.1f\n", log_level_name((enum log_level)l), b, (b - a) / dt);
	}
	printf("  %-8s %12s\n", "service", "last seen");
	for (int i = 0; i < now->n; i++) {
		const char *series = now->s[i].series;
		if (strncmp(series, LAST_SEEN_NAME "{", strlen(LAST_SEEN_NAME) + 1) != 0)
			continue;
		const char *svc = strchr(series, '"') + 1;
		printf("  %-8.*s %10.2f s ago\n", (int)strcspn(svc, "\""), svc, now->at - now->s[i].value);
	}
}

static void sleep_seconds(double s)
{
	struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct options o;
	if (parse_options(argc, argv, &o) != 0)
		return 2;
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.rate = o.rate;
	cfg.serve = 0;
	static struct pipeline p;
	char err[256];
	if (pipeline_start(&p, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	if (p.sink.last_seen == NULL)
		printf("(lesson 10's gauge is not written yet: no \"last seen\" column)\n");
	printf("the simulator writes %ld lines a second; scraping every %.2f s\n", o.rate, o.interval);
	static struct scrape a, b;
	int ok = scrape(&p, &a) == 0, k = 1;
	printf("scrape 0: the baseline (a rate needs two scrapes)\n");
	for (; ok && k < o.scrapes; k++) {
		sleep_seconds(o.interval);
		ok = scrape(&p, &b) == 0;
		if (ok)
			report(&a, &b, k);
		a = b;
		if (k == o.stop_after) {
			pipeline_stop(&p);
			printf("-- the source is stopped: no more entries from here on --\n");
		}
	}
	pipeline_stop(&p); /* a second call is safe */
	double total = lookup(&a, "logpipe_log_entries_total{level=\"info\",service=\"api\"}");
	pipeline_free(&p);
	if (!ok) {
		printf("result: FAILED (a scrape could not be rendered or read)\n");
		return 1;
	}
	printf("result: ok, scrapes 0 to %d, %.0f info entries of api at the last\n", k - 1, total);
	return 0;
}
