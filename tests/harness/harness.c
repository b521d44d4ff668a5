/*
 * harness.c - see harness.h. The parent process never runs test code: it
 * forks a child per test, collects the child's output through a pipe, and
 * classifies how the child ended.
 */
#include "harness.h"
#include "clock.h"
#include "interpose.h"
#include "notimpl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define HARNESS_OUTPUT_MAX   (64 * 1024)
#define HARNESS_REPORT_MAX   4096
#define HARNESS_DETAIL_LINES 30
#define HUNG_EXIT	     124

/* ---- the child's side ---------------------------------------------------- */

static const struct harness_test *current_test;
static const char *volatile hang_hint = "the test did not finish: something is blocked";

void harness_on_hang(const char *hint)
{
	hang_hint = hint;
}

void harness_see(const char *section)
{
	printf("SEE: %s\n", section);
}

static void write_str(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* What the test asked to run at its end (harness_at_end). Only the
 * test's own thread adds to it and runs it. */
static void (*at_end[HARNESS_MAX_AT_END])(void);
static int n_at_end;

void harness_at_end(void (*fn)(void))
{
	if (n_at_end == HARNESS_MAX_AT_END)
		fail_msg("harness_at_end: more than %d functions", HARNESS_MAX_AT_END);
	at_end[n_at_end++] = fn;
}

static void run_at_end(void)
{
	while (n_at_end > 0)
		at_end[--n_at_end]();
}

/* Runs in whatever thread the signal lands on; only async-signal-safe calls. */
static void on_alarm(int sig)
{
	(void)sig;
	write_str("\nHUNG: ");
	write_str(hang_hint);
	write_str("\n");
	_exit(HUNG_EXIT);
}

/* cmocka catches SIGSEGV and friends and longjmps back into the test. That
 * is only safe on the test's own thread, and it hides crashes in worker
 * threads. Each test therefore runs with the default actions restored: a
 * crash ends the child and the parent reports it. */
static void run_current(void **state)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	current_test->fn(state);
}

/* A test's deadline when HARNESS_TIMEOUT does not say (grade.sh's plain
 * build sets the same). */
#define DEFAULT_DEADLINE_S 5

static long deadline_seconds(void)
{
	const char *s = getenv("HARNESS_TIMEOUT");
	long t = s != NULL ? strtol(s, NULL, 10) : 0;
	return t > 0 ? t : DEFAULT_DEADLINE_S;
}

long harness_scale_capped(long n, long perturbed_max)
{
	const char *s = getenv("HARNESS_SCALE");
	long pct = s != NULL ? strtol(s, NULL, 10) : 100;
	if (pct <= 0)
		pct = 100;
	long scaled = n / 100 * pct + n % 100 * pct / 100;
	/* A perturbed run (interpose.h) looks for an unlucky order, not for
	 * volume, and its sleeps make every operation slower. */
	if (harness_seed() != 0 && scaled > perturbed_max)
		scaled = perturbed_max;
	return scaled > 0 ? scaled : 1;
}

long harness_scale(long n)
{
	return harness_scale_capped(n, HARNESS_PERTURBED_MAX);
}

long harness_bound_ms(long ms)
{
	return ms * deadline_seconds() / DEFAULT_DEADLINE_S;
}

long harness_wait_ms(void)
{
	return deadline_seconds() * 1000 * 3 / 5;
}

/* A test that passed fails after all if the code it ran destroyed a mutex
 * or condition variable that was not initialised (interpose.h): a test
 * of a lesson may ask first, with a message of its own. 1 if it failed. */
static int check_destroys(void)
{
	const char *call = NULL;
	long n = harness_bad_destroys(&call);
	if (n == 0)
		return 0;
	printf("ERROR: %ld destroy(s) of a mutex or condition variable never initialised, or destroyed "
	       "already (the first by %s): something was freed that was never made, or freed twice. glibc "
	       "lets it pass; POSIX does not. Free only what was made (the header of a half-made object, "
	       "as a failed start leaves it, says how to tell which of its parts exist)\n",
	       n, call);
	fflush(stdout);
	return 1;
}

static _Noreturn void child_run(const struct harness_test *t, int out_fd)
{
	dup2(out_fd, STDOUT_FILENO);
	dup2(out_fd, STDERR_FILENO);
	close(out_fd);
	setvbuf(stdout, NULL, _IONBF, 0);
	current_test = t;
	/* The parent keeps the deadline: past it, it looks at where each thread
	 * waits (hang_report), then sends SIGALRM. */
	signal(SIGALRM, on_alarm);
#if defined(__linux__) && defined(PR_SET_PTRACER)
	/* Where ptrace is restricted to ancestors (Yama), let the parent's gdb in. */
	prctl(PR_SET_PTRACER, (unsigned long)getppid(), 0, 0, 0);
#endif
	const struct CMUnitTest one[] = {{t->name, run_current, NULL, NULL, NULL}};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	int failed = _cmocka_run_group_tests(t->name, one, 1, NULL, NULL);
	fflush(NULL);
	if (!failed)
		failed = check_destroys();
	run_at_end();
	/* A failed test may have left threads running on its stack, which is
	 * gone: leave at once (atexit handlers do not run: harness_at_end is
	 * the way to clean up). A passed one leaves with exit, not _exit, so
	 * that LeakSanitizer and valgrind check for leaks. */
	if (failed)
		_exit(1);
	exit(0);
}

/* ---- the parent's side ---------------------------------------------------- */

enum verdict { PASS, FAIL, HUNG, CRASH, NOTIMPL };
static const char *const verdict_name[] = {"PASS", "FAIL", "HUNG", "CRASH", "NOTIMPL"};

struct outcome {
	enum verdict verdict;
	/* As long as the line it comes from: a hang's advice is read whole. */
	char reason[HARNESS_OUTPUT_MAX];
	char out[HARNESS_OUTPUT_MAX];
	size_t len;
	char report[HARNESS_REPORT_MAX]; /* where a hung test's threads wait */
	size_t report_len;
};

/* Appends n bytes to buf (always NUL-terminated). When they do not fit,
 * bytes from the middle make room: the first half of the output holds the
 * first failure, and its last lines say why a hung test was stopped. */
static void keep(char *buf, size_t size, size_t *len, const char *bytes, size_t n)
{
	size_t half = (size - 1) / 2;
	if (n > size - 1 - half) { /* more than the tail holds: its end only */
		bytes += n - (size - 1 - half);
		n = size - 1 - half;
	}
	if (*len + n > size - 1) {
		size_t drop = *len + n - (size - 1);
		memmove(buf + half, buf + half + drop, *len - half - drop);
		*len -= drop;
	}
	memcpy(buf + *len, bytes, n);
	*len += n;
	buf[*len] = '\0';
}

/* Reads fd into buf (at most size - 1 bytes kept, its start and its end:
 * see keep) until it is closed or time runs out. Returns 0 on EOF, -1 if
 * the deadline passed. */
static int collect(int fd, char *buf, size_t size, size_t *len, const struct timespec *deadline)
{
	char scratch[4096];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long left = deadline_ms_left(deadline);
		if (left <= 0)
			return -1;
		int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		keep(buf, size, len, scratch, (size_t)n);
	}
}

static int collect_output(int fd, struct outcome *o, const struct timespec *deadline)
{
	return collect(fd, o->out, sizeof(o->out), &o->len, deadline);
}

/* ---- the report of a hung test --------------------------------------------- */

static const char *hung_script(void)
{
	const char *s = getenv("HARNESS_HUNG_SCRIPT");
	return s != NULL && *s != '\0' ? s : "tests/harness/hung.py";
}

/* How much of gdb's output from start is the report: up to the line where
 * gdb says it detached, if it does. */
static size_t report_length(const char *start)
{
	const char *end = strstr(start, "\n[Inferior ");
	return end != NULL ? (size_t)(end - start) + 1 : strlen(start);
}

/* Whether the n bytes of report at start hold anything below their
 * heading. A heading alone (every thread outside the learner's files and
 * the tests, or gone by the time gdb looked) says nothing, and is left
 * out of the verdict. */
static int has_lines_below(const char *start, size_t n)
{
	size_t i = strcspn(start, "\n");
	for (; i < n; i++)
		if (start[i] != '\n' && start[i] != ' ' && start[i] != '\t')
			return 1;
	return 0;
}

/* Runs gdb on the hung child (tests/harness/hung.py says what it prints)
 * and keeps its output in o->report, from the report's first line on:
 * what gdb says while attaching is noise here. */
static void run_gdb(pid_t pid, struct outcome *o)
{
	int fds[2];
	if (pipe(fds) != 0)
		return;
	fflush(NULL);
	pid_t g = fork();
	if (g < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (g == 0) {
		char pidstr[32];
		snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp("gdb", "gdb", "-p", pidstr, "-batch", "-nx", "-q", "-x", hung_script(), (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	static char raw[64 * 1024];
	size_t len = 0;
	struct timespec deadline = deadline_after_ms(30000);
	if (collect(fds[0], raw, sizeof(raw), &len, &deadline) != 0)
		kill(g, SIGKILL);
	close(fds[0]);
	int status = 0;
	while (waitpid(g, &status, 0) < 0 && errno == EINTR)
		;
	const char *start = strstr(raw, "where each thread waits");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(o->report, sizeof(o->report),
			 "(no report of where each thread waits: gdb is not installed; 'make deps' "
			 "installs it)\n");
	else if (start == NULL)
		snprintf(o->report, sizeof(o->report),
			 "(no report of where each thread waits: gdb could not look: %.*s)\n",
			 (int)strcspn(raw, "\n"), raw);
	else if (has_lines_below(start, report_length(start)))
		/* up to gdb's own "[Inferior 1 (process N) detached]"; a line of
		 * source in the report may hold a '[' of its own */
		snprintf(o->report, sizeof(o->report), "%.*s", (int)report_length(start), start);
	o->report_len = strlen(o->report);
}

/* Before a test past its deadline is stopped: where does each thread wait?
 * HARNESS_HUNG_REPORT=0 skips it (a run that only needs the verdict). */
static void hang_report(pid_t pid, struct outcome *o)
{
	const char *want = getenv("HARNESS_HUNG_REPORT");
	if (want != NULL && strcmp(want, "0") == 0)
		return;
	if (access(hung_script(), R_OK) != 0) {
		snprintf(o->report, sizeof(o->report),
			 "(no report of where each thread waits: %s not found; run from the course's "
			 "directory)\n",
			 hung_script());
		return;
	}
	run_gdb(pid, o);
}

/* The start of the line of the output that holds the byte at p. */
static const char *line_of(const struct outcome *o, const char *p)
{
	while (p > o->out && p[-1] != '\n')
		p--;
	return p;
}

static void copy_line(const char *line, char *reason, size_t size)
{
	size_t n = strcspn(line, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(reason, line, n);
	reason[n] = '\0';
}

/* The first line of the output that contains needle, copied into reason. */
static int find_line(const struct outcome *o, const char *needle, char *reason, size_t size)
{
	const char *hit = strstr(o->out, needle);
	if (hit != NULL)
		copy_line(line_of(o, hit), reason, size);
	return hit != NULL;
}

/* Removes cmocka's "[  ERROR   ] --- " tags and "ERROR: " from the front of
 * line, and says " <- failed here" instead of ": error: Failure!" (which is
 * longer, so the line can be rewritten in place). */
static char *strip_tags(char *line)
{
	char *start = line;
	for (;;) {
		const char *tag = start[0] == '[' ? strstr(start, "] --- ") : NULL;
		if (tag == NULL)
			break;
		start = (char *)tag + 6;
	}
	if (strncmp(start, "ERROR: ", 7) == 0)
		start += 7;
	char *failure = strstr(start, ": error: Failure!");
	if (failure != NULL)
		strcpy(failure, " <- failed here");
	memmove(line, start, strlen(start) + 1);
	return line;
}

/* The start of the first line that begins with prefix, or NULL. */
static const char *line_starting(const struct outcome *o, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (const char *line = o->out; *line != '\0';
	     line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0'))
		if (strncmp(line, prefix, plen) == 0)
			return line;
	return NULL;
}

/* The earlier of two places in the output (NULL is "never"). */
static const char *earlier(const char *a, const char *b)
{
	if (a == NULL)
		return b;
	return b == NULL || a < b ? a : b;
}

/*
 * The verdict names the first thing that went wrong, because everything
 * after it may be its consequence. A failed assertion leaves the test
 * early; threads it started may still run, on a stack that is gone, and
 * crash or race a moment later. A stub reached (NOT IMPLEMENTED) explains
 * whatever the test saw next. So, in the order they were printed: a
 * sanitizer or valgrind report, a stub reached, a failed assertion; only
 * when none of these came first do a signal or a hang speak for themselves.
 */
static void classify(struct outcome *o, int status, int timed_out)
{
	static const char *const sanitizers[] = {"WARNING: ThreadSanitizer:",
						 "ERROR: AddressSanitizer:",
						 "runtime error:",
						 "Invalid read",
						 "Invalid write",
						 "uninitialised value"};
	const char *report = NULL;
	for (size_t i = 0; i < sizeof(sanitizers) / sizeof(sanitizers[0]); i++)
		report = earlier(report, strstr(o->out, sanitizers[i]));
	const char *stub = strstr(o->out, "NOT IMPLEMENTED: ");
	/* fail_msg prints "ERROR: why"; the assert_ macros "[  ERROR   ] --- why". */
	const char *failure = earlier(line_starting(o, "ERROR: "), line_starting(o, "[  ERROR   ] --- "));
	const char *first = earlier(report, earlier(stub, failure));
	int hung = timed_out || (WIFEXITED(status) && WEXITSTATUS(status) == HUNG_EXIT);
	o->reason[0] = '\0';

	if (report != NULL && report == first) {
		o->verdict = CRASH;
		copy_line(line_of(o, report), o->reason, sizeof(o->reason));
		return;
	}
	if (!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0 && report == NULL) {
		o->verdict = PASS;
		return;
	}
	if (stub != NULL && stub == first) {
		o->verdict = NOTIMPL;
		copy_line(line_of(o, stub), o->reason, sizeof(o->reason));
		return;
	}
	if (failure != NULL && failure == first) {
		o->verdict = FAIL;
		copy_line(failure, o->reason, sizeof(o->reason));
		strip_tags(o->reason);
		return;
	}
	if (hung) {
		o->verdict = HUNG;
		if (find_line(o, "HUNG: ", o->reason, sizeof(o->reason)))
			memmove(o->reason, o->reason + 6, strlen(o->reason + 6) + 1);
		else
			snprintf(o->reason, sizeof(o->reason),
				 "the test did not finish and had to be killed");
		return;
	}
	o->verdict = CRASH;
	if (WIFSIGNALED(status)) {
		snprintf(o->reason, sizeof(o->reason), "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return;
	}
	/* Leaks are judged last: a failed assertion leaks by leaving early. */
	if (find_line(o, "ERROR: LeakSanitizer:", o->reason, sizeof(o->reason)) ||
	    find_line(o, "definitely lost", o->reason, sizeof(o->reason)))
		return;
	o->verdict = FAIL;
	snprintf(o->reason, sizeof(o->reason), "exit status %d",
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void run_one(const struct harness_test *t, struct outcome *o)
{
	int fds[2];
	memset(o, 0, sizeof(*o));
	if (pipe(fds) != 0) {
		o->verdict = CRASH;
		snprintf(o->reason, sizeof(o->reason), "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		o->verdict = CRASH;
		snprintf(o->reason, sizeof(o->reason), "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		child_run(t, fds[1]);
	}
	close(fds[1]);
	struct timespec deadline = deadline_after_ms(deadline_seconds() * 1000);
	int timed_out = collect_output(fds[0], o, &deadline) != 0;
	if (timed_out) {
		/* Past the deadline: look at the threads while they still wait,
		 * then ask the child to print its hint and leave (on_alarm); kill
		 * it if it cannot even do that. */
		hang_report(pid, o);
		kill(pid, SIGALRM);
		deadline = deadline_after_ms(3000);
		timed_out = collect_output(fds[0], o, &deadline) != 0;
		if (timed_out)
			kill(pid, SIGKILL);
	}
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	classify(o, status, timed_out);
}

/* cmocka's frame lines say nothing a reader needs; keep the rest. */
static int is_noise(const char *line)
{
	static const char *const noise[] = {"[==========]", "[ RUN      ]",   "[       OK ]", "[  PASSED  ]",
					    "[  FAILED  ]", " 1 FAILED TEST", "[  SKIPPED ]"};
	if (*line == '\0')
		return 1;
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (strncmp(line, noise[i], strlen(noise[i])) == 0)
			return 1;
	return 0;
}

/* A passing test's own "# ..." lines (its measurements), as TAP comments. */
static void print_notes(const struct outcome *o)
{
	for (const char *line = o->out; *line != '\0';) {
		size_t n = strcspn(line, "\n");
		if (n > 2 && line[0] == '#' && line[1] == ' ')
			printf("  %.*s\n", (int)n, line);
		line += n + (line[n] == '\n');
	}
}

/* The section a failure sends the reader to: the test's own, unless the
 * test said another (harness_see) before it failed. */
static void print_see(const struct harness_test *t, const struct outcome *o)
{
	const char *see = NULL;
	for (const char *p = o->out; (p = strstr(p, "SEE: ")) != NULL; p += 5)
		if (p == o->out || p[-1] == '\n')
			see = p + 5;
	if (see == NULL)
		printf("  # see: %s\n", t->see);
	else
		printf("  # see: %.*s\n", (int)strcspn(see, "\n"), see);
}

static void print_details(const struct harness_test *t, const struct outcome *o, int verbose)
{
	printf("  # %s: %s\n", verdict_name[o->verdict], o->reason);
	print_see(t, o);
	for (const char *line = o->report; *line != '\0';) {
		size_t n = strcspn(line, "\n");
		printf("  #   %.*s\n", (int)n, line);
		line += n + (line[n] == '\n');
	}
	int shown = 0;
	char *copy = strdup(o->out);
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (is_noise(line) || strncmp(line, "HUNG: ", 6) == 0 || strncmp(line, "SEE: ", 5) == 0)
			continue;
		strip_tags(line);
		if (*line == '\0' || strcmp(line, o->reason) == 0)
			continue;
		if (!verbose && shown == HARNESS_DETAIL_LINES) {
			printf("  #   ... (more with VERBOSE=1)\n");
			break;
		}
		printf("  #   %s\n", line);
		shown++;
	}
	free(copy);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--list] [--only NAME] [--verbose]\n", prog);
}

int harness_main(int argc, char **argv, const char *lesson, const struct harness_test *tests, size_t ntests)
{
	const char *only = NULL;
	int verbose = getenv("VERBOSE") != NULL && strcmp(getenv("VERBOSE"), "1") == 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0) {
			for (size_t k = 0; k < ntests; k++)
				printf("%s\n", tests[k].name);
			return 0;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--verbose") == 0) {
			verbose = 1;
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	/* A client that hangs up must not kill the runner (lesson 08's tests). */
	signal(SIGPIPE, SIG_IGN);
	static struct outcome o;
	size_t planned = 0, failed = 0;
	for (size_t k = 0; k < ntests; k++)
		planned += only == NULL || strcmp(only, tests[k].name) == 0;
	printf("TAP version 13\n# lesson %s\n1..%zu\n", lesson, planned);
	size_t number = 0;
	for (size_t k = 0; k < ntests; k++) {
		if (only != NULL && strcmp(only, tests[k].name) != 0)
			continue;
		run_one(&tests[k], &o);
		number++;
		if (o.verdict == PASS) {
			printf("ok %zu - %s\n", number, tests[k].name);
			print_notes(&o);
		} else {
			failed++;
			printf("not ok %zu - %s # %s\n", number, tests[k].name, verdict_name[o.verdict]);
			print_details(&tests[k], &o, verbose);
		}
		fflush(stdout);
	}
	printf("# %zu passed, %zu failed\n", planned - failed, failed);
	return failed == 0 ? 0 : 1;
}

/* ---- helpers for the tests themselves ------------------------------------ */

int harness_wait_until(int (*pred)(void *), void *arg)
{
	return harness_wait_until_ms(pred, arg, harness_wait_ms());
}

int harness_wait_until_ms(int (*pred)(void *), void *arg, long ms)
{
	struct timespec deadline = deadline_after_ms(ms);
	const struct timespec pause = {0, 200000}; /* 0.2 ms between looks */
	while (!pred(arg)) {
		/* After a stub, nothing waited for is coming (notimpl.h). */
		if (deadline_passed(&deadline) || not_implemented_reached())
			return 0;
		nanosleep(&pause, NULL);
	}
	return 1;
}

static void *thread_trampoline(void *p)
{
	struct harness_thread *t = p;
	void *result = t->fn(t->arg);
	pthread_mutex_lock(&t->mu);
	t->result = result;
	t->done = 1;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

void harness_thread_start(struct harness_thread *t, void *(*fn)(void *), void *arg)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	t->fn = fn;
	t->arg = arg;
	t->result = NULL;
	t->done = 0;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&t->tid, NULL, thread_trampoline, t) != 0)
		fail_msg("pthread_create failed");
}

int harness_thread_join_within(struct harness_thread *t, long ms)
{
	struct timespec deadline = deadline_after_ms(ms);
	pthread_mutex_lock(&t->mu);
	while (!t->done) {
		if (pthread_cond_timedwait(&t->cv, &t->mu, &deadline) == ETIMEDOUT)
			break;
	}
	int done = t->done;
	pthread_mutex_unlock(&t->mu);
	if (done) {
		pthread_join(t->tid, NULL);
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
	}
	return done;
}

int harness_thread_done(struct harness_thread *t)
{
	pthread_mutex_lock(&t->mu);
	int done = t->done;
	pthread_mutex_unlock(&t->mu);
	return done;
}

int harness_tid_asleep(long tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The state follows the name, which is in parentheses and may hold any. */
	char *paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' && paren[2] == 'S';
}
