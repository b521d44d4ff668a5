/*
 * Lesson 06: the metrics registry and the Prometheus text format.
 * Written against src/metrics.h (and src/strbuf.h, src/channel.h) only.
 */
#include "chan_testing.h"
#include "clock.h"
#include "interpose.h"
#include "last_seen.h"
#include "metrics.h"
#include "strbuf.h"
#include "text_testing.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define L06 "lessons/06-metrics/README.md"

/* U+FFFD, the replacement character, in UTF-8. */
#define FFFD "\xEF\xBF\xBD"

/* ---- helpers ------------------------------------------------------------------ */

/* The text in sb, as a new string (the caller frees it); sb is emptied.
 * A buffer nothing was appended to has no text yet: that is "". */
static char *take_text(struct strbuf *sb)
{
	char *text = strdup(sb->data != NULL ? sb->data : "");
	int failed = sb->failed;
	strbuf_free(sb);
	if (text == NULL || failed)
		fail_msg("out of memory");
	return text;
}

static char *label_escaped(const char *value)
{
	struct strbuf sb = STRBUF_INIT;
	metrics_escape_label_value(&sb, value);
	return take_text(&sb);
}

static char *help_escaped(const char *help)
{
	struct strbuf sb = STRBUF_INIT;
	metrics_escape_help(&sb, help);
	return take_text(&sb);
}

/* Fails, naming the first line that differs, unless got == want. */
static void assert_text_equal(const char *got, const char *want, const char *hint)
{
	if (strcmp(got, want) == 0)
		return;
	size_t line = 1, i = 0;
	size_t start = 0;
	while (got[i] != '\0' && got[i] == want[i]) {
		if (got[i] == '\n') {
			line++;
			start = i + 1;
		}
		i++;
	}
	char g[200], w[200];
	snprintf(g, sizeof(g), "%.*s", (int)strcspn(got + start, "\n"), got + start);
	snprintf(w, sizeof(w), "%.*s", (int)strcspn(want + start, "\n"), want + start);
	if (want[i] == '\0' && got[i] != '\0')
		fail_msg("the text goes on after the expected end, at line %zu: %s (%s)", line,
			 quoted(g), hint);
	fail_msg("line %zu differs:\n     got: %s\n    want: %s\n(%s)", line, quoted(g),
		 quoted(w), hint);
}

static struct metrics_registry *registry_or_fail(size_t limit)
{
	struct metrics_registry *reg = metrics_registry_new(limit);
	if (reg == NULL)
		fail_msg("metrics_registry_new returned NULL");
	return reg;
}

static struct metric_family *must(struct metric_family *f, const char *what)
{
	if (f == NULL)
		fail_msg("registering %s failed (%s), though it is a valid family", what, strerror(errno));
	return f;
}

static void must_update(int rc, const char *what)
{
	if (rc != 0)
		fail_msg("%s returned %d (%s), expected 0", what, rc, strerror(errno));
}

static char *render_or_fail(struct metrics_registry *reg)
{
	size_t len = 0;
	char *text = metrics_render(reg, &len);
	if (text == NULL || len != strlen(text))
		harness_see(L06 "#rendering");
	if (text == NULL)
		fail_msg("metrics_render returned NULL (%s)", strerror(errno));
	if (len != strlen(text))
		fail_msg("metrics_render set *len to %zu, but the text is %zu bytes long", len, strlen(text));
	return text;
}

static void assert_has_line(const char *text, const char *line, const char *hint)
{
	if (!text_has_line(text, line))
		fail_msg("the rendering has no line %s (%s). It was:\n%s", quoted(line),
			 hint, text);
}

static void expect_einval(struct metric_family *f, const char *what, const char *why)
{
	if (f != NULL)
		fail_msg("%s was accepted: %s", what, why);
	if (errno != EINVAL)
		fail_msg("%s returned NULL with errno %d (%s), expected EINVAL", what, errno,
			 strerror(errno));
}

/* ---- numbers in a scrape ------------------------------------------------------------ */

/*
 * metrics_format_value is given; these tests check the numbers a scrape
 * shows, through the registry and the renderer: each value is set on its
 * own series of the gauge v{i}, the registry rendered, and each sample's
 * text taken back.
 */
struct value_scrape {
	struct metrics_registry *reg;
	struct metric_family *g;
	char *text;
};

static void value_scrape_init(struct value_scrape *vs, size_t n)
{
	const char *labels[] = {"i"};
	vs->reg = registry_or_fail(n);
	vs->g = must(metrics_gauge(vs->reg, "v", "help", 1, labels), "v");
	vs->text = NULL;
}

/* Sets v{i="k"} to values[k] for each k and renders. On return texts[k]
 * is the text of values[k]'s sample (NULL if there is none), pointing into
 * vs->text, which the next call or value_scrape_free frees. */
static void value_scrape(struct value_scrape *vs, const double *values, size_t n, const char **texts)
{
	for (size_t k = 0; k < n; k++) {
		char id[24];
		snprintf(id, sizeof(id), "%zu", k);
		const char *series[] = {id};
		if (metrics_gauge_set(vs->g, series, values[k]) != 0) {
			harness_see(L06 "#finding-a-series");
			fail_msg("metrics_gauge_set on v{i=\"%zu\"} returned -1 (%s), expected 0%s", k,
				 strerror(errno),
				 vs->text == NULL ? ""
						  : ": an earlier batch made that series, so the lookup missed it "
						    "and made one too many (is every series in its hash chain?)");
		}
		texts[k] = NULL;
	}
	free(vs->text);
	vs->text = render_or_fail(vs->reg);
	/* Each sample line is v{i="k"} VALUE: cut the text into lines in place. */
	for (char *line = vs->text; *line != '\0';) {
		char *end = strchr(line, '\n');
		char *next = end != NULL ? end + 1 : line + strlen(line);
		if (end != NULL)
			*end = '\0';
		char *rest = NULL;
		unsigned long k = strncmp(line, "v{i=\"", 5) == 0 ? strtoul(line + 5, &rest, 10) : n;
		if (k < n && rest != NULL && strncmp(rest, "\"} ", 3) == 0)
			texts[k] = rest + 3;
		line = next;
	}
}

static void value_scrape_free(struct value_scrape *vs)
{
	free(vs->text);
	metrics_registry_free(vs->reg);
}

static void test_rendered_values_match_goldens(void **state)
{
	(void)state;
	static const struct {
		double v;
		const char *want;
		const char *why;
	} cases[] = {
	    {0, "0", "an integer has no decimal point"},
	    {1, "1", "an integer has no decimal point"},
	    {-1, "-1", "an integer has no decimal point"},
	    {2.5, "2.5", "the shortest text that reads back"},
	    {0.005, "0.005", "the shortest text that reads back"},
	    {0.1, "0.1", "0.1 is not exact, but %.15g reads back as the same double"},
	    {1e-300, "1e-300", "the shortest text that reads back"},
	    {1.7976931348623157e308, "1.7976931348623157e+308",
	     "the largest double needs 17 digits: with 16 it reads back as infinity"},
	    {123456789012345678.0, "1.2345678901234568e+17",
	     "above 2^53 an integer needs %.17g (this double is 123456789012345680)"},
	    {INFINITY, "+Inf", "the format spells infinity +Inf, not inf"},
	    {-INFINITY, "-Inf", "the format spells it -Inf"},
	    {NAN, "NaN", "the format spells it NaN, not nan"},
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	double values[N];
	const char *got[N];
	for (size_t i = 0; i < N; i++)
		values[i] = cases[i].v;
	static struct value_scrape vs;
	value_scrape_init(&vs, N);
	value_scrape(&vs, values, N, got);
	for (size_t i = 0; i < N; i++) {
		if (got[i] == NULL || strcmp(got[i], cases[i].want) != 0) {
			char msg[400];
			snprintf(msg, sizeof(msg),
				 "a gauge set to %.17g rendered as v{i=\"%zu\"} %s, expected %s: %s (the "
				 "renderer prints every value with metrics_format_value)",
				 cases[i].v, i, got[i] != NULL ? quoted(got[i]) : "(no such line)",
				 quoted(cases[i].want), cases[i].why);
			value_scrape_free(&vs);
			fail_msg("%s", msg);
		}
	}
	value_scrape_free(&vs);
}

/* splitmix64: a small generator, the same numbers on every run. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15u);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

/* Any double (random bits), a decimal fraction, or a large integer. */
static double random_double(uint64_t *state, long i)
{
	uint64_t r = next_random(state);
	double v;
	switch (i % 3) {
	case 0:
		memcpy(&v, &r, sizeof(v));
		return v;
	case 1:
		return (double)(r % 100000000) / pow(10, (double)((r >> 60) % 9));
	default:
		return (double)(r >> (r & 15)) * ((r & 16) ? -1 : 1);
	}
}

static void test_rendered_values_read_back_as_the_same_double(void **state)
{
	(void)state;
	enum { BATCH = 1000 };
	static double values[BATCH];
	static const char *got[BATCH];
	static struct value_scrape vs;
	uint64_t seed = 6;
	/* Formatting has no order to shake: two batches when perturbed. */
	long total = harness_scale_capped(20000, 2 * BATCH);
	value_scrape_init(&vs, BATCH);
	for (long done = 0; done < total; done += BATCH) {
		for (long k = 0; k < BATCH; k++) {
			values[k] = random_double(&seed, done + k);
			if (isnan(values[k]))
				values[k] = 0; /* NaN never equals itself: the goldens check its text */
		}
		value_scrape(&vs, values, BATCH, got);
		for (long k = 0; k < BATCH; k++) {
			char *end = NULL;
			double back = got[k] != NULL ? strtod(got[k], &end) : 0;
			if (got[k] == NULL || end == got[k] || *end != '\0' || back != values[k]) {
				char msg[300];
				snprintf(msg, sizeof(msg),
					 "a gauge set to %a rendered as %s, which reads back as %a: a value "
					 "must round-trip (printf's default %%g keeps 6 digits; 17 always "
					 "suffice; the renderer prints every value with metrics_format_value)",
					 values[k], got[k] != NULL ? quoted(got[k]) : "(no such line)", back);
				value_scrape_free(&vs);
				fail_msg("%s", msg);
			}
		}
	}
	value_scrape_free(&vs);
}

/* ---- escaping ------------------------------------------------------------------- */

static void expect_label(const char *value, const char *want, const char *why)
{
	char *got = label_escaped(value);
	if (strcmp(got, want) != 0) {
		char msg[700];
		snprintf(msg, sizeof(msg),
			 "metrics_escape_label_value(%s) appended %s, expected %s: %s",
			 quoted(value), quoted(got), quoted(want),
			 why);
		free(got);
		fail_msg("%s", msg);
	}
	free(got);
}

static void test_label_value_escapes_backslash_quote_and_newline(void **state)
{
	(void)state;
	expect_label("plain", "plain", "nothing to escape");
	expect_label("C:\\logs", "C:\\\\logs", "a backslash becomes \\\\");
	expect_label("say \"hi\"", "say \\\"hi\\\"", "a quote would end the value early: it becomes \\\"");
	expect_label("two\nlines", "two\\nlines", "a newline would end the sample line: it becomes \\n");
	expect_label("a\tb", "a\tb", "a tab is allowed in a label value and stays as it is");
	expect_label("\\\"\n", "\\\\\\\"\\n", "all three at once");
	expect_label("", "", "an empty value stays empty");
}

static void test_label_value_keeps_valid_utf8(void **state)
{
	(void)state;
	expect_label("caf\xC3\xA9", "caf\xC3\xA9", "a 2-byte sequence (U+00E9) is valid");
	expect_label("5\xE2\x82\xAC", "5\xE2\x82\xAC", "a 3-byte sequence (U+20AC) is valid");
	expect_label("\xF0\x9D\x84\x9E", "\xF0\x9D\x84\x9E", "a 4-byte sequence (U+1D11E) is valid");
	expect_label("\xEF\xBF\xBD", "\xEF\xBF\xBD", "U+FFFD itself is valid");
	expect_label("\xED\x9F\xBF", "\xED\x9F\xBF", "U+D7FF, just below the surrogates, is valid");
}

static void test_label_value_replaces_invalid_utf8(void **state)
{
	(void)state;
	expect_label("a\xFF z", "a" FFFD " z", "0xFF is never part of UTF-8: one U+FFFD");
	expect_label("caf\xE9", "caf" FFFD, "a Latin-1 byte alone: one U+FFFD");
	expect_label("x\xE2\x82", "x" FFFD,
		     "a 3-byte sequence cut short at the end of the string: one U+FFFD for what is there, "
		     "and no read past the NUL");
	expect_label("x\xE2\x82y", "x" FFFD "y", "a 3-byte sequence cut short: one U+FFFD, then go on");
	expect_label("\xC0\xAF", FFFD FFFD,
		     "C0 AF is an overlong '/': C0 never starts a sequence, AF alone is a continuation byte");
	expect_label("\xED\xA0\x80", FFFD FFFD FFFD,
		     "ED A0 80 is the surrogate U+D800, which UTF-8 may not encode: ED may only be followed "
		     "by 80..9F, so each of the three bytes is replaced");
	expect_label("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD,
		     "above U+10FFFF: F4 may only be followed by 80..8F");
	expect_label("\xE0\x80\xAF", FFFD FFFD FFFD, "an overlong 3-byte form: E0 wants A0..BF next");
	expect_label("\"\xFF\n", "\\\"" FFFD "\\n", "escapes and replacement together");
}

static void expect_help(const char *help, const char *want, const char *why)
{
	char *got = help_escaped(help);
	if (strcmp(got, want) != 0) {
		char msg[700];
		snprintf(msg, sizeof(msg), "metrics_escape_help(%s) appended %s, expected %s: %s",
			 quoted(help), quoted(got), quoted(want), why);
		free(got);
		fail_msg("%s", msg);
	}
	free(got);
}

static void test_help_escapes_only_backslash_and_newline(void **state)
{
	(void)state;
	expect_help("Lines read.", "Lines read.", "nothing to escape");
	expect_help("C:\\logs", "C:\\\\logs", "a backslash becomes \\\\");
	expect_help("first\nsecond", "first\\nsecond", "a newline would end the HELP line: it becomes \\n");
	expect_help("the \"msg\" field", "the \"msg\" field",
		    "quotes stay as they are in a help text (escaping them would show a backslash)");
	expect_help("tab\there", "tab\there", "a tab stays");
}

/* ---- names ---------------------------------------------------------------------- */

static void test_bad_metric_names_are_refused(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	static const char *const good[] = {"a", "_a", "a:b", "logpipe_lines_total", "A9_z:"};
	static const char *const bad[] = {"", "9lives", "a-b", "a b", "a.b", "caf\xC3\xA9", "a{b}"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		must(metrics_counter(reg, good[i], "help", 0, NULL), good[i]);
	char msg[120];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "metric name %s", quoted(bad[i]));
		expect_einval(metrics_counter(reg, bad[i], "help", 0, NULL), msg,
			      "a metric name is [a-zA-Z_:][a-zA-Z0-9_:]*");
	}
	expect_einval(metrics_gauge(reg, NULL, "help", 0, NULL), "a NULL name", "a name is required");
	metrics_registry_free(reg);
}

static void test_bad_label_names_are_refused(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	static const char *const bad[] = {"", "9a", "a-b", "a:b", "a b", "__x", "__name__"};
	static const char *const ok[] = {"level", "_x", "a9"};
	must(metrics_counter(reg, "ok_total", "help", 3, ok), "a counter with labels level, _x, a9");
	char name[32], msg[120];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *labels[] = {"level", bad[i]};
		snprintf(name, sizeof(name), "bad_%zu_total", i);
		snprintf(msg, sizeof(msg), "label name %s", quoted(bad[i]));
		expect_einval(
		    metrics_counter(reg, name, "help", 2, labels), msg,
		    "a label name is [a-zA-Z_][a-zA-Z0-9_]*, and names starting with __ are reserved");
	}
	const char *five[] = {"a", "b", "c", "d", "e"};
	expect_einval(metrics_gauge(reg, "five", "help", METRICS_MAX_LABELS + 1, five), "five labels",
		      "at most METRICS_MAX_LABELS labels");
	/* A refused family leaves nothing behind: the scrape shows ok_total
	 * alone. The registration is given; what may be wrong is the render. */
	harness_see(L06 "#rendering");
	char *text = render_or_fail(reg);
	assert_text_equal(text, "# HELP ok_total help\n# TYPE ok_total counter\n",
			  "a refused registration is not in the registry; render_family writes a "
			  "family's HELP and TYPE lines even when it has no series yet");
	free(text);
	metrics_registry_free(reg);
}

static void test_histogram_may_not_have_a_label_named_le(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const double bounds[] = {0.1, 1};
	const char *labels[] = {"service", "le"};
	expect_einval(metrics_histogram(reg, "h_seconds", "help", 2, labels, bounds, 2),
		      "a histogram with a label named le", "le is the label of its buckets");
	must(metrics_histogram(reg, "h_seconds", "help", 1, labels, bounds, 2), "the same without le");
	harness_see(L06 "#rendering");
	char *text = render_or_fail(reg);
	assert_text_equal(text, "# HELP h_seconds help\n# TYPE h_seconds histogram\n",
			  "the refused histogram is not in the registry, so h_seconds is there once; "
			  "render_family writes HELP and TYPE even for a family with no series yet");
	free(text);
	metrics_registry_free(reg);
}

static void test_histogram_bounds_must_be_finite_and_increasing(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const double same[] = {0.1, 0.1}, down[] = {1, 0.5}, inf[] = {1, INFINITY}, nan[] = {NAN};
	const double good[] = {0.005, 0.01, 1, 10};
	double many[METRICS_MAX_BUCKETS + 1];
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = (double)i;
	expect_einval(metrics_histogram(reg, "h1", "help", 0, NULL, same, 2), "bounds {0.1, 0.1}",
		      "bounds must be strictly increasing");
	expect_einval(metrics_histogram(reg, "h2", "help", 0, NULL, down, 2), "bounds {1, 0.5}",
		      "bounds must be strictly increasing");
	expect_einval(metrics_histogram(reg, "h3", "help", 0, NULL, inf, 2), "bounds {1, +Inf}",
		      "+Inf is the implicit last bucket: the bounds given are finite");
	expect_einval(metrics_histogram(reg, "h4", "help", 0, NULL, nan, 1), "bounds {NaN}",
		      "a NaN bound compares false with everything");
	expect_einval(metrics_histogram(reg, "h5", "help", 0, NULL, many, METRICS_MAX_BUCKETS + 1),
		      "33 bounds", "at most METRICS_MAX_BUCKETS bounds");
	must(metrics_histogram(reg, "h6", "help", 0, NULL, good, 4),
	     "a histogram with bounds 0.005 0.01 1 10");
	metrics_registry_free(reg);
}

static void test_registering_a_name_twice_is_refused(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	must(metrics_counter(reg, "twice_total", "help", 0, NULL), "twice_total");
	expect_einval(metrics_gauge(reg, "twice_total", "help", 0, NULL), "a second family named twice_total",
		      "two families with one name would give two HELP and TYPE lines");
	metrics_registry_free(reg);
}

/* ---- rendering -------------------------------------------------------------------- */

static void test_render_golden(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *req_labels[] = {"method", "code"};
	struct metric_family *req =
	    must(metrics_counter(reg, "app_requests_total", "Requests handled, by method and code.", 2,
				 req_labels),
		 "app_requests_total");
	struct metric_family *depth = must(
	    metrics_gauge(reg, "app_queue_depth", "Lines waiting in the queue.", 0, NULL), "app_queue_depth");
	const char *svc_label[] = {"service"};
	const double bounds[] = {0.005, 0.1, 1};
	struct metric_family *lat =
	    must(metrics_histogram(reg, "app_latency_seconds", "Request latency.", 1, svc_label, bounds, 3),
		 "app_latency_seconds");

	const char *get200[] = {"GET", "200"}, *post500[] = {"POST", "500"}, *api[] = {"api"};
	must_update(metrics_counter_add(req, get200, 0), "metrics_counter_add(GET 200, 0)");
	must_update(metrics_counter_add(req, post500, 0), "metrics_counter_add(POST 500, 0)");
	must_update(metrics_counter_add(req, get200, 3), "metrics_counter_add(GET 200, 3)");
	must_update(metrics_gauge_set(depth, NULL, 7), "metrics_gauge_set(7)");
	/* Binary fractions, so that the sum is exact: 2.62890625. */
	const double seen[] = {0.00390625, 0.0625, 0.0625, 2.5};
	for (size_t i = 0; i < 4; i++)
		must_update(metrics_histogram_observe(lat, api, seen[i]), "metrics_histogram_observe");

	char *text = render_or_fail(reg);
	assert_text_equal(
	    text,
	    "# HELP app_requests_total Requests handled, by method and code.\n"
	    "# TYPE app_requests_total counter\n"
	    "app_requests_total{method=\"GET\",code=\"200\"} 3\n"
	    "app_requests_total{method=\"POST\",code=\"500\"} 0\n"
	    "# HELP app_queue_depth Lines waiting in the queue.\n"
	    "# TYPE app_queue_depth gauge\n"
	    "app_queue_depth 7\n"
	    "# HELP app_latency_seconds Request latency.\n"
	    "# TYPE app_latency_seconds histogram\n"
	    "app_latency_seconds_bucket{service=\"api\",le=\"0.005\"} 1\n"
	    "app_latency_seconds_bucket{service=\"api\",le=\"0.1\"} 3\n"
	    "app_latency_seconds_bucket{service=\"api\",le=\"1\"} 3\n"
	    "app_latency_seconds_bucket{service=\"api\",le=\"+Inf\"} 4\n"
	    "app_latency_seconds_sum{service=\"api\"} 2.62890625\n"
	    "app_latency_seconds_count{service=\"api\"} 4\n",
	    "families in registration order, HELP then TYPE then samples; series in creation "
	    "order; buckets cumulative, ending with +Inf = count; the text ends with a newline");
	free(text);
	metrics_registry_free(reg);
}

/* Bounds that %g would print alike, or in exponent form: le is a label
 * compared as text, so each bound must read back as itself. */
static void test_bucket_bounds_are_written_as_values_that_read_back(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const double bounds[] = {0.1234567, 0.1234568, 1e6};
	struct metric_family *h =
	    must(metrics_histogram(reg, "fine_seconds", "help", 0, NULL, bounds, 3), "fine_seconds");
	must_update(metrics_histogram_observe(h, NULL, 0.1234568), "metrics_histogram_observe(0.1234568)");
	char *text = render_or_fail(reg);
	const char *hint = "a bound goes through metrics_format_value like every number: %g keeps "
			   "six digits, so 0.1234567 and 0.1234568 would both be le=\"0.123457\", and "
			   "1e6 le=\"1e+06\"";
	assert_has_line(text, "fine_seconds_bucket{le=\"0.1234567\"} 0", hint);
	assert_has_line(text, "fine_seconds_bucket{le=\"0.1234568\"} 1", hint);
	assert_has_line(text, "fine_seconds_bucket{le=\"1000000\"} 1", hint);
	free(text);
	metrics_registry_free(reg);
}

static void test_render_of_an_empty_registry_is_empty_text(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	char *text = render_or_fail(reg);
	if (text[0] != '\0')
		fail_msg(
		    "an empty registry rendered as %s, expected \"\" (a NUL-terminated empty string)",
		    quoted(text));
	free(text);
	metrics_registry_free(reg);
	errno = 0;
	text = metrics_render(NULL, NULL);
	if (text != NULL || errno != EINVAL)
		fail_msg("metrics_render(NULL, NULL) returned %s with errno %d (%s), expected NULL with EINVAL",
			 text != NULL ? quoted(text) : "NULL", errno, strerror(errno));
}

static void test_render_escapes_help_and_label_values(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"path"};
	struct metric_family *f = must(
	    metrics_counter(reg, "odd_total", "A \"quoted\" help,\nwith C:\\paths.", 1, labels), "odd_total");
	const char *odd[] = {"C:\\logs\\\"app\".log\nx"};
	must_update(metrics_counter_add(f, odd, 1), "metrics_counter_add");
	char *text = render_or_fail(reg);
	assert_text_equal(text,
			  "# HELP odd_total A \"quoted\" help,\\nwith C:\\\\paths.\n"
			  "# TYPE odd_total counter\n"
			  "odd_total{path=\"C:\\\\logs\\\\\\\"app\\\".log\\nx\"} 1\n",
			  "HELP escapes \\ and newline; label values escape \\, \" and newline");
	free(text);
	metrics_registry_free(reg);
}

static void test_histogram_observation_equal_to_a_bound_counts_in_its_bucket(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const double bounds[] = {0.005, 0.01};
	struct metric_family *h =
	    must(metrics_histogram(reg, "edge_seconds", "help", 0, NULL, bounds, 2), "edge_seconds");
	must_update(metrics_histogram_observe(h, NULL, 0.005), "metrics_histogram_observe(0.005)");
	must_update(metrics_histogram_observe(h, NULL, 20), "metrics_histogram_observe(20)");
	char *text = render_or_fail(reg);
	assert_has_line(text, "edge_seconds_bucket{le=\"0.005\"} 1", "le means less than or EQUAL");
	assert_has_line(text, "edge_seconds_bucket{le=\"0.01\"} 1", "buckets are cumulative");
	assert_has_line(text, "edge_seconds_bucket{le=\"+Inf\"} 2",
			"a value above every bound is in +Inf only");
	assert_has_line(text, "edge_seconds_count 2", "the count counts every observation");
	assert_has_line(text, "edge_seconds_sum 20.005", "the sum adds every observation");
	free(text);
	metrics_registry_free(reg);
}

/* NaN is at or below no bound, so it is counted in +Inf alone. */
static void test_histogram_nan_observation_counts_only_in_inf(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const double bounds[] = {1};
	struct metric_family *h =
	    must(metrics_histogram(reg, "nan_seconds", "help", 0, NULL, bounds, 1), "nan_seconds");
	must_update(metrics_histogram_observe(h, NULL, NAN), "metrics_histogram_observe(NaN)");
	char *text = render_or_fail(reg);
	assert_has_line(text, "nan_seconds_bucket{le=\"1\"} 0",
			"NaN is not <= any bound (every comparison with NaN is false), so it is in no "
			"bucket but +Inf: a search that stops at the first bound NaN is not above puts "
			"it in the lowest");
	assert_has_line(text, "nan_seconds_bucket{le=\"+Inf\"} 1", "+Inf counts every observation");
	assert_has_line(text, "nan_seconds_sum NaN", "the sum of a NaN is NaN");
	assert_has_line(text, "nan_seconds_count 1", "the count counts every observation");
	free(text);
	metrics_registry_free(reg);
}

/*
 * What another thread does between two holds of reg->mu: one more a, then
 * one more b, so that b never passes a at any instant.
 */
struct pair_writer {
	struct metric_family *a, *b;
	int writes, failures;
};

static void write_a_then_b(void *arg)
{
	struct pair_writer *w = arg;
	w->failures += metrics_counter_add(w->a, NULL, 1) != 0;
	w->failures += metrics_counter_add(w->b, NULL, 1) != 0;
	w->writes++;
}

/*
 * A scrape is one instant. Right after each unlock of reg->mu by the
 * rendering thread, the harness runs a writer's a += 1, b += 1: after a
 * render that holds the lock once, that is after the text is written and
 * changes nothing in it; after one that lets go between families, b is
 * rendered one update ahead of a. No timing is involved: the window is
 * opened at the unlock itself, in every run.
 */
static void test_render_holds_the_lock_once_for_the_whole_text(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct pair_writer w = {
	    .a = must(metrics_counter(reg, "pair_a_total", "help", 0, NULL), "pair_a_total"),
	    .b = must(metrics_counter(reg, "pair_b_total", "help", 0, NULL), "pair_b_total"),
	};
	must_update(metrics_counter_add(w.a, NULL, 0), "metrics_counter_add(pair_a_total, 0)");
	must_update(metrics_counter_add(w.b, NULL, 0), "metrics_counter_add(pair_b_total, 0)");
	harness_after_unlock(&reg->mu, write_a_then_b, &w);
	char *text = render_or_fail(reg);
	harness_after_unlock(&reg->mu, NULL, NULL);
	if (w.failures > 0)
		fail_msg("%d updates between two holds of reg->mu failed", w.failures);
	if (w.writes == 0)
		fail_msg("metrics_render never released reg->mu: it must take it, once, for the whole "
			 "text");
	double a = text_sample(text, "pair_a_total"), b = text_sample(text, "pair_b_total");
	if (a < 0 || b < 0)
		fail_msg("the rendering has no sample pair_a_total or pair_b_total. It was:\n%s", text);
	if (b > a)
		fail_msg("one scrape showed pair_b_total %g, above pair_a_total %g, though every update "
			 "adds to a before b: an update ran between the two families, so the render let "
			 "go of reg->mu in the middle of the text (hold it once, from the first family "
			 "to the last)",
			 b, a);
	free(text);
	metrics_registry_free(reg);
}

/* ---- updates ---------------------------------------------------------------------- */

static void test_counter_add_refuses_negative_and_nan(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *c = must(metrics_counter(reg, "c_total", "help", 0, NULL), "c_total");
	must_update(metrics_counter_add(c, NULL, 2), "metrics_counter_add(2)");
	errno = 0;
	if (metrics_counter_add(c, NULL, -1) != -1 || errno != EINVAL)
		fail_msg("metrics_counter_add(-1) must return -1 with EINVAL: a counter only goes up");
	errno = 0;
	if (metrics_counter_add(c, NULL, NAN) != -1 || errno != EINVAL)
		fail_msg(
		    "metrics_counter_add(NaN) must return -1 with EINVAL (NaN < 0 is false: test for it)");
	double v = metrics_value(c, NULL);
	if (v != 2)
		fail_msg("after adding 2 and two refused deltas the counter is %g, expected 2", v);
	metrics_registry_free(reg);
}

/* +Inf is not below zero: the header accepts it, and the counter stays
 * +Inf, which the render spells "+Inf". */
static void test_counter_add_accepts_plus_inf(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *c = must(metrics_counter(reg, "inf_total", "help", 0, NULL), "inf_total");
	must_update(metrics_counter_add(c, NULL, 1), "metrics_counter_add(1)");
	if (metrics_counter_add(c, NULL, INFINITY) != 0)
		fail_msg("metrics_counter_add(+Inf) returned -1 (%s): only a delta below zero or NaN is "
			 "refused (src/metrics.h)",
			 strerror(errno));
	must_update(metrics_counter_add(c, NULL, 1), "metrics_counter_add(1) after +Inf");
	if (metrics_value(c, NULL) != INFINITY)
		fail_msg("after adding 1, +Inf and 1 the counter is %g, expected +Inf", metrics_value(c, NULL));
	metrics_registry_free(reg);
}

/* A refused update changes nothing: not even a new series at 0, which a
 * scrape would export. So every argument is checked before the lock is
 * taken and the series found (or created). */
static void test_refused_updates_create_no_series(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"stage"};
	struct metric_family *c = must(metrics_counter(reg, "r_total", "help", 1, labels), "r_total");
	static const struct {
		const char *stage;
		const char *what;
		int (*update)(struct metric_family *, const char *const[], double);
		double arg;
	} refused[] = {
	    {"minus", "metrics_counter_add(-1)", metrics_counter_add, -1},
	    {"nan", "metrics_counter_add(NaN)", metrics_counter_add, NAN},
	    {"set_nan", "metrics_counter_set(NaN)", metrics_counter_set, NAN},
	    {"gauge", "metrics_gauge_set on a counter", metrics_gauge_set, 1},
	    {"histogram", "metrics_histogram_observe on a counter", metrics_histogram_observe, 1},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *v[] = {refused[i].stage};
		errno = 0;
		int rc = refused[i].update(c, v, refused[i].arg);
		if (rc != -1 || errno != EINVAL)
			fail_msg("%s on {stage=\"%s\"} returned %d with errno %d, expected -1 with EINVAL",
				 refused[i].what, refused[i].stage, rc, errno);
		if (c->nseries != 0)
			fail_msg("%s was refused, yet the family now has a series {stage=\"%s\"}: a "
				 "refused update changes nothing, so check the argument before "
				 "series_lock finds or creates the series (a new series would be exported "
				 "at 0)",
				 refused[i].what, refused[i].stage);
	}
	char *text = render_or_fail(reg);
	if (strstr(text, "r_total{") != NULL)
		fail_msg("refused updates left a series in the rendering:\n%s", text);
	free(text);
	metrics_registry_free(reg);
}

static void test_counter_set_never_goes_down(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"stage"};
	const char *parser[] = {"parser"};
	struct metric_family *c = must(metrics_counter(reg, "lines_total", "help", 1, labels), "lines_total");
	must_update(metrics_counter_set(c, parser, 10), "metrics_counter_set(10)");
	must_update(metrics_counter_set(c, parser, 5), "metrics_counter_set(5)");
	if (metrics_value(c, parser) != 10)
		fail_msg(
		    "after set(10) then set(5) the counter is %g, expected 10: a counter never goes down",
		    metrics_value(c, parser));
	must_update(metrics_counter_set(c, parser, 12), "metrics_counter_set(12)");
	if (metrics_value(c, parser) != 12)
		fail_msg("after set(12) the counter is %g, expected 12", metrics_value(c, parser));
	metrics_registry_free(reg);
}

/*
 * A setter that checks under one hold of reg->mu and writes under another
 * lets a second setter in between: right after each unlock of reg->mu by
 * this thread, the harness sets the counter to 20. A set(15) made of one
 * critical section ends before that and leaves 20; one that read 10, let
 * go and came back writes 15 over the 20. No data race for TSan to see:
 * every access is under the lock.
 */
struct late_setter {
	struct metric_family *c;
	const char *const *values;
	int sets, failures;
};

static void set_to_20(void *arg)
{
	struct late_setter *w = arg;
	w->failures += metrics_counter_set(w->c, w->values, 20) != 0;
	w->sets++;
}

static void test_counter_set_compares_and_writes_in_one_hold(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"stage"};
	const char *parser[] = {"parser"};
	struct metric_family *c = must(metrics_counter(reg, "read_total", "help", 1, labels), "read_total");
	must_update(metrics_counter_set(c, parser, 10), "metrics_counter_set(10)");
	struct late_setter w = {.c = c, .values = parser};
	harness_after_unlock(&reg->mu, set_to_20, &w);
	int rc = metrics_counter_set(c, parser, 15);
	harness_after_unlock(&reg->mu, NULL, NULL);
	must_update(rc, "metrics_counter_set(15)");
	if (w.failures > 0)
		fail_msg("%d sets of 20 between two holds of reg->mu failed", w.failures);
	if (w.sets != 1)
		fail_msg("metrics_counter_set(15) let go of reg->mu %d times, expected once: the "
			 "comparison and the write are one critical section",
			 w.sets);
	double v = metrics_value(c, parser);
	if (v != 20)
		fail_msg("the counter is %g after set(15) and, right after its unlock, set(20): expected "
			 "20. The set compared 15 with the 10 it read, let go of the lock, and wrote over "
			 "the 20 another thread set meanwhile: compare and write under one hold",
			 v);
	metrics_registry_free(reg);
}

static void test_gauge_set_goes_both_ways(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metric_family *g = must(metrics_gauge(reg, "depth", "help", 0, NULL), "depth");
	must_update(metrics_gauge_set(g, NULL, 10), "metrics_gauge_set(10)");
	must_update(metrics_gauge_set(g, NULL, -2.5), "metrics_gauge_set(-2.5)");
	if (metrics_value(g, NULL) != -2.5)
		fail_msg("after set(10) then set(-2.5) the gauge is %g, expected -2.5",
			 metrics_value(g, NULL));
	metrics_registry_free(reg);
}

static void test_updates_refuse_the_wrong_family_type(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const double bounds[] = {1};
	struct metric_family *c = must(metrics_counter(reg, "c_total", "help", 0, NULL), "c_total");
	struct metric_family *g = must(metrics_gauge(reg, "g", "help", 0, NULL), "g");
	struct metric_family *h = must(metrics_histogram(reg, "h", "help", 0, NULL, bounds, 1), "h");
	errno = 0;
	if (metrics_gauge_set(c, NULL, 1) != -1 || errno != EINVAL)
		fail_msg("metrics_gauge_set on a counter must return -1 with EINVAL");
	errno = 0;
	if (metrics_counter_add(g, NULL, 1) != -1 || errno != EINVAL)
		fail_msg("metrics_counter_add on a gauge must return -1 with EINVAL");
	errno = 0;
	if (metrics_histogram_observe(c, NULL, 1) != -1 || errno != EINVAL)
		fail_msg("metrics_histogram_observe on a counter must return -1 with EINVAL");
	errno = 0;
	if (metrics_counter_set(h, NULL, 1) != -1 || errno != EINVAL)
		fail_msg("metrics_counter_set on a histogram must return -1 with EINVAL");
	metrics_registry_free(reg);
}

/* metrics_counter_add(f, values, 1) right after an update refused with
 * `refusal`: a hang there is series_lock's (an error path that kept
 * reg->mu, see #updates); a failure, the lookup's. */
static int add_after_refusal(struct metric_family *f, const char *const values[], const char *refusal)
{
	static char hint[160];
	snprintf(hint, sizeof(hint),
		 "an update after one refused with %s blocked: does that error path of series_lock unlock "
		 "the registry?",
		 refusal);
	harness_see(L06 "#updates");
	harness_on_hang(hint);
	int rc = metrics_counter_add(f, values, 1);
	int err = errno;
	harness_see(L06 "#finding-a-series");
	errno = err;
	return rc;
}

static void test_updates_refuse_missing_label_values(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"level", "service"};
	struct metric_family *c = must(metrics_counter(reg, "m_total", "help", 2, labels), "m_total");
	const char *half[] = {"info", NULL};
	errno = 0;
	if (metrics_counter_add(c, NULL, 1) != -1 || errno != EINVAL)
		fail_msg("metrics_counter_add with values NULL on a family with 2 labels must return -1 with "
			 "EINVAL: series_get checks every value before it hashes one");
	errno = 0;
	if (add_after_refusal(c, half, "EINVAL") != -1 || errno != EINVAL)
		fail_msg("metrics_counter_add with values {\"info\", NULL} must return -1 with EINVAL");
	const char *full[] = {"info", "api"};
	must_update(add_after_refusal(c, full, "EINVAL"), "an update after two refused ones");
	if (c->nseries != 1)
		fail_msg("the family has %zu series, expected 1: a refused update creates nothing", c->nseries);
	metrics_registry_free(reg);
}

static void test_value_of_a_missing_series_is_minus_one(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"service"};
	const char *api[] = {"api"}, *auth[] = {"auth"};
	struct metric_family *c = must(metrics_counter(reg, "c_total", "help", 1, labels), "c_total");
	must_update(metrics_counter_add(c, api, 4), "metrics_counter_add(api, 4)");
	if (metrics_value(c, api) != 4)
		fail_msg("the api series is %g, expected 4", metrics_value(c, api));
	if (metrics_value(c, auth) != -1)
		fail_msg("metrics_value of a series never updated returned %g, expected -1",
			 metrics_value(c, auth));
	char *text = render_or_fail(reg);
	if (strstr(text, "auth") != NULL)
		fail_msg("looking a series up created it: metrics_value must not create series:\n%s", text);
	free(text);
	metrics_registry_free(reg);
}

/* ---- series and the limit ---------------------------------------------------------- */

static void test_series_limit_refuses_new_series_and_counts_drops(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(3);
	const char *labels[] = {"user"};
	struct metric_family *c =
	    must(metrics_counter(reg, "logins_total", "help", 1, labels), "logins_total");
	static const char *const users[] = {"ann", "bob", "cy", "dee", "eve"};
	for (size_t i = 0; i < 5; i++) {
		const char *v[] = {users[i]};
		errno = 0;
		int rc = i > 3 ? add_after_refusal(c, v, "ENOSPC") : metrics_counter_add(c, v, 1);
		if (i < 3 && rc != 0)
			fail_msg("update %zu (user %s) returned %d (%s): the limit is 3 series, this is "
				 "series %zu",
				 i + 1, users[i], rc, strerror(errno), i + 1);
		if (i >= 3 && (rc != -1 || errno != ENOSPC))
			fail_msg(
			    "update %zu (user %s) returned %d, errno %d: a 4th series is over the limit of 3 "
			    "(expected -1 with ENOSPC)",
			    i + 1, users[i], rc, errno);
	}
	const char *ann[] = {"ann"};
	must_update(add_after_refusal(c, ann, "ENOSPC"), "an update of an existing series at the limit");
	if (c->nseries != 3)
		fail_msg(
		    "the family has %zu series after 5 distinct label sets with a limit of 3, expected 3",
		    c->nseries);
	if (metrics_series_dropped(reg) != 2)
		fail_msg("metrics_series_dropped is %llu, expected 2 (one per refused update)",
			 metrics_series_dropped(reg));
	char *text = render_or_fail(reg);
	if (strstr(text, "dee") != NULL || strstr(text, "eve") != NULL)
		fail_msg("a refused update appears in the rendering:\n%s", text);
	assert_has_line(text, "logins_total{user=\"ann\"} 2", "existing series still count at the limit");
	free(text);
	metrics_registry_free(reg);
}

static void test_look_alike_invalid_values_are_one_series(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"service"};
	struct metric_family *c = must(metrics_counter(reg, "svc_total", "help", 1, labels), "svc_total");
	const char *ff[] = {"a\xFF"}, *fe[] = {"a\xFE"}, *shown_as[] = {"a" FFFD};
	must_update(metrics_counter_add(c, ff, 1), "metrics_counter_add(\"a\\xff\")");
	must_update(metrics_counter_add(c, fe, 1), "metrics_counter_add(\"a\\xfe\")");
	char *text = render_or_fail(reg);
	assert_text_equal(
	    text,
	    "# HELP svc_total help\n"
	    "# TYPE svc_total counter\n"
	    "svc_total{service=\"a" FFFD "\"} 2\n",
	    "a series stores its values as valid UTF-8, so \"a\\xff\" and \"a\\xfe\" are the same "
	    "series; two would render the same labels twice");
	if (metrics_value(c, shown_as) != 2)
		fail_msg("the series of \"a\\uFFFD\" is %g, expected 2", metrics_value(c, shown_as));
	free(text);
	metrics_registry_free(reg);
}

static void test_series_keep_their_own_copy_of_label_values(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"service", "zone"};
	struct metric_family *c = must(metrics_counter(reg, "req_total", "help", 2, labels), "req_total");
	char service[16] = "api";
	const char *values[] = {service, ""};
	must_update(metrics_counter_add(c, values, 1), "metrics_counter_add(api, \"\")");
	strcpy(service, "XXX"); /* the caller reuses its buffer */
	char *text = render_or_fail(reg);
	assert_text_equal(text,
			  "# HELP req_total help\n"
			  "# TYPE req_total counter\n"
			  "req_total{service=\"api\",zone=\"\"} 1\n",
			  "a series copies its label values when it is created (the caller's strings are "
			  "borrowed for the call only); an empty value is a value like any other");
	free(text);
	metrics_registry_free(reg);
}

/* Three times as many series as hash chains, so that chains hold several:
 * each label set, updated twice, is found again the second time (invariant
 * 1), not made a second time. */
static void test_series_sharing_a_hash_chain_are_each_found_again(void **state)
{
	(void)state;
	enum { N = 3 * METRICS_HASH_BUCKETS };
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"id"};
	struct metric_family *c = must(metrics_counter(reg, "chain_total", "help", 1, labels), "chain_total");
	char id[16];
	const char *v[] = {id};
	for (int round = 1; round <= 2; round++) {
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "%d", i);
			if (metrics_counter_add(c, v, 1) != 0)
				fail_msg("update %d of {id=\"%d\"} returned -1 (%s), expected 0", round, i,
					 strerror(errno));
		}
	}
	if (c->nseries != N)
		fail_msg("%d label sets, each updated twice, made %zu series, expected %d: a lookup missed a "
			 "series that shares its hash chain with a newer one, and made it again (a new series "
			 "goes in front of its chain, the chain after it: every series stays in one chain)",
			 N, c->nseries, N);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%d", i);
		if (metrics_value(c, v) != 2)
			fail_msg("{id=\"%d\"} is %g after two updates of 1, expected 2", i, metrics_value(c, v));
	}
	metrics_registry_free(reg);
}

/*
 * Updates c's series `values`, new, with the calling thread's allocations
 * after the first `granted` refused (tests/harness/interpose.h), rounds
 * times; between two, an update of the series `old`, which allocates
 * nothing. 1 once an update made every allocation it needed. Otherwise
 * each must have been -1 with ENOMEM, made no series, and kept no byte.
 */
static int update_with_allocations(struct metric_family *c, const char *const values[],
				   const char *const old[], long granted)
{
	enum { WARM = 8, ROUNDS = 8 };
	size_t before = 0;
	for (int round = 0; round < WARM + ROUNDS; round++) {
		if (round == WARM)
			before = harness_bytes_in_use();
		harness_fail_allocations_after(granted);
		errno = 0;
		int rc = metrics_counter_add(c, values, 1);
		int err = errno;
		long refused = harness_allocations_restored();
		if (refused == 0 && rc != 0)
			fail_msg("metrics_counter_add on a new label set returned -1 (%s) though none of its "
				 "allocations failed",
				 strerror(err));
		if (refused == 0)
			return 1;
		if (rc != -1 || err != ENOMEM)
			fail_msg("metrics_counter_add on a new label set returned %d with errno %d (%s) when its "
				 "allocation number %ld failed, expected -1 with ENOMEM: series_create sets "
				 "errno when its allocation fails, and series_lock passes it on",
				 rc, err, strerror(err), granted + 1);
		if (c->nseries != 1)
			fail_msg("an update whose allocation number %ld failed left the family with %zu series, "
				 "expected 1: a series that could not be made is in no list",
				 granted + 1, c->nseries);
		must_update(add_after_refusal(c, old, "ENOMEM"),
			    "an update of an existing series after one whose allocation failed");
	}
	size_t after = harness_bytes_in_use();
	if (after > before)
		fail_msg("%d updates failed at their allocation number %ld, and %zu bytes they allocated are "
			 "still in use: the copies of the label values are series_create's to free when it "
			 "fails, whatever failed",
			 ROUNDS, granted + 1, after - before);
	return 0;
}

/*
 * Invariant 4: a lookup that finds its series allocates nothing. With
 * every allocation of the calling thread refused, an update of a series
 * that exists must still succeed: memory that runs out stops new series,
 * never the counting of known ones.
 */
static void test_update_of_an_existing_series_allocates_nothing(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"service", "zone"};
	const char *api[] = {"api", "eu"};
	struct metric_family *c = must(metrics_counter(reg, "hit_total", "help", 2, labels), "hit_total");
	must_update(metrics_counter_add(c, api, 1), "metrics_counter_add(api, eu)");
	harness_fail_allocations_after(0);
	errno = 0;
	int rc = metrics_counter_add(c, api, 1);
	int err = errno;
	long refused = harness_allocations_restored();
	if (rc != 0)
		fail_msg("metrics_counter_add on the existing series {api, eu} returned %d (%s) while "
			 "allocations failed: a lookup that finds its series allocates nothing (invariant "
			 "4), so look the values up as given before making repaired copies",
			 rc, strerror(err));
	if (refused != 0)
		fail_msg("an update of the existing series {api, eu} asked for %ld allocations: a lookup "
			 "that finds its series allocates nothing (invariant 4)",
			 refused);
	if (metrics_value(c, api) != 2)
		fail_msg("after two adds of 1 the counter is %g, expected 2", metrics_value(c, api));
	metrics_registry_free(reg);
}

/* Memory runs out while an update makes its series: the first allocation
 * of the making fails, then the second, and so on until one update makes
 * all it needs. Each failure changes nothing and leaves reg->mu free. */
static void test_update_that_cannot_allocate_its_series_leaks_nothing(void **state)
{
	(void)state;
	enum { MOST = 16 };
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"service", "zone"};
	const char *old[] = {"api", "eu"}, *fresh[] = {"db", "us"};
	struct metric_family *c = must(metrics_counter(reg, "oom_total", "help", 2, labels), "oom_total");
	must_update(metrics_counter_add(c, old, 1), "metrics_counter_add(api, eu)");
	long granted = 0;
	while (granted < MOST && !update_with_allocations(c, fresh, old, granted))
		granted++;
	if (granted == MOST)
		fail_msg("making a series with two labels took more than %d allocations", MOST);
	if (granted == 0)
		fail_msg("an update made a new series while every malloc, calloc, realloc and strdup failed");
	char *text = render_or_fail(reg);
	assert_has_line(text, "oom_total{service=\"db\",zone=\"us\"} 1",
			"the update that could allocate made its series, at 1: the failed ones added nothing");
	free(text);
	metrics_registry_free(reg);
}

/* ---- threads ------------------------------------------------------------------------ */

struct hammer {
	struct metric_family *events, *sizes, *last;
	int id;
	long n;
	int failures;
	atomic_long *progress; /* rounds of updates done, all threads together */
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	char name[16];
	snprintf(name, sizeof(name), "w%d", h->id);
	const char *mine[] = {name}, *shared[] = {"shared"};
	for (long i = 0; i < h->n; i++) {
		h->failures += metrics_counter_add(h->events, mine, 1) != 0;
		h->failures += metrics_counter_add(h->events, shared, 1) != 0;
		h->failures += metrics_histogram_observe(h->sizes, NULL, (double)(i % 4)) != 0;
		h->failures += metrics_gauge_set(h->last, NULL, (double)i) != 0;
		atomic_fetch_add(h->progress, 1);
	}
	return NULL;
}

struct scraper {
	struct metrics_registry *reg;
	atomic_long *progress; /* the updaters' */
	long every;            /* renders once per this many rounds of updates */
	atomic_int stop;
	long renders;
	char why[300];
};

static void *scraper_run(void *arg)
{
	struct scraper *s = arg;
	double last_shared = -1; /* -1: not seen yet */
	do {
		char *text = metrics_render(s->reg, NULL);
		if (text == NULL) {
			snprintf(s->why, sizeof(s->why), "metrics_render returned NULL during updates");
			return NULL;
		}
		double inf = text_sample(text, "t_sizes_bucket{le=\"+Inf\"}"),
		       count = text_sample(text, "t_sizes_count");
		double shared = text_sample(text, "t_events_total{worker=\"shared\"}");
		if (inf != count && s->why[0] == '\0')
			snprintf(s->why, sizeof(s->why),
				 "a scrape showed le=\"+Inf\" %g but _count %g: the render must hold the "
				 "lock for the "
				 "whole registry, and an update must change a series under the lock",
				 inf, count);
		if (shared < last_shared && s->why[0] == '\0')
			snprintf(s->why, sizeof(s->why),
				 "a counter went down between two scrapes: %g then %g", last_shared, shared);
		last_shared = shared;
		s->renders++;
		free(text);
		/* Paced by the updates, not by the clock: a scraper rendering
		 * back to back can keep the lock from the updaters for seconds
		 * (a mutex is not fair), and a real one scrapes now and then. */
		long next = atomic_load(s->progress) + s->every;
		while (atomic_load(s->progress) < next && !atomic_load(&s->stop))
			sched_yield();
	} while (!atomic_load(&s->stop));
	return NULL;
}

static void count_unlock(void *arg)
{
	(*(int *)arg)++;
}

/* Registers counters r0_total, r1_total... each with one series at 1. */
struct registrar {
	struct metrics_registry *reg;
	int n, failures;
	atomic_int registered; /* families registered and updated so far */
};

static void *registrar_run(void *arg)
{
	struct registrar *r = arg;
	const char *labels[] = {"k"}, *one[] = {"one"};
	for (int i = 0; i < r->n; i++) {
		char name[24];
		snprintf(name, sizeof(name), "r%d_total", i);
		struct metric_family *f = metrics_counter(r->reg, name, "help", 1, labels);
		r->failures += f == NULL || metrics_counter_add(f, one, 1) != 0;
		atomic_fetch_add(&r->registered, 1);
	}
	return NULL;
}

/* Fails unless text is families r0_total, r1_total... in order, each with
 * its series, but the last, whose update may not have come yet. */
static void expect_registered_so_far(const char *text, int all)
{
	const char *p = text;
	char head[96], line[64];
	for (int i = 0; *p != '\0'; i++) {
		snprintf(head, sizeof(head), "# HELP r%d_total help\n# TYPE r%d_total counter\n", i, i);
		snprintf(line, sizeof(line), "r%d_total{k=\"one\"} 1\n", i);
		if (strncmp(p, head, strlen(head)) != 0)
			fail_msg("a scrape during registrations shows, where family r%d_total should begin:\n%.80s\n"
				 "(families in registration order, each whole)",
				 i, p);
		p += strlen(head);
		if (strncmp(p, line, strlen(line)) == 0)
			p += strlen(line);
		else if (*p != '\0' || all)
			fail_msg("a scrape during registrations shows r%d_total without its series %s, "
				 "though the family after it was registered only once that was updated",
				 i, quoted(line));
	}
}

/*
 * An empty registry is read under reg->mu like any other: another thread
 * may be registering its first family at that moment. So a render of an
 * empty registry takes and releases the lock too (counted right after
 * each unlock: a shortcut taken before the lock shows in every run). Then
 * one thread registers families, each with a series, while this one
 * renders: every scrape shows those registered so far, in order; and
 * SANITIZE=thread reports a read of reg->first made without the lock.
 */
static void test_render_while_families_are_registered_takes_the_lock(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	int unlocks = 0;
	harness_after_unlock(&reg->mu, count_unlock, &unlocks);
	char *text = render_or_fail(reg);
	harness_after_unlock(&reg->mu, NULL, NULL);
	free(text);
	if (unlocks == 0)
		fail_msg("metrics_render of an empty registry returned without taking reg->mu: another thread "
			 "may be registering the first family as it looks (reg->first is written under the "
			 "lock), so even \"is it empty?\" is asked under the lock");
	static struct registrar r;
	r.reg = reg;
	r.n = (int)harness_scale(100);
	atomic_init(&r.registered, 0);
	struct harness_thread t;
	harness_thread_start(&t, registrar_run, &r);
	harness_on_hang("registering families while rendering never finished: does an error path keep reg->mu?");
	int done, seen = -1;
	do {
		done = harness_thread_done(&t);
		text = render_or_fail(reg);
		expect_registered_so_far(text, done);
		free(text);
		/* One render per registration at most: back-to-back renders
		 * could keep the lock from the registering thread. */
		while (atomic_load(&r.registered) == seen && !harness_thread_done(&t))
			sched_yield();
		seen = atomic_load(&r.registered);
	} while (!done);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the registering thread did not finish");
	if (r.failures > 0)
		fail_msg("%d registrations or updates failed while rendering", r.failures);
	metrics_registry_free(reg);
}

/* Joins an updater, however long the updates take while they go on: only
 * a wait of harness_wait_ms with no update done by any thread is taken for
 * a lock left held (a perturbed run on a busy machine is slow, not stuck).
 * The test's deadline still bounds the whole. */
static int join_while_updating(struct harness_thread *t, atomic_long *progress)
{
	for (;;) {
		long before = atomic_load(progress);
		if (harness_thread_join_within(t, harness_wait_ms()))
			return 1;
		if (atomic_load(progress) == before)
			return 0;
	}
}

static void test_updates_from_four_threads_while_scraping_are_exact(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	const char *labels[] = {"worker"};
	const double bounds[] = {1, 2};
	struct hammer h[4];
	struct harness_thread t[4], st;
	/* Every update takes the registry's lock: perturbed, 2 000 each. */
	long n = harness_scale_capped(20000, 2000);
	h[0].events = must(metrics_counter(reg, "t_events_total", "help", 1, labels), "t_events_total");
	h[0].sizes = must(metrics_histogram(reg, "t_sizes", "help", 0, NULL, bounds, 2), "t_sizes");
	h[0].last = must(metrics_gauge(reg, "t_last", "help", 0, NULL), "t_last");
	static struct scraper s;
	static atomic_long progress;
	atomic_init(&progress, 0);
	s.reg = reg;
	s.progress = &progress;
	s.every = n / 50;
	atomic_init(&s.stop, 0);
	harness_thread_start(&st, scraper_run, &s);
	for (int i = 0; i < 4; i++) {
		h[i] = h[0];
		h[i].id = i;
		h[i].n = n;
		h[i].failures = 0;
		h[i].progress = &progress;
	}
	for (int i = 0; i < 4; i++)
		harness_thread_start(&t[i], hammer_run, &h[i]);
	harness_on_hang("updates or a render never finished: is an error path returning with the lock held?");
	for (int i = 0; i < 4; i++)
		if (!join_while_updating(&t[i], &progress))
			fail_msg("updater thread %d did not finish, and no update was made for %ld ms: a "
				 "lock left held, or taken twice?",
				 i, harness_wait_ms());
	atomic_store(&s.stop, 1);
	if (!harness_thread_join_within(&st, harness_wait_ms()))
		fail_msg("the scraping thread did not finish: a lock left held?");
	if (s.why[0] != '\0')
		fail_msg("%s", s.why);
	for (int i = 0; i < 4; i++)
		if (h[i].failures > 0)
			fail_msg("thread %d saw %d failed updates", i, h[i].failures);

	char *text = render_or_fail(reg);
	long low = 0, mid = 0;
	double sum = 0;
	for (long i = 0; i < n; i++) {
		low += i % 4 <= 1;
		mid += i % 4 == 2;
		sum += (double)(i % 4);
	}
	const struct {
		const char *series;
		double want;
	} checks[] = {
	    {"t_events_total{worker=\"shared\"}", 4.0 * n},
	    {"t_events_total{worker=\"w0\"}", (double)n},
	    {"t_events_total{worker=\"w3\"}", (double)n},
	    {"t_sizes_bucket{le=\"1\"}", 4.0 * low},
	    {"t_sizes_bucket{le=\"2\"}", 4.0 * (low + mid)},
	    {"t_sizes_bucket{le=\"+Inf\"}", 4.0 * n},
	    {"t_sizes_count", 4.0 * n},
	    {"t_sizes_sum", 4.0 * sum},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		double got = text_sample(text, checks[i].series);
		if (got != checks[i].want)
			fail_msg(
			    "after 4 threads x %ld updates, %s is %.17g, expected %.17g: an update lost to "
			    "a race (is every read-modify-write under reg->mu?)",
			    n, checks[i].series, got, checks[i].want);
	}
	free(text);
	metrics_registry_free(reg);
}

/* ---- the stage ---------------------------------------------------------------------- */

static struct log_entry *entry_new(enum log_level level, const char *service, int has_latency,
				   double latency_ms)
{
	struct log_entry *e = log_entry_new(level, service, "m", NULL);
	if (e == NULL)
		fail_msg("out of memory");
	e->has_latency = has_latency;
	e->latency_ms = latency_ms;
	return e;
}

struct stage_run {
	struct metrics_registry *reg;
	struct chan *in;
	struct metrics_stage stage;
	struct harness_thread thread;
};

static void stage_start(struct stage_run *r, size_t limit)
{
	r->reg = registry_or_fail(limit);
	r->in = chan_new_or_fail(64); /* room for every entry a test sends */
	if (metrics_stage_init(&r->stage, r->reg, r->in) != 0)
		fail_msg("metrics_stage_init returned -1 (%s)", strerror(errno));
	harness_thread_start(&r->thread, metrics_stage_run, &r->stage);
}

static void stage_send(struct stage_run *r, struct log_entry *e)
{
	harness_on_hang("sending an entry to the metrics stage blocked: is the stage receiving?");
	if (chan_send(r->in, e) != CHAN_OK) {
		log_entry_free(e);
		fail_msg("chan_send to the metrics stage failed: did the stage close its input channel?");
	}
}

/* Closes the input and waits for the stage to finish. */
static void stage_finish(struct stage_run *r)
{
	chan_close(r->in);
	harness_on_hang("metrics_stage_run did not return after its input was closed");
	if (!harness_thread_join_within(&r->thread, harness_wait_ms()))
		fail_msg("metrics_stage_run did not return after its input was closed: it must receive until "
			 "chan_recv says CHAN_CLOSED, then return; or its step waits for reg->mu, kept by an "
			 "update that was refused (an error path of series_lock that returns with the lock "
			 "held)");
}

static void stage_free(struct stage_run *r)
{
	void *msg;
	while (chan_try_recv(r->in, &msg) == CHAN_OK)
		log_entry_free(msg);
	chan_free(r->in);
	metrics_registry_free(r->reg);
}

static void expect_entries(struct metric_family *f, const char *a, const char *b, double want,
			   const char *hint)
{
	const char *values[] = {a, b};
	double got = metrics_value(f, values);
	if (got != want)
		fail_msg("%s{%s%s%s} is %g, expected %g: %s", f->name, a, b ? "," : "", b ? b : "", got, want,
			 hint);
}

static void test_stage_counts_entries_by_level_and_service(void **state)
{
	(void)state;
	static struct stage_run r;
	stage_start(&r, 0);
	stage_send(&r, entry_new(LOG_INFO, "api", 0, 0));
	stage_send(&r, entry_new(LOG_ERROR, "api", 0, 0));
	stage_send(&r, entry_new(LOG_INFO, "auth", 0, 0));
	stage_send(&r, entry_new(LOG_INFO, "api", 1, 3));
	stage_send(&r, entry_new(LOG_INFO, "api", 0, 0));
	stage_finish(&r);
	const char *hint = "every entry counts once in logpipe_log_entries_total{level,service}, with "
			   "log_level_name's level";
	expect_entries(r.stage.entries, "info", "api", 3, hint);
	expect_entries(r.stage.entries, "error", "api", 1, hint);
	expect_entries(r.stage.entries, "info", "auth", 1, hint);
	expect_entries(r.stage.entries, "warn", "api", -1, "no warn entry was sent");
	stage_free(&r);
}

static void test_stage_observes_latency_in_seconds(void **state)
{
	(void)state;
	static struct stage_run r;
	stage_start(&r, 0);
	stage_send(&r, entry_new(LOG_INFO, "api", 1, 12.5));
	stage_send(&r, entry_new(LOG_WARN, "api", 1, 250));
	char *text = NULL;
	stage_finish(&r);
	text = render_or_fail(r.reg);
	const char *hint = "latency_ms / 1000 is observed in seconds: 12.5 ms is 0.0125 s, 250 ms is 0.25 s";
	assert_has_line(text, "logpipe_log_latency_seconds_bucket{service=\"api\",le=\"0.01\"} 0", hint);
	assert_has_line(text, "logpipe_log_latency_seconds_bucket{service=\"api\",le=\"0.025\"} 1", hint);
	assert_has_line(text, "logpipe_log_latency_seconds_bucket{service=\"api\",le=\"0.25\"} 2", hint);
	assert_has_line(text, "logpipe_log_latency_seconds_count{service=\"api\"} 2", hint);
	free(text);
	stage_free(&r);
}

static void test_stage_does_not_observe_entries_without_latency(void **state)
{
	(void)state;
	static struct stage_run r;
	stage_start(&r, 0);
	stage_send(&r, entry_new(LOG_INFO, "api", 0, 0));
	stage_send(&r, entry_new(LOG_INFO, "api", 1, 40));
	stage_send(&r, entry_new(LOG_DEBUG, "api", 0, 0));
	stage_send(&r, entry_new(LOG_INFO, "cron", 0, 0));
	stage_finish(&r);
	const char *api[] = {"api"}, *cron[] = {"cron"};
	double n = metrics_value(r.stage.latency, api);
	if (n != 1)
		fail_msg(
		    "logpipe_log_latency_seconds{service=\"api\"} counted %g observations, expected 1: only "
		    "entries with has_latency are observed",
		    n);
	if (metrics_value(r.stage.latency, cron) > 0)
		fail_msg("service cron has no latency at all, but its histogram counts %g observations",
			 metrics_value(r.stage.latency, cron));
	stage_free(&r);
}

/* The step alone, with no channel: what lesson 12 builds on. */
static void test_step_counts_and_frees_one_entry(void **state)
{
	(void)state;
	struct metrics_registry *reg = metrics_registry_new(0);
	assert_non_null(reg);
	struct metrics_stage stage;
	if (metrics_stage_init(&stage, reg, NULL) != 0)
		fail_msg("metrics_stage_init with no channel returned -1 (%s)", strerror(errno));
	metrics_stage_step(&stage, entry_new(LOG_WARN, "db", 1, 40));
	metrics_stage_step(&stage, entry_new(LOG_WARN, "db", 0, 0));
	unsigned long long got = atomic_load(&stage.received);
	if (got != 2)
		fail_msg("stage.received is %llu after two metrics_stage_step calls, expected 2", got);
	expect_entries(stage.entries, "warn", "db", 2, "metrics_stage_step counts each entry it is given");
	metrics_registry_free(reg); /* and LeakSanitizer checks that the step freed both entries */
}

/*
 * The header's order: received, then the families. stage.received is
 * what a scrape compares entries_total and the drops with, so it must
 * never lag behind them: right after the step's first unlock of reg->mu
 * (its entries_total update is done), the harness reads received.
 */
struct received_at_unlock {
	struct metrics_stage *stage;
	int seen;
	unsigned long long received;
};

static void read_received(void *arg)
{
	struct received_at_unlock *r = arg;
	if (r->seen++ == 0)
		r->received = atomic_load(&r->stage->received);
}

static void test_step_counts_received_before_the_families(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(0);
	struct metrics_stage stage;
	if (metrics_stage_init(&stage, reg, NULL) != 0)
		fail_msg("metrics_stage_init with no channel returned -1 (%s)", strerror(errno));
	struct received_at_unlock r = {.stage = &stage};
	harness_after_unlock(&reg->mu, read_received, &r);
	metrics_stage_step(&stage, entry_new(LOG_INFO, "db", 1, 40));
	harness_after_unlock(&reg->mu, NULL, NULL);
	if (r.seen == 0)
		fail_msg("metrics_stage_step never took reg->mu: it counts the entry in the registry");
	if (r.received != 1)
		fail_msg("when the step's first update of the registry was done, stage.received was %llu, "
			 "expected 1: a scrape at that moment sees entries_total + dropped above "
			 "received. Count received first, then the families (src/metrics.h)",
			 r.received);
	metrics_registry_free(reg);
}

static void test_stage_counts_every_entry_received(void **state)
{
	(void)state;
	static struct stage_run r;
	stage_start(&r, 0);
	for (int i = 0; i < 50; i++)
		stage_send(&r,
			   entry_new((enum log_level)(i % LOG_LEVELS), i % 2 ? "api" : "db", i % 3 == 0, i));
	stage_finish(&r);
	unsigned long long got = atomic_load(&r.stage.received);
	if (got != 50)
		fail_msg("stage.received is %llu after 50 entries, expected 50", got);
	expect_entries(r.stage.entries, "trace", "db", 9,
		       "entries 0, 6, 12, ..., 48 are trace entries of db");
	stage_free(&r);
}

static void test_stage_counts_each_entry_once_under_the_series_limit(void **state)
{
	(void)state;
	static struct stage_run r;
	stage_start(&r, 2);
	static const char *const services[] = {"s1", "s2", "s3", "s4", "s5"};
	for (int i = 0; i < 5; i++)
		stage_send(&r, entry_new(LOG_INFO, services[i], 1, 5));
	stage_finish(&r);
	expect_entries(r.stage.entries, "info", "s1", 1, "the first two series fit under the limit of 2");
	expect_entries(r.stage.entries, "info", "s2", 1, "the first two series fit under the limit of 2");
	expect_entries(r.stage.entries, "info", "s3", -1, "a third series is over the limit of 2");
	if (metrics_series_dropped(r.reg) != 3)
		fail_msg(
		    "metrics_series_dropped is %llu, expected 3: the entries of s3, s4, s5 are each dropped "
		    "once (and not observed in the histogram, which would count them twice)",
		    metrics_series_dropped(r.reg));
	const char *s3[] = {"s3"};
	if (metrics_value(r.stage.latency, s3) > 0)
		fail_msg("an entry refused by the series limit was observed in the latency histogram");
	stage_free(&r);
}

/*
 * The stage's hook for lesson 10: when last_seen is set, each entry the
 * stage counted sets its service's series to the time (last_seen_update,
 * the reference's here); an entry the series limit refused updates
 * nothing, so the registry counts one refusal for it, not two.
 */
static void test_step_sets_last_seen_for_each_counted_entry(void **state)
{
	(void)state;
	struct metrics_registry *reg = registry_or_fail(1); /* one series per family */
	struct metrics_stage stage;
	if (metrics_stage_init(&stage, reg, NULL) != 0)
		fail_msg("metrics_stage_init with no channel returned -1 (%s)", strerror(errno));
	stage.last_seen = last_seen_register(reg);
	if (stage.last_seen == NULL)
		fail_msg("last_seen_register failed (%s)", strerror(errno));
	double before = clock_unix_seconds();
	metrics_stage_step(&stage, entry_new(LOG_INFO, "api", 0, 0));
	double after = clock_unix_seconds();
	const char *api[] = {"api"};
	double v = metrics_value(stage.last_seen, api);
	if (!(v >= before && v <= after))
		fail_msg("after metrics_stage_step counted an entry of \"api\" between %.3f and %.3f (Unix time), "
			 "last_seen{service=\"api\"} is %.3f: when stage->last_seen is set, call "
			 "last_seen_update(stage->last_seen, e, clock_unix_seconds()) for each entry counted",
			 before, after, v);
	/* Each family holds api's series now: another service is refused. */
	metrics_stage_step(&stage, entry_new(LOG_INFO, "db", 0, 0));
	if (metrics_series_dropped(reg) != 1)
		fail_msg("metrics_series_dropped is %llu after an entry refused by the series limit, expected 1: "
			 "update last_seen only inside the branch where the counter add succeeded",
			 metrics_series_dropped(reg));
	metrics_registry_free(reg);
}

/* ---- promtool ------------------------------------------------------------------------ */

/* A registry like the pipeline's, with every awkward case in it. */
static struct metrics_registry *realistic_registry(struct metrics_stage *stage, struct chan *in)
{
	struct metrics_registry *reg = registry_or_fail(0);
	if (metrics_stage_init(stage, reg, in) != 0)
		fail_msg("metrics_stage_init returned -1 (%s)", strerror(errno));
	const char *help = "Lines read from C:\\logs.\nBlank lines are not counted.";
	struct metric_family *lines =
	    must(metrics_counter(reg, "logpipe_lines_read_total", help, 0, NULL), "logpipe_lines_read_total");
	const char *reason[] = {"reason"};
	struct metric_family *errors =
	    must(metrics_counter(reg, "logpipe_parse_errors_total", "Lines the parser rejected, by reason.",
				 1, reason),
		 "logpipe_parse_errors_total");
	struct metric_family *depth =
	    must(metrics_gauge(reg, "logpipe_queue_length", "Entries waiting in a channel.", 0, NULL),
		 "logpipe_queue_length");
	static const char *const reasons[] = {"invalid_json", "missing_level", "bad_level", "too_long"};
	for (size_t i = 0; i < 4; i++) {
		const char *v[] = {reasons[i]};
		must_update(metrics_counter_add(errors, v, i == 0 ? 2 : 0), "metrics_counter_add");
	}
	must_update(metrics_counter_set(lines, NULL, 1234567), "metrics_counter_set");
	must_update(metrics_gauge_set(depth, NULL, -0.5), "metrics_gauge_set");
	static const char *const services[] = {"api", "we\"ird\\ser\nvice", "caf\xE9", "\xE2\x82\xAC"};
	const double lat[] = {0.0125, 0.25, 7, 100, 0.1};
	for (size_t i = 0; i < 4; i++) {
		const char *ev[] = {"info", services[i]}, *lv[] = {services[i]};
		must_update(metrics_counter_add(stage->entries, ev, (double)i + 1), "metrics_counter_add");
		for (size_t k = 0; k <= i; k++)
			must_update(metrics_histogram_observe(stage->latency, lv, lat[k]),
				    "metrics_histogram_observe");
	}
	return reg;
}

static void test_promtool_accepts_the_rendering(void **state)
{
	(void)state;
	struct metrics_stage stage;
	struct chan *in = chan_new_or_fail(1);
	struct metrics_registry *reg = realistic_registry(&stage, in);
	char *text = render_or_fail(reg);
	metrics_registry_free(reg);
	chan_free(in);
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		printf("promtool not installed: check skipped\n");
		free(text);
		return;
	}
	char dir[] = "/tmp/logpipe-06-XXXXXX";
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	char path[64], out[64], cmd[256];
	snprintf(path, sizeof(path), "%s/metrics.txt", dir);
	snprintf(out, sizeof(out), "%s/promtool.txt", dir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' > '%s' 2>&1", path, out);
	int rc = system(cmd);
	char said[2048] = "";
	f = fopen(out, "r");
	if (f != NULL) {
		said[fread(said, 1, sizeof(said) - 1, f)] = '\0';
		fclose(f);
	}
	unlink(path);
	unlink(out);
	rmdir(dir);
	if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
		printf("promtool check metrics said:\n%s\non this text:\n%s", said, text);
		free(text);
		fail_msg(
		    "promtool check metrics rejected the rendering (exit status %d): see its words above",
		    WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
	}
	free(text);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_label_value_escapes_backslash_quote_and_newline, L06 "#escaping"),
	    HTEST(test_label_value_keeps_valid_utf8, L06 "#escaping"),
	    HTEST(test_label_value_replaces_invalid_utf8, L06 "#escaping"),
	    HTEST(test_help_escapes_only_backslash_and_newline, L06 "#escaping"),
	    HTEST(test_updates_refuse_missing_label_values, L06 "#finding-a-series"),
	    HTEST(test_value_of_a_missing_series_is_minus_one, L06 "#finding-a-series"),
	    HTEST(test_series_limit_refuses_new_series_and_counts_drops, L06 "#finding-a-series"),
	    HTEST(test_look_alike_invalid_values_are_one_series, L06 "#finding-a-series"),
	    HTEST(test_series_keep_their_own_copy_of_label_values, L06 "#finding-a-series"),
	    HTEST(test_series_sharing_a_hash_chain_are_each_found_again, L06 "#finding-a-series"),
	    HTEST(test_update_that_cannot_allocate_its_series_leaks_nothing, L06 "#finding-a-series"),
	    HTEST(test_update_of_an_existing_series_allocates_nothing, L06 "#finding-a-series"),
	    HTEST(test_counter_add_refuses_negative_and_nan, L06 "#updates"),
	    HTEST(test_counter_add_accepts_plus_inf, L06 "#updates"),
	    HTEST(test_refused_updates_create_no_series, L06 "#updates"),
	    HTEST(test_counter_set_never_goes_down, L06 "#updates"),
	    HTEST(test_counter_set_compares_and_writes_in_one_hold, L06 "#updates"),
	    HTEST(test_gauge_set_goes_both_ways, L06 "#updates"),
	    HTEST(test_updates_refuse_the_wrong_family_type, L06 "#updates"),
	    HTEST(test_histogram_observation_equal_to_a_bound_counts_in_its_bucket, L06 "#updates"),
	    HTEST(test_histogram_nan_observation_counts_only_in_inf, L06 "#updates"),
	    HTEST(test_render_golden, L06 "#rendering"),
	    HTEST(test_render_escapes_help_and_label_values, L06 "#rendering"),
	    HTEST(test_render_of_an_empty_registry_is_empty_text, L06 "#rendering"),
	    HTEST(test_bucket_bounds_are_written_as_values_that_read_back, L06 "#rendering"),
	    HTEST(test_render_holds_the_lock_once_for_the_whole_text, L06 "#rendering"),
	    HTEST(test_render_while_families_are_registered_takes_the_lock, L06 "#rendering"),
	    HTEST(test_rendered_values_match_goldens, L06 "#numbers-that-read-back"),
	    HTEST(test_rendered_values_read_back_as_the_same_double, L06 "#numbers-that-read-back"),
	    HTEST(test_bad_metric_names_are_refused, L06 "#what-is-given"),
	    HTEST(test_bad_label_names_are_refused, L06 "#what-is-given"),
	    HTEST(test_histogram_may_not_have_a_label_named_le, L06 "#what-is-given"),
	    HTEST(test_histogram_bounds_must_be_finite_and_increasing, L06 "#what-is-given"),
	    HTEST(test_registering_a_name_twice_is_refused, L06 "#what-is-given"),
	    HTEST(test_updates_from_four_threads_while_scraping_are_exact,
		  L06 "#one-lock-and-a-scrape-that-holds-it"),
	    HTEST(test_stage_counts_entries_by_level_and_service, L06 "#the-stage"),
	    HTEST(test_stage_observes_latency_in_seconds, L06 "#the-stage"),
	    HTEST(test_stage_does_not_observe_entries_without_latency, L06 "#the-stage"),
	    HTEST(test_step_counts_and_frees_one_entry, L06 "#the-stage"),
	    HTEST(test_step_counts_received_before_the_families, L06 "#the-stage"),
	    HTEST(test_stage_counts_every_entry_received, L06 "#the-stage"),
	    HTEST(test_stage_counts_each_entry_once_under_the_series_limit, L06 "#the-stage"),
	    HTEST(test_step_sets_last_seen_for_each_counted_entry, L06 "#the-stage"),
	    HTEST(test_promtool_accepts_the_rendering, L06 "#rendering"),
	};
	return harness_main(argc, argv, "06-metrics", tests, HARNESS_COUNT(tests));
}
