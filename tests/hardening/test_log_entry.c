/*
 * log_entry_new and log_entry_free (src/log_entry.h, given in
 * src/lib/log_entry.c): an entry and copies of its strings in one block
 * cut from the slab. Not part of any lesson's grade, since the learner
 * does not write them: `make check` runs this suite against the
 * reference, plain, under ThreadSanitizer and AddressSanitizer (where
 * every entry is a malloc of its own, so a string written past its end
 * is reported).
 */
#include "harness.h"
#include "interpose.h"
#include "log_entry.h"
#include "slab.h"

#include <errno.h>
#include <string.h>

#define ARCH "docs/architecture.md#memory-that-crosses-threads"

/* 1 if p lies in the n bytes from start. */
static int inside(const void *p, const void *start, size_t n)
{
	return (const char *)p >= (const char *)start && (const char *)p < (const char *)start + n;
}

/* The entry's strings are copies, right after the struct in its block:
 * the arguments can be overwritten the moment it returns. */
static void test_entry_copies_its_strings_into_one_block(void **state)
{
	(void)state;
	char service[] = "billing", message[] = "card declined", ts[] = "2026-11-25T10:00:00Z";
	struct log_entry *e = log_entry_new(LOG_ERROR, service, message, ts);
	assert_non_null(e);
	size_t block = sizeof(*e) + sizeof(service) + sizeof(message) + sizeof(ts);
	memset(service, 'x', sizeof(service) - 1);
	memset(message, 'x', sizeof(message) - 1);
	memset(ts, 'x', sizeof(ts) - 1);
	if (strcmp(e->service, "billing") != 0 || strcmp(e->message, "card declined") != 0 ||
	    e->timestamp == NULL || strcmp(e->timestamp, "2026-11-25T10:00:00Z") != 0)
		fail_msg("the entry's strings changed with its arguments: they are not copies");
	if (e->service != (char *)(e + 1) || !inside(e->message, e, block) || !inside(e->timestamp, e, block))
		fail_msg("the strings are not in the entry's block, right after the struct");
	if (e->level != LOG_ERROR || e->has_latency != 0 || e->latency_ms != 0)
		fail_msg("a new entry has the level it was given and no latency");
	log_entry_free(e);
}

/* service and message are never NULL; a missing timestamp stays NULL. */
static void test_null_strings_become_unknown_empty_and_null(void **state)
{
	(void)state;
	struct log_entry *e = log_entry_new(LOG_INFO, NULL, NULL, NULL);
	assert_non_null(e);
	if (e->service == NULL || strcmp(e->service, "unknown") != 0)
		fail_msg("service NULL gave %s, not \"unknown\"", e->service != NULL ? e->service : "NULL");
	if (e->message == NULL || strcmp(e->message, "") != 0)
		fail_msg("message NULL gave %s, not \"\"", e->message != NULL ? e->message : "NULL");
	if (e->timestamp != NULL)
		fail_msg("timestamp NULL gave \"%s\", not NULL", e->timestamp);
	log_entry_free(e);
	log_entry_free(NULL);
}

/* On a thread of its own, which has no block yet: the one the entry needs
 * is refused (the wrapper of log_entry_new is granted its one). */
static void *new_without_memory(void *arg)
{
	int *err = arg;
	harness_fail_allocations_after(1);
	errno = 0;
	struct log_entry *e = log_entry_new(LOG_INFO, "api", "ok", NULL);
	*err = e == NULL ? errno : -1;
	harness_allocations_restored();
	log_entry_free(e);
	return NULL;
}

static void test_out_of_memory_is_null_with_enomem(void **state)
{
	(void)state;
	long before = slab_blocks_live();
	int err = 0;
	struct harness_thread t;
	harness_thread_start(&t, new_without_memory, &err);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the thread that made an entry without memory did not end");
	if (err != ENOMEM)
		fail_msg("log_entry_new without memory for its block: %s, expected NULL with ENOMEM",
			 err == -1 ? "an entry" : strerror(err));
	if (slab_blocks_live() != before)
		fail_msg("%ld blocks left after a refused entry", slab_blocks_live() - before);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_entry_copies_its_strings_into_one_block, ARCH),
	    HTEST(test_null_strings_become_unknown_empty_and_null, ARCH),
	    HTEST(test_out_of_memory_is_null_with_enomem, ARCH),
	};
	return harness_main(argc, argv, "hardening-log-entry", tests, HARNESS_COUNT(tests));
}
