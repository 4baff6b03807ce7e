-- Housing stock and need (domain.md §3) and waste (§6): point-in-time summaries over current
-- state (plain views: a stock is the latest version of each unit, not a flow of events).

-- Stock by status and ownership per council (sold units are not stock).
CREATE VIEW IF NOT EXISTS lgma.v_housing_stock AS
SELECT la_code, ifNull(ownership, 'UNKNOWN') AS ownership, ifNull(status, 'UNKNOWN') AS status,
       toUInt64(count()) AS units
FROM lgma.v_housing_dwelling_unit
WHERE ifNull(status, '') != 'SOLD'
GROUP BY la_code, ownership, status;

-- Voids per council: vacant units (relettable, under works, refurbishment, awaiting demolition)
-- over stock, and for units relet, the average void days and relet cost; per 1,000 population.
CREATE VIEW IF NOT EXISTS lgma.v_housing_voids AS
SELECT
    la_code,
    official_name,
    stock,
    voids,
    if(stock = 0, NULL, round(voids / stock, 4)) AS void_rate,
    relets,
    avg_void_days,
    avg_relet_cost_eur,
    if(population_2022 = 0, NULL, round(stock * 1000 / population_2022, 2)) AS stock_per_1000
FROM
(
    SELECT
        la_code,
        toUInt64(countIf(ifNull(status, '') != 'SOLD')) AS stock,
        toUInt64(countIf(ifNull(status, '') IN ('VACANT_RELETTABLE', 'VOID_UNDER_WORKS', 'UNDER_REFURBISHMENT', 'AWAITING_DEMOLITION'))) AS voids,
        toUInt64(countIf(relet_date IS NOT NULL)) AS relets,
        round(avgIf(assumeNotNull(void_days), relet_date IS NOT NULL AND void_days IS NOT NULL), 1) AS avg_void_days,
        round(avgIf(assumeNotNull(relet_cost_eur), relet_date IS NOT NULL AND relet_cost_eur IS NOT NULL), 2) AS avg_relet_cost_eur
    FROM lgma.v_housing_dwelling_unit
    GROUP BY la_code
) AS j3
ANY LEFT JOIN
(
    SELECT la_code, official_name, population_2022 FROM lgma.local_authorities
) AS j1 USING (la_code);

-- Net need: qualified households by main need and time on list per council, per 1,000 population.
CREATE VIEW IF NOT EXISTS lgma.v_housing_need AS
SELECT
    la_code,
    main_need,
    time_on_list,
    households,
    if(population_2022 = 0, NULL, round(households * 1000 / population_2022, 4)) AS households_per_1000
FROM
(
    SELECT la_code, ifNull(main_need, 'UNKNOWN') AS main_need, ifNull(time_on_list, 'UNKNOWN') AS time_on_list,
           toUInt64(count()) AS households
    FROM lgma.v_housing_need_assessment
    WHERE ifNull(qualified, 0) = 1
    GROUP BY la_code, main_need, time_on_list
) AS j4
ANY LEFT JOIN
(
    SELECT la_code, population_2022 FROM lgma.local_authorities
) AS j2 USING (la_code);

-- Waste per council per month: tonnes, kg per person, recycling and landfill rates against the
-- EU 2035 targets (recycle at least 65%, landfill at most 10%).
CREATE VIEW IF NOT EXISTS lgma.v_waste_monthly AS
SELECT
    month,
    la_code,
    total_t,
    recycled_t,
    landfill_t,
    if(population = 0, NULL, round(total_t * 1000 / population, 2)) AS kg_per_person,
    if(total_t = 0, NULL, round(recycled_t / total_t, 4)) AS recycling_rate,
    if(total_t = 0, NULL, round(landfill_t / total_t, 4)) AS landfill_rate,
    0.65 AS recycling_target_2035,
    0.10 AS landfill_target_2035,
    toUInt8(total_t > 0 AND recycled_t / total_t >= 0.65) AS meets_recycling_target,
    toUInt8(total_t > 0 AND landfill_t / total_t <= 0.10) AS meets_landfill_target
FROM
(
    SELECT
        toDate(concat(toString(assumeNotNull(period_year)), '-', if(assumeNotNull(period_month) < 10, '0', ''), toString(assumeNotNull(period_month)), '-01')) AS month,
        la_code,
        round(sum(ifNull(total_collected_t, 0)), 3) AS total_t,
        round(sum(ifNull(recycled_t, 0)), 3) AS recycled_t,
        round(sum(ifNull(landfill_t, 0)), 3) AS landfill_t,
        toUInt64(max(ifNull(population_served, 0))) AS population
    FROM lgma.v_waste_return
    WHERE period_year IS NOT NULL AND period_month BETWEEN 1 AND 12
    GROUP BY month, la_code
);
