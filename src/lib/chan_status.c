#include "channel.h"

const char *chan_status_str(enum chan_status status)
{
	switch (status) {
	case CHAN_OK:
		return "CHAN_OK";
	case CHAN_CLOSED:
		return "CHAN_CLOSED";
	case CHAN_WOULDBLOCK:
		return "CHAN_WOULDBLOCK";
	case CHAN_TIMEOUT:
		return "CHAN_TIMEOUT";
	case CHAN_EINVAL:
		return "CHAN_EINVAL";
	case CHAN_EBUSY:
		return "CHAN_EBUSY";
	case CHAN_NOTIMPL:
		return "CHAN_NOTIMPL";
	}
	return "CHAN_(unknown status)";
}
