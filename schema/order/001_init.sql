-- The order service's database (chorus_order): its orders, and the outbox
-- and inbox every Chorus service has.

CREATE TABLE orders (
    order_id      text PRIMARY KEY,
    status        text NOT NULL DEFAULT 'NONE'
                  CHECK (status IN ('NONE', 'AWAITING', 'PENDING', 'CONFIRMED', 'CANCELLED')),
    early         text NOT NULL DEFAULT 'NONE' CHECK (early IN ('NONE', 'PAID', 'FAILED')),
    reason        text NOT NULL DEFAULT '',
    customer_id   text,
    items         jsonb,
    total_cents   bigint CHECK (total_cents >= 0),
    currency      text,
    -- when the order service recorded the order (OrderCreated): the saga
    -- deadline counts from here
    created_at    timestamptz,
    confirmed_at  timestamptz,
    cancelled_at  timestamptz,
    released_at   timestamptz,          -- InventoryReleased seen
    refunded_at   timestamptz,          -- PaymentRefunded seen
    traceparent   text,                 -- the trace the order was created in
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- the deadline sweeper looks only at PENDING orders, oldest first
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING';

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
