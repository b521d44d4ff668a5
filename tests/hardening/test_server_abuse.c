/*
 * Hardening: the /metrics server (lesson 08) under abuse. Not part of any
 * lesson's grade: `make check` runs this suite against the reference.
 *
 * Each test starts a real server on an ephemeral loopback port, attacks
 * it, then proves what must still hold: a normal scrape gets its 200, a
 * response being written arrives whole, and no descriptor leaked (the
 * process's open descriptors, counted in /proc/self/fd, return to what
 * they were before the server started).
 */
#include "harness.h"
#include "http.h"
#include "process.h"
#include "http_client.h"

#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DOC "docs/hardening.md"
#define REQUEST "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n"
#define BODY "logpipe_up 1\n"

/* 8 MiB: more than the socket buffers hold, so the server is mid-write
 * for as long as its client does not read. */
#define BIG_BODY (8u << 20)

/* BODY, or BIG_BODY bytes when arg is non-NULL. */
static char *render(void *arg, size_t *len)
{
	size_t n = arg != NULL ? BIG_BODY : strlen(BODY);
	char *s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	if (arg != NULL)
		memset(s, 'x', n);
	else
		memcpy(s, BODY, n);
	s[n] = '\0';
	*len = n;
	return s;
}

static int big = 1; /* pass &big to start() for BIG_BODY responses */

static struct http_server *server;
static int port;
static int fds_before;

static void start(int max_connections, long head_timeout_ms, void *render_arg)
{
	fds_before = process_count_open_fds();
	struct http_server_config cfg = http_server_config_default();
	cfg.listen = "127.0.0.1:0";
	if (max_connections > 0)
		cfg.max_connections = max_connections;
	if (head_timeout_ms > 0)
		cfg.head_timeout_ms = head_timeout_ms;
	char err[256] = "";
	server = http_server_start(&cfg, render, render_arg, err, sizeof(err));
	if (server == NULL)
		fail_msg("http_server_start: %s", err);
	port = http_server_port(server);
}

/* Stops the server and checks that every descriptor it had is closed. */
static void stop_and_count_fds(void)
{
	http_server_stop(server);
	server = NULL;
	int after = process_count_open_fds();
	if (after != fds_before)
		fail_msg("%d descriptors open before the server started, %d after it stopped: a leak", fds_before,
			 after);
}

/* A normal scrape on a fresh connection: 200 and the body, within the
 * harness's wait. Returns the milliseconds it took. */
static long scrape_or_fail(const char *after_what)
{
	struct timespec t0 = clock_now();
	struct client *c = malloc(sizeof(*c));
	if (c == NULL)
		fail_msg("out of memory");
	if (client_open(c, "127.0.0.1", port, 0) != 0)
		fail_msg("after %s, a scrape could not even connect: %s", after_what, strerror(errno));
	client_send(c, REQUEST);
	struct reply r;
	int rc = client_response(c, &r, 0, harness_wait_ms());
	if (rc == 0)
		fail_msg("after %s, a normal scrape was closed without a response", after_what);
	if (rc != 1)
		fail_msg("after %s, a normal scrape got no complete response within %ld ms", after_what,
			 harness_wait_ms());
	if (r.status != 200 || strcmp(r.body, BODY) != 0)
		fail_msg("after %s, a normal scrape got status %d (want 200 and the body)", after_what, r.status);
	reply_free(&r);
	client_close(c);
	free(c);
	return (long)(clock_seconds_since(&t0) * 1000);
}

/* A plain blocking loopback connection, or -1. */
static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_some(int fd, const char *p, size_t n)
{
	/* MSG_NOSIGNAL: a server that closed on us is an answer, not a death. */
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Raises the soft descriptor limit to at least n (if the hard one allows). */
static void need_fds(rlim_t n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		fail_msg("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= n)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n)
		skip(); /* cannot open that many here; say so rather than fail */
	rl.rlim_cur = n;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		fail_msg("setrlimit: %s", strerror(errno));
}

/* ---- slowloris ------------------------------------------------------------ */

#define SLOW_CLIENTS 200

/*
 * 200 clients each send half a request head and then a byte more, never
 * finishing, past the server's connection cap (64). A normal scrape that
 * arrives at once must be served on its first try: at the cap, a new
 * connection makes room by closing the one that has waited longest for a
 * complete head, without waiting for it to have waited some minimum. The
 * time it took is printed; the deadline is the harness's, so a slow run
 * under a sanitizer does not fail for being slow.
 */
static void test_a_scrape_under_slowloris_is_served_at_once(void **state)
{
	(void)state;
	need_fds(2048);
	start(0, 0, NULL); /* the defaults: 64 connections, 10 s for a head */
	static int fds[SLOW_CLIENTS];
	int opened = 0;
	for (int i = 0; i < SLOW_CLIENTS; i++) {
		fds[i] = dial();
		if (fds[i] >= 0) {
			send_some(fds[i], "GET /metrics HTTP/1.1\r\nHo", 25);
			opened++;
		}
	}
	for (int i = 0; i < SLOW_CLIENTS; i++)
		if (fds[i] >= 0)
			send_some(fds[i], "s", 1);
	harness_on_hang("a scrape during a slowloris attack was not answered: is the connection cap "
			"held by clients that never finish their request?");
	long ms = scrape_or_fail("200 slow clients had just connected (is there a grace period before an "
				 "eviction?)");
	print_message("# %d slow clients connected; a scrape at once took %ld ms\n", opened, ms);
	for (int i = 0; i < SLOW_CLIENTS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	stop_and_count_fds();
}

/* ---- a thousand at once ----------------------------------------------------- */

#define MANY 1000

/*
 * A thousand clients connect at once and each sends a whole request. Each
 * must end one of the clean ways: a 200, a 503 (past the cap), or a close
 * (no room even for a 503); none may hang, and the server must still
 * serve afterwards.
 */
static void test_a_thousand_connections_are_served_or_refused_cleanly(void **state)
{
	(void)state;
	need_fds(4096);
	start(0, 0, NULL);
	static struct pollfd p[MANY];
	static char first[MANY][16];
	static size_t got[MANY];
	int n = 0, refused_at_connect = 0;
	for (int i = 0; i < MANY; i++) {
		int fd = dial();
		if (fd < 0) {
			refused_at_connect++;
			continue;
		}
		send_some(fd, REQUEST, strlen(REQUEST));
		p[n] = (struct pollfd){.fd = fd, .events = POLLIN};
		got[n++] = 0;
	}
	int ok = 0, busy = 0, closed = 0, open = n;
	struct timespec deadline = deadline_after_ms(harness_wait_ms());
	harness_on_hang("a thousand clients at once: some were neither answered nor closed");
	while (open > 0 && !deadline_passed(&deadline)) {
		if (poll(p, (nfds_t)n, 100) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			char buf[4096];
			ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);
			if (r > 0) {
				size_t take = got[i] < sizeof(first[i]) - 1 ? sizeof(first[i]) - 1 - got[i] : 0;
				memcpy(first[i] + got[i], buf, take < (size_t)r ? take : (size_t)r);
				got[i] += (size_t)r;
				if (strncmp(first[i], "HTTP/1.1 200", 12) != 0 || strstr(buf, BODY) == NULL)
					continue; /* 200: wait for the body; 503: wait for the close */
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (got[i] >= 12 && strncmp(first[i], "HTTP/1.1 200", 12) == 0)
				ok++;
			else if (got[i] >= 12 && strncmp(first[i], "HTTP/1.1 503", 12) == 0)
				busy++;
			else if (got[i] == 0)
				closed++;
			else
				fail_msg("a client got neither a 200, a 503 nor a clean close: \"%.12s\"", first[i]);
			close(p[i].fd);
			p[i].fd = -1;
			open--;
		}
	}
	if (open > 0)
		fail_msg("%d of %d clients were still waiting after %ld ms: neither answered nor closed", open, n,
			 harness_wait_ms());
	if (ok == 0)
		fail_msg("of %d clients, none got a 200", n);
	print_message("# %d connected (%d refused at connect): %d got 200, %d got 503, %d were closed\n", n,
		      refused_at_connect, ok, busy, closed);
	scrape_or_fail("a thousand clients at once");
	stop_and_count_fds();
}

/* ---- refusals and stopping, while responses are being written ---------- */

/* A client asking for BIG_BODY through a small receive buffer, and
 * reading only the head: the server is left mid-write. */
static void open_stalled_download(struct client *c)
{
	if (client_open(c, "127.0.0.1", port, 4096) != 0)
		fail_msg("connect: %s", strerror(errno));
	client_send(c, REQUEST);
	struct reply r;
	if (client_response(c, &r, 1, harness_wait_ms()) != 1 || r.status != 200)
		fail_msg("a large download got no 200 head");
	reply_free(&r);
}

/* Reads what is left of a BIG_BODY download; fails unless all of it
 * arrives before the end of the connection. */
static void finish_download(struct client *c, const char *after_what)
{
	/* The server is known to be mid-write; a larger buffer from here on
	 * only makes the rest arrive in fewer, larger reads. */
	int rcvbuf = 1 << 20;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	size_t got = client_skip(c, BIG_BODY, harness_wait_ms());
	if (got != BIG_BODY)
		fail_msg("after %s, a response being written was cut: %zu of %u body bytes arrived",
			 after_what, got, BIG_BODY);
}

#define REFUSED 20 /* more than the server's slots for lingering refusals (8) */

/*
 * The only slot (a cap of 1) holds a connection in the middle of a
 * response, which no newcomer may evict. Each of 20 newcomers, held open
 * together, must be told 503 with Retry-After, and not closed without a
 * word; then the response must still arrive whole.
 */
static void test_a_connection_that_cannot_be_served_is_told_503(void **state)
{
	(void)state;
	start(1, 0, &big);
	static struct client busy, refused[REFUSED];
	open_stalled_download(&busy);
	harness_on_hang("a connection past the cap was neither answered 503 nor closed");
	for (int i = 0; i < REFUSED; i++) {
		client_open_or_fail(&refused[i], port);
		client_send(&refused[i], REQUEST);
		struct reply r;
		if (client_response(&refused[i], &r, 0, harness_wait_ms()) != 1)
			fail_msg("newcomer %d of %d, with the only slot answering, got no response (want 503)",
				 i + 1, REFUSED);
		int status = r.status, retry = reply_has(&r, "Retry-After: 1");
		reply_free(&r);
		if (status != 503 || !retry)
			fail_msg("newcomer %d got %d%s; want 503 with \"Retry-After: 1\"", i + 1, status,
				 retry ? "" : " without Retry-After");
		if (client_wait_eof(&refused[i], harness_wait_ms()) != 1)
			fail_msg("newcomer %d's connection stayed open after its 503", i + 1);
	}
	finish_download(&busy, "20 newcomers were refused");
	for (int i = 0; i < REFUSED; i++)
		client_close(&refused[i]);
	client_close(&busy);
	stop_and_count_fds();
}

static void *stop_server(void *server_to_stop)
{
	http_server_stop(server_to_stop);
	return NULL;
}

/* 1 once a connect to the server's port is refused: it stopped listening. */
static int listener_closed(void *arg)
{
	(void)arg;
	int fd = dial();
	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

/*
 * A client is mid-way through an 8 MiB response when the server is told
 * to stop. The stop must not cut it: the server stops listening at once,
 * and the response goes on until it is all sent (or its write deadline
 * passes), and only then does http_server_stop return.
 */
static void test_a_response_in_flight_at_stop_arrives_complete(void **state)
{
	(void)state;
	start(0, 0, &big);
	static struct client c;
	open_stalled_download(&c);
	struct harness_thread t;
	harness_on_hang("http_server_stop did not return after the response in flight was sent");
	harness_thread_start(&t, stop_server, server);
	if (!harness_wait_until(listener_closed, NULL))
		fail_msg("http_server_stop was called and the server still accepts connections");
	finish_download(&c, "http_server_stop");
	if (client_wait_eof(&c, harness_wait_ms()) != 1)
		fail_msg("the connection stayed open after its response, with the server stopping");
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("http_server_stop did not return once the response in flight was sent");
	client_close(&c);
	server = NULL;
	int after = process_count_open_fds();
	if (after != fds_before)
		fail_msg("%d descriptors open before the server started, %d after it stopped: a leak", fds_before,
			 after);
}

/* ---- garbage, oversized heads, hang-ups -------------------------------------- */

static void test_garbage_oversized_heads_and_hangups_leave_it_serving(void **state)
{
	(void)state;
	start(0, 0, NULL);
	unsigned long long x = 0x9E3779B97F4A7C15ull; /* a fixed seed: the same bytes every run */
	char junk[2048];
	for (int i = 0; i < 50; i++) {
		for (size_t k = 0; k < sizeof(junk); k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			junk[k] = (char)(x >> 56);
		}
		int fd = dial();
		if (fd < 0)
			fail_msg("connect: %s", strerror(errno));
		send_some(fd, junk, sizeof(junk));
		close(fd);
	}
	/* An oversized head: answered 431, not read forever. */
	struct client *c = malloc(sizeof(*c));
	if (c == NULL || client_open(c, "127.0.0.1", port, 0) != 0)
		fail_msg("connect: %s", strerror(errno));
	static char big[20000];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX-Big: ", 30);
	client_send_bytes(c, big, strlen(big));
	struct reply r;
	if (client_response(c, &r, 0, harness_wait_ms()) != 1 || r.status != 431)
		fail_msg("a 20 000-byte head should be answered 431");
	reply_free(&r);
	client_close(c);
	free(c);
	/* Fifty clients ask and hang up before the answer is read. */
	for (int i = 0; i < 50; i++) {
		int fd = dial();
		if (fd < 0)
			fail_msg("connect: %s", strerror(errno));
		send_some(fd, REQUEST REQUEST REQUEST, 3 * strlen(REQUEST));
		close(fd);
	}
	scrape_or_fail("garbage, a 20 000-byte head and 50 hang-ups");
	stop_and_count_fds();
}

int main(int argc, char **argv)
{
	const struct harness_test tests[] = {
	    HTEST(test_a_scrape_under_slowloris_is_served_at_once, DOC "#the-server"),
	    HTEST(test_a_thousand_connections_are_served_or_refused_cleanly, DOC "#the-server"),
	    HTEST(test_a_connection_that_cannot_be_served_is_told_503, DOC "#the-server"),
	    HTEST(test_a_response_in_flight_at_stop_arrives_complete, DOC "#the-server"),
	    HTEST(test_garbage_oversized_heads_and_hangups_leave_it_serving, DOC "#the-server"),
	};
	return harness_main(argc, argv, "hardening-server", tests, HARNESS_COUNT(tests));
}
