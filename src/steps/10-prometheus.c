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
#include "samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "10-prometheus"
#define L10  "lessons/10-prometheus/README.md"

/* One scrape: the time it was taken and the text it returned. */
struct scrape {
	double at; /* Unix seconds */
	char *text;
};

static int scrape(struct pipeline *p, struct scrape *sc)
{
	free(sc->text);
	sc->text = pipeline_render(p, NULL);
	sc->at = clock_unix_seconds();
	return sc->text != NULL ? 0 : -1;
}

/* Each service's last-seen gauge, as time() - gauge: its lines read
 * 'logpipe_last_entry_timestamp_seconds{service="api"} 1764927600.5'. */
static void print_last_seen(const struct scrape *now)
{
	const char *prefix = LAST_SEEN_NAME "{service=\"";
	for (const char *l = strstr(now->text, prefix); l != NULL; l = strstr(l + 1, prefix)) {
		const char *svc = l + strlen(prefix);
		const char *value = strchr(svc, ' ');
		if (l > now->text && l[-1] != '\n')
			continue; /* the name inside a # HELP or # TYPE line */
		printf("  %-8.*s %10.2f s ago\n", (int)strcspn(svc, "\""), svc,
		       now->at - strtod(value, NULL));
	}
}

static void report(const struct scrape *then, const struct scrape *now, int k)
{
	double dt = now->at - then->at;
	printf("scrape %d (%.2f s after the one before)\n", k, dt);
	printf("  %-8s %12s %12s\n", "level", "counter", "rate /s");
	for (int l = LOG_INFO; l < LOG_LEVELS; l++) {
		char eq[32];
		snprintf(eq, sizeof(eq), "level=\"%s\"", log_level_name((enum log_level)l));
		/* sum by (level): a level not seen yet has no series and counts 0 */
		double a = fmax(samples_sum(then->text, "logpipe_log_entries_total", eq), 0);
		double b = fmax(samples_sum(now->text, "logpipe_log_entries_total", eq), 0);
		printf("  %-8s %12.0f %12.1f\n", log_level_name((enum log_level)l), b, (b - a) / dt);
	}
	printf("  %-8s %12s\n", "service", "last seen");
	print_last_seen(now);
}

int main(int argc, char **argv)
{
	double interval = 1.0;
	unsigned long long scrapes = 6, rate = 200, stop_after = 4;
	const struct arg_option options[] = {
	    ARG_DECIMAL_OPT("interval", 0, &interval, "SECONDS", "time between scrapes (default 1)", 0.05,
			    60),
	    ARG_WHOLE_OPT("scrapes", 0, &scrapes, "N", "how many scrapes (default 6; a rate needs two)", 2,
			  1000),
	    ARG_WHOLE_OPT("rate", 0, &rate, "LINES_PER_S", "the simulator's lines a second (default 200)", 1,
			  1000000),
	    ARG_WHOLE_OPT("stop-after", 0, &stop_after, "N",
			  "stop the source after scrape N (default 4; 0: never)", 0, 1000),
	    ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Runs the pipeline on the simulator and scrapes it by hand: counters, their rate\n"
	    "  between scrapes, and how long ago each service last logged. See " L10 ".\n",
	    options};
	int rc = args_parse(&prog, argc, argv);
	if (rc >= 0)
		return rc;
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.rate = (double)rate;
	cfg.serve = 0;
	static struct pipeline p;
	char err[256];
	if (pipeline_start(&p, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	if (p.sink.last_seen == NULL)
		printf("(lesson 10's gauge is not written yet: no \"last seen\" column)\n");
	printf("the simulator writes %llu lines a second; scraping every %.2f s\n", rate, interval);
	struct scrape a = {0, NULL}, b = {0, NULL};
	int ok = scrape(&p, &a) == 0;
	unsigned long long k = 1;
	printf("scrape 0: the baseline (a rate needs two scrapes)\n");
	for (; ok && k < scrapes; k++) {
		clock_sleep(interval);
		ok = scrape(&p, &b) == 0;
		if (ok)
			report(&a, &b, (int)k);
		struct scrape swap = a;
		a = b;
		b = swap;
		if (k == stop_after) {
			pipeline_stop(&p);
			printf("-- the source is stopped: no more entries from here on --\n");
		}
	}
	pipeline_stop(&p); /* a second call is safe */
	double total =
	    ok ? samples_sum(a.text, "logpipe_log_entries_total", "level=\"info\",service=\"api\"") : 0;
	free(a.text);
	free(b.text);
	pipeline_free(&p);
	if (!ok) {
		printf("result: FAILED (a scrape could not be rendered or read)\n");
		return 1;
	}
	printf("result: ok, scrapes 0 to %llu, %.0f info entries of api at the last\n", k - 1, total);
	return 0;
}
