/*
 * fuzz_http_request.c - libFuzzer target for http_parse_request (src/http.h).
 *
 * Arbitrary bytes go to the parser; every property below is the contract's
 * word, and a violation traps (libFuzzer saves the input):
 *   - the result is 0, -400, -431, -505, or a length n with
 *     0 < n <= len and n <= HTTP_MAX_HEAD;
 *   - on success: method non-empty and NUL-terminated in its field, path
 *     NUL-terminated in its field and starting with '/' (or exactly "*"),
 *     minor 0 or 1, has_host set for HTTP/1.1, keep_alive 0 or 1;
 *   - the parser keeps no state and looks only at buf[0..n): parsing
 *     exactly the head again gives the same n and the same request;
 *   - incremental parsing: every shorter prefix of a complete head is
 *     "not complete yet" (0), and every prefix of an incomplete input is
 *     incomplete too. Each prefix is copied to a buffer of its exact size,
 *     so a read past len is an ASan error. At most ~50 prefixes per input
 *     (the last 16 bytes before the end, where the blank line is, and 32
 *     spread over the rest) keep the work per input bounded.
 */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond))                                                                                 \
			__builtin_trap();                                                                    \
	} while (0)

/* Parses buf[0..len) from a copy of exactly len bytes, into a request
 * filled with garbage first, so that a field the parser forgets to set is
 * not silently zero. */
static long parse_copy(const uint8_t *data, size_t len, struct http_request *req)
{
	char *copy = malloc(len > 0 ? len : 1);
	CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, data, len);
	memset(req, 0xA5, sizeof(*req));
	long rc = http_parse_request(copy, len, req);
	free(copy);
	return rc;
}

static void check_result(long rc, size_t len, const struct http_request *req)
{
	if (rc <= 0) {
		CHECK(rc == 0 || rc == -400 || rc == -431 || rc == -505);
		return;
	}
	CHECK((size_t)rc <= len);
	CHECK(rc <= HTTP_MAX_HEAD);

	const char *nul = memchr(req->method, '\0', sizeof(req->method));
	CHECK(nul != NULL);
	CHECK(nul != req->method); /* non-empty */

	nul = memchr(req->path, '\0', sizeof(req->path));
	CHECK(nul != NULL);
	CHECK(req->path[0] == '/' || strcmp(req->path, "*") == 0);

	CHECK(req->minor == 0 || req->minor == 1);
	CHECK(req->minor == 0 || req->has_host == 1);
	CHECK(req->has_host == 0 || req->has_host == 1);
	CHECK(req->keep_alive == 0 || req->keep_alive == 1);
}

static int same_request(const struct http_request *a, const struct http_request *b)
{
	return strcmp(a->method, b->method) == 0 && strcmp(a->path, b->path) == 0 && a->minor == b->minor &&
	       a->has_host == b->has_host && a->keep_alive == b->keep_alive &&
	       a->content_length == b->content_length;
}

/* The prefix lengths to try below `limit`: the last 16, and 32 spread out. */
static void check_prefixes(const uint8_t *data, size_t limit)
{
	struct http_request req;
	size_t tail = limit < 16 ? limit : 16;
	for (size_t k = limit - tail; k < limit; k++)
		CHECK(parse_copy(data, k, &req) == 0);
	if (limit > 16) {
		for (size_t i = 0; i < 32; i++) {
			size_t k = (limit - 16) * i / 32;
			CHECK(parse_copy(data, k, &req) == 0);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	long rc = parse_copy(data, size, &req);
	check_result(rc, size, &req);

	if (rc > 0) {
		/* The head alone is the same request, and nothing before its end
		 * is a complete head. */
		struct http_request again;
		CHECK(parse_copy(data, (size_t)rc, &again) == rc);
		CHECK(same_request(&req, &again));
		check_prefixes(data, (size_t)rc);
	} else if (rc == 0) {
		/* Not complete yet: neither is any part of it. */
		check_prefixes(data, size);
	}
	return 0;
}
