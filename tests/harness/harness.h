/*
 * harness.h - runs a lesson's cmocka tests, each in its own process, with
 * a deadline.
 *
 * cmocka runs every test of a group in one process and has no per-test
 * timeout, so one deadlocked test would hang the whole run and one crash
 * in a worker thread would end it. The harness forks once per test: a test
 * that runs out of time is reported as HUNG, with the hint the test gave
 * for that moment (harness_on_hang); a test killed by a signal or stopped
 * by a sanitizer is reported as CRASH; a test that only reached exercise
 * stubs is reported as TODO. Output is TAP, one line per test, with the
 * details of each failure as `#` comment lines below it.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <pthread.h>
#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct harness_test {
	const char *name;
	void (*fn)(void **state);
	const char *see; /* the lesson section to read when this test fails */
};

#define HTEST(fn, see) {#fn, fn, see}
#define HARNESS_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* The main() of a test program. */
int harness_main(int argc, char **argv, const char *lesson, const struct harness_test *tests,
		 size_t ntests);

/* What a hang from here on most likely means. Printed if the test runs out
 * of time; call it again before each step that may block. */
void harness_on_hang(const char *hint);

/* The lesson section a failure from here on belongs to, when it is not
 * the test's own: a step of another section that the test needs (a stop at
 * the end of a test of what a scrape shows). The last one said counts. */
void harness_see(const char *section);

/* Runs fn when the test ends, passed or failed (not when it is stopped
 * for hanging or killed by a crash). Latest registered runs first. For
 * removing temporary files; at most HARNESS_MAX_AT_END. Use this, not
 * atexit: a failed test's process leaves with _exit (see harness.c). */
#define HARNESS_MAX_AT_END 8
void harness_at_end(void (*fn)(void));

/* How many operations a stress test should do: n, scaled by the
 * HARNESS_SCALE environment variable (a percentage, default 100) so that
 * slow runs under valgrind can do fewer, and at most HARNESS_PERTURBED_MAX
 * in a perturbed run (HARNESS_SEED). Never less than 1. */
#define HARNESS_PERTURBED_MAX 50000
long harness_scale(long n);

/* harness_scale, with a lower bound for a perturbed run: for a test whose
 * every operation takes one shared lock, where a perturbation's sleep
 * inside the lock stalls every other thread, so that the same volume takes
 * many times longer perturbed than plain. */
long harness_scale_capped(long n, long perturbed_max);

/* Milliseconds a test may wait for something that should happen "at
 * once" (a thread to park, a wake-up to arrive): a fraction of the test's
 * deadline, so that a missed wait fails with its own message first. */
long harness_wait_ms(void);

/* A wall-clock bound of ms milliseconds (the most some step may take, or
 * how long to give a wrong thread to show itself), scaled like the test's
 * deadline: as given under the default deadline, longer when the grader
 * grants more time (HARNESS_TIMEOUT, for sanitizers and valgrind). */
long harness_bound_ms(long ms);

/*
 * Polls pred(arg) until it returns non-zero or harness_wait_ms() passes.
 * Returns 1 if pred became true. For waiting on a state that has no
 * notification (e.g. "a receiver is now parked in chan_recv"): it asserts
 * a property within a deadline, it does not guess with a sleep.
 */
int harness_wait_until(int (*pred)(void *), void *arg);
/* The same within ms: for a bound the contract sets (a linger's end). */
int harness_wait_until_ms(int (*pred)(void *), void *arg, long ms);

/* A thread whose end the test can wait for with a deadline. */
struct harness_thread {
	pthread_t tid;
	void *(*fn)(void *);
	void *arg;
	void *result;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done; /* protected by mu */
};

void harness_thread_start(struct harness_thread *t, void *(*fn)(void *), void *arg);
/* 1 if the thread finished within ms milliseconds (then it is joined). */
int harness_thread_join_within(struct harness_thread *t, long ms);
/* 1 if the thread has finished (without waiting). */
int harness_thread_done(struct harness_thread *t);

/* 1 if thread tid (a task id, gettid) of this process is asleep in the
 * kernel: state S in /proc/self/task/TID/stat. 0 if it runs or is gone. */
int harness_tid_asleep(long tid);

#endif
