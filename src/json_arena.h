/*
 * json_arena.h - memory for cJSON's trees: a region of the calling thread's
 * own, handed out by moving one pointer forward (a bump region).
 *
 * The parser turns every line into a tree of about twenty small cJSON
 * objects and deletes it a moment later, on the same thread. Through
 * malloc that is forty calls a line, about 18 % of the pipeline's time.
 * Here an allocation moves a pointer forward in a 64 KiB region of the
 * thread's own and a free only counts; when the thread's last object is
 * freed, the region starts again from empty, so the next line reuses the
 * same memory, still in the cache. Requests that do not fit go to malloc.
 *
 * Two rules come with it:
 *   - the hooks are process-wide (cJSON_InitHooks): every cJSON call in
 *     the program, on every thread, allocates here once it is installed;
 *   - a tree must be deleted on the thread that parsed it, and freed with
 *     cJSON_Delete or cJSON_free, never free. The parser does both. A
 *     tree deleted on another thread hands that thread's free addresses it
 *     cannot recognise, which it passes to free: undefined behaviour
 *     (glibc usually aborts with "free(): invalid pointer").
 * A tree kept alive keeps its thread's whole region from being reused:
 * later trees go on cutting after it, and then to malloc.
 *
 * Under AddressSanitizer the hooks are plain malloc and free, so that a
 * read past an object or after its free is still reported (as in slab.c).
 */
#ifndef JSON_ARENA_H
#define JSON_ARENA_H

#include <stddef.h>

/* Makes every cJSON allocation of the process use the arena. Once, before
 * any thread parses: after it, a tree must never be freed with plain free. */
void json_arena_install(void);

/* The hooks themselves (for the tests). */
void *json_arena_malloc(size_t size);
void json_arena_free(void *p);

/* Objects the calling thread's region holds now, and times it has been
 * reset to empty (for the tests: the memory is reused). */
long json_arena_live(void);
unsigned long json_arena_resets(void);

/* Regions of all threads not yet given back: a thread's region is made at
 * its first allocation and freed when the thread ends (for the tests). */
long json_arena_regions(void);

#endif
