-- Homelessness summaries (domain.md §2), shaped like the Department's monthly and quarterly reports.
-- Flows (presentations, placements started, exits) are materialized views into sets of entity ids
-- (uniqExact: versions and re-inserts count once; the backfills below are safe to re-run).
-- The stock (adults in emergency accommodation at the end of each month) is a plain view over
-- current state, because a placement spans months and ends with an exit event.
-- @was ce6643f9510ef91a244777bc4bc6467e2f8b663f74637c0eb670ec5d030c2ac3

CREATE TABLE IF NOT EXISTS lgma.sum_hl_presentations
(
    la_code String,
    month Date,
    presentation_type String,
    household_type String,
    outcome String,
    households AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, month, presentation_type, household_type, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_hl_presentations TO lgma.sum_hl_presentations AS
SELECT
    la_code,
    toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(presented_at), 1000), 'Europe/Dublin'))) AS month,
    ifNull(presentation_type, 'UNKNOWN') AS presentation_type,
    ifNull(household_type, 'UNKNOWN') AS household_type,
    ifNull(outcome, 'UNKNOWN') AS outcome,
    uniqExactState(entity_id) AS households
FROM lgma.hl_presentation_history
WHERE is_deleted = 0 AND presented_at IS NOT NULL
GROUP BY la_code, month, presentation_type, household_type, outcome;

-- @backfill lgma.mv_hl_presentations

CREATE TABLE IF NOT EXISTS lgma.sum_hl_exits
(
    la_code String,
    month Date,
    route String,
    is_prevention UInt8,
    length_of_stay_band String,
    exits AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, month, route, is_prevention, length_of_stay_band);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_hl_exits TO lgma.sum_hl_exits AS
SELECT
    la_code,
    toStartOfMonth(assumeNotNull(exit_date)) AS month,
    ifNull(route, 'UNKNOWN') AS route,
    ifNull(is_prevention, 0) AS is_prevention,
    ifNull(length_of_stay_band, 'UNKNOWN') AS length_of_stay_band,
    uniqExactState(entity_id) AS exits
FROM lgma.hl_exit_history
WHERE is_deleted = 0 AND exit_date IS NOT NULL
GROUP BY la_code, month, route, is_prevention, length_of_stay_band;

-- @backfill lgma.mv_hl_exits

-- Presentations per council per month (households), with region.
CREATE VIEW IF NOT EXISTS lgma.v_hl_presentations_monthly AS
SELECT month, la_code, homeless_region, presentation_type, household_type, outcome, households
FROM
(
    SELECT la_code, month, presentation_type, household_type, outcome,
           toUInt64(uniqExactMerge(households)) AS households
    FROM lgma.sum_hl_presentations
    GROUP BY la_code, month, presentation_type, household_type, outcome
) AS j5
ANY LEFT JOIN (SELECT la_code, homeless_region FROM lgma.local_authorities) AS j1 USING (la_code);

-- Exits from emergency accommodation (and preventions) by route per council per month.
CREATE VIEW IF NOT EXISTS lgma.v_hl_exits_monthly AS
SELECT month, la_code, homeless_region, route, is_prevention, length_of_stay_band, exits
FROM
(
    SELECT la_code, month, route, is_prevention, length_of_stay_band,
           toUInt64(uniqExactMerge(exits)) AS exits
    FROM lgma.sum_hl_exits
    GROUP BY la_code, month, route, is_prevention, length_of_stay_band
) AS j6
ANY LEFT JOIN (SELECT la_code, homeless_region FROM lgma.local_authorities) AS j2 USING (la_code);

-- Length of stay in EA of households that exited (not preventions), per council per month.
CREATE VIEW IF NOT EXISTS lgma.v_hl_length_of_stay AS
SELECT
    toStartOfMonth(assumeNotNull(exit_date)) AS month,
    la_code,
    toUInt64(count()) AS exits,
    round(avg(assumeNotNull(days_in_ea)), 1) AS mean_days_in_ea,
    quantile(0.5)(assumeNotNull(days_in_ea)) AS median_days_in_ea,
    toUInt64(countIf(assumeNotNull(days_in_ea) > 182)) AS over_6_months
FROM lgma.v_hl_exit
WHERE exit_date IS NOT NULL AND days_in_ea IS NOT NULL AND ifNull(is_prevention, 0) = 0
GROUP BY month, la_code;

-- Adults in emergency accommodation at the end of each month (the monthly report's count),
-- by council, region, accommodation type, age band and gender. A placement counts in month M when
-- it started on or before M's last day and has no exit on or before that day. Months run from the
-- placement's start to its exit (or the current month).
CREATE VIEW IF NOT EXISTS lgma.v_hl_adults_in_ea_monthly AS
SELECT
    month,
    la_code,
    homeless_region,
    accommodation_type,
    age_band,
    gender,
    toUInt64(sum(adults)) AS adults,
    toUInt64(count()) AS households
FROM
(
    SELECT
        la_code,
        ifNull(homeless_region, '') AS homeless_region,
        ifNull(accommodation_type, 'OTHER') AS accommodation_type,
        ifNull(age_band, 'NOT_STATED') AS age_band,
        ifNull(gender, 'NOT_STATED') AS gender,
        ifNull(adults, 0) AS adults,
        start,
        ended,
        arrayJoin(arrayMap(i -> addMonths(toStartOfMonth(start), i),
            range(toUInt64(dateDiff('month', toStartOfMonth(start), toStartOfMonth(if(ended = toDate('1970-01-01'), today(), least(ended, today())))) + 1)))) AS month
    FROM
    (
        SELECT
            ifNull(placement_id, entity_id) AS placement_key,
            la_code, homeless_region, accommodation_type, age_band, gender, adults,
            assumeNotNull(start_date) AS start
        FROM lgma.v_hl_placement
        WHERE start_date IS NOT NULL AND start_date <= today()
    ) AS j7
    ANY LEFT JOIN
    (
        SELECT assumeNotNull(placement_id) AS placement_key, min(assumeNotNull(exit_date)) AS ended
        FROM lgma.v_hl_exit
        WHERE placement_id IS NOT NULL AND exit_date IS NOT NULL AND ifNull(is_prevention, 0) = 0
        GROUP BY placement_key
    ) AS j3 USING (placement_key)
)
WHERE start <= addDays(addMonths(month, 1), -1)
  AND (ended = toDate('1970-01-01') OR ended > addDays(addMonths(month, 1), -1))
GROUP BY month, la_code, homeless_region, accommodation_type, age_band, gender;

-- Trend per homelessness region: adults in EA at month end, and per 1,000 population.
CREATE VIEW IF NOT EXISTS lgma.v_hl_region_trend AS
SELECT
    month,
    homeless_region,
    adults,
    if(population = 0, NULL, round(adults * 1000 / population, 4)) AS adults_per_1000
FROM
(
    SELECT month, homeless_region, toUInt64(sum(adults)) AS adults
    FROM lgma.v_hl_adults_in_ea_monthly
    GROUP BY month, homeless_region
) AS j8
ANY LEFT JOIN
(
    SELECT homeless_region, toUInt64(sum(population_2022)) AS population
    FROM lgma.local_authorities
    GROUP BY homeless_region
) AS j4 USING (homeless_region);
