#include "slab.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLAB_BYTES (64 * 1024)
#define SLAB_BIG   (4 * 1024)
/* Emptied blocks kept for reuse, at most: 4 MiB. Without them every
 * emptied block went back to glibc, which gave the pages back to the
 * kernel (madvise), and the TLB flush that costs on every core took a
 * tenth of the pipeline's time. */
#define SLAB_SPARES 64

/* Under AddressSanitizer every object is a malloc of its own, so that a
 * read past a line's end or after its free is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define SLAB_OFF 1
#else
#define SLAB_OFF 0
#endif

struct slab {
	atomic_long refs;  /* added by the owner when it lets go, minus the frees */
	size_t used;	   /* bytes cut from data (the owner's alone) */
	struct slab *next; /* in the spares */
	alignas(max_align_t) char data[];
};

/* In front of every object: its block, or NULL for one malloc'd alone,
 * and a mark that says slab_alloc made it: SLAB_MARK, xor the object's
 * size for one cut from a block (at most SLAB_BIG). */
struct slab_head {
	struct slab *slab;
	unsigned long mark;
	alignas(max_align_t) char obj[];
};

#define SLAB_MARK 0x51ab51ab51ab51abUL

/* ThreadSanitizer knows free, not slab_free: a thread reading an entry
 * after another freed it would go unseen. Under it the free writes the
 * whole object, which it sees racing with that read. */
#if defined(__SANITIZE_THREAD__)
#define SLAB_WRITE_ON_FREE 1
#else
#define SLAB_WRITE_ON_FREE 0
#endif

/* Protects spares and nspares: emptied blocks, one lock a block (not an
 * object), taken by the thread that empties one and the one that needs one. */
static pthread_mutex_t spares_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slab *spares;
static int nspares;

static atomic_long live; /* blocks cut from or holding objects, and big objects */
static _Thread_local struct slab *current; /* the block this thread cuts from */
static _Thread_local long cut;		   /* objects cut from it so far */
/* This thread's frees not yet subtracted: owed[i] objects of block
 * owing[i]. Two workers freeing the lines of one block subtracted from
 * the same count, and its cache line crossed between their cores on
 * every line; now each subtracts once a block it frees from. */
#define SLAB_OWING 4
static _Thread_local struct slab *owing[SLAB_OWING];
static _Thread_local long owed[SLAB_OWING];
static _Thread_local unsigned next_owing; /* the slot the next new block takes */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* A block none of whose objects is alive, and which no thread cuts from. */
static void emptied(struct slab *s)
{
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	pthread_mutex_lock(&spares_mu);
	int keep = nspares < SLAB_SPARES;
	if (keep) {
		s->next = spares;
		spares = s;
		nspares++;
	}
	pthread_mutex_unlock(&spares_mu);
	if (!keep)
		free(s);
}

static struct slab *fresh(void)
{
	pthread_mutex_lock(&spares_mu);
	struct slab *s = spares;
	if (s != NULL) {
		spares = s->next;
		nspares--;
	}
	pthread_mutex_unlock(&spares_mu);
	if (s == NULL && (s = malloc(SLAB_BYTES)) == NULL)
		return NULL;
	atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	atomic_init(&s->refs, 0);
	s->used = 0;
	return s;
}

static void slab_unref(struct slab *s, long n)
{
	/* acq_rel: each thread's writes to the block's objects happen before
	 * its subtraction (release), and the thread whose subtraction or
	 * addition reaches zero sees all of them (acquire), so the next
	 * owner's writes cannot race with a reader of the old objects. */
	if (atomic_fetch_add_explicit(&s->refs, n, memory_order_acq_rel) + n == 0)
		emptied(s);
}

/* The owner lets go of its current block: it adds what it cut. */
static void let_go(void)
{
	if (current != NULL)
		slab_unref(current, cut);
	current = NULL;
	cut = 0;
}

/* The frees this thread owes block slot i, subtracted now. */
static void pay(unsigned i)
{
	if (owing[i] != NULL)
		slab_unref(owing[i], -owed[i]);
	owing[i] = NULL;
	owed[i] = 0;
}

void slab_settle(void)
{
	for (unsigned i = 0; i < SLAB_OWING; i++)
		pay(i);
}

static void on_thread_exit(void *unused)
{
	(void)unused;
	let_go();
	slab_settle();
}

/* At exit the spares go back too, so that a leak check sees none. */
static void on_process_exit(void)
{
	let_go();
	slab_settle();
	pthread_mutex_lock(&spares_mu);
	while (spares != NULL) {
		struct slab *s = spares;
		spares = s->next;
		free(s);
	}
	nspares = 0;
	pthread_mutex_unlock(&spares_mu);
}

static void make_key(void)
{
	pthread_key_create(&exit_key, on_thread_exit);
	atexit(on_process_exit);
}

/* This thread's exit pays what it owes and lets go of its block: the
 * key's value must be non-NULL for on_thread_exit to run. */
static void pay_at_exit(void)
{
	pthread_once(&exit_once, make_key);
	pthread_setspecific(exit_key, &exit_key);
}

static size_t rounded(size_t n)
{
	const size_t a = alignof(max_align_t);
	return (n + a - 1) / a * a;
}

static void *alone(size_t size)
{
	struct slab_head *h = malloc(sizeof(*h) + size);
	if (h == NULL)
		return NULL;
	h->slab = NULL;
	h->mark = SLAB_MARK;
	atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return h->obj;
}

void *slab_alloc(size_t size)
{
	if (SLAB_OFF || size > SLAB_BIG)
		return alone(size);
	size_t need = sizeof(struct slab_head) + rounded(size);
	if (current == NULL || current->used + need > SLAB_BYTES - sizeof(struct slab)) {
		let_go();
		if ((current = fresh()) == NULL)
			return NULL;
		pay_at_exit();
	}
	struct slab_head *h = (struct slab_head *)(current->data + current->used);
	current->used += need;
	cut++;
	h->slab = current;
	h->mark = SLAB_MARK ^ size;
	return h->obj;
}

/* One more free of block s: counted in its slot, or s takes the next
 * slot and the block there is paid. */
static void owe(struct slab *s)
{
	for (unsigned i = 0; i < SLAB_OWING; i++)
		if (owing[i] == s) {
			owed[i]++;
			return;
		}
	pay_at_exit();
	unsigned i = next_owing++ % SLAB_OWING;
	pay(i);
	owing[i] = s;
	owed[i] = 1;
}

void slab_free(void *p)
{
	if (p == NULL)
		return;
	struct slab_head *h = (struct slab_head *)((char *)p - offsetof(struct slab_head, obj));
	/* A pointer slab_alloc did not make (an entry made with malloc) or
	 * freed twice would corrupt a block's count, and crash far from here:
	 * stop now, and say so. */
	size_t size = h->mark ^ SLAB_MARK;
	if (h->slab == NULL ? size != 0 : size > SLAB_BIG) {
		fprintf(stderr, "slab_free: %p was not made by slab_alloc, or was freed already (a line "
				"or an entry must come from line_new or log_entry_new)\n",
			p);
		abort();
	}
	h->mark = 0;
	if (h->slab != NULL) {
		if (SLAB_WRITE_ON_FREE)
			memset(p, 0, size);
		owe(h->slab);
		return;
	}
	free(h);
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
}

long slab_blocks_live(void)
{
	return atomic_load_explicit(&live, memory_order_relaxed);
}
