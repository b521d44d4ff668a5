/*
 * traffic.h - numbered messages through one channel, checked and timed:
 * the engine of the channel programs (lesson 01's, and lesson 11's
 * comparison of batch sizes).
 *
 * Producer threads send the numbers 1..messages through one channel to
 * consumer threads, which check that every number arrived exactly once and
 * that each producer's numbers came in order. A message is a pointer, but
 * no memory is needed: the number travels inside the pointer (a uintptr_t
 * cast to void *), starting at 1 so that no message is NULL.
 *
 * With batch 1 the threads use lesson 01's chan_send and chan_recv; with
 * more, lesson 11's chan_send_many and chan_recv_many, batch at a time.
 * With lockfree set, lesson 14's lfchan_send and lfchan_recv (capacity 1
 * or more, batch 1).
 * A watch thread says so when nothing moves for a few seconds (a lost
 * wake-up stops a program without crashing it).
 *
 * The tests that move many messages through a channel at once (lessons 01,
 * 02, 11 and 14) run this engine too, through traffic_measure, and word
 * their own verdicts (tests/harness/chan_testing.h).
 */
#ifndef TRAFFIC_H
#define TRAFFIC_H

#include "channel.h"

#include <stddef.h>

struct arg_option; /* args.h */

#define TRAFFIC_MAX_CAPACITY 1048576ULL
#define TRAFFIC_MAX_THREADS  256ULL
#define TRAFFIC_MAX_MESSAGES 1000000000ULL
#define TRAFFIC_MAX_BATCH    4096ULL

struct traffic {
	const char *prog; /* the program's name, first on each of its messages */
	const char *hint; /* where to look when a check fails: "make test LESSON=01" */
	size_t capacity;  /* of the channel; 0 = unbuffered */
	unsigned long long producers, consumers, messages;
	unsigned long long batch; /* messages per operation, 1 to TRAFFIC_MAX_BATCH */
	int quiet;		  /* 1: no line per consumer when all went well */
	int lockfree;		  /* 1: lesson 14's channel (lfchan.h), not lesson 01's */
	int mixed;		  /* 1: producers send batches of 1, 2, ... batch in turn */
	/* One more option for the program's own use (lesson 14's --idle-ms);
	 * NULL: none. */
	const struct arg_option *extra;
};

/* What one run moved. The received numbers are the sent ones, each once,
 * when their count, sum and sum of squares all match: a lost message and
 * a duplicated one cannot cancel out in both sums at once. */
struct traffic_result {
	unsigned long long sent;	 /* messages a send accepted */
	unsigned long long received;	 /* messages the consumers got */
	int exactly_once;		 /* 1: received exactly the numbers 1..messages */
	unsigned long long out_of_order; /* a number after a larger one from its producer */
	unsigned long long bogus;	 /* a message that is not a number 1..messages */
	enum chan_status send_rc;	 /* CHAN_OK, or what stopped a producer early */
	enum chan_status recv_rc;	 /* CHAN_CLOSED, or what else ended a consumer's loop */
	enum chan_status close_rc;	 /* the last producer's close */
	enum chan_status free_rc;	 /* freeing the channel once every thread has left it */
};

/*
 * What every traffic program does first: stdout a line at a time; the
 * command line read into t (which holds the program's defaults: options
 * --capacity, --producers, --consumers, --messages and --batch; `about`
 * is what --help says the program does); the run described in one line;
 * and one channel walked through its whole life on this thread alone
 * (the batch operations too when t->batch > 1), none of the calls
 * blocking, so that a stub ends the program with its name instead of
 * threads waiting for a close that never comes. Returns -1 to go on, or
 * the exit status to leave with: 0 after --help, 2 for bad arguments, 1
 * if the channel did not answer as its contract says.
 */
int traffic_begin(int argc, char **argv, struct traffic *t, const char *about);

/* Runs the threads and prints the checks. Returns the number of failed
 * checks (0: all passed), or -1 if the run could not be set up. *seconds
 * is the time from the first thread's start to the last one's end. */
int traffic_run(const struct traffic *t, double *seconds);

/* Runs the threads as traffic_run does, printing nothing and without the
 * stall watch: for tests, which have deadlines of their own and word their
 * own verdicts from *res. Returns 0, or -1 if the channel could not be
 * made (errno says why), memory ran out or a thread could not start (said
 * on stderr). */
int traffic_measure(const struct traffic *t, struct traffic_result *res);

/* traffic_run, then the last line: "result: ok, [what, ]M messages in S s,
 * msgs_per_s=N" (FAILED instead of ok if a check failed). Returns the exit
 * status: 0 if every check passed, 1 if not. what may be NULL. */
int traffic_main(const struct traffic *t, const char *what);

#endif
