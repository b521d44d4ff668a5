/*
 * Lesson 04: parsing a JSON log line, and the parser stage.
 * Written against src/parser.h and src/log_entry.h only.
 */
#include "chan_testing.h"
#include "clock.h"
#include "line.h"
#include "parser.h"
#include "text_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L04 "lessons/04-parser/README.md"

/* ---- helpers ------------------------------------------------------------------ */

/* Parses a C string (terminated, as the contract requires). */
static enum parse_error parse(const char *text, struct log_entry **entry)
{
	return parse_log_line(text, strlen(text), entry);
}

static const char *reason(enum parse_error err)
{
	switch (err) {
	case PARSE_OK:
		return "PARSE_OK";
	case PARSE_INVALID_JSON:
		return "PARSE_INVALID_JSON";
	case PARSE_MISSING_LEVEL:
		return "PARSE_MISSING_LEVEL";
	case PARSE_BAD_LEVEL:
		return "PARSE_BAD_LEVEL";
	case PARSE_TOO_LONG:
		return "PARSE_TOO_LONG";
	case PARSE_ENOMEM:
		return "PARSE_ENOMEM";
	case PARSE_NOTIMPL:
		return "PARSE_NOTIMPL";
	}
	return "(not a parse_error)";
}

/* The line must parse; returns its entry (the caller frees it). */
static struct log_entry *parse_ok(const char *text)
{
	struct log_entry *e = NULL;
	enum parse_error err = parse(text, &e);
	if (err != PARSE_OK)
		fail_msg("parse_log_line(%s) returned %s, expected PARSE_OK", text, reason(err));
	if (e == NULL)
		fail_msg("parse_log_line(%s) returned PARSE_OK but left *entry NULL", text);
	return e;
}

/* The line must be rejected with `want`, and *entry left NULL. */
static void expect_error(const char *text, enum parse_error want, const char *why)
{
	struct log_entry *e = NULL;
	enum parse_error err = parse(text, &e);
	if (err != want) {
		log_entry_free(e);
		fail_msg("parse_log_line(%s) returned %s, expected %s: %s", text, reason(err), reason(want),
			 why);
	}
	if (e != NULL)
		fail_msg("parse_log_line(%s) failed but set *entry: on error *entry must be NULL", text);
}

/* ---- levels and reason names ------------------------------------------------ */

static void test_level_names_are_canonical_lower_case(void **state)
{
	(void)state;
	static const char *const want[LOG_LEVELS] = {"trace", "debug", "info", "warn", "error", "fatal"};
	for (int i = 0; i < LOG_LEVELS; i++) {
		const char *got = log_level_name((enum log_level)i);
		if (got == NULL || strcmp(got, want[i]) != 0)
			fail_msg("log_level_name(%d) returned %s, expected %s", i,
				 quoted(got), quoted(want[i]));
	}
}

static void test_level_parse_ignores_case_and_knows_warning(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum log_level level;
	} cases[] = {{"trace", LOG_TRACE},  {"DEBUG", LOG_DEBUG}, {"Info", LOG_INFO},
		     {"warn", LOG_WARN},    {"WARN", LOG_WARN},	  {"warning", LOG_WARN},
		     {"WARNING", LOG_WARN}, {"Error", LOG_ERROR}, {"fAtAl", LOG_FATAL}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level got = LOG_LEVELS;
		if (log_level_parse(cases[i].name, &got) != 0)
			fail_msg("log_level_parse(%s) returned -1: levels are matched ignoring case, and "
				 "\"warning\" is an alias of warn",
				 quoted(cases[i].name));
		if (got != cases[i].level)
			fail_msg("log_level_parse(%s) set level %d, expected %d (%s)", quoted(cases[i].name),
				 (int)got, (int)cases[i].level, log_level_name(cases[i].level));
	}
}

static void test_level_parse_rejects_other_names(void **state)
{
	(void)state;
	static const char *const bad[] = {"verbose", "",    "critical", "warn ",
					  " info",   "inf", "errors",	"WARNINGS"};
	enum log_level info = LOG_LEVELS;
	if (log_level_parse("info", &info) != 0 || info != LOG_INFO)
		fail_msg(
		    "log_level_parse(\"info\") did not give LOG_INFO, so a rejection would prove nothing");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum log_level got = LOG_INFO;
		if (log_level_parse(bad[i], &got) != -1)
			fail_msg(
			    "log_level_parse(%s) accepted it: only the six names and \"warning\" are "
			    "levels (a prefix or a name with spaces is not)",
			    quoted(bad[i]));
	}
}

static void test_error_names_are_the_metric_labels(void **state)
{
	(void)state;
	static const struct {
		enum parse_error err;
		const char *name;
	} cases[] = {{PARSE_INVALID_JSON, "invalid_json"},
		     {PARSE_MISSING_LEVEL, "missing_level"},
		     {PARSE_BAD_LEVEL, "bad_level"},
		     {PARSE_TOO_LONG, "too_long"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = parse_error_name(cases[i].err);
		if (got == NULL || strcmp(got, cases[i].name) != 0)
			fail_msg("parse_error_name(%s) returned %s, expected %s",
				 reason(cases[i].err), quoted(got), quoted(cases[i].name));
	}
}

/* ---- one line: what becomes of each field ------------------------------------ */

static void test_full_line_fills_every_field(void **state)
{
	(void)state;
	struct log_entry *e =
	    parse_ok("{\"ts\":\"2026-11-25T10:00:00.013Z\",\"level\":\"error\","
		     "\"service\":\"billing\",\"msg\":\"card declined\",\"latency_ms\":12.5}");
	assert_int_equal(e->level, LOG_ERROR);
	assert_str_equal(e->service, "billing");
	assert_str_equal(e->message, "card declined");
	assert_non_null(e->timestamp);
	assert_str_equal(e->timestamp, "2026-11-25T10:00:00.013Z");
	assert_int_equal(e->has_latency, 1);
	assert_float_equal(e->latency_ms, 12.5, 1e-9);
	log_entry_free(e);
}

static void test_text_that_is_not_json_is_invalid_json(void **state)
{
	(void)state;
	expect_error("kernel: eth0 link up", PARSE_INVALID_JSON, "this is not JSON at all");
	expect_error("", PARSE_INVALID_JSON, "an empty line is not JSON");
	expect_error("{", PARSE_INVALID_JSON, "an object that never closes is not JSON");
	expect_error("{\"level\":\"info\",\"msg\":\"payment ti", PARSE_INVALID_JSON,
		     "a line cut in the middle of a string is not JSON");
	expect_error("{level:\"info\"}", PARSE_INVALID_JSON, "JSON keys are quoted");
}

static void test_json_that_is_not_an_object_is_invalid_json(void **state)
{
	(void)state;
	const char *why = "cJSON parses it, but a log line must be a JSON object: check cJSON_IsObject";
	expect_error("[\"info\",\"api\",\"GET /healthz 200\"]", PARSE_INVALID_JSON, why);
	expect_error("42", PARSE_INVALID_JSON, why);
	expect_error("\"level\"", PARSE_INVALID_JSON, why);
	expect_error("null", PARSE_INVALID_JSON, why);
	expect_error("true", PARSE_INVALID_JSON, why);
}

static void test_object_followed_by_other_text_is_invalid_json(void **state)
{
	(void)state;
	const char *why = "cJSON_Parse stops after the first value and ignores the rest: "
			  "require the end of the text (cJSON_ParseWithOpts(text, NULL, 1))";
	expect_error("{\"level\":\"info\"} trailing words", PARSE_INVALID_JSON, why);
	expect_error("{\"level\":\"info\"}{\"level\":\"error\"}", PARSE_INVALID_JSON, why);
	/* Blanks after the object are fine: a '\r' left by a CRLF file, say. */
	log_entry_free(parse_ok("{\"level\":\"info\"}  \r"));
}

static void test_nul_byte_inside_the_line_is_invalid_json(void **state)
{
	(void)state;
	/* 16 bytes of a good object, then a NUL, then more: a line from a file
	 * with a hole of zero bytes in it. len covers all of it. */
	static const char text[] = "{\"level\":\"info\"}\0 and more";
	struct log_entry *e = NULL;
	enum parse_error err = parse_log_line(text, sizeof(text) - 1, &e);
	log_entry_free(e);
	if (err != PARSE_INVALID_JSON)
		fail_msg(
		    "a line with a NUL byte at 16 of its %zu bytes gave %s, expected PARSE_INVALID_JSON: "
		    "cJSON stops at the first NUL, so it would see only part of the line; "
		    "JSON never contains a raw NUL (look for one in text[0..len))",
		    sizeof(text) - 1, reason(err));
}

static void test_line_without_level_is_missing_level(void **state)
{
	(void)state;
	expect_error("{\"ts\":\"2026-11-25T10:00:00Z\",\"service\":\"search\",\"msg\":\"reindex started\"}",
		     PARSE_MISSING_LEVEL, "the object has no \"level\" field");
}

static void test_empty_object_is_missing_level(void **state)
{
	(void)state;
	expect_error("{}", PARSE_MISSING_LEVEL,
		     "{} is a JSON object, so it is not invalid_json; it has no level");
}

static void test_level_that_is_not_a_string_is_missing_level(void **state)
{
	(void)state;
	const char *why = "a level must be a string (cJSON_IsString): any other type counts as missing";
	expect_error("{\"level\":42,\"msg\":\"job done\"}", PARSE_MISSING_LEVEL, why);
	expect_error("{\"level\":null}", PARSE_MISSING_LEVEL, why);
	expect_error("{\"level\":true}", PARSE_MISSING_LEVEL, why);
	expect_error("{\"level\":[\"info\"]}", PARSE_MISSING_LEVEL, why);
	expect_error("{\"level\":{\"name\":\"info\"}}", PARSE_MISSING_LEVEL, why);
}

static void test_unknown_level_is_bad_level(void **state)
{
	(void)state;
	const char *why = "the level is a string but not a level name";
	expect_error("{\"level\":\"verbose\",\"msg\":\"request headers\"}", PARSE_BAD_LEVEL, why);
	expect_error("{\"level\":\"\"}", PARSE_BAD_LEVEL, why);
	expect_error("{\"level\":\"critical\"}", PARSE_BAD_LEVEL, why);
}

static void test_level_aliases_and_case_give_the_canonical_level(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		enum log_level level;
	} cases[] = {{"{\"level\":\"WARNING\"}", LOG_WARN}, {"{\"level\":\"Warn\"}", LOG_WARN},
		     {"{\"level\":\"warning\"}", LOG_WARN}, {"{\"level\":\"INFO\"}", LOG_INFO},
		     {"{\"level\":\"Fatal\"}", LOG_FATAL},  {"{\"level\":\"trace\"}", LOG_TRACE}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct log_entry *e = parse_ok(cases[i].line);
		enum log_level got = e->level;
		log_entry_free(e);
		if (got != cases[i].level)
			fail_msg("%s gave level %s, expected %s", cases[i].line, log_level_name(got),
				 log_level_name(cases[i].level));
	}
}

static void test_service_is_unknown_when_absent_or_not_a_string(void **state)
{
	(void)state;
	struct log_entry *e = parse_ok("{\"level\":\"info\",\"msg\":\"heartbeat\"}");
	assert_non_null(e->service);
	assert_str_equal(e->service, "unknown");
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\",\"service\":7}");
	assert_non_null(e->service);
	assert_str_equal(e->service, "unknown");
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\",\"service\":\"auth\"}");
	assert_str_equal(e->service, "auth");
	log_entry_free(e);
}

static void test_message_comes_from_msg_or_message_else_empty(void **state)
{
	(void)state;
	struct log_entry *e = parse_ok("{\"level\":\"info\",\"msg\":\"from msg\"}");
	assert_str_equal(e->message, "from msg");
	log_entry_free(e);
	e = parse_ok("{\"level\":\"warning\",\"message\":\"queue depth 950 of 1000\"}");
	assert_str_equal(e->message, "queue depth 950 of 1000");
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\",\"msg\":42,\"message\":\"from the alias\"}");
	if (strcmp(e->message, "from the alias") != 0)
		fail_msg("{\"msg\":42,\"message\":\"from the alias\"} gave the message %s: the alias is "
			 "used when the first name is absent or not a string",
			 quoted(e->message));
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\"}");
	if (e->message == NULL)
		fail_msg("a line without msg gave message NULL: the contract says \"\", never NULL");
	assert_str_equal(e->message, "");
	log_entry_free(e);
}

static void test_timestamp_comes_from_ts_or_time_else_null(void **state)
{
	(void)state;
	struct log_entry *e = parse_ok("{\"level\":\"info\",\"ts\":\"2026-11-25T10:00:00Z\"}");
	assert_non_null(e->timestamp);
	assert_str_equal(e->timestamp, "2026-11-25T10:00:00Z");
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\",\"time\":\"2026-11-25T10:00:01Z\"}");
	assert_non_null(e->timestamp);
	assert_str_equal(e->timestamp, "2026-11-25T10:00:01Z");
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\"}");
	if (e->timestamp != NULL)
		fail_msg("a line without ts or time gave timestamp %s: it must be NULL", quoted(e->timestamp));
	log_entry_free(e);
}

static void test_latency_is_kept_only_when_a_number(void **state)
{
	(void)state;
	struct log_entry *e = parse_ok("{\"level\":\"info\",\"latency_ms\":48}");
	assert_int_equal(e->has_latency, 1);
	assert_float_equal(e->latency_ms, 48.0, 1e-9);
	log_entry_free(e);
	e = parse_ok("{\"level\":\"info\",\"latency_ms\":-1.5}");
	if (!e->has_latency)
		fail_msg("a negative latency was dropped: the contract keeps it (the log's word, not ours)");
	assert_float_equal(e->latency_ms, -1.5, 1e-9);
	log_entry_free(e);

	static const char *const without[] = {"{\"level\":\"info\",\"latency_ms\":\"1200\"}",
					      "{\"level\":\"info\",\"latency_ms\":null}",
					      "{\"level\":\"info\"}"};
	for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
		e = parse_ok(without[i]);
		int has = e->has_latency;
		log_entry_free(e);
		if (has)
			fail_msg("%s gave has_latency 1: only a JSON number is a latency (cJSON_IsNumber)",
				 without[i]);
	}
}

static void test_nested_objects_and_other_fields_are_ignored(void **state)
{
	(void)state;
	/* A "level" inside another object is not the line's level. */
	expect_error("{\"ctx\":{\"level\":\"info\"},\"msg\":\"nested\"}", PARSE_MISSING_LEVEL,
		     "only top-level fields count: look the level up in the root object only");
	struct log_entry *e =
	    parse_ok("{\"level\":\"debug\",\"service\":\"api\",\"pool\":{\"idle\":3,\"busy\":5,"
		     "\"service\":\"db\",\"msg\":\"inner\"},\"tags\":[\"a\",{\"b\":[1,2]}],"
		     "\"msg\":\"pool stats\",\"ok\":true,\"n\":null}");
	assert_int_equal(e->level, LOG_DEBUG);
	assert_str_equal(e->service, "api");
	assert_str_equal(e->message, "pool stats");
	log_entry_free(e);
}

static void test_escapes_and_unicode_become_utf8(void **state)
{
	(void)state;
	/* \u00e9 is e-acute: two bytes in UTF-8. */
	struct log_entry *e = parse_ok("{\"level\":\"info\",\"msg\":\"caf\\u00e9\"}");
	assert_str_equal(e->message, "caf\xc3\xa9");
	log_entry_free(e);
	/* Raw UTF-8 passes through unchanged: Japanese, and an emoji (4 bytes). */
	e = parse_ok(
	    "{\"level\":\"info\",\"service\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"msg\":\"ok \xf0\x9f\x8e\x89\"}");
	assert_str_equal(e->service, "\xe6\x97\xa5\xe6\x9c\xac");
	assert_str_equal(e->message, "ok \xf0\x9f\x8e\x89");
	log_entry_free(e);
	/* A surrogate pair is one character: U+1F600, four bytes. */
	e = parse_ok("{\"level\":\"info\",\"msg\":\"\\ud83d\\ude00\"}");
	assert_str_equal(e->message, "\xf0\x9f\x98\x80");
	log_entry_free(e);
	/* Escaped quotes, backslashes and newlines become the characters. */
	e = parse_ok("{\"level\":\"info\",\"msg\":\"say \\\"hi\\\" to C:\\\\tmp\\nnext line\"}");
	assert_str_equal(e->message, "say \"hi\" to C:\\tmp\nnext line");
	log_entry_free(e);
}

static void test_failed_parse_sets_entry_null_so_it_can_be_freed(void **state)
{
	(void)state;
	struct log_entry sentinel;
	struct log_entry *e = &sentinel;
	enum parse_error err = parse("not json", &e);
	if (err != PARSE_INVALID_JSON)
		fail_msg("\"not json\" gave %s, expected PARSE_INVALID_JSON", reason(err));
	if (e != NULL)
		fail_msg("parse_log_line returned %s but left *entry as it was: set it to NULL on every "
			 "error, so that the caller can free it unconditionally",
			 reason(err));
	log_entry_free(e); /* NULL is fine */
}

static void test_entry_owns_its_strings(void **state)
{
	(void)state;
	/* The input goes away, and a second parse reuses whatever memory the
	 * first one freed: the first entry must still hold its own copies. */
	char *text = strdup("{\"level\":\"info\",\"service\":\"first-service\",\"msg\":\"first message\","
			    "\"ts\":\"2026-11-25T10:00:00Z\"}");
	assert_non_null(text);
	struct log_entry *first = parse_ok(text);
	memset(text, 'x', strlen(text));
	free(text);
	struct log_entry *second = parse_ok("{\"level\":\"error\",\"service\":\"other-servicee\","
					    "\"msg\":\"other messagee\",\"ts\":\"1999-01-01T00:00:00Z\"}");
	if (strcmp(first->service, "first-service") != 0 || strcmp(first->message, "first message") != 0 ||
	    first->timestamp == NULL || strcmp(first->timestamp, "2026-11-25T10:00:00Z") != 0)
		fail_msg("an entry's strings changed after another parse: they point into memory that was "
			 "freed (the cJSON tree dies with cJSON_Delete; copy valuestring with strdup)");
	log_entry_free(second);
	log_entry_free(first);
}

/* ---- the stage ---------------------------------------------------------------- */

static void send_line(struct chan *in, const char *text)
{
	struct line *l = line_new(text, strlen(text));
	assert_non_null(l);
	if (chan_send(in, l) != CHAN_OK) {
		line_free(l);
		fail_msg("could not send a line to the stage's input channel");
	}
}

static void send_too_long(struct chan *in, size_t skipped)
{
	struct line *l = line_new_too_long(skipped);
	assert_non_null(l);
	if (chan_send(in, l) != CHAN_OK) {
		line_free(l);
		fail_msg("could not send a line to the stage's input channel");
	}
}

/* A stage on real channels, run by its own thread. */
struct stage_test {
	struct parser_stage st;
	struct harness_thread thread;
};

static void stage_init(struct stage_test *s, size_t in_cap, size_t out_cap)
{
	memset(s, 0, sizeof(*s));
	s->st.in = chan_new_or_fail(in_cap);
	s->st.out = chan_new_or_fail(out_cap);
}

static void stage_start(struct stage_test *s)
{
	harness_thread_start(&s->thread, parser_run, &s->st);
}

static void stage_join(struct stage_test *s)
{
	harness_on_hang("parser_run did not return after in was closed: does the loop end when chan_recv "
			"returns CHAN_CLOSED, and does a send on a closed out make it stop waiting?");
	if (!harness_thread_join_within(&s->thread, harness_wait_ms()))
		fail_msg("parser_run did not return within %ld ms of in being closed: the loop must end "
			 "when chan_recv(in) returns CHAN_CLOSED",
			 harness_wait_ms());
}

/* Frees the channels, and whatever is left in them. */
static void stage_free(struct stage_test *s)
{
	void *msg;
	while (chan_try_recv(s->st.in, &msg) == CHAN_OK)
		line_free(msg);
	while (chan_try_recv(s->st.out, &msg) == CHAN_OK)
		log_entry_free(msg);
	assert_chan_status(chan_free(s->st.in), CHAN_OK);
	assert_chan_status(chan_free(s->st.out), CHAN_OK);
}

/*
 * The next message from the stage's out: CHAN_OK with *entry, or
 * CHAN_CLOSED. Fails the test if nothing comes in time, or if the stage
 * thread ended without closing out.
 */
static enum chan_status recv_entry(struct stage_test *s, struct log_entry **entry)
{
	struct timespec deadline = deadline_after_ms(harness_wait_ms());
	for (;;) {
		void *msg = NULL;
		enum chan_status rc = chan_recv_timed(s->st.out, &msg, 20);
		if (rc != CHAN_TIMEOUT) {
			*entry = msg;
			return rc;
		}
		if (harness_thread_done(&s->thread))
			fail_msg("parser_run returned without closing out: the next stage would wait forever "
				 "(close out when in is closed and drained)");
		if (deadline_passed(&deadline))
			fail_msg("no entry and no close came out of the stage within %ld ms",
				 harness_wait_ms());
	}
}

static unsigned long long total_errors(struct parser_stats *stats)
{
	unsigned long long n = 0;
	for (int r = 0; r < PARSE_REASONS; r++)
		n += atomic_load(&stats->errors[r]);
	return n;
}

static void test_stage_sends_one_entry_per_good_line_in_order(void **state)
{
	(void)state;
	static const char *const services[] = {"api", "auth", "billing", "search", "worker"};
	enum { N = 5 };
	struct stage_test s;
	stage_init(&s, N, N);
	char text[128];
	for (int i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "{\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"line %d\"}",
			 log_level_name((enum log_level)i), services[i], i);
		send_line(s.st.in, text);
	}
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	for (int i = 0; i < N; i++) {
		struct log_entry *e = NULL;
		if (recv_entry(&s, &e) != CHAN_OK)
			fail_msg("out was closed after %d entries; %d good lines went in", i, N);
		snprintf(text, sizeof(text), "line %d", i);
		if (e->level != (enum log_level)i || strcmp(e->service, services[i]) != 0 ||
		    strcmp(e->message, text) != 0)
			fail_msg(
			    "entry %d is (%s, %s, %s), expected (%s, %s, %s): one entry per line, "
			    "in the order of the lines",
			    i, log_level_name(e->level), e->service, quoted(e->message),
			    log_level_name((enum log_level)i), services[i], quoted(text));
		log_entry_free(e);
	}
	stage_join(&s);
	assert_int_equal(atomic_load(&s.st.stats.lines), N);
	assert_int_equal(atomic_load(&s.st.stats.entries), N);
	assert_int_equal(total_errors(&s.st.stats), 0);
	stage_free(&s);
}

static void test_stage_counts_each_error_by_reason(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, 16, 16);
	send_line(s.st.in, "{\"level\":\"info\",\"msg\":\"good 1\"}");
	send_line(s.st.in, "not json");
	send_line(s.st.in, "[1,2,3]");
	send_line(s.st.in, "{\"msg\":\"no level\"}");
	send_line(s.st.in, "{\"level\":42}");
	send_line(s.st.in, "{\"level\":\"verbose\"}");
	send_line(s.st.in, "{\"level\":\"error\",\"msg\":\"good 2\"}");
	send_too_long(s.st.in, 70000);
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	struct log_entry *e;
	int entries = 0;
	while (recv_entry(&s, &e) == CHAN_OK) {
		log_entry_free(e);
		entries++;
	}
	stage_join(&s);
	struct parser_stats *st = &s.st.stats;
	unsigned long long lines = atomic_load(&st->lines), sent = atomic_load(&st->entries);
	unsigned long long bad_json = atomic_load(&st->errors[PARSE_INVALID_JSON]),
			   no_level = atomic_load(&st->errors[PARSE_MISSING_LEVEL]),
			   bad_level = atomic_load(&st->errors[PARSE_BAD_LEVEL]),
			   too_long = atomic_load(&st->errors[PARSE_TOO_LONG]);
	if (lines != 8 || sent != 2 || bad_json != 2 || no_level != 2 || bad_level != 1 || too_long != 1)
		fail_msg(
		    "stats: lines %llu, entries %llu, invalid_json %llu, missing_level %llu, bad_level %llu, "
		    "too_long %llu; expected 8, 2, 2, 2, 1, 1 (count every line received, each error "
		    "under its reason, each entry sent)",
		    lines, sent, bad_json, no_level, bad_level, too_long);
	assert_int_equal(entries, 2);
	assert_int_equal(atomic_load(&st->errors[PARSE_OK]), 0);
	if (lines != total_errors(st) + sent)
		fail_msg(
		    "lines (%llu) != errors (%llu) + entries (%llu): every line is either an entry or an "
		    "error",
		    lines, total_errors(st), sent);
	stage_free(&s);
}

/* The step alone, with no channel: what lesson 10 builds on. */
static void test_step_parses_counts_and_frees_one_line(void **state)
{
	(void)state;
	struct parser_stage st = {.in = NULL, .out = NULL};
	const char good[] = "{\"level\":\"error\",\"service\":\"api\"}";
	struct log_entry *e = parser_step(&st, line_new(good, sizeof(good) - 1));
	if (e == NULL)
		fail_msg("parser_step returned NULL for a good line: it returns the entry parse_log_line made");
	assert_int_equal(e->level, LOG_ERROR);
	log_entry_free(e);
	if (parser_step(&st, line_new("{", 1)) != NULL)
		fail_msg("parser_step returned an entry for \"{\": after an error it returns NULL");
	if (parser_step(&st, line_new_too_long(100000)) != NULL)
		fail_msg("parser_step returned an entry for a too-long marker");
	unsigned long long lines = atomic_load(&st.stats.lines), entries = atomic_load(&st.stats.entries);
	if (lines != 3 || entries != 0)
		fail_msg("after three lines, lines=%llu and entries=%llu, expected 3 and 0: the step counts every "
			 "line; entries counts what the loop sent, and the step sends nothing",
			 lines, entries);
	assert_int_equal(atomic_load(&st.stats.errors[PARSE_INVALID_JSON]), 1);
	assert_int_equal(atomic_load(&st.stats.errors[PARSE_TOO_LONG]), 1);
	/* and LeakSanitizer checks that each line was freed */
}

static void test_stage_counts_too_long_marker_without_parsing_it(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, 4, 4);
	send_too_long(s.st.in, 100000);
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	struct log_entry *e;
	if (recv_entry(&s, &e) != CHAN_CLOSED) {
		log_entry_free(e);
		fail_msg("a too-long marker became an entry");
	}
	stage_join(&s);
	unsigned long long too_long = atomic_load(&s.st.stats.errors[PARSE_TOO_LONG]);
	unsigned long long bad_json = atomic_load(&s.st.stats.errors[PARSE_INVALID_JSON]);
	if (too_long != 1)
		fail_msg("a too-long marker was counted as too_long %llu times and invalid_json %llu times: "
			 "check line->too_long before parsing (its text is \"\" and its len is the bytes "
			 "skipped, so it must never reach parse_log_line)",
			 too_long, bad_json);
	assert_int_equal(atomic_load(&s.st.stats.lines), 1);
	stage_free(&s);
}

static void test_stage_closes_out_when_in_is_closed(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, 1, 1);
	stage_start(&s);
	harness_on_hang("the stage's out was never closed: after the loop, chan_close(out)");
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	struct log_entry *e = NULL;
	enum chan_status rc = recv_entry(&s, &e);
	if (rc != CHAN_CLOSED) {
		log_entry_free(e);
		fail_msg("receiving from out after in was closed returned %s, expected CHAN_CLOSED",
			 chan_status_str(rc));
	}
	stage_join(&s);
	stage_free(&s);
}

/* A producer thread: the tailer's part. */
struct producer {
	struct chan *in;
	int n;
	int sent;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	char text[96];
	for (p->sent = 0; p->sent < p->n; p->sent++) {
		snprintf(text, sizeof(text), "{\"level\":\"info\",\"service\":\"api\",\"msg\":\"%d\"}",
			 p->sent);
		struct line *l = line_new(text, strlen(text));
		if (l == NULL || chan_send(p->in, l) != CHAN_OK) {
			line_free(l);
			break;
		}
	}
	chan_close(p->in);
	return NULL;
}

static int thread_done(void *arg)
{
	return harness_thread_done(arg);
}

/* Waits for the producer to finish; fails if it stays blocked. Only the
 * producer is waited for: a correct stage may well end before the
 * producer's thread is marked done, so "the stage ended first" proves
 * nothing; a stage that returned early shows as a producer that never
 * gets its lines taken. */
static void join_producer(struct stage_test *s, struct harness_thread *producer, const char *why)
{
	harness_on_hang(why);
	if (!harness_wait_until(thread_done, producer)) {
		if (harness_thread_done(&s->thread))
			fail_msg("parser_run returned while lines were still being sent to it: it must keep "
				 "receiving until chan_recv(in) returns CHAN_CLOSED");
		fail_msg("%s", why);
	}
	assert_true(harness_thread_join_within(producer, harness_wait_ms()));
}

static void test_stage_keeps_draining_in_when_out_is_closed(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, 1, 1);
	/* Nobody downstream: out is closed before the first entry. */
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	struct producer p = {.in = s.st.in, .n = (int)harness_scale(200)};
	struct harness_thread pt;
	stage_start(&s);
	harness_thread_start(&pt, produce, &p);
	join_producer(
	    &s, &pt,
	    "the producer stayed blocked on in: when chan_send(out) returns CHAN_CLOSED the stage "
	    "must free the entry and keep receiving from in, or the stage before it blocks forever");
	stage_join(&s);
	assert_int_equal(p.sent, p.n);
	assert_int_equal(atomic_load(&s.st.stats.lines), p.n);
	assert_int_equal(atomic_load(&s.st.stats.entries), 0);
	stage_free(&s); /* and LeakSanitizer checks that each dropped entry was freed */
}

/* True once the stage is blocked sending on out, or has ended. */
static int stage_blocked_on_out(void *arg)
{
	struct stage_test *s = arg;
	pthread_mutex_lock(&s->st.out->mu);
	int waiting = s->st.out->send_waiting;
	pthread_mutex_unlock(&s->st.out->mu);
	return waiting > 0 || harness_thread_done(&s->thread);
}

static void test_stage_stops_sending_when_out_is_closed_under_it(void **state)
{
	(void)state;
	enum { N = 6 };
	struct stage_test s;
	stage_init(&s, N, 1);
	for (int i = 0; i < N; i++)
		send_line(s.st.in, "{\"level\":\"info\",\"service\":\"api\"}");
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	/* out holds one entry; the stage parks sending the second. */
	if (!harness_wait_until(stage_blocked_on_out, &s) || harness_thread_done(&s.thread))
		fail_msg("the stage should be blocked sending its second entry on a full out (capacity 1)");
	harness_on_hang("parser_run stayed blocked after out was closed under it");
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	stage_join(&s);
	assert_int_equal(atomic_load(&s.st.stats.lines), N);
	assert_int_equal(atomic_load(&s.st.stats.entries), 1);
	stage_free(&s); /* frees the one entry that made it into out */
}

static void test_stage_moves_many_lines_through_small_channels(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, 2, 2);
	struct producer p = {.in = s.st.in, .n = (int)harness_scale(2000)};
	struct harness_thread pt;
	stage_start(&s);
	harness_thread_start(&pt, produce, &p);
	/* This thread is the next stage: it takes entries as they come. */
	int received = 0;
	struct log_entry *e;
	char want[16];
	while (recv_entry(&s, &e) == CHAN_OK) {
		snprintf(want, sizeof(want), "%d", received);
		if (strcmp(e->message, want) != 0)
			fail_msg("entry %d carried message %s: entries must leave in the order lines came in",
				 received, e->message);
		log_entry_free(e);
		received++;
	}
	join_producer(&s, &pt, "the producer stayed blocked on in");
	stage_join(&s);
	assert_int_equal(received, p.n);
	assert_int_equal(atomic_load(&s.st.stats.lines), p.n);
	assert_int_equal(atomic_load(&s.st.stats.entries), p.n);
	assert_int_equal(total_errors(&s.st.stats), 0);
	stage_free(&s);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_level_names_are_canonical_lower_case, L04 "#levels-and-reason-names"),
	    HTEST(test_level_parse_ignores_case_and_knows_warning, L04 "#levels-and-reason-names"),
	    HTEST(test_level_parse_rejects_other_names, L04 "#levels-and-reason-names"),
	    HTEST(test_error_names_are_the_metric_labels, L04 "#levels-and-reason-names"),
	    HTEST(test_entry_owns_its_strings, L04 "#who-owns-what"),
	    HTEST(test_full_line_fills_every_field, L04 "#parsing-one-line"),
	    HTEST(test_text_that_is_not_json_is_invalid_json, L04 "#parsing-one-line"),
	    HTEST(test_json_that_is_not_an_object_is_invalid_json, L04 "#parsing-one-line"),
	    HTEST(test_object_followed_by_other_text_is_invalid_json,
		  L04 "#handing-cjson-a-terminated-string"),
	    HTEST(test_nul_byte_inside_the_line_is_invalid_json, L04 "#handing-cjson-a-terminated-string"),
	    HTEST(test_line_without_level_is_missing_level, L04 "#parsing-one-line"),
	    HTEST(test_empty_object_is_missing_level, L04 "#parsing-one-line"),
	    HTEST(test_level_that_is_not_a_string_is_missing_level, L04 "#parsing-one-line"),
	    HTEST(test_unknown_level_is_bad_level, L04 "#parsing-one-line"),
	    HTEST(test_level_aliases_and_case_give_the_canonical_level, L04 "#levels-and-reason-names"),
	    HTEST(test_service_is_unknown_when_absent_or_not_a_string, L04 "#copying-a-string-field"),
	    HTEST(test_message_comes_from_msg_or_message_else_empty, L04 "#copying-a-string-field"),
	    HTEST(test_timestamp_comes_from_ts_or_time_else_null, L04 "#copying-a-string-field"),
	    HTEST(test_latency_is_kept_only_when_a_number, L04 "#parsing-one-line"),
	    HTEST(test_nested_objects_and_other_fields_are_ignored, L04 "#parsing-one-line"),
	    HTEST(test_escapes_and_unicode_become_utf8, L04 "#parsing-one-line"),
	    HTEST(test_failed_parse_sets_entry_null_so_it_can_be_freed, L04 "#who-owns-what"),
	    HTEST(test_step_parses_counts_and_frees_one_line, L04 "#the-stage-loop"),
	    HTEST(test_stage_sends_one_entry_per_good_line_in_order, L04 "#the-stage-loop"),
	    HTEST(test_stage_counts_each_error_by_reason, L04 "#the-stage-loop"),
	    HTEST(test_stage_counts_too_long_marker_without_parsing_it, L04 "#the-stage-loop"),
	    HTEST(test_stage_closes_out_when_in_is_closed, L04 "#the-stage-loop"),
	    HTEST(test_stage_keeps_draining_in_when_out_is_closed, L04 "#when-nobody-is-downstream"),
	    HTEST(test_stage_stops_sending_when_out_is_closed_under_it, L04 "#when-nobody-is-downstream"),
	    HTEST(test_stage_moves_many_lines_through_small_channels, L04 "#the-stage-loop"),
	};
	return harness_main(argc, argv, "04-parser", tests, HARNESS_COUNT(tests));
}
