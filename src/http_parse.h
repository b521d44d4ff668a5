/*
 * http_parse.h - lesson 08's internal contract: the pieces the request
 * parser (http_parse_request, src/http.h) is built from. Each is small
 * enough to write, and test, on its own; http_parse_request is a short
 * walk over them. Only lesson 08's code and its tests include this
 * header: the rest of the pipeline knows the server by http.h alone.
 *
 * None of them waits or keeps state between calls, and none reads past
 * the bytes it is given: a piece of a head that has not all arrived is
 * "not yet" (0), never an error. The int ones return 0 on success or
 * minus the status to answer with (-400, -505), as http_parse_request
 * does.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include "http.h"

#include <stddef.h>

/*
 * The line that starts at p, in [p, end). A line ends in LF or in CRLF;
 * a CR followed by anything but LF is malformed.
 *   >= 0  the line's length without its end; *next is where the line
 *         after it starts. 0 with *next NULL: the line's end has not
 *         arrived yet (this includes a CR that is the last byte: its LF
 *         may come in the next read).
 *   -1    a stray CR; *next is NULL.
 */
long http_line(const char *p, const char *end, const char **next);

/*
 * Where the head at the start of buf[0..len) ends: the length of
 * everything up to and including its empty line; 0 if that has not
 * arrived; -1 if a stray CR makes it malformed. Empty lines before the
 * request line (left after a previous body, RFC 9112 section 2.2) are
 * skipped: *start is set to where the request line begins (it is left
 * alone when there are none), and they count in the length.
 */
long http_head_end(const char *buf, size_t len, size_t *start);

/*
 * "HTTP/1.1" (exactly 8 bytes in v[0..n)) -> 1, "HTTP/1.0" -> 0; any
 * other HTTP/d.d -> -505 (a version we do not speak); anything else, a
 * digit missing or a byte too many -> -400.
 */
int http_parse_version(const char *v, size_t n);

/*
 * The request line p[0..n) (without its end): METHOD SP target SP
 * version, one space between them. Fills req->method (a token: the
 * characters http_is_tchar accepts, at least one, shorter than the
 * field), req->path (through the target's rules, given) and req->minor.
 * -400 when malformed, -505 for another version.
 */
int http_parse_request_line(const char *p, size_t n, struct http_request *req);

/*
 * A Content-Length value v[0..n), whitespace already trimmed: digits
 * only, at least one, a value up to SIZE_MAX (one past it is -400, not
 * a number that wrapped around). seen says an earlier Content-Length
 * set *out: this one must then say the same (RFC 9112 6.3: two that
 * differ are malformed). On success sets *out and returns 0; -400
 * otherwise, leaving *out alone.
 */
int http_parse_content_length(const char *v, size_t n, int seen, size_t *out);

/* What the header lines said that only the whole head can settle. */
struct http_header_flags {
	int close;		 /* Connection: close */
	int keep;		 /* Connection: keep-alive */
	int content_length_seen; /* a Content-Length was read into req */
};

/*
 * One header line p[0..n) (without its end, not starting with
 * whitespace): name ":" OWS value OWS. The name is a token, compared
 * without regard to case, with nothing between it and the colon; the
 * value, trimmed of spaces and tabs, holds no control byte but tab.
 * Host sets req->has_host (a second Host is -400); Connection sets
 * f->close or f->keep (http_parse_connection, given); Content-Length goes
 * through http_parse_content_length into req->content_length;
 * Transfer-Encoding is -400 (a chunked body has no length the server
 * could skip). Other headers are checked and ignored.
 */
int http_parse_header(const char *p, size_t n, struct http_request *req, struct http_header_flags *f);

/* Given (request.c): a character RFC 9110 allows in a token (a method, a
 * header name); s[0..n) equals word, ignoring ASCII case; the options of
 * a Connection value v[0..n) (a comma-separated list, any case). */
int http_is_tchar(char c);
int http_equals_nocase(const char *s, size_t n, const char *word);
void http_parse_connection(const char *v, size_t n, int *close, int *keep);

#endif
