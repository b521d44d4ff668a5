/*
 * notimpl.h - how an exercise stub says "not written yet".
 *
 * Every function the learner writes starts out as a stub that calls
 * NOT_IMPLEMENTED and returns an error code. The stub never blocks and
 * never aborts, so the grader can run every test and report each one as
 * "not implemented" instead of hanging or crashing.
 */
#ifndef NOTIMPL_H
#define NOTIMPL_H

/* Prints, once per function, to stderr:
 *   NOT IMPLEMENTED: chan_send (exercises/01-channel/channel.c:42) - see lessons/01-channel/README.md#send-and-receive */
void not_implemented(const char *func, const char *see, const char *file, int line);

#define NOT_IMPLEMENTED(func, see) not_implemented(func, see, __FILE__, __LINE__)

/* 1 once any stub has been reached in this process. The test harness
 * stops waiting then: whatever a test waits for after a stub answered in
 * its place will not come, and the verdict is already NOT IMPLEMENTED. */
int not_implemented_reached(void);

/* For a step program, at its end: 1 if a stub was reached (said on
 * stderr after "prog: "; the stub's own line above names the function and
 * the section to read), else 0. */
int not_implemented_end(const char *prog);

/*
 * Marks a static helper given to the learner. While a stub stands in for
 * the function that calls it, the helper is unused, and -Werror would stop
 * the build; a stub that named the helper to silence that would give the
 * answer away, and a learner who solved it another way would have to call
 * it anyway. Marked, it may go unused.
 */
#define EXERCISE_HELPER __attribute__((unused))

#endif
