#include "clock.h"

#include <errno.h>

struct timespec clock_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

struct timespec deadline_after_ms(long ms)
{
	return clock_add_ms(clock_now(), ms);
}

struct timespec clock_add_ms(struct timespec t, long ms)
{
	if (ms <= 0)
		return t;
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec += 1;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

struct timespec deadline_now(void)
{
	struct timespec t = {0, 0};
	return t;
}

long deadline_ms_left(const struct timespec *deadline)
{
	struct timespec now = clock_now();
	long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 0;
}

int deadline_passed(const struct timespec *deadline)
{
	struct timespec now = clock_now();
	if (now.tv_sec != deadline->tv_sec)
		return now.tv_sec > deadline->tv_sec;
	return now.tv_nsec >= deadline->tv_nsec;
}

double clock_seconds_since(const struct timespec *start)
{
	struct timespec now = clock_now();
	return clock_seconds_between(start, &now);
}

double clock_seconds_between(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

double clock_unix_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void clock_sleep(double seconds)
{
	struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}
