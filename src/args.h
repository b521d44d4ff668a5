/*
 * args.h - the command line of every program: the step programs, logpipe
 * and the benchmarks. A program declares its options once, in a table;
 * the usage text, the parsing and the one-line reasons for a bad argument
 * all come from that table, so every program answers --help and a mistake
 * alike.
 *
 * Numbers are read strictly. strtoull alone is too lenient: it skips
 * leading spaces, takes a sign (" -1" becomes 18446744073709551615) and
 * stops at the first bad character without complaint. These take the
 * whole text or nothing.
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

/* What an option takes, and the type of its destination. */
enum arg_kind {
	ARG_FLAG,    /* no value; int: set to 1 */
	ARG_TEXT,    /* const char *: the text itself */
	ARG_WHOLE,   /* unsigned long long: arg_whole from lo to hi */
	ARG_DECIMAL, /* double: arg_decimal from lo to hi */
	ARG_CUSTOM,  /* whatever take writes: take returns 0, or -1 if the text is wrong */
	ARG_LIST,    /* const char *[hi + 1], all NULL at first: each use of the option
			adds its text after the others (the list stays NULL-terminated);
			a use beyond hi is a bad value */
};

/* hi for "no upper limit" (ARG_WHOLE reads it as ULLONG_MAX). */
#define ARG_NO_MAX 1e300

/* One option: --name (and -letter, unless letter is 0). */
struct arg_option {
	const char *name;
	char letter;
	enum arg_kind kind;
	void *dest;
	const char *value; /* the value's name in the usage ("PATH"); NULL for a flag */
	const char *help;  /* its line in the usage; a '\n' starts an indented line */
	double lo, hi;	   /* ARG_WHOLE and ARG_DECIMAL: the range; ARG_LIST: 0 and its room */
	const char *wants; /* the reason given for a bad value ("--x wants WANTS, not '...'");
			      NULL: said from the range */
	int (*take)(const char *text, void *dest); /* ARG_CUSTOM */
};

/* The entries of a table, one per kind, and its end. */
#define ARG_FLAG_OPT(name, letter, dest, help)                                                               \
	{                                                                                                    \
		name, letter, ARG_FLAG, dest, NULL, help, 0, 0, NULL, NULL                                   \
	}
#define ARG_TEXT_OPT(name, letter, dest, value, help)                                                        \
	{                                                                                                    \
		name, letter, ARG_TEXT, dest, value, help, 0, 0, NULL, NULL                                  \
	}
#define ARG_WHOLE_OPT(name, letter, dest, value, help, lo, hi)                                               \
	{                                                                                                    \
		name, letter, ARG_WHOLE, dest, value, help, lo, hi, NULL, NULL                               \
	}
#define ARG_DECIMAL_OPT(name, letter, dest, value, help, lo, hi)                                             \
	{                                                                                                    \
		name, letter, ARG_DECIMAL, dest, value, help, lo, hi, NULL, NULL                             \
	}
#define ARG_CUSTOM_OPT(name, letter, dest, value, help, take, wants)                                         \
	{                                                                                                    \
		name, letter, ARG_CUSTOM, dest, value, help, 0, 0, wants, take                               \
	}
#define ARG_LIST_OPT(name, letter, dest, value, help, max)                                                   \
	{                                                                                                    \
		name, letter, ARG_LIST, dest, value, help, 0, max, NULL, NULL                                \
	}
#define ARG_END                                                                                              \
	{                                                                                                    \
		NULL, 0, ARG_FLAG, NULL, NULL, NULL, 0, 0, NULL, NULL                                        \
	}

/* A number's macro as text, for a help line: ARG_STR(PIPELINE_DEFAULT_CAPACITY). */
#define ARG_STR_(x) #x
#define ARG_STR(x)  ARG_STR_(x)

/* A program's command line: its name, the synopsis after "usage: NAME "
 * (each '\n' starts another "       NAME " line; NULL: each option of the
 * table in brackets), what it does, and its options, ended by an entry
 * whose name is NULL. --help is added. */
struct arg_program {
	const char *name;
	const char *synopsis;
	const char *about;
	const struct arg_option *options;
};

/* Parses argv by p's table into the destinations (which hold the
 * defaults). Returns -1 when the program should go on; otherwise the
 * status to exit with: 0 after --help printed the usage on stdout, 2
 * after a bad argument was named on stderr, followed by the usage. No
 * argument may be left over. */
int args_parse(const struct arg_program *p, int argc, char **argv);

/* Prints p's usage to stderr, after "NAME: why" when why is not NULL,
 * and returns 2: for a check across options, after args_parse. */
int args_bad(const struct arg_program *p, const char *why);

#endif
