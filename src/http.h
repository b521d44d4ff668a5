/*
 * http.h - lesson 08: a hand-written HTTP/1.1 server for /metrics.
 *
 * No HTTP library: a request parser, a response writer and a state
 * machine per connection, run by lesson 07's server (server.h): one
 * thread, one poll() loop, every connection; no connection can block
 * another, because every socket is non-blocking and every connection has
 * deadlines. What it answers:
 *   GET or HEAD /metrics  200, Content-Type: text/plain; version=0.0.4;
 *                         charset=utf-8, Content-Length; HEAD has no body.
 *                         A query string is ignored.
 *   GET or HEAD /         200, a small HTML page linking to /metrics.
 *   another path          404.
 *   another known method  405 with "Allow: GET, HEAD" (POST, PUT, DELETE,
 *                         PATCH, OPTIONS, CONNECT, TRACE).
 *   an unknown method     501.
 *   HEAD, of any path     the status and headers GET would get, whatever
 *                         the status (404 and 500 too), and never a body.
 *   HTTP/1.1 without Host 400; a malformed request line or header 400;
 *   a head that does not fit in HTTP_MAX_HEAD bytes 431; a version other than 1.0 and
 *   1.1 505; a head not complete within head_timeout_ms 408.
 * A body (Content-Length) is read and dropped; one longer than
 * HTTP_MAX_HEAD is answered 400, before the method and the path are looked
 * at (a POST with such a body is a 400, not a 405). After an error status
 * the connection is closed. Otherwise HTTP/1.1 keeps the connection open
 * unless the request says "Connection: close", and HTTP/1.0 closes it
 * unless the request says "Connection: keep-alive"; a request that says
 * both ("keep-alive, close") is closed, in either version.
 * A request may arrive in many reads, and several requests in one read
 * (pipelining): responses go out in request order. Prometheus asks for
 * gzip and OpenMetrics; plain 0.0.4 text without compression is a correct
 * answer to that.
 */
#ifndef HTTP_H
#define HTTP_H

#include "strbuf.h"

#include <stddef.h>

#define HTTP_DEFAULT_PORT 8479 /* outside 9100-9999, Prometheus' exporter range, which is full */
#define HTTP_MAX_HEAD 8192     /* request line and headers, with the blank line */
#define HTTP_MAX_PATH 1024

/* ---- parsing and answering one request (tested without sockets) ------- */

/* snippet: request */
struct http_request {
	char method[16];          /* as sent ("GET"); methods are case-sensitive */
	char path[HTTP_MAX_PATH]; /* the target up to '?' or the end */
	int minor;                /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	int has_host;             /* a Host header was present */
	int keep_alive;           /* the connection stays open after the response */
	size_t content_length;    /* a body of this many bytes follows the head */
};

/*
 * Parses the request head at the start of buf[0..len). Lines end in CRLF
 * or a bare LF; empty lines before the request line are skipped and count
 * in the head's length (RFC 9112 section 2.2); header names are
 * case-insensitive; a header line that starts with whitespace (obsolete
 * folding) or has whitespace before its colon is malformed.
 *   > 0  the head is complete and that many bytes long; *req is filled;
 *   0    the head is not complete yet (read more, up to HTTP_MAX_HEAD);
 *   < 0  minus the status to answer with: -400 (malformed; also an
 *        HTTP/1.1 request without Host, a method or path too long for its
 *        field, Transfer-Encoding),
 *        -431 (the head does not fit in HTTP_MAX_HEAD bytes: a complete
 *        head longer than that, or HTTP_MAX_HEAD bytes received and no
 *        end among them; a head of exactly HTTP_MAX_HEAD bytes fits),
 *        or -505.
 */
long http_parse_request(const char *buf, size_t len, struct http_request *req);
/* end snippet */

/* snippet: respond */
/* What the server serves: the body of /metrics, made anew for each
 * request (a new NUL-terminated string the server frees; NULL on error,
 * which is answered with 500). */
typedef char *(*http_render_fn)(void *arg, size_t *len);

/*
 * Appends the whole response to req (status line, headers, body) to out
 * and returns its status. Every response has Content-Length and, when the
 * connection is to be closed, "Connection: close".
 */
int http_respond(const struct http_request *req, http_render_fn render, void *arg, struct strbuf *out);

/* Appends an error response with the given status (400, 404, 408, 431,
 * 500, 501, 503, 505), "Connection: close" and a one-line text body; a
 * 503 also says "Retry-After: 1". */
void http_respond_error(int status, struct strbuf *out);
/* end snippet */

/* ---- the server (on server.h's; listen and max_connections are its own) ---- */

/* snippet: config */
struct http_server_config {
	const char *listen;    /* "127.0.0.1:8479", "[::1]:8479", ":8479" (every
				  interface, IPv6 and IPv4); port 0 picks a free one */
	int max_connections;   /* default 64; at the cap, the connection that has waited
				  longest for a complete request head (since it was
				  accepted or last answered) is closed to make room; if
				  every one is being answered, the new one is told 503 */
	long head_timeout_ms;  /* a request head must be complete within this (default 10000) */
	long idle_timeout_ms;  /* a keep-alive connection idle this long is closed (default 60000) */
	long write_timeout_ms; /* a client must take its response within this (default 10000) */
};

/* The defaults above, listening on 127.0.0.1:HTTP_DEFAULT_PORT. */
struct http_server_config http_server_config_default(void);

struct http_server;

/*
 * Binds, listens and starts the server's thread. On failure returns NULL
 * and writes a one-line reason to err ("127.0.0.1:8479: address already
 * in use", "bad listen address 'x'").
 */
struct http_server *http_server_start(const struct http_server_config *cfg, http_render_fn render, void *arg,
				      char *err, size_t errlen);

/* The port the server listens on (useful with port 0). */
int http_server_port(const struct http_server *server);

/* Stops accepting and closes every connection but those writing a
 * response, which finish (each within write_timeout_ms) and then close;
 * joins the thread and frees. */
void http_server_stop(struct http_server *server);
/* end snippet */

#endif
