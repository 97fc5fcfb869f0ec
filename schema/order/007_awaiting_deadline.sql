-- The saga deadline also gives up an order whose OrderCreated never reached
-- the order service (AWAITING: only events after it came). Its clock runs
-- from when the service first recorded anything of the order.
ALTER TABLE orders ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX orders_awaiting ON orders (seen_at) WHERE status = 'AWAITING';
