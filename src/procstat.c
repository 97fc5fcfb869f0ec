/*
 * procstat: processes, CPU time, memory and sockets from /proc (see
 * procstat.h).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"
#include "xmalloc.h"

int
procstat_parse_stat(const char *text, struct procstat_proc *p)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	unsigned long long utime, stime;
	long long cutime, cstime;
	long ppid;
	double tick = (double)sysconf(_SC_CLK_TCK);
	size_t len;

	/* "pid (comm) state ppid ..."; comm may hold spaces and parentheses */
	if (open == NULL || close == NULL || close < open)
		return -1;
	memset(p, 0, sizeof(*p));
	p->pid = (pid_t)atol(text);
	len = (size_t)(close - open - 1);
	if (len >= sizeof(p->comm))
		len = sizeof(p->comm) - 1;
	memcpy(p->comm, open + 1, len);
	/* fields 3 (state) .. 17 (cstime): ppid is 4, utime 14, stime 15 */
	if (sscanf(close + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
	    &ppid, &utime, &stime, &cutime, &cstime) != 5)
		return -1;
	if (tick <= 0)
		tick = 100;
	p->ppid = (pid_t)ppid;
	p->cpu_s = (double)(utime + stime) / tick;
	p->child_cpu_s = (double)(cutime + cstime) / tick;
	return 0;
}

/* Read a small file whole into buf (NUL-terminated). 0, or -1. */
static int
read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int
procstat_snapshot(struct procstat *ps)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t cap = 0;

	memset(ps, 0, sizeof(*ps));
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024];

		if (!all_digits(e->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (read_small(path, buf, sizeof(buf)) != 0)
			continue;	/* gone meanwhile */
		if (ps->n == cap) {
			cap = cap ? cap * 2 : 256;
			ps->p = xrealloc(ps->p, cap * sizeof(*ps->p));
		}
		if (procstat_parse_stat(buf, &ps->p[ps->n]) == 0)
			ps->n++;
	}
	closedir(d);
	return 0;
}

void
procstat_free(struct procstat *ps)
{
	free(ps->p);
	memset(ps, 0, sizeof(*ps));
}

const struct procstat_proc *
procstat_find(const struct procstat *ps, pid_t pid)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->p[i].pid == pid)
			return &ps->p[i];
	return NULL;
}

double
procstat_tree_cpu(const struct procstat *ps, pid_t pid)
{
	const struct procstat_proc *root = procstat_find(ps, pid);
	double sum;

	if (root == NULL)
		return 0;
	sum = root->cpu_s + root->child_cpu_s;
	/* pids are not ordered by ancestry: recurse over the direct children */
	for (size_t i = 0; i < ps->n; i++)
		if (ps->p[i].ppid == pid && ps->p[i].pid != pid)
			sum += procstat_tree_cpu(ps, ps->p[i].pid);
	return sum;
}

double
procstat_machine_busy(void)
{
	char buf[512];
	unsigned long long v[8] = { 0 };
	double tick = (double)sysconf(_SC_CLK_TCK);

	/* "cpu  user nice system idle iowait irq softirq steal ..." */
	if (read_small("/proc/stat", buf, sizeof(buf)) != 0 ||
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	    &v[4], &v[5], &v[6], &v[7]) < 7)
		return -1;
	if (tick <= 0)
		tick = 100;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick;
}

long
procstat_peak_rss_kb(pid_t pid)
{
	char path[64], buf[4096];
	const char *v;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (read_small(path, buf, sizeof(buf)) != 0 || (v = strstr(buf, "\nVmHWM:")) == NULL)
		return -1;
	return atol(v + strlen("\nVmHWM:"));
}

long
procstat_private_kb(pid_t pid)
{
	char path[64], buf[4096];
	const char *c, *d;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if (read_small(path, buf, sizeof(buf)) != 0 ||
	    (c = strstr(buf, "\nPrivate_Clean:")) == NULL ||
	    (d = strstr(buf, "\nPrivate_Dirty:")) == NULL)
		return -1;
	return atol(c + strlen("\nPrivate_Clean:")) + atol(d + strlen("\nPrivate_Dirty:"));
}

/* Inodes of the TCP sockets on port (see procstat_tcp_pids) into *inodes. */
static void
tcp_inodes(const char *table, unsigned port, int listening, unsigned long **inodes,
    size_t *n, size_t *cap)
{
	FILE *f = fopen(table, "r");
	char line[512];

	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) == NULL) {	/* the heading */
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char local[64], remote[64];
		unsigned st, lport, rport;
		unsigned long inode;
		const char *lp, *rp;

		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st,
		    &inode) != 4 || (lp = strrchr(local, ':')) == NULL ||
		    (rp = strrchr(remote, ':')) == NULL)
			continue;
		lport = (unsigned)strtoul(lp + 1, NULL, 16);
		rport = (unsigned)strtoul(rp + 1, NULL, 16);
		/* 0A: LISTEN; 01: ESTABLISHED */
		if (listening ? (st != 0x0A || lport != port) : (st != 0x01 || rport != port))
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*inodes = xrealloc(*inodes, *cap * sizeof(**inodes));
		}
		(*inodes)[(*n)++] = inode;
	}
	fclose(f);
}

/* true when process pid has one of the socket inodes open. */
static int
holds_socket(const char *pid, const unsigned long *inodes, size_t n)
{
	char dir[300];
	DIR *d;
	struct dirent *e;
	int found = 0;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		char path[600], link[64];
		ssize_t len;
		unsigned long inode;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) != 1)
			continue;
		for (size_t i = 0; i < n && !found; i++)
			found = inodes[i] == inode;
	}
	closedir(d);
	return found;
}

long
procstat_tcp_pids(unsigned port, int listening, pid_t *pids, size_t max)
{
	unsigned long *inodes = NULL;
	size_t n = 0, cap = 0;
	long found = 0;
	DIR *d;
	struct dirent *e;

	tcp_inodes("/proc/net/tcp", port, listening, &inodes, &n, &cap);
	tcp_inodes("/proc/net/tcp6", port, listening, &inodes, &n, &cap);
	if (n == 0) {
		free(inodes);
		return 0;
	}
	if ((d = opendir("/proc")) == NULL) {
		free(inodes);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!all_digits(e->d_name) || !holds_socket(e->d_name, inodes, n))
			continue;
		if ((size_t)found < max)
			pids[found] = (pid_t)atol(e->d_name);
		found++;
	}
	closedir(d);
	free(inodes);
	return found;
}

pid_t
procstat_pidfile(const char *path)
{
	char buf[64];
	long pid;

	if (read_small(path, buf, sizeof(buf)) != 0)
		return -1;
	pid = atol(buf);
	return pid > 0 ? (pid_t)pid : -1;
}
