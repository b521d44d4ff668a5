/*
 * http_client.h - a small client for the tests of the servers (the socket
 * server's, the HTTP server's, the hardening suite's): real sockets, and
 * every wait bounded by a deadline, so a server that never answers fails a
 * test instead of hanging it. The responses it parses are HTTP's.
 */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H

#include <stddef.h>

#define CLIENT_BUF 65536

struct client {
	int fd;
	char buf[CLIENT_BUF]; /* received, not yet taken as a response */
	size_t len;
};

struct reply {
	int status;
	char head[8192]; /* status line and headers, NUL-terminated */
	char *body;	 /* malloc'd, NUL-terminated; reply_free */
	size_t body_len;
};

/* Connects to host ("127.0.0.1", "::1") on port; -1 with errno on failure.
 * rcvbuf > 0 makes the receive buffer that small (before connecting). */
int client_open(struct client *c, const char *host, int port, int rcvbuf);
/* client_open on 127.0.0.1, failing the test if it cannot connect. */
void client_open_or_fail(struct client *c, int port);
void client_close(struct client *c);

/* Sends all of text (fails the test on error). */
void client_send(struct client *c, const char *text);
void client_send_bytes(struct client *c, const char *p, size_t n);

/*
 * Reads one response (head; then Content-Length bytes of body unless
 * no_body, as for HEAD) within ms. Returns 1 with *r filled, 0 if the
 * connection ended before a response, -1 on timeout or a garbled response.
 */
int client_response(struct client *c, struct reply *r, int no_body, long ms);
/* client_response, failing the test with why if there is no response. */
void client_response_or_fail(struct client *c, struct reply *r, int no_body, const char *why);
void reply_free(struct reply *r);
/* The Content-Length of a reply's head, or 0. */
size_t reply_content_length(const struct reply *r);
/* 1 if the head contains the line "name: value" exactly. */
int reply_has(const struct reply *r, const char *line);

/* Reads up to want bytes into dst (those already buffered first) within
 * ms; returns how many came: fewer after EOF, a reset or the deadline. */
size_t client_read(struct client *c, char *dst, size_t want, long ms);

/* Reads and drops up to want bytes (those already buffered count) within
 * ms; returns how many came: fewer after EOF, a reset or the deadline. */
size_t client_skip(struct client *c, size_t want, long ms);

/* 1 if the server closes the connection (EOF or reset) within ms with
 * nothing more sent; 0 on timeout; -1 if bytes arrived instead. */
int client_wait_eof(struct client *c, long ms);

/* How the server ended the connection, once c has read all it was sent:
 * 1 with a FIN (recv returns 0), 0 with a reset, -1 if more bytes came
 * or nothing did within ms. */
int client_ended_with_fin(struct client *c, long ms);

#endif
