/*
 * response.c - lesson 08: the answer to one request, as bytes in a
 * strbuf. The contract is in src/http.h.
 *
 * A response is built whole in memory before a byte of it is sent: the
 * server can then write it in as many pieces as the socket takes, and
 * Content-Length is always known, because the body is already there.
 */
#include "http.h"
#include "notimpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_respond(const struct http_request *req, http_render_fn render, void *arg, struct strbuf *out)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)req;
	(void)render;
	(void)arg;
	(void)out;
	NOT_IMPLEMENTED("http_respond", "lessons/08-http/README.md#answering-a-request");
	return 500;
}

void http_respond_error(int status, struct strbuf *out)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)status;
	(void)out;
	NOT_IMPLEMENTED("http_respond_error", "lessons/08-http/README.md#answering-a-request");
}
