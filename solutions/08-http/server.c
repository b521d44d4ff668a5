/*
 * server.c - lesson 08: one thread, one poll() loop, every connection a
 * small state machine. The contract is in src/http.h.
 *
 * Every socket is non-blocking, so no recv() or send() ever waits: the
 * only place the thread waits is poll(), for whichever comes first of a
 * socket becoming ready, a connection's deadline, or a byte on the wake
 * pipe (http_server_stop). A connection is always in one state, and the
 * state says what it waits for and what its deadline means:
 *
 *   IDLE     no byte of the next request yet    POLLIN  idle_timeout_ms -> close
 *   HEAD     part of a request head             POLLIN  head_timeout_ms -> 408, close
 *   BODY     skipping a request body            POLLIN  head_timeout_ms -> 408, close
 *   WRITING  a response not yet all sent        POLLOUT write_timeout_ms -> close
 *   LINGER   response sent, our side shut down  POLLIN  LINGER_MS -> close
 *
 * The loop (given) builds the poll set, accepts connections (at the cap
 * evicting the one that has waited longest for a request, or refusing
 * with a 503 when every one is being answered), closes the ones a handler
 * gives up on, and at stop lets the responses being written finish; the
 * handlers conn_on_ready and conn_on_deadline (the lesson's exercise) move
 * a connection between states.
 */
#include "clock.h"
#include "http.h"
#include "notimpl.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define REJECT_SLOTS 8	     /* refused connections lingering after their 503 */
#define ACCEPT_PAUSE_MS 100  /* after EMFILE and friends: let descriptors free up */
#define ACCEPT_BATCH 32	     /* accepts per loop turn, so connections are served too */
#define LINGER_MS 1000	     /* how long a closing connection may still send to us */

enum conn_state { CONN_FREE, CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_WRITING, CONN_LINGER };

/* snippet: conn */
struct conn {
	int fd;
	enum conn_state state;
	int rejected;		  /* refused: told 503, lingering until closed */
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

/* Everything but the wake pipe's write end belongs to the server thread
 * once it runs; http_server_stop touches the rest only after joining it. */
struct http_server {
	struct http_server_config cfg;
	http_render_fn render;
	void *arg;
	int listen_fd;
	int wake_rd, wake_wr; /* the self-pipe: a byte here ends the loop */
	int port;
	struct conn *conns; /* max_connections + REJECT_SLOTS of them */
	size_t nconns;
	int active;	    /* connections counted against max_connections */
	int rejecting;	    /* refused connections lingering after their 503 */
	struct strbuf refusal; /* the 503, made at the first refusal */
	int stopping;	       /* http_server_stop: finish the responses, then leave */
	int accept_paused;
	struct timespec accept_resume;
	struct pollfd *pfds;
	size_t *pfd_conn; /* pfds[i] watches conns[pfd_conn[i]] */
	pthread_t thread;
};

/* ---- the connection state machine (the exercise) ------------------------ */

/* BEGIN SOLUTION */

/* Moves to state st, starting its deadline, unless already there: a
 * head's deadline runs from its first byte, not from the latest read. */
static void conn_wait_in(struct conn *c, enum conn_state st, long ms)
{
	if (c->state != st) {
		c->state = st;
		c->deadline = deadline_after_ms(ms);
	}
}

/* Drops the first n received bytes: what is left is the next request. */
static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* out holds a response: send it before looking at the next request, so
 * pipelined responses leave in order. */
static int conn_start_writing(const struct http_server *s, struct conn *c)
{
	if (c->out.failed)
		return -1;
	c->state = CONN_WRITING;
	c->out_sent = 0;
	c->deadline = deadline_after_ms(s->cfg.write_timeout_ms);
	return 1;
}

static int conn_fail(const struct http_server *s, struct conn *c, int status)
{
	http_respond_error(status, &c->out);
	c->close_after = 1;
	c->in_len = 0;
	c->discard = 0;
	return conn_start_writing(s, c);
}

/*
 * Takes the next request out of c->in if it is all there and builds its
 * response. 1: a response is ready to send; 0: more bytes are needed (the
 * state says which); -1: give up on the connection.
 */
static int conn_take_request(struct http_server *s, struct conn *c)
{
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
}

/* Sends what the socket takes. 1: all sent; 0: the socket is full (wait
 * for POLLOUT); -1: the client is gone (EPIPE, ECONNRESET). MSG_NOSIGNAL:
 * a send to a closed connection fails with EPIPE instead of killing the
 * whole process with SIGPIPE. */
static int conn_flush(struct conn *c)
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

/* The response is out. After an error, or when the request asked for it,
 * shut our side down (the client reads EOF) and keep reading a little
 * while: closing with unread bytes would reset the connection and could
 * destroy the response before the client reads it. */
static void conn_response_sent(const struct http_server *s, struct conn *c)
{
	strbuf_free(&c->out);
	c->out_sent = 0;
	if (c->close_after) {
		shutdown(c->fd, SHUT_WR);
		c->in_len = 0;
		c->discard = 0;
		c->state = CONN_LINGER;
		c->deadline = deadline_after_ms(LINGER_MS);
		return;
	}
	c->state = CONN_IDLE;
	c->deadline = deadline_after_ms(s->cfg.idle_timeout_ms);
	c->waiting_since = clock_now(); /* at the cap, the longest waiting is evicted */
}

/* Does all that can be done without waiting: sends, then answers every
 * whole request already received (pipelining), one at a time. */
static int conn_advance(struct http_server *s, struct conn *c)
{
	for (;;) {
		if (c->state == CONN_WRITING) {
			int r = conn_flush(c);
			if (r <= 0)
				return r;
			conn_response_sent(s, c);
			if (c->state == CONN_LINGER)
				return 0;
		}
		int r = conn_take_request(s, c);
		if (r <= 0)
			return r;
	}
}

/* One recv. 1: bytes arrived; 0: none yet (EAGAIN); -1: EOF or error. */
static int conn_read(struct conn *c)
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

/* END SOLUTION */

/*
 * poll() says c's socket is ready (revents). Reads or writes, then moves
 * the connection on as far as it goes without waiting. Returns 0 to keep
 * the connection, -1 to have the loop close it.
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
	if (c->state == CONN_LINGER) {
		c->in_len = 0; /* a closing connection's bytes are dropped */
		return 0;
	}
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
 * on its way), -1 to have the loop close it. */
static int conn_on_deadline(struct http_server *s, struct conn *c)
{
	/* BEGIN SOLUTION */
	if (c->state != CONN_HEAD && c->state != CONN_BODY)
		return -1; /* idle too long, too slow to read, or done lingering */
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

/* ---- the loop (given) ---------------------------------------------------- */

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void conn_close(struct http_server *s, struct conn *c)
{
	close(c->fd);
	free(c->in);
	strbuf_free(&c->out);
	if (c->rejected)
		s->rejecting--;
	else
		s->active--;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_FREE;
}

static struct conn *free_slot(struct http_server *s)
{
	for (size_t i = 0; i < s->nconns; i++)
		if (s->conns[i].state == CONN_FREE)
			return &s->conns[i];
	return NULL;
}

/* c is waiting for a request head: idle, with part of a head received,
 * or skipping a body. A connection being answered (WRITING), lingering
 * after its response, or refused is not: closing it could cut a response
 * before the client has read it. */
static int conn_is_waiting(const struct conn *c)
{
	return !c->rejected && (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY);
}

static int earlier(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * At the cap, the connection that has waited longest for a complete
 * request head is closed to make room, at once. Its wait began when it
 * was accepted, or when its previous response was all sent: a head begun
 * does not restart it, so a client cannot look young by trickling. A
 * real client sends its head within milliseconds of connecting, and is
 * the youngest waiter meanwhile, so only the stalled and the idle lose
 * their place; an idle keep-alive client reconnects. Without this,
 * max_connections clients that connect and then send a byte now and then
 * (slowloris) would hold every slot for a whole head timeout.
 */
static void evict_longest_waiting(struct http_server *s)
{
	struct conn *victim = NULL;
	for (size_t i = 0; i < s->nconns; i++) {
		struct conn *c = &s->conns[i];
		if (conn_is_waiting(c) && (victim == NULL || earlier(&c->waiting_since, &victim->waiting_since)))
			victim = c;
	}
	if (victim != NULL)
		conn_close(s, victim);
}

/* Reads and drops what the client has sent so far (up to HTTP_MAX_HEAD
 * bytes): closing a socket with unread input sends a reset, and a reset
 * can destroy the response before the client has read it. */
static void drop_input(int fd)
{
	char scratch[512];
	for (size_t total = 0; total < HTTP_MAX_HEAD;) {
		ssize_t n = recv(fd, scratch, sizeof(scratch), 0);
		if (n > 0)
			total += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			return;
	}
}

/*
 * Every slot holds a connection that is being answered: the new one is
 * told 503 at once. One non-blocking send of the fixed response (a new
 * socket's send buffer is empty; the response is a few hundred bytes)
 * never waits. Then our side is shut down, and the connection lingers in
 * one of the REJECT_SLOTS like any connection after its last response; if
 * none is free it is closed now, which after drop_input ends with a FIN
 * unless more bytes arrive later.
 */
static void conn_refuse(struct http_server *s, int fd)
{
	if (s->refusal.len == 0)
		http_respond_error(503, &s->refusal);
	drop_input(fd);
	ssize_t sent = s->refusal.failed ? -1 : send(fd, s->refusal.data, s->refusal.len, MSG_NOSIGNAL);
	if (sent != (ssize_t)s->refusal.len || shutdown(fd, SHUT_WR) != 0) {
		close(fd);
		return;
	}
	struct conn *c = s->rejecting < REJECT_SLOTS ? free_slot(s) : NULL;
	char *in = c != NULL ? malloc(HTTP_MAX_HEAD) : NULL;
	if (in == NULL) {
		close(fd);
		return;
	}
	s->rejecting++;
	*c = (struct conn){.fd = fd, .in = in, .rejected = 1, .close_after = 1, .state = CONN_LINGER};
	c->deadline = deadline_after_ms(LINGER_MS);
}

/* A new connection: counted and idle, after evicting the longest waiting
 * one at the cap; or, when every connection is being answered, refused. */
static void conn_open(struct http_server *s, int fd)
{
	if (s->active >= s->cfg.max_connections)
		evict_longest_waiting(s);
	if (set_nonblocking(fd) != 0) {
		close(fd);
		return;
	}
	if (s->active >= s->cfg.max_connections) {
		conn_refuse(s, fd);
		return;
	}
	struct conn *c = free_slot(s);
	char *in = c != NULL ? malloc(HTTP_MAX_HEAD) : NULL;
	if (in == NULL) {
		close(fd);
		return;
	}
	s->active++;
	*c = (struct conn){.fd = fd, .in = in, .state = CONN_IDLE, .waiting_since = clock_now()};
	c->deadline = deadline_after_ms(s->cfg.idle_timeout_ms);
}

/* Accepts what is waiting. No error here ends the loop: ECONNABORTED (the
 * client left first) is nobody's problem; EMFILE and ENFILE (out of
 * descriptors) would leave the listening socket readable and the loop
 * spinning, so accepting pauses briefly instead. */
static void accept_some(struct http_server *s)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept(s->listen_fd, NULL, NULL);
		if (fd >= 0) {
			conn_open(s, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			s->accept_paused = 1;
			s->accept_resume = deadline_after_ms(ACCEPT_PAUSE_MS);
		}
		return;
	}
}

/* The poll timeout that wakes us for the deadline d (or sooner). */
static int until(const struct timespec *d, int timeout)
{
	long ms = deadline_passed(d) ? 0 : deadline_ms_left(d) + 1;
	if (ms > 60000)
		ms = 60000;
	return timeout < 0 || ms < timeout ? (int)ms : timeout;
}

/* Fills s->pfds: the wake pipe, the listening socket, each connection. */
static nfds_t build_poll_set(struct http_server *s, int *timeout)
{
	nfds_t n = 0;
	*timeout = -1;
	/* Once stopping, the wake byte would make every poll return at once. */
	s->pfds[n++] = (struct pollfd){.fd = s->stopping ? -1 : s->wake_rd, .events = POLLIN};
	if (s->accept_paused && !deadline_passed(&s->accept_resume))
		*timeout = until(&s->accept_resume, *timeout);
	else
		s->accept_paused = 0;
	s->pfds[n++] = (struct pollfd){.fd = s->accept_paused ? -1 : s->listen_fd, .events = POLLIN};
	for (size_t i = 0; i < s->nconns; i++) {
		struct conn *c = &s->conns[i];
		if (c->state == CONN_FREE)
			continue;
		short events = c->state == CONN_WRITING ? POLLOUT : POLLIN;
		s->pfd_conn[n] = i;
		s->pfds[n++] = (struct pollfd){.fd = c->fd, .events = events};
		*timeout = until(&c->deadline, *timeout);
	}
	return n;
}

/*
 * Stopping (http_server_stop): no new connection (the listening socket
 * closes, so a client is refused at once instead of waiting in the
 * backlog), and no connection that waits for a request. A response being
 * written goes on until it is all sent or its write deadline passes; then
 * the connection is closed, not kept alive. Called at every loop turn
 * while stopping: each turn closes the connections whose response is done.
 */
static void stop_step(struct http_server *s)
{
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	for (size_t i = 0; i < s->nconns; i++) {
		struct conn *c = &s->conns[i];
		if (c->state == CONN_WRITING) {
			c->close_after = 1;
		} else if (c->state != CONN_FREE) {
			drop_input(c->fd);
			conn_close(s, c);
		}
	}
}

/* snippet: loop */
static void *server_loop(void *arg)
{
	struct http_server *s = arg;
	while (!s->stopping || s->active + s->rejecting > 0) {
		int timeout;
		nfds_t n = build_poll_set(s, &timeout);
		if (poll(s->pfds, n, timeout) < 0) {
			if (errno != EINTR)
				poll(NULL, 0, 10); /* ENOMEM: try again soon, never spin */
			continue;
		}
		for (nfds_t i = 2; i < n; i++) {
			struct conn *c = &s->conns[s->pfd_conn[i]];
			if (s->pfds[i].revents != 0 && conn_on_ready(s, c, s->pfds[i].revents) != 0)
				conn_close(s, c);
		}
		for (size_t i = 0; i < s->nconns; i++) {
			struct conn *c = &s->conns[i];
			if (c->state != CONN_FREE && deadline_passed(&c->deadline) && conn_on_deadline(s, c) != 0)
				conn_close(s, c);
		}
		if (s->pfds[0].revents != 0)
			s->stopping = 1; /* http_server_stop */
		if (s->stopping)
			stop_step(s);
		else if (s->pfds[1].revents != 0)
			accept_some(s);
	}
	return NULL;
}
/* end snippet */

/* ---- listening ------------------------------------------------------------- */

/*
 * "host:port", "[v6]:port" or ":port" into host (empty: every interface)
 * and port. -1 if it is none of these.
 */
static int split_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	size_t hlen;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':' || close == listen + 1)
			return -1;
		hlen = (size_t)(close - listen - 1);
		listen++;
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || memchr(listen, ':', (size_t)(colon - listen)) != NULL)
			return -1; /* an IPv6 address needs its brackets */
		hlen = (size_t)(colon - listen);
	}
	size_t plen = strlen(colon + 1);
	if (hlen >= hostlen || plen == 0 || plen >= portlen || plen > 5)
		return -1;
	for (size_t i = 0; i < plen; i++)
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return -1;
	if (atoi(colon + 1) > 65535)
		return -1;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	memcpy(port, colon + 1, plen + 1);
	return 0;
}

/* A listening socket for one address, or -1 with errno. */
static int listen_on(const struct addrinfo *ai, int dual_stack)
{
	int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0)
		return -1;
	int on = 1, off = 0;
	/* SO_REUSEADDR: a restarted server can bind again while the old
	 * connections sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 || set_nonblocking(fd) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void say(char *err, size_t errlen, const char *listen, const char *why)
{
	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "%s: %s", listen, why);
	char *reason = err + strlen(listen) + 2;
	if (reason < err + errlen && *reason >= 'A' && *reason <= 'Z')
		*reason = (char)(*reason - 'A' + 'a'); /* "address already in use" */
}

/* Binds the listen address. ":port" tries IPv6 with IPV6_V6ONLY off (it
 * then takes IPv4 too), and IPv4 alone where the machine has no IPv6. */
static int open_listener(const char *listen, char *err, size_t errlen)
{
	char host[256], port[8];
	if (split_listen(listen, host, sizeof(host), port, sizeof(port)) != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "bad listen address '%s'", listen);
		return -1;
	}
	int wildcard = host[0] == '\0';
	static const int families[] = {AF_INET6, AF_INET};
	int e = 0;
	for (int k = 0; k < (wildcard ? 2 : 1); k++) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
		hints.ai_family = wildcard ? families[k] : AF_UNSPEC;
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(wildcard ? NULL : host, port, &hints, &res);
		if (rc != 0) {
			say(err, errlen, listen, gai_strerror(rc));
			continue;
		}
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
			int fd = listen_on(ai, wildcard && ai->ai_family == AF_INET6);
			if (fd >= 0) {
				freeaddrinfo(res);
				return fd;
			}
			e = errno;
		}
		freeaddrinfo(res);
		say(err, errlen, listen, strerror(e));
		if (e == EADDRINUSE || e == EACCES)
			break; /* IPv4 alone would fail the same way */
	}
	return -1;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
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

static void server_free(struct http_server *s)
{
	for (size_t i = 0; s->conns != NULL && i < s->nconns; i++)
		if (s->conns[i].state != CONN_FREE)
			conn_close(s, &s->conns[i]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake_rd >= 0)
		close(s->wake_rd);
	if (s->wake_wr >= 0)
		close(s->wake_wr);
	strbuf_free(&s->refusal);
	free(s->conns);
	free(s->pfds);
	free(s->pfd_conn);
	free(s);
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

static int make_wake_pipe(struct http_server *s)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	s->wake_rd = fds[0];
	s->wake_wr = fds[1];
	return set_nonblocking(fds[0]) == 0 && set_nonblocking(fds[1]) == 0 ? 0 : -1;
}

struct http_server *http_server_start(const struct http_server_config *cfg, http_render_fn render, void *arg,
				      char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		say(err, errlen, "http_server_start", strerror(ENOMEM));
		return NULL;
	}
	s->cfg = settle(cfg);
	s->render = render;
	s->arg = arg;
	s->wake_rd = s->wake_wr = -1;
	s->nconns = (size_t)s->cfg.max_connections + REJECT_SLOTS;
	s->conns = calloc(s->nconns, sizeof(*s->conns));
	s->pfds = calloc(s->nconns + 2, sizeof(*s->pfds));
	s->pfd_conn = calloc(s->nconns + 2, sizeof(*s->pfd_conn));
	s->listen_fd = open_listener(s->cfg.listen, err, errlen);
	if (s->listen_fd < 0) {
		server_free(s);
		return NULL;
	}
	int rc = s->conns == NULL || s->pfds == NULL || s->pfd_conn == NULL ? ENOMEM : 0;
	if (rc == 0 && make_wake_pipe(s) != 0)
		rc = errno;
	s->port = bound_port(s->listen_fd);
	if (rc == 0)
		rc = pthread_create(&s->thread, NULL, server_loop, s);
	if (rc != 0) {
		say(err, errlen, s->cfg.listen, strerror(rc));
		server_free(s);
		return NULL;
	}
	return s;
}

int http_server_port(const struct http_server *server)
{
	return server->port;
}

void http_server_stop(struct http_server *server)
{
	if (server == NULL)
		return;
	ssize_t n;
	do
		n = write(server->wake_wr, "x", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(server->thread, NULL);
	server_free(server);
}
