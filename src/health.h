/*
 * health: the worker's HTTP endpoint on a loopback address, an http server
 * of its own: GET /healthz (liveness: the main loop turns), GET /readyz
 * (readiness: connected to RabbitMQ and PostgreSQL and consuming) and GET
 * /metrics (Prometheus text). The same routes can be added to another
 * server (the service's API), so a balancer checks an instance where it
 * sends the requests.
 *
 * Bad clients cannot hold it: a connection silent for
 * HEALTH_TIMEOUT_S seconds (also while its headers arrive) is closed, one
 * client address holds at most HEALTH_PER_CLIENT connections.
 */
#ifndef CHORUS_HEALTH_H
#define CHORUS_HEALTH_H

#include <stddef.h>

#include "http.h"

#define HEALTH_TIMEOUT_S	3
#define HEALTH_PER_CLIENT	8
#define HEALTH_CONNECTIONS	64

/* Readiness: 1 ready, 0 not (why filled). Called on a server thread. */
typedef int (*health_ready_fn)(char *why, size_t whylen);
/* Liveness: 1 alive, 0 not (why filled). Called on a server thread. */
typedef int (*health_alive_fn)(char *why, size_t whylen);

/*
 * Serve on listen ("host:port", port 0 picks a free one; "off" serves
 * nothing and returns NULL with *cause NULL). The address bound is logged
 * ("health endpoint listening"). NULL with *cause on failure.
 */
struct http_server *health_start(const char *listen, health_ready_fn ready, health_alive_fn alive,
    char **cause);
/* Add /healthz, /livez, /readyz and /metrics to srv (before http_start). */
void health_routes(struct http_server *srv, health_ready_fn ready, health_alive_fn alive);

#endif
