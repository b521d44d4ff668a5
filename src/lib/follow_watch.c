/*
 * follow_watch.c - lesson 03: inotify events turned into channel messages, so
 * that the follower wakes when the directory of its file changes instead
 * of at the next poll. Given, not an exercise; the contract is in
 * src/tailer.h (follow_watch).
 *
 * One thread per watch blocks in poll(2) on the inotify descriptor and on
 * a pipe. Each batch of events becomes one try-send on `wake` (capacity
 * 1): if a wake is already waiting, the follower has not looked yet and
 * will see these changes too when it does. Closing the pipe's write end
 * ends the thread: a descriptor cannot be "closed under" a blocked
 * poll(2) safely, but a pipe whose writer is gone reads as ready.
 */
#include "tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/inotify.h>
#endif

/* The dummy message: the wake is the message's arrival, not its content. */
static char wake_msg;

#ifdef __linux__
/* The directory that holds path: what comes before its last '/'. */
static void dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

static void *watch_run(void *arg)
{
	struct follow_watch *w = arg;
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd fds[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->stop[0], .events = POLLIN}};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents != 0) /* the follower closed stop[1] */
			break;
		/* What happened does not matter, only that something did: the
		 * follower looks at its files itself. IN_Q_OVERFLOW too. */
		ssize_t n = read(w->fd, events, sizeof(events));
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			break;
		chan_try_send(w->wake, &wake_msg);
	}
	return NULL;
}

/* The inotify instance, its directory watch and the stop pipe; 0 or -1. */
static int watch_open(struct follow_watch *w, const char *path)
{
	char dir[4096];
	dir_of(path, dir, sizeof(dir));
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -1;
	/* IN_MODIFY on a directory also reports writes to the files in it:
	 * one watch covers the followed file, the renamed one beside it, and
	 * every file a glob matches there. */
	if (inotify_add_watch(w->fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
		return -1;
	if (pipe(w->stop) != 0) {
		w->stop[0] = w->stop[1] = -1;
		return -1;
	}
	return 0;
}

int follow_watch_start(struct follow_watch *w, const char *path)
{
	w->fd = w->stop[0] = w->stop[1] = -1;
	w->wake = NULL;
	if (watch_open(w, path) == 0 && (w->wake = chan_new(1)) != NULL &&
	    pthread_create(&w->thread, NULL, watch_run, w) == 0)
		return 0;
	if (w->wake != NULL)
		chan_free(w->wake);
	w->wake = NULL;
	follow_watch_stop(w);
	return -1;
}
#else
int follow_watch_start(struct follow_watch *w, const char *path)
{
	(void)path;
	w->fd = w->stop[0] = w->stop[1] = -1;
	w->wake = NULL;
	return -1;
}
#endif

void follow_watch_stop(struct follow_watch *w)
{
	if (w->wake != NULL) {
		close(w->stop[1]); /* the thread wakes and ends */
		w->stop[1] = -1;
		pthread_join(w->thread, NULL);
		chan_free(w->wake);
		w->wake = NULL;
	}
	int *fds[] = {&w->fd, &w->stop[0], &w->stop[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}
