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
	/* BEGIN SOLUTION */
	*next = NULL;
	for (const char *q = p; q < end; q++) {
		if (*q == '\n') {
			*next = q + 1;
			return (long)(q - p);
		}
		if (*q == '\r') {
			if (q + 1 == end)
				return 0; /* the LF may come in the next read */
			if (q[1] != '\n')
				return -1;
			*next = q + 2;
			return (long)(q - p);
		}
	}
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)p;
	(void)end;
	*next = NULL;
	NOT_IMPLEMENTED("http_line", "lessons/08-http/README.md#parsing-a-request");
	return -1;
	*/
}

long http_head_end(const char *buf, size_t len, size_t *start)
{
	/* BEGIN SOLUTION */
	const char *p = buf, *end = buf + len, *next;
	int first = 1;
	for (;;) {
		long n = http_line(p, end, &next);
		if (n < 0)
			return -1;
		if (next == NULL)
			return 0;
		if (n == 0 && first) {
			p = next; /* an empty line before the request line */
			*start = (size_t)(p - buf);
			continue;
		}
		if (n == 0)
			return (long)(next - buf);
		first = 0;
		p = next;
	}
	/* END SOLUTION */
	/* STUB
	(void)buf;
	(void)len;
	(void)start;
	NOT_IMPLEMENTED("http_head_end", "lessons/08-http/README.md#parsing-a-request");
	return -1;
	*/
}

int http_parse_version(const char *v, size_t n)
{
	/* BEGIN SOLUTION */
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return -400;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -505;
	return v[7] - '0';
	/* END SOLUTION */
	/* STUB
	(void)v;
	(void)n;
	NOT_IMPLEMENTED("http_parse_version", "lessons/08-http/README.md#parsing-a-request");
	return -500;
	*/
}

int http_parse_request_line(const char *p, size_t n, struct http_request *req)
{
	/* BEGIN SOLUTION */
	const char *sp1 = memchr(p, ' ', n);
	if (sp1 == NULL)
		return -400;
	size_t mlen = (size_t)(sp1 - p);
	if (mlen == 0 || mlen >= sizeof(req->method))
		return -400;
	for (size_t i = 0; i < mlen; i++)
		if (!http_is_tchar(p[i]))
			return -400;
	memcpy(req->method, p, mlen);
	req->method[mlen] = '\0';
	const char *rest = sp1 + 1, *end = p + n;
	const char *sp2 = memchr(rest, ' ', (size_t)(end - rest));
	if (sp2 == NULL)
		return -400;
	int minor = http_parse_version(sp2 + 1, (size_t)(end - sp2 - 1));
	if (minor < 0)
		return minor;
	req->minor = minor;
	return parse_target(rest, (size_t)(sp2 - rest), req);
	/* END SOLUTION */
	/* STUB
	(void)p;
	(void)n;
	(void)req;
	NOT_IMPLEMENTED("http_parse_request_line", "lessons/08-http/README.md#parsing-a-request");
	return -500;
	*/
}

int http_parse_content_length(const char *v, size_t n, int seen, size_t *out)
{
	/* BEGIN SOLUTION */
	size_t value = 0;
	if (n == 0)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -400;
		size_t d = (size_t)(v[i] - '0');
		if (value > ((size_t)-1 - d) / 10)
			return -400; /* value * 10 + d would wrap around */
		value = value * 10 + d;
	}
	if (seen && value != *out)
		return -400;
	*out = value;
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)v;
	(void)n;
	(void)seen;
	(void)out;
	NOT_IMPLEMENTED("http_parse_content_length", "lessons/08-http/README.md#parsing-a-request");
	return -500;
	*/
}

int http_parse_header(const char *p, size_t n, struct http_request *req, struct http_header_flags *f)
{
	/* BEGIN SOLUTION */
	const char *colon = memchr(p, ':', n);
	if (colon == NULL || colon == p)
		return -400;
	size_t nlen = (size_t)(colon - p);
	for (size_t i = 0; i < nlen; i++)
		if (!http_is_tchar(p[i]))
			return -400;
	const char *v = colon + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
			return -400;
	size_t vlen = (size_t)(end - v);
	if (http_equals_nocase(p, nlen, "host")) {
		if (req->has_host)
			return -400; /* two Host headers: which one? (RFC 9112 3.2) */
		req->has_host = 1;
	} else if (http_equals_nocase(p, nlen, "connection")) {
		http_parse_connection(v, vlen, &f->close, &f->keep);
	} else if (http_equals_nocase(p, nlen, "content-length")) {
		if (http_parse_content_length(v, vlen, f->content_length_seen, &req->content_length) != 0)
			return -400;
		f->content_length_seen = 1;
	} else if (http_equals_nocase(p, nlen, "transfer-encoding")) {
		return -400; /* a chunked body has no length we could skip */
	}
	return 0;
	/* END SOLUTION */
	/* STUB
	(void)p;
	(void)n;
	(void)req;
	(void)f;
	NOT_IMPLEMENTED("http_parse_header", "lessons/08-http/README.md#parsing-a-request");
	return -500;
	*/
}

long http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	/* BEGIN SOLUTION */
	size_t start = 0;
	long head = http_head_end(buf, len, &start);
	if (head < 0)
		return -400;
	if (head == 0)
		return len >= HTTP_MAX_HEAD ? -431 : 0;
	if (head > HTTP_MAX_HEAD)
		return -431;

	memset(req, 0, sizeof(*req));
	const char *end = buf + head, *next;
	long n = http_line(buf + start, end, &next);
	int rc = http_parse_request_line(buf + start, (size_t)n, req);
	if (rc < 0)
		return rc;
	struct http_header_flags f = {0, 0, 0};
	for (const char *p = next; (n = http_line(p, end, &next)) > 0; p = next) {
		if (*p == ' ' || *p == '\t')
			return -400; /* obsolete line folding */
		if ((rc = http_parse_header(p, (size_t)n, req, &f)) < 0)
			return rc;
	}
	if (req->minor == 1 && !req->has_host)
		return -400;
	req->keep_alive = !f.close && (req->minor == 1 || f.keep);
	return head;
	/* END SOLUTION */
	/* STUB
	(void)buf;
	(void)len;
	(void)req;
	NOT_IMPLEMENTED("http_parse_request", "lessons/08-http/README.md#parsing-a-request");
	return -500;
	*/
}
