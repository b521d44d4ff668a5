/*
 * response.c - lesson 08: the answer to one request, as bytes in a
 * strbuf. The contract is in src/http.h.
 *
 * A response is built whole in memory before a byte of it is sent: the
 * server can then write it in as many pieces as the socket takes, and
 * Content-Length is always known, because the body is already there.
 *
 * Given: the reason phrases, the status line and headers (put_head), the
 * error body (put_error) and the list of known methods. Yours: which
 * answer a request gets (http_respond and its respond_metrics) and
 * http_respond_error.
 */
#include "http.h"
#include "notimpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- given ------------------------------------------------------------------ */

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

EXERCISE_HELPER static const char index_page[] =
    "<!DOCTYPE html>\n<html><head><title>logpipe</title></head>\n"
    "<body><h1>logpipe</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

EXERCISE_HELPER static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}

/*
 * The status line and the headers. Content-Length is the length of the
 * body a GET would get, even when (HEAD) no body follows: RFC 9110 9.3.2.
 */
EXERCISE_HELPER static void put_head(struct strbuf *out, int status, const char *type, size_t length,
				     int close, const char *extra)
{
	strbuf_printf(out, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
	strbuf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, length);
	if (extra != NULL)
		strbuf_puts(out, extra);
	if (close)
		strbuf_puts(out, "Connection: close\r\n");
	strbuf_puts(out, "\r\n");
}

/* An error (or a 404) with a one-line text body; is_head drops the body. */
EXERCISE_HELPER static int put_error(struct strbuf *out, int status, int is_head, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason_phrase(status));
	size_t len = n > 0 ? (size_t)n : 0;
	put_head(out, status, "text/plain; charset=utf-8", len, 1, extra);
	if (!is_head)
		strbuf_append(out, body, len);
	return status;
}

/* The methods RFC 9110 defines: we know them, and answer 405, not 501. */
EXERCISE_HELPER static int is_known_method(const char *m)
{
	static const char *const known[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return 1;
	return 0;
}

/* ---- yours ------------------------------------------------------------------- */

/*
 * The answer to a GET or HEAD of /metrics: render's body, made anew, as a
 * 200 with METRICS_TYPE, its Content-Length (the same for HEAD, which
 * sends no body) and "Connection: close" unless req is keep-alive; a
 * render that fails (NULL) is a 500. The body is freed here. Returns the
 * status.
 */
EXERCISE_HELPER static int respond_metrics(const struct http_request *req, int is_head, http_render_fn render,
					   void *arg, struct strbuf *out)
{
	/* BEGIN SOLUTION */
	size_t len = 0;
	char *body = render(arg, &len);
	if (body == NULL)
		return put_error(out, 500, is_head, NULL);
	put_head(out, 200, METRICS_TYPE, len, !req->keep_alive, NULL);
	if (!is_head)
		strbuf_append(out, body, len);
	free(body);
	return 200;
	/* END SOLUTION */
	/* STUB
	(void)req;
	(void)is_head;
	(void)render;
	(void)arg;
	(void)out;
	NOT_IMPLEMENTED("respond_metrics", "lessons/08-http/README.md#answering-a-request");
	return 500;
	*/
}

int http_respond(const struct http_request *req, http_render_fn render, void *arg, struct strbuf *out)
{
	/* BEGIN SOLUTION */
	int is_head = strcmp(req->method, "HEAD") == 0;
	if (!is_head && strcmp(req->method, "GET") != 0) {
		if (is_known_method(req->method))
			return put_error(out, 405, 0, "Allow: GET, HEAD\r\n");
		return put_error(out, 501, 0, NULL);
	}
	if (strcmp(req->path, "/metrics") == 0)
		return respond_metrics(req, is_head, render, arg, out);
	if (strcmp(req->path, "/") == 0) {
		size_t len = sizeof(index_page) - 1;
		put_head(out, 200, "text/html; charset=utf-8", len, !req->keep_alive, NULL);
		if (!is_head)
			strbuf_append(out, index_page, len);
		return 200;
	}
	return put_error(out, 404, is_head, NULL);
	/* END SOLUTION */
	/* STUB
	(void)req;
	(void)render;
	(void)arg;
	(void)out;
	NOT_IMPLEMENTED("http_respond", "lessons/08-http/README.md#answering-a-request");
	return 500;
	*/
}

void http_respond_error(int status, struct strbuf *out)
{
	/* BEGIN SOLUTION */
	/* A 503 says when to come back (RFC 9110 10.2.3): a second is enough
	 * for the responses that fill the server to finish. */
	put_error(out, status, 0, status == 503 ? "Retry-After: 1\r\n" : NULL);
	/* END SOLUTION */
	/* STUB
	(void)status;
	(void)out;
	NOT_IMPLEMENTED("http_respond_error", "lessons/08-http/README.md#answering-a-request");
	*/
}
