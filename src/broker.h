/*
 * broker: one RabbitMQ connection with one channel, over rabbitmq-c.
 *
 * rabbitmq-c has no thread of its own: heartbeats are answered only inside
 * its calls, so every loop using a broker calls broker_next(),
 * broker_wait_confirms() or broker_poll() well within the heartbeat
 * interval. A broker is never shared between threads. After any failure
 * (broker_* returning -1) the connection is to be closed and made anew: the
 * caller reconnects, nothing here retries by itself.
 */
#ifndef CHORUS_BROKER_H
#define CHORUS_BROKER_H

#include <stddef.h>
#include <stdint.h>

struct broker;

/* Most headers broker_publish sends (more is an error, never a silent cut). */
#define BROKER_MAX_HEADERS 32

/* Headers a message may carry, as strings (other kinds are rendered as text). */
struct broker_header {
	char *key;
	char *value;
};

/* A received message; every string is owned by it (delivery_free). */
struct delivery {
	uint64_t tag;
	int redelivered;
	char *exchange;
	char *routing_key;
	void *body;
	size_t len;
	char *content_type;	/* NULL when the property is absent */
	char *message_id;
	char *type;
	char *correlation_id;
	char *app_id;
	int64_t timestamp;	/* 0 when absent */
	struct broker_header *headers;
	size_t nheaders;
};

/* What broker_publish sends; NULL fields are left out. */
struct broker_msg {
	const char *exchange;
	const char *routing_key;
	const void *body;
	size_t len;
	const char *content_type;
	const char *message_id;
	const char *type;
	const char *correlation_id;
	const char *app_id;
	int64_t timestamp;
	const struct broker_header *headers;	/* string-valued headers */
	size_t nheaders;
	const char *expiration;		/* per-message TTL in ms, as text */
	int mandatory;
};

/* Queue arguments made explicit so the console shows the policy in force. */
struct broker_queue_args {
	int quorum;
	const char *dead_letter_exchange;
	const char *dead_letter_routing_key;
	long delivery_limit;		/* 0: none */
	long message_ttl_ms;		/* 0: none */
	int at_least_once;		/* x-dead-letter-strategy + x-overflow reject-publish */
};

enum confirm { CONFIRM_PENDING = 0, CONFIRM_ACK, CONFIRM_NACK, CONFIRM_RETURNED };

/*
 * Connect and log in to url (amqp://user:pass@host:port/vhost), naming the
 * connection (shown in the console), with the heartbeat and a time bound
 * on the TCP connect and login. Opens channel 1. NULL with *cause on failure.
 */
struct broker *broker_connect(const char *url, const char *name, int heartbeat_s,
    int timeout_s, char **cause);
/* Close gracefully when possible, and free. NULL is fine. */
void broker_close(struct broker *b);

int broker_declare_exchange(struct broker *b, const char *name, const char *type,
    const char *alternate_exchange, char **cause);
int broker_declare_queue(struct broker *b, const char *name,
    const struct broker_queue_args *args, char **cause);
int broker_bind(struct broker *b, const char *queue, const char *exchange,
    const char *routing_key, char **cause);
/* Messages in a queue (passive declare); -1 with *cause when it does not exist. */
long broker_queue_count(struct broker *b, const char *queue, char **cause);
/* Purge a queue; returns messages purged or -1. */
long broker_purge(struct broker *b, const char *queue, char **cause);

/* Start consuming queue with manual acks and the given prefetch. */
int broker_consume(struct broker *b, const char *queue, int prefetch, char **cause);
/*
 * Wait up to timeout_ms for the next delivery. 1: *d filled (free it with
 * delivery_free); 0: none within the time; -1: connection failed (*cause).
 */
int broker_next(struct broker *b, int timeout_ms, struct delivery *d, char **cause);
/* Fetch one message with basic.get (no ack until broker_ack). 1, 0 (empty) or -1. */
int broker_get(struct broker *b, const char *queue, struct delivery *d, char **cause);
void delivery_free(struct delivery *d);
/* The value of header key, or NULL. */
const char *delivery_header(const struct delivery *d, const char *key);
int broker_ack(struct broker *b, uint64_t tag, int multiple, char **cause);
int broker_nack(struct broker *b, uint64_t tag, int multiple, int requeue, char **cause);

/* Put the channel in confirm mode; publishes are then numbered 1, 2, ... */
int broker_confirm_mode(struct broker *b, char **cause);
/* Publish; *tag gets the confirm sequence number (0 when not in confirm mode). */
int broker_publish(struct broker *b, const struct broker_msg *m, uint64_t *tag, char **cause);
/*
 * Wait until the n publishes numbered first .. first+n-1 are all confirmed
 * or timeout_ms passes. status[i] becomes the outcome of number first+i;
 * a message returned as unroutable (mandatory) is matched to its slot by
 * message_id (ids[i]) and ends CONFIRM_RETURNED. 0 when all are settled,
 * -1 on timeout or connection failure (*cause).
 */
int broker_wait_confirms(struct broker *b, uint64_t first, size_t n,
    const char *const *ids, enum confirm *status, int timeout_ms, char **cause);
/*
 * Send a heartbeat frame now: keeps a consuming connection alive while its
 * deliveries are deliberately not read (a pause). 0, or -1 (*cause).
 */
int broker_heartbeat(struct broker *b, char **cause);
/* Serve heartbeats and notice a dead connection without waiting: 0, or -1 (*cause). */
int broker_poll(struct broker *b, char **cause);

#endif
