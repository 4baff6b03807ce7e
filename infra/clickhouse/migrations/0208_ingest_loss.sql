-- Records the platform will never see (tests/RELIABILITY.md, "Loss is visible"). Council topics are
-- not compacted and carry no transactions, so consecutive records have consecutive offsets: when
-- the consumer's next record is further on than the offset it expected, the records in between are
-- gone from the broker (retention, a truncated log) and can never be ingested.
--
-- Each such range gets ONE row in the offset of record itself, in the same INSERT as the record
-- that revealed it (so it is recorded exactly once, like every other row): verdict 'LOST',
-- `offset` = the LAST missing offset (max(offset) + 1 stays the next offset to read),
-- `lost_first` = the first missing offset, `lost_records` = how many. Other rows: 0 and 0.
ALTER TABLE lgma.ingest_events ADD COLUMN lost_first Int64 DEFAULT 0;
ALTER TABLE lgma.ingest_events ADD COLUMN lost_records UInt64 DEFAULT 0;

-- The missing ranges, small and keyed, for dashboards, /v1/quality/loss and the reconcile command
-- (kept by a materialized view; a re-inserted row collapses: read with FINAL).
CREATE TABLE IF NOT EXISTS lgma.ingest_losses
(
    topic String,
    partition Int32,
    lost_first Int64,
    lost_last Int64,
    lost_records UInt64,
    entity_table String,
    seen_at DateTime,
    batch_id String
)
ENGINE = ReplacingMergeTree()
ORDER BY (topic, partition, lost_first);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_ingest_losses TO lgma.ingest_losses AS
SELECT topic, partition, lost_first, offset AS lost_last, lost_records, entity_table,
       ingested_at AS seen_at, batch_id
FROM lgma.ingest_events
WHERE verdict = 'LOST';

-- Loss per topic (the council of a record nobody read is unknown): ranges, records, when seen.
CREATE VIEW IF NOT EXISTS lgma.v_ingest_loss AS
SELECT
    topic,
    entity_table,
    toUInt64(count()) AS ranges,
    toUInt64(sum(lost_records)) AS records_lost,
    min(seen_at) AS first_seen_at,
    max(seen_at) AS last_seen_at,
    arrayStringConcat(groupArray(concat(toString(partition), ':', toString(lost_first), '-', toString(lost_last))), ' ') AS missing_ranges
FROM lgma.ingest_losses FINAL
GROUP BY topic, entity_table;
