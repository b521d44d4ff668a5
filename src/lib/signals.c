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

void signals_wait(long seconds)
{
	struct pollfd p = {.fd = signal_pipe[0], .events = POLLIN};
	struct timespec end = deadline_after_ms(seconds * 1000);
	for (;;) {
		int timeout = -1;
		if (seconds > 0) {
			if (deadline_passed(&end))
				return;
			long ms = deadline_ms_left(&end);
			timeout = ms > 60000 ? 60000 : (int)ms + 1;
		}
		if (poll(&p, 1, timeout) > 0)
			return; /* a signal (EINTR just loops) */
	}
}
