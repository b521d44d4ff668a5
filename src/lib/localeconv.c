/*
 * localeconv.c - the C library's localeconv, without its shared write.
 *
 * cJSON asks localeconv() for the decimal point before it parses each
 * number, and glibc's localeconv fills one static struct lconv, shared by
 * every thread, at every call: a call that looks like a read is a write
 * of two dozen fields. With two parser workers, that struct's cache line
 * went back and forth between their cores at every number of every line,
 * and the profile put cJSON's number parser at 8 % of the time, on the
 * instruction that reads the decimal point just written by the other
 * core (docs/benchmarks.md, "A write hidden in a read").
 *
 * Every program of the course defines localeconv here, so the dynamic
 * linker binds cJSON's calls (and any other) to this one instead of
 * glibc's. It gives the same answers: each thread has its own struct,
 * filled from nl_langinfo, which reads the locale the thread uses
 * (setlocale's, or its own after uselocale) without writing anything, and
 * filled again only when that locale changes (a new locale's data lives
 * elsewhere, so the pointers compared below move). POSIX lets a later
 * call overwrite the struct a call returned; here only the same thread's
 * later call does, which is what a thread can rely on with glibc's too.
 * Two limits, neither met by the course's programs (they never change
 * their locale): the struct lives as long as its thread, and a locale
 * freed with freelocale whose successor lands at the very same addresses
 * would be taken for unchanged.
 */
#define _GNU_SOURCE /* nl_langinfo's monetary items */
#include <langinfo.h>
#include <limits.h>
#include <locale.h>

/* A one-number field: the byte the locale holds, 0 a value like any
 * other; the locale's mark for "none", '\377', is reported as CHAR_MAX,
 * as the C standard asks and glibc does. */
static char small(nl_item item)
{
	char c = nl_langinfo(item)[0];
	return c == '\377' ? CHAR_MAX : c;
}

/* A grouping: "" where the locale says "no grouping" with a first byte
 * of CHAR_MAX or '\377', as glibc reports it. */
static char *grouping(nl_item item)
{
	char *g = nl_langinfo(item);
	return g[0] == '\177' || g[0] == '\377' ? "" : g;
}

static void fill(struct lconv *l)
{
	*l = (struct lconv){
	    .decimal_point = nl_langinfo(RADIXCHAR),
	    .thousands_sep = nl_langinfo(THOUSEP),
	    .grouping = grouping(GROUPING),
	    .int_curr_symbol = nl_langinfo(INT_CURR_SYMBOL),
	    .currency_symbol = nl_langinfo(CURRENCY_SYMBOL),
	    .mon_decimal_point = nl_langinfo(MON_DECIMAL_POINT),
	    .mon_thousands_sep = nl_langinfo(MON_THOUSANDS_SEP),
	    .mon_grouping = grouping(MON_GROUPING),
	    .positive_sign = nl_langinfo(POSITIVE_SIGN),
	    .negative_sign = nl_langinfo(NEGATIVE_SIGN),
	    .int_frac_digits = small(INT_FRAC_DIGITS),
	    .frac_digits = small(FRAC_DIGITS),
	    .p_cs_precedes = small(P_CS_PRECEDES),
	    .p_sep_by_space = small(P_SEP_BY_SPACE),
	    .n_cs_precedes = small(N_CS_PRECEDES),
	    .n_sep_by_space = small(N_SEP_BY_SPACE),
	    .p_sign_posn = small(P_SIGN_POSN),
	    .n_sign_posn = small(N_SIGN_POSN),
	    .int_p_cs_precedes = small(INT_P_CS_PRECEDES),
	    .int_p_sep_by_space = small(INT_P_SEP_BY_SPACE),
	    .int_n_cs_precedes = small(INT_N_CS_PRECEDES),
	    .int_n_sep_by_space = small(INT_N_SEP_BY_SPACE),
	    .int_p_sign_posn = small(INT_P_SIGN_POSN),
	    .int_n_sign_posn = small(INT_N_SIGN_POSN),
	};
}

struct lconv *localeconv(void)
{
	static _Thread_local struct lconv mine;
	/* The locale the thread uses (its own after uselocale, or the
	 * global one), and the numeric and monetary categories' data, named
	 * by where their strings are: the struct is up to date while all
	 * three are what they were when it was filled. */
	static _Thread_local locale_t used;
	static _Thread_local const char *numeric, *monetary;
	locale_t u = uselocale((locale_t)0);
	const char *n = nl_langinfo(RADIXCHAR), *m = nl_langinfo(INT_CURR_SYMBOL);
	if (u != used || n != numeric || m != monetary) {
		fill(&mine);
		used = u;
		numeric = n;
		monetary = m;
	}
	return &mine;
}
