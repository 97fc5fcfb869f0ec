-- The trace context each consumed event came with, so a saga's timeline
-- (chorusctl trace) shows the trace on both sides of every hop.
ALTER TABLE inbox ADD COLUMN traceparent text;
