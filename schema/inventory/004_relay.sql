-- The set-based pipeline (docs/architecture.md, src/relay.h).
--
-- The relay finds new outbox rows by the transaction that wrote them (tx)
-- instead of partial indexes on published_at: no index then covers
-- published_at, so marking a row published is a HOT update (no index entry
-- written), with room left on every page for it (fillfactor). Rows that
-- could not be published (returned, nacked, held behind one of them) form
-- the retry tier, attempts > 0, with an index of their own.
--
-- The payload is kept as json, the text exactly as rendered: the relay
-- publishes it byte for byte, and neither writing nor reading it builds or
-- re-serialises a jsonb tree.
ALTER TABLE outbox
    ALTER COLUMN payload TYPE json USING payload::text::json,
    ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_tx ON outbox (tx);
CREATE INDEX outbox_retry ON outbox (seq) WHERE attempts > 0;
DROP INDEX outbox_pending;
DROP INDEX outbox_pending_aggregate;
ALTER TABLE outbox SET (fillfactor = 60);

-- The relay's horizon: every unpublished row with attempts = 0 has tx >= it.
-- Starts at this migration's transaction, which wrote tx of the rows above.
CREATE TABLE outbox_relay (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    horizon  xid8 NOT NULL
);
INSERT INTO outbox_relay (horizon) VALUES (pg_current_xact_id());

-- Retention deletes by age: block-range indexes, tiny, on columns that never change.
CREATE INDEX outbox_created ON outbox USING brin (created_at);
CREATE INDEX inbox_received ON inbox USING brin (received_at);
