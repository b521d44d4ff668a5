/*
 * server.c - lesson 08: every connection a small state machine, run by
 * the server of lesson 07 (src/server.h). The contract is in src/http.h.
 *
 * Lesson 07's loop owns the sockets: it listens, accepts, polls, keeps
 * the connection cap (evicting the connection that has waited longest for
 * its client, or refusing with the 503 built here), and stops. This file
 * is its handler. Every socket is non-blocking, so no recv() or send()
 * here ever waits. A connection is always in one state, and the state
 * says what it waits for and what its deadline means:
 *
 *   IDLE     no byte of the next request yet    POLLIN  idle_timeout_ms -> close
 *   HEAD     part of a request head             POLLIN  head_timeout_ms -> 408, close
 *   BODY     skipping a request body            POLLIN  head_timeout_ms -> 408, close
 *   WRITING  a response not yet all sent        POLLOUT write_timeout_ms -> close
 *   DONE     the last response is sent: the server finishes the connection
 *            (SERVER_FINISH: shuts our side down, lingers, closes)
 *
 * The handlers conn_on_ready and conn_on_deadline (the lesson's exercise)
 * move a connection between states; the glue at the bottom (given) tells
 * the server what each state waits for.
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

/* ---- the connection state machine (the exercise) ------------------------ */

/*
 * poll() says c's socket is ready (revents). Reads or writes, then moves
 * the connection on as far as it goes without waiting. Returns 0 to keep
 * the connection (DONE: to have the server finish it), -1 to have it
 * closed at once.
 */
static int conn_on_ready(struct http_server *s, struct conn *c, short revents)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)c;
	(void)revents;
	NOT_IMPLEMENTED("conn_on_ready", "lessons/08-http/README.md#the-connection-state-machine");
	return -1;
}

/* c's deadline has passed. Returns 0 to keep the connection (a 408 is
 * on its way), -1 to have the server close it. */
static int conn_on_deadline(struct http_server *s, struct conn *c)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)c;
	NOT_IMPLEMENTED("conn_on_deadline", "lessons/08-http/README.md#deadlines");
	return -1;
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
