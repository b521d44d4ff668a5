/*
 * fuzz_label_escape.c - libFuzzer target for metrics_escape_label_value
 * (src/metrics.h): a round trip.
 *
 * The input is taken as a C string (up to its first NUL) and escaped. The
 * escaped text must be strict UTF-8, hold no raw newline and no unescaped
 * quote, and use only the escapes \\, \" and \n (any other backslash
 * sequence, or a backslash at the end, is a bug). Unescaping it must give
 * back the input with each maximal invalid UTF-8 subsequence replaced by
 * U+FFFD (Unicode's "maximal subpart" practice, chapter 3); for an input
 * that is valid UTF-8, exactly the input.
 *
 * The expected text is computed here without the reference's table: a
 * sequence is valid when it decodes to a code point that is not overlong,
 * not a surrogate and at most U+10FFFF; a maximal subpart is the longest
 * start of the bytes that some valid sequence begins with (found by trying
 * to complete it).
 */
#include "metrics.h"
#include "strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond))                                                                                 \
			__builtin_trap();                                                                    \
	} while (0)

/* The length of the valid UTF-8 sequence at s[0..n) (1 to 4), or 0. By
 * decoding: the lead byte gives the length, every other byte must be
 * 10xxxxxx, and the code point must need that length (no overlong form),
 * not be a surrogate and not exceed U+10FFFF. */
static size_t utf8_valid_at(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0) {
		len = 2;
		cp = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		cp = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0; /* a continuation byte, or F8..FF */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Whether s[0..k) is the start of some valid sequence: complete it with
 * continuation bytes and ask the decoder. Only the second byte's value
 * matters to validity (it settles overlong forms, surrogates and the top),
 * so 80, 90 and A0 - one from each range a rule splits - stand for all. */
static int utf8_valid_start(const unsigned char *s, size_t k)
{
	static const unsigned char second[3] = {0x80, 0x90, 0xA0};
	for (size_t total = k > 1 ? k : 1; total <= 4; total++) {
		for (int j = 0; j < 3; j++) {
			unsigned char buf[4];
			memcpy(buf, s, k);
			for (size_t i = k; i < total; i++)
				buf[i] = i == 1 ? second[j] : 0x80;
			if (utf8_valid_at(buf, total) == total)
				return 1;
		}
	}
	return 0;
}

/* Strict validation of a whole buffer. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t len = utf8_valid_at(s + i, n - i);
		if (len == 0)
			return 0;
		i += len;
	}
	return 1;
}

/* The input with every maximal invalid subsequence replaced by U+FFFD. */
static size_t expected_text(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t i = 0, o = 0;
	while (i < n) {
		size_t len = utf8_valid_at(s + i, n - i);
		if (len > 0) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
			continue;
		}
		size_t bad = 1;
		for (size_t k = 3; k > 1; k--) {
			if (i + k <= n && utf8_valid_start(s + i, k)) {
				bad = k;
				break;
			}
		}
		memcpy(out + o, "\xEF\xBF\xBD", 3);
		o += 3;
		i += bad;
	}
	return o;
}

/* Undoes \\, \" and \n; traps on a raw newline, a raw quote, another
 * escape or a lone backslash at the end. */
static size_t unescape(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(s[i] != '\n');
		CHECK(s[i] != '"');
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		CHECK(i + 1 < n);
		i++;
		if (s[i] == '\\')
			out[o++] = '\\';
		else if (s[i] == '"')
			out[o++] = '"';
		else if (s[i] == 'n')
			out[o++] = '\n';
		else
			CHECK(0);
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	CHECK(value != NULL);
	if (size > 0)
		memcpy(value, data, size);
	value[size] = '\0';
	size_t n = strlen(value);
	const unsigned char *in = (const unsigned char *)value;

	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "x"); /* the escaper appends: start from something */
	metrics_escape_label_value(&sb, value);
	CHECK(!sb.failed);
	CHECK(sb.data != NULL && sb.data[0] == 'x');
	CHECK(sb.data[sb.len] == '\0');
	const unsigned char *esc = (const unsigned char *)sb.data + 1;
	size_t esc_len = sb.len - 1;
	CHECK(memchr(esc, '\0', esc_len) == NULL);
	CHECK(utf8_valid(esc, esc_len));

	/* Each input byte becomes at most 3 (U+FFFD), and each escape 2. */
	CHECK(esc_len <= 3 * n);
	unsigned char *back = malloc(esc_len + 1);
	unsigned char *want = malloc(3 * n + 1);
	CHECK(back != NULL && want != NULL);
	size_t back_len = unescape(esc, esc_len, back);
	size_t want_len = expected_text(in, n, want);
	CHECK(back_len == want_len);
	CHECK(memcmp(back, want, back_len) == 0);
	if (utf8_valid(in, n)) {
		CHECK(back_len == n);
		CHECK(memcmp(back, in, n) == 0);
	}

	free(back);
	free(want);
	strbuf_free(&sb);
	free(value);
	return 0;
}
