-- Superset tables: housing void rate per council, and councils against the 2035 waste targets.
SELECT la_code, official_name, stock, voids, void_rate, avg_void_days, avg_relet_cost_eur
FROM lgma.v_housing_voids
ORDER BY void_rate DESC;

SELECT la_code, month, kg_per_person, recycling_rate, recycling_target_2035, landfill_rate, landfill_target_2035
FROM lgma.v_waste_monthly
WHERE month >= addMonths(toStartOfMonth(today()), -12)
ORDER BY la_code, month;
