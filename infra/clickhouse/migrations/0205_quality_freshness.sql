-- Quality and freshness per council x entity table, from the offset of record (lgma.ingest_events:
-- one row per consumed record, any verdict). States are sets of provenance hashes (uniqExact of
-- cityHash64(topic, partition, offset)) plus max(), so the backfill below and any re-insert are
-- idempotent.
-- @was c353d5aa95af6cacfe8ab2603cbe851d856f9360eefb0ef1e41c576a67cf77e7
CREATE TABLE IF NOT EXISTS lgma.sum_quality_daily
(
    la_code String,
    entity_table String,
    day Date,
    verdict String,
    events AggregateFunction(uniqExact, UInt64),
    last_occurred_ms AggregateFunction(max, Int64),
    last_ingested_at AggregateFunction(max, DateTime)
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, entity_table, day, verdict);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_quality_daily TO lgma.sum_quality_daily AS
SELECT
    la_code,
    entity_table,
    toDate(ingested_at) AS day,
    verdict,
    uniqExactState(cityHash64(topic, partition, offset)) AS events,
    maxState(occurred_at) AS last_occurred_ms,
    maxState(ingested_at) AS last_ingested_at
FROM lgma.ingest_events
GROUP BY la_code, entity_table, day, verdict;

-- @backfill lgma.mv_quality_daily

-- Rule findings per council x entity table x day x rule.
CREATE TABLE IF NOT EXISTS lgma.sum_quality_rules
(
    la_code String,
    entity_table String,
    day Date,
    verdict String,
    rule_id String,
    events AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, entity_table, day, verdict, rule_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_quality_rules TO lgma.sum_quality_rules AS
SELECT
    la_code,
    entity_table,
    toDate(ingested_at) AS day,
    verdict,
    arrayJoin(rule_ids) AS rule_id,
    uniqExactState(cityHash64(topic, partition, offset)) AS events
FROM lgma.ingest_events
GROUP BY la_code, entity_table, day, verdict, rule_id;

-- @backfill lgma.mv_quality_rules

-- Freshness and quality per council x entity table: last event time (by the council's clock and
-- by ours), events in the last day / 7 days / ever, verdict counts, share accepted.
CREATE VIEW IF NOT EXISTS lgma.v_quality_freshness AS
SELECT
    la_code,
    entity_table,
    toUInt64(sum(events)) AS events_total,
    toUInt64(sumIf(events, day >= today() - 1)) AS events_last_day,
    toUInt64(sumIf(events, day >= today() - 7)) AS events_last_7_days,
    toUInt64(sumIf(events, verdict = 'ACCEPT')) AS accepted,
    toUInt64(sumIf(events, verdict = 'WARN')) AS warned,
    toUInt64(sumIf(events, verdict = 'QUARANTINE')) AS quarantined,
    round(sumIf(events, verdict = 'ACCEPT') / sum(events), 4) AS accepted_share,
    toDateTime(intDiv(max(last_occurred_ms), 1000)) AS last_event_at,
    max(last_ingested) AS last_ingested_at,
    toUInt64(greatest(toInt64(now()) - toInt64(max(last_ingested)), 0)) AS seconds_since_last_ingest
FROM
(
    SELECT la_code, entity_table, day, verdict,
           uniqExactMerge(events) AS events,
           maxMerge(last_occurred_ms) AS last_occurred_ms,
           maxMerge(last_ingested_at) AS last_ingested
    FROM lgma.sum_quality_daily
    GROUP BY la_code, entity_table, day, verdict
)
GROUP BY la_code, entity_table;

CREATE VIEW IF NOT EXISTS lgma.v_quality_rules AS
SELECT la_code, entity_table, day, verdict, rule_id, toUInt64(uniqExactMerge(events)) AS events
FROM lgma.sum_quality_rules
GROUP BY la_code, entity_table, day, verdict, rule_id;
