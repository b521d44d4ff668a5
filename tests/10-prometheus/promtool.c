/*
 * promtool.c - runs one of lesson 10's promtool test files on the rules
 * of the implementation being graded (see promtool.h).
 */
#include "promtool.h"

#include "harness.h"
#include "notimpl.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define TESTS_DIR "tests/10-prometheus/"

/* The rule file each test file names: the learner's, relative to the
 * test file, so that promtool runs the file alone on the exercise. */
#define LEARNERS_RULES "../../exercises/10-prometheus/rules.yml"

/* The copy of the test file that names the graded rules instead; removed
 * when the test ends. One test per process, so one of each. */
static char workdir[] = "/tmp/logpipe-10-XXXXXX";
static char workfile[sizeof(workdir) + 256];

static void remove_workdir(void)
{
	unlink(workfile);
	rmdir(workdir);
}

/* Everything that can be read from fd until its end, or NULL with errno. */
static char *read_to_end(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strbuf_free(&sb);
			return NULL;
		}
		strbuf_append(&sb, buf, (size_t)n);
	}
	return strbuf_take(&sb, NULL);
}

static char *read_file_or_fail(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY);
	char *text = fd < 0 ? NULL : read_to_end(fd);
	if (text == NULL)
		fail_msg("cannot read %s, %s: %s", path, what, strerror(errno));
	close(fd);
	return text;
}

/* Whether one line of YAML is "record: NAME" or "alert: NAME" (the first
 * key of a list item or not, the name quoted or not). */
static int line_names_rule(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);
	p += strspn(p, " \t");
	if (p < end && *p == '-')
		p += 1 + strspn(p + 1, " \t");
	if ((size_t)(end - p) > 7 && strncmp(p, "record:", 7) == 0)
		p += 7;
	else if ((size_t)(end - p) > 6 && strncmp(p, "alert:", 6) == 0)
		p += 6;
	else
		return 0;
	p += strspn(p, " \t");
	if (p < end && (*p == '"' || *p == '\''))
		p++;
	if ((size_t)(end - p) < n || strncmp(p, name, n) != 0)
		return 0;
	p += n;
	return p == end || strchr("\"' \t#\r", *p) != NULL;
}

/* The line (from 1) on which the rules file names the rule; 0 if none. */
static int rule_line(const char *text, const char *name)
{
	int number = 1;
	for (const char *line = text; *line != '\0'; number++) {
		const char *end = line + strcspn(line, "\n");
		if (line_names_rule(line, end, name))
			return number;
		line = *end == '\n' ? end + 1 : end;
	}
	return 0;
}

/* Stops the test as NOT IMPLEMENTED while a rule it needs is missing. */
static void require_rules(const char *path, const char *text, const char *section, const char *const *rules)
{
	for (size_t i = 0; rules[i] != NULL; i++) {
		if (rule_line(text, rules[i]) > 0)
			continue;
		char what[160];
		snprintf(what, sizeof(what), "the rule %s", rules[i]);
		not_implemented(what, section, path, 1);
		/* A recorded series' name has colons (level:metric:operations);
		 * an alert's does not. */
		fail_msg("%s has no rule \"%s: %s\" yet", path, strchr(rules[i], ':') ? "record" : "alert",
			 rules[i]);
	}
}

/* Writes tests/10-prometheus/FILE into a temporary directory with its rule
 * file replaced by rules (an absolute path). Returns the copy's path. */
static const char *copy_naming_rules(const char *file, const char *rules)
{
	char src[PATH_MAX];
	snprintf(src, sizeof(src), TESTS_DIR "%s", file);
	char *text = read_file_or_fail(src, "a test file of the lesson");
	char *at = strstr(text, LEARNERS_RULES);
	if (at == NULL)
		fail_msg("%s names no rule file " LEARNERS_RULES ": the tests are broken, not your rules",
			 src);
	if (mkdtemp(workdir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	harness_at_end(remove_workdir);
	snprintf(workfile, sizeof(workfile), "%s/%s", workdir, file);
	FILE *f = fopen(workfile, "w");
	if (f == NULL)
		fail_msg("cannot create %s: %s", workfile, strerror(errno));
	fprintf(f, "%.*s\"%s\"%s", (int)(at - text), text, rules, at + strlen(LEARNERS_RULES));
	if (fclose(f) != 0)
		fail_msg("cannot write %s: %s", workfile, strerror(errno));
	free(text);
	return workfile;
}

/* Whether a directory of $PATH holds an executable named prog. */
static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");
		char candidate[PATH_MAX];
		snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)n, n > 0 ? path : ".", prog);
		if (access(candidate, X_OK) == 0)
			return 1;
		path += n + (path[n] == ':');
	}
	return 0;
}

/* Runs argv (argv[0] found on $PATH) with stdout and stderr into one
 * pipe; returns its wait status and sets *out to what it printed. */
static int run_capturing(char *const argv[], char **out)
{
	int fds[2];
	if (pipe(fds) != 0)
		fail_msg("pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0)
		fail_msg("cannot run %s: %s", argv[0], strerror(rc));
	*out = read_to_end(fds[0]);
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
	if (*out == NULL)
		fail_msg("cannot read the output of %s", argv[0]);
	return status;
}

/* promtool's report, without its first line (the temporary copy's name)
 * and blank lines: each failed check, what it expected and what it got. */
static void print_report(const char *out)
{
	for (const char *line = out; *line != '\0';) {
		size_t n = strcspn(line, "\n");
		if (strspn(line, " \t") < n && strncmp(line, "Unit Testing:", 13) != 0)
			printf("%.*s\n", (int)n, line);
		line += n + (line[n] == '\n');
	}
}

void promtool_test(const char *file, const char *section, const char *const *rules)
{
	const char *impl = getenv("HARNESS_IMPL");
	char path[PATH_MAX], cwd[PATH_MAX], abs[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s/10-prometheus/rules.yml",
		 impl != NULL && *impl != '\0' ? impl : "exercises");
	if (access(path, R_OK) != 0)
		fail_msg("%s: %s: the lesson's rules file is missing (make exercises writes its stub)", path,
			 strerror(errno));
	/* The copy of the test file is elsewhere: it names the rules by an
	 * absolute path. */
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		fail_msg("getcwd: %s", strerror(errno));
	snprintf(abs, sizeof(abs), "%s%s%s", path[0] == '/' ? "" : cwd, path[0] == '/' ? "" : "/", path);
	char *text = read_file_or_fail(path, "the lesson's rules");
	require_rules(path, text, section, rules);
	free(text);
	if (!on_path("promtool"))
		fail_msg("promtool is not installed, and the rules are tested with it: make deps installs it "
			 "(the Debian package prometheus)");
	char secs[32];
	snprintf(secs, sizeof(secs), "%.1f", harness_bound_ms(4000) / 1000.0);
	char *argv[] = {"timeout",  "-k",   "1",     secs,
			"promtool", "test", "rules", (char *)copy_naming_rules(file, abs),
			NULL};
	harness_on_hang("promtool test rules did not finish");
	char *out;
	int status = run_capturing(argv, &out);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		free(out);
		return;
	}
	print_report(out);
	free(out);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 124)
		fail_msg("promtool test rules " TESTS_DIR "%s did not finish within %s s", file, secs);
	fail_msg("%s fails the promtool tests of " TESTS_DIR "%s:", path, file);
}
