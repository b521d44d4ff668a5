/*
 * echo.c - the line echo (see echo.h). A connection is in one of two
 * states, and its events say which: reading (POLLIN) until a whole line is
 * there, or writing (POLLOUT) the reply until all of it has gone.
 */
#include "echo.h"

#include "clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct echo {
	char in[ECHO_MAX_LINE]; /* received, not yet echoed */
	size_t in_len;
	char *out; /* the reply being sent, or NULL */
	size_t out_len, out_sent;
	int finish_after; /* the reply is to "bye" */
};

static void wait_for_a_line(struct server_conn *c, long idle_ms)
{
	c->events = POLLIN;
	c->deadline = deadline_after_ms(idle_ms);
}

static int echo_open(void *arg, struct server_conn *c)
{
	struct echo *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	c->data = e;
	wait_for_a_line(c, *(const long *)arg);
	return 0;
}

/* 1 if a whole line was taken from e->in and made the reply; 0 if there
 * is none yet; -1 out of memory. */
static int echo_take_line(struct echo *e)
{
	char *nl = memchr(e->in, '\n', e->in_len);
	if (nl == NULL)
		return 0;
	size_t n = (size_t)(nl - e->in) + 1;
	int big = n == 4 && memcmp(e->in, "big\n", 4) == 0;
	e->out_len = big ? ECHO_BIG : n;
	e->out = malloc(e->out_len);
	if (e->out == NULL)
		return -1;
	if (big) {
		memset(e->out, 'x', ECHO_BIG - 1);
		e->out[ECHO_BIG - 1] = '\n';
	} else {
		memcpy(e->out, e->in, n);
	}
	e->out_sent = 0;
	e->finish_after = n == 4 && memcmp(e->in, "bye\n", 4) == 0;
	memmove(e->in, e->in + n, e->in_len - n);
	e->in_len -= n;
	return 1;
}

/* 1: all sent; 0: the socket is full; -1: the client is gone. */
static int echo_flush(struct server_conn *c, struct echo *e)
{
	while (e->out_sent < e->out_len) {
		ssize_t n = send(c->fd, e->out + e->out_sent, e->out_len - e->out_sent, MSG_NOSIGNAL);
		if (n > 0)
			e->out_sent += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
	free(e->out);
	e->out = NULL;
	return 1;
}

/* Sends, then answers every whole line already received, in order. */
static enum server_verdict echo_advance(struct server_conn *c, struct echo *e, long idle_ms)
{
	for (;;) {
		if (e->out != NULL) {
			int r = echo_flush(c, e);
			if (r < 0)
				return SERVER_CLOSE;
			if (r == 0) {
				c->events = POLLOUT;
				return SERVER_KEEP;
			}
			if (e->finish_after)
				return SERVER_FINISH;
			wait_for_a_line(c, idle_ms);
			c->waiting_since = clock_now(); /* its wait for the next line starts */
		}
		int r = echo_take_line(e);
		if (r <= 0)
			return r < 0 || e->in_len == sizeof(e->in) ? SERVER_CLOSE : SERVER_KEEP;
	}
}

static enum server_verdict echo_ready(void *arg, struct server_conn *c, short revents)
{
	(void)revents; /* recv and send say what happened, errors included */
	struct echo *e = c->data;
	if (c->events & POLLOUT)
		return echo_advance(c, e, *(const long *)arg);
	/* Everything there is, until EAGAIN: on a blocking socket the last
	 * recv would wait for more, and hold up every other client. */
	while (e->in_len < sizeof(e->in)) {
		ssize_t n = recv(c->fd, e->in + e->in_len, sizeof(e->in) - e->in_len, 0);
		if (n > 0)
			e->in_len += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else
			return SERVER_CLOSE; /* the client closed, or the connection failed */
	}
	return echo_advance(c, e, *(const long *)arg);
}

static enum server_verdict echo_expired(void *arg, struct server_conn *c)
{
	(void)arg;
	(void)c;
	return SERVER_CLOSE; /* idle too long, or too slow to take its reply */
}

static void echo_close(void *arg, struct server_conn *c)
{
	(void)arg;
	struct echo *e = c->data;
	free(e->out);
	free(e);
	c->data = NULL;
}

#define REFUSAL "busy\n"

struct server_handler echo_handler(long *idle_ms)
{
	struct server_handler h = {
	    .open = echo_open,
	    .ready = echo_ready,
	    .expired = echo_expired,
	    .close = echo_close,
	    .arg = idle_ms,
	    .refusal = REFUSAL,
	    .refusal_len = sizeof(REFUSAL) - 1,
	};
	return h;
}
