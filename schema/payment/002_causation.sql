-- Which consumed event caused each emitted one (NULL: none, e.g. the saga
-- deadline), so `chorusctl trace` can show a saga as a chain of causes.
ALTER TABLE outbox ADD COLUMN caused_by uuid;
