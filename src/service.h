/*
 * service: the three Chorus services and what each consumes (contract
 * sections 1 and 2). Shared by the workers, the topology declaration and
 * chorusctl, so the bindings are written down once.
 */
#ifndef CHORUS_SERVICE_H
#define CHORUS_SERVICE_H

#include "envelope.h"

enum service_id { SVC_ORDER = 0, SVC_INVENTORY, SVC_PAYMENT, SVC__COUNT };

/* "order", "inventory", "payment". */
const char *service_name(enum service_id svc);
/* SVC__COUNT when name is not a service. */
enum service_id service_from_name(const char *name);
/* true when the service's queue receives events of this type. */
int service_consumes(enum service_id svc, enum event_type type);
/* The service that publishes events of this type (order publishes OrderCreated too). */
enum service_id service_of_type(enum event_type type);

#endif
