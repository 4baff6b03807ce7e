-- Indexes tansu 0.6.0's sqlite schema lacks, applied by `infra/stack up tansu` (idempotent).
--
-- tansu fetches a record's headers with one query per record (header_fetch.sql) that joins `header`
-- on (topition, offset_id), but the `header` table has no index at all: every fetched record scans
-- every header of every topic. Measured on a 37k-record broker (111k header rows): 6 ms per record,
-- so one 1 MiB fetch (~1,700 events) took ~10 s and a 100k-event read-back ran into client time-outs
-- and re-sent fetches until the broker stopped answering. With this index: 18 us per record.
create index if not exists lgma_header_record on header (topition, offset_id);
