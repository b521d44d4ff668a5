/*
 * channel.c - lesson 01: a bounded buffer with blocking send and receive,
 * and close. The contract is in src/channel.h; read it first.
 */
#include "channel.h"
#include "clock.h"
#include "notimpl.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct chan *chan_new(size_t cap)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)cap;
	NOT_IMPLEMENTED("chan_new", "lessons/01-channel/README.md#5-build-it");
	errno = ENOSYS;
	return NULL;
}

enum chan_status chan_free(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_free", "lessons/01-channel/README.md#5-build-it");
	return CHAN_NOTIMPL;
}

enum chan_status chan_send_until(struct chan *ch, void *msg, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)msg;
	(void)deadline;
	NOT_IMPLEMENTED("chan_send_until", "lessons/01-channel/README.md#send-and-receive");
	return CHAN_NOTIMPL;
}

enum chan_status chan_recv_until(struct chan *ch, void **msg, const struct timespec *deadline)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	(void)deadline;
	if (msg != NULL)
		*msg = NULL;
	NOT_IMPLEMENTED("chan_recv_until", "lessons/01-channel/README.md#send-and-receive");
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

enum chan_status chan_close(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_close", "lessons/01-channel/README.md#close");
	return CHAN_NOTIMPL;
}

size_t chan_len(struct chan *ch)
{
	/* TODO: replace this stub with your code (the lesson section is named below). */
	(void)ch;
	NOT_IMPLEMENTED("chan_len", "lessons/01-channel/README.md#len-and-cap");
	return (size_t)-1;
}

size_t chan_cap(struct chan *ch)
{
	/* cap never changes after chan_new, so it needs no lock. */
	return ch == NULL ? 0 : ch->cap;
}
