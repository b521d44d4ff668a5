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

/*
 * Contract in src/batch.h. Whenever it returns, *sent is the number of
 * messages in the channel, the receivers' now; the rest are the caller's.
 * Tests: test_a_batch_comes_out_in_order,
 * test_send_many_larger_than_the_channel_waits_for_room,
 * test_close_during_send_many_says_how_many_went_in,
 * test_send_many_woken_by_room_sees_a_close_first,
 * test_send_many_wakes_a_receiver_per_message,
 * test_send_many_onto_a_buffered_message_still_wakes_a_receiver,
 * test_send_many_wakes_a_select,
 * test_send_many_larger_than_the_channel_wakes_a_select_per_part,
 * test_an_empty_batch_on_a_closed_channel_is_ok,
 * test_unbuffered_send_many_is_a_rendezvous_per_message,
 * test_unbuffered_close_during_send_many_says_how_many_went_in.
 */
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

/*
 * Contract in src/batch.h. It waits only while there is nothing to take,
 * and never for more once there is one message. Tests:
 * test_recv_many_does_not_wait_for_a_full_batch, test_recv_many_takes_at_most_max,
 * test_batches_wrap_around_the_ring, test_recv_many_clears_the_slots_it_takes,
 * test_close_wakes_a_blocked_recv_many, test_recv_many_drains_a_closed_channel,
 * test_recv_many_wakes_a_sender_per_free_slot,
 * test_recv_many_from_a_channel_with_room_still_wakes_a_sender.
 */
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
