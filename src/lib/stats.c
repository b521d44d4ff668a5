#include "stats.h"

double stats_median(double *v, int n)
{
	for (int i = 1; i < n; i++) /* insertion sort: n is a handful of rounds */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	return v[n / 2];
}
