/*
 * The slab (src/slab.h, given in src/lib/slab.c): the lines the tailer
 * cuts from blocks of its own and the parser frees on another thread.
 * Not part of any lesson's grade, since the learner does not write it:
 * `make check` runs this suite against the reference, plain and under
 * ThreadSanitizer (where it proves the one atomic count) and
 * AddressSanitizer (where every object is a malloc of its own).
 */
#include "harness.h"
#include "slab.h"

#include "chan_testing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "docs/architecture.md#memory-that-crosses-threads"

/* The size and fill of object i: small ones, with now and then one over
 * 4 KiB that gets a block of its own. */
static size_t size_of(long i)
{
	return i % 97 == 0 ? 5000 + (size_t)i % 300 : 1 + (size_t)(i * 7919) % 300;
}

static unsigned char fill_of(long i)
{
	return (unsigned char)(i * 31 + 7);
}

struct producer {
	struct chan *out;
	long n;
};

/* Cuts n objects, fills each with its own byte, sends them, closes out
 * and ends: its last block is let go by the thread's end. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	for (long i = 0; i < p->n; i++) {
		unsigned char *o = slab_alloc(size_of(i));
		if (o == NULL)
			break;
		memset(o, fill_of(i), size_of(i));
		if (chan_send(p->out, o) != CHAN_OK) {
			slab_free(o);
			break;
		}
	}
	chan_close(p->out);
	return NULL;
}

/* The object i as produce made it: every byte its own, none overwritten
 * by a neighbour cut from the same block. */
static void expect_intact(const unsigned char *o, long i)
{
	for (size_t k = 0; k < size_of(i); k++)
		if (o[k] != fill_of(i))
			fail_msg("object %ld (%zu bytes), byte %zu: 0x%02x, written as 0x%02x: two objects of "
				 "one block overlap",
				 i, size_of(i), k, o[k], fill_of(i));
	if ((uintptr_t)o % _Alignof(max_align_t) != 0)
		fail_msg("object %ld at %p is not aligned for every type", i, (const void *)o);
}

/* Objects cut on one thread and freed on another, across many blocks:
 * each intact, and once both threads are done every block is freed. */
static void test_objects_freed_on_another_thread_free_their_blocks(void **state)
{
	(void)state;
	long before = slab_blocks_live();
	struct producer p = {chan_new_or_fail(256), harness_scale(200000)};
	struct harness_thread t;
	harness_thread_start(&t, produce, &p);
	void *msg;
	long i = 0;
	harness_on_hang("the consumer waits for objects the producer never sent");
	while (chan_recv(p.out, &msg) == CHAN_OK) {
		expect_intact(msg, i++);
		slab_free(msg);
	}
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the producer did not end");
	assert_int_equal(i, p.n);
	slab_settle();
	if (slab_blocks_live() != before)
		fail_msg("%ld blocks still allocated after every object was freed and its thread ended "
			 "(%ld before): a block whose last object was freed was kept",
			 slab_blocks_live() - before, before);
	chan_free(p.out);
}

/* The thread that cut the objects ends before any is freed: the frees,
 * all on this thread afterwards, free the blocks. */
static void test_a_block_outlives_the_thread_that_cut_it(void **state)
{
	(void)state;
	long before = slab_blocks_live();
	long n = 2000;
	struct producer p = {chan_new_or_fail((size_t)n), n};
	struct harness_thread t;
	harness_thread_start(&t, produce, &p);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the producer did not end");
	if (slab_blocks_live() == before)
		fail_msg("no block is allocated while 2000 objects are alive");
	void *msg;
	for (long i = 0; chan_recv(p.out, &msg) == CHAN_OK; i++) {
		expect_intact(msg, i);
		slab_free(msg);
	}
	slab_settle();
	if (slab_blocks_live() != before)
		fail_msg("%ld blocks still allocated after their thread ended and every object was freed",
			 slab_blocks_live() - before);
	chan_free(p.out);
}

/* On the thread that cuts them, a block stays while the thread may cut
 * more from it, even when every object cut so far is freed and settled at
 * once, and NULL frees nothing. */
static void test_freeing_on_the_same_thread_keeps_the_current_block(void **state)
{
	(void)state;
	long before = slab_blocks_live();
	for (long i = 0; i < 1000; i++) {
		void *o = slab_alloc(size_of(i));
		assert_non_null(o);
		memset(o, fill_of(i), size_of(i));
		expect_intact(o, i);
		slab_free(o);
		slab_settle(); /* the block's count meets every free at once */
	}
	slab_free(NULL);
	slab_settle();
	long now = slab_blocks_live() - before;
	if (now > 1)
		fail_msg("%ld blocks allocated after 1000 objects cut and freed one at a time: at most "
			 "the one this thread still cuts from",
			 now);
}

/* Frees every object in the channel, and ends without slab_settle. */
static void *free_all(void *arg)
{
	struct producer *p = arg;
	void *o;
	while (chan_try_recv(p->out, &o) == CHAN_OK)
		slab_free(o);
	return NULL;
}

/* 3000 objects, several blocks, cut by a thread that has ended since:
 * they sit in the producer's out, closed. */
static struct producer produce_and_end(void)
{
	struct producer p = {chan_new_or_fail(3000), 3000};
	struct harness_thread t;
	harness_thread_start(&t, produce, &p);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the producer did not end");
	return p;
}

/* A thread's frees reach their block's count together, later: at a fifth
 * block, at slab_settle, or at the thread's end; never lost, never twice
 * (a block left over, or one freed while in use: the other tests and
 * ThreadSanitizer see that). */
static void test_a_threads_frees_reach_their_blocks_when_it_settles_or_ends(void **state)
{
	(void)state;
	long before = slab_blocks_live();
	struct producer p = produce_and_end();
	void *o;
	while (chan_try_recv(p.out, &o) == CHAN_OK)
		slab_free(o);
#if !defined(__SANITIZE_ADDRESS__) /* there every object is a malloc of its own */
	long owed = slab_blocks_live() - before;
	if (owed < 1 || owed > 4)
		fail_msg("%ld blocks left once every object was freed, before slab_settle: expected the 1 to 4 "
			 "whose frees this thread still owes (it pays the others as it moves on)",
			 owed);
#endif
	slab_settle();
	if (slab_blocks_live() != before)
		fail_msg("%ld blocks left after slab_settle: this thread's owed frees were lost",
			 slab_blocks_live() - before);
	slab_settle(); /* nothing owed: nothing happens */
	assert_int_equal(slab_blocks_live(), before);
	chan_free(p.out);

	p = produce_and_end();
	struct harness_thread t;
	harness_thread_start(&t, free_all, &p);
	if (!harness_thread_join_within(&t, harness_wait_ms()))
		fail_msg("the freeing thread did not end");
	if (slab_blocks_live() != before)
		fail_msg("%ld blocks left after the thread that freed every object ended: a thread pays what "
			 "it owes as it ends",
			 slab_blocks_live() - before);
	chan_free(p.out);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_objects_freed_on_another_thread_free_their_blocks, ARCH),
	    HTEST(test_a_block_outlives_the_thread_that_cut_it, ARCH),
	    HTEST(test_freeing_on_the_same_thread_keeps_the_current_block, ARCH),
	    HTEST(test_a_threads_frees_reach_their_blocks_when_it_settles_or_ends, ARCH),
	};
	return harness_main(argc, argv, "hardening-slab", tests, HARNESS_COUNT(tests));
}
