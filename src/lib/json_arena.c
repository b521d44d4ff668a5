#include "json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define ARENA_BYTES (64 * 1024)
#define ARENA_ALIGN 16

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_OFF 1
#else
#define ARENA_OFF 0
#endif

/* The calling thread's region, made at its first allocation. Only the
 * thread itself touches it: nothing here is shared. */
static _Thread_local char *region;
static _Thread_local size_t used; /* bytes handed out since the last reset */
static _Thread_local long live;	  /* objects in the region not yet freed */
static _Thread_local unsigned long resets;
static atomic_long regions; /* regions allocated and not yet freed, all threads */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* A region is given back when its thread ends, unless a tree still lives
 * in it (against the rule in json_arena.h): then it is left alone. */
static void drop_region(void *r)
{
	if (live == 0) {
		free(r);
		atomic_fetch_sub_explicit(&regions, 1, memory_order_relaxed);
	}
	region = NULL;
}

static void on_process_exit(void)
{
	if (region != NULL)
		drop_region(region);
}

static void make_key(void)
{
	pthread_key_create(&exit_key, drop_region);
	atexit(on_process_exit);
}

static int in_region(const void *p)
{
	uintptr_t a = (uintptr_t)p, r = (uintptr_t)region;
	return region != NULL && a >= r && a < r + ARENA_BYTES;
}

void *json_arena_malloc(size_t size)
{
	size_t need = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
	if (ARENA_OFF || need > ARENA_BYTES - used || need == 0)
		return malloc(size);
	if (region == NULL) {
		pthread_once(&exit_once, make_key);
		if ((region = aligned_alloc(ARENA_ALIGN, ARENA_BYTES)) == NULL)
			return malloc(size);
		atomic_fetch_add_explicit(&regions, 1, memory_order_relaxed);
		pthread_setspecific(exit_key, region);
	}
	void *p = region + used;
	used += need;
	live++;
	return p;
}

void json_arena_free(void *p)
{
	if (!in_region(p)) {
		free(p);
		return;
	}
	if (--live == 0) {
		used = 0;
		resets++;
	}
}

void json_arena_install(void)
{
	cJSON_Hooks hooks = {.malloc_fn = json_arena_malloc, .free_fn = json_arena_free};
	cJSON_InitHooks(&hooks);
}

long json_arena_live(void)
{
	return live;
}

unsigned long json_arena_resets(void)
{
	return resets;
}

long json_arena_regions(void)
{
	return atomic_load_explicit(&regions, memory_order_relaxed);
}
