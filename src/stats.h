/*
 * stats.h - summaries of repeated measurements, for the step programs
 * that time the same run several times on a machine whose other work
 * moves each figure (lessons 11 and 12).
 */
#ifndef STATS_H
#define STATS_H

/* The median of v[0..n-1] (n >= 1), sorting v in place. */
double stats_median(double *v, int n);

#endif
