-- Planning summaries (domain.md §4), shaped like the NPAD / Department quarterly tables.
-- Counting rule of every summary state here: a SET of entity ids (uniqExact), so the many versions
-- of one application (received -> validated -> decided -> appealed) count once, and re-inserting
-- rows (a backfill, a crash replay) never double counts. The backfill INSERTs below are therefore
-- safe to run at any time, also while ingest is writing.
-- @was d4e848ebb2709a55d23d75f0cb042fca257e6f800e516a9a5e059ac309acbf2e

-- Applications received per council per month (by received date).
CREATE TABLE IF NOT EXISTS lgma.sum_planning_received
(
    la_code String,
    month Date,
    applications AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_planning_received TO lgma.sum_planning_received AS
SELECT
    la_code,
    toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(received_date), 1000), 'Europe/Dublin'))) AS month,
    uniqExactState(entity_id) AS applications
FROM lgma.planning_application_history
WHERE is_deleted = 0 AND received_date IS NOT NULL
GROUP BY la_code, month;

-- @backfill lgma.mv_planning_received

-- Applications decided per council per month (by decision date; final decisions only: granted,
-- granted with conditions, refused, split), with the subsets the performance reports use.
CREATE TABLE IF NOT EXISTS lgma.sum_planning_decided
(
    la_code String,
    month Date,
    decided AggregateFunction(uniqExact, String),
    within_period AggregateFunction(uniqExactIf, String, UInt8),
    further_info AggregateFunction(uniqExactIf, String, UInt8),
    granted AggregateFunction(uniqExactIf, String, UInt8),
    refused AggregateFunction(uniqExactIf, String, UInt8),
    appealed AggregateFunction(uniqExactIf, String, UInt8)
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_planning_decided TO lgma.sum_planning_decided AS
SELECT
    la_code,
    toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) AS month,
    uniqExactState(entity_id) AS decided,
    uniqExactIfState(entity_id, toUInt8(ifNull(is_overdue, 1) = 0)) AS within_period,
    uniqExactIfState(entity_id, toUInt8(fi_request_date IS NOT NULL)) AS further_info,
    uniqExactIfState(entity_id, toUInt8(assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS'))) AS granted,
    uniqExactIfState(entity_id, toUInt8(assumeNotNull(decision) = 'REFUSED')) AS refused,
    uniqExactIfState(entity_id, toUInt8(appeal_ref_number IS NOT NULL)) AS appealed
FROM lgma.planning_application_history
WHERE is_deleted = 0 AND decision_date IS NOT NULL
  AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT')
GROUP BY la_code, month;

-- @backfill lgma.mv_planning_decided

-- Decision days per council per month from current state (a median cannot be kept version-safe
-- in a state; the current state holds exactly one version per application).
CREATE VIEW IF NOT EXISTS lgma.v_planning_decision_days_monthly AS
SELECT
    la_code,
    toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) AS month,
    quantile(0.5)(assumeNotNull(decision_days)) AS median_decision_days,
    avg(assumeNotNull(decision_days)) AS mean_decision_days
FROM lgma.v_planning_application
WHERE decision_date IS NOT NULL AND decision_days IS NOT NULL
  AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT')
GROUP BY la_code, month;

-- THE planning summary: one row per council per month with received / decided, median decision
-- days, share decided within the statutory period, FI rate, grant rate, appeals, and per 1,000
-- population (CSO 2022). Rates are NULL where nothing was decided.
-- (Nested single joins: ClickHouse 18.16 allows one JOIN per SELECT.)
CREATE VIEW IF NOT EXISTS lgma.v_planning_monthly AS
SELECT
    month,
    la_code,
    official_name,
    received,
    decided,
    if(decided = 0, NULL, median_decision_days) AS median_decision_days,
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
        SELECT la_code, month, median_decision_days FROM lgma.v_planning_decision_days_monthly
    ) AS j3 USING (la_code, month)
) AS j9
ANY LEFT JOIN
(
    SELECT la_code, official_name, population_2022 FROM lgma.local_authorities
) AS j4 USING (la_code);

-- Decision times per council over all decided applications in current state, against the 8-week
-- (56-day) statutory target: what the dashboard shows.
CREATE VIEW IF NOT EXISTS lgma.v_planning_decision_times AS
SELECT
    la_code,
    official_name,
    decided,
    if(decided = 0, NULL, median_decision_days) AS median_decision_days,
    mean_decision_days,
    within_statutory_share,
    56 AS target_days
FROM
(
    SELECT
        la_code,
        toUInt64(count()) AS decided,
        quantile(0.5)(assumeNotNull(decision_days)) AS median_decision_days,
        round(avg(assumeNotNull(decision_days)), 2) AS mean_decision_days,
        round(countIf(ifNull(is_overdue, 1) = 0) / count(), 4) AS within_statutory_share
    FROM lgma.v_planning_application
    WHERE decision_date IS NOT NULL AND decision_days IS NOT NULL
      AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT')
    GROUP BY la_code
) AS j10
ANY LEFT JOIN
(
    SELECT la_code, official_name FROM lgma.local_authorities
) AS j5 USING (la_code);
