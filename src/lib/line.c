#include "line.h"
#include "slab.h"

#include <stdlib.h>
#include <string.h>

struct line *line_new(const char *text, size_t len)
{
	struct line *l = slab_alloc(sizeof(*l) + len + 1);
	if (l == NULL)
		return NULL;
	l->len = len;
	l->too_long = 0;
	memcpy(l->text, text, len);
	l->text[len] = '\0';
	return l;
}

struct line *line_new_too_long(size_t skipped)
{
	struct line *l = slab_alloc(sizeof(*l) + 1);
	if (l == NULL)
		return NULL;
	l->len = skipped;
	l->too_long = 1;
	l->text[0] = '\0';
	return l;
}

void line_free(struct line *line)
{
	slab_free(line);
}

int line_is_blank(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
			return 0;
	return 1;
}
