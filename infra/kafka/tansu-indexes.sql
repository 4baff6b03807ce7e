-- Indexes tansu 0.6.0's sqlite schema lacks, applied by `infra/stack up tansu` (idempotent).
--
-- tansu fetches a record's headers with one query per record (header_fetch.sql) that joins `header`
-- on (topition, offset_id), but the `header` table has no index at all: every fetched record scans
-- every header of every topic. Measured on a 37k-record broker (111k header rows): 6 ms per record,
-- so one 1 MiB fetch (~1,700 events) took ~10 s and a 100k-event read-back ran into client time-outs
-- and re-sent fetches until the broker stopped answering. With this index: 18 us per record.
create index if not exists lgma_header_record on header (topition, offset_id);

-- tansu's maintenance pass (every `maintenance_interval`, 5 s on the stack) deletes expired records
-- with lite/policy_delete.sql, whose `ancient` CTE reads every record's timestamp: without an index
-- that holds it, that is every record's table row, blobs included. This index covers the read.
create index if not exists lgma_record_age on record (topition, timestamp, offset_id);
