/*
 * batch.c - lesson 11: chan_send_many and chan_recv_many, several messages
 * per lock and per wake-up. The contract is in src/batch.h; the channel's
 * fields and their invariants are in src/channel.h.
 *
 * Both functions keep every invariant of struct chan that lesson 01's
 * functions keep (sent - taken == len; send_waiting and recv_waiting count
 * the threads asleep in the channel), so single and batch operations, and
 * chan_select, can share one channel.
 */
#include "batch.h"
#include "notimpl.h"

enum chan_status chan_send_many(struct chan *ch, void *const msgs[], size_t n, size_t *sent)
{
	size_t ignored;
	if (sent == NULL)
		sent = &ignored;
	*sent = 0;
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msgs;
	(void)n;
	NOT_IMPLEMENTED("chan_send_many", "lessons/11-batches/README.md#send-many");
	return CHAN_NOTIMPL;
}

enum chan_status chan_recv_many(struct chan *ch, void *msgs[], size_t max, size_t *got)
{
	if (got != NULL)
		*got = 0;
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msgs;
	(void)max;
	NOT_IMPLEMENTED("chan_recv_many", "lessons/11-batches/README.md#receive-many");
	return CHAN_NOTIMPL;
}
