/*
 * service: the services and the contract's consumption table (service.h).
 */
#include "config.h"

#include <string.h>

#include "service.h"

static const char *const names[SVC__COUNT] = { "order", "inventory", "payment" };

/* consumes[svc][type]: contract section 2, "Reactions" */
static const unsigned char consumes[SVC__COUNT][EV__COUNT] = {
	[SVC_ORDER] = {
		[EV_ORDER_CREATED] = 1,
		[EV_INVENTORY_RESERVATION_FAILED] = 1,
		[EV_PAYMENT_COMPLETED] = 1,
		[EV_PAYMENT_FAILED] = 1,
		[EV_INVENTORY_RELEASED] = 1,
		[EV_PAYMENT_REFUNDED] = 1,
	},
	[SVC_INVENTORY] = {
		[EV_ORDER_CREATED] = 1,
		[EV_ORDER_CONFIRMED] = 1,
		[EV_ORDER_CANCELLED] = 1,
		[EV_PAYMENT_FAILED] = 1,
	},
	[SVC_PAYMENT] = {
		[EV_INVENTORY_RESERVED] = 1,
		[EV_ORDER_CANCELLED] = 1,
	},
};

const char *
service_name(enum service_id svc)
{
	return svc < SVC__COUNT ? names[svc] : NULL;
}

enum service_id
service_from_name(const char *name)
{
	for (int i = 0; i < SVC__COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return (enum service_id)i;
	return SVC__COUNT;
}

int
service_consumes(enum service_id svc, enum event_type type)
{
	if (svc >= SVC__COUNT || type <= EV_UNKNOWN || type >= EV__COUNT)
		return 0;
	return consumes[svc][type];
}

enum service_id
service_of_type(enum event_type type)
{
	const char *ex = event_type_exchange(type);

	return ex ? service_from_name(ex + strlen("chorus.")) : SVC__COUNT;
}
