/*
 * signals.h - how a step program waits for Ctrl-C. The handler only
 * writes a byte into a pipe (write is async-signal-safe; almost nothing
 * else is), and the waiting side polls the pipe's other end.
 */
#ifndef SIGNALS_H
#define SIGNALS_H

/* From now on SIGINT and SIGTERM are caught. 0, or -1 with errno. */
int signals_catch(void);

/* Waits for SIGINT or SIGTERM (once signals_catch is done), for seconds
 * (0: no limit), or for signals_wake. Returns 1 if a signal ended the
 * wait; a second signal then ends the program. */
int signals_wait(long seconds);

/* Ends a signals_wait on another thread: the program is over anyway. */
void signals_wake(void);

#endif
