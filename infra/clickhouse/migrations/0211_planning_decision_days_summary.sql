-- Planning decision days kept per council per month (issue 19: report views fast on 18.16).
-- v_planning_monthly's median and v_planning_decision_times read the whole current state with FINAL
-- for every query (18.16 pushes no WHERE into a view: measured 0.3-0.4 s for one council at
-- national scale, growing with the years kept). They now read a summary of one row per council
-- and month, kept by a materialized view from the history table like the other planning
-- summaries. Its state is a SET of (application, decision days, within the statutory period), so
-- versions and re-inserts count once (the backfill below is safe to re-run), and the median, mean
-- and shares come from the same decisions as sum_planning_decided's counts (by decision month).
-- @was 6a342ed7f85fea68ecec0fec6c488d5b29223e9ee9111cdc8240d66fabd9e6e4
CREATE TABLE IF NOT EXISTS lgma.sum_planning_decision_days
(
    `la_code` String,
    `month` Date,
    `decisions` AggregateFunction(groupUniqArray, Tuple(String, Int64, UInt8))
)
ENGINE = AggregatingMergeTree()
ORDER BY (la_code, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS lgma.mv_planning_decision_days TO lgma.sum_planning_decision_days AS
SELECT
    la_code,
    toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) AS month,
    groupUniqArrayState(tuple(entity_id, assumeNotNull(decision_days), toUInt8(ifNull(is_overdue, 1) = 0))) AS decisions
FROM lgma.planning_application_history
WHERE is_deleted = 0 AND decision_date IS NOT NULL AND decision_days IS NOT NULL
  AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT')
GROUP BY la_code, month;

-- @backfill lgma.mv_planning_decision_days

ALTER TABLE lgma.sum_planning_decision_days COMMENT COLUMN la_code 'Local authority (council) code, e.g. DC = Dublin City Council; names and regions in local_authorities';
ALTER TABLE lgma.sum_planning_decision_days COMMENT COLUMN month 'First day of the month of the decision';
ALTER TABLE lgma.sum_planning_decision_days COMMENT COLUMN decisions 'State of the set of (application id, decision days, 1 if within the statutory period) decided in the month: groupUniqArrayMerge(decisions), then ARRAY JOIN';

DROP TABLE IF EXISTS lgma.v_planning_decision_days_monthly;

CREATE VIEW IF NOT EXISTS lgma.v_planning_decision_days_monthly AS
SELECT
    la_code,
    month,
    quantile(0.5)(d.2) AS median_decision_days,
    avg(d.2) AS mean_decision_days
FROM
(
    SELECT la_code, month, groupUniqArrayMerge(decisions) AS ds
    FROM lgma.sum_planning_decision_days
    GROUP BY la_code, month
)
ARRAY JOIN ds AS d
GROUP BY la_code, month;

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
        toUInt64(uniqExact(d.1)) AS decided,
        toUInt64(uniqExactIf(d.1, d.3 = 1)) AS within_period,
        quantile(0.5)(d.2) AS median_decision_days,
        round(avg(d.2), 2) AS mean_decision_days
    FROM
    (
        SELECT la_code, groupUniqArrayMerge(decisions) AS ds
        FROM lgma.sum_planning_decision_days
        GROUP BY la_code
    )
    ARRAY JOIN ds AS d
    GROUP BY la_code
) AS j10
ANY LEFT JOIN
(
    SELECT la_code, official_name FROM lgma.local_authorities
) AS j5 USING (la_code);
