-- The pipeline, second step (docs/architecture.md).
--
-- A batch creates the state rows of orders it sees first with one INSERT
-- (no empty row first, updated later); a row another instance created
-- meanwhile makes it a serialization failure, and the batch is tried again.
CREATE FUNCTION chorus_expect_rows(got bigint, want bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF got <> want THEN
        RAISE EXCEPTION 'concurrent creation: % of % rows created', got, want
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN got;
END $$;

-- The retry tier is marked by a column of its own, true only while a row
-- waits there: the index of the tier then holds only rows waiting (a row
-- retried once and published long ago is not looked at again), and marking
-- an ordinary row published changes no indexed column, so it stays a HOT
-- update (attempts and last_error keep the row's history).
ALTER TABLE outbox ADD COLUMN retrying boolean NOT NULL DEFAULT false;
UPDATE outbox SET retrying = true WHERE attempts > 0 AND published_at IS NULL;
DROP INDEX outbox_retry;
CREATE INDEX outbox_retry ON outbox (seq) WHERE retrying;

-- Retention's block-range indexes summarise new ranges as they fill.
ALTER INDEX outbox_created SET (autosummarize = on);
ALTER INDEX inbox_received SET (autosummarize = on);

-- Room on each page for an updated row, so updates stay on their page (HOT).
ALTER TABLE payments SET (fillfactor = 70);
ALTER TABLE accounts SET (fillfactor = 50);
