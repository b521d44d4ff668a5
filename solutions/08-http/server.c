/*
 * server.c - lesson 08: every connection a small state machine, run by
 * the server of lesson 07 (src/server.h). The contract is in src/http.h.
 *
 * Lesson 07's loop owns the sockets: it listens, accepts, polls, keeps
 * the connection cap (evicting the connection that has waited longest for
 * its client, or refusing with the 503 built here), and stops. This file
 * is its handler. Every socket is non-blocking, so no recv() or send()
 * here ever waits. A connection is always in one state, and the state
 * says what it waits for and which timeout its deadline is (what happens
 * when a deadline passes is conn_on_deadline's, after http.h):
 *
 *   IDLE     no byte of the next request yet    POLLIN  idle_timeout_ms
 *   HEAD     part of a request head             POLLIN  head_timeout_ms
 *   BODY     skipping a request body            POLLIN  head_timeout_ms
 *   WRITING  a response not yet all sent        POLLOUT write_timeout_ms
 *   DONE     the last response is sent: the server finishes the connection
 *            (SERVER_FINISH: shuts our side down, lingers, closes)
 *
 * The handlers conn_on_ready and conn_on_deadline move a connection
 * between states, through the helpers above them; the glue at the bottom
 * tells the server what each state waits for. Given: conn_read and
 * conn_flush (lesson 07's non-blocking recv and send) and the glue.
 * Yours: the state machine, from conn_wait_in to conn_on_deadline.
 */
#include "clock.h"
#include "http.h"
#include "notimpl.h"
#include "server.h"
#include "strbuf.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum conn_state { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_WRITING, CONN_DONE };

/* snippet: conn */
struct conn {
	int fd;
	enum conn_state state;
	int close_after;	  /* close once out has been sent */
	char *in;		  /* HTTP_MAX_HEAD bytes: received, not yet used */
	size_t in_len;
	size_t discard;		  /* bytes of a request body still to skip */
	struct strbuf out;	  /* the response being sent */
	size_t out_sent;	  /* how much of out has gone */
	struct timespec deadline; /* what it means depends on state (see the top) */
	struct timespec waiting_since; /* accepted, or its last response all sent */
};
/* end snippet */

/* Read by the handlers on the server's thread; written before it starts. */
struct http_server {
	struct http_server_config cfg;
	http_render_fn render;
	void *arg;
	struct strbuf refusal; /* the 503 for a newcomer at the cap */
	struct server *server;
};

/* ---- given: lesson 07's non-blocking reads and writes ---------------------- */

/* One recv. 1: bytes arrived; 0: none yet (EAGAIN); -1: EOF or error. */
EXERCISE_HELPER static int conn_read(struct conn *c)
{
	size_t room = HTTP_MAX_HEAD - c->in_len;
	if (room == 0)
		return -1; /* cannot happen: a full buffer is a 431 */
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			return 1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
}

/* Sends what the socket takes. 1: all sent; 0: the socket is full (wait
 * for POLLOUT); -1: the client is gone (EPIPE, ECONNRESET). MSG_NOSIGNAL:
 * a send to a closed connection fails with EPIPE instead of killing the
 * whole process with SIGPIPE. */
EXERCISE_HELPER static int conn_flush(struct conn *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
		if (n > 0)
			c->out_sent += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		else
			return -1;
	}
	return 1;
}

/* ---- yours: the connection state machine ------------------------------------ */

/* After it, c is in state st, under that state's deadline of ms (the
 * table at the top). When that deadline starts, and whether a call for
 * the state c is already in moves it, are yours to work out: the Predict
 * in lessons/08-http/README.md#deadlines asks. */
EXERCISE_HELPER static void conn_wait_in(struct conn *c, enum conn_state st, long ms)
{
	/* BEGIN SOLUTION */
	if (c->state != st) {
		c->state = st;
		c->deadline = deadline_after_ms(ms);
	}
	/* END SOLUTION */
	/* STUB
	(void)c;
	(void)st;
	(void)ms;
	NOT_IMPLEMENTED("conn_wait_in", "lessons/08-http/README.md#the-connection-state-machine");
	*/
}

/* After it, c->in holds what was received after its first n bytes: the
 * start of the next request, or of a body still owed. */
EXERCISE_HELPER static void conn_consume(struct conn *c, size_t n)
{
	/* BEGIN SOLUTION */
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	/* END SOLUTION */
	/* STUB
	(void)c;
	(void)n;
	NOT_IMPLEMENTED("conn_consume", "lessons/08-http/README.md#the-connection-state-machine");
	*/
}

/* out holds a response. After it, c is WRITING it from its first byte,
 * under the write deadline. 1: it is ready to send; -1: out could not be
 * built (out of memory): give up on the connection. */
EXERCISE_HELPER static int conn_start_writing(const struct http_server *s, struct conn *c)
{
	/* BEGIN SOLUTION */
	if (c->out.failed)
		return -1;
	c->state = CONN_WRITING;
	c->out_sent = 0;
	c->deadline = deadline_after_ms(s->cfg.write_timeout_ms);
	return 1;
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	NOT_IMPLEMENTED("conn_start_writing", "lessons/08-http/README.md#the-connection-state-machine");
	return -1;
	*/
}

/* After it, c is sending the error response for status, its last: once a
 * request was misread nobody knows where the next one starts, so nothing
 * else it received or still owes is used. Returns what conn_start_writing
 * does. */
EXERCISE_HELPER static int conn_fail(const struct http_server *s, struct conn *c, int status)
{
	/* BEGIN SOLUTION */
	http_respond_error(status, &c->out);
	c->close_after = 1;
	c->in_len = 0;
	c->discard = 0;
	return conn_start_writing(s, c);
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	(void)status;
	NOT_IMPLEMENTED("conn_fail", "lessons/08-http/README.md#the-connection-state-machine");
	return -1;
	*/
}

/*
 * Takes the next request out of c->in if it is all there and builds its
 * response. 1: a response is ready to send; 0: more bytes are needed (the
 * state says which); -1: give up on the connection. A body too big to
 * skip is refused with a 400 before the request is answered (http.h).
 */
EXERCISE_HELPER static int conn_take_request(struct http_server *s, struct conn *c)
{
	/* BEGIN SOLUTION */
	if (c->discard > 0) {
		size_t n = c->discard < c->in_len ? c->discard : c->in_len;
		conn_consume(c, n);
		c->discard -= n;
		if (c->discard > 0) {
			conn_wait_in(c, CONN_BODY, s->cfg.head_timeout_ms);
			return 0;
		}
	}
	if (c->in_len == 0) {
		conn_wait_in(c, CONN_IDLE, s->cfg.idle_timeout_ms);
		return 0;
	}
	struct http_request req;
	long n = http_parse_request(c->in, c->in_len, &req);
	if (n == 0) {
		conn_wait_in(c, CONN_HEAD, s->cfg.head_timeout_ms);
		return 0;
	}
	if (n < 0)
		return conn_fail(s, c, (int)-n);
	conn_consume(c, (size_t)n);
	if (req.content_length > HTTP_MAX_HEAD)
		return conn_fail(s, c, 400); /* http.h has no 413: too big to skip */
	c->discard = req.content_length;
	int status = http_respond(&req, s->render, s->arg, &c->out);
	c->close_after = !req.keep_alive || status >= 400;
	return conn_start_writing(s, c);
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	NOT_IMPLEMENTED("conn_take_request", "lessons/08-http/README.md#the-connection-state-machine");
	return -1;
	*/
}

/* All of out has been sent. After it, c is DONE if that response was its
 * last; otherwise it waits for its next request, and that wait is the one
 * the connection cap measures (waiting_since: see
 * lessons/08-http/README.md#the-connection-cap). */
EXERCISE_HELPER static void conn_response_sent(const struct http_server *s, struct conn *c)
{
	/* BEGIN SOLUTION */
	strbuf_free(&c->out);
	c->out_sent = 0;
	if (c->close_after) {
		c->state = CONN_DONE;
		return;
	}
	conn_wait_in(c, CONN_IDLE, s->cfg.idle_timeout_ms);
	/* At the cap, the connection waiting longest is evicted. */
	c->waiting_since = clock_now();
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	NOT_IMPLEMENTED("conn_response_sent", "lessons/08-http/README.md#the-connection-state-machine");
	*/
}

/* After it, c has gone as far as it can without waiting: it waits for
 * POLLOUT (a response not all sent), for more bytes (no whole request
 * left), or is DONE. Responses leave in request order, each all sent
 * before the next request is taken (pipelining). 0: keep the connection;
 * -1: give up on it. */
EXERCISE_HELPER static int conn_advance(struct http_server *s, struct conn *c)
{
	/* BEGIN SOLUTION */
	for (;;) {
		if (c->state == CONN_WRITING) {
			int r = conn_flush(c);
			if (r <= 0)
				return r;
			conn_response_sent(s, c);
			if (c->state == CONN_DONE)
				return 0;
		}
		int r = conn_take_request(s, c);
		if (r <= 0)
			return r;
	}
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	NOT_IMPLEMENTED("conn_advance", "lessons/08-http/README.md#the-connection-state-machine");
	return -1;
	*/
}

/*
 * poll() says c's socket is ready (revents). Afterwards the connection
 * has gone as far as it can without waiting. Returns 0 to keep the
 * connection (DONE: to have the server finish it), -1 to have it closed
 * at once. The state, not revents, says whether to read or to write:
 * POLLHUP and POLLERR need no case of their own, since the recv or send
 * they wake returns EOF or the error (conn_read, conn_flush: -1).
 */
static int conn_on_ready(struct http_server *s, struct conn *c, short revents)
{
	/* BEGIN SOLUTION */
	(void)revents; /* recv and send say what happened, including errors */
	if (c->state == CONN_WRITING)
		return conn_advance(s, c);
	int r = conn_read(c);
	if (r <= 0)
		return r;
	return conn_advance(s, c);
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	(void)revents;
	NOT_IMPLEMENTED("conn_on_ready", "lessons/08-http/README.md#the-connection-state-machine");
	return -1;
	*/
}

/* c's deadline has passed. Returns 0 to keep the connection (a 408 is
 * on its way), -1 to have the server close it. */
static int conn_on_deadline(struct http_server *s, struct conn *c)
{
	/* BEGIN SOLUTION */
	if (c->state != CONN_HEAD && c->state != CONN_BODY)
		return -1; /* idle too long, or too slow to take its response */
	if (conn_fail(s, c, 408) < 0)
		return -1;
	return conn_advance(s, c);
	/* END SOLUTION */
	/* STUB
	(void)s;
	(void)c;
	NOT_IMPLEMENTED("conn_on_deadline", "lessons/08-http/README.md#deadlines");
	return -1;
	*/
}

/* ---- on lesson 07's server (given) ------------------------------------------- */

/* Tells the server what c now waits for, and what to do with it after a
 * handler returned r. */
static enum server_verdict conn_publish(struct server_conn *sc, const struct conn *c, int r)
{
	sc->events = c->state == CONN_WRITING ? POLLOUT : POLLIN;
	sc->deadline = c->deadline;
	sc->waiting_since = c->waiting_since;
	if (r < 0)
		return SERVER_CLOSE;
	return c->state == CONN_DONE ? SERVER_FINISH : SERVER_KEEP;
}

static int http_open(void *arg, struct server_conn *sc)
{
	const struct http_server *s = arg;
	struct conn *c = calloc(1, sizeof(*c));
	char *in = c != NULL ? malloc(HTTP_MAX_HEAD) : NULL;
	if (in == NULL) {
		free(c);
		return -1;
	}
	*c = (struct conn){.fd = sc->fd, .in = in, .state = CONN_IDLE, .waiting_since = sc->waiting_since};
	c->deadline = deadline_after_ms(s->cfg.idle_timeout_ms);
	sc->data = c;
	conn_publish(sc, c, 0);
	return 0;
}

static enum server_verdict http_ready(void *arg, struct server_conn *sc, short revents)
{
	return conn_publish(sc, sc->data, conn_on_ready(arg, sc->data, revents));
}

static enum server_verdict http_expired(void *arg, struct server_conn *sc)
{
	return conn_publish(sc, sc->data, conn_on_deadline(arg, sc->data));
}

static void http_close(void *arg, struct server_conn *sc)
{
	(void)arg;
	struct conn *c = sc->data;
	free(c->in);
	strbuf_free(&c->out);
	free(c);
	sc->data = NULL;
}

/* ---- the contract ------------------------------------------------------------ */

struct http_server_config http_server_config_default(void)
{
	struct http_server_config cfg = {
	    .listen = "127.0.0.1:8479",
	    .max_connections = 64,
	    .head_timeout_ms = 10000,
	    .idle_timeout_ms = 60000,
	    .write_timeout_ms = 10000,
	};
	return cfg;
}

/* Zero or negative settings mean "the default". */
static struct http_server_config settle(const struct http_server_config *cfg)
{
	struct http_server_config d = http_server_config_default(), c = *cfg;
	if (c.listen == NULL)
		c.listen = d.listen;
	if (c.max_connections <= 0)
		c.max_connections = d.max_connections;
	if (c.head_timeout_ms <= 0)
		c.head_timeout_ms = d.head_timeout_ms;
	if (c.idle_timeout_ms <= 0)
		c.idle_timeout_ms = d.idle_timeout_ms;
	if (c.write_timeout_ms <= 0)
		c.write_timeout_ms = d.write_timeout_ms;
	return c;
}

struct http_server *http_server_start(const struct http_server_config *cfg, http_render_fn render, void *arg,
				      char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "http_server_start: %s", strerror(ENOMEM));
		return NULL;
	}
	s->cfg = settle(cfg);
	s->render = render;
	s->arg = arg;
	http_respond_error(503, &s->refusal);
	struct server_handler h = {.open = http_open, .ready = http_ready, .expired = http_expired,
				   .close = http_close, .arg = s};
	if (!s->refusal.failed) {
		h.refusal = s->refusal.data;
		h.refusal_len = s->refusal.len;
	}
	struct server_config sc = {.listen = s->cfg.listen, .max_connections = s->cfg.max_connections};
	s->server = server_start(&sc, &h, err, errlen);
	if (s->server == NULL) {
		strbuf_free(&s->refusal);
		free(s);
		return NULL;
	}
	return s;
}

int http_server_port(const struct http_server *server)
{
	return server_port(server->server);
}

void http_server_stop(struct http_server *server)
{
	if (server == NULL)
		return;
	server_stop(server->server);
	strbuf_free(&server->refusal);
	free(server);
}
