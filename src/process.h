/*
 * process.h - the standard process_* metrics every Prometheus exporter
 * exports, read from /proc/self on Linux (elsewhere the gauges stay at 0):
 *   process_start_time_seconds      gauge, Unix time the process started
 *   process_cpu_seconds_total       counter, user + system CPU time
 *   process_resident_memory_bytes   gauge
 *   process_virtual_memory_bytes    gauge
 *   process_open_fds                gauge, entries in /proc/self/fd
 *   process_max_fds                 gauge, the soft RLIMIT_NOFILE
 */
#ifndef PROCESS_H
#define PROCESS_H

#include "metrics.h"

struct process_metrics {
	struct metric_family *start_time, *cpu, *resident, *virtual_mem, *open_fds, *max_fds;
};

/* Registers the six families in reg. Returns 0, or -1 with errno. */
int process_metrics_register(struct process_metrics *pm, struct metrics_registry *reg);

/* Reads /proc/self now and updates the families (call before a render). */
void process_metrics_collect(struct process_metrics *pm);

/* This process's open descriptors: the entries of /proc/self/fd, the one
 * the count itself holds open included; -1 without /proc. Also for tests
 * that check nothing leaks. */
int process_count_open_fds(void);

/* The CPUs the calling thread may run on: its affinity mask, which taskset
 * and a container's cpuset set (not a CPU quota, which no mask shows); the
 * processors online if the mask cannot be read. At least 1. */
size_t process_cpus(void);

/* The parser workers logpipe runs: asked, or the CPUs this process may run
 * on (process_cpus) if fewer (at least 1, at most STAGE_MAX_WORKERS). asked 0 (no
 * --workers) is one a core, the fastest, or 1 if one_by_default (the
 * caller's stages need one: lesson 09's loops, --container). On two cores
 * a third worker only adds a contender for the same channel (measured: 8
 * workers on 2 cores moved 0.6 of what 1 did). */
size_t process_workers(size_t asked, int one_by_default);

#endif
