/*
 * 02-select - the lesson 02 program: one consumer, three sources.
 *
 *   02-select [--messages N] [--seconds S] [--work-ms MS] [--unbuffered]
 *
 * Fan-in: three sources send numbered messages, each on its own channel at
 * its own pace (every 1, 3 and 10 ms); main selects over the three and a
 * `done` channel, with a deadline so that a status line comes every 250 ms
 * whatever the traffic. A source that has sent everything closes its
 * channel, and main sets that entry to NULL (Go's nil channel). With
 * --seconds, main closes `done` when the time is up: every source stops,
 * even one blocked in a send. --unbuffered makes each send a rendezvous
 * with main's select; --work-ms makes main slow, so that the sources wait
 * in their sends and the select always finds several channels ready.
 *
 * It shows; lesson 02's tests check (make test LESSON=02). A call that
 * answers what its contract does not allow (a stub) is named, and fails
 * the run.
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

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define PROG	 "02-select"
#define NSOURCES 3
#define CAPACITY 8 /* of each source's channel, unless --unbuffered */
#define TICK_MS	 250
/* How long a source waits for room before it looks at done again: the
 * most a stop can be late by. */
#define SEND_SLICE_MS 10

struct source {
	const char *name;
	long every_ms;
	unsigned long long count; /* messages to send */
	struct chan *out;	  /* only this source sends on it, so it closes it */
	struct chan *done;	  /* closed by main: stop now */
	/* Written by the source, read by main after pthread_join. */
	unsigned long long sent;
	double waited_s;      /* in sends: for room, or for main to take the message */
	enum chan_status end; /* CHAN_OK: sent them all; CHAN_CLOSED: done stopped it */
	struct timespec stopped_at;
};

struct run {
	unsigned long long messages, work_ms;
	double seconds; /* 0: until every source has finished */
	int unbuffered;
	struct source src[NSOURCES];
	struct chan *done;
	struct timespec start, stop_at, done_closed_at; /* stop_at: with --seconds */
	int done_closed;
	unsigned long long received[NSOURCES];
	int failed; /* a call answered what its contract does not allow */
};

/* -1: go on; otherwise the status to exit with. */
static int parse_args(int argc, char **argv, struct run *r)
{
	const struct arg_option options[] = {
	    ARG_WHOLE_OPT("messages", 0, &r->messages, "N", "messages per source (default 200)", 1, 10000000),
	    ARG_DECIMAL_OPT("seconds", 0, &r->seconds, "S", "close done after S seconds", 0.001, 3600),
	    ARG_WHOLE_OPT("work-ms", 0, &r->work_ms, "MS", "main's time per message", 0, 1000),
	    ARG_FLAG_OPT("unbuffered", 0, &r->unbuffered, "channels of capacity 0, not 8"), ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Three sources send numbered messages, each on its own channel; main selects\n"
	    "  over them and a done channel.\n",
	    options};
	return args_parse(&prog, argc, argv);
}

/* A call answered what its contract does not allow: names it (a stub
 * has also said so on stderr), and the run fails. */
static void say_failed(struct run *r, const char *call, const char *answer)
{
	printf(PROG ": %s returned %s (make test LESSON=02)\n", call, answer);
	r->failed = 1;
}

/* ---- a source ------------------------------------------------------------ */

/*
 * Waits until `at`, then sends seq. The wait is a receive from done with
 * a deadline: a sleep that closing done cuts short (Go's select over
 * <-done and <-time.After). chan_select has only receive cases, so the
 * send cannot also wait for done, as a Go select with a send case would:
 * it waits for room in slices and looks at done between them. A message
 * not sent is still ours (had it been malloc'd, we would free it here).
 * Returns CHAN_OK once sent, CHAN_CLOSED when done is closed.
 */
static enum chan_status pace_and_send(struct source *s, const struct timespec *at, unsigned long long seq)
{
	void *msg;
	enum chan_status rc = chan_recv_until(s->done, &msg, at);
	if (rc != CHAN_TIMEOUT) /* nobody sends on done: a message there means stop too */
		return rc == CHAN_OK ? CHAN_CLOSED : rc;
	struct timespec began = clock_now();
	while ((rc = chan_send_timed(s->out, (void *)(uintptr_t)seq, SEND_SLICE_MS)) == CHAN_TIMEOUT &&
	       (rc = chan_try_recv(s->done, &msg)) == CHAN_WOULDBLOCK)
		;
	s->waited_s += clock_seconds_since(&began);
	return rc;
}

static void *source_main(void *arg)
{
	struct source *s = arg;
	/* Absolute send times, so the pace does not drift; a source that fell
	 * behind skips what it missed, as Go's time.Ticker does. */
	struct timespec next = clock_now();
	for (unsigned long long seq = 1; seq <= s->count && s->end == CHAN_OK; seq++) {
		next = clock_add_ms(next, s->every_ms);
		if (deadline_passed(&next))
			next = deadline_after_ms(s->every_ms);
		s->end = pace_and_send(s, &next, seq);
		s->sent += s->end == CHAN_OK;
	}
	s->stopped_at = clock_now();
	chan_close(s->out);
	return NULL;
}

/* ---- main's select loop ------------------------------------------------------ */

static double since_start(const struct run *r)
{
	return clock_seconds_since(&r->start);
}

/* Closing done tells every source at once: a close wakes every waiter. */
static void close_done(struct run *r, const char *why)
{
	if (r->done_closed || r->done == NULL)
		return;
	r->done_closed_at = clock_now(); /* before: a source may stop at once */
	chan_close(r->done);
	r->done_closed = 1;
	if (why != NULL)
		printf("%5.2f s: %s: main closes done\n", since_start(r), why);
}

/* One answer of the select (source i's, or done's if i is NSOURCES).
 * Returns 1 when the loop is over. */
static int handle(struct run *r, struct chan *chans[], int *open, enum chan_status rc, size_t i)
{
	if (rc == CHAN_TIMEOUT || rc == CHAN_WOULDBLOCK)
		return 0; /* a deadline: the caller looks at the clock */
	if (rc == CHAN_OK && i < NSOURCES) {
		r->received[i]++;
		clock_sleep((double)r->work_ms / 1000);
		return 0;
	}
	if (rc == CHAN_CLOSED && i < NSOURCES) {
		chans[i] = NULL; /* a NULL entry is never ready: select skips it */
		printf("%5.2f s: %s closed its channel after %llu messages; its entry is now NULL\n",
		       since_start(r), r->src[i].name, r->received[i]);
		return --*open == 0;
	}
	if (rc == CHAN_CLOSED)
		printf("%5.2f s: select picked done: main stops receiving\n", since_start(r));
	else
		say_failed(r, "chan_select", chan_status_str(rc));
	return 1;
}

static void consume(struct run *r)
{
	struct chan *chans[NSOURCES + 1] = {r->src[0].out, r->src[1].out, r->src[2].out, r->done};
	struct timespec tick = clock_add_ms(r->start, TICK_MS);
	int open = NSOURCES;
	for (;;) {
		/* The next status line, or closing done if sooner. Both are
		 * absolute: a busy stream of messages does not push them back,
		 * as a relative timeout would. */
		int stop_first = r->seconds > 0 && !r->done_closed &&
				 deadline_ms_left(&r->stop_at) < deadline_ms_left(&tick);
		size_t which = 0;
		void *msg;
		enum chan_status rc =
		    chan_select(chans, NSOURCES + 1, &which, &msg, stop_first ? &r->stop_at : &tick);
		if (handle(r, chans, &open, rc, which))
			break;
		if (deadline_passed(&tick)) {
			printf(
			    "%5.2f s: received %llu from fast, %llu from medium, %llu from slow; %d source%s "
			    "still sending\n",
			    since_start(r), r->received[0], r->received[1], r->received[2], open,
			    open == 1 ? "" : "s");
			tick = clock_add_ms(tick, TICK_MS);
		}
		if (r->seconds > 0 && deadline_passed(&r->stop_at))
			close_done(r, "time is up");
	}
}

/* ---- the report ------------------------------------------------------------------ */

static void report(struct run *r)
{
	printf("per source:\n");
	for (int i = 0; i < NSOURCES; i++) {
		const struct source *s = &r->src[i];
		printf("  %-6s (every %2ld ms): sent %llu of %llu, received %llu, %zu left in its channel; "
		       "%.1f ms blocked in sends",
		       s->name, s->every_ms, s->sent, s->count, r->received[i], chan_len(s->out),
		       s->waited_s * 1000);
		if (s->end == CHAN_CLOSED)
			printf("; stopped %.1f ms after done closed",
			       clock_seconds_between(&r->done_closed_at, &s->stopped_at) * 1000);
		else if (s->end != CHAN_OK)
			printf("\n  %s stopped: a send or a wait on done returned %s (make test LESSON=02)",
			       s->name, chan_status_str(s->end));
		r->failed |= s->end != CHAN_OK && s->end != CHAN_CLOSED;
		printf("\n");
	}
}

/* ---- main --------------------------------------------------------------------------- */

/* Starts the sources. Returns how many started. */
static int start(struct run *r, pthread_t tids[])
{
	static const char *const names[NSOURCES] = {"fast", "medium", "slow"};
	static const long every_ms[NSOURCES] = {1, 3, 10};
	if ((r->done = chan_new(0)) == NULL) {
		say_failed(r, "chan_new", "NULL");
		return 0;
	}
	for (int i = 0; i < NSOURCES; i++)
		r->src[i] = (struct source){.name = names[i],
					    .every_ms = every_ms[i],
					    .count = r->messages,
					    .out = chan_new(r->unbuffered ? 0 : CAPACITY),
					    .done = r->done};
	r->start = clock_now();
	r->stop_at = clock_add_ms(r->start, (long)(r->seconds * 1000));
	for (int i = 0; i < NSOURCES; i++)
		if (r->src[i].out == NULL || pthread_create(&tids[i], NULL, source_main, &r->src[i]) != 0) {
			say_failed(r, "chan_new or pthread_create", "an error");
			return i;
		}
	return NSOURCES;
}

int main(int argc, char **argv)
{
	/* One line at a time, even into a pipe, so that stdout and stderr
	 * interleave in the order things happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct run r = {.messages = 200};
	int rc = parse_args(argc, argv, &r);
	if (rc >= 0)
		return rc;
	printf(PROG
	       ": 3 sources send %llu messages each, every 1, 3 and 10 ms, on channels of capacity %d%s\n"
	       "main selects over them and done",
	       r.messages, r.unbuffered ? 0 : CAPACITY,
	       r.unbuffered ? " (unbuffered: every send waits for main to receive it)" : "");
	if (r.seconds > 0)
		printf(", and closes done after %g s\n", r.seconds);
	else
		printf(" until every source has finished\n");
	pthread_t tids[NSOURCES];
	int started = start(&r, tids);
	if (started == NSOURCES)
		consume(&r);
	close_done(&r, NULL);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double seconds = since_start(&r);
	report(&r);
	for (int i = 0; i < NSOURCES; i++)
		if (r.src[i].out != NULL)
			chan_free(r.src[i].out);
	if (r.done != NULL)
		chan_free(r.done);
	printf("result: %s, %llu messages received in %.2f s\n", r.failed ? "FAILED" : "ok",
	       r.received[0] + r.received[1] + r.received[2], seconds);
	return r.failed;
}
