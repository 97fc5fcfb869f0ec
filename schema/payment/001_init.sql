-- The payment service's database (chorus_payment): accounts, the payment
-- of each order, and the outbox and inbox.

-- balances in minor units of the one configured currency
CREATE TABLE accounts (
    customer_id    text PRIMARY KEY,
    balance_cents  bigint NOT NULL CHECK (balance_cents >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- one row per order: a customer is never charged twice for one order
CREATE TABLE payments (
    order_id      text PRIMARY KEY,
    payment_id    uuid,
    status        text NOT NULL CHECK (status IN ('NONE', 'COMPLETED', 'FAILED', 'REFUNDED', 'CANCELLED')),
    reason        text NOT NULL DEFAULT '',
    customer_id   text,
    amount_cents  bigint NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    currency      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
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
