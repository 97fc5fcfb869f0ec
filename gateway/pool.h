/*
 * pool: the instances of one upstream service (order, inventory, payment)
 * as the gateway sees them, and which one a request goes to. Pure: the
 * caller passes the time and reports outcomes, so balancing, ejection,
 * re-admission, the breaker and the bulkhead are unit-tested without a
 * server. Used by the upstream loop's one thread only (no locks).
 *
 *   pick     least requests in flight among the eligible instances, ties
 *            (and the round-robin policy) going round the list; eligible =
 *            the last active health check passed and not ejected
 *   refused  the breaker is open (circuit_open), the bulkhead is full
 *            (max_in_flight requests of this upstream in flight), or no
 *            instance is eligible (unavailable)
 *   eject    eject_failures failed requests in a row eject an instance for
 *            eject_ms; then it is eligible again (a failure at once ejects
 *            it anew, for twice as long, up to 16 times eject_ms)
 */
#ifndef CHORUS_GATEWAY_POOL_H
#define CHORUS_GATEWAY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"

enum pool_balance { POOL_LEAST_IN_FLIGHT = 0, POOL_ROUND_ROBIN };

enum pool_refusal { POOL_OK = 0, POOL_CIRCUIT_OPEN, POOL_BULKHEAD_FULL, POOL_NO_INSTANCE };

struct pool_instance {
	char *addr;			/* "host:port" as configured */
	unsigned in_flight;
	unsigned fails;			/* failed requests in a row */
	unsigned ejections;		/* in a row, for the next ejection's length */
	uint64_t ejected_until_ms;	/* 0: not ejected */
	bool healthy;			/* the last active health check passed */
	bool removed;			/* dropped by a reload, freed once idle */
	bool checking;			/* a health check is in flight */
	/* counted for the metrics */
	unsigned long requests, failures;
};

struct pool_params {
	enum pool_balance balance;
	unsigned max_in_flight;		/* bulkhead of the upstream */
	unsigned eject_failures;
	uint64_t eject_ms;
	unsigned breaker_failures;
	uint64_t breaker_recovery_ms;
	unsigned breaker_successes;
};

struct pool {
	const char *name;
	struct pool_params params;
	struct pool_instance **inst;	/* configured, in order */
	size_t ninst;
	struct pool_instance **retired;	/* removed by a reload, requests still in flight */
	size_t nretired;
	size_t next;			/* round-robin position */
	unsigned in_flight;
	struct breaker breaker;
	unsigned long refused[4];	/* by enum pool_refusal */
};

void pool_init(struct pool *p, const char *name, const struct pool_params *params);
void pool_free(struct pool *p);
/*
 * Check a list of instances ("host:port,host:port"): 0, or -1 with *cause
 * (caller frees) naming the bad entry.
 */
int pool_parse(const char *list, char **cause) __attribute__((warn_unused_result));
/*
 * Apply a list (checked by pool_parse): instances that stay keep their
 * state; new ones start healthy (the health check corrects that within an
 * interval); removed ones take no new request and are freed once idle.
 * Returns how many instances changed (added + removed).
 */
size_t pool_set(struct pool *p, const char *list);
/* An instance for a new request (its in-flight counts taken), or NULL and *why. */
struct pool_instance *pool_pick(struct pool *p, uint64_t now_ms, enum pool_refusal *why);
/*
 * The request to i ended: ok false for a transport failure, a timeout or a
 * 5xx answer. Returns true when the breaker changed state. i may be freed
 * (a removed instance going idle).
 */
bool pool_done(struct pool *p, struct pool_instance *i, bool ok, uint64_t now_ms);
/* An active health check of i answered (ok: /readyz said 200). */
void pool_checked(struct pool *p, struct pool_instance *i, bool ok);
/* true when i may take requests at now_ms. */
bool pool_eligible(const struct pool_instance *i, uint64_t now_ms);
const char *pool_refusal_name(enum pool_refusal r);

#endif
