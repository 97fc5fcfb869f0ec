/*
 * gateway: the routes of chorus-gateway (contract section 7). A client
 * thread checks a request, suspends it and hands it to the upstream thread
 * as a struct exchange; the upstream thread makes the calls (in parallel),
 * waits (timers, no thread per waiting request) and answers.
 *
 *   POST /api/v1/orders          the order service's answer, passed through
 *   GET  /api/v1/orders/{id}     order + reservation + payment, merged
 *                                (aggregate.h); ?wait=S until the outcome
 *   GET  /api/v1/openapi.json    docs/openapi.json, built in
 *   GET  /                       the order page (gateway/page.html)
 */
#ifndef CHORUS_GATEWAY_GATEWAY_H
#define CHORUS_GATEWAY_GATEWAY_H

#include "conf.h"
#include "http.h"
#include "upstream.h"

struct gateway;

/* The routes' state over u (which must outlive it). */
struct gateway *gateway_new(const struct conf *cfg, struct upstream *u);
/* Add the routes to srv (before http_start). */
void gateway_routes(struct gateway *g, struct http_server *srv);
/* Shutting down: waiting requests are answered at their next look, new ones wait no more. */
void gateway_drain(struct gateway *g);
/* Requests taken and not yet answered (any thread). */
unsigned gateway_open(struct gateway *g);
void gateway_free(struct gateway *g);

#endif
