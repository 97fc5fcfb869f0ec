/*
 * health: the worker's HTTP endpoint on a loopback address (libmicrohttpd,
 * its own thread): GET /healthz (liveness: the main loop turns), GET
 * /readyz (readiness: connected to RabbitMQ and PostgreSQL and consuming)
 * and GET /metrics (Prometheus text).
 */
#ifndef CHORUS_HEALTH_H
#define CHORUS_HEALTH_H

#include <stddef.h>

struct health;

/* Readiness: 1 ready, 0 not (why filled). Called on the endpoint's thread. */
typedef int (*health_ready_fn)(char *why, size_t whylen);
/* Liveness: 1 alive, 0 not (why filled). Called on the endpoint's thread. */
typedef int (*health_alive_fn)(char *why, size_t whylen);

/*
 * Serve on listen ("host:port", port 0 picks a free one; "off" serves
 * nothing and returns NULL with *cause NULL). The address bound is logged.
 * NULL with *cause on failure.
 */
struct health *health_start(const char *listen, health_ready_fn ready, health_alive_fn alive,
    char **cause);
void health_stop(struct health *h);

#endif
