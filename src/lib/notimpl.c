#include "notimpl.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define NOTIMPL_MAX_SEEN 64

/* Protects seen[] and nseen: stubs may be called from several threads. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *seen[NOTIMPL_MAX_SEEN];
static int nseen;

static int first_time(const char *func)
{
	int first = 1;
	pthread_mutex_lock(&seen_mu);
	for (int i = 0; i < nseen; i++)
		if (strcmp(seen[i], func) == 0)
			first = 0;
	if (first && nseen < NOTIMPL_MAX_SEEN)
		seen[nseen++] = func;
	pthread_mutex_unlock(&seen_mu);
	return first;
}

void not_implemented(const char *func, const char *see, const char *file, int line)
{
	if (first_time(func))
		fprintf(stderr, "NOT IMPLEMENTED: %s (%s:%d) - see %s\n", func, file, line, see);
}
