/*
 * http_client.c - the tests' HTTP client (see http_client.h). Reads wait in
 * poll() with a deadline; nothing here can block forever.
 */
#include "http_client.h"

#include "clock.h"
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int client_open(struct client *c, const char *host, int port, int rcvbuf)
{
	memset(c, 0, sizeof(*c));
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	int family = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		len = sizeof(*a);
	}
	c->fd = socket(family, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* A loopback connect completes in the kernel (the server's backlog
	 * takes it before accept), so it does not wait for the server. */
	if (connect(c->fd, (struct sockaddr *)&ss, len) != 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

void client_open_or_fail(struct client *c, int port)
{
	if (client_open(c, "127.0.0.1", port, 0) != 0)
		fail_msg("cannot connect to 127.0.0.1:%d: %s (is the server listening?)", port, strerror(errno));
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void client_send_bytes(struct client *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			fail_msg("the client could not send: %s (did the server close the connection early?)",
				 strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

void client_send(struct client *c, const char *text)
{
	client_send_bytes(c, text, strlen(text));
}

/* One wait and one recv. >0: bytes; 0: EOF or reset; -1: timeout; -2: buffer full. */
static int fill(struct client *c, const struct timespec *deadline)
{
	if (c->len == sizeof(c->buf))
		return -2;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int r = poll(&p, 1, (int)deadline_ms_left(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		c->len += (size_t)n;
		return (int)n;
	}
}

static void take(struct client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Content-Length from a head, or 0. */
static size_t content_length(const char *head)
{
	const char *p = strstr(head, "\r\nContent-Length: ");
	return p != NULL ? (size_t)strtoull(p + 18, NULL, 10) : 0;
}

int client_response(struct client *c, struct reply *r, int no_body, long ms)
{
	memset(r, 0, sizeof(*r));
	struct timespec deadline = deadline_after_ms(ms);
	char *end = NULL;
	for (;;) {
		c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) != NULL)
			break;
		int n = fill(c, &deadline);
		if (n <= 0)
			return n == 0 && c->len == 0 ? 0 : -1;
	}
	size_t hlen = (size_t)(end - c->buf) + 4;
	if (hlen >= sizeof(r->head) || sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	take(c, hlen);
	r->body_len = no_body ? 0 : content_length(r->head);
	r->body = malloc(r->body_len + 1);
	if (r->body == NULL)
		return -1;
	size_t got = 0;
	while (got < r->body_len) {
		if (c->len == 0 && fill(c, &deadline) <= 0)
			return -1;
		size_t n = c->len < r->body_len - got ? c->len : r->body_len - got;
		memcpy(r->body + got, c->buf, n);
		take(c, n);
		got += n;
	}
	r->body[r->body_len] = '\0';
	return 1;
}

void client_response_or_fail(struct client *c, struct reply *r, int no_body, const char *why)
{
	int rc = client_response(c, r, no_body, harness_wait_ms());
	if (rc != 1) {
		reply_free(r);
		fail_msg("%s: %s", rc == 0 ? "the server closed the connection without a response"
					   : "no complete response in time",
			 why);
	}
}

void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

size_t reply_content_length(const struct reply *r)
{
	return content_length(r->head);
}

int reply_has(const struct reply *r, const char *line)
{
	char want[256];
	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	return strstr(r->head, want) != NULL;
}

/* client_read and client_skip: dst NULL drops the bytes. */
static size_t read_or_skip(struct client *c, char *dst, size_t want, long ms)
{
	struct timespec deadline = deadline_after_ms(ms);
	size_t got = 0;
	for (;;) {
		size_t n = c->len < want - got ? c->len : want - got;
		if (dst != NULL)
			memcpy(dst + got, c->buf, n);
		take(c, n);
		got += n;
		if (got == want || fill(c, &deadline) <= 0)
			return got;
	}
}

size_t client_read(struct client *c, char *dst, size_t want, long ms)
{
	return read_or_skip(c, dst, want, ms);
}

size_t client_skip(struct client *c, size_t want, long ms)
{
	return read_or_skip(c, NULL, want, ms);
}

int client_wait_eof(struct client *c, long ms)
{
	if (c->len > 0)
		return -1;
	struct timespec deadline = deadline_after_ms(ms);
	int n = fill(c, &deadline);
	return n == 0 ? 1 : n == -1 ? 0 : -1;
}

int client_ended_with_fin(struct client *c, long ms)
{
	if (c->len > 0)
		return -1;
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	char byte;
	if (poll(&p, 1, (int)ms) != 1)
		return -1;
	ssize_t n = recv(c->fd, &byte, 1, 0);
	return n == 0 ? 1 : n < 0 && errno == ECONNRESET ? 0 : -1;
}
