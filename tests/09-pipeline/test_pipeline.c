/*
 * Lesson 09: the assembled pipeline. Written against src/pipeline.h only.
 *
 * Every test runs a real pipeline: four stage threads and their channels,
 * on a log file in a fresh directory under /tmp or on the simulator. A
 * test never sleeps to let the pipeline work: batch runs (stop_at_eof)
 * end on their own and are joined with pipeline_wait; follow-mode runs
 * wait, with a deadline, until the counters say the lines went through;
 * pipeline_stop runs in a thread of its own so that a stop that never
 * returns fails the test with a message instead of hanging it.
 */
#include "harness.h"
#include "interpose.h"
#include "pipeline.h"
#include "text_testing.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define L09 "lessons/09-pipeline/README.md"

/* ---- a temporary directory, removed even when a test fails ------------- */

static char tmpdir[64];
static char logpath[128];

static void remove_tmpdir(void)
{
	if (tmpdir[0] == '\0')
		return;
	unlink(logpath);
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

/* Appends text to the test's log file (creating it). */
static void append_log(const char *text)
{
	int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		fail_msg("open %s: %s", logpath, strerror(errno));
	write_all_or_fail(fd, text);
	close(fd);
}

/* A fresh directory with an empty log.log in it. Each test runs in its own
 * process (see harness.h); harness_at_end cleans up after a failed test
 * too. */
static void make_log(void)
{
	strcpy(tmpdir, "/tmp/logpipe-08-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	harness_at_end(remove_tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/log.log", tmpdir);
	append_log("");
}

/* ---- starting, stopping, rendering ----------------------------------------- */

/* A batch run on the test's log: from its start to its end, no server. */
static struct pipeline_config batch_config(void)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.path = logpath;
	cfg.source.from_start = 1;
	cfg.source.stop_at_eof = 1;
	cfg.serve = 0;
	return cfg;
}

/* The simulator at full speed (rate 0), never ending on its own. */
static struct pipeline_config endless_simulator(void)
{
	struct pipeline_config cfg = pipeline_config_default();
	cfg.source.rate = 0;
	cfg.source.count = 0;
	cfg.capacity = 16;
	cfg.serve = 0;
	return cfg;
}

/* A struct pipeline is large: one per test process, zeroed. */
static struct pipeline pl;

static void start_or_fail(const struct pipeline_config *cfg)
{
	char err[256] = "";
	harness_on_hang("pipeline_start did not return: does it wait for something? It only creates "
			"things and starts threads (see " L09 "#starting-in-order)");
	if (pipeline_start(&pl, cfg, err, sizeof(err)) != 0)
		fail_msg("pipeline_start returned -1: %s", err[0] ? err : "(no reason in err)");
}

static void *stop_thread(void *arg)
{
	pipeline_stop(arg);
	return NULL;
}

/* pipeline_stop, failing the test if it does not return in time. */
static void stop_within_deadline(const char *why_it_hangs)
{
	struct harness_thread t;
	harness_on_hang(why_it_hangs);
	harness_thread_start(&t, stop_thread, &pl);
	if (!harness_thread_join_within(&t, harness_wait_ms())) {
		harness_see(L09 "#stopping-in-order");
		fail_msg("pipeline_stop did not return within %ld ms: %s", harness_wait_ms(), why_it_hangs);
	}
}

static void wait_or_fail(void)
{
	harness_on_hang("pipeline_wait did not return on a batch run, though the tailer reached the end of "
			"the file: a stage waits for an end that never reaches it (the stack below says "
			"which; see " L09 "#stopping-in-order)");
	pipeline_wait(&pl);
}

/* pipeline_render's text (the caller frees it). */
static char *render_or_fail(void)
{
	size_t len = 0;
	char *text = pipeline_render(&pl, &len);
	if (text == NULL)
		fail_msg("pipeline_render returned NULL (see " L09 "#collecting-at-scrape-time)");
	if (len != strlen(text))
		fail_msg("pipeline_render set *len to %zu, but the text is %zu bytes long", len,
			 strlen(text));
	return text;
}

static void assert_line(const char *text, const char *line, const char *hint)
{
	if (!text_has_line(text, line))
		fail_msg("the exposition has no line %s: %s\n--- exposition ---\n%.3000s", quoted(line), hint,
			 text);
}

static void assert_invariant(const char *when)
{
	unsigned long long read = pipeline_lines_read(&pl), accounted = pipeline_lines_accounted(&pl);
	if (read != accounted)
		fail_msg("%s: %llu lines read but %llu accounted for (parse errors + filtered + entries + "
			 "dropped + discarded + joined): a stage lost or counted lines twice, or a stage was "
			 "joined before it drained (see " L09 "#the-accounting-invariant)",
			 when, read, accounted);
}

/* ---- the log the counting tests read ----------------------------------------- */

/* Ten lines, one blank, so 9 read: 3 parse errors (no JSON, no level, an
 * unknown level), 2 filtered (debug and trace, below the default min level
 * info) and 4 entries: 9 = 3 + 2 + 4. */
static const char counted_log[] =
    "{\"level\":\"info\",\"service\":\"api\",\"msg\":\"a\",\"latency_ms\":5}\n"
    "{\"level\":\"info\",\"service\":\"api\",\"msg\":\"b\"}\n"
    "{\"level\":\"error\",\"service\":\"billing\",\"msg\":\"c\",\"latency_ms\":250}\n"
    "{\"level\":\"debug\",\"service\":\"api\",\"msg\":\"filtered at min level info\"}\n"
    "{\"level\":\"trace\",\"service\":\"auth\",\"msg\":\"filtered too\"}\n"
    "not json at all\n"
    "{\"service\":\"api\",\"msg\":\"no level\"}\n"
    "{\"level\":\"loud\",\"service\":\"api\"}\n"
    "\n" /* blank: skipped, counted nowhere */
    "{\"level\":\"WARN\",\"msg\":\"no service\"}\n";

/* ---- tests --------------------------------------------------------------------- */

static void test_known_series_are_exported_at_zero_before_any_line(void **state)
{
	(void)state;
	make_log();
	struct pipeline_config cfg = batch_config();
	cfg.source.stop_at_eof = 0; /* follow an empty file: no line will come */
	start_or_fail(&cfg);
	char *text = render_or_fail();
	const char *hint = "every series known in advance is created at 0 before the first scrape, or rate() "
			   "and alerts see nothing until it first moves";
	assert_line(text, "logpipe_lines_read_total 0", hint);
	for (int r = 1; r < PARSE_REASONS; r++) {
		char line[128];
		snprintf(line, sizeof(line), "logpipe_parse_errors_total{reason=\"%s\"} 0",
			 parse_error_name((enum parse_error)r));
		assert_line(text, line, hint);
	}
	assert_line(text, "logpipe_filtered_total 0", hint);
	assert_line(text, "logpipe_series_dropped_total 0", hint);
	assert_line(text, "logpipe_file_rotations_total 0", hint);
	assert_line(text, "logpipe_file_truncations_total 0", hint);
	free(text);
	stop_within_deadline("the tailer waits at the end of an empty file, and the stop did not end it: "
			     "the rule of when done closes, relative to the joins (see " L09 "#stopping-in-order)");
	pipeline_free(&pl);
}

static void test_build_info_and_process_metrics_are_exported(void **state)
{
	(void)state;
	make_log();
	struct pipeline_config cfg = batch_config();
	start_or_fail(&cfg);
	wait_or_fail();
	char *text = render_or_fail();
	assert_line(text, "logpipe_build_info{version=\"" PIPELINE_VERSION "\"} 1",
		    "the build info is a gauge at 1 with the version as its label");
	assert_line(text, "# TYPE process_cpu_seconds_total counter",
		    "process_cpu_seconds_total is a counter");
	double fds = text_sample(text, "process_open_fds");
	if (!(fds > 0))
		fail_msg("process_open_fds is %g: the scrape shows process metrics never read from /proc/self, "
			 "not the state at the scrape (see " L09 "#collecting-at-scrape-time)",
			 fds);
	if (!(text_sample(text, "process_max_fds") >= fds))
		fail_msg("process_max_fds is %g, below process_open_fds %g", text_sample(text, "process_max_fds"),
			 fds);
	if (!(text_sample(text, "process_start_time_seconds") > 1e9))
		fail_msg("process_start_time_seconds is %g: not a Unix time",
			 text_sample(text, "process_start_time_seconds"));
	if (!(text_sample(text, "process_resident_memory_bytes") > 0))
		fail_msg("process_resident_memory_bytes is not above 0");
	free(text);
	pipeline_free(&pl);
}

static void test_invariant_holds_exactly_after_wait(void **state)
{
	(void)state;
	make_log();
	append_log(counted_log);
	struct pipeline_config cfg = batch_config();
	cfg.capacity = 1; /* every hand-off waits: the worst case for a lost line */
	start_or_fail(&cfg);
	wait_or_fail();
	if (pipeline_lines_read(&pl) != 9)
		fail_msg("pipeline_lines_read is %llu after the batch run, expected 9 (ten lines, one blank)",
			 pipeline_lines_read(&pl));
	assert_invariant("after pipeline_wait");
	pipeline_free(&pl);
}

static void test_rendered_exposition_has_the_right_counts(void **state)
{
	(void)state;
	make_log();
	append_log(counted_log);
	struct pipeline_config cfg = batch_config();
	start_or_fail(&cfg);
	wait_or_fail();
	char *text = render_or_fail();
	const char *hint = "pipeline_render copies the stages' counters into the registry before rendering "
			   "(see " L09 "#collecting-at-scrape-time)";
	assert_line(text, "logpipe_lines_read_total 9", hint);
	assert_line(text, "logpipe_parse_errors_total{reason=\"invalid_json\"} 1", hint);
	assert_line(text, "logpipe_parse_errors_total{reason=\"missing_level\"} 1", hint);
	assert_line(text, "logpipe_parse_errors_total{reason=\"bad_level\"} 1", hint);
	assert_line(text, "logpipe_parse_errors_total{reason=\"too_long\"} 0", hint);
	assert_line(text, "logpipe_filtered_total 2", "debug and trace are below the default min level info");
	assert_line(text, "logpipe_log_entries_total{level=\"info\",service=\"api\"} 2",
		    "the metrics stage counts entries by level and service");
	assert_line(text, "logpipe_log_entries_total{level=\"error\",service=\"billing\"} 1", "");
	assert_line(text, "logpipe_log_entries_total{level=\"warn\",service=\"unknown\"} 1", "");
	assert_line(text, "logpipe_log_latency_seconds_count{service=\"billing\"} 1", "");
	assert_line(text, "logpipe_log_latency_seconds_sum{service=\"billing\"} 0.25", "");
	assert_line(text, "logpipe_series_dropped_total 0", hint);
	free(text);
	pipeline_free(&pl);
}

static void test_invariant_counts_series_refused_by_the_limit(void **state)
{
	(void)state;
	make_log();
	char line[128];
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof(line), "{\"level\":\"info\",\"service\":\"svc%02d\"}\n", i);
		append_log(line);
	}
	struct pipeline_config cfg = batch_config();
	cfg.series_limit = 5;
	start_or_fail(&cfg);
	wait_or_fail();
	char *text = render_or_fail();
	assert_line(text, "logpipe_series_dropped_total 15",
		    "20 services, room for 5 series: the other 15 updates are refused and must be exported, "
		    "or the invariant cannot be checked from a scrape");
	free(text);
	assert_invariant("with a series limit");
	pipeline_free(&pl);
}

static int some_lines_read(void *arg)
{
	(void)arg;
	return pipeline_lines_read(&pl) >= 100;
}

/* Waits, with a deadline, until the running simulator has sent 100 lines. */
static void wait_for_some_lines(void)
{
	harness_on_hang("waiting for the first 100 lines");
	if (!harness_wait_until(some_lines_read, NULL))
		fail_msg("the simulator at rate 0 sent fewer than 100 lines within %ld ms: are all four stage "
			 "threads started? (see " L09 "#starting-in-order)",
			 harness_wait_ms());
}

static void test_stop_ends_an_endless_simulator_within_the_deadline(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	start_or_fail(&cfg);
	wait_for_some_lines();
	stop_within_deadline(
	    "a simulator that never ends on its own was not stopped: a join waits for a stage "
	    "whose end is not on its way (the stack below says which; see " L09 "#stopping-in-order)");
	assert_invariant("after pipeline_stop");
	pipeline_free(&pl);
}

/* Starts cfg, lets 100 lines in, abandons the pipeline (lesson 13's
 * pipeline_cancel, which logpipe runs on a second SIGTERM), stops it and
 * checks that every line read is still accounted for: what a stage frees
 * because the channel after it was closed is counted as discarded.
 * pipeline_cancel closes the cancel channel first, so it must have been
 * made. */
static void cancel_mid_flow(const struct pipeline_config *cfg, const char *stages)
{
	char when[128];
	start_or_fail(cfg);
	wait_for_some_lines();
	pipeline_cancel(&pl);
	void *msg;
	enum chan_status rc = chan_try_recv(pl.cancel, &msg);
	stop_within_deadline("pipeline_stop after pipeline_cancel must return: every stage wakes from its "
			     "closed channels");
	if (rc != CHAN_CLOSED)
		fail_msg("right after pipeline_cancel, a try on the pipeline's cancel channel answered %s, not "
			 "CHAN_CLOSED: the pipeline has no cancel channel to close, so the runners never learn "
			 "of a cancel and step all that their closed inputs still hold "
			 "(see " L09 "#the-pieces)",
			 chan_status_str(rc));
	snprintf(when, sizeof(when), "after pipeline_cancel and pipeline_stop, %s", stages);
	assert_invariant(when);
	pipeline_free(&pl);
}

/* The stages in their own loops. */
static void test_invariant_holds_after_a_cancel(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	cancel_mid_flow(&cfg, "the stages in their own loops");
}

/* The stages in runners (lesson 12), which stop before their next batch
 * once the cancel channel is closed. */
static void test_cancel_closes_the_cancel_channel_for_the_runners(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	cfg.batch = 8;
	cancel_mid_flow(&cfg, "the stages in runners");
}

/* Fails the test if a thread was joined twice (the harness refuses such a
 * join, which could otherwise crash, hang or seem to work). */
static void assert_no_second_join(const char *after)
{
	if (harness_joins_of_gone_threads() != 0)
		fail_msg("%s called pthread_join %d time(s) on a stage thread that was joined already: after "
			 "the walk nothing runs, yet the second walk still counted stages that run (see " L09
			 "#stopping-in-order)",
			 after, harness_joins_of_gone_threads());
}

static void test_stop_twice_is_safe(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	start_or_fail(&cfg);
	stop_within_deadline("the first pipeline_stop (see " L09 "#stopping-in-order)");
	stop_within_deadline("a second pipeline_stop did not return, though the first joined every stage "
			     "(see " L09 "#stopping-in-order)");
	assert_no_second_join("a second pipeline_stop");
	assert_invariant("after two stops");
	pipeline_free(&pl);
}

static void test_stop_after_wait_is_safe(void **state)
{
	(void)state;
	make_log();
	append_log(counted_log);
	struct pipeline_config cfg = batch_config();
	start_or_fail(&cfg);
	wait_or_fail();
	stop_within_deadline("pipeline_stop after pipeline_wait did not return, though the wait joined every "
			     "stage (see " L09 "#stopping-in-order)");
	assert_no_second_join("pipeline_stop after pipeline_wait");
	assert_invariant("after wait and stop");
	pipeline_free(&pl);
}

struct target {
	unsigned long long lines;
};

static int accounted_reaches(void *arg)
{
	const struct target *t = arg;
	return pipeline_lines_accounted(&pl) >= t->lines;
}

static void test_follow_mode_counts_appended_lines_then_stops(void **state)
{
	(void)state;
	make_log();
	struct pipeline_config cfg = batch_config();
	cfg.source.stop_at_eof = 0; /* follow: wait at the end for more */
	cfg.source.poll_ms = 10;
	start_or_fail(&cfg);
	const char *lines = "{\"level\":\"info\",\"service\":\"api\"}\n"
			    "{\"level\":\"error\",\"service\":\"api\"}\n"
			    "garbage\n";
	struct target t = {3};
	for (int round = 1; round <= 3; round++, t.lines += 3) {
		append_log(lines);
		harness_on_hang("waiting for appended lines to go through the pipeline");
		if (!harness_wait_until(accounted_reaches, &t))
			fail_msg(
			    "after appending %llu lines, only %llu went through the pipeline within %ld ms",
			    t.lines, pipeline_lines_accounted(&pl), harness_wait_ms());
	}
	stop_within_deadline("the follower waits at the end of the file in a timed receive on done, and the "
			     "stop did not end it (see " L09 "#stopping-in-order)");
	if (pipeline_lines_read(&pl) != 9)
		fail_msg("%llu lines read, expected the 9 appended", pipeline_lines_read(&pl));
	assert_invariant("after following a growing file and stopping");
	pipeline_free(&pl);
}

/* The stages' thread functions, upstream first, and their names. */
static void *(*const stage_fn[])(void *) = {tailer_group_run, parser_run, filter_run, metrics_stage_run};
static const char *const stage_fn_name[] = {"tailer_group_run (the tailer)", "parser_run (the parser)",
					    "filter_run (the filter)", "metrics_stage_run (the metrics stage)"};
#define NSTAGES 4

/* Fails the test if a stage's thread was started and never joined. */
static void assert_every_stage_joined(const char *after)
{
	for (int i = 0; i < NSTAGES; i++)
		if (harness_threads_unjoined(stage_fn[i]) != 0)
			fail_msg("after %s, the thread of %s was started but never joined: every stage that runs "
				 "is joined exactly once, and one left running uses the channels pipeline_free "
				 "frees (see " L09 "#stopping-in-order)",
				 after, stage_fn_name[i]);
	if (harness_threads_unjoined(stage_worker) != 0)
		fail_msg("after %s, %d worker(s) of a stage runner (stage_worker) were started but never joined: "
			 "a stage whose start failed half-way still runs, uncounted among the stages "
			 "that run (see " L09 "#starting-in-order)",
			 after, harness_threads_unjoined(stage_worker));
}

static void test_start_fails_cleanly_when_the_port_is_taken(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
		fail_msg("cannot hold a port for the test: %s", strerror(errno));
	char listen_on[64];
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", ntohs(a.sin_port));
	struct pipeline_config cfg = endless_simulator();
	cfg.serve = 1;
	cfg.http.listen = listen_on;
	int before = process_count_open_fds();
	long conds = harness_conds_alive();
	char err[256] = "";
	harness_on_hang("pipeline_start with a port in use did not return: the unwind of the server's failed "
			"start waits for a stage that does not end (see " L09 "#when-a-start-fails-half-way)");
	if (pipeline_start(&pl, &cfg, err, sizeof(err)) == 0)
		fail_msg("pipeline_start returned 0 though %s is taken", listen_on);
	if (strstr(err, "in use") == NULL)
		fail_msg("err is %s, expected the server's reason (\"... address already in use\")", quoted(err));
	assert_every_stage_joined("a start whose server could not listen");
	if (process_count_open_fds() != before)
		fail_msg(
		    "%d descriptors open before pipeline_start, %d after it failed: a failed start left "
		    "something it made (see " L09 "#when-a-start-fails-half-way)",
		    before, process_count_open_fds());
	if (harness_conds_alive() != conds)
		fail_msg("%ld condition variables more after a start whose server could not listen than before it "
			 "(a channel holds two): when the server's start fails, the stages run already, and the "
			 "start is undone like any other failed start, channels included (see " L09
			 "#when-a-start-fails-half-way)",
			 harness_conds_alive() - conds);
	close(fd);
}

/* GET path from 127.0.0.1:port; the whole response (the caller frees). */
static char *http_get(int port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		fail_msg("cannot connect to the server on port %d: %s", port, strerror(errno));
	char req[256];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
	write_all_or_fail(fd, req);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, (int)harness_wait_ms()) != 1)
			fail_msg("the server sent no complete response within %ld ms", harness_wait_ms());
		if (len + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0)
			fail_msg("read: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* A batch run of counted_log, served on a free port, drained. */
static void serve_the_counted_log(void)
{
	make_log();
	append_log(counted_log);
	struct pipeline_config cfg = batch_config();
	cfg.serve = 1;
	cfg.http.listen = "127.0.0.1:0";
	start_or_fail(&cfg);
	if (pl.server == NULL)
		fail_msg("cfg.serve is 1 but p->server is NULL: start the server last in pipeline_start "
			 "(see " L09 "#starting-in-order)");
	wait_or_fail();
}

static void test_serves_the_counts_over_a_real_socket(void **state)
{
	(void)state;
	serve_the_counted_log();
	harness_on_hang("GET /metrics");
	char *resp = http_get(http_server_port(pl.server), "/metrics");
	if (strncmp(resp, "HTTP/1.1 200", 12) != 0)
		fail_msg("GET /metrics answered \"%.60s\", expected HTTP/1.1 200", resp);
	const char *body = strstr(resp, "\r\n\r\n");
	if (body == NULL)
		fail_msg("the response has no end of head");
	assert_line(body + 4, "logpipe_lines_read_total 9",
		    "the server renders through pipeline_render, which copies the stages' counters");
	assert_line(body + 4, "logpipe_filtered_total 2", "");
	assert_line(body + 4, "logpipe_build_info{version=\"" PIPELINE_VERSION "\"} 1", "");
	if (!(text_sample(body + 4, "process_open_fds") > 0))
		fail_msg("process_open_fds is not above 0 in the scrape");
	free(resp);
	pipeline_free(&pl);
}

/* What the server answered to a connection made just before pipeline_free
 * freed one of the things it renders from. */
struct server_at_free {
	const char *what; /* the thing being freed, for the failure message */
	int port;
	int looked;   /* it was freed */
	int accepted; /* and the server still took connections then */
};

/* Runs in the thread of pipeline_free: records, does not fail. */
static void look_at_server(void *arg)
{
	struct server_at_free *s = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)s->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->looked = 1;
	s->accepted = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
}

/* Fails the test if, after pipeline_free, p still points at something it
 * freed: a half-made pipeline is freed by the same code, and must find
 * nothing there to free twice. */
static void assert_nothing_freed_in_reach(void)
{
	const void *const left[] = {pl.server, pl.reg,	   pl.done,   pl.cancel,
				    pl.lines,  pl.entries, pl.passed, pl.tailers.out};
	const char *const name[] = {"server", "reg",	 "done",   "cancel",
				    "lines",  "entries", "passed", "tailers.out"};
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
		if (left[i] != NULL)
			fail_msg("after pipeline_free, p->%s is not NULL: pipeline_free leaves p pointing at nothing "
				 "freed, its tailer group reading as never readied (out NULL: src/tailer.h) (see " L09
				 "#freeing-in-order)",
				 name[i]);
}

/*
 * The server renders from the registry, the channels and the tailer
 * group, on its own thread, whenever a scrape comes. pipeline_free must
 * stop it before it frees any of them: a scrape that arrives a moment
 * later reads freed memory. The test connects to the server at the moment
 * the first channel is freed (its first condition variable destroyed),
 * and at the moments the registry and the tailer group are freed (their
 * mutexes destroyed); the listening socket must be closed each time.
 */
static void test_free_stops_the_server_first(void **state)
{
	(void)state;
	serve_the_counted_log();
	int port = http_server_port(pl.server);
	struct server_at_free seen[] = {{"the first channel", port, 0, 0},
					{"the registry", port, 0, 0},
					{"the tailer group", port, 0, 0}};
	harness_before_cond_destroy(look_at_server, &seen[0]);
	harness_before_mutex_destroy(&pl.reg->mu, look_at_server, &seen[1]);
	harness_before_mutex_destroy(&pl.tailers.mu, look_at_server, &seen[2]);
	harness_on_hang("pipeline_free did not return (see " L09 "#freeing-in-order)");
	pipeline_free(&pl);
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		if (!seen[i].looked)
			fail_msg("pipeline_free never freed %s: it frees everything pipeline_start made (see " L09
				 "#freeing-in-order)",
				 seen[i].what);
		if (seen[i].accepted)
			fail_msg("the server still accepted a connection while pipeline_free freed %s: a scrape "
				 "then renders from memory being freed (see " L09 "#freeing-in-order)",
				 seen[i].what);
	}
	assert_nothing_freed_in_reach();
}

/* ---- the assembly: a start that fails, the end of the stages, signals ------ */

/* Whether the start of stage *arg may fail now: at once when the stage
 * above it does not run (started from the sink up, none does), else once
 * the input of the failing stage is full, so that the stages above it
 * are all blocked in chan_send, as they soon would be anyway. */
static int failure_due(void *arg)
{
	int k = *(int *)arg;
	struct chan *input[NSTAGES] = {NULL, pl.lines, pl.entries, pl.passed};
	return k == 0 || harness_threads_unjoined(stage_fn[k - 1]) == 0 ||
	       chan_len(input[k]) == chan_cap(input[k]);
}

/* An endless simulator with tiny channels, served: a start made to fail
 * meets a tailer that fills lines at once, and must never serve. */
static struct pipeline_config failing_start_config(void)
{
	struct pipeline_config cfg = endless_simulator();
	cfg.capacity = 2;
	cfg.serve = 1;
	cfg.http.listen = "127.0.0.1:0";
	return cfg;
}

/* What pipeline_start, whose start of `what` was made to fail, must have
 * done: returned -1 with a reason, ended and joined every stage it
 * started, freed every channel it made (conds: the condition variables
 * alive before it), and opened no socket (sockets: those opened before
 * it), since the server starts only once every stage runs. */
static void assert_start_failed_cleanly(int rc, const char *err, const char *what, long conds, long sockets)
{
	if (rc == 0)
		fail_msg("pipeline_start returned 0 though the thread of %s could not start", what);
	if (harness_fail_pending())
		fail_msg("pipeline_start returned -1 (%s) before it tried to start %s: with all it needs, it "
			 "starts every stage (see " L09 "#starting-in-order)",
			 err[0] ? err : "no reason in err", what);
	if (err[0] == '\0')
		fail_msg("pipeline_start returned -1 with no reason in err (the start of %s failed)", what);
	assert_every_stage_joined("a start that failed");
	if (harness_conds_alive() != conds)
		fail_msg("%ld condition variables more after a start that failed at %s than before it (a channel "
			 "holds two): a failed start left channels it made (see " L09
			 "#when-a-start-fails-half-way)",
			 harness_conds_alive() - conds, what);
	if (harness_sockets_opened() != sockets)
		fail_msg("with cfg.serve, pipeline_start opened a socket though the start of %s failed: a start "
			 "that fails at a stage has listened, against the order of the start (see " L09
			 "#starting-in-order)",
			 what);
}

/* pipeline_start with the start of stage `fails` made to fail: it must
 * return -1 with a reason, having ended and joined the stages it started
 * and freed the channels it made. */
static void start_failing_at(int fails)
{
	struct pipeline_config cfg = failing_start_config();
	long conds = harness_conds_alive(), sockets = harness_sockets_opened();
	char err[256] = "", hang[512];
	snprintf(hang, sizeof(hang),
		 "pipeline_start did not return after the start of %s failed: the unwind waits for a stage "
		 "that cannot end (the stack below shows the join). A stage is joined only when its end is on "
		 "its way (see " L09 "#stopping-in-order)",
		 stage_fn_name[fails]);
	harness_on_hang(hang);
	harness_fail_thread(stage_fn[fails], EAGAIN, failure_due, &fails);
	int rc = pipeline_start(&pl, &cfg, err, sizeof(err));
	assert_start_failed_cleanly(rc, err, stage_fn_name[fails], conds, sockets);
}

static void test_start_failing_at_the_tailer_ends_the_stages_below(void **state)
{
	(void)state;
	start_failing_at(0);
}

static void test_start_failing_at_any_stage_ends_and_frees_what_it_made(void **state)
{
	(void)state;
	for (int i = NSTAGES - 1; i >= 0; i--)
		start_failing_at(i);
}

/*
 * With three parser workers, the stages after the tailer run as stage
 * runners (lesson 12), and a runner's start can fail half-way: the
 * parser's first worker starts, its second cannot. The parser then runs,
 * although its start failed, and the unwind must end and join it like
 * any stage that runs, before the channels its worker uses are freed.
 */
static void test_start_failing_inside_a_stage_runner_joins_its_workers(void **state)
{
	(void)state;
	struct pipeline_config cfg = failing_start_config();
	cfg.workers = 3;
	long conds = harness_conds_alive(), sockets = harness_sockets_opened();
	char err[256] = "";
	const char *what = "the parser's second worker (stage_worker)";
	harness_on_hang("pipeline_start did not return after the parser's second worker could not start: the "
			"unwind waits for a stage that cannot end (see " L09 "#when-a-start-fails-half-way)");
	/* runners[] is indexed as threads: [1] is the parser's. */
	harness_fail_thread_of(stage_worker, &pl.runners[1], 1, EAGAIN);
	int rc = pipeline_start(&pl, &cfg, err, sizeof(err));
	assert_start_failed_cleanly(rc, err, what, conds, sockets);
}

/* pipeline_start with every allocation of the calling thread after the
 * first `granted` refused (tests/harness/interpose.h); what it must leave
 * when it fails is what assert_start_failed_cleanly checks, with open
 * descriptors in place of sockets opened (the server may open its socket
 * before an allocation of its own fails). 1 once a start succeeded with
 * nothing refused: granted was enough for all of it. */
static int start_with_allocations(const struct pipeline_config *cfg, long granted)
{
	long conds = harness_conds_alive(), bad_destroys = harness_bad_destroys(NULL);
	int fds = process_count_open_fds();
	char err[256] = "", what[64];
	harness_fail_allocations_after(granted);
	int rc = pipeline_start(&pl, cfg, err, sizeof(err));
	long refused = harness_allocations_restored();
	if (rc == 0) {
		stop_within_deadline("pipeline_stop after a start that succeeded (see " L09
				     "#stopping-in-order)");
		pipeline_free(&pl);
		return refused == 0;
	}
	if (refused == 0)
		fail_msg("pipeline_start returned -1 (%s) though no allocation failed",
			 err[0] ? err : "no reason");
	snprintf(what, sizeof(what), "its allocation %ld", granted + 1);
	if (err[0] == '\0')
		fail_msg("pipeline_start returned -1 with no reason in err (%s failed)", what);
	assert_every_stage_joined("a start whose allocation failed");
	if (harness_bad_destroys(NULL) != bad_destroys)
		fail_msg("a start that failed at %s (\"%s\") destroyed a mutex or condition variable it never "
			 "initialised: pipeline_free freed a part the start never made (see " L09
			 "#freeing-in-order)",
			 what, err);
	if (harness_conds_alive() != conds)
		fail_msg(
		    "%ld condition variables more after a start that failed at %s (\"%s\") than before it (a "
		    "channel holds two): every step after the channels are made (the registry, the stages, "
		    "the server) fails through the unwind, which frees them (see " L09
		    "#when-a-start-fails-half-way)",
		    harness_conds_alive() - conds, what, err);
	if (process_count_open_fds() != fds)
		fail_msg(
		    "%d descriptors open before a start that failed at %s (\"%s\"), %d after it: the unwind "
		    "frees what was made (see " L09 "#when-a-start-fails-half-way)",
		    fds, what, err, process_count_open_fds());
	return 0;
}

/*
 * Memory runs out inside pipeline_start: its first allocation fails, then
 * its second, and so on until one start makes every allocation it needs.
 * Each start that fails, at whatever step (a channel, the registry, a
 * stage, the server), must return -1 with a reason and leave nothing
 * behind. A step that returns -1 without the unwind once the channels are
 * made leaks them, and no thread start fails there to show it.
 */
static void test_start_failing_at_any_allocation_frees_what_it_made(void **state)
{
	(void)state;
	struct pipeline_config cfg = failing_start_config();
	harness_on_hang("pipeline_start did not return after one of its allocations failed: the unwind waits "
			"for a stage that cannot end (see " L09 "#when-a-start-fails-half-way)");
	long granted = 0;
	while (!start_with_allocations(&cfg, granted))
		granted++;
	if (granted == 0)
		fail_msg("pipeline_start succeeded while every malloc, calloc, realloc, strdup and strndup "
			 "failed");
}

static int all_channels_full(void *arg)
{
	(void)arg;
	struct chan *chans[] = {pl.lines, pl.entries, pl.passed};
	for (size_t i = 0; i < 3; i++)
		if (chan_len(chans[i]) < chan_cap(chans[i]))
			return 0;
	return 1;
}

static int stopper_in_join(void *arg)
{
	return harness_in_join(((struct harness_thread *)arg)->tid);
}

/*
 * The metrics stage is held before it runs, so every channel fills and
 * every stage above it blocks in chan_send: the state a stop meets under
 * load, frozen. The stop runs until it waits in a join; then the metrics
 * stage is let go. A stop that closed only done loses nothing: every line
 * in the channels is drained and counted. One that also closed lines,
 * entries or passed refused the sends of stages still running.
 */
static void test_stop_closes_done_only_and_discards_nothing(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	cfg.capacity = 2;
	harness_hold_thread(metrics_stage_run);
	start_or_fail(&cfg);
	harness_on_hang("waiting for every channel to fill while the metrics stage is held");
	if (!harness_wait_until(all_channels_full, NULL))
		fail_msg("with the metrics stage held, lines, entries and passed did not all fill within %ld ms: "
			 "are all four stages started? (see " L09 "#starting-in-order)",
			 harness_wait_ms());
	struct harness_thread stopper;
	harness_on_hang("pipeline_stop did not return once the metrics stage was let go: does it close done "
			"and join the stages upstream first? (see " L09 "#stopping-in-order)");
	harness_thread_start(&stopper, stop_thread, &pl);
	if (!harness_wait_until(stopper_in_join, &stopper)) {
		harness_release_held();
		fail_msg("pipeline_stop never waited in pthread_join while the metrics stage was held: it cannot "
			 "have joined every stage (see " L09 "#stopping-in-order)");
	}
	harness_release_held();
	if (!harness_thread_join_within(&stopper, harness_wait_ms()))
		fail_msg("pipeline_stop did not return within %ld ms once the metrics stage was let go",
			 harness_wait_ms());
	if (pipeline_lines_discarded(&pl) != 0)
		fail_msg("%llu lines discarded by a stop, which discards nothing: lines were taken from stages "
			 "still running, or refused to them. Rules broken: a channel is closed by its sender, "
			 "never under a sender that still runs (see " L09 "#stopping-in-order)",
			 pipeline_lines_discarded(&pl));
	assert_invariant("after a stop under load");
	pipeline_free(&pl);
}

static void test_every_stage_is_joined_by_stop_and_by_wait(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	start_or_fail(&cfg);
	stop_within_deadline("pipeline_stop on a running simulator (see " L09 "#stopping-in-order)");
	assert_every_stage_joined("pipeline_stop");
	pipeline_free(&pl);
	make_log();
	append_log(counted_log);
	cfg = batch_config();
	start_or_fail(&cfg);
	wait_or_fail();
	assert_every_stage_joined("pipeline_wait");
	pipeline_free(&pl);
}

/* 1 if the mask line of /proc/self/task/TID/status ("SigBlk:\t<hex>")
 * blocks sig. */
static int task_blocks(const char *tid, int sig)
{
	char path[96], line[256];
	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 1; /* the thread is gone: nothing to deliver to */
	unsigned long long mask = 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "SigBlk: %llx", &mask) == 1)
			break;
	fclose(f);
	return (mask >> (sig - 1)) & 1;
}

static void test_stop_signals_are_blocked_in_every_thread(void **state)
{
	(void)state;
	make_log();
	struct pipeline_config cfg = batch_config();
	cfg.source.stop_at_eof = 0; /* follow: the tailer's threads stay */
	cfg.serve = 1;
	cfg.http.listen = "127.0.0.1:0";
	cfg.stop_signals = 1;
	/* The caller's own mask: pipeline_start adds to it, never replaces it. */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	start_or_fail(&cfg);
	DIR *dir = opendir("/proc/self/task");
	if (dir == NULL)
		fail_msg("cannot list /proc/self/task: %s", strerror(errno));
	int threads = 0;
	for (struct dirent *d; (d = readdir(dir)) != NULL;) {
		if (d->d_name[0] == '.')
			continue;
		threads++;
		if (!task_blocks(d->d_name, SIGINT) || !task_blocks(d->d_name, SIGTERM))
			fail_msg("thread %s does not block SIGINT and SIGTERM: a stop signal the kernel hands to "
				 "it ends the process with lines in flight (see " L09 "#taking-the-signals)",
				 d->d_name);
		if (!task_blocks(d->d_name, SIGUSR1))
			fail_msg("thread %s no longer blocks SIGUSR1, which the test's thread blocked before it "
				 "called pipeline_start: the start unblocked a signal the caller had blocked, where "
				 "it should only have added the stop signals (see " L09 "#taking-the-signals)",
				 d->d_name);
	}
	closedir(dir);
	if (threads < 5)
		fail_msg("only %d threads in the process: are all four stages and the server started?", threads);
	stop_within_deadline("pipeline_stop on a followed file (see " L09 "#stopping-in-order)");
	pipeline_free(&pl);
}

/* Sends SIGTERM to the process and returns what pipeline_await_signal
 * answers. Every thread blocks SIGTERM, so it waits, pending, for sigwait. */
static int await_sigterm(void)
{
	kill(getpid(), SIGTERM);
	harness_on_hang("pipeline_await_signal did not return though SIGTERM is pending: either it does not "
			"wait in sigwait for SIGINT or SIGTERM, or it took the signal and then waited for "
			"something else, a join perhaps (the stack below says which; see " L09
			"#taking-the-signals)");
	return pipeline_await_signal(&pl);
}

static void test_a_signal_stops_the_pipeline_and_every_line_is_counted(void **state)
{
	(void)state;
	struct pipeline_config cfg = endless_simulator();
	cfg.stop_signals = 1;
	start_or_fail(&cfg);
	wait_for_some_lines();
	int signo = await_sigterm();
	if (signo != SIGTERM)
		fail_msg("pipeline_await_signal returned %d, expected SIGTERM (%d)", signo, SIGTERM);
	harness_on_hang("pipeline_wait did not return after pipeline_await_signal: the signal was taken, "
			"and the stages never heard of it (see " L09 "#taking-the-signals)");
	pipeline_wait(&pl);
	assert_invariant("after a SIGTERM");
	pipeline_free(&pl);
}

static int lines_full(void *arg)
{
	(void)arg;
	return chan_len(pl.lines) == chan_cap(pl.lines);
}

/*
 * A signal closes done and nothing else. The parser is held, so lines
 * fills and the tailer blocks sending the third of the file's twelve
 * lines; the signal comes then. The tailer looks at done only after it has
 * sent every line of a read (lesson 03), and the file is one read: all
 * twelve must be read and counted. A pipeline_await_signal that closed
 * lines as well refuses the tailer's send, and the line it held is gone
 * without a trace: the tailer counts only the lines it sent, so the
 * invariant still holds.
 */
static void test_a_signal_stop_loses_no_line_the_tailer_took(void **state)
{
	(void)state;
	make_log();
	for (int i = 0; i < 12; i++)
		append_log("{\"level\":\"info\",\"service\":\"api\"}\n");
	struct pipeline_config cfg = batch_config();
	cfg.source.stop_at_eof = 0; /* follow: only done ends the tailer */
	cfg.capacity = 2;
	cfg.stop_signals = 1;
	harness_hold_thread(parser_run);
	start_or_fail(&cfg);
	harness_on_hang("waiting for lines to fill while the parser is held");
	if (!harness_wait_until(lines_full, NULL)) {
		harness_release_held();
		fail_msg("with the parser held, lines did not fill within %ld ms: is the tailer started? (see " L09
			 "#starting-in-order)",
			 harness_wait_ms());
	}
	int signo = await_sigterm();
	harness_release_held();
	if (signo != SIGTERM)
		fail_msg("pipeline_await_signal returned %d, expected SIGTERM (%d)", signo, SIGTERM);
	harness_on_hang("pipeline_wait did not return after pipeline_await_signal: the signal was taken, "
			"and the stages never heard of it (see " L09 "#taking-the-signals)");
	pipeline_wait(&pl);
	if (pipeline_lines_read(&pl) != 12)
		fail_msg("%llu of the file's 12 lines read after a signal stop: the tailer, blocked sending the "
			 "third, lost that line and the rest uncounted: a signal stop loses nothing, and a "
			 "channel is closed only by its sender (see " L09 "#taking-the-signals)",
			 pipeline_lines_read(&pl));
	assert_invariant("after a signal stop");
	pipeline_free(&pl);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_known_series_are_exported_at_zero_before_any_line, L09 "#collecting-at-scrape-time"),
	    HTEST(test_build_info_and_process_metrics_are_exported, L09 "#collecting-at-scrape-time"),
	    /* Early: a stage left unjoined makes the counting tests below fail
	     * on counts read while it still runs, which hides the cause. */
	    HTEST(test_every_stage_is_joined_by_stop_and_by_wait, L09 "#stopping-in-order"),
	    HTEST(test_invariant_holds_exactly_after_wait, L09 "#the-accounting-invariant"),
	    HTEST(test_rendered_exposition_has_the_right_counts, L09 "#collecting-at-scrape-time"),
	    HTEST(test_invariant_counts_series_refused_by_the_limit, L09 "#the-accounting-invariant"),
	    HTEST(test_stop_ends_an_endless_simulator_within_the_deadline, L09 "#stopping-in-order"),
	    HTEST(test_invariant_holds_after_a_cancel, L09 "#the-accounting-invariant"),
	    HTEST(test_cancel_closes_the_cancel_channel_for_the_runners, L09 "#the-pieces"),
	    HTEST(test_stop_twice_is_safe, L09 "#stopping-in-order"),
	    HTEST(test_stop_after_wait_is_safe, L09 "#stopping-in-order"),
	    HTEST(test_follow_mode_counts_appended_lines_then_stops, L09 "#stopping-in-order"),
	    HTEST(test_start_fails_cleanly_when_the_port_is_taken, L09 "#starting-in-order"),
	    HTEST(test_serves_the_counts_over_a_real_socket, L09 "#starting-in-order"),
	    HTEST(test_free_stops_the_server_first, L09 "#freeing-in-order"),
	    HTEST(test_start_failing_at_the_tailer_ends_the_stages_below, L09 "#when-a-start-fails-half-way"),
	    HTEST(test_start_failing_at_any_stage_ends_and_frees_what_it_made,
		  L09 "#when-a-start-fails-half-way"),
	    HTEST(test_start_failing_inside_a_stage_runner_joins_its_workers,
		  L09 "#when-a-start-fails-half-way"),
	    HTEST(test_start_failing_at_any_allocation_frees_what_it_made, L09 "#when-a-start-fails-half-way"),
	    HTEST(test_stop_closes_done_only_and_discards_nothing, L09 "#stopping-in-order"),
	    HTEST(test_stop_signals_are_blocked_in_every_thread, L09 "#taking-the-signals"),
	    HTEST(test_a_signal_stops_the_pipeline_and_every_line_is_counted,
		  L09 "#taking-the-signals"),
	    HTEST(test_a_signal_stop_loses_no_line_the_tailer_took, L09 "#taking-the-signals"),
	};
	return harness_main(argc, argv, "09-pipeline", tests, HARNESS_COUNT(tests));
}
