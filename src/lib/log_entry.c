#include "log_entry.h"
#include "slab.h"

#include <errno.h>
#include <string.h>

/* Copies n bytes of s to *p and moves *p past them. */
static char *place(char **p, const char *s, size_t n)
{
	char *copy = *p;
	memcpy(copy, s, n);
	*p += n;
	return copy;
}

struct log_entry *log_entry_new(enum log_level level, const char *service, const char *message,
				const char *timestamp)
{
	if (service == NULL)
		service = "unknown";
	if (message == NULL)
		message = "";
	/* Each length with its NUL; no timestamp takes no byte. */
	size_t ns = strlen(service) + 1, nm = strlen(message) + 1;
	size_t nt = timestamp != NULL ? strlen(timestamp) + 1 : 0;
	struct log_entry *e = slab_alloc(sizeof(*e) + ns + nm + nt);
	if (e == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	/* The strings follow the struct in the same block: char has no
	 * alignment to keep. */
	char *p = (char *)(e + 1);
	*e = (struct log_entry){.level = level};
	e->service = place(&p, service, ns);
	e->message = place(&p, message, nm);
	e->timestamp = timestamp != NULL ? place(&p, timestamp, nt) : NULL;
	return e;
}

void log_entry_free(struct log_entry *entry)
{
	/* One block: the strings go with the struct. */
	slab_free(entry);
}
