/*
 * server.c - lesson 07: one thread, one poll() loop, many connections.
 * The contract is in src/server.h.
 *
 * Every socket is non-blocking, so no accept(), recv() or send() ever
 * waits: the only place the thread waits is poll(), for whichever comes
 * first of a socket becoming ready, a connection's deadline, the end of an
 * accept pause, or a byte on the wake pipe (server_stop). A slot is free,
 * open (its handler decides what happens on it), or lingering (finished
 * or refused: our side is shut down, and what the client still sends is
 * read and dropped until it closes or SERVER_LINGER_MS pass).
 */
#include "clock.h"
#include "notimpl.h"
#include "server.h"

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

#define REFUSE_SLOTS		8	  /* refused connections lingering at once */
#define ACCEPT_BATCH		32	  /* accepts per loop turn, so connections are served too */
#define DRAIN_MAX		65536	  /* bytes dropped per turn from one lingering client */
#define FIRST_DEADLINE_MS	86400000L /* until open sets one: a day */
#define DEFAULT_MAX_CONNECTIONS 64

enum slot_state { SLOT_FREE, SLOT_OPEN, SLOT_LINGER };

struct slot {
	struct server_conn conn;
	enum slot_state state;
	int refused; /* counted in refusing, not in active */
};

/* Everything but wake_wr belongs to the server thread once it runs;
 * server_stop touches the rest only after joining it. */
struct server {
	struct server_handler h;
	int max_connections;
	int listen_fd;
	int wake_rd, wake_wr; /* the self-pipe: a byte here stops the loop */
	int port;
	struct slot *slots; /* max_connections + REFUSE_SLOTS of them */
	size_t nslots;
	int active;   /* open and lingering (finished) ones: at most max_connections */
	int refusing; /* refused connections lingering: at most REFUSE_SLOTS */
	int stopping; /* the wake byte came: finish the writers, then leave */
	int accept_paused;
	struct timespec accept_resume;
	struct pollfd *pfds; /* the wake pipe, the listener, then the slots */
	size_t *pfd_slot;    /* pfds[i] watches slots[pfd_slot[i]] for i >= 2 */
	pthread_t thread;
};

/* ---- given: small helpers for the loop --------------------------------------- */

/* (Marked EXERCISE_HELPER: in the stub nothing calls them yet.) */

/* A free slot, or NULL. */
EXERCISE_HELPER static struct slot *free_slot(struct server *s)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].state == SLOT_FREE)
			return &s->slots[i];
	return NULL;
}

/* 1 if a comes before b. */
EXERCISE_HELPER static int earlier(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The poll timeout that wakes us for the deadline d (or sooner): timeout
 * is the one so far (-1: none yet); at most a minute. */
EXERCISE_HELPER static int until(const struct timespec *d, int timeout)
{
	long ms = deadline_passed(d) ? 0 : deadline_ms_left(d) + 1;
	if (ms > 60000)
		ms = 60000;
	return timeout < 0 || ms < timeout ? (int)ms : timeout;
}

/* ---- the exercise ------------------------------------------------------------ */

/* Makes fd non-blocking, keeping its other flags. 0, or -1 with errno.
 * (Marked: until the functions below call it, nothing does.) */
EXERCISE_HELPER static int set_nonblocking(int fd)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)fd;
	NOT_IMPLEMENTED("set_nonblocking", "lessons/07-server/README.md#listening");
	errno = ENOSYS;
	return -1;
}

static void say(char *err, size_t errlen, const char *addr, const char *why);
static int split_listen(const char *addr, char *host, size_t hostlen, char *port, size_t portlen);

/*
 * Binds and listens on "host:port", "[v6]:port" or ":port" (every
 * interface: IPv6 with IPV6_V6ONLY off, which takes IPv4 too, and IPv4
 * alone where the machine has no IPv6). A non-blocking listening socket,
 * or -1 with a one-line reason in err.
 */
static int open_listener(const char *addr, char *err, size_t errlen)
{
	char host[256], port[8];
	if (split_listen(addr, host, sizeof(host), port, sizeof(port)) != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "bad listen address '%s'", addr);
		return -1;
	}
	/* TODO: replace this stub with your code (the lesson section is named below). */
	NOT_IMPLEMENTED("open_listener", "lessons/07-server/README.md#listening");
	say(err, errlen, addr, "not implemented");
	return -1;
}

/* The self-pipe: s->wake_rd and s->wake_wr, both non-blocking. 0, or -1
 * with errno. */
static int make_wake_pipe(struct server *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	NOT_IMPLEMENTED("make_wake_pipe", "lessons/07-server/README.md#stopping");
	errno = ENOSYS;
	return -1;
}

/* Called by server_stop, on another thread: makes the loop leave. */
static void wake_loop(struct server *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	NOT_IMPLEMENTED("wake_loop", "lessons/07-server/README.md#stopping");
}

/* ---- the loop's helpers: their contracts are given, their bodies yours ------- */

/* (Marked EXERCISE_HELPER: until server_loop calls them, nothing does.) All
 * run on the server thread, which alone touches the slots and the counts:
 * no lock is held or needed. */

/*
 * Reads and drops what the client of fd has sent, at most DRAIN_MAX bytes
 * a call, without blocking (fd is non-blocking). 1 once the client has
 * closed or the connection failed, 0 when nothing more is there yet. Why:
 * a close with unread bytes sends a reset, and a reset can destroy a
 * response before the client has read it.
 */
EXERCISE_HELPER static int drain(int fd)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)fd;
	NOT_IMPLEMENTED("drain", "lessons/07-server/README.md#finishing-a-connection");
	return 1;
}

/*
 * The one place a connection's descriptor is closed: sl, open or
 * lingering, is given up. Afterwards its descriptor is closed, the slot
 * is free (fd -1) and in neither count, and the handler has had its close
 * if sl was open: once per open it saw, never for a connection it did
 * not open.
 */
EXERCISE_HELPER static void slot_close(struct server *s, struct slot *sl)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)sl;
	NOT_IMPLEMENTED("slot_close", "lessons/07-server/README.md#the-loop");
}

/*
 * Finished or refused: sl (open, or a refusal already counted in
 * refusing) lingers. Afterwards its client reads end of file after our
 * last byte, the handler's part is over (it has had its close if sl was
 * open), and the slot, still in its count, waits for its client to close,
 * SERVER_LINGER_MS at most, without making the loop spin meanwhile. A
 * connection that cannot be shut down is closed at once.
 */
EXERCISE_HELPER static void slot_linger(struct server *s, struct slot *sl)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)sl;
	NOT_IMPLEMENTED("slot_linger", "lessons/07-server/README.md#finishing-a-connection");
}

/*
 * Carries out the handler's verdict v on the open slot sl: SERVER_CLOSE
 * closes it, SERVER_FINISH makes it linger, SERVER_KEEP leaves it as the
 * handler set it.
 */
EXERCISE_HELPER static void apply(struct server *s, struct slot *sl, enum server_verdict v)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)sl;
	(void)v;
	NOT_IMPLEMENTED("apply", "lessons/07-server/README.md#finishing-a-connection");
}

/*
 * At the cap: closes the open connection not polled for POLLOUT whose
 * waiting_since is oldest, if there is one; otherwise changes nothing.
 * One that waits to write is being answered, and one that lingers may
 * still have its answer in flight: closing either could cut it.
 */
EXERCISE_HELPER static void evict_longest_waiting(struct server *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	NOT_IMPLEMENTED("evict_longest_waiting", "lessons/07-server/README.md#the-connection-cap");
}

/*
 * Nobody to evict: fd, a newcomer that is non-blocking and in no slot nor
 * count, is refused, and given up. Its client reads the handler's refusal
 * (if it has one), then end of file, never a reset, also when it sent
 * before it was accepted; the loop never waits for it; and at most
 * REFUSE_SLOTS refusals linger at once, counted in refusing, not under
 * the cap.
 */
EXERCISE_HELPER static void refuse(struct server *s, int fd)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)fd;
	NOT_IMPLEMENTED("refuse", "lessons/07-server/README.md#the-connection-cap");
}

/*
 * fd has just been accepted, and is given up here. Afterwards it is either
 * open in a slot, non-blocking, counted in active, and opened by the
 * handler as server.h says (events POLLIN, a deadline a day away, waiting
 * since now), with the cap kept by evicting the connection that has
 * waited longest; or refused, when nobody can be evicted; or closed, if
 * anything failed (the handler's close is never called for an open that
 * failed).
 */
EXERCISE_HELPER static void conn_open(struct server *s, int fd)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)fd;
	NOT_IMPLEMENTED("conn_open", "lessons/07-server/README.md#accepting");
}

/*
 * Takes the connections waiting in the backlog, each through conn_open,
 * without ever waiting, and at most ACCEPT_BATCH a call so that those
 * already open are served too. No error of accept ends the loop, and
 * none may make it spin: a client that accept failed to take stays in
 * the backlog, and the listener readable (SERVER_ACCEPT_PAUSE_MS).
 */
EXERCISE_HELPER static void accept_some(struct server *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	NOT_IMPLEMENTED("accept_some", "lessons/07-server/README.md#accepting");
}

/*
 * Fills s->pfds for this turn, laid out as struct server says, and
 * returns how many entries it used. The set holds everything the loop
 * waits for, and nothing that is ready with no work to do; *timeout is
 * poll's (-1: nothing is due), and wakes the loop by the time the next
 * thing is due.
 */
EXERCISE_HELPER static nfds_t build_poll_set(struct server *s, int *timeout)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	*timeout = -1;
	NOT_IMPLEMENTED("build_poll_set", "lessons/07-server/README.md#the-loop");
	return 0;
}

/*
 * poll reported revents for the used slot sl: an open one hears of it
 * through the handler's ready, whose verdict is carried out; a lingering
 * one is drained, and closed once its client has closed too.
 */
EXERCISE_HELPER static void slot_ready(struct server *s, struct slot *sl, short revents)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	(void)sl;
	(void)revents;
	NOT_IMPLEMENTED("slot_ready", "lessons/07-server/README.md#the-loop");
}

/*
 * Every used slot whose deadline has passed: an open one hears of it
 * through the handler's expired, whose verdict is carried out; a lingering
 * one is closed.
 */
EXERCISE_HELPER static void expire_deadlines(struct server *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	NOT_IMPLEMENTED("expire_deadlines", "lessons/07-server/README.md#the-loop");
}

/*
 * Stopping, called at every turn once the wake byte came. Afterwards no
 * new connection can come, and every connection that waits for its
 * client or lingers, finished or refused, is closed, and its client reads
 * end of file, never a reset; one being written to goes on, so that its
 * reply arrives whole.
 */
EXERCISE_HELPER static void stop_step(struct server *s)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)s;
	NOT_IMPLEMENTED("stop_step", "lessons/07-server/README.md#stopping");
}

/* The server's thread: until stopped and every connection is closed. */
static void *server_loop(void *arg)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)arg;
	NOT_IMPLEMENTED("server_loop", "lessons/07-server/README.md#the-loop");
	return NULL;
}

/* ---- given: addresses, errors, setting up and freeing ------------------------- */

/*
 * "host:port", "[v6]:port" or ":port" into host (empty: every interface)
 * and port. -1 if it is none of these.
 */
static int split_listen(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	size_t hlen;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':' || close == addr + 1)
			return -1;
		hlen = (size_t)(close - addr - 1);
		addr++;
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return -1; /* an IPv6 address needs its brackets */
		hlen = (size_t)(colon - addr);
	}
	size_t plen = strlen(colon + 1);
	if (hlen >= hostlen || plen == 0 || plen >= portlen || plen > 5)
		return -1;
	for (size_t i = 0; i < plen; i++)
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return -1;
	if (atoi(colon + 1) > 65535)
		return -1;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	memcpy(port, colon + 1, plen + 1);
	return 0;
}

/* "addr: why", with why's first letter in lower case ("address
 * already in use"). */
static void say(char *err, size_t errlen, const char *addr, const char *why)
{
	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "%s: %s", addr, why);
	char *reason = err + strlen(addr) + 2;
	if (reason < err + errlen && *reason >= 'A' && *reason <= 'Z')
		*reason = (char)(*reason - 'A' + 'a');
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

/* After the loop has left (every connection closed), or before it ran. */
static void server_free(struct server *s)
{
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake_rd >= 0)
		close(s->wake_rd);
	if (s->wake_wr >= 0)
		close(s->wake_wr);
	free(s->slots);
	free(s->pfds);
	free(s->pfd_slot);
	free(s);
}

static struct server *server_alloc(const struct server_config *cfg, const struct server_handler *handler)
{
	struct server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->h = *handler;
	s->max_connections = cfg->max_connections > 0 ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
	s->listen_fd = s->wake_rd = s->wake_wr = -1;
	s->nslots = (size_t)s->max_connections + REFUSE_SLOTS;
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	s->pfds = calloc(s->nslots + 2, sizeof(*s->pfds));
	s->pfd_slot = calloc(s->nslots + 2, sizeof(*s->pfd_slot));
	if (s->slots == NULL || s->pfds == NULL || s->pfd_slot == NULL) {
		server_free(s);
		return NULL;
	}
	return s;
}

struct server *server_start(const struct server_config *cfg, const struct server_handler *handler, char *err,
			    size_t errlen)
{
	const char *addr = cfg->listen != NULL ? cfg->listen : "(none)";
	struct server *s = server_alloc(cfg, handler);
	if (s == NULL) {
		say(err, errlen, addr, strerror(ENOMEM));
		return NULL;
	}
	s->listen_fd = open_listener(addr, err, errlen);
	if (s->listen_fd < 0) {
		server_free(s);
		return NULL;
	}
	s->port = bound_port(s->listen_fd);
	int rc = make_wake_pipe(s) == 0 ? 0 : errno;
	if (rc == 0)
		rc = pthread_create(&s->thread, NULL, server_loop, s);
	if (rc != 0) {
		say(err, errlen, addr, strerror(rc));
		server_free(s);
		return NULL;
	}
	return s;
}

int server_port(const struct server *s)
{
	return s->port;
}

void server_stop(struct server *s)
{
	if (s == NULL)
		return;
	wake_loop(s);
	pthread_join(s->thread, NULL);
	server_free(s);
}
