/*
 * A plain driver for the fuzz targets (no clang needed): runs every file of
 * the corpus directories given on the command line, or of the target's own
 * corpus (FUZZ_CORPUS, set by Makefile.am) when none is, through
 * LLVMFuzzerTestOneInput once. make check runs it, so every input that once
 * found a bug stays a regression test. Exit 0, or 1 when a corpus cannot be
 * read (a target that finds a broken property aborts).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Run one file; -1 when it cannot be read. */
static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;

	if (f == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap = cap ? cap * 2 : 4096);

			if (nb == NULL)
				goto out;
			buf = nb;
		}
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
	}
	if (ferror(f))
		goto out;
	LLVMFuzzerTestOneInput(buf, n);
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

/* Run every regular file of dir (or dir itself when it is a file); how many, or -1. */
static long
run_dir(const char *dir)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	long n = 0;

	if (stat(dir, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return run_file(dir) == 0 ? 1 : -1;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path) != 0) {
			closedir(d);
			return -1;
		}
		n++;
	}
	closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	const char *deflt[] = { FUZZ_CORPUS };
	const char **dirs = argc > 1 ? (const char **)argv + 1 : deflt;
	int ndirs = argc > 1 ? argc - 1 : 1;
	long total = 0;

	for (int i = 0; i < ndirs; i++) {
		long n = run_dir(dirs[i]);

		if (n < 0) {
			fprintf(stderr, "replay: cannot read %s\n", dirs[i]);
			return 1;
		}
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input in %s\n", dirs[0]);
		return 1;
	}
	printf("replay: %ld input(s) ran clean\n", total);
	return 0;
}
