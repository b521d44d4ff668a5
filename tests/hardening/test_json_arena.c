/*
 * The arena for cJSON's trees (src/json_arena.h, given in
 * src/lib/json_arena.c): each thread parses into a region of its own,
 * which starts again from empty when the thread's last object is freed.
 * Not part of any lesson's grade, since the learner does not write it:
 * `make check` runs this suite against the reference, plain, under
 * ThreadSanitizer (two threads parse at once and share nothing) and under
 * AddressSanitizer (where the hooks are plain malloc and free).
 */
#include "harness.h"
#include "json_arena.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "docs/architecture.md#cjsons-trees"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ON 0
#else
#define ARENA_ON 1
#endif

/* Trees alive at once in the second half of a round: enough to fill the
 * 64 KiB region, so that the rest goes to malloc and back. */
#define HELD 400

struct parser {
	int id;
	long trees;
	unsigned long resets; /* the thread's count when it was done */
	long live;	      /* its objects still counted then */
};

/* A line like the logs the parser reads, its fields made of (id, i). */
static cJSON *parse_one(int id, long i)
{
	char text[256];
	snprintf(text, sizeof(text),
		 "{\"ts\":\"2026-12-06T00:00:%02ldZ\",\"level\":\"info\",\"service\":\"svc-%d\","
		 "\"msg\":\"line %ld of thread %d\",\"latency_ms\":%ld,\"tags\":[1,2,3]}",
		 i % 60, id, i, id, i);
	return cJSON_Parse(text);
}

/* The tree parse_one(id, i) made, every field still its own: a field
 * overwritten by another tree cut from the same region would show here. */
static void expect_tree(const cJSON *t, int id, long i)
{
	char want[64];
	snprintf(want, sizeof(want), "line %ld of thread %d", i, id);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(t, "msg");
	const cJSON *lat = cJSON_GetObjectItemCaseSensitive(t, "latency_ms");
	if (!cJSON_IsString(msg) || strcmp(msg->valuestring, want) != 0 || !cJSON_IsNumber(lat) ||
	    (long)lat->valuedouble != i)
		fail_msg("thread %d, tree %ld: its fields changed before cJSON_Delete (\"%s\"): two "
			 "objects of one region overlap",
			 id, i, cJSON_IsString(msg) ? msg->valuestring : "?");
}

/* Parses and deletes one tree at a time, then holds HELD trees at once
 * and deletes them: the region fills, the rest goes to malloc. */
static void *parse_many(void *arg)
{
	struct parser *p = arg;
	for (long i = 0; i < p->trees; i++) {
		cJSON *t = parse_one(p->id, i);
		expect_tree(t, p->id, i);
		cJSON_Delete(t);
	}
	static _Thread_local cJSON *held[HELD];
	for (long i = 0; i < HELD; i++)
		held[i] = parse_one(p->id, i);
	for (long i = 0; i < HELD; i++) {
		expect_tree(held[i], p->id, i);
		cJSON_Delete(held[i]);
	}
	p->resets = json_arena_resets();
	p->live = json_arena_live();
	return NULL;
}

/* Two threads parse at once, each its own trees: each tree intact, each
 * region reset once a tree (it was reused), nothing left counted, and the
 * regions freed when the threads end. */
static void test_two_threads_parse_into_regions_of_their_own(void **state)
{
	(void)state;
	json_arena_install();
	long before = json_arena_regions();
	struct parser p[2] = {{.id = 1, .trees = harness_scale(5000)},
			      {.id = 2, .trees = harness_scale(5000)}};
	struct harness_thread t[2];
	for (int k = 0; k < 2; k++)
		harness_thread_start(&t[k], parse_many, &p[k]);
	for (int k = 0; k < 2; k++)
		if (!harness_thread_join_within(&t[k], harness_wait_ms()))
			fail_msg("thread %d did not end its parses", p[k].id);
	for (int k = 0; k < 2; k++) {
		if (p[k].live != 0)
			fail_msg("thread %d: %ld objects still counted after every tree was deleted: a "
				 "free did not subtract, or an allocation counted twice",
				 p[k].id, p[k].live);
		if (ARENA_ON && p[k].resets < (unsigned long)p[k].trees + 1)
			fail_msg("thread %d: its region was emptied %lu times for %ld trees deleted one "
				 "at a time: it is not reused once its last object is freed",
				 p[k].id, p[k].resets, p[k].trees + 1);
	}
	if (json_arena_regions() != before)
		fail_msg("%ld regions still allocated after their threads ended (%ld before)",
			 json_arena_regions() - before, before);
	cJSON_InitHooks(NULL);
}

/* On one thread, the next tree after a delete starts where the last one
 * did: the memory is reused, not cut further on; a request larger than the
 * region goes to malloc, and its free to free; and a tree still alive
 * keeps the region from being reset under it. */
static void test_a_deleted_tree_leaves_its_memory_to_the_next(void **state)
{
	(void)state;
	json_arena_install();
	cJSON *a = parse_one(3, 1);
	void *first = a;
	cJSON_Delete(a);
	cJSON *b = parse_one(3, 2);
	if (ARENA_ON && (void *)b != first)
		fail_msg("the second tree starts at %p, the first started at %p: the region was not "
			 "reset when the first was deleted",
			 (void *)b, first);
	expect_tree(b, 3, 2);
	size_t big = 100 * 1024;
	char *text = malloc(big + 3);
	assert_non_null(text);
	text[0] = '"';
	memset(text + 1, 'x', big);
	strcpy(text + 1 + big, "\"");
	cJSON *s = cJSON_Parse(text);
	free(text);
	assert_true(cJSON_IsString(s));
	assert_int_equal(strlen(s->valuestring), big);
	cJSON_Delete(s);
	cJSON_Delete(b);
	assert_int_equal(json_arena_live(), 0);
	/* A tree of one object alive while another is made and deleted: the
	 * region is not emptied under it. */
	cJSON *one = cJSON_Parse("7");
	cJSON_Delete(parse_one(3, 3));
	cJSON *d = parse_one(3, 4);
	if (!cJSON_IsNumber(one) || one->valuedouble != 7)
		fail_msg("a tree still alive was overwritten by the next: the region was reset before "
			 "its last object was freed");
	cJSON_Delete(d);
	cJSON_Delete(one);
	assert_int_equal(json_arena_live(), 0);
	cJSON_InitHooks(NULL);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_two_threads_parse_into_regions_of_their_own, ARCH),
	    HTEST(test_a_deleted_tree_leaves_its_memory_to_the_next, ARCH),
	};
	return harness_main(argc, argv, "hardening-json-arena", tests, HARNESS_COUNT(tests));
}
