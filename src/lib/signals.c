/*
 * signals.c - Ctrl-C for the step programs (see signals.h).
 */
#include "signals.h"

#include "clock.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	(void)sig;
	ssize_t n = write(signal_pipe[1], "s", 1);
	(void)n; /* the pipe is full: a stop is already on its way */
	errno = saved;
}

int signals_catch(void)
{
	if (pipe(signal_pipe) != 0)
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0 ? 0 : -1;
}

/* Reads the byte that ended a wait: 1 if a signal wrote it. A second
 * Ctrl-C then ends the program the hard way. */
static int take_byte(void)
{
	char byte = 0;
	if (read(signal_pipe[0], &byte, 1) != 1 || byte != 's')
		return 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	return 1;
}

void signals_wake(void)
{
	ssize_t n = write(signal_pipe[1], "q", 1);
	(void)n; /* the pipe is full: the waiter has a byte already */
}

int signals_wait(long seconds)
{
	struct pollfd p = {.fd = signal_pipe[0], .events = POLLIN};
	struct timespec end = deadline_after_ms(seconds * 1000);
	for (;;) {
		int timeout = -1;
		if (seconds > 0) {
			if (deadline_passed(&end))
				return 0;
			long ms = deadline_ms_left(&end);
			timeout = ms > 60000 ? 60000 : (int)ms + 1;
		}
		if (poll(&p, 1, timeout) > 0)
			return take_byte(); /* EINTR just loops */
	}
}
