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

/* BEGIN SOLUTION */
/* Appends as many of msgs[0..n-1] as there is room for; returns how many.
 * Called with ch->mu held. */
static size_t ring_put(struct chan *ch, void *const msgs[], size_t n)
{
	size_t room = ch->slots - ch->len;
	size_t k = n < room ? n : room;
	for (size_t i = 0; i < k; i++)
		ch->buf[(ch->head + ch->len + i) % ch->slots] = msgs[i];
	ch->len += k;
	ch->sent += k;
	return k;
}

/* Removes up to max of the oldest messages into msgs; returns how many.
 * Called with ch->mu held. */
static size_t ring_take(struct chan *ch, void *msgs[], size_t max)
{
	size_t k = max < ch->len ? max : ch->len;
	for (size_t i = 0; i < k; i++) {
		msgs[i] = ch->buf[ch->head];
		ch->buf[ch->head] = NULL;
		ch->head = (ch->head + 1) % ch->slots;
	}
	ch->len -= k;
	ch->taken += k;
	return k;
}

/* k messages (or k free slots) appeared and `waiting` threads sleep on cv.
 * One signal wakes at most one thread: with k > 1 one signal would leave
 * a thread asleep next to work it could do. Wake as many as can use it. */
static void wake(pthread_cond_t *cv, size_t k, int waiting)
{
	for (size_t i = 0; i < k && i < (size_t)waiting; i++)
		pthread_cond_signal(cv);
}

/* Unbuffered: every message is its own rendezvous, so there is nothing to
 * batch. */
static enum chan_status send_each(struct chan *ch, void *const msgs[], size_t n, size_t *sent)
{
	for (size_t i = 0; i < n; i++) {
		enum chan_status rc = chan_send(ch, msgs[i]);
		if (rc != CHAN_OK)
			return rc;
		*sent = i + 1;
	}
	return CHAN_OK;
}
/* END SOLUTION */

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
	/* BEGIN SOLUTION */
	if (ch == NULL || (msgs == NULL && n > 0))
		return CHAN_EINVAL;
	if (ch->cap == 0)
		return send_each(ch, msgs, n, sent);
	pthread_mutex_lock(&ch->mu);
	/* msgs[0..*sent-1] are in the channel and belong to receivers now;
	 * the rest are still ours. */
	while (*sent < n && !ch->closed) {
		ch->send_waiting++;
		while (ch->len == ch->slots && !ch->closed)
			pthread_cond_wait(&ch->not_full, &ch->mu);
		ch->send_waiting--;
		if (ch->closed)
			break;
		size_t k = ring_put(ch, msgs + *sent, n - *sent);
		*sent += k;
		wake(&ch->not_empty, k, ch->recv_waiting);
		chan_wake_watchers(ch);
	}
	enum chan_status rc = *sent == n ? CHAN_OK : CHAN_CLOSED;
	pthread_mutex_unlock(&ch->mu);
	return rc;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msgs;
	(void)n;
	NOT_IMPLEMENTED("chan_send_many", "lessons/11-batches/README.md#send-many");
	return CHAN_NOTIMPL;
	*/
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
	/* BEGIN SOLUTION */
	if (ch == NULL || msgs == NULL || got == NULL || max == 0)
		return CHAN_EINVAL;
	if (ch->cap == 0) {
		enum chan_status rc = chan_recv(ch, &msgs[0]);
		*got = rc == CHAN_OK;
		return rc;
	}
	pthread_mutex_lock(&ch->mu);
	ch->recv_waiting++;
	while (ch->len == 0 && !ch->closed)
		pthread_cond_wait(&ch->not_empty, &ch->mu);
	ch->recv_waiting--;
	/* Closed, and drained: decided under the lock, as chan_recv does. */
	if (ch->len == 0) {
		pthread_mutex_unlock(&ch->mu);
		return CHAN_CLOSED;
	}
	*got = ring_take(ch, msgs, max);
	wake(&ch->not_full, *got, ch->send_waiting);
	pthread_mutex_unlock(&ch->mu);
	return CHAN_OK;
	/* END SOLUTION */
	/* STUB
	(void)ch;
	(void)msgs;
	(void)max;
	NOT_IMPLEMENTED("chan_recv_many", "lessons/11-batches/README.md#receive-many");
	return CHAN_NOTIMPL;
	*/
}
