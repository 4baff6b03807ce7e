-- Summaries never show nan or inf: an average or a share over nothing is NULL (\N in ClickHouse's
-- CSV, null in JSON, empty in the API's CSV), as in the published reports ("–"), never `nan`.
-- avgIf over no rows is nan in ClickHouse (0/0); each such figure now checks its own denominator.
-- 18.16 has no CREATE OR REPLACE VIEW (nor DROP VIEW): each view is dropped with DROP TABLE, which
-- drops views on 18.16 and current engines alike, and created again (a view holds no data).

-- Voids: average void days and relet cost only where some relet unit has that figure.
DROP TABLE IF EXISTS lgma.v_housing_voids;

CREATE VIEW IF NOT EXISTS lgma.v_housing_voids AS
SELECT
    la_code,
    official_name,
    stock,
    voids,
    if(stock = 0, NULL, round(voids / stock, 4)) AS void_rate,
    relets,
    if(relets_with_days = 0, NULL, round(void_days_sum / relets_with_days, 1)) AS avg_void_days,
    if(relets_with_cost = 0, NULL, round(relet_cost_sum / relets_with_cost, 2)) AS avg_relet_cost_eur,
    if(population_2022 = 0, NULL, round(stock * 1000 / population_2022, 2)) AS stock_per_1000
FROM
(
    SELECT
        la_code,
        toUInt64(countIf(ifNull(status, '') != 'SOLD')) AS stock,
        toUInt64(countIf(ifNull(status, '') IN ('VACANT_RELETTABLE', 'VOID_UNDER_WORKS', 'UNDER_REFURBISHMENT', 'AWAITING_DEMOLITION'))) AS voids,
        toUInt64(countIf(relet_date IS NOT NULL)) AS relets,
        toUInt64(countIf(relet_date IS NOT NULL AND void_days IS NOT NULL)) AS relets_with_days,
        sumIf(toFloat64(ifNull(void_days, 0)), relet_date IS NOT NULL AND void_days IS NOT NULL) AS void_days_sum,
        toUInt64(countIf(relet_date IS NOT NULL AND relet_cost_eur IS NOT NULL)) AS relets_with_cost,
        sumIf(toFloat64(ifNull(relet_cost_eur, 0)), relet_date IS NOT NULL AND relet_cost_eur IS NOT NULL) AS relet_cost_sum
    FROM lgma.v_housing_dwelling_unit
    GROUP BY la_code
) AS j3
ANY LEFT JOIN
(
    SELECT la_code, official_name, population_2022 FROM lgma.local_authorities
) AS j1 USING (la_code);

-- Quality: the accepted share only where events were counted.
DROP TABLE IF EXISTS lgma.v_quality_freshness;

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
    if(sum(events) = 0, NULL, round(sumIf(events, verdict = 'ACCEPT') / sum(events), 4)) AS accepted_share,
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

-- Planning per month: the median came from an ANY LEFT JOIN, whose default for a missing row is 0
-- (a false "0 days"); `has_days` tells a real median from the join default.
DROP TABLE IF EXISTS lgma.v_planning_monthly;

CREATE VIEW IF NOT EXISTS lgma.v_planning_monthly AS
SELECT
    month,
    la_code,
    official_name,
    received,
    decided,
    if(decided = 0 OR has_days = 0, NULL, median_decision_days) AS median_decision_days,
    if(decided = 0, NULL, round(within_period / decided, 4)) AS within_statutory_share,
    if(decided = 0, NULL, round(further_info / decided, 4)) AS fi_rate,
    if(decided = 0, NULL, round(granted / decided, 4)) AS grant_rate,
    refused,
    appealed,
    if(population_2022 = 0, NULL, round(received * 1000 / population_2022, 4)) AS received_per_1000
FROM
(
    SELECT *
    FROM
    (
        SELECT *
        FROM
        (
            SELECT *
            FROM
            (
                SELECT la_code, month
                FROM
                (
                    SELECT la_code, month FROM lgma.sum_planning_received
                    UNION ALL
                    SELECT la_code, month FROM lgma.sum_planning_decided
                )
                GROUP BY la_code, month
            ) AS j6
            ANY LEFT JOIN
            (
                SELECT la_code, month, toUInt64(uniqExactMerge(applications)) AS received
                FROM lgma.sum_planning_received
                GROUP BY la_code, month
            ) AS j1 USING (la_code, month)
        ) AS j7
        ANY LEFT JOIN
        (
            SELECT
                la_code,
                month,
                toUInt64(uniqExactMerge(decided)) AS decided,
                toUInt64(uniqExactIfMerge(within_period)) AS within_period,
                toUInt64(uniqExactIfMerge(further_info)) AS further_info,
                toUInt64(uniqExactIfMerge(granted)) AS granted,
                toUInt64(uniqExactIfMerge(refused)) AS refused,
                toUInt64(uniqExactIfMerge(appealed)) AS appealed
            FROM lgma.sum_planning_decided
            GROUP BY la_code, month
        ) AS j2 USING (la_code, month)
    ) AS j8
    ANY LEFT JOIN
    (
        SELECT la_code, month, median_decision_days, toUInt8(1) AS has_days
        FROM lgma.v_planning_decision_days_monthly
    ) AS j3 USING (la_code, month)
) AS j9
ANY LEFT JOIN
(
    SELECT la_code, official_name, population_2022 FROM lgma.local_authorities
) AS j4 USING (la_code);

-- Decision times: shares and means only over decided applications (never 0/0).
DROP TABLE IF EXISTS lgma.v_planning_decision_times;

CREATE VIEW IF NOT EXISTS lgma.v_planning_decision_times AS
SELECT
    la_code,
    official_name,
    decided,
    if(decided = 0, NULL, median_decision_days) AS median_decision_days,
    if(decided = 0, NULL, mean_decision_days) AS mean_decision_days,
    if(decided = 0, NULL, round(within_period / decided, 4)) AS within_statutory_share,
    56 AS target_days
FROM
(
    SELECT
        la_code,
        toUInt64(count()) AS decided,
        toUInt64(countIf(ifNull(is_overdue, 1) = 0)) AS within_period,
        quantile(0.5)(assumeNotNull(decision_days)) AS median_decision_days,
        round(avg(assumeNotNull(decision_days)), 2) AS mean_decision_days
    FROM lgma.v_planning_application
    WHERE decision_date IS NOT NULL AND decision_days IS NOT NULL
      AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT')
    GROUP BY la_code
) AS j10
ANY LEFT JOIN
(
    SELECT la_code, official_name FROM lgma.local_authorities
) AS j5 USING (la_code);
