/*
 * Lesson 14's channel on one CPU and on two: a channel made by a thread
 * that may run on one CPU only does not spin (src/lfchan.h, the waiting
 * budget; given in lfchan_new), and still hands every message over. Not
 * part of the grade, since the learner does not write lfchan_new: `make
 * check` runs this suite against the reference, plain, under
 * ThreadSanitizer and AddressSanitizer. Each test runs in a process of its
 * own (the harness forks), so the CPUs it allows stay its own.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include "harness.h"
#include "lfchan.h"
#include "process.h"

#include <sched.h>
#include <stdint.h>

#define SEE "lessons/14-lockfree/PREDICTIONS.md#2-capacity-1-on-one-core"

static void allow_cpus(const cpu_set_t *cpus)
{
	if (sched_setaffinity(0, sizeof(*cpus), cpus) != 0)
		skip(); /* not allowed to choose its CPUs here (a sandbox): say so rather than fail */
}

/* The CPUs this process may run on now. */
static cpu_set_t allowed(void)
{
	cpu_set_t cpus;
	if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0)
		skip(); /* a mask larger than cpu_set_t (over 1024 possible CPUs): not this test's case */
	return cpus;
}

/* Only the first CPU of the allowed ones. */
static void allow_one_cpu(void)
{
	cpu_set_t all = allowed(), one;
	CPU_ZERO(&one);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &all)) {
			CPU_SET(cpu, &one);
			break;
		}
	allow_cpus(&one);
}

static void *send_numbers(void *ch)
{
	long n = harness_scale(20000);
	for (long i = 1; i <= n; i++)
		if (lfchan_send(ch, (void *)(uintptr_t)i) != CHAN_OK)
			return "a send failed";
	lfchan_close(ch);
	return NULL;
}

/* n numbers through a channel of capacity 1 to this thread, in order. */
static void hand_over_in_order(struct lfchan *ch)
{
	pthread_t sender;
	assert_int_equal(pthread_create(&sender, NULL, send_numbers, ch), 0);
	harness_on_hang("a hand-over on one CPU never happened: a waiter that does not spin must yield "
			"or sleep, and be woken");
	long want = 1;
	void *msg;
	while (lfchan_recv(ch, &msg) == CHAN_OK) {
		if ((long)(uintptr_t)msg != want)
			fail_msg("received %ld where %ld was next", (long)(uintptr_t)msg, want);
		want++;
	}
	void *why;
	pthread_join(sender, &why);
	if (why != NULL)
		fail_msg("%s", (const char *)why);
	assert_int_equal(want - 1, harness_scale(20000));
}

static void test_a_channel_made_on_one_cpu_does_not_spin_and_hands_over_every_message(void **state)
{
	(void)state;
	allow_one_cpu();
	struct lfchan *ch = lfchan_new(1);
	assert_non_null(ch);
	if (ch->spin_rounds != 0)
		fail_msg("lfchan_new on one CPU set spin_rounds %u: a spin there waits for a partner "
			 "that cannot run until it ends; 0 expected",
			 ch->spin_rounds);
	hand_over_in_order(ch);
	assert_int_equal(lfchan_free(ch), CHAN_OK);
}

static void test_a_channel_made_on_two_cpus_spins(void **state)
{
	(void)state;
	cpu_set_t all = allowed();
	if (CPU_COUNT(&all) < 2)
		skip(); /* one CPU here: nothing to compare */
	struct lfchan *ch = lfchan_new(1);
	assert_non_null(ch);
	if (ch->spin_rounds != LFCHAN_SPIN_ROUNDS)
		fail_msg("lfchan_new on %d CPUs set spin_rounds %u; LFCHAN_SPIN_ROUNDS (%u) expected",
			 CPU_COUNT(&all), ch->spin_rounds, (unsigned)LFCHAN_SPIN_ROUNDS);
	hand_over_in_order(ch);
	assert_int_equal(lfchan_free(ch), CHAN_OK);
}

/* The same answer for logpipe: its default of one parser worker a CPU
 * counts the CPUs it may run on, not those the machine has. */
static void test_process_cpus_and_the_default_workers_follow_the_mask(void **state)
{
	(void)state;
	cpu_set_t all = allowed();
	if (process_cpus() != (size_t)CPU_COUNT(&all))
		fail_msg("process_cpus() says %zu, the affinity mask holds %d", process_cpus(), CPU_COUNT(&all));
	allow_one_cpu();
	assert_int_equal(process_cpus(), 1);
	assert_int_equal(process_workers(0, 0), 1);
	assert_int_equal(process_workers(8, 0), 1);
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_a_channel_made_on_one_cpu_does_not_spin_and_hands_over_every_message, SEE),
	    HTEST(test_a_channel_made_on_two_cpus_spins, SEE),
	    HTEST(test_process_cpus_and_the_default_workers_follow_the_mask, SEE),
	};
	return harness_main(argc, argv, "hardening-lfchan-cpus", tests, HARNESS_COUNT(tests));
}
