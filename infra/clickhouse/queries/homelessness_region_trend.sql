-- Grafana time series: adults in emergency accommodation at month end per homelessness region.
SELECT toDateTime(month) AS time, homeless_region, adults, adults_per_1000
FROM lgma.v_hl_region_trend
WHERE month >= addMonths(toStartOfMonth(today()), -24)
ORDER BY time, homeless_region;
