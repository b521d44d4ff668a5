/*
 * The course's localeconv (src/lib/localeconv.c): every program defines
 * it, so cJSON's calls reach it instead of glibc's, which writes one
 * struct shared by all threads at every call. It must give the C
 * library's answers, in every locale, and each thread its own struct. Not
 * part of any lesson's grade, since the learner does not write it: `make
 * check` runs this suite against the reference, plain, under
 * ThreadSanitizer and AddressSanitizer. Each test runs in a process of its
 * own (the harness forks), so the locales it sets stay its own.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEE "docs/benchmarks.md#a-write-hidden-in-a-read"

/* glibc's setlocale and newlocale keep a list of the directories LOCPATH
 * names (43 bytes here) that they never free, which LeakSanitizer reports
 * as a leak of this test's: not ours to free, so not looked at. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define GLIBC_KEEPS(call) (__lsan_disable(), (call), __lsan_enable())
#else
#define GLIBC_KEEPS(call) (call)
#endif

static char *set_locale(int category, const char *name)
{
	char *got;
	GLIBC_KEEPS(got = setlocale(category, name));
	return got;
}

typedef struct lconv *(*lconv_fn)(void);

/* glibc's own localeconv, the one this program's hides. */
static void *libc_symbol(void)
{
	void *p = dlsym(RTLD_NEXT, "localeconv");
	if (p == NULL)
		fail_msg("dlsym(RTLD_NEXT, \"localeconv\") found no C library's localeconv: %s", dlerror());
	return p;
}

static lconv_fn libc_localeconv(void)
{
	void *p = libc_symbol();
	lconv_fn f;
	memcpy(&f, &p, sizeof(f)); /* POSIX's way from dlsym's void * to a function */
	return f;
}

#define SAME_TEXT(field)                                                                                \
	if (strcmp(ours.field, theirs->field) != 0)                                                     \
	fail_msg("in locale %s, localeconv()->" #field " is \"%s\", the C library's \"%s\"", where, \
		 ours.field, theirs->field)
#define SAME_CHAR(field)                                                                              \
	if (ours.field != theirs->field)                                                              \
	fail_msg("in locale %s, localeconv()->" #field " is %d, the C library's %d", where, ours.field, \
		 theirs->field)

/* Every field of ours against glibc's, in the locale the thread uses now. */
static void compare_with_libc(const char *where)
{
	struct lconv ours = *localeconv(); /* a copy: glibc's call must not change it */
	struct lconv *theirs = libc_localeconv()();
	SAME_TEXT(decimal_point);
	SAME_TEXT(thousands_sep);
	SAME_TEXT(grouping);
	SAME_TEXT(int_curr_symbol);
	SAME_TEXT(currency_symbol);
	SAME_TEXT(mon_decimal_point);
	SAME_TEXT(mon_thousands_sep);
	SAME_TEXT(mon_grouping);
	SAME_TEXT(positive_sign);
	SAME_TEXT(negative_sign);
	SAME_CHAR(int_frac_digits);
	SAME_CHAR(frac_digits);
	SAME_CHAR(p_cs_precedes);
	SAME_CHAR(p_sep_by_space);
	SAME_CHAR(n_cs_precedes);
	SAME_CHAR(n_sep_by_space);
	SAME_CHAR(p_sign_posn);
	SAME_CHAR(n_sign_posn);
	SAME_CHAR(int_p_cs_precedes);
	SAME_CHAR(int_p_sep_by_space);
	SAME_CHAR(int_n_cs_precedes);
	SAME_CHAR(int_n_sep_by_space);
	SAME_CHAR(int_p_sign_posn);
	SAME_CHAR(int_n_sign_posn);
}

/*
 * A locale whose numbers and money differ from C's, German, compiled into
 * a directory of the test's own with localedef (Debian's `locales`
 * package has the sources; nothing is downloaded) and found through
 * LOCPATH. Skips where localedef or the sources are missing.
 */
static char dir[PATH_MAX];

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

static void remove_dir(void)
{
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void make_german(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/logpipe-locale-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp(%s): %s", dir, strerror(errno));
	harness_at_end(remove_dir);
	char out[PATH_MAX + 32];
	snprintf(out, sizeof(out), "%s/de_DE.UTF-8", dir);
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execlp("localedef", "localedef", "-i", "de_DE", "-f", "UTF-8", out, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	/* localedef exits 1 for warnings, with the locale written all the same */
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) > 1 ||
	    access(out, F_OK) != 0) {
		fprintf(stderr, "# skipped: localedef could not make de_DE.UTF-8 (Debian: apt-get install "
				"locales): the change of locale is not checked here\n");
		skip();
	}
	setenv("LOCPATH", dir, 1);
}

static void test_the_answers_are_the_c_librarys_in_c_and_c_utf8(void **state)
{
	(void)state;
	compare_with_libc("C (the default)");
	if (setlocale(LC_ALL, "C.UTF-8") != NULL)
		compare_with_libc("C.UTF-8");
	setlocale(LC_ALL, "POSIX");
	compare_with_libc("POSIX");
}

static void test_a_change_of_locale_is_seen_by_setlocale_and_uselocale(void **state)
{
	(void)state;
	make_german();
	assert_string_equal(localeconv()->decimal_point, ".");
	if (set_locale(LC_ALL, "de_DE.UTF-8") == NULL)
		fail_msg("setlocale could not load the de_DE.UTF-8 that localedef made");
	if (strcmp(localeconv()->decimal_point, ",") != 0)
		fail_msg("after setlocale(LC_ALL, \"de_DE.UTF-8\") localeconv()->decimal_point is \"%s\": the "
			 "struct was not filled again when the locale changed",
			 localeconv()->decimal_point);
	compare_with_libc("de_DE.UTF-8 (setlocale)");
	/* Only the monetary category back to C: the numeric one stays German. */
	set_locale(LC_MONETARY, "C");
	compare_with_libc("de_DE.UTF-8 with LC_MONETARY C");
	set_locale(LC_ALL, "C");
	compare_with_libc("C again");
	locale_t german;
	GLIBC_KEEPS(german = newlocale(LC_ALL_MASK, "de_DE.UTF-8", (locale_t)0));
	assert_non_null(german);
	locale_t before = uselocale(german);
	compare_with_libc("de_DE.UTF-8 (uselocale, this thread only)");
	uselocale(before);
	assert_string_equal(localeconv()->decimal_point, ".");
	freelocale(german);
}

static void *ask(void *unused)
{
	(void)unused;
	return localeconv();
}

static void test_each_thread_has_a_struct_of_its_own(void **state)
{
	(void)state;
	if (dlsym(RTLD_DEFAULT, "localeconv") == libc_symbol())
		fail_msg("localeconv in this program is the C library's: src/lib/localeconv.c was not "
			 "linked in, and cJSON's calls write one struct shared by every thread");
	pthread_t other;
	void *theirs = NULL;
	assert_int_equal(pthread_create(&other, NULL, ask, NULL), 0);
	pthread_join(other, &theirs);
	if (theirs == (void *)localeconv())
		fail_msg("two threads got the same struct lconv from localeconv: each call writes it, so "
			 "two parsing threads would share its cache line");
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_the_answers_are_the_c_librarys_in_c_and_c_utf8, SEE),
	    HTEST(test_a_change_of_locale_is_seen_by_setlocale_and_uselocale, SEE),
	    HTEST(test_each_thread_has_a_struct_of_its_own, SEE),
	};
	return harness_main(argc, argv, "hardening-localeconv", tests, HARNESS_COUNT(tests));
}
