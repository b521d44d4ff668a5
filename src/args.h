/*
 * args.h - reading numbers from the command line, for the step programs
 * and logpipe. strtoull alone is too lenient for that: it skips leading
 * spaces, takes a sign (" -1" becomes 18446744073709551615) and stops at
 * the first bad character without complaint. These take the whole text
 * or nothing.
 */
#ifndef ARGS_H
#define ARGS_H

/* Reads text as a whole decimal number from min to max into *out.
 * Returns 0, or -1 (and leaves *out alone) if text is anything else. */
int arg_whole(const char *text, unsigned long long min, unsigned long long max, unsigned long long *out);

/* Reads text as a decimal number ("2", "0.5", ".5", "1e3") from min to
 * max into *out. Returns 0, or -1 (and leaves *out alone) if it is not
 * one: no sign, no spaces, nothing after it, not NaN. */
int arg_decimal(const char *text, double min, double max, double *out);

/* Says on stderr, after "prog: ", what getopt_long's answer c found wrong
 * at argv[optind - 1]: a missing value (':', with ':' first in the
 * optstring) or an unknown option (anything else). */
void arg_getopt_error(const char *prog, int c, char **argv);

/* After the options: 0 if no argument is left (optind == argc); otherwise
 * says on stderr which one, after "prog: " and followed by " (hint)" when
 * hint is not NULL, and returns -1. */
int arg_none_left(const char *prog, int argc, char **argv, const char *hint);

/* After a getopt_long loop that set bad when an option or its value was
 * wrong: 0 if bad is 0 and no argument is left over (optind == argc);
 * otherwise says on stderr which argument was wrong, after "prog: ", and
 * returns -1. */
int arg_rest(const char *prog, int bad, int argc, char **argv);

#endif
