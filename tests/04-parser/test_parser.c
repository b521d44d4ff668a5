/*
 * Lesson 04: parsing a JSON log line, and the parser stage.
 * Written against src/parser.h and src/log_entry.h only.
 */
#include "chan_testing.h"
#include "clock.h"
#include "interpose.h"
#include "line.h"
#include "parser.h"
#include "text_testing.h"

#include <cjson/cJSON.h>
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

/* Names end up in printf calls and metric labels: a value outside the
 * named ones, on either side of the range, is "unknown", never NULL and
 * never a read past the end of a table. */
static void test_out_of_range_names_are_unknown(void **state)
{
	(void)state;
	static const struct {
		const char *call;
		int value;
		int is_level;
	} cases[] = {{"log_level_name(LOG_LEVELS)", LOG_LEVELS, 1},
		     {"log_level_name((enum log_level)-1)", -1, 1},
		     {"parse_error_name(PARSE_OK)", PARSE_OK, 0},
		     {"parse_error_name(PARSE_ENOMEM)", PARSE_ENOMEM, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = cases[i].is_level ? log_level_name((enum log_level)cases[i].value)
						    : parse_error_name((enum parse_error)cases[i].value);
		if (got == NULL || strcmp(got, "unknown") != 0)
			fail_msg("%s returned %s, expected \"unknown\": a value that names no level or "
				 "reason (one past the end, or negative) is \"unknown\"",
				 cases[i].call, quoted(got));
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

/* The NUL as the line's last byte: a search for it must cover all of
 * text[0..len), the last byte included, and the stage counts the line as
 * any other invalid_json. */
static void test_nul_as_the_last_byte_is_invalid_json(void **state)
{
	(void)state;
	static const char text[] = "{\"level\":\"info\"}\0";
	const size_t len = sizeof(text) - 1; /* 17: the NUL is text[16] */
	struct log_entry *e = NULL;
	enum parse_error err = parse_log_line(text, len, &e);
	log_entry_free(e);
	if (err != PARSE_INVALID_JSON)
		fail_msg("a line of %zu bytes whose last byte is a NUL gave %s, expected PARSE_INVALID_JSON: "
			 "the NUL is text[len-1], inside the line; a search that stops before it misses it",
			 len, reason(err));
	struct parser_stage st = {.in = NULL, .out = NULL};
	e = parser_step(&st, line_new(text, len));
	if (e != NULL) {
		log_entry_free(e);
		fail_msg("parser_step made an entry of a line whose last byte is a NUL");
	}
	unsigned long long invalid = atomic_load(&st.stats.errors[PARSE_INVALID_JSON]);
	if (invalid != 1)
		fail_msg("stats.errors[PARSE_INVALID_JSON] is %llu after a line whose last byte is a NUL, "
			 "expected 1",
			 invalid);
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

/* The fields of the entry parse_log_line_as(fmt, text) makes (fmt NULL:
 * parse_log_line) must be service, message and timestamp (NULL: none);
 * why names the rule a difference breaks. */
static void expect_strings_as(const struct log_format *fmt, const char *text, const char *service,
			      const char *message, const char *timestamp, const char *why)
{
	struct log_entry *e = NULL;
	enum parse_error err = parse_log_line_as(fmt, text, strlen(text), &e);
	const char *how = fmt != NULL ? fmt->name : "parse_log_line's rules";
	if (err != PARSE_OK || e == NULL)
		fail_msg("%s (%s) returned %s, expected PARSE_OK", quoted(text), how, reason(err));
	int same = strcmp(e->service, service) == 0 && strcmp(e->message, message) == 0 &&
		   (timestamp == NULL ? e->timestamp == NULL
				      : e->timestamp != NULL && strcmp(e->timestamp, timestamp) == 0);
	char got[256];
	snprintf(got, sizeof(got), "service %s, message %s, timestamp %s", quoted(e->service),
		 quoted(e->message), e->timestamp != NULL ? quoted(e->timestamp) : "NULL");
	log_entry_free(e);
	if (!same)
		fail_msg("%s (%s) gave %s; expected service %s, message %s, timestamp %s: %s", quoted(text),
			 how, got, quoted(service), quoted(message),
			 timestamp != NULL ? quoted(timestamp) : "NULL", why);
}

/* "" in each string field, with an alias beside it where there is one:
 * expected service "", message "", timestamp "". */
static const char *const empty_string_lines[] = {
    "{\"level\":\"info\",\"service\":\"\",\"msg\":\"\",\"message\":\"hi\",\"ts\":\"\","
    "\"time\":\"2026-11-25T10:00:00Z\"}",
    "{\"level\":\"info\",\"service\":\"\",\"message\":\"\",\"time\":\"\"}",
};

static void test_an_empty_string_is_a_string(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(empty_string_lines) / sizeof(empty_string_lines[0]); i++)
		expect_strings_as(NULL, empty_string_lines[i], "", "", "",
				  "an empty string is a string: the field holds \"\", so neither its "
				  "alias nor the fallback is looked at");
}

/* Both names hold strings, or the first one holds no string. */
static void test_the_first_name_wins_over_its_alias(void **state)
{
	(void)state;
	expect_strings_as(
	    NULL,
	    "{\"level\":\"info\",\"msg\":\"a\",\"message\":\"b\",\"ts\":\"2026-11-25T10:00:00Z\","
	    "\"time\":\"1999-01-01T00:00:00Z\"}",
	    "unknown", "a", "2026-11-25T10:00:00Z",
	    "when both names hold a string, the first name of the rule wins: \"msg\" over "
	    "\"message\", \"ts\" over \"time\"");
	expect_strings_as(
	    NULL,
	    "{\"level\":\"info\",\"message\":\"b\",\"msg\":\"a\",\"time\":\"1999-01-01T00:00:00Z\","
	    "\"ts\":\"2026-11-25T10:00:00Z\"}",
	    "unknown", "a", "2026-11-25T10:00:00Z",
	    "the order of the rule counts, not the order of the fields in the line");
}

static void test_the_alias_stands_in_for_a_first_name_that_is_no_string(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"level\":\"info\",\"ts\":1764914400,\"time\":\"2026-11-25T10:00:00Z\",\"msg\":null,"
	    "\"message\":\"m\"}",
	    "{\"level\":\"info\",\"ts\":{\"s\":1},\"time\":\"2026-11-25T10:00:00Z\",\"msg\":[\"x\"],"
	    "\"message\":\"m\"}",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		expect_strings_as(NULL, lines[i], "unknown", "m", "2026-11-25T10:00:00Z",
				  "an alias is looked at when the first name is absent or holds no "
				  "string (a number, null, an object, an array), for the timestamp as for "
				  "the message");
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

/* The entry parse_log_line makes of text must have service and message as given. */
static void expect_service_and_message(const char *text, const char *service, const char *message,
				       const char *why)
{
	struct log_entry *e = parse_ok(text);
	int same = strcmp(e->service, service) == 0 && strcmp(e->message, message) == 0;
	char got[256];
	snprintf(got, sizeof(got), "service %s, message %s", quoted(e->service), quoted(e->message));
	log_entry_free(e);
	if (!same)
		fail_msg("%s gave %s; expected service %s, message %s: %s", text, got, quoted(service),
			 quoted(message), why);
}

static void test_field_names_are_case_sensitive(void **state)
{
	(void)state;
	expect_error("{\"Level\":\"info\",\"msg\":\"a\"}", PARSE_MISSING_LEVEL,
		     "field names are case-sensitive: \"Level\" is not \"level\" (cJSON_GetObjectItem "
		     "ignores case; cJSON_GetObjectItemCaseSensitive does not)");
	expect_service_and_message("{\"level\":\"info\",\"Service\":\"pay\",\"MSG\":\"b\"}", "unknown", "",
				   "\"Service\" is not \"service\" and \"MSG\" is not \"msg\": look every "
				   "field up with cJSON_GetObjectItemCaseSensitive");
	expect_service_and_message(
	    "{\"level\":\"info\",\"Service\":\"pay\",\"service\":\"api\",\"Msg\":\"b\",\"message\":\"c\"}",
	    "api", "c", "only the field spelt exactly as the rule spells it counts");
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
			 "freed. Every string an entry keeps is log_entry_new's copy, taken while the cJSON "
			 "tree lives (cJSON_Delete frees every valuestring with the tree)");
	log_entry_free(second);
	log_entry_free(first);
}

/*
 * cJSON's blocks still allocated in this process, counted through
 * cJSON_InitHooks: a tree that was never deleted shows here without a
 * sanitizer. Atomic, because a stage's thread may parse too.
 */
static atomic_long cjson_blocks;

static void *counting_malloc(size_t size)
{
	void *p = malloc(size);
	if (p != NULL)
		atomic_fetch_add(&cjson_blocks, 1);
	return p;
}

static void counting_free(void *p)
{
	if (p != NULL)
		atomic_fetch_sub(&cjson_blocks, 1);
	free(p);
}

/* A line for each way out of a parse: an entry, and each error after cJSON parsed. */
static const char *const tree_lines[] = {
    "{\"level\":\"info\",\"service\":\"api\",\"msg\":\"ok\",\"ts\":\"t\",\"latency_ms\":1}",
    "[1,2]",
    "42",
    "{\"level\":\"info\"} and then some",
    "{}",
    "{\"level\":42,\"msg\":\"job done\"}",
    "{\"level\":\"verbose\",\"msg\":\"request headers\"}",
};

/* Parses text as fmt (NULL: parse_log_line) and fails if a block of
 * cJSON's tree outlives the call. Returns what the parse returned. */
static enum parse_error expect_tree_deleted(const char *format, const char *text)
{
	const struct log_format *fmt = format != NULL ? log_format_preset(format) : NULL;
	struct log_entry *e = NULL;
	long before = atomic_load(&cjson_blocks);
	enum parse_error err = parse_log_line_as(fmt, text, strlen(text), &e);
	long left = atomic_load(&cjson_blocks) - before;
	log_entry_free(e);
	if (left != 0)
		fail_msg("parsing %s%s%s returned %s and left %ld block(s) of cJSON's tree allocated: "
			 "call cJSON_Delete on every way out of the parse, the error paths too",
			 quoted(text), format != NULL ? " as " : "", format != NULL ? format : "",
			 reason(err), left);
	return err;
}

/* The first of tree_lines must parse as format: a test that counts blocks
 * left over proves nothing about a parse that never built a tree. */
static void expect_first_tree_line_ok(const char *format)
{
	enum parse_error err = expect_tree_deleted(format, tree_lines[0]);
	if (err != PARSE_OK)
		fail_msg("parsing %s%s%s returned %s, expected PARSE_OK", quoted(tree_lines[0]),
			 format != NULL ? " as " : "", format != NULL ? format : "", reason(err));
}

/* Counts cJSON's blocks from here on (the test's process ends with the test). */
static void count_cjson_blocks(void)
{
	cJSON_Hooks hooks = {.malloc_fn = counting_malloc, .free_fn = counting_free};
	cJSON_InitHooks(&hooks);
}

static void test_every_tree_is_deleted_whatever_the_line(void **state)
{
	(void)state;
	count_cjson_blocks();
	expect_first_tree_line_ok(NULL);
	for (size_t i = 1; i < sizeof(tree_lines) / sizeof(tree_lines[0]); i++)
		expect_tree_deleted(NULL, tree_lines[i]);
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

/* Fails unless a count is want, naming what was counted and why it should be want. */
static void expect_count(const char *what, unsigned long long got, unsigned long long want, const char *why)
{
	if (got != want)
		fail_msg("%s is %llu, expected %llu: %s", what, got, want, why);
}

/* expect_count for one of a stage's counters: expect_stat(&st.stats, lines, 3, why). */
#define expect_stat(stats, field, want, why)                                                                 \
	expect_count("stats." #field, atomic_load(&(stats)->field), (want), (why))

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
			fail_msg("entry %d is (%s, %s, %s), expected (%s, %s, %s): one entry per line, "
				 "in the order of the lines",
				 i, log_level_name(e->level), quoted(e->service), quoted(e->message),
				 log_level_name((enum log_level)i), quoted(services[i]), quoted(text));
		log_entry_free(e);
	}
	stage_join(&s);
	expect_stat(&s.st.stats, lines, N, "every line received is counted");
	expect_stat(&s.st.stats, entries, N, "every entry sent is counted");
	expect_count("the errors, summed over the reasons", total_errors(&s.st.stats), 0,
		     "every line was good");
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
	expect_count("the entries received from out", (unsigned long long)entries, 2,
		     "two of the eight lines are good");
	expect_stat(st, errors[PARSE_OK], 0, "PARSE_OK is no error: errors[PARSE_OK] stays 0");
	if (lines != total_errors(st) + sent)
		fail_msg(
		    "lines (%llu) != errors (%llu) + entries (%llu): every line is either an entry or an "
		    "error",
		    lines, total_errors(st), sent);
	stage_free(&s);
}

/* The step alone, with no channel: what lesson 12 builds on. */
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
	expect_stat(&st.stats, errors[PARSE_INVALID_JSON], 1, "\"{\" is not JSON");
	expect_stat(&st.stats, errors[PARSE_TOO_LONG], 1, "the step counts a too-long marker as too_long");
	/* and LeakSanitizer checks that each line was freed */
}

/*
 * A look at the counters from inside a step, the way any reader must read
 * them (the others first, lines last). cJSON allocates while the step
 * parses a line, so its allocation hook is a fixed point between the step
 * taking the line and counting where the line ended: where a thread
 * polling the counters would need luck to land. Only the test's thread
 * parses while it watches.
 */
static struct parser_stats *watched;
static long watched_looks;
static int seen_behind;
static unsigned long long seen_lines, seen_ended; /* at the first look that saw lines behind */

static unsigned long long lines_ended(struct parser_stats *stats)
{
	return total_errors(stats) + atomic_load(&stats->entries) + atomic_load(&stats->discarded) +
	       atomic_load(&stats->joined);
}

static void *watching_malloc(size_t size)
{
	if (watched != NULL) {
		unsigned long long ended = lines_ended(watched), lines = atomic_load(&watched->lines);
		/* The line being parsed is received and has not ended anywhere yet. */
		if (lines <= ended && !seen_behind) {
			seen_behind = 1;
			seen_lines = lines;
			seen_ended = ended;
		}
		watched_looks++;
	}
	return malloc(size);
}

static void test_step_counts_the_line_before_it_parses_it(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"level\":\"info\",\"service\":\"api\",\"msg\":\"ok\"}", "{\"level\":\"verbose\"}",
	    "{\"msg\":\"no level\"}", "{\"level\":", "[1,2]", "{\"level\":\"error\",\"msg\":\"again\"}",
	};
	struct parser_stage st = {.in = NULL, .out = NULL};
	cJSON_Hooks hooks = {.malloc_fn = watching_malloc, .free_fn = free};
	cJSON_InitHooks(&hooks);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		watched = &st.stats;
		watched_looks = 0;
		struct log_entry *e = parser_step(&st, line_new(lines[i], strlen(lines[i])));
		watched = NULL;
		log_entry_free(e);
		if (seen_behind)
			fail_msg("while parser_step parsed %s (line %zu), a reader saw stats.lines %llu and "
				 "%llu lines ended (errors + entries + discarded + joined): the line in the "
				 "step's hands was not counted yet. Count it in stats.lines first, as the "
				 "step takes it: counted after its outcome, a reader between the two updates "
				 "sees more lines ended than received",
				 quoted(lines[i]), i + 1, seen_lines, seen_ended);
		if (watched_looks == 0)
			fail_msg("parser_step parsed %s without cJSON allocating anything: the step parses "
				 "each line with parse_log_line, which hands it to cJSON",
				 quoted(lines[i]));
	}
	cJSON_InitHooks(NULL);
	expect_count("stats.lines after the steps", atomic_load(&st.stats.lines), 6, "every line is counted");
}

/*
 * Memory that runs out while a good line is parsed. cJSON's allocations go
 * through the wrapped malloc too (tests/harness/interpose.h), by the hook
 * below, so that the first few refused are cJSON's and the later ones the
 * parse's own: log_entry_new, wrapped as one allocation (with the malloc
 * of a new slab block in it, when it needs one). The hook counts the
 * refusals that were cJSON's.
 */
static long cjson_refused;

static void *refusable_malloc(size_t size)
{
	void *block = malloc(size);
	cjson_refused += block == NULL;
	return block;
}

/* How allocation k + 1 is refused: alone, or with every one after it. */
struct refusal {
	void (*arm)(long granted);
	const char *how;
};

/*
 * The parse's answer while allocation granted + 1 is refused as r says.
 * A refusal of the parse's own allocation is PARSE_ENOMEM; one of cJSON's
 * makes its parse return NULL, as bad JSON does, so PARSE_INVALID_JSON is
 * right too. Either way *entry is NULL. Returns how many of the parse's
 * own allocations were refused.
 */
static long parse_with_allocations(const struct log_format *fmt, const char *text, long granted,
				   const struct refusal *r)
{
	const char *as = fmt != NULL ? fmt->name : "default";
	struct log_entry *e = NULL;
	cjson_refused = 0;
	r->arm(granted);
	enum parse_error err = parse_log_line_as(fmt, text, strlen(text), &e);
	long refused = harness_allocations_restored(), own = refused - cjson_refused;
	log_entry_free(e);
	int cjson_only = refused > 0 && own == 0;
	if (refused > 0 && (e != NULL || !(err == PARSE_ENOMEM || (cjson_only && err == PARSE_INVALID_JSON))))
		fail_msg("allocation %ld (%s) failed %s while the good line %s (format %s) was parsed, and "
			 "the parse returned %s with *entry %s; expected %s and NULL: when any allocation "
			 "of the parse fails (log_entry_new returns NULL when memory runs out), the answer "
			 "is PARSE_ENOMEM with *entry NULL, and the tree is deleted all the same",
			 granted + 1, cjson_only ? "one of cJSON's" : "one of the parse's own", r->how, text,
			 as, reason(err), e != NULL ? "set" : "NULL",
			 cjson_only ? "PARSE_INVALID_JSON (cJSON's NULL cannot tell) or PARSE_ENOMEM"
				    : "PARSE_ENOMEM");
	return own;
}

/*
 * The same line through parser_step: counted under invalid_json, and no
 * entry. 1 once granted was enough for the whole line (the entry was made,
 * and is freed here); 0 after checking how the step counted it.
 */
static int step_with_allocations(const struct log_format *fmt, const char *text, long granted,
				 const struct refusal *r)
{
	struct parser_stage st = {.format = fmt};
	struct line *line = line_new(text, strlen(text));
	assert_non_null(line);
	const char *as = fmt != NULL ? fmt->name : "default";
	r->arm(granted);
	struct log_entry *e = parser_step(&st, line);
	long refused = harness_allocations_restored();
	if (refused == 0 && e == NULL)
		fail_msg("parser_step returned NULL for the good line %s (format %s)", text, as);
	if (refused == 0) {
		log_entry_free(e);
		return 1;
	}
	if (e != NULL)
		fail_msg("parser_step returned an entry for %s (format %s) although allocation %ld of the "
			 "line failed: out of memory, the line is an error and the step returns NULL",
			 text, as, granted + 1);
	unsigned long long bad_json = atomic_load(&st.stats.errors[PARSE_INVALID_JSON]),
			   entries = atomic_load(&st.stats.entries);
	if (bad_json != 1 || entries != 0 || total_errors(&st.stats) != 1)
		fail_msg(
		    "allocation %ld of the good line %s (format %s) failed, and the stats say "
		    "invalid_json %llu, entries %llu, errors in all %llu; expected 1, 0, 1: PARSE_ENOMEM "
		    "is counted under invalid_json (errors[PARSE_ENOMEM] is one past the end of the "
		    "array, and the field after it is entries)",
		    granted + 1, text, as, bad_json, entries, total_errors(&st.stats));
	expect_stat(&st.stats, lines, 1, "one line went in");
	return 0;
}

/* Each allocation a good line needs fails in turn, alone and with every
 * one after it, cJSON's included: the parse of the line as fmt answers
 * PARSE_ENOMEM (or PARSE_INVALID_JSON, for one of cJSON's), and the step
 * counts the line under invalid_json. LeakSanitizer checks that nothing
 * half-built leaks. */
static void expect_enomem_counted_as_invalid_json(const struct log_format *fmt, const char *line)
{
	enum { MOST = 64 }; /* cJSON's tree of the line, then the entry */
	const struct refusal refusals[] = {{harness_fail_allocations_after, "with every one after it"},
					   {harness_fail_one_allocation_after, "alone"}};
	cJSON_Hooks hooks = {.malloc_fn = refusable_malloc, .free_fn = free};
	cJSON_InitHooks(&hooks);
	for (int r = 0; r < 2; r++) {
		long granted = 0, own = 0;
		for (; granted <= MOST; granted++) {
			own += parse_with_allocations(fmt, line, granted, &refusals[r]);
			if (step_with_allocations(fmt, line, granted, &refusals[r]))
				break;
		}
		if (granted > MOST)
			fail_msg(
			    "parser_step still had an allocation refused with %d granted for the line %s: "
			    "does it allocate in a loop?",
			    MOST, line);
		if (own == 0)
			fail_msg(
			    "parser_step made an entry of %s while each allocation failed in turn, "
			    "log_entry_new's included, and none of the parse's own was refused: make the "
			    "entry with log_entry_new (src/log_entry.h), so that this test can see what "
			    "your parse does when memory runs out",
			    line);
	}
	cJSON_InitHooks(NULL);
}

static void test_out_of_memory_is_enomem_counted_as_invalid_json(void **state)
{
	(void)state;
	expect_enomem_counted_as_invalid_json(NULL, "{\"ts\":\"2026-11-25T10:00:00Z\",\"level\":\"warn\","
						    "\"service\":\"api\",\"msg\":\"slow\"}");
}

/* This line has a latency: an entry left unchecked is written through. */
static void test_out_of_memory_is_enomem_whatever_the_format(void **state)
{
	(void)state;
	expect_enomem_counted_as_invalid_json(
	    log_format_preset("pino"), "{\"time\":\"2026-11-25T10:00:00Z\",\"level\":40,\"name\":\"api\","
				       "\"msg\":\"slow\",\"latency_ms\":12.5}");
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
	expect_stat(&s.st.stats, lines, 1, "one marker went in");
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
	expect_count("the lines the producer sent", (unsigned long long)p.sent, (unsigned long long)p.n,
		     "the stage must take every line");
	expect_stat(&s.st.stats, lines, (unsigned long long)p.n, "every line received is counted");
	expect_stat(&s.st.stats, entries, 0,
		    "out was closed before the first entry, so none was sent: count in entries only "
		    "when chan_send returned CHAN_OK (an entry that could not be sent is discarded)");
	expect_stat(&s.st.stats, discarded, (unsigned long long)p.n,
		    "each entry that could not be sent is freed and counted in discarded");
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

/* A stage started on n good lines (in closed behind them) with an out of
 * capacity 1 and nobody receiving: the first entry fills out, and the
 * stage is left blocked sending the second. */
static void start_blocked_on_full_out(struct stage_test *s, int n)
{
	stage_init(s, (size_t)n, 1);
	for (int i = 0; i < n; i++)
		send_line(s->st.in, "{\"level\":\"info\",\"service\":\"api\"}");
	assert_chan_status(chan_close(s->st.in), CHAN_OK);
	stage_start(s);
	if (!harness_wait_until(stage_blocked_on_out, s) || harness_thread_done(&s->thread))
		fail_msg("the stage should be blocked sending its second entry on a full out (capacity 1)");
}

static void test_stage_stops_sending_when_out_is_closed_under_it(void **state)
{
	(void)state;
	enum { N = 6 };
	struct stage_test s;
	start_blocked_on_full_out(&s, N);
	harness_on_hang("parser_run stayed blocked after out was closed under it");
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	stage_join(&s);
	expect_stat(&s.st.stats, lines, N, "every line received is counted");
	expect_stat(&s.st.stats, entries, 1,
		    "only the first entry fit in out before it was closed: count in entries only when "
		    "chan_send returned CHAN_OK");
	if (atomic_load(&s.st.stats.discarded) != N - 1)
		fail_msg("%d entries could not be sent after out was closed, but stats.discarded is %llu: "
			 "count each entry you free instead of sending, or the pipeline's accounting "
			 "loses it",
			 N - 1, (unsigned long long)atomic_load(&s.st.stats.discarded));
	stage_free(&s); /* frees the one entry that made it into out */
}

/* entries counts what was sent, so it never runs ahead of a send, and
 * never goes down: Prometheus reads a counter that went down as a restart. */
static void test_stage_counts_an_entry_only_once_it_is_sent(void **state)
{
	(void)state;
	struct stage_test s;
	start_blocked_on_full_out(&s, 2);
	expect_counted_once_sent(atomic_load(&s.st.stats.entries), "stats.entries");
	harness_on_hang("parser_run stayed blocked after out was closed under it");
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	stage_join(&s);
	expect_stat(&s.st.stats, entries, 1, "one entry was sent, and a counter never goes down");
	expect_stat(&s.st.stats, discarded, 1, "the second entry could not be sent: it is discarded");
	expect_stat(&s.st.stats, lines, 2, "every line received is counted");
	stage_free(&s);
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
				 received, quoted(e->message));
		log_entry_free(e);
		received++;
	}
	join_producer(&s, &pt, "the producer stayed blocked on in");
	stage_join(&s);
	expect_count("the entries received from out", (unsigned long long)received, (unsigned long long)p.n,
		     "one entry per good line");
	expect_stat(&s.st.stats, lines, (unsigned long long)p.n, "every line received is counted");
	expect_stat(&s.st.stats, entries, (unsigned long long)p.n, "every entry sent is counted");
	expect_count("the errors, summed over the reasons", total_errors(&s.st.stats), 0,
		     "every line was good");
	stage_free(&s);
}

/* ---- part 2: other loggers' JSON ----------------------------------------------- */

#define L04P2 L04 "#build-it-a-path-and-a-scale"

/* Parses json (a test's own text) or fails. */
static cJSON *tree(const char *json)
{
	cJSON *root = cJSON_Parse(json);
	if (root == NULL)
		fail_msg("the test's own JSON does not parse: %s", json);
	return root;
}

/* json_path_find(root of json, path) must be the number want, or NULL if want < 0. */
static void expect_path(const char *json, const char *path, size_t len, double want, const char *why)
{
	cJSON *root = tree(json);
	const cJSON *got = (const cJSON *)json_path_find((const struct cJSON *)root, path, len);
	int found = got != NULL, number = cJSON_IsNumber(got);
	double value = number ? got->valuedouble : -1;
	cJSON_Delete(root);
	if (want < 0 && found)
		fail_msg("in %s, the path \"%.*s\" found a member, expected NULL: %s", json, (int)len, path,
			 why);
	if (want >= 0 && !found)
		fail_msg("in %s, the path \"%.*s\" found nothing (NULL), expected the member whose value is "
			 "%g: %s",
			 json, (int)len, path, want, why);
	if (want >= 0 && !number)
		fail_msg("in %s, the path \"%.*s\" found a member that is not a number, expected the one "
			 "whose value is %g: %s",
			 json, (int)len, path, want, why);
	if (want >= 0 && value != want)
		fail_msg("in %s, the path \"%.*s\" found the member whose value is %g, expected the one "
			 "whose value is %g: %s",
			 json, (int)len, path, value, want, why);
}

static void test_path_tries_the_flat_key_then_nested_objects(void **state)
{
	(void)state;
	expect_path("{\"level\":1}", "level", 5, 1, "a path without a dot is a key");
	expect_path("{\"log.level\":1,\"log\":{\"level\":2}}", "log.level", 9, 1,
		    "a flat key with a dot in it comes first (ECS libraries write \"log.level\" as one key)");
	expect_path("{\"log\":{\"level\":2}}", "log.level", 9, 2,
		    "without a flat key, the dot steps into \"log\"");
	expect_path("{\"a\":{\"b\":{\"c\":3}}}", "a.b.c", 5, 3, "each dot is a step down");
	expect_path("{\"a.b\":{\"c\":4}}", "a.b.c", 5, 4, "a flat key may be a step of a longer path");
	expect_path("{\"a\":{\"b.c\":5}}", "a.b.c", 5, 5, "the rest of a path may be a flat key");
	expect_path("{\"a\":{\"x\":1},\"a.b\":{\"c\":4}}", "a.b.c", 5, 4,
		    "\"a\" is an object without \"b.c\", so the lookup goes on to the next dot and finds "
		    "\"c\" in \"a.b\" (a prefix that is an object is one way to cut the path, not the "
		    "only one)");
	expect_path("{\"a.b\":{\"c\":4},\"a\":{\"b.c\":5}}", "a.b.c", 5, 5,
		    "the cuts are tried from the left: \"a\" with \"b.c\" inside it comes before \"a.b\" "
		    "with \"c\" inside it");
	expect_path("{\"service\":{\"name\":6}}", "service.name,name", 12, 6,
		    "only path[0..len) is the path: the text after it is not");
}

static void test_path_finds_nothing_where_there_is_nothing(void **state)
{
	(void)state;
	expect_path("{\"log\":{\"lvl\":0,\"level\":1}}", "log.level", 9, 1, "the one that is there");
	expect_path("{\"log\":\"info\"}", "log.level", 9, -1,
		    "\"log\" is a string, not an object to step into");
	expect_path("{\"Log\":{\"level\":1}}", "log.level", 9, -1, "keys are case-sensitive");
	expect_path("{\"log\":{\"lvl\":1}}", "log.level", 9, -1, "\"log\" has no \"level\"");
	expect_path("{\"levels\":1}", "level", 5, -1, "\"levels\" is not \"level\"");
	expect_path("{\"lev\":1}", "level", 5, -1, "\"lev\" is not \"level\"");
	expect_path("[1,2]", "0", 1, -1, "an array is not an object");
}

static void test_numbers_are_levels_on_the_pino_and_syslog_scales(void **state)
{
	(void)state;
	static const struct {
		double number;
		enum level_scale scale;
		int level; /* -1: none */
	} cases[] = {
	    {10, LEVEL_SCALE_PINO, LOG_TRACE},	 {20, LEVEL_SCALE_PINO, LOG_DEBUG},
	    {30, LEVEL_SCALE_PINO, LOG_INFO},	 {40, LEVEL_SCALE_PINO, LOG_WARN},
	    {50, LEVEL_SCALE_PINO, LOG_ERROR},	 {60, LEVEL_SCALE_PINO, LOG_FATAL},
	    {35, LEVEL_SCALE_PINO, LOG_INFO},	 {70, LEVEL_SCALE_PINO, LOG_FATAL},
	    {9, LEVEL_SCALE_PINO, -1},		 {0, LEVEL_SCALE_PINO, -1},
	    {30.5, LEVEL_SCALE_PINO, -1},	 {-30, LEVEL_SCALE_PINO, -1},
	    {0, LEVEL_SCALE_SYSLOG, LOG_FATAL},	 {2, LEVEL_SCALE_SYSLOG, LOG_FATAL},
	    {3, LEVEL_SCALE_SYSLOG, LOG_ERROR},	 {4, LEVEL_SCALE_SYSLOG, LOG_WARN},
	    {5, LEVEL_SCALE_SYSLOG, LOG_INFO},	 {6, LEVEL_SCALE_SYSLOG, LOG_INFO},
	    {7, LEVEL_SCALE_SYSLOG, LOG_DEBUG},	 {8, LEVEL_SCALE_SYSLOG, -1},
	    {-1, LEVEL_SCALE_SYSLOG, -1},	 {1.5, LEVEL_SCALE_SYSLOG, -1},
	    {30, LEVEL_SCALE_NONE, -1},		 {1e300, LEVEL_SCALE_PINO, -1},
	    {1e14, LEVEL_SCALE_PINO, LOG_FATAL}, {1e15, LEVEL_SCALE_PINO, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level got = LOG_LEVELS;
		int rc = log_level_from_number(cases[i].number, cases[i].scale, &got);
		int want = cases[i].level;
		if (want < 0 && rc == 0)
			fail_msg("log_level_from_number(%g, scale %d) gave %s; that number is no level there",
				 cases[i].number, cases[i].scale, log_level_name(got));
		if (want >= 0 && (rc != 0 || got != (enum log_level)want))
			fail_msg("log_level_from_number(%g, scale %d) gave %s, expected %s", cases[i].number,
				 cases[i].scale, rc != 0 ? "-1" : log_level_name(got),
				 log_level_name((enum log_level)want));
	}
}

/* The line, parsed as the preset `format`, must give level, service and message. */
static void expect_as(const char *format, const char *text, enum log_level level, const char *service,
		      const char *message)
{
	const struct log_format *fmt = log_format_preset(format);
	assert_non_null(fmt);
	struct log_entry *e = NULL;
	enum parse_error err = parse_log_line_as(fmt, text, strlen(text), &e);
	if (err != PARSE_OK || e == NULL)
		fail_msg("parse_log_line_as(%s, %s) returned %s, expected PARSE_OK", format, text,
			 reason(err));
	int same = e->level == level && strcmp(e->service, service) == 0 && strcmp(e->message, message) == 0;
	char got[256];
	snprintf(got, sizeof(got), "%s, %s, %s", log_level_name(e->level), quoted(e->service),
		 quoted(e->message));
	log_entry_free(e);
	if (!same)
		fail_msg("parse_log_line_as(%s, %s) gave %s; expected %s, %s, %s", format, text, got,
			 log_level_name(level), quoted(service), quoted(message));
}

/* The line, parsed as the preset `format`, must be rejected with want. */
static void expect_as_error(const char *format, const char *text, enum parse_error want, const char *why)
{
	struct log_entry *e = NULL;
	enum parse_error err = parse_log_line_as(log_format_preset(format), text, strlen(text), &e);
	int set = e != NULL;
	log_entry_free(e);
	if (err != want)
		fail_msg("parse_log_line_as(%s, %s) returned %s, expected %s: %s", format, text, reason(err),
			 reason(want), why);
	if (set)
		fail_msg("parse_log_line_as(%s, %s) failed but set *entry", format, text);
}

static void test_each_preset_reads_its_logger(void **state)
{
	(void)state;
	expect_as("pino",
		  "{\"level\":30,\"time\":1,\"pid\":1,\"hostname\":\"h\",\"name\":\"api\",\"msg\":\"hi\"}",
		  LOG_INFO, "api", "hi");
	expect_as("bunyan",
		  "{\"name\":\"auth\",\"hostname\":\"h\",\"pid\":1,\"level\":50,\"msg\":\"no\","
		  "\"time\":\"2026-12-05T06:00:00.000Z\",\"v\":0}",
		  LOG_ERROR, "auth", "no");
	expect_as("zap",
		  "{\"level\":\"dpanic\",\"ts\":1.5,\"logger\":\"pay\",\"caller\":\"a.go:1\",\"msg\":\"x\"}",
		  LOG_ERROR, "pay", "x");
	expect_as("zap", "{\"level\":\"panic\",\"ts\":1.5,\"service\":\"gw\",\"msg\":\"y\"}", LOG_FATAL, "gw",
		  "y");
	expect_as("logrus", "{\"level\":\"warning\",\"msg\":\"low\",\"time\":\"t\",\"service\":\"orders\"}",
		  LOG_WARN, "orders", "low");
	expect_as("slog", "{\"time\":\"t\",\"level\":\"INFO+2\",\"msg\":\"m\"}", LOG_INFO, "unknown", "m");
	expect_as("slog", "{\"time\":\"t\",\"level\":\"DEBUG-4\",\"msg\":\"m\"}", LOG_TRACE, "unknown", "m");
	expect_as("slog", "{\"time\":\"t\",\"level\":\"ERROR+4\",\"msg\":\"m\"}", LOG_ERROR, "unknown", "m");
	expect_as("ecs",
		  "{\"@timestamp\":\"t\",\"log.level\":\"warn\",\"message\":\"m\",\"service.name\":\"co\"}",
		  LOG_WARN, "co", "m");
	expect_as("ecs",
		  "{\"@timestamp\":\"t\",\"log\":{\"level\":\"critical\"},\"message\":\"m\",\"service\":"
		  "{\"name\":\"co\"}}",
		  LOG_FATAL, "co", "m");
	expect_as("default", "{\"level\":\"info\",\"service\":\"s\",\"message\":\"m\"}", LOG_INFO, "s", "m");
}

static void test_a_number_is_a_level_only_on_a_scale(void **state)
{
	(void)state;
	expect_as_error("zap", "{\"level\":30,\"msg\":\"m\"}", PARSE_MISSING_LEVEL,
			"without a scale a number is no level, as in parse_log_line");
	expect_as_error("pino", "{\"level\":5,\"msg\":\"m\"}", PARSE_BAD_LEVEL,
			"5 is no level on pino's scale");
	expect_as_error("pino", "{\"level\":\"30\",\"msg\":\"m\"}", PARSE_BAD_LEVEL,
			"\"30\" is a string, and no level name");
	expect_as_error("slog", "{\"level\":\"INFO+x\",\"msg\":\"m\"}", PARSE_BAD_LEVEL, "+x is no offset");
	expect_as_error("ecs", "{\"level\":\"info\",\"message\":\"m\"}", PARSE_MISSING_LEVEL,
			"ECS keeps the level in log.level");
	expect_as_error("ecs", "{\"log.level\":\"info\",\"message\":\"cut", PARSE_INVALID_JSON,
			"a format does not make broken JSON readable");
	expect_as_error("ecs", "{\"log.level\":\"info\"} {}", PARSE_INVALID_JSON, "text after the object");
}

static void test_candidates_are_tried_in_order_each_with_its_type(void **state)
{
	(void)state;
	struct log_format fmt = *log_format_preset("default");
	fmt.level = "severity,level";
	fmt.service = "svc.name,app";
	fmt.latency = "took,latency_ms";
	const char text[] =
	    "{\"severity\":5,\"level\":\"warn\",\"app\":\"a\",\"took\":\"slow\",\"latency_ms\":7}";
	struct log_entry *e = NULL;
	enum parse_error err = parse_log_line_as(&fmt, text, sizeof(text) - 1, &e);
	if (err != PARSE_OK || e->level != LOG_WARN)
		fail_msg(
		    "with no scale, the number 5 under \"severity\" is skipped and \"level\" gives warn; got "
		    "%s",
		    err != PARSE_OK ? reason(err) : log_level_name(e->level));
	if (strcmp(e->service, "a") != 0 || !e->has_latency || e->latency_ms != 7)
		fail_msg("service %s latency %g (has %d): the first candidate of the right type wins "
			 "(\"app\", and latency_ms since \"took\" is no number)",
			 quoted(e->service), e->latency_ms, e->has_latency);
	log_entry_free(e);
	fmt.scale = LEVEL_SCALE_SYSLOG;
	e = NULL;
	err = parse_log_line_as(&fmt, text, sizeof(text) - 1, &e);
	if (err != PARSE_OK || e->level != LOG_INFO)
		fail_msg("on the syslog scale, \"severity\":5 (notice) comes first and is info; got %s",
			 err != PARSE_OK ? reason(err) : log_level_name(e->level));
	log_entry_free(e);
}

static void test_format_field_names_are_case_sensitive(void **state)
{
	(void)state;
	expect_as_error("pino", "{\"Level\":30,\"msg\":\"a\"}", PARSE_MISSING_LEVEL,
			"a format's keys are case-sensitive too: \"Level\" is not \"level\"");
	expect_as("pino", "{\"level\":30,\"Name\":\"pay\",\"Service\":\"pay\",\"MSG\":\"b\"}", LOG_INFO,
		  "unknown", "");
	expect_as("ecs", "{\"log.level\":\"warn\",\"Service.Name\":\"pay\",\"service\":{\"Name\":\"pay\"}}",
		  LOG_WARN, "unknown", "");
	expect_path("{\"Level\":1}", "level", 5, -1, "keys are case-sensitive");
	expect_path("{\"log\":{\"Level\":1}}", "log.level", 9, -1, "keys inside are case-sensitive too");
}

static void test_an_empty_string_is_a_string_whatever_the_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(empty_string_lines) / sizeof(empty_string_lines[0]); i++)
		expect_strings_as(log_format_preset("default"), empty_string_lines[i], "", "", "",
				  "an empty string is a string: the first candidate holding one wins, "
				  "\"\" included, and the later candidates and the fallback are not "
				  "looked at");
	expect_strings_as(log_format_preset("ecs"),
			  "{\"log.level\":\"info\",\"service.name\":\"\",\"service\":{\"name\":\"co\"},"
			  "\"message\":\"\",\"@timestamp\":\"\"}",
			  "", "", "", "a flat key holding \"\" is found first, and is a string");
}

static void test_every_tree_is_deleted_whatever_the_format(void **state)
{
	(void)state;
	count_cjson_blocks();
	expect_first_tree_line_ok("pino");
	/* The same ways out as parse_log_line, and a few of a format's own. */
	for (size_t i = 1; i < sizeof(tree_lines) / sizeof(tree_lines[0]); i++)
		expect_tree_deleted("pino", tree_lines[i]);
	expect_tree_deleted("pino", "{\"level\":5,\"msg\":\"m\"}");
	expect_tree_deleted("ecs", "{\"log\":{\"level\":\"warn\"},\"message\":\"m\"}");
	expect_tree_deleted("ecs", "{\"message\":\"no level\"}");
}

/* ---- part 2: container logs ---------------------------------------------------- */

/* One line through a stage's step: the entry, or NULL. */
static struct log_entry *step_text(struct parser_stage *st, const char *text)
{
	struct line *l = line_new(text, strlen(text));
	assert_non_null(l);
	return parser_step(st, l);
}

/* A piece that does not end its line must give no entry: the stage holds it. */
static void expect_held(struct parser_stage *st, const char *piece)
{
	struct log_entry *e = step_text(st, piece);
	if (e != NULL) {
		log_entry_free(e);
		fail_msg("parser_step gave an entry for the piece %s: a piece that does not end its line is "
			 "held until the one that does (parser_unwrap returns NULL for it)",
			 quoted(piece));
	}
}

static void test_stage_parses_with_its_format(void **state)
{
	(void)state;
	struct parser_stage st = {.format = log_format_preset("pino")};
	struct log_entry *e = step_text(&st, "{\"level\":40,\"name\":\"api\",\"msg\":\"slow\"}");
	if (e == NULL || e->level != LOG_WARN || strcmp(e->service, "api") != 0)
		fail_msg("parser_step with st->format pino did not read a pino line: parse with "
			 "parse_log_line_as(st->format, ...)");
	log_entry_free(e);
}

static void test_docker_lines_are_unwrapped(void **state)
{
	(void)state;
	struct parser_stage st = {.container = CONTAINER_DOCKER};
	struct log_entry *e =
	    step_text(&st, "{\"log\":\"{\\\"level\\\":\\\"error\\\",\\\"msg\\\":\\\"boom\\\"}\\n\","
			   "\"stream\":\"stderr\",\"time\":\"2026-12-05T06:00:00.000000001Z\"}");
	if (e == NULL || e->level != LOG_ERROR || strcmp(e->message, "boom") != 0)
		fail_msg("a Docker stderr line was not unwrapped: parser_step must hand its line to "
			 "parser_unwrap first, and parse what it returns");
	log_entry_free(e);
	if (step_text(&st, "{\"log\":\"panic: nil map\\n\",\"stream\":\"stderr\",\"time\":\"t\"}") != NULL)
		fail_msg("\"panic: nil map\" is no JSON log line");
	expect_stat(&st.stats, errors[PARSE_INVALID_JSON], 1, "the unwrapped \"panic: nil map\" is not JSON");
	expect_stat(&st.stats, lines, 2, "two Docker lines went in");
}

static void test_cri_pieces_are_joined_in_order(void **state)
{
	(void)state;
	struct parser_stage st = {.container = CONTAINER_CRI};
	const char *const pieces[] = {"2026-12-05T06:00:00.1Z stdout P {\"level\":\"warn\",",
				      "2026-12-05T06:00:00.2Z stdout P \"msg\":\"one ",
				      "2026-12-05T06:00:00.3Z stdout F line\"}"};
	for (int i = 0; i < 2; i++)
		if (step_text(&st, pieces[i]) != NULL)
			fail_msg("a P piece gave an entry: it is kept until the F piece ends its line");
	struct log_entry *e = step_text(&st, pieces[2]);
	if (e == NULL || e->level != LOG_WARN || strcmp(e->message, "one line") != 0)
		fail_msg("P, P, F did not give the line they make together");
	log_entry_free(e);
	expect_stat(&st.stats, lines, 3, "three pieces went in, each a line received");
	expect_stat(&st.stats, joined, 2, "the two P pieces were joined into the line the F piece ended");
	parser_finish(&st);
	expect_stat(&st.stats, discarded, 0, "no piece was left over for parser_finish");
}

static void test_cri_pieces_of_each_stream_are_joined_apart(void **state)
{
	(void)state;
	struct parser_stage st = {.container = CONTAINER_CRI};
	expect_held(&st, "t stdout P {\"level\":\"info\",\"msg\":\"out");
	struct log_entry *e = step_text(&st, "t stderr F {\"level\":\"error\",\"msg\":\"err\"}");
	if (e == NULL || e->level != LOG_ERROR || strcmp(e->message, "err") != 0)
		fail_msg("a whole stderr line between two stdout pieces must be a line of its own");
	log_entry_free(e);
	e = step_text(&st, "t stdout F \"}");
	if (e == NULL || strcmp(e->message, "out") != 0)
		fail_msg("stdout's pieces must join across a stderr line between them");
	log_entry_free(e);
	expect_stat(&st.stats, joined, 1, "one piece was held, then joined into its line");
	parser_finish(&st);
}

static void test_docker_pieces_without_a_newline_are_joined(void **state)
{
	(void)state;
	struct parser_stage st = {.container = CONTAINER_DOCKER};
	expect_held(&st, "{\"log\":\"{\\\"level\\\":\\\"warn\\\",\",\"stream\":\"stdout\",\"time\":\"t\"}");
	struct log_entry *e =
	    step_text(&st, "{\"log\":\"\\\"msg\\\":\\\"long\\\"}\\n\",\"stream\":\"stdout\",\"time\":\"t\"}");
	if (e == NULL || e->level != LOG_WARN || strcmp(e->message, "long") != 0)
		fail_msg(
		    "Docker splits a long line into entries whose \"log\" has no newline but the last one's: "
		    "they make one line");
	log_entry_free(e);
	expect_stat(&st.stats, joined, 1, "one piece was held, then joined into its line");
	parser_finish(&st);
}

static void test_cri_line_joined_past_the_limit_is_too_long(void **state)
{
	(void)state;
	struct parser_stage st = {.container = CONTAINER_CRI, .max_line = 32};
	expect_held(&st, "t stdout P {\"level\":\"info\",\"msg\":\"0123456789");
	expect_held(&st, "t stdout P 0123456789");
	if (step_text(&st, "t stdout F \"}") != NULL)
		fail_msg("a line joined past max_line gave an entry");
	expect_stat(&st.stats, errors[PARSE_TOO_LONG], 1, "the joined line is over max_line (32 bytes)");
	expect_stat(&st.stats, joined, 2, "the two P pieces are joined even when the line is too long");
	/* The next line starts afresh. */
	struct log_entry *e = step_text(&st, "t stderr F {\"level\":\"info\"}");
	assert_non_null(e);
	log_entry_free(e);
	parser_finish(&st);
}

static void test_pieces_whose_line_never_ends_are_discarded(void **state)
{
	(void)state;
	struct parser_stage st = {.container = CONTAINER_CRI};
	expect_held(&st, "t stdout P {\"level\":");
	if (step_text(&st, "not a CRI line") != NULL)
		fail_msg("\"not a CRI line\" gave an entry");
	expect_stat(&st.stats, errors[PARSE_INVALID_JSON], 1,
		    "a line that is no CRI line is parsed as it is");
	parser_finish(&st);
	expect_stat(&st.stats, discarded, 1, "parser_finish counts the one piece whose line never ended");
	parser_finish(&st);
	expect_stat(&st.stats, discarded, 1, "a second parser_finish holds nothing to count");
	/* and LeakSanitizer checks that the piece held was freed */
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_level_names_are_canonical_lower_case, L04 "#levels-and-reason-names"),
	    HTEST(test_level_parse_ignores_case_and_knows_warning, L04 "#levels-and-reason-names"),
	    HTEST(test_level_parse_rejects_other_names, L04 "#levels-and-reason-names"),
	    HTEST(test_error_names_are_the_metric_labels, L04 "#levels-and-reason-names"),
	    HTEST(test_out_of_range_names_are_unknown, L04 "#levels-and-reason-names"),
	    HTEST(test_entry_owns_its_strings, L04 "#who-owns-what"),
	    HTEST(test_full_line_fills_every_field, L04 "#parsing-one-line"),
	    HTEST(test_text_that_is_not_json_is_invalid_json, L04 "#parsing-one-line"),
	    HTEST(test_json_that_is_not_an_object_is_invalid_json, L04 "#parsing-one-line"),
	    HTEST(test_object_followed_by_other_text_is_invalid_json,
		  L04 "#handing-cjson-a-terminated-string"),
	    HTEST(test_nul_byte_inside_the_line_is_invalid_json, L04 "#handing-cjson-a-terminated-string"),
	    HTEST(test_nul_as_the_last_byte_is_invalid_json, L04 "#handing-cjson-a-terminated-string"),
	    HTEST(test_line_without_level_is_missing_level, L04 "#parsing-one-line"),
	    HTEST(test_empty_object_is_missing_level, L04 "#parsing-one-line"),
	    HTEST(test_level_that_is_not_a_string_is_missing_level, L04 "#parsing-one-line"),
	    HTEST(test_unknown_level_is_bad_level, L04 "#parsing-one-line"),
	    HTEST(test_level_aliases_and_case_give_the_canonical_level, L04 "#levels-and-reason-names"),
	    HTEST(test_service_is_unknown_when_absent_or_not_a_string, L04 "#finding-a-string-field"),
	    HTEST(test_message_comes_from_msg_or_message_else_empty, L04 "#finding-a-string-field"),
	    HTEST(test_timestamp_comes_from_ts_or_time_else_null, L04 "#finding-a-string-field"),
	    HTEST(test_an_empty_string_is_a_string, L04 "#finding-a-string-field"),
	    HTEST(test_the_first_name_wins_over_its_alias, L04 "#finding-a-string-field"),
	    HTEST(test_the_alias_stands_in_for_a_first_name_that_is_no_string, L04 "#finding-a-string-field"),
	    HTEST(test_latency_is_kept_only_when_a_number, L04 "#parsing-one-line"),
	    HTEST(test_nested_objects_and_other_fields_are_ignored, L04 "#parsing-one-line"),
	    HTEST(test_field_names_are_case_sensitive, L04 "#finding-a-string-field"),
	    HTEST(test_escapes_and_unicode_become_utf8, L04 "#parsing-one-line"),
	    HTEST(test_failed_parse_sets_entry_null_so_it_can_be_freed, L04 "#who-owns-what"),
	    HTEST(test_every_tree_is_deleted_whatever_the_line, L04 "#who-owns-what"),
	    HTEST(test_step_parses_counts_and_frees_one_line, L04 "#the-stage-loop"),
	    HTEST(test_step_counts_the_line_before_it_parses_it, L04 "#the-stage-loop"),
	    HTEST(test_out_of_memory_is_enomem_counted_as_invalid_json, L04 "#parsing-one-line"),
	    HTEST(test_stage_sends_one_entry_per_good_line_in_order, L04 "#the-stage-loop"),
	    HTEST(test_stage_counts_each_error_by_reason, L04 "#the-stage-loop"),
	    HTEST(test_stage_counts_too_long_marker_without_parsing_it, L04 "#the-stage-loop"),
	    HTEST(test_stage_closes_out_when_in_is_closed, L04 "#the-stage-loop"),
	    HTEST(test_stage_keeps_draining_in_when_out_is_closed, L04 "#when-nobody-is-downstream"),
	    HTEST(test_stage_stops_sending_when_out_is_closed_under_it, L04 "#when-nobody-is-downstream"),
	    HTEST(test_stage_counts_an_entry_only_once_it_is_sent, L04 "#when-nobody-is-downstream"),
	    HTEST(test_stage_moves_many_lines_through_small_channels, L04 "#the-stage-loop"),
	    HTEST(test_path_tries_the_flat_key_then_nested_objects, L04P2),
	    HTEST(test_path_finds_nothing_where_there_is_nothing, L04P2),
	    HTEST(test_numbers_are_levels_on_the_pino_and_syslog_scales, L04P2),
	    HTEST(test_each_preset_reads_its_logger, L04P2),
	    HTEST(test_a_number_is_a_level_only_on_a_scale, L04P2),
	    HTEST(test_candidates_are_tried_in_order_each_with_its_type, L04P2),
	    HTEST(test_format_field_names_are_case_sensitive, L04P2),
	    HTEST(test_an_empty_string_is_a_string_whatever_the_format, L04P2),
	    HTEST(test_every_tree_is_deleted_whatever_the_format, L04P2),
	    HTEST(test_out_of_memory_is_enomem_whatever_the_format, L04P2),
	    HTEST(test_stage_parses_with_its_format, L04P2),
	    HTEST(test_docker_lines_are_unwrapped, L04 "#container-logs"),
	    HTEST(test_cri_pieces_are_joined_in_order, L04 "#container-logs"),
	    HTEST(test_cri_pieces_of_each_stream_are_joined_apart, L04 "#container-logs"),
	    HTEST(test_docker_pieces_without_a_newline_are_joined, L04 "#container-logs"),
	    HTEST(test_cri_line_joined_past_the_limit_is_too_long, L04 "#container-logs"),
	    HTEST(test_pieces_whose_line_never_ends_are_discarded, L04 "#container-logs"),
	};
	return harness_main(argc, argv, "04-parser", tests, HARNESS_COUNT(tests));
}
