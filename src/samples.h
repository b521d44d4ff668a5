/*
 * samples.h - reading numbers back from the text of a scrape of /metrics,
 * as Prometheus reads it, for the step programs that show what a scrape
 * says (lessons 09 and 10).
 */
#ifndef SAMPLES_H
#define SAMPLES_H

/* The sum of the samples of metric name in the exposition text whose
 * labels contain label (e.g. level="info"; NULL or "": every sample), as
 * sum(name{label}) would give. -1 if there is none. Reads
 * "name{labels} value" and "name value" lines; comments are skipped. */
double samples_sum(const char *text, const char *name, const char *label);

#endif
