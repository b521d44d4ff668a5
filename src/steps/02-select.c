/*
 * 02-select - the lesson 02 program: one consumer, three sources.
 *
 *   02-select [--messages N] [--seconds S] [--work-ms MS] [--unbuffered]
 *
 * Three source threads send numbered messages, each on its own channel and
 * at its own pace (every 1, 3 and 10 ms). The main thread selects over the
 * three channels and a `done` channel, with a deadline so that it can print
 * a status line every 250 ms whatever the traffic. When a source has sent
 * everything it closes its channel, and main sets that entry to NULL so
 * that select stops looking at it (Go's nil channel). With --seconds, main
 * closes `done` when the time is up: every source notices and stops, even
 * one that is blocked in a send. --work-ms makes main slow, so that the
 * sources' channels fill up and they do block in their sends (backpressure).
 * At the end come the counts per source and a fairness measurement.
 *
 * smoke: --messages 50
 * smoke: --messages 100 --unbuffered
 * smoke: --seconds 0.3
 * smoke: --seconds 0.3 --unbuffered
 * smoke: --seconds 0.3 --work-ms 2
 */
#include "args.h"
#include "channel.h"
#include "clock.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG	     "02-select"
#define L02	     "lessons/02-select/README.md"
#define TEST_HINT    "make test LESSON=02"
#define NSOURCES     3
#define DONE	     NSOURCES /* done's index in the select */
#define BUFFERED_CAP 8
#define TICK_MS	     250
#define MAX_MESSAGES 10000000ULL
#define MAX_WORK_MS  1000ULL
#define MAX_SECONDS  3600.0
#define FAIR_PICKS   3000
/* How long a source waits for room in its channel before it looks at done
 * again; it is also the most a stop can be late by. */
#define SEND_SLICE_MS 10

struct options {
	unsigned long long messages; /* per source */
	double seconds;		     /* 0: until every source is finished */
	unsigned long long work_ms;  /* main's time spent on each message */
	int unbuffered;
};

struct source {
	const char *name;
	long every_ms;
	unsigned long long count; /* messages to send */
	struct chan *out;	  /* only this source sends on it, so it closes it */
	struct chan *done;	  /* closed by main: stop now */
	/* Written by the source, read by main after pthread_join. */
	unsigned long long sent;      /* sends that returned CHAN_OK */
	unsigned long long abandoned; /* sends given up because done closed */
	int cancelled;		      /* 1 if done stopped it before the end */
	const char *failed_call;      /* NULL, or the call that failed... */
	enum chan_status failed_rc;   /* ...and what it returned */
	struct timespec stopped_at;
};

static const struct {
	const char *name;
	long every_ms;
} source_kinds[NSOURCES] = {{"fast", 1}, {"medium", 3}, {"slow", 10}};

static void usage(FILE *to)
{
	fprintf(to, "usage: " PROG " [--messages N] [--seconds S] [--work-ms MS] [--unbuffered]\n");
}

static void help(void)
{
	usage(stdout);
	printf("  Three sources send N messages each, every 1, 3 and 10 ms, on their own channels;\n"
	       "  the main thread selects over them and a done channel, and prints a status line\n"
	       "  every %d ms. Then it measures whether select is fair.\n"
	       "  --messages N   messages per source, 1 to %llu (default 200)\n"
	       "  --seconds S    close done after S seconds, e.g. 0.5 (default: run until every\n"
	       "                 source is finished)\n"
	       "  --work-ms MS   main spends MS ms on each message, 0 to %llu (default 0): the\n"
	       "                 channels fill up and the sources wait in their sends\n"
	       "  --unbuffered   channels of capacity 0: every send is a rendezvous (default %d)\n"
	       "  --help         this text\n"
	       "  Exit status: 0 if every check passed, 1 if one failed, 2 for bad arguments.\n",
	       TICK_MS, MAX_MESSAGES, MAX_WORK_MS, BUFFERED_CAP);
}

static int bad_args(const char *why, const char *what)
{
	fprintf(stderr, PROG ": %s%s\n", why, what);
	usage(stderr);
	return 2;
}

static int bad_value(const char *option, const char *want, const char *got)
{
	fprintf(stderr, PROG ": %s wants %s, not '%s'\n", option, want, got);
	usage(stderr);
	return 2;
}

/* Reads text as a number of seconds, more than 0, into *out; -1 if not. */
static int parse_seconds(const char *text, double *out)
{
	double v;
	if (arg_decimal(text, 0, MAX_SECONDS, &v) != 0 || v == 0)
		return -1;
	*out = v;
	return 0;
}

/* 0: go on; 1: --help was printed; 2: bad arguments (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
	    {"messages", required_argument, NULL, 'm'}, {"seconds", required_argument, NULL, 's'},
	    {"work-ms", required_argument, NULL, 'w'},	{"unbuffered", no_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0}};
	*o = (struct options){.messages = 200, .seconds = 0, .work_ms = 0, .unbuffered = 0};
	opterr = 0; /* we print our own one-line reasons */
	int c;
	while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (arg_whole(optarg, 1, MAX_MESSAGES, &o->messages) != 0)
				return bad_value("--messages", "a whole number from 1 to 10000000", optarg);
			break;
		case 's':
			if (parse_seconds(optarg, &o->seconds) != 0)
				return bad_value("--seconds", "a number of seconds above 0, up to 3600",
						 optarg);
			break;
		case 'w':
			if (arg_whole(optarg, 0, MAX_WORK_MS, &o->work_ms) != 0)
				return bad_value("--work-ms", "a whole number of milliseconds from 0 to 1000",
						 optarg);
			break;
		case 'u':
			o->unbuffered = 1;
			break;
		case 'h':
			help();
			return 1;
		case ':':
			return bad_args("this option needs a value: ", argv[optind - 1]);
		default:
			return bad_args("unknown option ", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_args("unexpected argument ", argv[optind]);
	return 0;
}

/* ---- the sources -------------------------------------------------------- */

static struct timespec add_ms(struct timespec t, long ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static int source_failed(struct source *s, const char *call, enum chan_status rc)
{
	s->failed_call = call;
	s->failed_rc = rc;
	return 1;
}

/*
 * Waits until the absolute time `at`, unless done closes first. Receiving
 * from done with a deadline is both: a sleep that a close cuts short, like
 * Go's select over <-done and <-time.After. Returns 0 when it is time to
 * send, 1 to stop.
 */
static int pause_until(struct source *s, const struct timespec *at)
{
	void *msg;
	enum chan_status rc = chan_recv_until(s->done, &msg, at);
	if (rc == CHAN_TIMEOUT)
		return 0;
	if (rc == CHAN_CLOSED) {
		s->cancelled = 1;
		return 1;
	}
	return source_failed(s, "chan_recv_until(done)", rc);
}

/*
 * chan_select has only receive cases, so a source cannot wait for "room
 * in my channel" and "done is closed" at once, as a Go select with a send
 * case would. It waits for room in slices of SEND_SLICE_MS and looks at
 * done between them: a source blocked because nobody receives any more
 * still stops, at most one slice late. Returns 0 once sent, 1 to stop.
 */
static int send_or_cancel(struct source *s, unsigned long long seq)
{
	for (;;) {
		enum chan_status rc = chan_send_timed(s->out, (void *)(uintptr_t)seq, SEND_SLICE_MS);
		if (rc == CHAN_OK)
			return 0;
		if (rc != CHAN_TIMEOUT)
			return source_failed(s, "chan_send_timed", rc);
		void *msg;
		rc = chan_try_recv(s->done, &msg);
		if (rc == CHAN_CLOSED) {
			/* CHAN_TIMEOUT left the message with us: had it been
			 * malloc'd, this is where we would free it. */
			s->abandoned++;
			s->cancelled = 1;
			return 1;
		}
		if (rc != CHAN_WOULDBLOCK)
			return source_failed(s, "chan_try_recv(done)", rc);
	}
}

static void *source_main(void *arg)
{
	struct source *s = arg;
	/* Absolute send times: the pace does not drift by the time each send
	 * takes. A source that fell behind skips the times it missed (as Go's
	 * time.Ticker does) rather than sending a burst to catch up. */
	struct timespec next = clock_now();
	for (unsigned long long seq = 1; seq <= s->count; seq++) {
		next = add_ms(next, s->every_ms);
		if (deadline_passed(&next))
			next = deadline_after_ms(s->every_ms);
		if (pause_until(s, &next) != 0 || send_or_cancel(s, seq) != 0)
			break;
		s->sent++;
	}
	s->stopped_at = clock_now();
	chan_close(s->out);
	return NULL;
}

/* ---- the consumer: main's select loop ----------------------------------- */

struct run {
	struct options o;
	struct source src[NSOURCES];
	pthread_t tids[NSOURCES];
	int started;
	struct chan *done;
	struct timespec start;
	struct timespec stop_at; /* when to close done, if o.seconds > 0 */
	int done_closed;
	struct timespec done_closed_at;
	unsigned long long received[NSOURCES];
	unsigned long long out_of_order[NSOURCES];
	unsigned long long left_over[NSOURCES]; /* still buffered after the sources stopped */
	int errors;
};

static double since_start(const struct run *r)
{
	return clock_seconds_since(&r->start);
}

/* Counts a message from source i in *count. A source sends 1, 2, 3...
 * and its channel keeps their order, so each must be the next one. */
static void take(struct run *r, size_t i, void *msg, unsigned long long *count)
{
	if ((uintptr_t)msg != r->received[i] + r->left_over[i] + 1)
		r->out_of_order[i]++;
	(*count)++;
}

static void print_status(const struct run *r, int open)
{
	printf("%5.2f s: received %llu from fast, %llu from medium, %llu from slow; %d source%s still "
	       "sending\n",
	       since_start(r), r->received[0], r->received[1], r->received[2], open, open == 1 ? "" : "s");
}

static void close_done(struct run *r, const char *why)
{
	if (r->done_closed || r->done == NULL)
		return;
	chan_close(r->done);
	r->done_closed = 1;
	r->done_closed_at = clock_now();
	if (why != NULL)
		printf("%5.2f s: %s: main closes done\n", since_start(r), why);
}

/* Pretends to work on a message for ms milliseconds. */
static void work(unsigned long long ms)
{
	if (ms == 0)
		return;
	struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* The select's deadline: the next status line, or closing done if sooner. */
static struct timespec next_deadline(const struct run *r, const struct timespec *tick)
{
	if (r->o.seconds > 0 && !r->done_closed) {
		const struct timespec *stop = &r->stop_at;
		if (stop->tv_sec < tick->tv_sec ||
		    (stop->tv_sec == tick->tv_sec && stop->tv_nsec < tick->tv_nsec))
			return *stop;
	}
	return *tick;
}

/* Handles one answer of the select. Returns 1 when the loop is over. */
static int handle(struct run *r, struct chan *chans[], int *open, enum chan_status rc, size_t which,
		  void *msg)
{
	if (rc == CHAN_TIMEOUT || rc == CHAN_WOULDBLOCK)
		return 0; /* a deadline: the caller looks at the clock */
	if (rc == CHAN_OK && which < NSOURCES) {
		take(r, which, msg, &r->received[which]);
		work(r->o.work_ms);
		return 0;
	}
	if (rc == CHAN_CLOSED && which < NSOURCES) {
		chans[which] = NULL; /* a NULL entry is never ready: select skips it from now on */
		--*open;
		printf("%5.2f s: %s closed its channel after %llu message%s; its entry is now NULL\n",
		       since_start(r), r->src[which].name, r->received[which],
		       r->received[which] == 1 ? "" : "s");
		return *open == 0;
	}
	if (rc == CHAN_CLOSED && which == DONE) {
		printf("%5.2f s: select picked done: main stops receiving\n", since_start(r));
		return 1;
	}
	fprintf(stderr,
		PROG ": chan_select returned %s for channel %zu: the contract has no such answer here. "
		     "See " L02 "#select (" TEST_HINT ")\n",
		chan_status_str(rc), which);
	r->errors++;
	return 1;
}

static void consume(struct run *r)
{
	struct chan *chans[NSOURCES + 1];
	for (size_t i = 0; i < NSOURCES; i++)
		chans[i] = r->src[i].out;
	chans[DONE] = r->done;
	int open = NSOURCES;
	struct timespec tick = add_ms(r->start, TICK_MS);
	for (;;) {
		/* The deadline is absolute: a busy stream of messages does not
		 * push the next status line back, as a relative timeout would. */
		struct timespec deadline = next_deadline(r, &tick);
		size_t which = 0;
		void *msg = NULL;
		enum chan_status rc = chan_select(chans, NSOURCES + 1, &which, &msg, &deadline);
		if (handle(r, chans, &open, rc, which, msg))
			break;
		if (deadline_passed(&tick)) {
			print_status(r, open);
			tick = add_ms(tick, TICK_MS);
		}
		if (r->o.seconds > 0 && deadline_passed(&r->stop_at))
			close_done(r, "time is up");
	}
}

/* ---- setting up, and cleaning up ---------------------------------------- */

static int run_setup(struct run *r)
{
	size_t cap = r->o.unbuffered ? 0 : BUFFERED_CAP;
	r->start = clock_now();
	r->done = chan_new(0);
	if (r->done == NULL) {
		fprintf(stderr, PROG ": chan_new returned NULL (%s)\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < NSOURCES; i++) {
		struct source *s = &r->src[i];
		*s = (struct source){.name = source_kinds[i].name,
				     .every_ms = source_kinds[i].every_ms,
				     .count = r->o.messages,
				     .done = r->done,
				     .failed_rc = CHAN_OK};
		s->out = chan_new(cap);
		if (s->out == NULL) {
			fprintf(stderr, PROG ": chan_new returned NULL (%s)\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int start_sources(struct run *r)
{
	r->stop_at = add_ms(clock_now(), (long)(r->o.seconds * 1000));
	for (int i = 0; i < NSOURCES; i++) {
		int err = pthread_create(&r->tids[i], NULL, source_main, &r->src[i]);
		if (err != 0) {
			fprintf(stderr, PROG ": cannot start a source thread: %s\n", strerror(err));
			return -1;
		}
		r->started++;
	}
	return 0;
}

/*
 * Closing done is how main says "stop" to every source at once, however
 * many there are: a close wakes every waiter, a send would wake only one.
 * After the join, each source has closed its channel, so receiving what
 * is still buffered cannot block.
 */
static void stop_sources(struct run *r)
{
	close_done(r, NULL);
	for (int i = 0; i < r->started; i++)
		pthread_join(r->tids[i], NULL);
	for (int i = 0; i < r->started; i++) {
		void *msg;
		while (chan_recv(r->src[i].out, &msg) == CHAN_OK)
			take(r, (size_t)i, msg, &r->left_over[i]);
	}
}

static void run_free(struct run *r)
{
	for (int i = 0; i < NSOURCES; i++)
		if (r->src[i].out != NULL)
			chan_free(r->src[i].out);
	if (r->done != NULL)
		chan_free(r->done);
}

/* ---- the report --------------------------------------------------------- */

/* One line per source. Returns 1 if its numbers do not add up. */
static int report_source(const struct run *r, int i)
{
	const struct source *s = &r->src[i];
	printf("  %-6s (every %2ld ms): sent %llu of %llu, received %llu", s->name, s->every_ms, s->sent,
	       s->count, r->received[i]);
	if (r->left_over[i] > 0)
		printf(", %llu still in its buffer", r->left_over[i]);
	if (s->abandoned > 0)
		printf(", %llu send%s given up when done closed", s->abandoned, s->abandoned == 1 ? "" : "s");
	printf("%s\n", s->cancelled ? ", stopped by done" : "");
	if (s->failed_call != NULL) {
		printf("  %s stopped: %s returned %s%s (" TEST_HINT ")\n", s->name, s->failed_call,
		       chan_status_str(s->failed_rc),
		       s->failed_rc == CHAN_NOTIMPL ? ": a function it relies on is still a stub (its NOT "
						      "IMPLEMENTED line is above)"
						    : "");
		return 1;
	}
	unsigned long long came_out = r->received[i] + r->left_over[i];
	if (r->out_of_order[i] > 0 || came_out != s->sent) {
		printf("  FAILED: %s sent %llu messages and %llu came out, %llu of them out of order: "
		       "see " L02 "#select (" TEST_HINT ")\n",
		       s->name, s->sent, came_out, r->out_of_order[i]);
		return 1;
	}
	return 0;
}

static int report(const struct run *r)
{
	int failed = r->errors;
	printf("per source:\n");
	for (int i = 0; i < NSOURCES; i++)
		failed += report_source(r, i);
	double latest = 0;
	int cancelled = 0;
	for (int i = 0; i < NSOURCES; i++) {
		const struct timespec *t = &r->src[i].stopped_at;
		double late = (double)(t->tv_sec - r->done_closed_at.tv_sec) +
			      (double)(t->tv_nsec - r->done_closed_at.tv_nsec) / 1e9;
		if (!r->src[i].cancelled)
			continue;
		cancelled++;
		if (late > latest)
			latest = late;
	}
	if (cancelled > 0)
		printf("done stopped %d source%s; the last one stopped %.1f ms after done was closed\n",
		       cancelled, cancelled == 1 ? "" : "s", latest * 1000);
	return failed;
}

/* ---- fairness ----------------------------------------------------------- */

/*
 * Three buffered channels, each holding FAIR_PICKS messages, so that all
 * three stay ready for FAIR_PICKS selects in a row. A fair select picks
 * each about a third of the time; one that always tries the channels in
 * the same order picks the first one every time. (Unbuffered channels
 * cannot hold a backlog: this part always uses buffers.)
 */
static int measure_fairness(unsigned long long picks[NSOURCES])
{
	struct chan *chans[NSOURCES] = {NULL, NULL, NULL};
	int bad = 0;
	for (int i = 0; i < NSOURCES && !bad; i++) {
		picks[i] = 0;
		chans[i] = chan_new(FAIR_PICKS);
		for (int k = 1; chans[i] != NULL && k <= FAIR_PICKS; k++)
			chan_send(chans[i], (void *)(uintptr_t)k);
		bad = chans[i] == NULL;
	}
	for (int k = 0; k < FAIR_PICKS && !bad; k++) {
		size_t which;
		void *msg;
		enum chan_status rc = chan_select(chans, NSOURCES, &which, &msg, NULL);
		if (rc != CHAN_OK) {
			fprintf(stderr, PROG ": chan_select over three ready channels returned %s (" TEST_HINT ")\n",
				chan_status_str(rc));
			bad = 1;
		} else {
			picks[which]++;
		}
	}
	/* The numbers left inside need no freeing. */
	for (int i = 0; i < NSOURCES; i++)
		if (chans[i] != NULL)
			chan_free(chans[i]);
	return bad;
}

/* Prints how often a select over three ever-ready channels picked each:
 * the distribution shows; whether it is fair is a test of lesson 02's
 * (test_select_is_fair_between_ready_channels). Returns 1 if the
 * measurement could not run. */
static int report_fairness(void)
{
	unsigned long long picks[NSOURCES];
	if (measure_fairness(picks) != 0)
		return 1;
	printf("fairness: with all three channels always ready, %d selects picked %s %llu, %s %llu, %s %llu "
	       "times (a fair select gives each about %d)\n",
	       FAIR_PICKS, source_kinds[0].name, picks[0], source_kinds[1].name, picks[1],
	       source_kinds[2].name, picks[2], FAIR_PICKS / NSOURCES);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void print_config(const struct options *o)
{
	printf(PROG
	       ": 3 sources send %llu messages each, every 1, 3 and 10 ms, on channels of capacity %d%s\n",
	       o->messages, o->unbuffered ? 0 : BUFFERED_CAP,
	       o->unbuffered ? " (unbuffered: every send waits for main to receive it)" : "");
	if (o->seconds > 0)
		printf("main selects over them and done, and closes done after %g s\n", o->seconds);
	else
		printf("main selects over them and done until every source has finished\n");
	if (o->work_ms > 0)
		printf("main spends %llu ms on each message: the sources will have to wait for room\n",
		       o->work_ms);
}

int main(int argc, char **argv)
{
	/* One line at a time, even into a pipe, so that stdout and stderr
	 * interleave in the order things happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct run r = {.started = 0};
	int rc = parse_args(argc, argv, &r.o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	print_config(&r.o);
	int failed = 0;
	if (run_setup(&r) == 0 && start_sources(&r) == 0)
		consume(&r);
	else
		failed = 1;
	stop_sources(&r);
	double seconds = since_start(&r);
	unsigned long long total = r.received[0] + r.received[1] + r.received[2];
	failed += report(&r);
	run_free(&r);
	failed += report_fairness();
	printf("result: %s, %llu messages received in %.2f s\n", failed == 0 ? "ok" : "FAILED", total,
	       seconds);
	return failed == 0 ? 0 : 1;
}
