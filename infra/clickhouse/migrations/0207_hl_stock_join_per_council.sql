-- Adults in emergency accommodation at month end: a placement ends with the exit carrying its
-- placement_id, matched within the same council and the same topic family. Placement ids are unique
-- within one council's system only (CK-PLC-0000001 and DC-PLC-0000001 can both exist, and two
-- councils can issue the same id), and a topic suffix (infra/config ingest `topic_suffix`) marks a
-- separate stream sharing the database (staging, tests): an exit of one stream never ends a
-- placement of another. In production the suffix is empty, so this is the council + placement id.
-- An exit dated before its placement's start (inconsistent data) now gives no month instead of a
-- negative month count, which made `range` fail ("A call to function range overflows").
DROP TABLE IF EXISTS lgma.v_hl_adults_in_ea_monthly;

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
            range(toUInt64(greatest(dateDiff('month', toStartOfMonth(start), toStartOfMonth(if(ended = toDate('1970-01-01'), today(), least(ended, today())))) + 1, 0))))) AS month
    FROM
    (
        SELECT
            la_code,
            replaceOne(topic, 'lgma.homelessness.placement', '') AS stream,
            ifNull(placement_id, entity_id) AS placement_key,
            homeless_region, accommodation_type, age_band, gender, adults,
            assumeNotNull(start_date) AS start
        FROM lgma.v_hl_placement
        WHERE start_date IS NOT NULL AND start_date <= today()
    ) AS j7
    ANY LEFT JOIN
    (
        SELECT
            la_code,
            replaceOne(topic, 'lgma.homelessness.exit', '') AS stream,
            assumeNotNull(placement_id) AS placement_key,
            min(assumeNotNull(exit_date)) AS ended
        FROM lgma.v_hl_exit
        WHERE placement_id IS NOT NULL AND exit_date IS NOT NULL AND ifNull(is_prevention, 0) = 0
        GROUP BY la_code, stream, placement_key
    ) AS j3 USING (la_code, stream, placement_key)
)
WHERE start <= addDays(addMonths(month, 1), -1)
  AND (ended = toDate('1970-01-01') OR ended > addDays(addMonths(month, 1), -1))
GROUP BY month, la_code, homeless_region, accommodation_type, age_band, gender;
