#include "chan_testing.h"

struct chan *chan_new_or_fail(size_t cap)
{
	struct chan *ch = chan_new(cap);
	if (ch == NULL)
		fail_msg("chan_new(%zu) returned NULL", cap);
	return ch;
}

struct waiting {
	struct chan *ch;
	int n;
	int senders;
	int seen; /* the last count read, under the channel's lock */
};

static int enough_waiting(void *arg)
{
	struct waiting *w = arg;
	pthread_mutex_lock(&w->ch->mu);
	w->seen = w->senders ? w->ch->send_waiting : w->ch->recv_waiting;
	pthread_mutex_unlock(&w->ch->mu);
	return w->seen >= w->n;
}

void wait_for_receivers(struct chan *ch, int n, const char *why)
{
	struct waiting w = {ch, n, 0, 0};
	if (!harness_wait_until(enough_waiting, &w))
		fail_msg("expected %d receiver(s) blocked in the channel (recv_waiting), saw %d: %s", n, w.seen,
			 why);
}

void wait_for_senders(struct chan *ch, int n, const char *why)
{
	struct waiting w = {ch, n, 1, 0};
	if (!harness_wait_until(enough_waiting, &w))
		fail_msg("expected %d sender(s) blocked in the channel (send_waiting), saw %d: %s", n, w.seen,
			 why);
}

void *op_send(void *arg)
{
	struct op *op = arg;
	op->status = chan_send(op->ch, op->msg);
	return NULL;
}

void *op_recv(void *arg)
{
	struct op *op = arg;
	op->status = chan_recv(op->ch, &op->msg);
	return NULL;
}
