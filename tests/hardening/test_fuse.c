/*
 * Fused stages (src/fuse.h, given in src/lib/fuse.c): several stages'
 * steps run one after the other by one runner. Not part of any lesson's
 * grade, since the learner does not write it: `make check` runs this
 * suite against the reference, plain, under ThreadSanitizer and
 * AddressSanitizer. The pipeline fused and not is compared by lesson 12's
 * test_pipeline_counts_the_same_in_batches_and_with_workers.
 */
#include "harness.h"
#include "chan_testing.h"
#include "fuse.h"

#include <string.h>

#define ARCH "docs/architecture.md#fused-stages"

/* What the links saw, in order: "a1" is link a given item 1, "A" link a's end. */
static char trace[256];

static void note(const char *what)
{
	strncat(trace, what, sizeof(trace) - strlen(trace) - 1);
}

struct link {
	char name;
	int drop; /* 1: returns NULL for item 2 */
};

static void *step(void *ctx, void *item)
{
	const struct link *l = ctx;
	char s[4] = {l->name, (char)('0' + (int)(uintptr_t)item), ' ', '\0'};
	note(s);
	return l->drop && (uintptr_t)item == 2 ? NULL : item;
}

static void end(void *ctx)
{
	const struct link *l = ctx;
	char s[3] = {(char)(l->name - 'a' + 'A'), ' ', '\0'};
	note(s);
}

static struct stage_runner runner(struct link *l, int with_end)
{
	return (struct stage_runner){.step = step, .ctx = l, .end_batch = with_end ? end : NULL};
}

/* Each link's result goes to the next; NULL ends the item's way there;
 * the last link's result is the fused step's; the ends run first to last,
 * only those set. */
static void test_fused_steps_pass_each_result_on(void **state)
{
	(void)state;
	struct link a = {'a', 0}, b = {'b', 1}, c = {'c', 0};
	struct stage_runner ra = runner(&a, 1), rb = runner(&b, 0), rc = runner(&c, 1);
	struct fused f = {0};
	assert_int_equal(fused_add(&f, &ra), 0);
	assert_int_equal(fused_add(&f, &rb), 0);
	assert_int_equal(fused_add(&f, &rc), 0);
	trace[0] = '\0';
	if (fused_step(&f, MSG(1)) != MSG(1) || fused_step(&f, MSG(2)) != NULL)
		fail_msg("the fused step returned another result than its last link's");
	fused_end(&f);
	if (strcmp(trace, "a1 b1 c1 a2 b2 A C ") != 0)
		fail_msg("the links saw \"%s\", expected \"a1 b1 c1 a2 b2 A C \"", trace);
}

static void test_fused_holds_at_most_fuse_max_links(void **state)
{
	(void)state;
	struct link a = {'a', 0};
	struct stage_runner r = runner(&a, 0);
	struct fused f = {0};
	for (int i = 0; i < FUSE_MAX; i++)
		assert_int_equal(fused_add(&f, &r), 0);
	if (fused_add(&f, &r) != -1 || f.n != FUSE_MAX)
		fail_msg("a link past FUSE_MAX was taken");
}

int main(int argc, char **argv)
{
	static const struct harness_test tests[] = {
	    HTEST(test_fused_steps_pass_each_result_on, ARCH),
	    HTEST(test_fused_holds_at_most_fuse_max_links, ARCH),
	};
	return harness_main(argc, argv, "hardening-fuse", tests, HARNESS_COUNT(tests));
}
