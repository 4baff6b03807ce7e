-- Grafana / Superset: median planning decision days per council against the 8-week target,
-- last 12 months, from the summary view (monthly rows, months with decisions only).
SELECT la_code, official_name, sum(decided) AS decided_total, round(avg(median_decision_days), 1) AS avg_monthly_median_days, 56 AS target_days
FROM lgma.v_planning_monthly
WHERE month >= addMonths(toStartOfMonth(today()), -12) AND decided > 0
GROUP BY la_code, official_name
ORDER BY avg_monthly_median_days DESC;
