/*
 * strbuf.h - a growable string: what every renderer and server in the
 * course writes into. The text is always NUL-terminated. After an
 * allocation failure the buffer stays as it was and `failed` is set, so a
 * writer can append freely and check once at the end.
 */
#ifndef STRBUF_H
#define STRBUF_H

#include <stddef.h>

struct strbuf {
	char *data; /* NUL-terminated (NULL until the first append) */
	size_t len;
	size_t cap;
	int failed; /* 1 after an allocation failed */
};

#define STRBUF_INIT {NULL, 0, 0, 0}

void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void strbuf_printf(struct strbuf *sb, const char *fmt, ...);

/* Hands the text over to the caller (who frees it) and empties sb; a
 * buffer nothing was appended to gives "" (not NULL). len may be NULL.
 * Returns NULL only if an allocation failed along the way. */
char *strbuf_take(struct strbuf *sb, size_t *len);

/* Frees the text and leaves sb as STRBUF_INIT made it, failed cleared:
 * the same buffer can be appended to again. This is also how a buffer is
 * emptied between two texts; there is no separate clear. */
void strbuf_free(struct strbuf *sb);

#endif
