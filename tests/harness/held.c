/*
 * held.c - writers held between a read and a write (held.h).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "held.h"
#include "harness.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct {
	char *base;	    /* the mapping */
	size_t size;	    /* of the mapping, whole pages */
	char *from;	    /* the held pages, inside it */
	size_t len;	    /* of the held pages, whole pages */
	atomic_int open;    /* 1: a caught writer may go on */
	atomic_int waiting; /* writers in the handler */
} held;

static void on_write(int sig, siginfo_t *info, void *context)
{
	(void)context;
	char *at = info->si_addr;
	if (at < held.from || at >= held.from + held.len) {
		signal(sig, SIG_DFL); /* a crash of its own: fault again, and die of it */
		return;
	}
	/* The predicate: the test has let the writers go, and made the pages
	 * writable before that. The handler returns into the write. */
	atomic_fetch_add(&held.waiting, 1);
	while (!atomic_load(&held.open))
		sched_yield();
	atomic_fetch_sub(&held.waiting, 1);
}

static void protect(int prot)
{
	if (held.len > 0 && mprotect(held.from, held.len, prot) != 0)
		fail_msg("mprotect: %s", strerror(errno));
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
	struct sigaction sa = {.sa_sigaction = on_write, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		fail_msg("sigaction: %s", strerror(errno));
	return held.base;
}

static void hold(void *from, size_t len, int prot)
{
	held.from = from;
	held.len = whole_pages(len);
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
	munmap(held.base, held.size);
	held.base = held.from = NULL;
	held.len = 0;
}
