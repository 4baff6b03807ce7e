-- Councils and entity tables that are late (nothing ingested for an hour) or failing rules
-- (under 95% accepted); a Grafana alert query.
SELECT la_code, entity_table, events_total, quarantined, accepted_share, last_ingested_at, seconds_since_last_ingest
FROM lgma.v_quality_freshness
WHERE seconds_since_last_ingest > 3600 OR accepted_share < 0.95
ORDER BY seconds_since_last_ingest DESC;
