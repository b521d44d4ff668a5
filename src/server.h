/*
 * server.h - lesson 07: a TCP server on one thread, one poll() loop.
 *
 * The server owns the sockets: it listens, accepts, watches every
 * connection with poll(), keeps the number of connections under a cap, and
 * stops when asked. What is said on a connection is not its business: a
 * handler (lesson 08's HTTP, or the echo of the step program) is called
 * when a connection opens, when its socket is ready, when its deadline
 * passes, and when it closes. Every socket is non-blocking, and the only
 * place the thread waits is poll(), so no connection can hold up another.
 *
 * At the cap (max_connections, which counts open and lingering
 * connections), a new connection evicts the open one that has waited
 * longest for its client (events not POLLOUT, oldest waiting_since). One that
 * waits to write, or lingers after SERVER_FINISH, is never evicted: its
 * reply is still on its way. With nobody to evict, the newcomer is sent
 * handler->refusal, and closed like a finished connection; a lingering
 * connection holds its place for SERVER_LINGER_MS at most. Errors from
 * accept never end the loop; out of descriptors (EMFILE, ENFILE),
 * accepting pauses for SERVER_ACCEPT_PAUSE_MS.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>
#include <time.h>

#define SERVER_ACCEPT_PAUSE_MS 100  /* how long accepting pauses when out of descriptors */
#define SERVER_LINGER_MS       1000 /* how long a finished connection may still send to us */

/* snippet: conn */
/*
 * One connection, as a handler sees it. The server allocates it at accept
 * and frees it after the handler's close; the handler may write every
 * field but fd, and owns what data points to.
 */
struct server_conn {
	int fd;			       /* non-blocking; the server's to close */
	short events;		       /* what the handler waits for: POLLIN, POLLOUT, 0 (the deadline) */
	struct timespec deadline;      /* when to call expired (clock.h's clock) */
	struct timespec waiting_since; /* set at accept; the handler restarts it */
	void *data;		       /* the handler's state for this connection */
};

/* What a handler asks the server to do with a connection. */
enum server_verdict {
	SERVER_KEEP,   /* go on polling for events, until deadline */
	SERVER_CLOSE,  /* close it now (the client is gone, or too slow) */
	SERVER_FINISH, /* all is sent: shut down our side, read and drop what the
			  client still sends until it closes or for SERVER_LINGER_MS,
			  then close (a close with unread bytes would be a reset) */
};
/* end snippet */

/* snippet: handler */
/*
 * The callbacks, all called on the server's thread, each for one
 * connection. open sets c->data, c->events and c->deadline (the server
 * has set events to POLLIN, the deadline a day away, and waiting_since to
 * now); it returns 0, or -1 to have the connection closed at once (close
 * is not called). ready is called with poll's revents; expired once the
 * deadline has passed. close frees c->data: at the close, or at once after
 * SERVER_FINISH (the linger is the server's); the server closes c->fd.
 */
struct server_handler {
	int (*open)(void *arg, struct server_conn *c);
	enum server_verdict (*ready)(void *arg, struct server_conn *c, short revents);
	enum server_verdict (*expired)(void *arg, struct server_conn *c);
	void (*close)(void *arg, struct server_conn *c);
	void *arg;
	const char *refusal; /* sent at the cap when nobody can be evicted */
	size_t refusal_len;  /* NULL or 0: the newcomer is closed without a word */
};
/* end snippet */

/* snippet: config */
struct server_config {
	const char *listen;  /* "127.0.0.1:8479", "[::1]:8479", ":8479" (every
				interface, IPv6 and IPv4); port 0 picks a free one */
	int max_connections; /* at the cap, the longest waiting is evicted (default 64) */
};

struct server;

/*
 * Binds and listens (SO_REUSEADDR, so a restarted server binds again
 * while old connections sit in TIME_WAIT), and starts the server's thread.
 * The handler is copied. On failure returns NULL and writes a one-line
 * reason to err ("127.0.0.1:8479: address already in use", "bad listen
 * address 'x'").
 */
struct server *server_start(const struct server_config *cfg, const struct server_handler *handler, char *err,
			    size_t errlen);

/* The port the server listens on (useful with port 0). */
int server_port(const struct server *s);

/*
 * Wakes the loop and stops it: the listening socket closes at once, and
 * so does every connection that waits for its client (events POLLIN or 0) or
 * lingers; one that waits to write is kept until the handler no longer
 * asks to write, or its deadline closes it, so a reply half sent arrives
 * whole. Then joins the thread and frees everything. Called once, from
 * any thread but the server's.
 */
void server_stop(struct server *s);
/* end snippet */

#endif
