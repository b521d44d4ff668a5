/*
 * text_testing.h - helpers for tests that read text: an exposition (what
 * /metrics returns) or a file they write.
 */
#ifndef TEXT_TESTING_H
#define TEXT_TESTING_H

/* 1 if text has a line exactly equal to line (without its newline). */
int text_has_line(const char *text, const char *line);

/* The value of the sample whose name and labels are exactly series (the
 * line "series VALUE"), or -1 if text has no such line. */
double text_sample(const char *text, const char *series);

/* Writes all of text to fd, or fails the test. */
void write_all_or_fail(int fd, const char *text);

#endif
