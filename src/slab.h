/*
 * slab.h - memory for small objects that one thread makes and another
 * frees: the lines the tailer reads and the parser frees, the entries the
 * parser makes and a later stage frees (src/log_entry.h).
 *
 * malloc is fast when the thread that frees a block is the one that
 * allocated it: glibc keeps the block in the thread's own cache. In a
 * pipeline it never is, and every line then costs a trip to the shared
 * heap and its lock on both sides (docs/benchmarks.md measures about 40 % of
 * the pipeline's time there). A slab turns a thousand of those trips into
 * one: the allocating thread cuts objects one after the other out of a
 * 64 KiB block of its own, and the block is reused, or goes back to
 * malloc, when the last of its objects has been freed, by whichever thread.
 *
 * The count that decides "last" is the one atomic in it. The owner counts
 * the objects it cuts in a plain variable of its own, and adds that count
 * to the block's `refs` only when it moves on to a new block (or its
 * thread ends). The freeing side does the same: a thread counts its frees
 * of a block in a plain variable too, for up to four blocks at a time, and
 * subtracts them when a fifth block needs the place, when it calls
 * slab_settle, or when it ends. refs reaches 0 exactly once, after the
 * owner's addition and every subtraction: before the owner has added,
 * refs is at most 0 and a subtraction takes it below 0; after, it is the
 * objects not yet subtracted, and a thread that owes frees to a block
 * keeps it above 0.
 */
#ifndef SLAB_H
#define SLAB_H

#include <stddef.h>

/* size bytes, aligned for any type, from the calling thread's current
 * block (a new one when it is full); objects of more than 4 KiB get a
 * block of their own. NULL when out of memory. */
void *slab_alloc(size_t size);

/* Frees an object slab_alloc returned, from any thread. NULL is fine.
 * The object's memory is the slab's at once; its block's count learns of
 * the free later (see above), so a thread may hold up to four blocks
 * (256 KiB) past their last object, until it frees from other blocks,
 * settles or ends: an idle thread keeps them while it is idle. */
void slab_free(void *p);

/* Subtracts the calling thread's frees from their blocks now. A thread
 * that ends does it itself, and exit() does it for the thread that calls
 * it (the main thread, usually); any other thread still running then
 * keeps its debts, as it keeps its current block. */
void slab_settle(void);

/* Blocks that hold objects or are cut from, and objects of more than
 * 4 KiB: 0 again once every object is freed and every thread that cut
 * from a block or freed from it has moved on, settled or ended (for the
 * tests). An emptied block is
 * kept for reuse (up to 4 MiB of them) and not counted. */
long slab_blocks_live(void);

#endif
