-- The inventory service's database (chorus_inventory): stock, the
-- reservation of each order, and the outbox and inbox.

-- units on hand, of which some are reserved (held for an order not yet
-- confirmed); a sale takes units off on_hand and reserved together
CREATE TABLE stock (
    sku         text PRIMARY KEY,
    on_hand     bigint NOT NULL CHECK (on_hand >= 0),
    reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (reserved <= on_hand)
);

CREATE TABLE reservations (
    order_id        text PRIMARY KEY,
    reservation_id  uuid,
    status          text NOT NULL
                    CHECK (status IN ('NONE', 'RESERVED', 'SOLD', 'RELEASED', 'FAILED', 'CANCELLED')),
    reason          text NOT NULL DEFAULT '',
    customer_id     text,
    items           jsonb,          -- [{"sku":..,"quantity":..}] as ordered
    total_cents     bigint,
    currency        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Events to publish, written in the same transaction as the change that
-- caused them. Columns id, aggregatetype, aggregateid, type, payload are
-- those of Debezium's outbox event router; the rest serve the relay.
CREATE TABLE outbox (
    id               uuid PRIMARY KEY,
    aggregatetype    text NOT NULL,
    aggregateid      text NOT NULL,
    type             text NOT NULL,
    payload          jsonb NOT NULL,
    seq              bigserial NOT NULL,
    routing_key      text NOT NULL,
    traceparent      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_pending_aggregate ON outbox (aggregateid, seq) WHERE published_at IS NULL;
CREATE INDEX outbox_aggregate ON outbox (aggregateid);

-- Events consumed: the deduplication record, written with their effect.
CREATE TABLE inbox (
    event_id     uuid PRIMARY KEY,
    type         text NOT NULL,
    order_id     text NOT NULL,
    source       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_order ON inbox (order_id);
