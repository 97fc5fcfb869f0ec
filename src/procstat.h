/*
 * procstat: what /proc says about the processes of a running system, for
 * chorusctl bench: CPU time of a process and of its whole tree (exited
 * children included, through the parent's cutime/cstime), peak RSS, and
 * which processes hold a TCP socket on a port (the workers connected to
 * the broker, the server listening on it). Linux only; every function
 * reads /proc afresh and allocates nothing the caller must free except
 * through procstat_free.
 */
#ifndef CHORUS_PROCSTAT_H
#define CHORUS_PROCSTAT_H

#include <stddef.h>
#include <sys/types.h>

/* One process of a snapshot. */
struct procstat_proc {
	pid_t pid;
	pid_t ppid;
	char comm[16];		/* the kernel cuts names at 15 characters */
	double cpu_s;		/* utime + stime */
	double child_cpu_s;	/* cutime + cstime: children it has waited for */
};

/* Every process /proc shows, at one moment. */
struct procstat {
	struct procstat_proc *p;
	size_t n;
};

/* Take a snapshot of every process. 0, or -1 (errno set) when /proc cannot be read. */
int procstat_snapshot(struct procstat *ps);
void procstat_free(struct procstat *ps);
/* The entry of pid in ps, or NULL. */
const struct procstat_proc *procstat_find(const struct procstat *ps, pid_t pid);
/*
 * CPU seconds of pid and all its descendants in ps: their utime + stime,
 * and the cutime + cstime of each (what their exited children used), so a
 * child that ended between two snapshots is not lost. 0 when pid is not in ps.
 */
double procstat_tree_cpu(const struct procstat *ps, pid_t pid);
/* Parse the text of /proc/<pid>/stat into *p. 0, or -1 when it is not one. */
int procstat_parse_stat(const char *text, struct procstat_proc *p);
/*
 * CPU seconds the whole machine has spent busy (not idle nor waiting for
 * I/O) since boot, all CPUs together, from /proc/stat; -1 when unreadable.
 * The difference of two readings minus what known processes used is what
 * everything else ran meanwhile.
 */
double procstat_machine_busy(void);
/* Peak resident set size of pid in kB (VmHWM), or -1. */
long procstat_peak_rss_kb(pid_t pid);
/*
 * Memory only pid holds, in kB (Private_Clean + Private_Dirty of
 * /proc/<pid>/smaps_rollup: its heap, stacks and written pages, not the
 * shared libraries' pages every process mapping them shares), or -1.
 */
long procstat_private_kb(pid_t pid);
/*
 * Pids of the processes holding a TCP socket (IPv4 or IPv6) on port: with
 * listening, a listening socket whose local port it is; otherwise a
 * connected socket whose remote port it is. Up to max into pids; returns
 * how many were found (possibly more than max), or -1 when /proc cannot be
 * read.
 */
long procstat_tcp_pids(unsigned port, int listening, pid_t *pids, size_t max);
/* The pid in a pid file's first line (postmaster.pid, rabbitmq.pid), or -1. */
pid_t procstat_pidfile(const char *path);

#endif
