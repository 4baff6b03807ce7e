"""After the demo: the figures an analyst sees are believable — within the ranges of
services/sim/calibration.toml (each with its source line in shared/domain.md), measured in ClickHouse
the way the dashboard measures them (v_housing_voids, v_planning_decision_times, adults in emergency
accommodation), on the platform's own topics only (tests on the same database use suffixed topics).

The demo publishes a snapshot first (the dwelling stock, the EA caseload and two years of history at
LGMA_DEMO_SCALE of the national volumes) before its short change stream, so even a 10-20 s demo has
the whole stock and a year of planning decisions.
"""
import os
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from api_support import ch_json  # noqa: E402

CAL = tomllib.loads((ROOT / "services/sim/calibration.toml").read_text())
SCALE = float(os.environ.get("LGMA_DEMO_SCALE", "0.05"))
OWN = r"match(topic, '^lgma\\.[a-z]+\\.[a-z-]+$')"
DUBLIN = "('DC', 'DR', 'FG', 'SD')"
VACANT = "('VACANT_RELETTABLE', 'VOID_UNDER_WORKS', 'UNDER_REFURBISHMENT', 'AWAITING_DEMOLITION')"


def test_void_rates_are_a_few_per_cent():
    rows = ch_json(f"""
        SELECT la_code, toUInt64(countIf(ifNull(status, '') != 'SOLD')) AS stock,
               toUInt64(countIf(ifNull(status, '') IN {VACANT})) AS voids
        FROM lgma.v_housing_dwelling_unit WHERE {OWN} GROUP BY la_code""")
    assert len(rows) == 31, rows
    stock = sum(int(r["stock"]) for r in rows)
    voids = sum(int(r["voids"]) for r in rows)
    expected = CAL["housing"]["dwellings_total"] * SCALE
    assert stock > 0.9 * expected, f"the demo's stock {stock} is not the snapshot's ~{expected:.0f}"
    lo, hi = CAL["housing"]["void_rate_national"]
    assert lo <= voids / stock <= hi, f"national void rate {voids / stock:.4f}"
    cap = CAL["housing"]["void_rate_max_per_council"]
    high = {r["la_code"]: int(r["voids"]) / int(r["stock"]) for r in rows
            if int(r["stock"]) >= 50 and int(r["voids"]) / int(r["stock"]) > cap}
    assert not high, f"councils above {cap:.0%} vacant: {high}"


def test_people_in_emergency_accommodation_and_dublin_share():
    [row] = ch_json(f"""
        SELECT toInt64(sum(persons)) AS total, toInt64(sumIf(persons, la_code IN {DUBLIN})) AS dublin
        FROM
        (
            SELECT la_code, ifNull(placement_id, entity_id) AS placement_key,
                   ifNull(adults, 0) + ifNull(dependants, 0) AS persons
            FROM lgma.v_hl_placement WHERE {OWN} AND start_date IS NOT NULL AND start_date <= today()
        ) AS p
        ANY LEFT JOIN
        (
            SELECT la_code, assumeNotNull(placement_id) AS placement_key, toUInt8(1) AS ended
            FROM lgma.v_hl_exit
            WHERE {OWN} AND placement_id IS NOT NULL AND exit_date IS NOT NULL AND exit_date <= today()
              AND ifNull(is_prevention, 0) = 0
            GROUP BY la_code, placement_key
        ) AS x USING (la_code, placement_key)
        WHERE ended = 0""")
    people, dublin = int(row["total"]), int(row["dublin"])
    target = CAL["homelessness"]["ea_people"] * SCALE
    tol = CAL["homelessness"]["ea_people_tolerance"]
    assert abs(people - target) <= tol * target, f"{people} people in EA, target {target:.0f} ±{tol:.0%}"
    lo, hi = CAL["homelessness"]["dublin_share"]
    assert lo <= dublin / people <= hi, f"Dublin share {dublin / people:.3f}"
    print(f"{people} people in EA (target {target:.0f}), Dublin share {dublin / people:.3f}")


def test_planning_decisions_within_the_statutory_period_with_a_tail():
    [row] = ch_json(f"""
        SELECT toUInt64(count()) AS decided,
               toUInt64(countIf(ifNull(is_overdue, 1) = 0)) AS within,
               toUInt64(countIf(fi_request_date IS NOT NULL)) AS fi,
               toUInt64(countIf(appeal_ref_number IS NOT NULL)) AS appealed
        FROM lgma.v_planning_application
        WHERE {OWN} AND decision_date IS NOT NULL AND decision_days IS NOT NULL
          AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT')""")
    decided, within = int(row["decided"]), int(row["within"])
    assert decided > 100, row
    lo, hi = CAL["planning"]["within_statutory_share_national"]
    assert lo <= within / decided <= hi, f"{within / decided:.3f} decided within the statutory period"
    assert int(row["fi"]) >= CAL["planning"]["min_fi_share"] * decided, row
    assert int(row["appealed"]) >= CAL["planning"]["min_appeal_share"] * decided, row
