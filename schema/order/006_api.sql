-- The order API's list (GET /v1/orders): newest placed orders first, a
-- page after the last one's (created_at, order_id) read by keyset from
-- this index alone.
CREATE INDEX orders_placed ON orders (created_at DESC, order_id DESC)
    WHERE customer_id IS NOT NULL;
