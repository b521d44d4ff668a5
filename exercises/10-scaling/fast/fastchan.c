/*
 * fastchan.c - lesson 10, part 5: the front of the spinning channel. The
 * contract, and why it spins where it does, is src/fastchan.h.
 */
#include "fastchan.h"
#include "clock.h"
#include "notimpl.h"
#include "spin.h"

static inline void pause_times(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		cpu_relax();
}

/* One try of lesson 01's operation: given a deadline in the past, it
 * answers CHAN_TIMEOUT instead of waiting (lesson 02's chan_cond_wait),
 * or does what it would have done without waiting. */
static inline enum chan_status try_send_once(struct chan *ch, void *msg)
{
	static const struct timespec long_ago = {0, 0};
	return plain_chan_send_until(ch, msg, &long_ago);
}

static inline enum chan_status try_recv_once(struct chan *ch, void **msg)
{
	static const struct timespec long_ago = {0, 0};
	return plain_chan_recv_until(ch, msg, &long_ago);
}

enum chan_status chan_send_until(struct chan *ch, void *msg, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	(void)deadline;
	(void)try_send_once;
	(void)pause_times;
	NOT_IMPLEMENTED("chan_send_until (the spinning front)",
			"lessons/10-scaling/README.md#build-it-the-front");
	return CHAN_NOTIMPL;
}

enum chan_status chan_recv_until(struct chan *ch, void **msg, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)deadline;
	(void)try_recv_once;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_recv_until (the spinning front)",
			"lessons/10-scaling/README.md#build-it-the-front");
	return CHAN_NOTIMPL;
}

enum chan_status chan_send(struct chan *ch, void *msg)
{
	return chan_send_until(ch, msg, NULL);
}

enum chan_status chan_recv(struct chan *ch, void **msg)
{
	return chan_recv_until(ch, msg, NULL);
}
