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
 *
 * pthread_join, pthread_cond_destroy and pthread_mutex_destroy are wrapped
 * too, so that a test can ask which threads were never joined and how many
 * condition variables are alive, or look around as something is freed
 * (below); pthread_mutex_init, to make one fail; socket, for the default
 * of IPV6_V6ONLY and to count the sockets opened; and clock_gettime, so
 * that a test can move one thread's clock ahead (harness_clock_ahead).
 */
#ifndef INTERPOSE_H
#define INTERPOSE_H

#include <pthread.h>
#include <stddef.h>
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

/*
 * For the tests of code that starts and joins threads, whatever order it
 * does it in (lesson 09's pipeline). A thread is named by the function it
 * runs, as passed to pthread_create.
 */
/* The next pthread_create of a thread to run fn fails with err, and no
 * thread starts: a start that fails at a chosen stage. With ready not
 * NULL, it first waits (as harness_wait_until does) for ready(arg): for
 * the threads already started to reach the state the failure should meet. */
void harness_fail_thread(void *(*fn)(void *), int err, int (*ready)(void *), void *arg);
/* The same for a chosen start among several of one function: the start
 * of fn with the argument fn_arg (NULL: any) fails with err once `skip`
 * such starts have succeeded; the second worker of one stage runner, say. */
void harness_fail_thread_of(void *(*fn)(void *), void *fn_arg, int skip, int err);
/* 1 while that failure has not happened yet. */
int harness_fail_pending(void);
/* The next thread started to run fn waits, before running fn, until
 * harness_release_held: a stage that holds still while the channels
 * around it fill. */
void harness_hold_thread(void *(*fn)(void *));
void harness_release_held(void);
/* The gate shut again (it opens with harness_release_held), for a test
 * that holds threads more than once; and a hold at it by hand: lets go of
 * mu, waits until the gate opens, takes mu back. */
void harness_close_gate(void);
void harness_hold_at_gate(pthread_mutex_t *mu);
/* The next condition-variable wait of thread t to return (woken, timed
 * out or for no reason) holds before it returns: it lets go of the mutex
 * again, waits until harness_release_held (the same gate),
 * and takes the mutex back. To the program that is a wake-up whose thread
 * lost the race for the mutex to every other thread, which can always
 * happen: a test runs operations between a thread's wake-up and its next
 * look at what it waited for. */
void harness_hold_wake(pthread_t t);
/* 1 once that wake-up is held (or was, and has been released). */
int harness_wake_held(void);
/* Threads started to run fn and not joined (yet); fn NULL: any function
 * (a thread that code under test starts for itself, by a function the
 * test cannot name). */
int harness_threads_unjoined(void *(*fn)(void *));
/* 1 once the function of thread t has returned (or t was joined): a
 * thread that is over, told apart from one that has not begun its work,
 * without joining it. */
int harness_thread_returned(pthread_t t);
/* Calls of pthread_join on a thread that was joined already, on the
 * caller itself, or on a pthread_t that no start ever set (all zero
 * bits): refused with ESRCH, and counted here. */
int harness_joins_of_gone_threads(void);
/* 1 if the thread who is inside pthread_join now. */
int harness_in_join(pthread_t who);
/* Condition variables initialised and not destroyed: a channel holds two,
 * so a channel never freed shows here. */
long harness_conds_alive(void);
/* Runs fn(arg) once, in the thread that calls it, just before the next
 * pthread_cond_destroy: a look at what still runs when the first channel
 * is freed. fn must not fail the test (it may run on any thread); it
 * records what it saw for the test to check. */
void harness_before_cond_destroy(void (*fn)(void *), void *arg);
/* The same, just before pthread_mutex_destroy(mu), for up to four mutexes
 * at once: a look at what still runs when the object that owns mu (a
 * registry, a tailer group) is freed. */
void harness_before_mutex_destroy(const pthread_mutex_t *mu, void (*fn)(void *), void *arg);

/*
 * What the calling thread has done, for the tests of how an operation
 * waits: compare a reading before the operation with one after it.
 */
/* Waits on a condition variable (pthread_cond_wait or _timedwait) this
 * thread has begun. Each one lets go of the mutex for a while: an
 * operation that must be one critical section makes none. */
long harness_cond_waits(void);
/* Calls of pthread_mutex_lock and _trylock this thread has made: a wait
 * that sleeps makes a few, one that spins round a loop more and more,
 * however little of the processor a loaded machine gives it. */
long harness_mutex_locks(void);
/* Threads of the program inside a condition-variable wait right now:
 * asleep, unless the wait is about to return. */
long harness_threads_in_cond_wait(void);
/* The CPU time this thread has used, user and system, in seconds: a
 * thread that sleeps uses next to none, one that spins all it gets. */
double harness_thread_cpu_seconds(void);

/* The next pthread_mutex_init returns err (EAGAIN, ENOMEM: what POSIX
 * allows it) and initialises nothing: for the tests of what code does when
 * it cannot make its mutex. Linux's never fails with default attributes,
 * so only a test can show that path run. */
void harness_fail_next_mutex_init(int err);
/* Mutexes initialised by pthread_mutex_init minus those destroyed since
 * the program began (one made by PTHREAD_MUTEX_INITIALIZER and destroyed
 * counts -1): compare two readings, as around a failed chan_new, which
 * must leave none initialised. */
long harness_mutexes_alive(void);
/* Calls of pthread_mutex_destroy or pthread_cond_destroy on one that was
 * not initialised (never passed to its init, or destroyed already) since
 * the program began; *first (if first is not NULL) names the call of the
 * first, or is NULL. glibc lets such a destroy pass (a zeroed mutex
 * destroys without complaint), so only this shows freeing what was never
 * made. The harness fails a test that passed with any (harness.c). */
long harness_bad_destroys(const char **first);

/*
 * From now on, each time the calling thread unlocks mu (mu NULL: any
 * mutex), fn(arg) runs in that thread right after the unlock (not for the
 * unlocks fn makes itself); fn NULL ends it. It is what another thread could do between two
 * critical sections, done at the one moment that tells them apart from one
 * hold of the lock: a window opened on purpose, not waited for. fn must not
 * fail the test; it records what it did for the test to check.
 */
void harness_after_unlock(const pthread_mutex_t *mu, void (*fn)(void *), void *arg);

/*
 * The next open() of `path` that returns a descriptor runs fn(arg) right
 * after it, in the opening thread, once (fn NULL disarms it). It opens the
 * window between an open and what the caller does next with the path: a
 * rename there is a rotation that the caller must see by its descriptor.
 * Other opens are untouched. fn must not fail the test.
 */
void harness_after_open(const char *path, void (*fn)(void *), void *arg);

/* From now on, CLOCK_MONOTONIC as thread t reads it (clock_gettime, so
 * clock_now and clock_seconds_since too) is `seconds` ahead of the real
 * one; seconds 0 puts it back. Time passing for one thread, at no cost: a
 * wait that t measures across this call lasts `seconds` longer to it. The
 * kernel's own timed waits keep the real clock, so t must not start a
 * timed wait while its clock is ahead (it would last `seconds` longer).
 * Up to four threads can be ahead at once, each by its own amount. */
void harness_clock_ahead(pthread_t t, double seconds);

/* From now on, every IPv6 socket this program opens starts with
 * IPV6_V6ONLY on, as on a machine whose net.ipv6.bindv6only is 1 (most
 * have 0): a server that wants IPv4 on its IPv6 socket must say so. */
void harness_ipv6_only_by_default(void);
/* Sockets the program has opened so far (socket() calls that returned a
 * descriptor): a server started shows here, even one stopped since. */
long harness_sockets_opened(void);

/*
 * Out of memory, on demand. malloc, calloc, realloc, strdup and strndup
 * are wrapped too, and so is log_entry_new (src/log_entry.h), which cuts
 * its entries from a slab and so calls malloc only once in many entries:
 * each call counts as one allocation (and the malloc of a new block in it,
 * when there is one, as another). After
 * harness_fail_allocations_after(granted), the calling thread's next
 * `granted` allocations succeed and every one after them returns NULL with
 * errno ENOMEM, as a real failure does, until
 * harness_allocations_restored. Only the course's code and the tests are
 * wrapped: the C library allocates as usual, and so does cJSON unless a
 * test hands it allocation functions of its own (cJSON_InitHooks) that
 * call these. No impossible size reaches the out-of-memory path of code
 * that allocates a few small blocks (a channel, an entry); this
 * does, one allocation at a time.
 */
void harness_fail_allocations_after(long granted);
/* The same, but only allocation granted + 1 fails: the ones after it
 * succeed again. Memory that runs out for a moment, and code that must
 * still notice the one failure among its later successes (a copy left
 * unchecked, because a later one that fails too would hide it). */
void harness_fail_one_allocation_after(long granted);
/* Allocations succeed again; returns how many were refused since either
 * call above (0: the code made no more than `granted`). */
long harness_allocations_restored(void);
/* Bytes the program has allocated and not freed (0 where the allocator
 * does not say, as under the sanitizers, whose leak check runs instead).
 * glibc counts a freed block it keeps in its per-thread cache (at most 7
 * of a size) as in use, so a measure is taken only after rounds that fill
 * that cache: from then on, a round that frees what it allocated leaves
 * the count where it was. */
size_t harness_bytes_in_use(void);

#endif
