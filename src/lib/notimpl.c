#include "notimpl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define NOTIMPL_MAX_SEEN 64

/* Protects seen[], nseen and the printing: stubs may be called from
 * several threads. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *seen[NOTIMPL_MAX_SEEN];
static int nseen;

/* Prints the message the first time func is reached. Under the lock, so
 * that when any call returns, the message is written, whichever thread
 * wrote it. */
static void report_once(const char *func, const char *see, const char *file, int line)
{
	int first = 1;
	pthread_mutex_lock(&seen_mu);
	for (int i = 0; i < nseen; i++)
		if (strcmp(seen[i], func) == 0)
			first = 0;
	if (first && nseen < NOTIMPL_MAX_SEEN)
		seen[nseen++] = func;
	if (first)
		fprintf(stderr, "NOT IMPLEMENTED: %s (%s:%d) - see %s\n", func, file, line, see);
	pthread_mutex_unlock(&seen_mu);
}

static atomic_int reached;

void not_implemented(const char *func, const char *see, const char *file, int line)
{
	report_once(func, see, file, line);
	/* After the message: a waiter that stops because of this flag must
	 * find the message already written, so the verdict names the stub. */
	atomic_store(&reached, 1);
}

int not_implemented_reached(void)
{
	return atomic_load(&reached);
}

int not_implemented_end(const char *prog)
{
	if (!not_implemented_reached())
		return 0;
	fprintf(stderr,
		"%s: a function of the course is not written yet (NOT IMPLEMENTED above says which)\n", prog);
	return 1;
}
