/*
 * Lesson 08: the request parser and its pieces, the response writer, and
 * the server on a real socket. Written against src/http.h and lesson 08's
 * internal contract, src/http_parse.h.
 */
#include "harness.h"
#include "http.h"
#include "http_parse.h"
#include "process.h"
#include "http_client.h"

#include "clock.h"
#include "text_testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define L08 "lessons/08-http/README.md"

#define METRICS_TYPE "Content-Type: text/plain; version=0.0.4; charset=utf-8"
#define GET_METRICS "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"

/* ---- parsing --------------------------------------------------------------- */

static long parse(const char *text, struct http_request *req)
{
	memset(req, 0x5a, sizeof(*req)); /* garbage: the parser must fill every field */
	return http_parse_request(text, strlen(text), req);
}

static void expect_parse_status(const char *text, long want, const char *why)
{
	struct http_request req;
	long got = parse(text, &req);
	if (got != want)
		fail_msg("http_parse_request(%s) returned %ld, want %ld: %s", quoted(text), got, want, why);
}

static void test_parse_simple_get(void **state)
{
	(void)state;
	const char *text = "GET /metrics HTTP/1.1\r\nHost: localhost:8479\r\nAccept: */*\r\n\r\n";
	struct http_request req;
	long n = parse(text, &req);
	if (n != (long)strlen(text))
		fail_msg("returned %ld, want the head's length %zu (up to and including the blank line)", n,
			 strlen(text));
	assert_str_equal(req.method, "GET");
	assert_str_equal(req.path, "/metrics");
	assert_int_equal(req.minor, 1);
	assert_int_equal(req.has_host, 1);
	assert_int_equal(req.keep_alive, 1);
	assert_int_equal(req.content_length, 0);
}

static void test_parse_head_request(void **state)
{
	(void)state;
	struct http_request req;
	assert_true(parse("HEAD / HTTP/1.0\r\n\r\n", &req) > 0);
	assert_str_equal(req.method, "HEAD");
	assert_str_equal(req.path, "/");
	assert_int_equal(req.minor, 0);
	assert_int_equal(req.has_host, 0);
}

static void test_parse_accepts_bare_lf(void **state)
{
	(void)state;
	const char *text = "GET /metrics HTTP/1.1\nHost: x\n\nGET";
	struct http_request req;
	long n = parse(text, &req);
	if (n != (long)strlen(text) - 3)
		fail_msg("returned %ld for a head with bare LF line ends, want %zu: a line may end in LF alone "
			 "(RFC 9112 section 2.2)",
			 n, strlen(text) - 3);
	assert_str_equal(req.path, "/metrics");
}

static void test_parse_skips_empty_lines_before_the_request_line(void **state)
{
	(void)state;
	const char *text = "\r\n\nGET /metrics HTTP/1.0\r\n\r\n";
	expect_parse_status(text, (long)strlen(text),
			    "empty lines before the request line are skipped, and count in the head's length "
			    "(RFC 9112 section 2.2)");
	expect_parse_status("\r\n", 0, "an empty line alone is not a request yet: the request line follows");
}

static void test_parse_header_names_ignore_case(void **state)
{
	(void)state;
	struct http_request req;
	assert_true(parse("GET / HTTP/1.1\r\nhOsT: x\r\nCONNECTION: Close\r\ncontent-LENGTH: 5\r\n\r\n", &req) >
		    0);
	if (!req.has_host || req.keep_alive || req.content_length != 5)
		fail_msg("hOsT, CONNECTION: Close and content-LENGTH were not recognised: header names (and the "
			 "Connection option) are case-insensitive");
}

static void test_parse_keep_alive_follows_version_and_connection(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int keep;
	} cases[] = {
	    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1},
	    {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0},
	    {"GET / HTTP/1.0\r\n\r\n", 0},
	    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
	    {"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n", 0},
	    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
	    {"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request req;
		assert_true(parse(cases[i].text, &req) > 0);
		if (req.keep_alive != cases[i].keep)
			fail_msg("keep_alive is %d for %s, want %d: HTTP/1.1 keeps the connection unless "
				 "\"close\"; HTTP/1.0 closes it unless \"keep-alive\"; \"close\" wins over "
				 "\"keep-alive\" in both",
				 req.keep_alive, quoted(cases[i].text), cases[i].keep);
	}
}

static void test_parse_strips_query_string(void **state)
{
	(void)state;
	struct http_request req;
	assert_true(parse("GET /metrics?name[]=x&y HTTP/1.1\r\nHost: x\r\n\r\n", &req) > 0);
	if (strcmp(req.path, "/metrics") != 0)
		fail_msg("path is %s: the path ends at '?' (Prometheus may add a query string)", quoted(req.path));
}

static void test_parse_missing_host_is_400_on_1_1_only(void **state)
{
	(void)state;
	expect_parse_status("GET / HTTP/1.1\r\n\r\n", -400,
			    "an HTTP/1.1 request without Host is malformed (RFC 9112 section 3.2)");
	expect_parse_status("GET / HTTP/1.0\r\n\r\n", (long)strlen("GET / HTTP/1.0\r\n\r\n"),
			    "HTTP/1.0 has no Host requirement");
}

static void test_parse_whitespace_before_colon_is_400(void **state)
{
	(void)state;
	expect_parse_status("GET / HTTP/1.1\r\nHost : x\r\n\r\n", -400,
			    "whitespace between a header name and its colon must be rejected");
}

static void test_parse_folded_header_is_400(void **state)
{
	(void)state;
	expect_parse_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", -400,
			    "a header line starting with whitespace (obsolete folding) must be rejected");
}

static void test_parse_bad_request_line_is_400(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "GET\r\n\r\n",
	    "GET /\r\n\r\n",
	    "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
	    "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET / HTTQ/1.1\r\nHost: x\r\n\r\n",
	    "GET / HTTP/1\r\nHost: x\r\n\r\n",
	    "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	    "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_parse_status(bad[i], -400, "a malformed request line or header is a 400");
}

static void test_parse_other_versions_are_505(void **state)
{
	(void)state;
	expect_parse_status("GET / HTTP/2.0\r\nHost: x\r\n\r\n", -505, "only HTTP/1.0 and HTTP/1.1 are spoken");
	expect_parse_status("GET / HTTP/1.2\r\nHost: x\r\n\r\n", -505, "only HTTP/1.0 and HTTP/1.1 are spoken");
}

static void test_parse_incomplete_head_returns_0_at_every_prefix(void **state)
{
	(void)state;
	const char *text = "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	size_t len = strlen(text);
	for (size_t n = 0; n < len; n++) {
		struct http_request req;
		long got = http_parse_request(text, n, &req);
		if (got != 0)
			fail_msg("the first %zu of %zu bytes gave %ld, want 0 (not complete yet): a request "
				 "arrives in pieces, and only a blank line ends its head",
				 n, len, got);
	}
	struct http_request req;
	assert_int_equal(http_parse_request(text, len, &req), (long)len);
}

static void test_parse_head_over_limit_is_431(void **state)
{
	(void)state;
	char *big = malloc(HTTP_MAX_HEAD + 64);
	assert_non_null(big);
	int n = snprintf(big, HTTP_MAX_HEAD, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ");
	memset(big + n, 'a', HTTP_MAX_HEAD + 64 - (size_t)n);
	struct http_request req;
	long got = http_parse_request(big, HTTP_MAX_HEAD + 64, &req);
	if (got != -431)
		fail_msg("%d bytes without the end of a head gave %ld, want -431: stop reading at "
			 "HTTP_MAX_HEAD",
			 HTTP_MAX_HEAD + 64, got);
	/* Exactly HTTP_MAX_HEAD bytes and still no end: the head cannot fit
	 * any more, and the server's buffer is full, so "read more" would
	 * only ever end in a closed connection. */
	got = http_parse_request(big, HTTP_MAX_HEAD, &req);
	if (got != -431)
		fail_msg("exactly HTTP_MAX_HEAD (%d) bytes without the end of a head gave %ld, want -431: "
			 "the head can no longer fit, and the buffer is full",
			 HTTP_MAX_HEAD, got);
	/* One byte less, and the end may still come. */
	got = http_parse_request(big, HTTP_MAX_HEAD - 1, &req);
	if (got != 0)
		fail_msg("HTTP_MAX_HEAD - 1 (%d) bytes without the end of a head gave %ld, want 0 (read more): "
			 "a head of HTTP_MAX_HEAD bytes still fits, so one more byte may end it",
			 HTTP_MAX_HEAD - 1, got);
	/* A complete head of exactly HTTP_MAX_HEAD bytes fits. */
	memcpy(big + HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
	got = http_parse_request(big, HTTP_MAX_HEAD, &req);
	if (got != HTTP_MAX_HEAD)
		fail_msg("a complete head of exactly HTTP_MAX_HEAD (%d) bytes gave %ld, want %d: the limit is "
			 "the head's size, blank line included, with no byte kept back",
			 HTTP_MAX_HEAD, got, HTTP_MAX_HEAD);
	/* A complete head one byte too long is refused as well. */
	memset(big + HTTP_MAX_HEAD - 4, 'a', 4);
	memcpy(big + HTTP_MAX_HEAD + 1 - 4, "\r\n\r\n", 4);
	got = http_parse_request(big, HTTP_MAX_HEAD + 1, &req);
	free(big);
	if (got != -431)
		fail_msg("a complete head of HTTP_MAX_HEAD + 1 bytes gave %ld, want -431", got);
}

static void test_parse_pipelined_returns_only_the_first(void **state)
{
	(void)state;
	const char *first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	char both[128];
	snprintf(both, sizeof(both), "%sGET /b HTTP/1.1\r\nHost: x\r\n\r\n", first);
	struct http_request req;
	long n = parse(both, &req);
	if (n != (long)strlen(first))
		fail_msg("two requests in one buffer gave %ld, want %zu (the first head's length): the rest "
			 "is the next request",
			 n, strlen(first));
	assert_str_equal(req.path, "/a");
}

static void test_parse_reads_content_length(void **state)
{
	(void)state;
	struct http_request req;
	assert_true(parse("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", &req) > 0);
	assert_int_equal(req.content_length, 12);
	expect_parse_status("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", -400,
			    "a Content-Length that is not a number is malformed");
}

/* ---- the parser's pieces (src/http_parse.h), each on its own ---------------- */

/* http_line over the NUL-terminated text: its result, and in *next_off
 * where the next line starts (-1 when next is NULL). */
static long line_of(const char *text, long *next_off)
{
	const char *next = text; /* not NULL: http_line must set it */
	long n = http_line(text, text + strlen(text), &next);
	*next_off = next != NULL ? (long)(next - text) : -1;
	return n;
}

static void expect_line_of(const char *text, long want, long want_next, const char *why)
{
	long next;
	long got = line_of(text, &next);
	if (got != want || next != want_next)
		fail_msg(
		    "http_line(%s) returned %ld with next at %ld, want %ld with next at %ld (-1: NULL): %s",
		    quoted(text), got, next, want, want_next, why);
}

static void test_line_ends_at_lf_or_crlf(void **state)
{
	(void)state;
	expect_line_of("ab\r\ncd", 2, 4, "CRLF ends a line; its length leaves the CRLF out, next skips both");
	expect_line_of("ab\ncd", 2, 3, "a bare LF ends a line too (RFC 9112 section 2.2)");
	expect_line_of("\r\nx", 0, 2, "an empty line has length 0 and a next: it is the end of a head");
}

static void test_line_waits_for_an_end_not_yet_read(void **state)
{
	(void)state;
	expect_line_of("ab\r\n", 2, 4, "CRLF ends a line");
	expect_line_of("ab", 0, -1, "no line end yet is \"not yet\" (0, next NULL), not an error: read more");
	expect_line_of(
	    "ab\r", 0, -1,
	    "a CR that is the last byte read is not a line end yet: its LF may come in the next read");
	expect_line_of("", 0, -1, "nothing read is \"not yet\"");
}

static void test_line_stray_cr_is_malformed(void **state)
{
	(void)state;
	expect_line_of("ab\r\n", 2, 4, "CRLF ends a line");
	expect_line_of("a\rb\n", -1, -1, "a CR followed by anything but LF is malformed (-1, next NULL)");
}

static void expect_head_end(const char *text, long want, size_t want_start, const char *why)
{
	size_t start = 0;
	long got = http_head_end(text, strlen(text), &start);
	if (got != want || (got > 0 && start != want_start))
		fail_msg("http_head_end(%s) returned %ld with start %zu, want %ld with start %zu: %s",
			 quoted(text), got, start, want, want_start, why);
}

static void test_head_end_is_after_the_empty_line(void **state)
{
	(void)state;
	const char *head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	expect_head_end(head, (long)strlen(head), 0, "the head ends after its empty line, which it includes");
	char two[128];
	snprintf(two, sizeof(two), "%sGET /b HTTP/1.1\r\nHost: x\r\n\r\n", head);
	expect_head_end(two, (long)strlen(head), 0,
			"only the first head counts: what follows it is the next request (pipelining)");
	expect_head_end("GET / HTTP/1.0\n\nrest", 16, 0, "bare LFs end the lines of a head too");
}

static void test_head_end_skips_empty_lines_before_the_request_line(void **state)
{
	(void)state;
	const char *text = "\r\n\nGET / HTTP/1.0\r\n\r\n";
	expect_head_end(text, (long)strlen(text), 3,
			"empty lines before the request line are skipped (start is where the request line "
			"begins) and counted in the length; they do not end an empty head");
}

static void test_head_end_waits_for_the_empty_line(void **state)
{
	(void)state;
	const char *head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	expect_head_end(head, (long)strlen(head), 0, "the head ends after its empty line");
	expect_head_end("GET / HTTP/1.1\r\nHost: x\r\n", 0, 0,
			"no empty line yet: the head is not complete (0)");
	expect_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r", 0, 0,
			"the last LF has not arrived: not complete (0)");
	expect_head_end("\r\n", 0, 0, "an empty line before any request is skipped, not a head");
	expect_head_end("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", -1, 0,
			"a stray CR makes the head malformed (-1)");
}

static void test_parse_version_speaks_1_0_and_1_1(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int want;
		const char *why;
	} cases[] = {
	    {"HTTP/1.1", 1, "HTTP/1.1 is minor version 1"},
	    {"HTTP/1.0", 0, "HTTP/1.0 is minor version 0"},
	    {"HTTP/2.0", -505, "a well-formed version we do not speak is 505, not 400"},
	    {"HTTP/1.2", -505, "HTTP/1.2 is well-formed but not spoken: 505; check the minor digit too"},
	    {"HTTP/0.9", -505, "HTTP/0.9 is not spoken"},
	    {"HTTP/1.1x", -400, "a byte after the version is malformed: compare the length too"},
	    {"HTTP/1.", -400, "a missing digit is malformed (and must not be read past n)"},
	    {"http/1.1", -400, "the name HTTP is case-sensitive (RFC 9112 section 2.3)"},
	    {"HTTP/a.1", -400, "the major version is a digit"},
	    {"HTTP/1.b", -400, "the minor version is a digit"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = http_parse_version(cases[i].v, strlen(cases[i].v));
		if (got != cases[i].want)
			fail_msg("http_parse_version(%s) returned %d, want %d: %s", quoted(cases[i].v), got,
				 cases[i].want, cases[i].why);
	}
}

static int request_line(const char *line, struct http_request *req)
{
	memset(req, 0, sizeof(*req));
	return http_parse_request_line(line, strlen(line), req);
}

static void expect_request_line(const char *line, const char *method, const char *path, int minor)
{
	struct http_request req;
	int rc = request_line(line, &req);
	if (rc != 0)
		fail_msg("http_parse_request_line(%s) returned %d, want 0", quoted(line), rc);
	if (strcmp(req.method, method) != 0 || strcmp(req.path, path) != 0 || req.minor != minor)
		fail_msg(
		    "http_parse_request_line(%s) gave method %s, path %s, minor %d; want %s, %s, %d: the "
		    "method is the bytes before the first space, the target those up to the second",
		    quoted(line), quoted(req.method), quoted(req.path), req.minor, method, path, minor);
}

static void expect_request_line_status(const char *line, int want, const char *why)
{
	struct http_request req;
	int rc = request_line(line, &req);
	if (rc != want)
		fail_msg("http_parse_request_line(%s) returned %d, want %d: %s", quoted(line), rc, want, why);
}

static void test_request_line_fills_method_path_and_minor(void **state)
{
	(void)state;
	expect_request_line("GET /metrics?x=1 HTTP/1.1", "GET", "/metrics", 1);
	expect_request_line("HEAD / HTTP/1.0", "HEAD", "/", 0);
	expect_request_line("OPTIONS * HTTP/1.1", "OPTIONS", "*", 1);
	expect_request_line("GET http://h:8479/metrics?q HTTP/1.1", "GET", "/metrics", 1);
	expect_request_line("ABCDEFGHIJKLMNO / HTTP/1.1", "ABCDEFGHIJKLMNO", "/", 1);
}

static void test_request_line_rejects_a_bad_method(void **state)
{
	(void)state;
	expect_request_line("GET / HTTP/1.1", "GET", "/", 1);
	expect_request_line_status("ABCDEFGHIJKLMNOP / HTTP/1.1", -400,
				   "a 16-byte method leaves no room for its NUL in method[16]: it must be "
				   "shorter than the field");
	expect_request_line_status("G(T / HTTP/1.1", -400, "a method is a token: '(' is not a tchar");
	expect_request_line_status(" / HTTP/1.1", -400, "an empty method is malformed");
}

static void test_request_line_rejects_bad_spacing_and_versions(void **state)
{
	(void)state;
	expect_request_line("GET / HTTP/1.1", "GET", "/", 1);
	expect_request_line_status("GET  / HTTP/1.1", -400, "exactly one space between the parts");
	expect_request_line_status("GET / HTTP/1.1 ", -400, "nothing after the version");
	expect_request_line_status("GET /", -400, "the version is missing");
	expect_request_line_status("GET", -400, "the target is missing");
	expect_request_line_status("GET metrics HTTP/1.1", -400, "a target is \"/...\", \"*\" or absolute");
	expect_request_line_status("GET / HTTP/3.0", -505, "the version's own status (505) is passed on");
}

static void expect_content_length(const char *v, int seen, size_t before, int want_rc, size_t want,
				  const char *why)
{
	size_t out = before;
	int rc = http_parse_content_length(v, strlen(v), seen, &out);
	if (rc != want_rc || out != want)
		fail_msg(
		    "http_parse_content_length(%s, seen %d, *out %zu) returned %d with *out %zu; want %d "
		    "with %zu: %s",
		    quoted(v), seen, before, rc, out, want_rc, want, why);
}

static void test_content_length_is_digits_only(void **state)
{
	(void)state;
	expect_content_length("12", 0, 99, 0, 12, "a number of digits");
	expect_content_length("0", 0, 99, 0, 0, "zero is a length");
	expect_content_length("", 0, 99, -400, 99, "an empty value is malformed; *out is left alone");
	static const char *const bad[] = {"-1", "+1", "1 2", "0x10", "12a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_content_length(
		    bad[i], 0, 99, -400, 99,
		    "only digits: a sign, a space or a letter is malformed, *out left alone");
}

static void test_content_length_overflow_is_400(void **state)
{
	(void)state;
	char max[32], over[40], next[32];
	snprintf(max, sizeof(max), "%zu", (size_t)-1);
	snprintf(over, sizeof(over), "%s0", max);
	/* SIZE_MAX + 1, as digits: SIZE_MAX ends in 5 (2^64 - 1 and 2^32 - 1 both do). */
	snprintf(next, sizeof(next), "%s", max);
	next[strlen(next) - 1]++;
	expect_content_length("4294967295", 0, 99, 0, 4294967295u, "a large length is still a length");
	expect_content_length(max, 0, 99, 0, (size_t)-1, "SIZE_MAX itself does not overflow: it is a length");
	expect_content_length(
	    over, 0, 99, -400, 99,
	    "a length past SIZE_MAX must be refused before value * 10 + d wraps around "
	    "(a wrapped length would be a small one, and the body would be read as requests)");
	expect_content_length(next, 0, 99, -400, 99,
			      "SIZE_MAX + 1 has as many digits as SIZE_MAX: only its last digit overflows, so the "
			      "check must count the digit being added, not only the multiplication by 10");
}

static void test_repeated_content_length_must_agree(void **state)
{
	(void)state;
	expect_content_length("5", 1, 5, 0, 5, "a second Content-Length that says the same is fine");
	expect_content_length("6", 1, 5, -400, 5,
			      "two Content-Lengths that differ are malformed (RFC 9112 section 6.3): which "
			      "one would say where the next request starts?");
}

static int header(const char *line, struct http_request *req, struct http_header_flags *f)
{
	return http_parse_header(line, strlen(line), req, f);
}

static void expect_header_status(const char *line, struct http_request *req, struct http_header_flags *f,
				 int want, const char *why)
{
	int rc = header(line, req, f);
	if (rc != want)
		fail_msg("http_parse_header(%s) returned %d, want %d: %s", quoted(line), rc, want, why);
}

static void test_header_reads_host_connection_and_content_length(void **state)
{
	(void)state;
	struct http_request req;
	struct http_header_flags f = {0, 0, 0};
	memset(&req, 0, sizeof(req));
	expect_header_status("hOsT: x", &req, &f, 0, "a Host header is well-formed");
	if (!req.has_host)
		fail_msg("\"hOsT: x\" did not set has_host: header names are compared ignoring case");
	expect_header_status("Connection: Close", &req, &f, 0, "a Connection header is well-formed");
	if (!f.close)
		fail_msg(
		    "\"Connection: Close\" did not set f->close: Connection goes to http_parse_connection");
	expect_header_status("CONTENT-length: \t12 \t", &req, &f, 0,
			     "a Content-Length header is well-formed");
	if (req.content_length != 12 || !f.content_length_seen)
		fail_msg("\"CONTENT-length: \\t12 \\t\" gave content_length %zu, seen %d; want 12, 1: trim "
			 "spaces and "
			 "tabs around the value, then http_parse_content_length, then remember it was seen",
			 req.content_length, f.content_length_seen);
	expect_header_status("X-Other: a\tb", &req, &f, 0,
			     "another header is checked and ignored; a tab is allowed");
}

static void test_header_rejects_what_would_confuse_the_server(void **state)
{
	(void)state;
	struct http_request req;
	struct http_header_flags f = {0, 0, 0};
	memset(&req, 0, sizeof(req));
	expect_header_status("Host: x", &req, &f, 0, "one Host is fine");
	expect_header_status("Host: y", &req, &f, -400, "a second Host is malformed: which host was meant?");
	expect_header_status(
	    "Transfer-Encoding: chunked", &req, &f, -400,
	    "Transfer-Encoding is refused: a chunked body has no length the server could skip, "
	    "and its bytes would be read as the next request");
	expect_header_status("Content-Length: 6", &req, &f, 0, "a Content-Length is fine");
	expect_header_status(
	    "Content-Length: 7", &req, &f, -400,
	    "a second Content-Length that differs is malformed: pass f->content_length_seen");
	expect_header_status("X-A : 1", &req, &f, -400, "whitespace before the colon is malformed");
	expect_header_status(": 1", &req, &f, -400, "an empty name is malformed");
	expect_header_status("NoColon", &req, &f, -400, "a header line without a colon is malformed");
	expect_header_status("X(A: 1", &req, &f, -400, "a name is a token: '(' is not a tchar");
	expect_header_status("X-A: a\001b", &req, &f, -400, "a control byte in a value is malformed");
}

/* ---- responding --------------------------------------------------------------- */

static const char metrics_text[] = "# HELP up Whether the target is up.\n# TYPE up gauge\nup 1\n";
static atomic_int renders;

static char *render_fixed(void *arg, size_t *len)
{
	(void)arg;
	atomic_fetch_add(&renders, 1);
	*len = sizeof(metrics_text) - 1;
	return strdup(metrics_text);
}

static char *render_fail(void *arg, size_t *len)
{
	(void)arg;
	(void)len;
	return NULL;
}

/* A request as the parser would give it. */
static struct http_request request(const char *method, const char *path, int keep_alive)
{
	struct http_request req;
	memset(&req, 0, sizeof(req));
	snprintf(req.method, sizeof(req.method), "%s", method);
	snprintf(req.path, sizeof(req.path), "%s", path);
	req.minor = 1;
	req.has_host = 1;
	req.keep_alive = keep_alive;
	return req;
}

/* The response's head and body, split at the blank line. */
static const char *body_of(const struct strbuf *out)
{
	const char *end = out->data != NULL ? strstr(out->data, "\r\n\r\n") : NULL;
	if (end == NULL)
		fail_msg("the response has no blank line ending its head: %s",
			 quoted(out->data != NULL ? out->data : ""));
	return end + 4;
}

static int has_line(const struct strbuf *out, const char *line)
{
	char want[256];
	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	return out->data != NULL && strstr(out->data, want) != NULL;
}

static void expect_line(const struct strbuf *out, const char *line, const char *why)
{
	if (!has_line(out, line))
		fail_msg("the response lacks %s (%s):\n%s", quoted(line), why, out->data != NULL ? out->data : "");
}

static void test_respond_metrics_is_200_with_type_and_length(void **state)
{
	(void)state;
	struct http_request req = request("GET", "/metrics", 1);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fixed, NULL, &out), 200);
	if (out.data == NULL || strncmp(out.data, "HTTP/1.1 200 OK\r\n", 17) != 0)
		fail_msg("the response does not start with \"HTTP/1.1 200 OK\\r\\n\"");
	expect_line(&out, METRICS_TYPE, "Prometheus needs the exact Content-Type");
	char cl[64];
	snprintf(cl, sizeof(cl), "Content-Length: %zu", sizeof(metrics_text) - 1);
	expect_line(&out, cl, "Content-Length is the body's length");
	assert_str_equal(body_of(&out), metrics_text);
	if (has_line(&out, "Connection: close"))
		fail_msg("a keep-alive request's 200 must not say Connection: close");
	strbuf_free(&out);
}

/* GET and HEAD of one path (a render that fails when render_ok is 0):
 * the same status and headers, and HEAD without a body. */
static void expect_head_like_get(const char *path, int render_ok, int status)
{
	struct http_request get = request("GET", path, 1), head = request("HEAD", path, 1);
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	http_render_fn render = render_ok ? render_fixed : render_fail;
	assert_int_equal(http_respond(&get, render, NULL, &a), status);
	assert_int_equal(http_respond(&head, render, NULL, &b), status);
	size_t head_len = (size_t)(body_of(&a) - a.data);
	if (b.len != head_len || memcmp(a.data, b.data, head_len) != 0)
		fail_msg("HEAD %s%s must get the same status and headers as GET (Content-Length included) and "
			 "no body, whatever the status:\nGET:\n%s\nHEAD:\n%s",
			 path, render_ok ? "" : " (a render that fails)", a.data, b.data);
	strbuf_free(&a);
	strbuf_free(&b);
}

static void test_respond_head_has_same_headers_and_no_body(void **state)
{
	(void)state;
	expect_head_like_get("/metrics", 1, 200);
	expect_head_like_get("/", 1, 200);
	expect_head_like_get("/nope", 1, 404);
	expect_head_like_get("/metrics", 0, 500);
}

static void test_respond_unknown_path_is_404(void **state)
{
	(void)state;
	/* A path that only begins like /metrics is another path. */
	struct http_request near = request("GET", "/metricsXYZ", 1);
	struct strbuf other = STRBUF_INIT;
	int status = http_respond(&near, render_fixed, NULL, &other);
	strbuf_free(&other);
	if (status != 404)
		fail_msg("GET /metricsXYZ got %d, want 404: compare the whole path (strcmp), not its start",
			 status);
	struct http_request req = request("GET", "/nope", 1);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fixed, NULL, &out), 404);
	if (out.data == NULL || strncmp(out.data, "HTTP/1.1 404 ", 13) != 0)
		fail_msg("want a 404 status line, got: %s", out.data != NULL ? out.data : "(nothing)");
	char cl[64];
	snprintf(cl, sizeof(cl), "Content-Length: %zu", strlen(body_of(&out)));
	expect_line(&out, cl, "every response has Content-Length");
	strbuf_free(&out);
}

static void test_respond_root_is_a_page_linking_metrics(void **state)
{
	(void)state;
	struct http_request req = request("GET", "/", 1);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fixed, NULL, &out), 200);
	if (strstr(body_of(&out), "/metrics") == NULL)
		fail_msg("the page at / should link to /metrics");
	strbuf_free(&out);
}

static void test_respond_post_is_405_with_allow(void **state)
{
	(void)state;
	struct http_request req = request("POST", "/metrics", 1);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fixed, NULL, &out), 405);
	expect_line(&out, "Allow: GET, HEAD", "a 405 must say which methods are allowed (RFC 9110 15.5.6)");
	strbuf_free(&out);
}

static void test_respond_unknown_method_is_501(void **state)
{
	(void)state;
	struct http_request req = request("BREW", "/metrics", 1);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fixed, NULL, &out), 501);
	strbuf_free(&out);
}

static void test_respond_render_failure_is_500(void **state)
{
	(void)state;
	struct http_request req = request("GET", "/metrics", 1);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fail, NULL, &out), 500);
	if (out.data == NULL || strncmp(out.data, "HTTP/1.1 500 ", 13) != 0)
		fail_msg("a render that returns NULL must be answered with a 500 status line");
	expect_line(&out, "Connection: close", "after an error status the connection is closed");
	strbuf_free(&out);
}

static void test_respond_says_close_when_not_keep_alive(void **state)
{
	(void)state;
	struct http_request req = request("GET", "/metrics", 0);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(http_respond(&req, render_fixed, NULL, &out), 200);
	expect_line(&out, "Connection: close", "the client must learn that the connection will close");
	strbuf_free(&out);
}

static void test_respond_error_has_status_close_and_body(void **state)
{
	(void)state;
	static const int statuses[] = {400, 408, 431, 503, 505};
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct strbuf out = STRBUF_INIT;
		http_respond_error(statuses[i], &out);
		char line[32];
		snprintf(line, sizeof(line), "HTTP/1.1 %d ", statuses[i]);
		if (out.data == NULL || strncmp(out.data, line, strlen(line)) != 0)
			fail_msg("http_respond_error(%d) does not start with %s", statuses[i], quoted(line));
		expect_line(&out, "Connection: close", "an error response closes the connection");
		const char *body = body_of(&out);
		char cl[64];
		snprintf(cl, sizeof(cl), "Content-Length: %zu", strlen(body));
		expect_line(&out, cl, "Content-Length is the body's length");
		if (strlen(body) == 0)
			fail_msg("an error response has a one-line text body");
		strbuf_free(&out);
	}
}

static void test_respond_503_says_when_to_retry(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	http_respond_error(503, &out);
	expect_line(&out, "Retry-After: 1", "a client told 503 learns when to come back");
	strbuf_free(&out);
	http_respond_error(400, &out);
	if (has_line(&out, "Retry-After: 1"))
		fail_msg("a 400 says Retry-After: retrying a bad request will not help");
	strbuf_free(&out);
}

/* ---- the server on a real socket ------------------------------------------------ */

/* Short deadlines, so each test is quick. */
static struct http_server_config test_config(void)
{
	struct http_server_config cfg = http_server_config_default();
	cfg.listen = "127.0.0.1:0";
	cfg.max_connections = 8;
	cfg.head_timeout_ms = 5000;
	cfg.idle_timeout_ms = 5000;
	cfg.write_timeout_ms = harness_bound_ms(2000); /* 8 MiB in 4 KiB reads is slow under a sanitizer */
	return cfg;
}

static struct http_server *start_or_fail(const struct http_server_config *cfg, http_render_fn render)
{
	char err[256] = "";
	harness_on_hang("http_server_start did not return: it must bind, listen, start the thread and return");
	struct http_server *s = http_server_start(cfg, render, NULL, err, sizeof(err));
	if (s == NULL)
		fail_msg("http_server_start on %s failed: %s", cfg->listen, err);
	if (http_server_port(s) <= 0)
		fail_msg("http_server_port is %d after starting on port 0: read it back with getsockname",
			 http_server_port(s));
	return s;
}

static void stop(struct http_server *s)
{
	harness_on_hang("http_server_stop did not return: lesson 07's server waits for each connection polled for "
			"POLLOUT; does conn_on_deadline close a WRITING one whose write deadline passed?");
	http_server_stop(s);
}

/* GET /metrics on c; fails unless the answer is 200 with the render's text. */
static void expect_metrics(struct client *c, const char *why)
{
	struct reply r;
	harness_on_hang("a client waited for a response (the client has its own deadline)");
	client_response_or_fail(c, &r, 0, why);
	if (r.status != 200 || strcmp(r.body, metrics_text) != 0) {
		int status = r.status;
		reply_free(&r);
		fail_msg("got status %d and not the render's text: %s", status, why);
	}
	reply_free(&r);
}

static void test_server_serves_metrics(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, GET_METRICS);
	struct reply r;
	client_response_or_fail(&c, &r, 0, "GET /metrics");
	assert_int_equal(r.status, 200);
	assert_str_equal(r.body, metrics_text);
	if (!reply_has(&r, METRICS_TYPE))
		fail_msg("the response lacks %s", quoted(METRICS_TYPE));
	reply_free(&r);
	client_close(&c);
	stop(s);
}

static void test_server_reads_a_request_sent_byte_by_byte(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	const char *req = GET_METRICS;
	for (size_t i = 0; req[i] != '\0'; i++)
		client_send_bytes(&c, req + i, 1);
	expect_metrics(&c, "a request sent one byte at a time must be read until its head is complete");
	client_close(&c);
	stop(s);
}

static void test_server_answers_pipelined_requests_in_order(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, GET_METRICS "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_metrics(&c, "the first of two requests sent in one write");
	struct reply r;
	client_response_or_fail(&c, &r, 0,
				"the second of two requests sent in one write: keep the bytes after the first head");
	int status = r.status;
	reply_free(&r);
	if (status != 404)
		fail_msg("the second response has status %d, want 404 (/nope): responses go out in request order",
			 status);
	client_close(&c);
	stop(s);
}

static void test_server_keeps_the_connection_for_three_requests(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	for (int i = 0; i < 3; i++) {
		client_send(&c, GET_METRICS);
		expect_metrics(&c, "an HTTP/1.1 connection stays open for the next request");
	}
	client_close(&c);
	stop(s);
}

static void test_server_closes_after_connection_close(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	expect_metrics(&c, "a request with Connection: close is still answered");
	if (client_wait_eof(&c, harness_wait_ms()) != 1)
		fail_msg("the connection stayed open after a Connection: close response");
	client_close(&c);
	stop(s);
}

/* A server with test_config and render_fixed, and c connected to it,
 * having sent request. */
static struct http_server *start_and_send(struct client *c, const char *request)
{
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	client_open_or_fail(c, http_server_port(s));
	client_send(c, request);
	return s;
}

static void test_server_closes_the_connection_after_an_error(void **state)
{
	(void)state;
	struct client c;
	struct http_server *s = start_and_send(&c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
	struct reply r;
	client_response_or_fail(&c, &r, 0, "a keep-alive GET /nope");
	int status = r.status, says_close = reply_has(&r, "Connection: close");
	reply_free(&r);
	if (status != 404 || !says_close)
		fail_msg("GET /nope got %d%s, want 404 with Connection: close", status,
			 says_close ? "" : " without Connection: close");
	/* A closed connection does not answer this one: its bytes are dropped. */
	client_send(&c, GET_METRICS);
	int eof = client_wait_eof(&c, harness_wait_ms());
	if (eof != 1)
		fail_msg("%s after a 404: every status of 400 and above closes the connection, whatever the "
			 "request said (close_after)",
			 eof < 0 ? "the next request on the connection was answered" : "the connection stayed open");
	client_close(&c);
	stop(s);
}

static void test_server_skips_a_request_body(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, "GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
			"0123456789" GET_METRICS);
	expect_metrics(&c, "a request with a 10-byte body");
	expect_metrics(&c, "the request after a 10-byte body: skip Content-Length bytes, then parse");
	client_close(&c);
	stop(s);
}

/* The largest body the server skips is HTTP_MAX_HEAD bytes: the request
 * is answered, and the connection serves the next one. */
static void test_server_skips_a_body_of_exactly_http_max_head(void **state)
{
	(void)state;
	static char body[HTTP_MAX_HEAD];
	memset(body, 'b', sizeof(body));
	char head[128];
	snprintf(head, sizeof(head), "GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
		 HTTP_MAX_HEAD);
	struct client c;
	struct http_server *s = start_and_send(&c, head);
	client_send_bytes(&c, body, sizeof(body));
	client_send(&c, GET_METRICS);
	expect_metrics(&c, "a request with a body of exactly HTTP_MAX_HEAD bytes: only a longer one is too big "
			   "to skip");
	expect_metrics(&c, "the request after a body of HTTP_MAX_HEAD bytes, on the same connection");
	client_close(&c);
	stop(s);
}

#define POST_TOO_BIG "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"

static void test_server_refuses_a_body_too_big_to_skip(void **state)
{
	(void)state;
	struct client c;
	struct http_server *s = start_and_send(&c, POST_TOO_BIG);
	struct reply r;
	client_response_or_fail(&c, &r, 0, "a body larger than HTTP_MAX_HEAD");
	int status = r.status;
	reply_free(&r);
	if (status != 400)
		fail_msg("a body over HTTP_MAX_HEAD bytes got %d, want 400 (and close)", status);
	if (client_wait_eof(&c, harness_wait_ms()) != 1)
		fail_msg("the connection stayed open after a 400");
	client_close(&c);
	stop(s);
}

/* Sends all it can of n bytes; 0 if the connection failed first (the
 * server gave up on the rest), which the caller looks at. */
static int send_ignoring_errors(struct client *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

/*
 * The client sends a head whose body is too big to skip, and goes on
 * sending the body: the server answers 400 with bytes still unread.
 * Closing the socket then sends a reset instead of a FIN: the client's
 * next send or read fails with "connection reset by peer" (curl reports
 * that, not the 400), and a reset can destroy a response still on its way.
 */
static void test_server_error_reaches_a_client_still_sending(void **state)
{
	(void)state;
	static char body[4 * HTTP_MAX_HEAD];
	memset(body, 'b', sizeof(body));
	struct client c;
	struct http_server *s = start_and_send(&c, POST_TOO_BIG);
	send_ignoring_errors(&c, body, sizeof(body));
	struct reply r;
	int rc = client_response(&c, &r, 0, harness_wait_ms());
	int status = r.status;
	reply_free(&r);
	if (rc != 1)
		fail_msg("no 400 for a body too big to skip (%s)", rc == 0 ? "the connection ended" : "timeout");
	if (status != 400)
		fail_msg("a body too big to skip got %d, want 400", status);
	int sent_all = send_ignoring_errors(&c, body, sizeof(body)); /* the client is still sending */
	int fin = client_ended_with_fin(&c, harness_wait_ms());
	if (fin != 1 || !sent_all)
		fail_msg("after its 400 the connection ended with %s while the client was still sending its body: "
			 "after the last response, shut down the sending side (shutdown(fd, SHUT_WR): the client "
			 "reads EOF) and LINGER, reading and dropping what comes; closing with unread bytes resets "
			 "the connection",
			 fin == 0 || !sent_all ? "a reset" : "no end in time");
	client_close(&c);
	stop(s);
}

static void test_server_serves_others_while_a_client_stalls(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.head_timeout_ms = 30000; /* the stalled client stays for the whole test */
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client slow, fast;
	client_open_or_fail(&slow, http_server_port(s));
	client_send(&slow, "GET /metrics HTTP/1.1\r\nHo");
	client_open_or_fail(&fast, http_server_port(s));
	client_send(&fast, GET_METRICS);
	expect_metrics(&fast, "a client that sent half a head must not hold up another (is a read blocking?)");
	client_close(&fast);
	client_close(&slow);
	stop(s);
}

static void test_server_answers_408_to_a_slow_head(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.head_timeout_ms = 300;
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client slow;
	client_open_or_fail(&slow, http_server_port(s));
	struct timespec start = clock_now();
	client_send(&slow, "GET /metrics HTTP/1.1\r\nHo");
	struct reply r;
	client_response_or_fail(&slow, &r, 0, "a head not complete within head_timeout_ms gets a 408");
	int status = r.status;
	reply_free(&r);
	if (status != 408)
		fail_msg("a head not complete in time got %d, want 408", status);
	if (clock_seconds_since(&start) < 0.25)
		fail_msg("the 408 came after %.3f s, before head_timeout_ms (300 ms)", clock_seconds_since(&start));
	if (client_wait_eof(&slow, harness_wait_ms()) != 1)
		fail_msg("the connection stayed open after the 408");
	client_close(&slow);
	stop(s);
}

/*
 * A head dripped a byte every 50 ms, each read quick, never complete: the
 * 408 must come head_timeout_ms (200 ms) after the first byte. The drip
 * goes on for at most DRIP_MS (scaled under sanitizers): a server that
 * restarts the deadline at every read has given no 408 by then.
 */
#define DRIP_MS 1000

static void test_server_head_deadline_is_absolute(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.head_timeout_ms = 200;
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client slow;
	client_open_or_fail(&slow, http_server_port(s));
	const char *start_of_head = "GET /metrics HTTP/1.1\r\nX-Slow: ";
	struct timespec start = clock_now();
	double most = harness_bound_ms(DRIP_MS) / 1000.0;
	struct reply r = {0};
	int got = 0;
	for (size_t i = 0; !got && clock_seconds_since(&start) < most; i++) {
		char byte = i < strlen(start_of_head) ? start_of_head[i] : 'a';
		if (send(slow.fd, &byte, 1, MSG_NOSIGNAL) != 1)
			break; /* the server closed: read its answer */
		got = client_response(&slow, &r, 0, 50) == 1;
	}
	if (!got)
		got = client_response(&slow, &r, 0, 50) == 1;
	double took = clock_seconds_since(&start);
	int status = r.status;
	reply_free(&r);
	if (!got || took > most)
		fail_msg("no 408 within %.1f s for a head dripped a byte every 50 ms, with head_timeout_ms at "
			 "200: the head deadline runs from its first byte, not from the last read",
			 most);
	if (status != 408)
		fail_msg("status %d for a head dripped byte by byte, want 408", status);
	client_close(&slow);
	stop(s);
}

/*
 * A request whose body stops half way: its response goes out (the body is
 * not read before answering), then the rest of the body is owed under a
 * fresh head deadline, and a body that stalls gets a 408, not the idle
 * timeout's silent close, a minute later by default.
 */
static void test_server_answers_408_to_a_stalled_body(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.head_timeout_ms = 300;
	cfg.idle_timeout_ms = 30000; /* far past the test's deadline: only a 408 ends it in time */
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, "GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
	expect_metrics(&c, "a request whose body is 5 bytes short is answered");
	struct reply r;
	int rc = client_response(&c, &r, 0, harness_wait_ms());
	int status = r.status;
	reply_free(&r);
	if (rc != 1 || status != 408)
		fail_msg("%s for a body 5 bytes short, stalled: skipping a body is a state of its own, BODY, "
			 "under head_timeout_ms (300 ms here), with a 408 when it passes",
			 rc != 1 ? "no 408" : "not a 408");
	if (client_wait_eof(&c, harness_wait_ms()) != 1)
		fail_msg("the connection stayed open after the 408");
	client_close(&c);
	stop(s);
}

/* Starts a server with cfg and has c, connected to it, answered one
 * GET /metrics: c's connection is kept, and idle from then on. */
static struct http_server *start_and_answer_once(const struct http_server_config *cfg, struct client *c,
						  const char *why)
{
	struct http_server *s = start_or_fail(cfg, render_fixed);
	client_open_or_fail(c, http_server_port(s));
	client_send(c, GET_METRICS);
	expect_metrics(c, why);
	return s;
}

static void test_server_closes_an_idle_connection(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.idle_timeout_ms = 300;
	struct client c;
	struct http_server *s = start_and_answer_once(&cfg, &c, "GET /metrics before going idle");
	if (client_wait_eof(&c, harness_wait_ms()) != 1)
		fail_msg("a keep-alive connection idle past idle_timeout_ms (300 ms) was not closed");
	client_close(&c);
	stop(s);
}

/*
 * A kept connection, once its response is all sent, waits for the next
 * request under idle_timeout_ms, started then: not under the write
 * deadline its response began with. The client waits well past
 * write_timeout_ms for a close that must not come, then asks again.
 */
static void test_server_keeps_an_answered_connection_for_idle_timeout(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.idle_timeout_ms = 30000; /* far past the test's end */
	cfg.write_timeout_ms = 200;
	struct client c;
	struct http_server *s = start_and_answer_once(&cfg, &c, "the first GET /metrics");
	if (client_wait_eof(&c, 5 * cfg.write_timeout_ms) == 1)
		fail_msg("a kept connection was closed about write_timeout_ms (200 ms) after its response, with "
			 "idle_timeout_ms at 30 s: going back to IDLE must start IDLE's own deadline");
	client_send(&c, GET_METRICS);
	expect_metrics(&c, "a second GET /metrics on the connection, 1 s after the first response");
	client_close(&c);
	stop(s);
}

static struct http_server *start_with_cap_of_2(void)
{
	struct http_server_config cfg = test_config();
	cfg.max_connections = 2;
	return start_or_fail(&cfg, render_fixed);
}

/*
 * At a cap of 2, held by kept and evicted: a newcomer must be served, by
 * closing evicted; kept must still answer. wrong and not_closed say what
 * each failure means. Closes the clients and stops s.
 */
static void expect_eviction(struct http_server *s, struct client *kept, struct client *evicted, const char *wrong,
			    const char *not_closed)
{
	struct client c;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, GET_METRICS);
	expect_metrics(&c, "a newcomer at the cap is served: the longest waiting connection makes room");
	client_send(kept, GET_METRICS);
	struct reply r;
	int rc = client_response(kept, &r, 0, harness_wait_ms());
	reply_free(&r);
	if (rc != 1)
		fail_msg("%s", wrong);
	if (client_wait_eof(evicted, harness_wait_ms()) != 1)
		fail_msg("%s", not_closed);
	client_close(kept);
	client_close(evicted);
	client_close(&c);
	stop(s);
}

/*
 * A (answered twice) and B (answered once, between A's two) fill a cap of
 * 2. A newcomer must evict B: it has waited longest for its next request,
 * since its response. A was answered last, so it keeps its connection.
 */
static void test_server_evicts_the_connection_waiting_longest(void **state)
{
	(void)state;
	struct http_server *s = start_with_cap_of_2();
	struct client a, b;
	client_open_or_fail(&a, http_server_port(s));
	client_send(&a, GET_METRICS);
	expect_metrics(&a, "A's first request");
	client_open_or_fail(&b, http_server_port(s));
	client_send(&b, GET_METRICS);
	expect_metrics(&b, "B's request");
	client_send(&a, GET_METRICS);
	expect_metrics(&a, "A's second request");
	expect_eviction(s, &a, &b,
			"A, answered most recently, was evicted instead of B: when a response is all sent and the "
			"connection stays open, its wait for the next request starts then (c->waiting_since)",
			"B, idle since its response before A's second, was not closed to make room");
}

/*
 * A is accepted first and sends nothing; B is accepted and answered after
 * it; then A begins a head. At a cap of 2 a newcomer must evict A: its
 * wait began at accept, and a head begun does not restart it, or a client
 * could look young by sending its first byte late.
 */
static void test_server_evicts_a_connection_that_began_its_head_late(void **state)
{
	(void)state;
	struct http_server *s = start_with_cap_of_2();
	struct client a, b;
	client_open_or_fail(&a, http_server_port(s));
	client_open_or_fail(&b, http_server_port(s));
	client_send(&b, GET_METRICS);
	expect_metrics(&b, "B's request");
	/* The server read A's bytes before it accepts C: they are in A's
	 * socket before C connects, and the loop reads before it accepts. */
	client_send(&a, "GET /metrics HTTP/1.1\r\nHo");
	expect_eviction(s, &b, &a,
			"B, answered after A was accepted, was evicted instead of A, which began its head later: a "
			"head begun must not restart the wait (set waiting_since only when a response is all sent)",
			"A, waiting since it was accepted, was not closed to make room");
}

/* 8 MiB: more than the socket buffers hold, so the server is mid-write. */
#define BIG_BODY (8u << 20)

static char *render_big(void *arg, size_t *len)
{
	(void)arg;
	char *p = malloc(BIG_BODY + 1);
	if (p != NULL) {
		memset(p, 'x', BIG_BODY);
		p[BIG_BODY - 1] = '\n';
		p[BIG_BODY] = '\0';
		*len = BIG_BODY;
	}
	return p;
}

/* A HEAD /metrics on a new connection is answered 200; why says what it
 * means if not. */
static void expect_a_new_client_served(struct http_server *s, const char *why)
{
	struct client c;
	struct reply r;
	client_open_or_fail(&c, http_server_port(s));
	client_send(&c, "HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
	client_response_or_fail(&c, &r, 1, why);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	client_close(&c);
}

/* A server whose render is render_big, and a client with a small receive
 * buffer that has asked for it: the server's sends can only be partial. */
static struct http_server *start_big_request(struct client *c)
{
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_big);
	if (client_open(c, "127.0.0.1", http_server_port(s), 4096) != 0)
		fail_msg("cannot connect: %s", strerror(errno));
	client_send(c, GET_METRICS);
	return s;
}

static void test_server_serves_others_while_a_client_does_not_read(void **state)
{
	(void)state;
	/* 8 MiB for a client that reads none of it: the socket fills, and a
	 * send on a blocking socket would wait there for good. */
	struct client idle;
	struct http_server *s = start_big_request(&idle);
	harness_on_hang("a client waited for a response (the client has its own deadline)");
	expect_a_new_client_served(s, "a client that reads nothing of a large response must not hold up "
				      "another (is an accepted socket blocking? set O_NONBLOCK)");
	client_close(&idle);
	stop(s);
}

/*
 * The only slot of a cap of 1 is in the middle of a large response, which
 * no newcomer may cut: the second connection is told 503, with
 * Retry-After, and closed; the response goes on.
 */
static void test_server_answers_503_when_every_connection_is_being_answered(void **state)
{
	(void)state;
	struct http_server_config cfg = test_config();
	cfg.max_connections = 1;
	cfg.write_timeout_ms = 60000; /* the download stays stalled for the whole test */
	struct http_server *s = start_or_fail(&cfg, render_big);
	struct client busy, late;
	struct reply r;
	if (client_open(&busy, "127.0.0.1", http_server_port(s), 4096) != 0)
		fail_msg("cannot connect: %s", strerror(errno));
	client_send(&busy, GET_METRICS);
	client_response_or_fail(&busy, &r, 1, "the head of a large response");
	reply_free(&r);
	client_open_or_fail(&late, http_server_port(s));
	client_send(&late, GET_METRICS);
	client_response_or_fail(&late, &r, 1, "past the cap, with every slot answering, a newcomer is told 503");
	int status = r.status, retry = reply_has(&r, "Retry-After: 1");
	size_t length = reply_content_length(&r);
	reply_free(&r);
	if (status == 200) {
		/* The loop evicts no connection that is WRITING: the first one had
		 * left it before its response was all sent. */
		harness_see(L08 "#partial-reads-and-writes");
		fail_msg("connection max_connections + 1 was served (200) while the first was mid-response: the "
			 "first connection was no longer WRITING, so it could be evicted. Is a send that took "
			 "part of the response counted as all of it? (see test_server_sends_a_large_response_whole)");
	}
	if (status != 503)
		fail_msg("connection max_connections + 1 got %d while the first was mid-response; want 503", status);
	client_skip(&late, length, harness_wait_ms());
	if (!retry)
		fail_msg("the 503 lacks \"Retry-After: 1\"");
	if (client_wait_eof(&late, harness_wait_ms()) != 1)
		fail_msg("the connection stayed open after the 503");
	if (client_skip(&busy, 1u << 20, harness_wait_ms()) < (1u << 20))
		fail_msg("a response being written was cut when a newcomer arrived at the cap");
	client_close(&busy);
	client_close(&late);
	stop(s);
}

static void test_server_survives_a_client_leaving_mid_response(void **state)
{
	(void)state;
	/* The test runner ignores SIGPIPE; a server process does not, and
	 * neither does this test, alone in its process. */
	signal(SIGPIPE, SIG_DFL);
	printf("SIGPIPE is at its default action here, as in a server: killed by SIGPIPE "
	       "(Broken pipe) means a send without MSG_NOSIGNAL\n");
	struct client c;
	struct http_server *s = start_big_request(&c);
	struct reply r;
	client_response_or_fail(&c, &r, 1, "the head of a large response");
	reply_free(&r);
	/* Our FIN first, then a reset (a close with unread bytes): a reset
	 * that finds the server's side half closed makes its next send fail
	 * with EPIPE, which is what raises SIGPIPE. A reset alone would make
	 * that send fail with ECONNRESET, and no signal. */
	shutdown(c.fd, SHUT_WR);
	client_close(&c);
	harness_on_hang("after a client left mid-response the server stopped answering");
	expect_a_new_client_served(s, "the server must survive a client that leaves mid-response "
				      "(SIGPIPE? use MSG_NOSIGNAL; EPIPE closes that connection only)");
	stop(s);
}

static void test_server_sends_a_large_response_whole(void **state)
{
	(void)state;
	struct client c;
	struct http_server *s = start_big_request(&c);
	struct reply r;
	client_response_or_fail(&c, &r, 1, "the head of an 8 MiB response, which the server sends in pieces");
	size_t length = reply_content_length(&r);
	reply_free(&r);
	if (length != BIG_BODY)
		fail_msg("Content-Length is %zu, want the rendered %u bytes", length, BIG_BODY);
	char *body = malloc(BIG_BODY);
	assert_non_null(body);
	size_t got = client_read(&c, body, BIG_BODY, harness_wait_ms());
	/* render_big's body: 'x' up to a newline at the end. */
	size_t i = 0;
	while (i < got && body[i] == 'x')
		i++;
	int whole = got == BIG_BODY && i == BIG_BODY - 1 && body[i] == '\n';
	free(body);
	if (got < BIG_BODY)
		fail_msg("the body stopped after %zu of %u bytes: a send that took part of the response must "
			 "count only what it took (out_sent += what send returned) and leave the rest for the "
			 "next POLLOUT",
			 got, BIG_BODY);
	if (!whole)
		fail_msg("the body received differs from the one rendered at byte %zu of %u: after a "
			 "partial send, the next send must go on from where it stopped (out_sent)",
			 i, BIG_BODY);
	client_close(&c);
	stop(s);
}

static void test_server_stop_with_idle_connections_leaks_nothing(void **state)
{
	(void)state;
	int before = process_count_open_fds();
	struct http_server_config cfg = test_config();
	struct http_server *s = start_or_fail(&cfg, render_fixed);
	struct client c[3];
	for (int i = 0; i < 3; i++) {
		client_open_or_fail(&c[i], http_server_port(s));
		client_send(&c[i], GET_METRICS);
		expect_metrics(&c[i], "each client is served before the stop");
	}
	struct timespec start = clock_now();
	stop(s); /* the connections are idle with a 5 s deadline: stop must not wait for it */
	double took = clock_seconds_since(&start);
	for (int i = 0; i < 3; i++) {
		if (client_wait_eof(&c[i], harness_wait_ms()) != 1)
			fail_msg("a client's connection is still open after http_server_stop");
		client_close(&c[i]);
	}
	if (took > harness_bound_ms(1000) / 1000.0)
		fail_msg("http_server_stop took %.2f s (at most %.1f s) with idle connections open: wake the loop",
			 took, harness_bound_ms(1000) / 1000.0);
	int after = process_count_open_fds();
	if (after != before)
		fail_msg("%d descriptors open before start and %d after stop: something is not closed "
			 "(listening socket, wake pipe, a connection?)",
			 before, after);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_line_ends_at_lf_or_crlf, L08 "#parsing-a-request"),
	    HTEST(test_line_waits_for_an_end_not_yet_read, L08 "#parsing-a-request"),
	    HTEST(test_line_stray_cr_is_malformed, L08 "#parsing-a-request"),
	    HTEST(test_head_end_is_after_the_empty_line, L08 "#parsing-a-request"),
	    HTEST(test_head_end_skips_empty_lines_before_the_request_line, L08 "#parsing-a-request"),
	    HTEST(test_head_end_waits_for_the_empty_line, L08 "#parsing-a-request"),
	    HTEST(test_parse_version_speaks_1_0_and_1_1, L08 "#each-status-and-why-it-exists"),
	    HTEST(test_request_line_fills_method_path_and_minor, L08 "#parsing-a-request"),
	    HTEST(test_request_line_rejects_a_bad_method, L08 "#parsing-a-request"),
	    HTEST(test_request_line_rejects_bad_spacing_and_versions, L08 "#parsing-a-request"),
	    HTEST(test_content_length_is_digits_only, L08 "#parsing-a-request"),
	    HTEST(test_content_length_overflow_is_400, L08 "#parsing-a-request"),
	    HTEST(test_repeated_content_length_must_agree, L08 "#parsing-a-request"),
	    HTEST(test_header_reads_host_connection_and_content_length, L08 "#parsing-a-request"),
	    HTEST(test_header_rejects_what_would_confuse_the_server, L08 "#parsing-a-request"),
	    HTEST(test_parse_simple_get, L08 "#parsing-a-request"),
	    HTEST(test_parse_head_request, L08 "#parsing-a-request"),
	    HTEST(test_parse_accepts_bare_lf, L08 "#parsing-a-request"),
	    HTEST(test_parse_skips_empty_lines_before_the_request_line, L08 "#parsing-a-request"),
	    HTEST(test_parse_header_names_ignore_case, L08 "#parsing-a-request"),
	    HTEST(test_parse_keep_alive_follows_version_and_connection, L08 "#keep-alive-and-pipelining"),
	    HTEST(test_parse_strips_query_string, L08 "#parsing-a-request"),
	    HTEST(test_parse_missing_host_is_400_on_1_1_only, L08 "#each-status-and-why-it-exists"),
	    HTEST(test_parse_whitespace_before_colon_is_400, L08 "#parsing-a-request"),
	    HTEST(test_parse_folded_header_is_400, L08 "#parsing-a-request"),
	    HTEST(test_parse_bad_request_line_is_400, L08 "#parsing-a-request"),
	    HTEST(test_parse_other_versions_are_505, L08 "#each-status-and-why-it-exists"),
	    HTEST(test_parse_incomplete_head_returns_0_at_every_prefix, L08 "#parsing-a-request"),
	    HTEST(test_parse_head_over_limit_is_431, L08 "#parsing-a-request"),
	    HTEST(test_parse_pipelined_returns_only_the_first, L08 "#keep-alive-and-pipelining"),
	    HTEST(test_parse_reads_content_length, L08 "#parsing-a-request"),
	    HTEST(test_respond_metrics_is_200_with_type_and_length, L08 "#answering-a-request"),
	    HTEST(test_respond_head_has_same_headers_and_no_body, L08 "#answering-a-request"),
	    HTEST(test_respond_unknown_path_is_404, L08 "#answering-a-request"),
	    HTEST(test_respond_root_is_a_page_linking_metrics, L08 "#answering-a-request"),
	    HTEST(test_respond_post_is_405_with_allow, L08 "#each-status-and-why-it-exists"),
	    HTEST(test_respond_unknown_method_is_501, L08 "#each-status-and-why-it-exists"),
	    HTEST(test_respond_render_failure_is_500, L08 "#answering-a-request"),
	    HTEST(test_respond_says_close_when_not_keep_alive, L08 "#answering-a-request"),
	    HTEST(test_respond_error_has_status_close_and_body, L08 "#answering-a-request"),
	    HTEST(test_respond_503_says_when_to_retry, L08 "#each-status-and-why-it-exists"),
	    HTEST(test_server_serves_metrics, L08 "#the-connection-state-machine"),
	    HTEST(test_server_reads_a_request_sent_byte_by_byte, L08 "#the-connection-state-machine"),
	    HTEST(test_server_answers_pipelined_requests_in_order, L08 "#keep-alive-and-pipelining"),
	    HTEST(test_server_keeps_the_connection_for_three_requests, L08 "#keep-alive-and-pipelining"),
	    HTEST(test_server_closes_after_connection_close, L08 "#keep-alive-and-pipelining"),
	    HTEST(test_server_closes_the_connection_after_an_error, L08 "#answering-a-request"),
	    HTEST(test_server_skips_a_request_body, L08 "#the-connection-state-machine"),
	    HTEST(test_server_skips_a_body_of_exactly_http_max_head, L08 "#the-connection-state-machine"),
	    HTEST(test_server_refuses_a_body_too_big_to_skip, L08 "#the-connection-state-machine"),
	    HTEST(test_server_error_reaches_a_client_still_sending, L08 "#deadlines"),
	    HTEST(test_server_serves_others_while_a_client_stalls, L08 "#the-connection-state-machine"),
	    HTEST(test_server_serves_others_while_a_client_does_not_read,
		  L08 "#the-connection-state-machine"),
	    HTEST(test_server_answers_408_to_a_slow_head, L08 "#deadlines"),
	    HTEST(test_server_head_deadline_is_absolute, L08 "#deadlines"),
	    HTEST(test_server_answers_408_to_a_stalled_body, L08 "#deadlines"),
	    HTEST(test_server_closes_an_idle_connection, L08 "#deadlines"),
	    HTEST(test_server_keeps_an_answered_connection_for_idle_timeout, L08 "#deadlines"),
	    HTEST(test_server_sends_a_large_response_whole, L08 "#partial-reads-and-writes"),
	    HTEST(test_server_evicts_the_connection_waiting_longest, L08 "#the-connection-cap"),
	    HTEST(test_server_evicts_a_connection_that_began_its_head_late, L08 "#the-connection-cap"),
	    HTEST(test_server_answers_503_when_every_connection_is_being_answered, L08 "#the-connection-cap"),
	    HTEST(test_server_survives_a_client_leaving_mid_response, L08 "#partial-reads-and-writes"),
	    HTEST(test_server_stop_with_idle_connections_leaks_nothing, L08 "#the-connection-state-machine"),
	};
	return harness_main(argc, argv, "08-http", tests, HARNESS_COUNT(tests));
}
