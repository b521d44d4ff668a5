#include "fuse.h"

int fused_add(struct fused *f, const struct stage_runner *r)
{
	if (f->n == FUSE_MAX)
		return -1;
	f->step[f->n] = r->step;
	f->ctx[f->n] = r->ctx;
	f->end_batch[f->n] = r->end_batch;
	f->n++;
	return 0;
}

void *fused_step(void *fused, void *item)
{
	const struct fused *f = fused;
	for (size_t i = 0; i < f->n && item != NULL; i++)
		item = f->step[i](f->ctx[i], item);
	return item;
}

void fused_end(void *fused)
{
	const struct fused *f = fused;
	for (size_t i = 0; i < f->n; i++)
		if (f->end_batch[i] != NULL)
			f->end_batch[i](f->ctx[i]);
}
