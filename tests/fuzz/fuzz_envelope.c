/*
 * Fuzz target: the envelope. Any bytes go through envelope_parse; what it
 * accepts must pass envelope_check, render to a body envelope_parse accepts
 * again, and that body must render to itself (parse -> check -> render ->
 * parse is a fixed point after one round).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"

static void
broken(const char *what, const char *why, const char *body)
{
	fprintf(stderr, "fuzz_envelope: %s: %s\nbody: %s\n", what, why, body ? body : "-");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event ev, again;
	char why[ENVELOPE_WHY_MAX];
	char *body, *body2;

	if (envelope_parse(data, size, &ev, why, sizeof(why)) != 0) {
		if (strchr(why, ':') == NULL)
			broken("a reason without a code", why, NULL);
		return 0;
	}
	if (envelope_check(&ev, why, sizeof(why)) != 0)
		broken("parsed but envelope_check refuses it", why, NULL);
	body = envelope_render(&ev);
	if (envelope_parse(body, strlen(body), &again, why, sizeof(why)) != 0)
		broken("rendered body refused", why, body);
	body2 = envelope_render(&again);
	if (strcmp(body, body2) != 0)
		broken("render(parse(render(e))) differs", body2, body);
	free(body);
	free(body2);
	return 0;
}
