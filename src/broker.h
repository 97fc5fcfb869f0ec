/*
 * broker: one RabbitMQ connection with one channel, over rabbitmq-c: TCP
 * for amqp://, TLS (OpenSSL, verified, never downgraded) for amqps://.
 *
 * rabbitmq-c has no thread of its own: heartbeats are answered only inside
 * its calls, so every loop using a broker calls broker_next(),
 * broker_batch_wait() or broker_poll() well within the heartbeat
 * interval. A broker is never shared between threads. After any failure
 * (broker_* returning -1) the connection is to be closed and made anew: the
 * caller reconnects, nothing here retries by itself.
 *
 * Publishing with confirms goes through a struct broker_batch (below): add
 * messages (each is published at once, pipelined), then one bounded wait
 * for all their confirms, with an outcome per message.
 */
#ifndef CHORUS_BROKER_H
#define CHORUS_BROKER_H

#include <stddef.h>
#include <stdint.h>

struct broker;

/* The content type of every Chorus event (CloudEvents, structured mode). */
#define BROKER_EVENT_CONTENT_TYPE "application/cloudevents+json"

/* Most headers a message may carry (more is an error, never a silent cut). */
#define BROKER_MAX_HEADERS 32

/*
 * Headers a message may carry, as strings (other kinds are rendered as
 * text: a table as "{key=value, ...}", an array as "[value, ...]").
 */
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
	void *body;		/* NUL-terminated (len + 1 bytes) */
	size_t len;
	size_t dropped;		/* > max_body (broker_set_max_body): its size; body empty */
	char *content_type;	/* NULL when the property is absent */
	char *message_id;
	char *type;
	char *correlation_id;
	char *app_id;
	char *user_id;		/* the publisher's login, verified by the broker */
	int64_t timestamp;	/* 0 when absent */
	struct broker_header *headers;
	size_t nheaders;
};

/* What broker_batch_add sends; NULL fields are left out. */
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
	int transient;			/* a private queue: classic, not durable, auto-delete */
	long expires_ms;		/* 0: none; x-expires: deleted once unused this long */
};

enum confirm { CONFIRM_PENDING = 0, CONFIRM_ACK, CONFIRM_NACK, CONFIRM_RETURNED };

/*
 * TLS settings of an amqps:// connection; NULL fields take the defaults.
 * The strings are borrowed for the duration of broker_connect.
 */
struct broker_tls {
	const char *ca;		/* PEM file of the CAs to trust; NULL: OpenSSL's default store */
	const char *cert;	/* client certificate (PEM, chain) for mutual TLS; NULL: none */
	const char *key;	/* its private key (PEM, not encrypted); with cert */
	int external;		/* log in with SASL EXTERNAL (the certificate's identity) */
};

/*
 * Every message a broker publishes carries its login as user_id, which
 * RabbitMQ checks against the connection's user: a consumer knows who sent
 * a message (struct delivery's user_id).
 *
 * Connect and log in to a node of urls (amqp://user:pass@host:port/vhost,
 * or amqps:// for TLS; or several such URLs separated by commas: the nodes
 * of a cluster), naming the connection (shown in the console), with the
 * heartbeat and a time bound on each node's connect, handshake and login.
 * Opens channel 1. The nodes are tried in turn, starting after the node
 * the process's last connection reached (a reconnect moves on; see
 * broker.c). NULL with *cause when no node answered.
 *
 * amqps:// always means TLS (1.2 or later) with the broker's certificate
 * verified against tls->ca and its name or address (SAN) against url's
 * host; nothing turns that off, and no failure falls back to plaintext.
 * tls may be NULL (the defaults) and is only read for amqps://.
 */
struct broker *broker_connect(const char *urls, const struct broker_tls *tls, const char *name,
    int heartbeat_s, int timeout_s, char **cause);
/*
 * 1 when a URL of urls asks for TLS (amqps://), 0 when all are amqp://,
 * -1 when one does not parse.
 */
int broker_url_tls(const char *urls);
/* The TCP port the first URL of urls names (5672 when none), or -1 when it does not parse. */
int broker_url_port(const char *urls);
/* The user the first URL of url logs in as (malloc'ed), or NULL when it does not parse. */
char *broker_url_user(const char *url);
/*
 * The login and vhost of the first URL of url (each malloc'ed; pass NULL for what is not
 * wanted). 0, or -1 when url does not parse.
 */
int broker_url_login(const char *url, char **user, char **password, char **vhost);
/*
 * url (each URL of a list) with its login replaced by user and password
 * (malloc'ed; the rest kept as it is), or NULL when url has no "scheme://".
 */
char *broker_url_with_login(const char *url, const char *user, const char *password);
/* Close gracefully when possible, and free. NULL is fine. */
void broker_close(struct broker *b);

int broker_declare_exchange(struct broker *b, const char *name, const char *type,
    const char *alternate_exchange, char **cause);
int broker_declare_queue(struct broker *b, const char *name,
    const struct broker_queue_args *args, char **cause);
int broker_bind(struct broker *b, const char *queue, const char *exchange,
    const char *routing_key, char **cause);
/*
 * Bind exchange dest to exchange source (a headers exchange) for the
 * messages that carry header, whatever its value.
 */
int broker_bind_on_header(struct broker *b, const char *dest, const char *source,
    const char *header, char **cause);
/* Messages in a queue (passive declare); -1 with *cause when it does not exist. */
long broker_queue_count(struct broker *b, const char *queue, char **cause);
/* 0 when the exchange exists (passive declare: needs no right), or -1 with *cause. */
int broker_exchange_exists(struct broker *b, const char *name, char **cause);
/*
 * Messages ready in a queue and its consumers (passive declare) into
 * *messages and *consumers (either may be NULL). 0, or -1 with *cause when
 * it does not exist.
 */
int broker_queue_stat(struct broker *b, const char *queue, long *messages, long *consumers,
    char **cause);
/*
 * Delete a queue and the messages in it (quorum queues have no if-empty
 * delete). Returns messages deleted with it, or -1 (*cause).
 */
long broker_delete_queue(struct broker *b, const char *queue, char **cause);
/*
 * The reply code with which the broker last closed the channel or the
 * connection (404 not found, 406 precondition failed, 403 ...), 0 if never.
 */
int broker_last_reply(const struct broker *b);
/* Purge a queue; returns messages purged or -1. */
long broker_purge(struct broker *b, const char *queue, char **cause);

/*
 * Bodies longer than max (0: no limit, the default) are not copied into a
 * delivery: broker_next and broker_get leave its body empty and say the
 * size in d->dropped. rabbitmq-c has read the body once by then (a broker
 * bounds it with its max_message_size); that buffer is freed before
 * broker_next returns, so a batch of oversized messages holds none of them.
 */
void broker_set_max_body(struct broker *b, size_t max);
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
/*
 * Close the channel and open it again (in confirm mode again if it was),
 * on the same connection. For a publisher whose publishes the broker
 * nacked: a channel keeps per-queue state, and RabbitMQ 3.10 lets a
 * channel whose first publish to a quorum queue found the queue's leader
 * dead nack every later publish to that queue until that node returns; a
 * new channel looks the leader up again. Only with nothing awaiting a
 * confirm (-1 otherwise). 0, or -1 (*cause: make the connection anew).
 */
int broker_reopen_channel(struct broker *b, char **cause);

/*
 * Publishing with confirms: a batch (a publish window) on a broker in
 * confirm mode.
 *
 *	bb = broker_batch_new(b);
 *	broker_batch_add(bb, &msg, &cause) ...	published at once, pipelined
 *	broker_batch_wait(bb, timeout_ms, &cause)	one wait for all confirms
 *	broker_batch_status(bb, i)		ACK, NACK or RETURNED, per message
 *	broker_batch_clear(bb)			empty it for the next window
 *	broker_batch_free(bb)
 *
 * A message published with mandatory that no queue takes comes back
 * (basic.return, before its ack) and ends CONFIRM_RETURNED; returns are
 * matched to the batch's pending messages by message_id (a message without
 * one matches a return without one).
 *
 * Ownership: the batch keeps a copy of each message's id; the broker_msg
 * given to broker_batch_add and everything it points to may go as soon as
 * the call returns. The batch borrows b: free it before closing b. One
 * batch at a time holds messages on a broker; while it does, publish on b
 * only through it (broker_poll and broker_heartbeat are fine: a confirm
 * broker_poll reads is recorded in the batch). After a -1 from add or wait,
 * the connection is to be closed, as after any failure.
 */
struct broker_batch;

/* A new, empty batch for publishing on b. */
struct broker_batch *broker_batch_new(struct broker *b);
/* Release it (NULL is fine); messages still unconfirmed are forgotten. */
void broker_batch_free(struct broker_batch *bb);
/* Forget every message (settled or not): the batch is empty again. */
void broker_batch_clear(struct broker_batch *bb);
/*
 * Publish m as the batch's next message (number broker_batch_count() - 1
 * once added). 0, or -1 with *cause: not in confirm mode, another batch
 * holds messages on this broker, or the publish failed.
 */
int broker_batch_add(struct broker_batch *bb, const struct broker_msg *m, char **cause)
    __attribute__((warn_unused_result));
/*
 * Wait until every message of the batch is settled (acked, nacked or
 * returned), at most timeout_ms. 0 when all are settled; -1 with *cause on
 * timeout (the unsettled ones stay CONFIRM_PENDING) or a connection failure.
 */
int broker_batch_wait(struct broker_batch *bb, int timeout_ms, char **cause)
    __attribute__((warn_unused_result));
/* Messages in the batch. */
size_t broker_batch_count(const struct broker_batch *bb);
/* Messages not (yet) settled. */
size_t broker_batch_pending(const struct broker_batch *bb);
/* Messages settled otherwise than CONFIRM_ACK (nacked or returned). */
size_t broker_batch_failed(const struct broker_batch *bb);
/* Outcome of message i (0-based, in the order added). */
enum confirm broker_batch_status(const struct broker_batch *bb, size_t i);
/* The message_id message i was published with ("" when none); valid until clear/free. */
const char *broker_batch_id(const struct broker_batch *bb, size_t i);

/*
 * The header that asks for a message to be returned (mandatory) when no
 * queue takes it, instead of being caught by the alternate exchange
 * chorus.unrouted (see topology.h). Its value names who sent it. Not
 * "x-": a headers exchange does not match on x- headers.
 */
#define BROKER_RETURN_UNROUTABLE "chorus-return-unroutable"

/* A Chorus event as it goes on the wire (contract section 3); NULL: left out. */
struct broker_event {
	const char *exchange;
	const char *routing_key;
	const char *body;		/* the CloudEvents JSON */
	size_t len;
	const char *id;			/* message_id: the event id */
	const char *type;		/* type: the event type */
	const char *subject;		/* correlation_id: the order id */
	const char *app_id;		/* who publishes: chorus-<service>, chorusctl */
	int64_t timestamp;		/* seconds since the epoch; 0: now */
	const char *traceparent;	/* the header traceparent; NULL or "": none */
	/*
	 * NULL: an unroutable event is caught by chorus.unrouted. Else (a
	 * worker's outbox) it comes back CONFIRM_RETURNED: header
	 * BROKER_RETURN_UNROUTABLE with this value.
	 */
	const char *return_unroutable;
};

/* Headers broker_event_msg may set. */
#define BROKER_EVENT_HEADERS 2

/*
 * The message of a Chorus event, the same from every publisher: content_type
 * application/cloudevents+json, persistent, message_id, type,
 * correlation_id, timestamp, app_id, header traceparent (and
 * BROKER_RETURN_UNROUTABLE), mandatory. *m points into ev and into h
 * (storage for the headers): keep both while m is used.
 */
void broker_event_msg(const struct broker_event *ev, struct broker_msg *m,
    struct broker_header h[BROKER_EVENT_HEADERS]);
/* broker_batch_add of the event's message (broker_event_msg). */
int broker_batch_add_event(struct broker_batch *bb, const struct broker_event *ev, char **cause)
    __attribute__((warn_unused_result));
/*
 * A message that sends d again as it came: its body and properties
 * (content_type, message_id, type, correlation_id, app_id, timestamp),
 * persistent, mandatory; the exchange, routing key and headers are left for
 * the caller to set (forwarding, dead-letter replay). *m points into d.
 */
void broker_msg_of_delivery(struct broker_msg *m, const struct delivery *d);

/*
 * Send a heartbeat frame now: keeps a consuming connection alive while its
 * deliveries are deliberately not read (a pause). 0, or -1 (*cause).
 */
int broker_heartbeat(struct broker *b, char **cause);
/*
 * Serve heartbeats and notice a dead connection without waiting; confirms
 * and returns read meanwhile settle the open batch. 0, or -1 (*cause).
 */
int broker_poll(struct broker *b, char **cause);

#endif
