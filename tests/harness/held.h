/*
 * held.h - writers held between a read and a write (lessons 12, 13, 14).
 *
 * An update made as a load and then a store loses what another thread
 * wrote between the two, but only if the scheduler puts one there, which
 * in an ordinary run it almost never does: a few instructions out of
 * thousands. These functions put it there. The memory under test lives on
 * pages of its own (held_map) that the test makes read-only for a moment
 * (held_hold): a thread that writes to them faults, and the fault handler
 * makes it wait until the test lets it go (held_release); it then returns
 * into the write, which runs again and succeeds.
 *
 * A thread caught so has done every read that comes before its write. A
 * load and a store write back what was read before the wait, whatever
 * happened during it. One read-modify-write instruction (atomic_fetch_add)
 * faults before it reads; a compare-and-swap (the loop that an
 * atomic_fetch_or whose result is used compiles to) compares again when
 * it runs again, and fails if the value changed. So the correct code loses
 * nothing, every time, and the three-step code loses an update, every time.
 *
 * One mapping at a time, per test process. Under a sanitizer the atomic
 * operations may run in its runtime, which can hold a lock of its own
 * across one (no second writer could be caught), and it handles SIGSEGV
 * itself: HELD_WORKS is 0 there, and a test runs without holding.
 */
#ifndef HELD_H
#define HELD_H

#include <stddef.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define HELD_WORKS 0
#else
#define HELD_WORKS 1
#endif

/* 1 unless the test runs under valgrind. There, a thread held at a
 * store to a held page (lesson 14's receiver held at its stamp) was seen
 * to lose that store when let go: the slot kept its old stamp and the
 * senders behind it waited for ever. A test whose scenario needs the
 * held store then takes its unheld path, as under a sanitizer. */
int held_usable(void);

/* held_step needs the processor's single step (the trap flag), which a
 * program can set on itself on x86-64 only. */
#if HELD_WORKS && defined(__x86_64__)
#define HELD_STEPS 1
#else
#define HELD_STEPS 0
#endif

/* Catches remembered for held_next_access: more threads than this caught
 * at once would overwrite each other's addresses. */
#define HELD_QUEUE 64

/* size bytes (rounded up to whole pages) of zeroed, writable memory, page
 * aligned, and the SIGSEGV handler that holds its writers. Fails the test
 * if it cannot. */
void *held_map(size_t size);

/* From now on, a write to [from, from + len) waits: the writers already
 * caught and the new ones (from: a page boundary inside the mapping). */
void held_hold(void *from, size_t len);

/* The same, and a read waits too: a thread is caught before it has read
 * anything there (between its reads of other memory and this one). */
void held_hold_readers(void *from, size_t len);

/* The held pages are writable again, but the writers caught so far go on
 * waiting: another thread can now write where they were about to. */
void held_unprotect(void);

/* The held pages are writable, and every writer caught goes on, into its
 * write. */
void held_release(void);

/*
 * One thread at a time, in the order they were caught: what another
 * thread can do between two accesses of one thread, done there on
 * purpose. A thread that accesses the held memory twice (a load, then a
 * subtraction) is caught at each access; one read-modify-write is one
 * access.
 */
/* 1 if held_step works here: HELD_STEPS, and a processor that honours the
 * trap flag (valgrind's simulated one ignores it). Call it after held_map. */
int held_can_step(void);
/* Where the thread caught longest ago waits to access; NULL if none waits. */
void *held_next_access(void);
/* Catches so far: a thread caught again counts again. Read it before a
 * step, and wait until it grows (caught at its next access) or the
 * thread is gone. */
long held_catches(void);
/* The thread caught longest ago makes its one access, with the pages
 * writable for that one instruction, and is caught again at its next
 * access. 1 once the access is made; 0 if it is not within the deadline,
 * if no thread waits, or without held_can_step. */
int held_step(void);
/* The thread caught longest ago goes on, and the pages stay writable
 * (held_unprotect): the others go on waiting. 0 if no thread waits. */
int held_let_one(void);

/* How many writers wait in the handler. */
int held_writers(void);

/* Waits (harness_wait_until) until n writers are caught; 0 if they were
 * not within the deadline. */
int held_wait_for_writers(int n);

/* Releases the writers, unmaps the memory and restores SIGSEGV. Call it
 * once the writers have finished (joined): one still in the handler would
 * fault again on memory that is gone. */
void held_unmap(void);

#endif
