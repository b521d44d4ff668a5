/*
 * Lesson 05: the filter's configuration, its rule, and the filter stage.
 * Written against src/filter.h and src/log_entry.h only.
 */
#include "chan_testing.h"
#include "clock.h"
#include "filter.h"
#include "text_testing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L05 "lessons/05-filter/README.md"

/* ---- helpers ------------------------------------------------------------------ */

/* A new entry, as the parser makes them: log_entry_new, freed with
 * log_entry_free. */
static struct log_entry *entry_new(enum log_level level, const char *service, const char *message)
{
	struct log_entry *e = log_entry_new(level, service, message, NULL);
	assert_non_null(e);
	return e;
}

/* What filter_accept says of an entry of this level and service. */
static int accepts(const struct filter_config *cfg, enum log_level level, const char *service)
{
	struct log_entry *e = entry_new(level, service, "GET /healthz 200");
	int got = filter_accept(cfg, e);
	log_entry_free(e);
	return got;
}

/* Fails unless filter_accept keeps (want 1) or drops (want 0) the entry. */
static void expect_accept(const struct filter_config *cfg, enum log_level level, const char *service,
			  int want, const char *why)
{
	int got = accepts(cfg, level, service);
	if (got != want)
		fail_msg("min_level %s, %zu service(s): an entry (%s, %s) got %d, expected %d (%s): %s",
			 log_level_name(cfg->min_level), cfg->nservices, log_level_name(level), service, got,
			 want, want ? "kept" : "dropped", why);
}

/* A configuration built by hand, so that the tests of filter_accept do not
 * depend on filter_config_default or filter_config_services. */
static struct filter_config config(enum log_level min_level, size_t nservices, const char *const services[])
{
	struct filter_config cfg = {.min_level = min_level, .nservices = nservices};
	for (size_t i = 0; i < nservices; i++)
		cfg.services[i] = services[i];
	return cfg;
}

/* filter_config_services on a copy of text, which must succeed. */
static void parse_services(struct filter_config *cfg, char *list)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", list);
	if (filter_config_services(cfg, list) != 0)
		fail_msg("filter_config_services(%s) returned -1, expected 0: it is a good list",
			 quoted(copy));
}

/* Fails unless cfg holds exactly the names want[0..n). */
static void expect_services(const struct filter_config *cfg, const char *list, const char *const want[],
			    size_t n)
{
	if (cfg->nservices != n)
		fail_msg("the list %s gave %zu service(s), expected %zu", quoted(list), cfg->nservices, n);
	for (size_t i = 0; i < n; i++)
		if (cfg->services[i] == NULL || strcmp(cfg->services[i], want[i]) != 0)
			fail_msg("the list %s: service %zu is %s, expected %s", quoted(list), i,
				 quoted(cfg->services[i]), quoted(want[i]));
}

/* ---- the configuration ------------------------------------------------------------ */

static void test_default_config_is_info_from_every_service(void **state)
{
	(void)state;
	struct filter_config cfg = filter_config_default();
	if (cfg.min_level != LOG_INFO)
		fail_msg("the default min_level is %d, expected LOG_INFO (%d)", (int)cfg.min_level,
			 (int)LOG_INFO);
	if (cfg.nservices != 0)
		fail_msg("the default has %zu services, expected 0 (0 means every service)", cfg.nservices);
}

static void test_services_list_is_split_in_place_into_names(void **state)
{
	(void)state;
	static const char *const want[] = {"api", "billing", "search"};
	char list[] = "api,billing,search";
	struct filter_config cfg = {.min_level = LOG_ERROR};
	parse_services(&cfg, list);
	expect_services(&cfg, "api,billing,search", want, 3);
	for (size_t i = 0; i < 3; i++)
		if (cfg.services[i] < list || cfg.services[i] >= list + sizeof(list))
			fail_msg("service %zu does not point into the list: the names are cut out of the "
				 "caller's string in place (a comma becomes a NUL), not copied",
				 i);
	if (cfg.min_level != LOG_ERROR)
		fail_msg("filter_config_services changed min_level: it only sets the services");

	char one[] = "auth";
	parse_services(&cfg, one);
	static const char *const just_auth[] = {"auth"};
	expect_services(&cfg, "auth", just_auth, 1);
}

static void test_services_blanks_around_names_are_trimmed(void **state)
{
	(void)state;
	char list[] = "  api, billing ,\tsearch\t, my service ";
	static const char *const want[] = {"api", "billing", "search", "my service"};
	struct filter_config cfg = {.min_level = LOG_INFO};
	parse_services(&cfg, list);
	if (cfg.nservices == 4 && cfg.services[0] != NULL && strcmp(cfg.services[0], "  api") == 0)
		fail_msg("\"  api\" kept its blanks: spaces and tabs around a name are trimmed, so that "
			 "--services \"api, billing\" means api and billing");
	expect_services(&cfg, "  api, billing ,\\tsearch\\t, my service ", want, 4);
}

static void test_services_empty_name_is_rejected(void **state)
{
	(void)state;
	char good[] = "a,b";
	struct filter_config cfg = {.min_level = LOG_INFO};
	if (filter_config_services(&cfg, good) != 0 || cfg.nservices != 2)
		fail_msg("filter_config_services(\"a,b\") did not give two names, so a rejection would "
			 "prove nothing");
	static const char *const bad[] = {"a,,b", ",a", "a,", "", ",", "a, ,b", "   "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char list[32];
		snprintf(list, sizeof(list), "%s", bad[i]);
		if (filter_config_services(&cfg, list) != -1)
			fail_msg("filter_config_services(%s) accepted it: an empty name (or one of "
				 "blanks only) is a mistake in the list; return -1 (strtok would skip it "
				 "silently: cut at each comma yourself)",
				 quoted(bad[i]));
	}
}

static void test_services_at_most_max_names(void **state)
{
	(void)state;
	/* FILTER_MAX_SERVICES names fit; one more does not. */
	char list[FILTER_MAX_SERVICES * 8 + 8] = "";
	for (int i = 0; i < FILTER_MAX_SERVICES; i++) {
		char name[8];
		snprintf(name, sizeof(name), "%ss%d", i ? "," : "", i);
		strcat(list, name);
	}
	char full[sizeof(list)], over[sizeof(list) + 8];
	snprintf(full, sizeof(full), "%s", list);
	snprintf(over, sizeof(over), "%s,extra", list);

	struct filter_config cfg = {.min_level = LOG_INFO};
	if (filter_config_services(&cfg, full) != 0)
		fail_msg("a list of exactly FILTER_MAX_SERVICES (%d) names was rejected: that many fit",
			 FILTER_MAX_SERVICES);
	if (cfg.nservices != FILTER_MAX_SERVICES || strcmp(cfg.services[FILTER_MAX_SERVICES - 1], "s15") != 0)
		fail_msg("a list of %d names gave %zu services", FILTER_MAX_SERVICES, cfg.nservices);
	errno = 0;
	int rc = filter_config_services(&cfg, over);
	if (rc != -1)
		fail_msg("a list of %d names was accepted: services[] has room for FILTER_MAX_SERVICES "
			 "(%d); return -1 before writing past it",
			 FILTER_MAX_SERVICES + 1, FILTER_MAX_SERVICES);
	if (errno != EINVAL)
		fail_msg(
		    "a list of %d names returned -1 with errno %d, expected EINVAL (%d): a caller "
		    "tells the mistake by errno, so set it on every refusal, the seventeenth name's too. "
		    "If your code does set it, something wrote past an array of %d names and "
		    "overwrote errno: a list of more than %d names must be refused before the "
		    "seventeenth is stored anywhere",
		    FILTER_MAX_SERVICES + 1, errno, EINVAL, FILTER_MAX_SERVICES, FILTER_MAX_SERVICES);
}

/* filter_config_services(cfg, list) must refuse: -1 with errno EINVAL.
 * call names the call in a failure, why says what is wrong with it. */
static void expect_refused(struct filter_config *cfg, char *list, const char *call, const char *why)
{
	errno = 0;
	int rc = filter_config_services(cfg, list);
	if (rc != -1 || errno != EINVAL)
		fail_msg("%s returned %d with errno %d, expected -1 with EINVAL (%d): %s", call, rc, errno,
			 EINVAL, why);
}

/* Fails unless cfg still holds the names of good, "api,billing", after
 * call was refused. */
static void expect_cfg_as_before(const struct filter_config *cfg, const char *good, const char *call)
{
	if (cfg->nservices != 2 || cfg->services[0] != good || strcmp(cfg->services[0], "api") != 0 ||
	    cfg->services[1] == NULL || strcmp(cfg->services[1], "billing") != 0)
		fail_msg("after %s was refused, cfg holds %zu service(s), the first %s; expected api and "
			 "billing, as before the call: collect the names apart and copy them into cfg "
			 "only once the whole list is good",
			 call, cfg->nservices, quoted(cfg->services[0]));
}

/* NULL is refused like any other bad argument, before anything is read
 * through it. */
static void test_services_null_cfg_or_list_is_refused(void **state)
{
	(void)state;
	char good[] = "api,billing";
	struct filter_config cfg = {.min_level = LOG_INFO};
	parse_services(&cfg, good);
	char list[] = "auth";
	const char *why = "check cfg and list for NULL first, and set errno on that refusal too";
	expect_refused(NULL, list, "filter_config_services(NULL, \"auth\")", why);
	expect_refused(&cfg, NULL, "filter_config_services(&cfg, NULL)", why);
	expect_cfg_as_before(&cfg, good, "a NULL list");
}

/* A rejected list changes nothing: the names are collected apart and
 * copied into cfg only once the whole list is good. */
static void test_services_rejected_list_leaves_cfg_as_it_was(void **state)
{
	(void)state;
	char good[] = "api,billing";
	struct filter_config cfg = {.min_level = LOG_INFO};
	parse_services(&cfg, good);
	char bad[] = "auth,search,,cron";
	expect_refused(&cfg, bad, "filter_config_services(\"auth,search,,cron\")",
		       "the list has an empty name");
	expect_cfg_as_before(&cfg, good, "\"auth,search,,cron\"");
}

/* ---- the rule: levels ---------------------------------------------------------------- */

static void test_min_info_keeps_info_and_above_drops_trace_and_debug(void **state)
{
	(void)state;
	struct filter_config cfg = config(LOG_INFO, 0, NULL);
	const char *keep = "info, warn, error and fatal are at or above info";
	const char *drop = "trace and debug are below info";
	expect_accept(&cfg, LOG_INFO, "api", 1, keep);
	expect_accept(&cfg, LOG_WARN, "api", 1, keep);
	expect_accept(&cfg, LOG_ERROR, "api", 1, keep);
	expect_accept(&cfg, LOG_FATAL, "api", 1, keep);
	expect_accept(&cfg, LOG_DEBUG, "api", 0, drop);
	expect_accept(&cfg, LOG_TRACE, "api", 0, drop);
}

static void test_min_fatal_keeps_only_fatal(void **state)
{
	(void)state;
	struct filter_config cfg = config(LOG_FATAL, 0, NULL);
	expect_accept(&cfg, LOG_FATAL, "worker", 1, "\"at or above\" includes the level itself");
	for (int l = LOG_TRACE; l < LOG_FATAL; l++)
		expect_accept(&cfg, (enum log_level)l, "worker", 0, "fatal is the most severe level");
}

static void test_min_trace_keeps_every_level(void **state)
{
	(void)state;
	struct filter_config cfg = config(LOG_TRACE, 0, NULL);
	for (int l = LOG_TRACE; l < LOG_LEVELS; l++)
		expect_accept(&cfg, (enum log_level)l, "search", 1, "trace is the least severe level");
}

static void test_level_threshold_is_at_or_above_for_every_minimum(void **state)
{
	(void)state;
	for (int min = LOG_TRACE; min < LOG_LEVELS; min++) {
		struct filter_config cfg = config((enum log_level)min, 0, NULL);
		for (int l = LOG_TRACE; l < LOG_LEVELS; l++)
			expect_accept(&cfg, (enum log_level)l, "auth", l >= min,
				      "keep an entry when its level is at or above min_level; compare the "
				      "enum values, which are in order of severity (the names are not: "
				      "\"warn\" sorts after \"error\")");
	}
}

/* ---- the rule: services ---------------------------------------------------------------- */

static void test_one_service_keeps_only_that_service(void **state)
{
	(void)state;
	static const char *const only[] = {"billing"};
	struct filter_config cfg = config(LOG_TRACE, 1, only);
	expect_accept(&cfg, LOG_INFO, "billing", 1, "billing is the listed service");
	expect_accept(&cfg, LOG_INFO, "api", 0, "api is not listed");
	expect_accept(&cfg, LOG_INFO, "unknown", 0, "\"unknown\" is a service name like any other");
}

static void test_several_services_keep_any_of_them(void **state)
{
	(void)state;
	static const char *const listed[] = {"api", "auth", "worker"};
	struct filter_config cfg = config(LOG_TRACE, 3, listed);
	for (size_t i = 0; i < 3; i++)
		expect_accept(&cfg, LOG_WARN, listed[i], 1,
			      "every listed service is kept, not only the first");
	expect_accept(&cfg, LOG_WARN, "billing", 0, "billing is not listed");
	expect_accept(&cfg, LOG_WARN, "search", 0, "search is not listed");
}

static void test_no_services_keeps_every_service(void **state)
{
	(void)state;
	struct filter_config cfg = config(LOG_INFO, 0, NULL);
	static const char *const any[] = {"api", "billing", "unknown", "a service nobody listed"};
	for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++)
		expect_accept(&cfg, LOG_ERROR, any[i], 1, "nservices 0 means every service");
}

static void test_service_names_match_exactly_and_case_sensitively(void **state)
{
	(void)state;
	static const char *const only[] = {"api"};
	struct filter_config cfg = config(LOG_TRACE, 1, only);
	expect_accept(&cfg, LOG_INFO, "api", 1, "the same name");
	expect_accept(&cfg, LOG_INFO, "API", 0, "names are case-sensitive (strcmp, not strcasecmp)");
	expect_accept(&cfg, LOG_INFO, "ap", 0, "a prefix of a name is another name");
	expect_accept(&cfg, LOG_INFO, "api-gateway", 0,
		      "a name that starts with a listed one is another name (strcmp, not strncmp)");
}

static void test_level_and_service_must_both_pass(void **state)
{
	(void)state;
	static const char *const only[] = {"billing"};
	struct filter_config cfg = config(LOG_WARN, 1, only);
	expect_accept(&cfg, LOG_ERROR, "billing", 1, "level and service both pass");
	expect_accept(&cfg, LOG_ERROR, "api", 0, "the level passes but the service is not listed");
	expect_accept(&cfg, LOG_DEBUG, "billing", 0, "the service is listed but the level is below warn");
}

/* ---- the stage ---------------------------------------------------------------- */

/* A stage on real channels, run by its own thread. */
struct stage_test {
	struct filter_stage st;
	struct harness_thread thread;
};

static void stage_init(struct stage_test *s, struct filter_config cfg, size_t in_cap, size_t out_cap)
{
	memset(s, 0, sizeof(*s));
	s->st.cfg = cfg;
	s->st.in = chan_new_or_fail(in_cap);
	s->st.out = chan_new_or_fail(out_cap);
}

static void stage_start(struct stage_test *s)
{
	harness_thread_start(&s->thread, filter_run, &s->st);
}

static void stage_join(struct stage_test *s)
{
	harness_on_hang("filter_run did not return after in was closed: does the loop end when chan_recv "
			"returns CHAN_CLOSED, and does a send on a closed out make it stop waiting?");
	if (!harness_thread_join_within(&s->thread, harness_wait_ms()))
		fail_msg("filter_run did not return within %ld ms of in being closed: the loop must end "
			 "when chan_recv(in) returns CHAN_CLOSED",
			 harness_wait_ms());
}

/* Frees the channels, and whatever entries are left in them. */
static void stage_free(struct stage_test *s)
{
	void *msg;
	while (chan_try_recv(s->st.in, &msg) == CHAN_OK)
		log_entry_free(msg);
	while (chan_try_recv(s->st.out, &msg) == CHAN_OK)
		log_entry_free(msg);
	assert_chan_status(chan_free(s->st.in), CHAN_OK);
	assert_chan_status(chan_free(s->st.out), CHAN_OK);
}

static void send_entry(struct chan *in, struct log_entry *e)
{
	if (chan_send(in, e) != CHAN_OK) {
		log_entry_free(e);
		fail_msg("could not send an entry to the stage's input channel");
	}
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
			fail_msg("filter_run returned without closing out: the next stage would wait forever "
				 "(close out when in is closed and drained)");
		if (deadline_passed(&deadline))
			fail_msg("no entry and no close came out of the stage within %ld ms",
				 harness_wait_ms());
	}
}

/* Entry i of a test stream: the levels take turns, trace to fatal, and
 * the message is i, so that order can be checked at the other end. */
static struct log_entry *numbered_entry(int i, const char *service)
{
	char text[16];
	snprintf(text, sizeof(text), "%d", i);
	return entry_new((enum log_level)(i % LOG_LEVELS), service, text);
}

/* Under min_level warn, entry i passes when its level is warn or above. */
static int passes_warn(int i)
{
	return i % LOG_LEVELS >= LOG_WARN;
}

/* The step alone, with no channel: what lesson 12 builds on. */
static void test_step_returns_a_kept_entry_and_frees_a_dropped_one(void **state)
{
	(void)state;
	struct filter_stage st = {.cfg = config(LOG_WARN, 0, NULL)};
	struct log_entry *kept = entry_new(LOG_ERROR, "api", "card declined");
	struct log_entry *got = filter_step(&st, kept);
	if (got != kept)
		fail_msg("filter_step on an error entry with min_level warn returned %p, expected the entry "
			 "itself (%p): a kept entry goes back to the caller, untouched",
			 (void *)got, (void *)kept);
	if (filter_step(&st, entry_new(LOG_DEBUG, "api", "cache hit")) != NULL)
		fail_msg(
		    "filter_step on a debug entry with min_level warn returned an entry: a dropped one is "
		    "freed and the step returns NULL");
	unsigned long long passed = atomic_load(&st.stats.passed), dropped = atomic_load(&st.stats.dropped);
	if (passed != 0 || dropped != 1)
		fail_msg(
		    "after one kept and one dropped entry, passed=%llu and dropped=%llu, expected 0 and 1: "
		    "passed counts what the loop sent, and the step sends nothing",
		    passed, dropped);
	log_entry_free(kept); /* and LeakSanitizer checks that the dropped one was freed */
}

static void test_stage_counts_every_entry_as_passed_or_dropped(void **state)
{
	(void)state;
	static const char *const services[] = {"api", "billing", "search"};
	static const char *const listed[] = {"api", "billing"};
	enum { N = 24 };
	struct stage_test s;
	stage_init(&s, config(LOG_WARN, 2, listed), N, N);
	int want_passed = 0;
	for (int i = 0; i < N; i++) {
		const char *service = services[i % 3];
		want_passed += passes_warn(i) && strcmp(service, "search") != 0;
		send_entry(s.st.in, numbered_entry(i, service));
	}
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	int received = 0;
	struct log_entry *e;
	while (recv_entry(&s, &e) == CHAN_OK) {
		if (e->level < LOG_WARN || strcmp(e->service, "search") == 0)
			fail_msg("an entry (%s, %s) came out of a filter with min_level warn and services "
				 "api,billing: did filter_run call filter_accept with &stage->cfg?",
				 log_level_name(e->level), e->service);
		log_entry_free(e);
		received++;
	}
	stage_join(&s);
	unsigned long long passed = atomic_load(&s.st.stats.passed);
	unsigned long long dropped = atomic_load(&s.st.stats.dropped);
	if (passed + dropped != N)
		fail_msg("passed %llu + dropped %llu = %llu, but %d entries went in: every entry the stage "
			 "receives is counted exactly once, as passed or as dropped",
			 passed, dropped, passed + dropped, N);
	if ((int)passed != want_passed || received != want_passed)
		fail_msg("%d entries should pass; the stage counted %llu as passed and %d came out of out",
			 want_passed, passed, received);
	stage_free(&s);
}

static void test_stage_sends_passed_entries_in_order(void **state)
{
	(void)state;
	enum { N = 18 };
	struct stage_test s;
	stage_init(&s, config(LOG_WARN, 0, NULL), N, N);
	for (int i = 0; i < N; i++)
		send_entry(s.st.in, numbered_entry(i, "api"));
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	int next = 0;
	struct log_entry *e;
	while (recv_entry(&s, &e) == CHAN_OK) {
		while (next < N && !passes_warn(next))
			next++;
		char want[16];
		snprintf(want, sizeof(want), "%d", next);
		if (strcmp(e->message, want) != 0)
			fail_msg("entry %s (%s) came out where %s was expected: the entries that pass "
				 "leave in the order they came in, one at a time",
				 quoted(e->message), log_level_name(e->level), quoted(want));
		log_entry_free(e);
		next++;
	}
	while (next < N && !passes_warn(next))
		next++;
	if (next != N)
		fail_msg("out was closed before entry %d, which passes, came out", next);
	stage_join(&s);
	stage_free(&s);
}

static void test_stage_closes_out_when_in_is_closed(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, config(LOG_INFO, 0, NULL), 1, 1);
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
	if (atomic_load(&s.st.stats.passed) != 0 || atomic_load(&s.st.stats.dropped) != 0)
		fail_msg("no entry went in, yet passed or dropped is not 0");
	stage_free(&s);
}

/* A producer thread: the parser's part. Sends n numbered entries, then
 * closes in. */
struct producer {
	struct chan *in;
	int n;
	int sent;
	atomic_int closing; /* 1 once it is done sending, just before it closes in */
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (p->sent = 0; p->sent < p->n; p->sent++) {
		struct log_entry *e = numbered_entry(p->sent, "api");
		if (chan_send(p->in, e) != CHAN_OK) {
			log_entry_free(e);
			break;
		}
	}
	atomic_store(&p->closing, 1);
	chan_close(p->in);
	return NULL;
}

/* How many of entries 0 .. n-1 pass min_level warn. */
static int count_passing_warn(int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += passes_warn(i);
	return k;
}

struct production {
	struct stage_test *s;
	struct producer *p;
	struct harness_thread *thread;
};

/* A correct stage can only end after in is closed, so after the producer
 * set closing: a stage that has ended while closing is still 0 returned
 * early. (Only "the stage has ended" would not do: the stage may end
 * before the producer's thread is marked done.) */
static int stage_returned_early(struct production *pr)
{
	return harness_thread_done(&pr->s->thread) && !atomic_load(&pr->p->closing);
}

static int producer_done_or_stage_returned_early(void *arg)
{
	struct production *pr = arg;
	return harness_thread_done(pr->thread) || stage_returned_early(pr);
}

/* Waits for the producer to finish; fails if the stage ends first or the
 * producer stays blocked. */
static void join_producer(struct stage_test *s, struct producer *p, struct harness_thread *producer,
			  const char *why)
{
	struct production pr = {s, p, producer};
	harness_on_hang(why);
	if (!harness_wait_until(producer_done_or_stage_returned_early, &pr) ||
	    !harness_thread_done(producer)) {
		if (stage_returned_early(&pr))
			fail_msg("filter_run returned while entries were still being sent to it: it must "
				 "keep receiving until chan_recv(in) returns CHAN_CLOSED");
		fail_msg("%s", why);
	}
	assert_true(harness_thread_join_within(producer, harness_wait_ms()));
}

static void test_stage_keeps_draining_in_when_out_is_closed(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, config(LOG_WARN, 0, NULL), 1, 1);
	/* Nobody downstream: out is closed before the first entry. */
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	struct producer p = {.in = s.st.in, .n = (int)harness_scale(300)};
	struct harness_thread pt;
	stage_start(&s);
	harness_thread_start(&pt, produce, &p);
	join_producer(&s, &p, &pt,
		      "the producer stayed blocked on in: when chan_send(out) returns CHAN_CLOSED the "
		      "stage must free the entry and keep receiving from in, or the stage before it "
		      "blocks forever");
	stage_join(&s);
	if (p.sent != p.n)
		fail_msg("the producer could send only %d of its %d entries: chan_send(in) answered "
			 "CHAN_CLOSED, so in was closed under it. Only the sender closes a channel: the "
			 "stage closes out, never in, and when out is closed it keeps receiving from in "
			 "until the producer closes it",
			 p.sent, p.n);
	unsigned long long passed = atomic_load(&s.st.stats.passed);
	unsigned long long dropped = atomic_load(&s.st.stats.dropped);
	unsigned long long discarded = atomic_load(&s.st.stats.discarded);
	int kept = count_passing_warn(p.n);
	if (passed != 0 || (int)dropped != p.n - kept || (int)discarded != kept)
		fail_msg("passed %llu, dropped %llu, discarded %llu; expected 0, %d and %d: of %d entries "
			 "with min_level warn and out closed from the start, none was delivered (passed "
			 "counts what chan_send delivered), the rule refuses the %d below warn (dropped), "
			 "and the %d it keeps cannot be sent (discarded). A wrong split has one of two "
			 "causes: the level rule keeps or drops the wrong entries (see "
			 "test_level_threshold_is_at_or_above_for_every_minimum), or an entry that could "
			 "not be sent is counted as dropped, or not at all",
			 passed, dropped, discarded, p.n - kept, kept, p.n, p.n - kept, kept);
	stage_free(&s); /* and LeakSanitizer checks that every entry was freed */
}

/* What the test reads of a stage that is still running: the entries it
 * has taken from in, and those it has counted as dropped or discarded. */
struct live_counts {
	struct stage_test *s;
	unsigned long long taken, dropped, discarded;
};

/* True once the stage has taken every one of the n entries sent to in and
 * counted each of them. The counters are read before taken: a stage counts
 * an entry after it took it, so a count read first never runs ahead. */
static int stage_counted_what_it_took(void *arg)
{
	struct live_counts *c = arg;
	c->dropped = atomic_load(&c->s->st.stats.dropped);
	c->discarded = atomic_load(&c->s->st.stats.discarded);
	pthread_mutex_lock(&c->s->st.in->mu);
	c->taken = c->s->st.in->taken;
	size_t len = c->s->st.in->len;
	pthread_mutex_unlock(&c->s->st.in->mu);
	return len == 0 && c->dropped + c->discarded == c->taken;
}

static void test_stage_counts_each_entry_while_it_runs(void **state)
{
	(void)state;
	enum { N = 12 };
	struct stage_test s;
	stage_init(&s, config(LOG_WARN, 0, NULL), N, 1);
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	stage_start(&s);
	for (int i = 0; i < N; i++)
		send_entry(s.st.in, numbered_entry(i, "api"));
	/* in stays open: the stage is still running, and a reader of the
	 * counters (the metrics endpoint) sees them now, not after the join. */
	struct live_counts c = {.s = &s};
	int agreed = harness_wait_until(stage_counted_what_it_took, &c);
	int kept = count_passing_warn(N);
	if (!agreed || c.discarded != (unsigned long long)kept)
		fail_msg("with out closed and in still open, the stage took %llu entries from in, but "
			 "within %ld ms counted only %llu dropped and %llu discarded (expected %d and %d): "
			 "counted late, not as each entry is handled. A count kept in a local and added "
			 "after the loop (or after chan_close(out)) is 0 for as long as the stage runs, "
			 "and a reader of the counters sees entries that went nowhere",
			 c.taken, harness_wait_ms(), c.dropped, c.discarded, N - kept, kept);
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_join(&s);
	stage_free(&s);
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
	stage_init(&s, config(LOG_INFO, 0, NULL), N, 1);
	for (int i = 0; i < N; i++)
		send_entry(s.st.in, entry_new(LOG_ERROR, "billing", "card declined"));
	assert_chan_status(chan_close(s.st.in), CHAN_OK);
	stage_start(&s);
	/* out holds one entry; the stage parks sending the second. */
	if (!harness_wait_until(stage_blocked_on_out, &s) || harness_thread_done(&s.thread))
		fail_msg("the stage should be blocked sending its second entry on a full out (capacity 1)");
	/* passed counts what was sent, so it never runs ahead of a send and
	 * never goes down: Prometheus reads a counter that went down as a
	 * restart of the program. */
	expect_counted_once_sent(atomic_load(&s.st.stats.passed), "stats.passed");
	harness_on_hang("filter_run stayed blocked after out was closed under it");
	assert_chan_status(chan_close(s.st.out), CHAN_OK);
	stage_join(&s);
	unsigned long long passed = atomic_load(&s.st.stats.passed);
	unsigned long long dropped = atomic_load(&s.st.stats.dropped);
	unsigned long long discarded = atomic_load(&s.st.stats.discarded);
	if (passed != 1 || dropped != 0 || discarded != N - 1)
		fail_msg("passed %llu, dropped %llu, discarded %llu; expected 1, 0 and %d: one entry "
			 "reached out before it was closed; the others were freed and counted as "
			 "discarded (passed counts what chan_send delivered, dropped what the rule "
			 "refused)",
			 passed, dropped, discarded, N - 1);
	stage_free(&s); /* frees the one entry that made it into out */
}

static void test_stage_moves_many_entries_through_small_channels(void **state)
{
	(void)state;
	struct stage_test s;
	stage_init(&s, config(LOG_WARN, 0, NULL), 2, 2);
	struct producer p = {.in = s.st.in, .n = (int)harness_scale(2000)};
	struct harness_thread pt;
	stage_start(&s);
	harness_thread_start(&pt, produce, &p);
	/* This thread is the next stage: it takes entries as they come. */
	int received = 0, next = 0;
	struct log_entry *e;
	char want[16];
	while (recv_entry(&s, &e) == CHAN_OK) {
		while (!passes_warn(next))
			next++;
		snprintf(want, sizeof(want), "%d", next);
		if (strcmp(e->message, want) != 0)
			fail_msg("entry %s came out where %s was expected: the entries that pass leave in "
				 "the order they came in",
				 e->message, want);
		log_entry_free(e);
		received++;
		next++;
	}
	join_producer(&s, &p, &pt, "the producer stayed blocked on in");
	stage_join(&s);
	unsigned long long passed = atomic_load(&s.st.stats.passed);
	unsigned long long dropped = atomic_load(&s.st.stats.dropped);
	assert_int_equal(received, count_passing_warn(p.n));
	assert_int_equal(passed, received);
	if (passed + dropped != (unsigned long long)p.n)
		fail_msg("passed %llu + dropped %llu != %d entries in", passed, dropped, p.n);
	stage_free(&s);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_default_config_is_info_from_every_service, L05 "#the-default-configuration"),
	    HTEST(test_services_list_is_split_in_place_into_names, L05 "#a-list-of-services"),
	    HTEST(test_services_blanks_around_names_are_trimmed, L05 "#a-list-of-services"),
	    HTEST(test_services_empty_name_is_rejected, L05 "#a-list-of-services"),
	    HTEST(test_services_at_most_max_names, L05 "#a-list-of-services"),
	    HTEST(test_services_rejected_list_leaves_cfg_as_it_was, L05 "#a-list-of-services"),
	    HTEST(test_services_null_cfg_or_list_is_refused, L05 "#a-list-of-services"),
	    HTEST(test_min_info_keeps_info_and_above_drops_trace_and_debug, L05 "#accept-or-drop"),
	    HTEST(test_min_fatal_keeps_only_fatal, L05 "#accept-or-drop"),
	    HTEST(test_min_trace_keeps_every_level, L05 "#accept-or-drop"),
	    HTEST(test_level_threshold_is_at_or_above_for_every_minimum, L05 "#levels-are-numbers"),
	    HTEST(test_one_service_keeps_only_that_service, L05 "#accept-or-drop"),
	    HTEST(test_several_services_keep_any_of_them, L05 "#accept-or-drop"),
	    HTEST(test_no_services_keeps_every_service, L05 "#accept-or-drop"),
	    HTEST(test_service_names_match_exactly_and_case_sensitively, L05 "#accept-or-drop"),
	    HTEST(test_level_and_service_must_both_pass, L05 "#accept-or-drop"),
	    HTEST(test_step_returns_a_kept_entry_and_frees_a_dropped_one, L05 "#the-stage-loop"),
	    HTEST(test_stage_counts_every_entry_as_passed_or_dropped, L05 "#the-stage-loop"),
	    HTEST(test_stage_sends_passed_entries_in_order, L05 "#the-stage-loop"),
	    HTEST(test_stage_closes_out_when_in_is_closed, L05 "#the-stage-loop"),
	    HTEST(test_stage_keeps_draining_in_when_out_is_closed, L05 "#when-nobody-is-downstream"),
	    HTEST(test_stage_stops_sending_when_out_is_closed_under_it, L05 "#when-nobody-is-downstream"),
	    HTEST(test_stage_counts_each_entry_while_it_runs, L05 "#when-nobody-is-downstream"),
	    HTEST(test_stage_moves_many_entries_through_small_channels, L05 "#the-stage-loop"),
	};
	return harness_main(argc, argv, "05-filter", tests, HARNESS_COUNT(tests));
}
