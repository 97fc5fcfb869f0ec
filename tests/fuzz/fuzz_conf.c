/*
 * Fuzz target: the configuration parser. The input is a config file
 * (conf_load_file, read through a memfd), then each of its lines an -o
 * argument (conf_set_arg), then the whole text a value to mask
 * (conf_mask). Properties: no crash or leak, an error always says why, and
 * a masked value never still holds a URL's password.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static void
broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_conf: %s: %s\n", what, detail);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], *text, *cause = NULL, *line, *save = NULL, *masked;
	struct conf cfg;

	if (fd < 0 && (fd = memfd_create("chorus-fuzz-conf", 0)) < 0)
		broken("memfd_create", "failed");
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		broken("memfd write", "failed");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	conf_defaults(&cfg);
	if (conf_load_file(&cfg, path, 1, &cause) != 0 && (cause == NULL || cause[0] == '\0'))
		broken("conf_load_file failed without a cause", "");
	free(cause);
	cause = NULL;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	masked = conf_mask("amqp_url", text);
	/* "amqp://u:PASSWORD@h...": all up to the last '@' before the query is gone */
	if (strncmp(text, "amqp://u:", 9) == 0 && memchr(text, '@', strcspn(text, "?#")) != NULL &&
	    strncmp(masked, "amqp://u:****@", 14) != 0)
		broken("conf_mask left a password", masked);
	free(masked);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (conf_set_arg(&cfg, line, &cause) != 0 && (cause == NULL || cause[0] == '\0'))
			broken("conf_set_arg failed without a cause", line);
		free(cause);
		cause = NULL;
	}
	free(text);
	conf_free(&cfg);
	return 0;
}
