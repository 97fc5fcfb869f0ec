-- The retry queues declared for this service, one per step of each
-- retry_ladder a worker or chorusctl setup declared: chorusctl setup
-- reports those the current ladder no longer has, and setup --prune
-- deletes them once empty (docs/operations.md).
CREATE TABLE retry_queues (
    name         text PRIMARY KEY,
    delay_ms     bigint NOT NULL,
    declared_at  timestamptz NOT NULL DEFAULT now()
);
