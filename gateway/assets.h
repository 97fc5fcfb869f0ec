/*
 * assets: files chorus-gateway serves, built into it by gateway/assets.sh
 * (assets.c is generated): the order page and the OpenAPI document.
 */
#ifndef CHORUS_GATEWAY_ASSETS_H
#define CHORUS_GATEWAY_ASSETS_H

#include <stddef.h>

extern const char asset_page[];		/* gateway/page.html */
extern const size_t asset_page_len;
extern const char asset_openapi[];	/* docs/openapi.json */
extern const size_t asset_openapi_len;

#endif
