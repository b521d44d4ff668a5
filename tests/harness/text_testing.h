/*
 * text_testing.h - helpers for tests that read text: an exposition (what
 * /metrics returns) or a file they write.
 */
#ifndef TEXT_TESTING_H
#define TEXT_TESTING_H

#include <string.h>

/*
 * s as a C string literal, in double quotes, for failure messages: a
 * backslash, a quote, CR, LF, tab and every other byte outside printable
 * ASCII are written as escapes, so two strings that differ never look the
 * same ("two\\nlines" is a backslash and an n; "two\nlines" a newline).
 * NULL gives NULL. Long strings are cut, with "..." after the quote. The
 * result lives in one of a few rotating buffers: use it in one message.
 */
const char *quoted(const char *s);

/* Fails the test, showing both strings quoted(), unless got equals want. */
#define assert_str_equal(got, want)                                                                    \
	do {                                                                                           \
		const char *got_ = (got), *want_ = (want);                                             \
		if (got_ == NULL || want_ == NULL || strcmp(got_, want_) != 0)                         \
			fail_msg("%s is %s, expected %s", #got, quoted(got_), quoted(want_));          \
	} while (0)

/* 1 if text has a line exactly equal to line (without its newline). */
int text_has_line(const char *text, const char *line);

/* The value of the sample whose name and labels are exactly series (the
 * line "series VALUE"), or -1 if text has no such line. */
double text_sample(const char *text, const char *series);

/* Writes all of text to fd, or fails the test. */
void write_all_or_fail(int fd, const char *text);

#endif
