/*
 * held.c - writers held between a read and a write (held.h).
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, REG_EFL */
#include "held.h"
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static struct {
	char *base;	    /* the mapping */
	size_t size;	    /* of the mapping, whole pages */
	char *from;	    /* the held pages, inside it */
	size_t len;	    /* of the held pages, whole pages */
	int prot;	    /* of the held pages while they are held */
	atomic_int open;    /* 1: a caught writer may go on */
	atomic_int waiting; /* writers in the handler */
	/* One at a time (held_step, held_let_one): each catch takes the next
	 * ticket; the caught thread with ticket `admitted - 1` goes on. */
	atomic_long tickets;
	atomic_long admitted;
	atomic_int stepping;		/* 1: the admitted thread runs one instruction, then is held again */
	atomic_long steps_done;		/* single steps finished (the trap handler's count) */
	_Atomic(void *) at[HELD_QUEUE]; /* where ticket t waits to access, at[t % HELD_QUEUE] */
} held;

/* The x86-64 trap flag: the processor stops the thread after its next
 * instruction, with SIGTRAP. */
#define TRAP_FLAG 0x100

static void protect(int prot)
{
	if (held.len > 0 && mprotect(held.from, held.len, prot) != 0)
		fail_msg("mprotect: %s", strerror(errno));
}

/* The thread returns into its access with the trap flag set: it makes
 * that one access, and on_trap holds the pages again. */
static void step_once(void *context)
{
#if HELD_STEPS
	ucontext_t *uc = context;
	uc->uc_mcontext.gregs[REG_EFL] |= TRAP_FLAG;
#else
	(void)context;
#endif
}

static void on_write(int sig, siginfo_t *info, void *context)
{
	(void)context;
	char *at = info->si_addr;
	if (at < held.from || at >= held.from + held.len) {
		signal(sig, SIG_DFL); /* a crash of its own: fault again, and die of it */
		return;
	}
	long ticket = atomic_fetch_add(&held.tickets, 1);
	atomic_store(&held.at[ticket % HELD_QUEUE], (void *)at);
	/* The predicate: the test has let the writers go, or this one, and
	 * made the pages writable before that. The handler returns into the
	 * write. */
	atomic_fetch_add(&held.waiting, 1);
	while (!atomic_load(&held.open) && atomic_load(&held.admitted) <= ticket)
		sched_yield();
	atomic_fetch_sub(&held.waiting, 1);
	if (!atomic_load(&held.open) && atomic_load(&held.stepping))
		step_once(context);
}

/* After the one instruction of a held_step: the pages are held again
 * before the thread's next access, and the thread runs on normally. */
static void on_trap(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)info;
#if HELD_STEPS
	ucontext_t *uc = context;
	uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)TRAP_FLAG;
#else
	(void)context;
#endif
	protect(held.prot);
	atomic_store(&held.stepping, 0);
	atomic_fetch_add(&held.steps_done, 1);
}

static size_t whole_pages(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (size + page - 1) / page * page;
}

void *held_map(size_t size)
{
	held.size = whole_pages(size);
	held.base = mmap(NULL, held.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (held.base == MAP_FAILED)
		fail_msg("mmap: %s", strerror(errno));
	held.from = held.base;
	held.len = 0;
	atomic_init(&held.open, 1);
	atomic_init(&held.waiting, 0);
	atomic_init(&held.tickets, 0);
	atomic_init(&held.admitted, 0);
	atomic_init(&held.stepping, 0);
	atomic_init(&held.steps_done, 0);
	struct sigaction sa = {.sa_sigaction = on_write, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		fail_msg("sigaction: %s", strerror(errno));
	sa.sa_sigaction = on_trap;
	if (sigaction(SIGTRAP, &sa, NULL) != 0)
		fail_msg("sigaction: %s", strerror(errno));
	return held.base;
}

static void hold(void *from, size_t len, int prot)
{
	held.from = from;
	held.len = whole_pages(len);
	held.prot = prot;
	atomic_store(&held.admitted, atomic_load(&held.tickets));
	atomic_store(&held.open, 0);
	protect(prot);
}

void held_hold(void *from, size_t len)
{
	hold(from, len, PROT_READ);
}

void held_hold_readers(void *from, size_t len)
{
	hold(from, len, PROT_NONE);
}

void held_unprotect(void)
{
	protect(PROT_READ | PROT_WRITE);
}

void held_release(void)
{
	protect(PROT_READ | PROT_WRITE);
	atomic_store(&held.open, 1);
}

void *held_next_access(void)
{
	long next = atomic_load(&held.admitted);
	if (held_writers() == 0 || next >= atomic_load(&held.tickets))
		return NULL;
	return atomic_load(&held.at[next % HELD_QUEUE]);
}

long held_catches(void)
{
	return atomic_load(&held.tickets);
}

static int step_done(void *before)
{
	return atomic_load(&held.steps_done) > *(long *)before;
}

int held_can_step(void)
{
	static int works = -1; /* not probed yet */
	if (works < 0) {
		long before = atomic_load(&held.steps_done);
#if HELD_STEPS
		/* The trap flag set on this thread: on_trap runs after the nop. */
		__asm__ volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\tnop" ::: "cc", "memory");
#endif
		works = atomic_load(&held.steps_done) > before;
	}
	return works;
}

int held_step(void)
{
	if (!held_can_step() || held_next_access() == NULL)
		return 0;
	long before = atomic_load(&held.steps_done);
	atomic_store(&held.stepping, 1);
	protect(PROT_READ | PROT_WRITE);
	atomic_fetch_add(&held.admitted, 1);
	return harness_wait_until(step_done, &before);
}

int held_let_one(void)
{
	if (held_next_access() == NULL)
		return 0;
	protect(PROT_READ | PROT_WRITE);
	atomic_fetch_add(&held.admitted, 1);
	return 1;
}

int held_writers(void)
{
	return atomic_load(&held.waiting);
}

static int enough_writers(void *n)
{
	return held_writers() >= *(int *)n;
}

int held_wait_for_writers(int n)
{
	return harness_wait_until(enough_writers, &n);
}

void held_unmap(void)
{
	held_release();
	signal(SIGSEGV, SIG_DFL);
	signal(SIGTRAP, SIG_DFL);
	munmap(held.base, held.size);
	held.base = held.from = NULL;
	held.len = 0;
}

int held_usable(void)
{
	/* valgrind preloads its own libraries into the program it runs. */
	const char *preload = getenv("LD_PRELOAD");
	return preload == NULL || strstr(preload, "vgpreload") == NULL;
}
