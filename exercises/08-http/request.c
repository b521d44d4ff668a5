/*
 * request.c - lesson 08: reading one HTTP/1.1 request head out of the
 * bytes received so far. The contract is in src/http.h; the pieces it is
 * built from are in src/http_parse.h.
 *
 * The parser never waits and never keeps state between calls: it looks at
 * everything received so far, and either finds a whole head at the start
 * of it or says "not yet". A server calls it again after every read, so a
 * request that arrives one byte at a time and two requests that arrive in
 * one read are the same case.
 *
 * Given: the character classes, the Connection list and the target's
 * forms. Yours: the six pieces of http_parse.h and http_parse_request.
 */
#include "http_parse.h"
#include "notimpl.h"

#include <string.h>

/* ---- given ------------------------------------------------------------------ */

int http_is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int http_equals_nocase(const char *s, size_t n, const char *word)
{
	size_t i = 0;
	for (; i < n && word[i] != '\0'; i++)
		if (lower(s[i]) != lower(word[i]))
			return 0;
	return i == n && word[i] == '\0';
}

void http_parse_connection(const char *v, size_t n, int *close, int *keep)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (http_equals_nocase(v + start, i - start, "close"))
			*close = 1;
		else if (http_equals_nocase(v + start, i - start, "keep-alive"))
			*keep = 1;
	}
}

/* Copies the path of a target t[0..n) into req->path: origin-form "/a?q"
 * gives "/a"; absolute-form "http://host/a?q" gives "/a" too; "*" is
 * itself. -400 for a control byte or space, another form, or a path too
 * long for the field. */
EXERCISE_HELPER static int parse_target(const char *t, size_t n, struct http_request *req)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
			return -400;
	const char *scheme = memchr(t, ':', n);
	if (n > 0 && t[0] != '/' && scheme != NULL && scheme + 2 < t + n && scheme[1] == '/' &&
	    scheme[2] == '/') {
		const char *host = scheme + 3;
		const char *slash = memchr(host, '/', (size_t)(t + n - host));
		if (slash == NULL)
			return -400;
		n -= (size_t)(slash - t);
		t = slash;
	}
	if (n == 0 || (t[0] != '/' && !(n == 1 && t[0] == '*')))
		return -400;
	const char *q = memchr(t, '?', n);
	size_t plen = q != NULL ? (size_t)(q - t) : n;
	if (plen >= sizeof(req->path))
		return -400;
	memcpy(req->path, t, plen);
	req->path[plen] = '\0';
	return 0;
}

/* ---- yours ------------------------------------------------------------------- */

long http_line(const char *p, const char *end, const char **next)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	(void)end;
	*next = NULL;
	NOT_IMPLEMENTED("http_line", "lessons/08-http/README.md#parsing-a-request");
	return -1;
}

long http_head_end(const char *buf, size_t len, size_t *start)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)buf;
	(void)len;
	(void)start;
	NOT_IMPLEMENTED("http_head_end", "lessons/08-http/README.md#parsing-a-request");
	return -1;
}

int http_parse_version(const char *v, size_t n)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)v;
	(void)n;
	NOT_IMPLEMENTED("http_parse_version", "lessons/08-http/README.md#parsing-a-request");
	return -500;
}

int http_parse_request_line(const char *p, size_t n, struct http_request *req)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	(void)n;
	(void)req;
	NOT_IMPLEMENTED("http_parse_request_line", "lessons/08-http/README.md#parsing-a-request");
	return -500;
}

int http_parse_content_length(const char *v, size_t n, int seen, size_t *out)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)v;
	(void)n;
	(void)seen;
	(void)out;
	NOT_IMPLEMENTED("http_parse_content_length", "lessons/08-http/README.md#parsing-a-request");
	return -500;
}

int http_parse_header(const char *p, size_t n, struct http_request *req, struct http_header_flags *f)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)p;
	(void)n;
	(void)req;
	(void)f;
	NOT_IMPLEMENTED("http_parse_header", "lessons/08-http/README.md#parsing-a-request");
	return -500;
}

long http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)buf;
	(void)len;
	(void)req;
	NOT_IMPLEMENTED("http_parse_request", "lessons/08-http/README.md#parsing-a-request");
	return -500;
}
