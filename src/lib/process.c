/*
 * process.c - the standard process_* metrics (see process.h), read from
 * /proc on Linux. Every Prometheus client library exports these six under
 * the same names, so dashboards made for any exporter work with ours.
 *
 * Where a number cannot be read (another system, a /proc that is not
 * mounted), its gauge keeps its last value, 0 at first: the Prometheus
 * guidance is to leave a metric out rather than export a bogus value, and
 * a 0 that never moves is the closest a registered family can come.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_ALLOC */
#include "process.h"
#include "stage.h"

#include <errno.h>
#include <sched.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int process_metrics_register(struct process_metrics *pm, struct metrics_registry *reg)
{
	pm->start_time =
	    metrics_gauge(reg, "process_start_time_seconds",
			  "Start time of the process since the Unix epoch, in seconds.", 0, NULL);
	pm->cpu = metrics_counter(reg, "process_cpu_seconds_total",
				  "Total user and system CPU time spent, in seconds.", 0, NULL);
	pm->resident =
	    metrics_gauge(reg, "process_resident_memory_bytes", "Resident memory size, in bytes.", 0, NULL);
	pm->virtual_mem =
	    metrics_gauge(reg, "process_virtual_memory_bytes", "Virtual memory size, in bytes.", 0, NULL);
	pm->open_fds = metrics_gauge(reg, "process_open_fds", "Number of open file descriptors.", 0, NULL);
	pm->max_fds = metrics_gauge(reg, "process_max_fds",
				    "Maximum number of open file descriptors (the soft limit).", 0, NULL);
	if (pm->start_time == NULL || pm->cpu == NULL || pm->resident == NULL || pm->virtual_mem == NULL ||
	    pm->open_fds == NULL || pm->max_fds == NULL)
		return -1;
	return 0;
}

/* The fields of /proc/self/stat we use (proc(5) numbers them from 1). */
struct proc_stat {
	unsigned long long utime, stime; /* fields 14, 15: clock ticks */
	unsigned long long starttime;	 /* field 22: clock ticks after boot */
	unsigned long long vsize;	 /* field 23: bytes */
	long long rss;			 /* field 24: pages */
};

/*
 * Field 2, the command name, is in parentheses and may itself contain
 * spaces and ')' ("(my prog)"), so the fields are counted from the LAST
 * ')' in the line, where field 3 begins.
 */
static int read_proc_stat(struct proc_stat *ps)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	/* Fields 3..13 are skipped (%*s), then 14, 15, skip 16..21, then 22, 23, 24. */
	int got = sscanf(p + 1,
			 " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %*s %*s %*s %*s %*s %*s"
			 " %llu %llu %lld",
			 &ps->utime, &ps->stime, &ps->starttime, &ps->vsize, &ps->rss);
	return got == 5 ? 0 : -1;
}

/* The boot time, in seconds since the epoch ("btime" in /proc/stat). */
static int read_boot_time(unsigned long long *btime)
{
	char line[256];
	FILE *f = fopen("/proc/stat", "r");
	if (f == NULL)
		return -1;
	int found = 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "btime %llu", btime) == 1;
	fclose(f);
	return found ? 0 : -1;
}

/* Entries in /proc/self/fd, without "." and "..". The directory stream
 * itself holds a descriptor while we count: it is counted too, as every
 * client library does. */
int process_count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

void process_metrics_collect(struct process_metrics *pm)
{
	long ticks = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	struct proc_stat ps;
	if (ticks > 0 && read_proc_stat(&ps) == 0) {
		metrics_counter_set(pm->cpu, NULL, (double)(ps.utime + ps.stime) / (double)ticks);
		metrics_gauge_set(pm->virtual_mem, NULL, (double)ps.vsize);
		if (page > 0)
			metrics_gauge_set(pm->resident, NULL, (double)ps.rss * (double)page);
		unsigned long long btime;
		if (read_boot_time(&btime) == 0)
			metrics_gauge_set(pm->start_time, NULL,
					  (double)btime + (double)ps.starttime / (double)ticks);
	}
	int fds = process_count_open_fds();
	if (fds >= 0)
		metrics_gauge_set(pm->open_fds, NULL, fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		metrics_gauge_set(pm->max_fds, NULL, (double)rl.rlim_cur);
}

/* The mask is as large as the kernel's count of possible CPUs, which may
 * pass cpu_set_t's 1024: sched_getaffinity answers EINVAL to a smaller
 * one, so the set doubles until it fits. */
size_t process_cpus(void)
{
	for (int n = 1024; n <= (1 << 20); n *= 2) {
		cpu_set_t *set = CPU_ALLOC(n);
		if (set == NULL)
			break;
		size_t size = CPU_ALLOC_SIZE(n);
		int rc = sched_getaffinity(0, size, set);
		int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
		int again = rc != 0 && errno == EINVAL;
		CPU_FREE(set);
		if (rc == 0)
			return count > 0 ? (size_t)count : 1;
		if (!again)
			break;
	}
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return online > 0 ? (size_t)online : 1;
}

size_t process_workers(size_t asked, int one_by_default)
{
	if (asked == 0 && one_by_default)
		asked = 1;
	size_t most = process_cpus();
	if (most > STAGE_MAX_WORKERS)
		most = STAGE_MAX_WORKERS;
	return asked > 0 && asked < most ? asked : most;
}
