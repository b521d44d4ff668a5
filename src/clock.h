/*
 * clock.h - deadlines on the monotonic clock.
 *
 * Every wait in this course that can time out takes an absolute deadline
 * on CLOCK_MONOTONIC: a clock that only moves forward, at a steady rate,
 * whatever an administrator or NTP does to the wall clock.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <time.h>

/* The monotonic time now. */
struct timespec clock_now(void);

/* The monotonic time ms milliseconds from now (ms <= 0: now). */
struct timespec deadline_after_ms(long ms);

/* The time ms milliseconds after t (ms <= 0: t itself). A pace or a
 * ticker adds to its last deadline, not to now, so that it does not drift
 * by the time each round takes. */
struct timespec clock_add_ms(struct timespec t, long ms);

/* A deadline that has already passed: "do not wait". */
struct timespec deadline_now(void);

/* Milliseconds from now until deadline; 0 once it has passed. */
long deadline_ms_left(const struct timespec *deadline);

/* 1 if deadline has passed. */
int deadline_passed(const struct timespec *deadline);

/* Seconds elapsed since start, as a double. */
double clock_seconds_since(const struct timespec *start);

/* Seconds from `from` to `to` (negative if `to` is earlier). */
double clock_seconds_between(const struct timespec *from, const struct timespec *to);

/* The wall clock (CLOCK_REALTIME) as Unix seconds with a fraction: for
 * values meant for people and for Prometheus (a timestamp in a metric),
 * never for measuring an interval, which a clock step would distort. */
double clock_unix_seconds(void);

/* Sleeps for seconds (a fraction is fine), a signal's interruption
 * included: for a program's pauses, never to wait for another thread. */
void clock_sleep(double seconds);

#endif
