/*
 * interpose.h - what the test programs' wrapped pthread calls record
 * (interpose.c). The wrapping is done at link time (-Wl,--wrap, TEST_WRAP
 * in the Makefile), so it covers the course's code and the tests, never
 * the C library's own locks.
 *
 * With HARNESS_SEED=n in the environment, the wrappers also yield and
 * sleep a few microseconds at random around each lock, unlock, signal and
 * thread start, decided by per-thread generators seeded from n: the same
 * seed makes the same decisions, although the operating system's
 * scheduler may still order the threads differently.
 */
#ifndef INTERPOSE_H
#define INTERPOSE_H

#include <pthread.h>
#include <stdint.h>

/* One mutex the program has locked: who holds it now (a thread id as
 * gettid gives it, 0 when free) and where it was taken (a return address
 * in the caller of pthread_mutex_lock). The hung-test report reads these
 * from outside the process (tests/harness/hung.py). */
struct harness_lock {
	const pthread_mutex_t *mutex;
	long owner;
	void *where;
};
extern struct harness_lock harness_locks[];

/* The seed of this run's perturbation (HARNESS_SEED), 0 when there is none. */
uint64_t harness_seed(void);

/* For tests of code that starts threads (the stage runner's stage_start):
 * from now on the next `allowed` thread starts go ahead, and each one after
 * them either fails with err, as pthread_create does when the system is
 * out of threads (EAGAIN), or, with err 0, starts a thread that waits
 * before running its function, until harness_thread_starts_go. */
void harness_thread_starts_after(unsigned allowed, int err);

/* Thread starts go ahead again, and the threads held by
 * harness_thread_starts_after run their functions. */
void harness_thread_starts_go(void);

/* How many threads started since the first harness_thread_starts_after
 * have returned from their function. */
long harness_thread_starts_returned(void);

#endif
