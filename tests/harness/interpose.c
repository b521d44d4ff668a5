/*
 * interpose.c - the pthread calls of a test program, wrapped (see
 * interpose.h). The test programs are linked with -Wl,--wrap=NAME for each
 * NAME below (TEST_WRAP in the Makefile): every call the course's code and
 * the tests make to NAME goes to __wrap_NAME here, which calls the real
 * one as __real_NAME. Calls made inside the C library and cmocka are not
 * touched, and ThreadSanitizer still sees every real call, because
 * __real_NAME is the ordinary symbol that its runtime intercepts.
 *
 * Five things happen here:
 *  - perturbation: with HARNESS_SEED set, random yields and short sleeps
 *    around the calls open the windows that a check-then-act race needs
 *    (rr's chaos mode does the same with the scheduler);
 *  - every mutex's owner and the place it was taken are recorded, so that
 *    the report of a hung test can name a lock that was never released;
 *  - every condition variable's clock is recorded, and a timed wait on one
 *    that runs on the realtime clock fails the test;
 *  - which mutexes and condition variables are initialised is recorded, and
 *    a destroy of one that is not fails the test (harness_bad_destroys);
 *  - a test may run a function of its own right after a chosen mutex is
 *    unlocked (harness_after_unlock), in the window between two holds.
 * And socket is wrapped, so that a test can make every IPv6 socket start
 * IPv6-only, as on a machine whose net.ipv6.bindv6only is 1, and count the
 * sockets opened; pthread_mutex_destroy, for a look around as a chosen
 * mutex goes; pthread_mutex_init, so that a test can make one fail; and
 * the allocation functions, so that a test can make them fail; and open,
 * so that a test can act right after a chosen open (harness_after_open).
 */
#define _GNU_SOURCE
#include "interpose.h"
#include "harness.h"
#include "log_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int __real_pthread_mutex_lock(pthread_mutex_t *mu);
int __real_pthread_mutex_trylock(pthread_mutex_t *mu);
int __real_pthread_mutex_unlock(pthread_mutex_t *mu);
int __real_pthread_cond_init(pthread_cond_t *cv, const pthread_condattr_t *attr);
int __real_pthread_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu);
int __real_pthread_cond_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *at);
int __real_pthread_cond_signal(pthread_cond_t *cv);
int __real_pthread_cond_broadcast(pthread_cond_t *cv);
int __real_pthread_create(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __real_clock_gettime(clockid_t id, struct timespec *t);

/* ---- perturbation ---------------------------------------------------------- */

static uint64_t seed;		   /* HARNESS_SEED; written once before any thread starts */
static int perturbing;		   /* 1 when HARNESS_SEED is set */
static _Thread_local uint64_t rng; /* this thread's generator; 0 until seeded */
/* How much more often than the base rate this thread sleeps: 1, 4 or 16,
 * drawn when its generator is seeded. As with rr's chaos mode giving
 * threads random priorities, a thread that is often slow lets the others
 * run far ahead of it, which is what opens a window between its check and
 * its act (and fills the buffers while it looks away). */
static _Thread_local unsigned slowness;

/* splitmix64: turns a seed (or a draw) into a well-mixed generator state. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (x ^ (x >> 31)) | 1;
}

static uint64_t draw(void);

static void seed_thread(uint64_t state)
{
	rng = state;
	slowness = 1u << (2 * (draw() % 3));
}

/* xorshift64*: each thread draws from its own state, so one thread's draws
 * do not depend on how the others were scheduled. */
static uint64_t draw(void)
{
	if (rng == 0)
		seed_thread(mix(seed ^ (uint64_t)syscall(SYS_gettid)));
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

__attribute__((constructor)) static void read_seed(void)
{
	const char *s = getenv("HARNESS_SEED");
	if (s == NULL || *s == '\0')
		return;
	seed = strtoull(s, NULL, 10);
	perturbing = 1;
	seed_thread(mix(seed));
}

uint64_t harness_seed(void)
{
	return perturbing ? seed : 0;
}

/* A thread sleeps at most a twentieth of its time (after its first
 * millisecond of sleeps): the stress tests' deadlines still hold, and the
 * sleeps are spread over the whole test instead of spent at its start. */
static _Thread_local long long slept_ns;
static _Thread_local long long born_ns;

static long long now_ns(void)
{
	struct timespec t;
	__real_clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int may_sleep(void)
{
	long long now = now_ns();
	if (born_ns == 0)
		born_ns = now;
	return slept_ns <= (now - born_ns) / 20 + 1000000;
}

/*
 * At one call site: with probability sleep_pm per mille (times this
 * thread's slowness), sleep 2 to 300 microseconds; else with probability
 * yield_pm per mille, yield the processor. A sleep lets another thread run
 * a whole step in between; a yield only lets a thread that is ready run
 * first.
 */
static void perturb(unsigned sleep_pm, unsigned yield_pm)
{
	if (!perturbing)
		return;
	uint64_t r = draw();
	unsigned pm = (unsigned)(r % 1000);
	sleep_pm *= slowness;
	if (pm < sleep_pm && may_sleep()) {
		/* Counted as slept: the time nanosleep really took, which the
		 * kernel's timer slack makes at least some 50 microseconds. */
		long long before = now_ns();
		struct timespec t = {0, (long)(2000 + (r >> 32) % 298000)};
		nanosleep(&t, NULL);
		slept_ns += now_ns() - before;
	} else if (pm < sleep_pm + yield_pm) {
		sched_yield();
	}
}

/* ---- tables keyed by address ------------------------------------------------ */

/* An open-addressing table of mutexes or condition variables, never shrunk:
 * a slot is claimed once by compare-and-swap and then belongs to that
 * address (memory reused for a new mutex finds its old slot). When it is
 * full, new addresses are simply not recorded. */
#define TABLE_SIZE 8192

static size_t slot_of(const void *p)
{
	uintptr_t x = (uintptr_t)p;
	return (size_t)((x >> 3) * 0x9e3779b97f4a7c15ULL >> 51) % TABLE_SIZE;
}

/* The index of p's slot in keys[], claiming a free one if create is set;
 * -1 if p has none. */
static long find_slot(const void *_Atomic *keys, const void *p, int create)
{
	size_t start = slot_of(p);
	for (size_t k = 0; k < TABLE_SIZE; k++) {
		size_t i = (start + k) % TABLE_SIZE;
		const void *key = atomic_load_explicit(&keys[i], memory_order_acquire);
		if (key == p)
			return (long)i;
		if (key != NULL)
			continue;
		if (!create)
			return -1;
		const void *expected = NULL;
		if (atomic_compare_exchange_strong(&keys[i], &expected, p) || expected == p)
			return (long)i;
	}
	return -1;
}

/*
 * Which mutexes and condition variables are initialised: a table's keys
 * with an array live[] beside them, 1 from a successful init to the next
 * destroy. A destroy of one that is not (never initialised: zeroed memory,
 * a struct never set up; or destroyed already) is a mistake glibc lets
 * pass without a word, and POSIX calls undefined: it is counted
 * (harness_bad_destroys). Once a table is full, an address it does not
 * know proves nothing, so none is counted from then on.
 */
static atomic_long bad_destroys;
static const char *_Atomic first_bad_destroy;
static atomic_int table_full;

static void mark_initialised(const void *_Atomic *keys, atomic_int *live, const void *p)
{
	long i = find_slot(keys, p, 1);
	if (i < 0)
		atomic_store(&table_full, 1);
	else
		atomic_store(&live[i], 1);
}

/* Before the real destroy of p (what: the call's name): counts it if p is
 * not initialised, and marks it destroyed. Returns p's slot, or -1. */
static long mark_destroyed(const void *_Atomic *keys, atomic_int *live, const void *p, const char *what)
{
	long i = find_slot(keys, p, 0);
	int was_live = i >= 0 ? atomic_exchange(&live[i], 0) : atomic_load(&table_full);
	if (!was_live) {
		const char *none = NULL;
		atomic_fetch_add(&bad_destroys, 1);
		atomic_compare_exchange_strong(&first_bad_destroy, &none, what);
	}
	return was_live ? i : -1;
}

/* After the real destroy: one that failed (EBUSY) left p initialised;
 * one that succeeded leaves one fewer alive. */
static void after_destroy(atomic_int *live, long i, int rc, atomic_long *alive)
{
	if (rc != 0 && i >= 0)
		atomic_store(&live[i], 1);
	if (rc == 0)
		atomic_fetch_sub(alive, 1);
}

long harness_bad_destroys(const char **first)
{
	if (first != NULL)
		*first = atomic_load(&first_bad_destroy);
	return atomic_load(&bad_destroys);
}

/* ---- who holds each mutex ---------------------------------------------------- */

/* Read by the hung-test report (tests/harness/hung.py) from outside the
 * process. owner and where are written only by the thread holding that
 * mutex, so the mutex itself protects them. */
struct harness_lock harness_locks[TABLE_SIZE];
static const void *_Atomic lock_keys[TABLE_SIZE];

static _Thread_local long my_tid;
/* Locks this thread has asked for (harness_mutex_locks). */
static _Thread_local long mutex_locks;

static long tid(void)
{
	if (my_tid == 0)
		my_tid = (long)syscall(SYS_gettid);
	return my_tid;
}

/* Records who holds mu from now on when rc says it was taken; returns rc. */
static int record_owner(pthread_mutex_t *mu, int rc, void *where)
{
	long i = rc == 0 ? find_slot(lock_keys, mu, 1) : -1;
	if (i < 0)
		return rc;
	harness_locks[i].mutex = mu;
	harness_locks[i].owner = tid();
	harness_locks[i].where = where;
	return rc;
}

static void forget_owner(pthread_mutex_t *mu)
{
	long i = find_slot(lock_keys, mu, 0);
	if (i >= 0)
		harness_locks[i].owner = 0;
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *mu)
{
	/* On the stack, where the hung-test report finds what this thread is
	 * blocked on even in an optimised build. */
	pthread_mutex_t *volatile blocked_on_mutex = mu;
	mutex_locks++;
	perturb(1, 5);
	return record_owner(mu, __real_pthread_mutex_lock(blocked_on_mutex), __builtin_return_address(0));
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *mu)
{
	mutex_locks++;
	perturb(1, 5);
	return record_owner(mu, __real_pthread_mutex_trylock(mu), __builtin_return_address(0));
}

int __real_pthread_mutex_init(pthread_mutex_t *mu, const pthread_mutexattr_t *attr);

/* The error the next pthread_mutex_init returns instead of initialising
 * (harness_fail_next_mutex_init), 0 when none is armed. */
static atomic_int mutex_init_error;
/* Initialised minus destroyed (harness_mutexes_alive). */
static atomic_long mutexes_alive;

void harness_fail_next_mutex_init(int err)
{
	atomic_store(&mutex_init_error, err);
}

long harness_mutexes_alive(void)
{
	return atomic_load(&mutexes_alive);
}

/* 1 while the mutex whose address holds that slot of lock_keys is
 * initialised: set by pthread_mutex_init, cleared by pthread_mutex_destroy
 * (harness_bad_destroys). */
static atomic_int mutex_live[TABLE_SIZE];

int __wrap_pthread_mutex_init(pthread_mutex_t *mu, const pthread_mutexattr_t *attr)
{
	int err = atomic_exchange(&mutex_init_error, 0);
	if (err != 0)
		return err;
	err = __real_pthread_mutex_init(mu, attr);
	if (err == 0) {
		atomic_fetch_add(&mutexes_alive, 1);
		mark_initialised(lock_keys, mutex_live, mu);
	}
	return err;
}

/* harness_after_unlock's hook: this thread's, so no other thread runs it. */
static _Thread_local const pthread_mutex_t *after_unlock_mu;
static _Thread_local void (*after_unlock_fn)(void *);
static _Thread_local void *after_unlock_arg;
static _Thread_local int in_after_unlock; /* 1 while the hook runs */

void harness_after_unlock(const pthread_mutex_t *mu, void (*fn)(void *), void *arg)
{
	after_unlock_mu = mu;
	after_unlock_arg = arg;
	after_unlock_fn = fn;
}

static void run_after_unlock(const pthread_mutex_t *mu)
{
	if (after_unlock_fn == NULL || (after_unlock_mu != NULL && mu != after_unlock_mu) || in_after_unlock)
		return;
	in_after_unlock = 1;
	after_unlock_fn(after_unlock_arg);
	in_after_unlock = 0;
}

int __wrap_pthread_mutex_unlock(pthread_mutex_t *mu)
{
	forget_owner(mu);
	int rc = __real_pthread_mutex_unlock(mu);
	if (rc == 0)
		run_after_unlock(mu);
	/* Right after an unlock is where another thread can slip in between
	 * two critical sections that should have been one. */
	perturb(5, 10);
	return rc;
}

/* ---- the clock -------------------------------------------------------------- */

/* 1 while a thread's clock is ahead: the one check every other reading of
 * the clock makes, so that they cost nothing more the rest of the time. */
/* Threads whose clock is ahead (harness_clock_ahead), at most
 * CLOCK_AHEAD_MAX at once; an entry with ns 0 is free. */
#define CLOCK_AHEAD_MAX 4
static atomic_int clock_ahead_armed; /* entries in use */
static struct {
	pthread_t tid;
	long long ns;
} clock_ahead[CLOCK_AHEAD_MAX]; /* guarded by tracked_lock (below) */

static void track_lock(void);
static void track_unlock(void);

void harness_clock_ahead(pthread_t t, double seconds)
{
	long long ns = (long long)(seconds * 1e9);
	int used = 0, done = 0;
	track_lock();
	for (int i = 0; i < CLOCK_AHEAD_MAX; i++) {
		int mine = clock_ahead[i].ns != 0 && pthread_equal(clock_ahead[i].tid, t);
		if (!done && (mine || (clock_ahead[i].ns == 0 && ns > 0))) {
			clock_ahead[i].tid = t;
			clock_ahead[i].ns = ns > 0 ? ns : 0;
			done = 1;
		} else if (mine) {
			clock_ahead[i].ns = 0; /* a second entry for t: only one counts */
		}
		used += clock_ahead[i].ns != 0;
	}
	atomic_store(&clock_ahead_armed, used);
	track_unlock();
	if (!done && ns > 0) {
		fprintf(stderr, "harness_clock_ahead: more than %d threads ahead at once\n", CLOCK_AHEAD_MAX);
		abort();
	}
}

int __wrap_clock_gettime(clockid_t id, struct timespec *t)
{
	int rc = __real_clock_gettime(id, t);
	if (rc != 0 || id != CLOCK_MONOTONIC || !atomic_load_explicit(&clock_ahead_armed, memory_order_relaxed))
		return rc;
	long long ahead = 0;
	track_lock();
	for (int i = 0; i < CLOCK_AHEAD_MAX; i++)
		if (clock_ahead[i].ns != 0 && pthread_equal(clock_ahead[i].tid, pthread_self()))
			ahead = clock_ahead[i].ns;
	track_unlock();
	long long ns = t->tv_nsec + ahead % 1000000000LL;
	t->tv_sec += (time_t)(ahead / 1000000000LL + ns / 1000000000LL);
	t->tv_nsec = ns % 1000000000LL;
	return rc;
}

/* ---- condition variables ---------------------------------------------------- */

static void hold_wake_if_armed(pthread_mutex_t *mu);

/* 1 for a condition variable initialised on CLOCK_MONOTONIC. Written at
 * pthread_cond_init, before the variable is shared. */
static const void *_Atomic cond_keys[TABLE_SIZE];
/* Initialised and not destroyed (harness_conds_alive). */
static atomic_long conds_alive;
static atomic_int cond_monotonic[TABLE_SIZE];
/* 1 while initialised (harness_bad_destroys). */
static atomic_int cond_live[TABLE_SIZE];
/* Waits this thread has begun on any condition variable (harness_cond_waits). */
static _Thread_local long cond_waits;
/* Threads inside a condition-variable wait now (harness_threads_in_cond_wait). */
static atomic_long in_cond_wait;

int __wrap_pthread_cond_init(pthread_cond_t *cv, const pthread_condattr_t *attr)
{
	clockid_t clock = CLOCK_REALTIME;
	if (attr != NULL)
		pthread_condattr_getclock(attr, &clock);
	long i = find_slot(cond_keys, cv, 1);
	if (i >= 0)
		atomic_store(&cond_monotonic[i], clock == CLOCK_MONOTONIC);
	int rc = __real_pthread_cond_init(cv, attr);
	if (rc == 0) {
		atomic_fetch_add(&conds_alive, 1);
		mark_initialised(cond_keys, cond_live, cv);
	}
	return rc;
}

int __wrap_pthread_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu)
{
	pthread_cond_t *volatile blocked_on_cond = cv;
	cond_waits++;
	forget_owner(mu);
	atomic_fetch_add(&in_cond_wait, 1);
	int rc = __real_pthread_cond_wait(blocked_on_cond, mu);
	atomic_fetch_sub(&in_cond_wait, 1);
	hold_wake_if_armed(mu);
	/* Whatever rc is, the wait has taken mu again. */
	record_owner(mu, 0, __builtin_return_address(0));
	return rc;
}

/* Deadlines in this course are on CLOCK_MONOTONIC (src/clock.h). A timed
 * wait on a condition variable left on the realtime clock waits for the
 * wrong moment (and a clock step moves it): fail the test, whichever
 * thread waits, and say what the wait would have done, since the test
 * never sees it. */
static void require_monotonic(pthread_cond_t *cv, const struct timespec *at)
{
	long i = find_slot(cond_keys, cv, 0);
	if (i >= 0 && atomic_load(&cond_monotonic[i]))
		return;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	double ahead = (double)(at->tv_sec - wall.tv_sec) + (double)(at->tv_nsec - wall.tv_nsec) / 1e9;
	char when[128];
	if (ahead <= 0)
		snprintf(when, sizeof(when), "would have returned at once: read as a wall-clock date, its "
			 "deadline passed %.0f years ago", -ahead / (365.25 * 86400));
	else
		snprintf(when, sizeof(when), "would have lasted %.3f s: read as a wall-clock date, its "
			 "deadline is that far ahead", ahead);
	char msg[512];
	int len = snprintf(msg, sizeof(msg),
			   "ERROR: pthread_cond_timedwait on a condition variable on the realtime clock: this "
			   "wait %s. Deadlines are on CLOCK_MONOTONIC; create it with chan_cond_init, whose "
			   "attribute is set by pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) (NULL or "
			   "PTHREAD_COND_INITIALIZER mean realtime)\n",
			   when);
	if (write(STDOUT_FILENO, msg, (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *at)
{
	pthread_cond_t *volatile blocked_on_cond = cv;
	require_monotonic(cv, at);
	cond_waits++;
	forget_owner(mu);
	atomic_fetch_add(&in_cond_wait, 1);
	int rc = __real_pthread_cond_timedwait(blocked_on_cond, mu, at);
	atomic_fetch_sub(&in_cond_wait, 1);
	hold_wake_if_armed(mu);
	/* Whatever rc is, the wait has taken mu again. */
	record_owner(mu, 0, __builtin_return_address(0));
	return rc;
}

int __wrap_pthread_cond_signal(pthread_cond_t *cv)
{
	perturb(0, 5);
	return __real_pthread_cond_signal(cv);
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *cv)
{
	perturb(0, 5);
	return __real_pthread_cond_broadcast(cv);
}

/* ---- threads -------------------------------------------------------------- */

int __real_pthread_join(pthread_t t, void **result);
int __real_pthread_cond_destroy(pthread_cond_t *cv);

/*
 * What the tests of code that starts and joins threads ask (interpose.h):
 * every thread created here, by the function it runs, until it is joined;
 * the threads inside pthread_join; one start armed to fail and one thread
 * armed to hold. A spin lock guards them: the sections are a few loads
 * and stores, and a pthread mutex here would go through the wrappers.
 */
#define THREAD_SLOTS 1024
static struct tracked {
	pthread_t tid;
	void *(*fn)(void *);
	int live;	  /* created and not joined yet */
	int joined;	  /* was joined: a second join of tid is a mistake */
	pthread_t joiner; /* the thread inside pthread_join on it, when joining */
	int joining;
	int returned; /* its function has returned (the thread may not be joined yet) */
} tracked[THREAD_SLOTS];
/* Calls of pthread_join on a thread already joined, or on the caller itself. */
static atomic_long joins_of_gone;
static atomic_flag tracked_lock = ATOMIC_FLAG_INIT;
static void *(*fail_fn)(void *); /* guarded by tracked_lock */
static void *fail_fn_arg;	 /* NULL: a start with any argument */
static int fail_skip;		 /* matching starts let through before the one that fails */
static int fail_err;
static int (*fail_ready)(void *);
static void *fail_arg;
static void *(*hold_fn)(void *);
static pthread_t hold_wake_tid; /* guarded by tracked_lock, with: */
static int hold_wake_armed;

static void track_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&tracked_lock, memory_order_acquire))
		sched_yield();
}

static void track_unlock(void)
{
	atomic_flag_clear_explicit(&tracked_lock, memory_order_release);
}

/* A held thread waits for the gate to open. The real calls: these must not
 * be perturbed or recorded as the program's own locks. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open; /* protected by gate_mu */

void harness_fail_thread(void *(*fn)(void *), int err, int (*ready)(void *), void *arg)
{
	track_lock();
	fail_fn = fn;
	fail_fn_arg = NULL;
	fail_skip = 0;
	fail_err = err;
	fail_ready = ready;
	fail_arg = arg;
	track_unlock();
}

void harness_fail_thread_of(void *(*fn)(void *), void *fn_arg, int skip, int err)
{
	harness_fail_thread(fn, err, NULL, NULL);
	track_lock();
	fail_fn_arg = fn_arg;
	fail_skip = skip;
	track_unlock();
}

int harness_fail_pending(void)
{
	track_lock();
	int pending = fail_fn != NULL;
	track_unlock();
	return pending;
}

void harness_hold_thread(void *(*fn)(void *))
{
	track_lock();
	hold_fn = fn;
	track_unlock();
}

/* Waits, gate_mu held, until the gate is open. */
static void gate_wait_locked(void)
{
	while (!gate_open)
		__real_pthread_cond_wait(&gate_cv, &gate_mu);
}

void harness_close_gate(void)
{
	__real_pthread_mutex_lock(&gate_mu);
	gate_open = 0;
	__real_pthread_mutex_unlock(&gate_mu);
}

void harness_hold_at_gate(pthread_mutex_t *mu)
{
	__real_pthread_mutex_unlock(mu);
	__real_pthread_mutex_lock(&gate_mu);
	gate_wait_locked();
	__real_pthread_mutex_unlock(&gate_mu);
	__real_pthread_mutex_lock(mu);
}

void harness_release_held(void)
{
	__real_pthread_mutex_lock(&gate_mu);
	gate_open = 1;
	__real_pthread_cond_broadcast(&gate_cv);
	__real_pthread_mutex_unlock(&gate_mu);
}

void harness_hold_wake(pthread_t t)
{
	track_lock();
	hold_wake_tid = t;
	hold_wake_armed = 1;
	track_unlock();
}

/* 1 once the armed wake-up is held at the gate (protected by gate_mu). */
static int wake_held;

int harness_wake_held(void)
{
	__real_pthread_mutex_lock(&gate_mu);
	int held = wake_held;
	__real_pthread_mutex_unlock(&gate_mu);
	return held;
}

/* Called by the wrapped waits as they return, mu taken again. A thread
 * whose wake-up is armed to hold lets go of mu, waits at the gate and then
 * takes mu back: for the program, a wake-up that lost the race for the
 * mutex to every other thread until the test said so. */
static void hold_wake_if_armed(pthread_mutex_t *mu)
{
	track_lock();
	int hold = hold_wake_armed && pthread_equal(hold_wake_tid, pthread_self());
	if (hold)
		hold_wake_armed = 0;
	track_unlock();
	if (!hold)
		return;
	__real_pthread_mutex_unlock(mu);
	__real_pthread_mutex_lock(&gate_mu);
	wake_held = 1;
	gate_wait_locked();
	__real_pthread_mutex_unlock(&gate_mu);
	__real_pthread_mutex_lock(mu);
}

int harness_threads_unjoined(void *(*fn)(void *))
{
	int n = 0;
	track_lock();
	for (int i = 0; i < THREAD_SLOTS; i++)
		n += tracked[i].live && (fn == NULL || tracked[i].fn == fn);
	track_unlock();
	return n;
}

int harness_in_join(pthread_t who)
{
	int in = 0;
	track_lock();
	for (int i = 0; i < THREAD_SLOTS && !in; i++)
		in = tracked[i].live && tracked[i].joining && pthread_equal(tracked[i].joiner, who);
	track_unlock();
	return in;
}

int harness_joins_of_gone_threads(void)
{
	return (int)atomic_load(&joins_of_gone);
}

/* A slot for a new thread: one never used, so that the joined threads are
 * remembered as long as there is room; else any whose thread is joined. */
static int free_slot(void)
{
	for (int i = 0; i < THREAD_SLOTS; i++)
		if (tracked[i].fn == NULL)
			return i;
	for (int i = 0; i < THREAD_SLOTS; i++)
		if (!tracked[i].live)
			return i;
	return -1;
}

/* A slot for a thread about to be created to run fn, or -1 if all are
 * taken. Taken before the thread exists, so that the thread can say it
 * has returned even before its creator knows its id. */
static int track_reserved(void *(*fn)(void *))
{
	track_lock();
	int i = free_slot();
	if (i >= 0)
		tracked[i] = (struct tracked){.fn = fn, .live = 1};
	track_unlock();
	return i;
}

/* The thread of slot i was created as tid (rc 0), or never was. */
static void track_created(int i, pthread_t tid, int rc)
{
	if (i < 0)
		return;
	track_lock();
	if (rc == 0)
		tracked[i].tid = tid;
	else
		tracked[i] = (struct tracked){0};
	track_unlock();
}

/* 1 if tid names no live thread of ours but one that was joined already.
 * Called with tracked_lock held. */
static int joined_already(pthread_t tid)
{
	for (int i = 0; i < THREAD_SLOTS; i++)
		if (tracked[i].joined && pthread_equal(tracked[i].tid, tid))
			return 1;
	return 0;
}

/* 1 if tid is all zero bits, as a pthread_t that no pthread_create ever
 * set holds in a zeroed structure: it names no thread, and what the real
 * join does with it is undefined. */
static int never_set(pthread_t tid)
{
	static const pthread_t zero;
	return memcmp(&tid, &zero, sizeof(tid)) == 0;
}

/* The slot of the live thread tid, or -1. Called with tracked_lock held. */
static int tracked_slot(pthread_t tid)
{
	for (int i = 0; i < THREAD_SLOTS; i++)
		if (tracked[i].live && pthread_equal(tracked[i].tid, tid))
			return i;
	return -1;
}

int harness_thread_returned(pthread_t t)
{
	track_lock();
	int i = tracked_slot(t);
	int returned = i < 0 || tracked[i].returned;
	track_unlock();
	return returned;
}

struct start {
	void *(*fn)(void *);
	void *arg;
	uint64_t rng; /* the new thread's generator, drawn by its creator */
	int held;     /* wait at the gate before running fn */
	int slot;     /* its slot in tracked[], or -1 */
};

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	if (s.held) {
		__real_pthread_mutex_lock(&gate_mu);
		gate_wait_locked();
		__real_pthread_mutex_unlock(&gate_mu);
	}
	if (s.rng != 0) {
		seed_thread(s.rng);
		perturb(20, 100);
	}
	void *result = s.fn(s.arg);
	if (s.slot >= 0) {
		track_lock();
		tracked[s.slot].returned = 1;
		track_unlock();
	}
	return result;
}

/* Whether this start, of fn(fn_arg), is the one armed to fail (then
 * *err) or to hold; either is disarmed as it fires. */
static int armed(void *(*fn)(void *), void *fn_arg, int *err, int *held)
{
	int fails = 0, (*ready)(void *) = NULL;
	void *arg = NULL;
	track_lock();
	int matches = fail_fn != NULL && fail_fn == fn && (fail_fn_arg == NULL || fail_fn_arg == fn_arg);
	if (matches && fail_skip > 0) {
		fail_skip--;
	} else if (matches) {
		fail_fn = NULL;
		fails = 1;
		*err = fail_err;
		ready = fail_ready;
		arg = fail_arg;
	} else if (hold_fn != NULL && hold_fn == fn) {
		hold_fn = NULL;
		*held = 1;
	}
	track_unlock();
	if (ready != NULL)
		harness_wait_until(ready, arg);
	return fails;
}

/* A new thread's generator is drawn from its creator's, so that a seed
 * gives every thread the same sequence of decisions in every run. */
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	int err = 0, held = 0;
	if (armed(fn, arg, &err, &held))
		return err;
	/* Every thread starts in the trampoline, which records when its
	 * function returns (harness_thread_returned). */
	struct start *s = malloc(sizeof(*s));
	if (s == NULL)
		return EAGAIN;
	*s = (struct start){fn, arg, perturbing ? mix(draw()) : 0, held, track_reserved(fn)};
	int slot = s->slot;
	int rc = __real_pthread_create(t, attr, trampoline, s);
	if (rc != 0)
		free(s);
	else if (perturbing)
		perturb(20, 100);
	track_created(slot, *t, rc);
	return rc;
}

/*
 * A thread joined twice is gone: its pthread_t may name freed memory or a
 * new thread that reuses it (even the caller), and the real call may crash,
 * wait forever or return at once; one never started has no pthread_t at
 * all. Such a join is counted and refused with ESRCH instead, so that a
 * test can say which mistake it was.
 */
int __wrap_pthread_join(pthread_t t, void **result)
{
	track_lock();
	int i = tracked_slot(t);
	if (pthread_equal(t, pthread_self()) || (i < 0 && (joined_already(t) || never_set(t)))) {
		track_unlock();
		atomic_fetch_add(&joins_of_gone, 1);
		return ESRCH;
	}
	if (i >= 0) {
		tracked[i].joiner = pthread_self();
		tracked[i].joining = 1;
	}
	track_unlock();
	int rc = __real_pthread_join(t, result);
	track_lock();
	if (i >= 0 && rc == 0) {
		tracked[i].live = 0;
		tracked[i].joined = 1;
	} else if (i >= 0)
		tracked[i].joining = 0;
	track_unlock();
	return rc;
}

/* ---- what the calling thread has done ---------------------------------------- */

long harness_cond_waits(void)
{
	return cond_waits;
}

long harness_mutex_locks(void)
{
	return mutex_locks;
}

long harness_threads_in_cond_wait(void)
{
	return atomic_load(&in_cond_wait);
}

double harness_thread_cpu_seconds(void)
{
	struct rusage u;
	getrusage(RUSAGE_THREAD, &u);
	return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       (double)u.ru_stime.tv_usec / 1e6;
}

/* ---- condition variables alive ------------------------------------------------ */

long harness_conds_alive(void)
{
	return atomic_load(&conds_alive);
}

static _Atomic(void (*)(void *)) before_destroy_fn;
static void *before_destroy_arg;

void harness_before_cond_destroy(void (*fn)(void *), void *arg)
{
	before_destroy_arg = arg;
	atomic_store(&before_destroy_fn, fn);
}

int __wrap_pthread_cond_destroy(pthread_cond_t *cv)
{
	void (*fn)(void *) = atomic_exchange(&before_destroy_fn, NULL);
	if (fn != NULL)
		fn(before_destroy_arg);
	long i = mark_destroyed(cond_keys, cond_live, cv, "pthread_cond_destroy");
	int rc = __real_pthread_cond_destroy(cv);
	after_destroy(cond_live, i, rc, &conds_alive);
	return rc;
}

int __real_pthread_mutex_destroy(pthread_mutex_t *mu);

/* The looks armed by harness_before_mutex_destroy, each until its mutex
 * is destroyed. Guarded by tracked_lock, like the armed thread starts. */
#define MUTEX_LOOKS 4
static struct mutex_look {
	const pthread_mutex_t *mu;
	void (*fn)(void *);
	void *arg;
} mutex_looks[MUTEX_LOOKS];

void harness_before_mutex_destroy(const pthread_mutex_t *mu, void (*fn)(void *), void *arg)
{
	track_lock();
	for (int i = 0; i < MUTEX_LOOKS; i++)
		if (mutex_looks[i].mu == NULL) {
			mutex_looks[i] = (struct mutex_look){mu, fn, arg};
			break;
		}
	track_unlock();
}

int __wrap_pthread_mutex_destroy(pthread_mutex_t *mu)
{
	struct mutex_look look = {0};
	track_lock();
	for (int i = 0; i < MUTEX_LOOKS && look.fn == NULL; i++)
		if (mutex_looks[i].mu == mu) {
			look = mutex_looks[i];
			mutex_looks[i] = (struct mutex_look){0};
		}
	track_unlock();
	if (look.fn != NULL)
		look.fn(look.arg);
	long i = mark_destroyed(lock_keys, mutex_live, mu, "pthread_mutex_destroy");
	int rc = __real_pthread_mutex_destroy(mu);
	after_destroy(mutex_live, i, rc, &mutexes_alive);
	return rc;
}

/* ---- sockets ------------------------------------------------------------------ */

int __real_socket(int domain, int type, int protocol);

/* Sockets this program has opened (harness_sockets_opened). */
static atomic_long sockets_opened;

long harness_sockets_opened(void)
{
	return atomic_load(&sockets_opened);
}

/* Set by one test and read by the server's thread, which it starts later. */
static atomic_int v6only_default;

void harness_ipv6_only_by_default(void)
{
	atomic_store(&v6only_default, 1);
}

/* An IPv6 socket starts with IPV6_V6ONLY as net.ipv6.bindv6only says; a
 * test can have it start on, whatever this machine's setting, so that
 * code relying on the default (off on most machines) shows. */
int __wrap_socket(int domain, int type, int protocol)
{
	int fd = __real_socket(domain, type, protocol);
	int on = 1;
	if (fd >= 0)
		atomic_fetch_add(&sockets_opened, 1);
	if (fd >= 0 && domain == AF_INET6 && atomic_load(&v6only_default) &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- open ---------------------------------------------------------------------- */

int __real_open(const char *path, int flags, ...);

/* What the next successful open of after_open_path runs (harness_after_open);
 * armed by the test thread before the open it aims at, taken once. */
static char after_open_path[512];
static void (*after_open_fn)(void *);
static void *after_open_arg;
static atomic_int after_open_armed;

void harness_after_open(const char *path, void (*fn)(void *), void *arg)
{
	atomic_store(&after_open_armed, 0);
	snprintf(after_open_path, sizeof(after_open_path), "%s", path);
	after_open_fn = fn;
	after_open_arg = arg;
	atomic_store(&after_open_armed, fn != NULL);
}

/* The real open; then, once, the test's function, if this open was of the
 * chosen path and gave a descriptor: the window between an open and
 * whatever the caller does next with the path. */
int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	int fd = __real_open(path, flags, mode);
	if (fd >= 0 && atomic_load(&after_open_armed) && strcmp(path, after_open_path) == 0 &&
	    atomic_exchange(&after_open_armed, 0)) {
		int e = errno;
		after_open_fn(after_open_arg);
		errno = e;
	}
	return fd;
}

/* ---- allocations -------------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *block, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
struct log_entry *__real_log_entry_new(enum log_level level, const char *service, const char *message,
				       const char *timestamp);

/* This thread's allocations left before they fail, or -1: none fails.
 * Per thread, so that a test fails the allocations of the code it calls,
 * never those of another thread the program runs. With refuse_once, the
 * first refusal sets it back to -1. */
static _Thread_local long allocations_left = -1;
static _Thread_local long allocations_refused;
static _Thread_local int refuse_once;

void harness_fail_allocations_after(long granted)
{
	allocations_left = granted;
	allocations_refused = 0;
	refuse_once = 0;
}

void harness_fail_one_allocation_after(long granted)
{
	harness_fail_allocations_after(granted);
	refuse_once = 1;
}

long harness_allocations_restored(void)
{
	allocations_left = -1;
	return allocations_refused;
}

size_t harness_bytes_in_use(void)
{
	return mallinfo2().uordblks;
}

/* 1 if this allocation must fail; errno is then ENOMEM. */
static int allocation_refused(void)
{
	if (allocations_left < 0)
		return 0;
	if (allocations_left > 0) {
		allocations_left--;
		return 0;
	}
	allocations_refused++;
	if (refuse_once)
		allocations_left = -1;
	errno = ENOMEM;
	return 1;
}

void *__wrap_malloc(size_t size)
{
	return allocation_refused() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return allocation_refused() ? NULL : __real_calloc(n, size);
}

/* A refused realloc leaves the block as it was, as a real failure does. */
void *__wrap_realloc(void *block, size_t size)
{
	return allocation_refused() ? NULL : __real_realloc(block, size);
}

char *__wrap_strdup(const char *s)
{
	return allocation_refused() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return allocation_refused() ? NULL : __real_strndup(s, n);
}

/* An entry is cut from a slab that rarely needs a malloc: the entry
 * itself is the allocation that can fail. */
struct log_entry *__wrap_log_entry_new(enum log_level level, const char *service, const char *message,
				       const char *timestamp)
{
	return allocation_refused() ? NULL : __real_log_entry_new(level, service, message, timestamp);
}
