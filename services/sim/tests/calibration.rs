//! The simulator's figures fall within the published national ranges (`calibration.toml`, each
//! range with its source line in shared/domain.md), at the demo's scale and at others: a snapshot
//! with a year of history, then a simulated period of the change stream, replayed into the state a
//! warehouse would hold (latest version of each entity), then measured as the dashboard measures it.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use lgma_domain::StatutoryCalendar;
use lgma_sim::model::{AppealDecision, Decision, DwellingStatus, Entity, Operation};
use lgma_sim::{Generator, GeneratorConfig};

const DAY_MS: i64 = 86_400_000;
const DUBLIN: [&str; 4] = ["DC", "DR", "FG", "SD"];

fn calibration() -> toml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/calibration.toml"))
        .expect("calibration.toml");
    text.parse().expect("calibration.toml parses")
}

fn range(v: &toml::Value, section: &str, key: &str) -> (f64, f64) {
    let a = v[section][key].as_array().expect(key);
    (a[0].as_float().unwrap(), a[1].as_float().unwrap())
}

fn num(v: &toml::Value, section: &str, key: &str) -> f64 {
    let x = &v[section][key];
    x.as_float()
        .or_else(|| x.as_integer().map(|i| i as f64))
        .expect(key)
}

fn day(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms).unwrap().date_naive()
}

fn epoch_day(d: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(d as u64)
}

#[derive(Debug, Default)]
struct Figures {
    snapshot_events: u64,
    stream_events: u64,
    stock: HashMap<String, (u64, u64)>,
    relet_days: Vec<f64>,
    ea_people: i64,
    ea_dublin: i64,
    decided: HashMap<String, (u64, u64)>,
    fi: u64,
    appealed: u64,
    /// Appeals the appeal body determined, and those confirming the council's decision (NOAC P2).
    appeals_determined: u64,
    appeals_confirmed: u64,
    late_days: Vec<i64>,
}

/// Runs the generator: snapshot (stock + `history_days`), then `days` of the change stream.
fn run(seed: u64, scale: f64, history_days: u32, days: i64) -> Figures {
    let config = GeneratorConfig {
        snapshot: true,
        history_days,
        scale,
        ..GeneratorConfig::default()
    };
    let start = config.start_ms;
    let end = start + days * DAY_MS;
    let mut g = Generator::new(seed, config).unwrap();
    let mut f = Figures::default();
    let mut units = HashMap::new();
    let mut placements = HashMap::new();
    let mut exited = std::collections::HashSet::new();
    let mut applications = HashMap::new();
    while g.sim_now() < end {
        let e = g.next_event();
        if g.in_snapshot() {
            f.snapshot_events += 1;
        } else {
            f.stream_events += 1;
        }
        let meta = e.event.meta();
        let id = format!("{}/{}", meta.la_code, meta.entity_id);
        match e.event.entity() {
            Some(Entity::DwellingUnit(u)) if meta.operation != Operation::DELETE => {
                units.insert(id, (meta.la_code.clone(), u));
            }
            None | Some(Entity::DwellingUnit(_)) if e.topic == lgma_sim::Topic::DwellingUnit => {
                units.remove(&id);
            }
            Some(Entity::Placement(p)) => {
                placements.insert(p.placement_id.clone(), (meta.la_code.clone(), p));
            }
            Some(Entity::Exit(x)) if !x.is_prevention => {
                if let Some(p) = x.placement_id {
                    exited.insert(p);
                }
            }
            Some(Entity::PlanningApplication(a)) => {
                applications.insert(id, (meta.la_code.clone(), a));
            }
            _ => {}
        }
    }
    for (la, u) in units.values() {
        let s = f.stock.entry(la.clone()).or_default();
        if u.status != DwellingStatus::SOLD {
            s.0 += 1;
        }
        if u.status != DwellingStatus::TENANTED && u.status != DwellingStatus::SOLD {
            s.1 += 1;
        }
        if let (Some(relet), Some(void)) = (u.relet_date, u.void_start_date) {
            f.relet_days.push(f64::from(relet - void));
        }
    }
    for (id, (la, p)) in &placements {
        if exited.contains(id) {
            continue;
        }
        let n = i64::from(p.adults + p.dependants);
        f.ea_people += n;
        if DUBLIN.contains(&la.as_str()) {
            f.ea_dublin += n;
        }
    }
    let cal = StatutoryCalendar::embedded().unwrap();
    for (la, a) in applications.values() {
        let (Some(decision), Some(decided)) = (a.decision, a.decision_date) else {
            continue;
        };
        if !matches!(
            decision,
            Decision::GRANTED
                | Decision::GRANTED_WITH_CONDITIONS
                | Decision::REFUSED
                | Decision::SPLIT
        ) {
            continue;
        }
        // As ingest computes `is_overdue`: the decision day after the statutory due date.
        let due = match a.fi_received_date {
            Some(fi) => cal.decision_due_after_fi(day(fi)),
            None => cal.decision_due(day(a.received_date)),
        };
        let s = f.decided.entry(la.clone()).or_default();
        s.0 += 1;
        if day(decided) <= due {
            s.1 += 1;
        } else {
            f.late_days.push((day(decided) - due).num_days());
        }
        f.fi += u64::from(a.fi_request_date.is_some());
        f.appealed += u64::from(a.appeal_ref_number.is_some());
        let granted = |d: AppealDecision| {
            matches!(
                d,
                AppealDecision::GRANTED | AppealDecision::GRANTED_WITH_CONDITIONS
            )
        };
        if let Some(outcome) = a.appeal_decision {
            if granted(outcome)
                || matches!(outcome, AppealDecision::REFUSED | AppealDecision::SPLIT)
            {
                f.appeals_determined += 1;
                let confirmed = match decision {
                    Decision::GRANTED | Decision::GRANTED_WITH_CONDITIONS => granted(outcome),
                    Decision::REFUSED => outcome == AppealDecision::REFUSED,
                    _ => outcome == AppealDecision::SPLIT,
                };
                f.appeals_confirmed += u64::from(confirmed);
            }
        }
    }
    let _ = epoch_day;
    f
}

fn check(f: &Figures, scale: f64) {
    let cal = calibration();
    let (stock, voids) = f
        .stock
        .values()
        .fold((0, 0), |(s, v), (a, b)| (s + a, v + b));
    let national = voids as f64 / stock as f64;
    let (lo, hi) = range(&cal, "housing", "void_rate_national");
    eprintln!(
        "scale {scale}: {} snapshot + {} stream events; stock {stock}, void rate {national:.4}",
        f.snapshot_events, f.stream_events
    );
    assert!(
        (lo..=hi).contains(&national),
        "national void rate {national}"
    );
    let expected_stock = num(&cal, "housing", "dwellings_total") * scale;
    assert!(
        (stock as f64) > expected_stock * 0.95 && (stock as f64) < expected_stock * 1.10,
        "stock {stock} vs {expected_stock}"
    );
    let max = num(&cal, "housing", "void_rate_max_per_council");
    assert_eq!(f.stock.len(), 31);
    let mut worst = ("", 0.0);
    for (la, (s, v)) in &f.stock {
        // Below ~50 dwellings (Leitrim at scale 0.02 has 20) one void moves the rate by 2+ points.
        if *s < 50 {
            continue;
        }
        let rate = *v as f64 / *s as f64;
        if rate > worst.1 {
            worst = (la, rate);
        }
    }
    eprintln!("  highest council void rate {} {:.4}", worst.0, worst.1);
    assert!(worst.1 <= max, "council void rate {worst:?}");
    let weeks = f.relet_days.iter().sum::<f64>() / f.relet_days.len() as f64 / 7.0;
    let (lo, hi) = range(&cal, "housing", "relet_weeks");
    eprintln!(
        "  average re-letting time {weeks:.1} weeks over {} relets",
        f.relet_days.len()
    );
    assert!((lo..=hi).contains(&weeks), "relet weeks {weeks}");

    let target = num(&cal, "homelessness", "ea_people") * scale;
    let tol = num(&cal, "homelessness", "ea_people_tolerance");
    let share = f.ea_dublin as f64 / f.ea_people as f64;
    eprintln!(
        "  {} people in EA (target {target:.0}), Dublin share {share:.3}",
        f.ea_people
    );
    assert!(
        (f.ea_people as f64 - target).abs() <= tol * target,
        "people in EA {} vs {target}",
        f.ea_people
    );
    let (lo, hi) = range(&cal, "homelessness", "dublin_share");
    assert!((lo..=hi).contains(&share), "Dublin share {share}");

    let (decided, within) = f
        .decided
        .values()
        .fold((0, 0), |(d, w), (a, b)| (d + a, w + b));
    let in_time = within as f64 / decided as f64;
    let mut late = f.late_days.clone();
    late.sort_unstable();
    eprintln!(
        "  planning: {decided} decided, {in_time:.3} within the statutory period, FI {}, appealed {}, late days p50 {} max {}",
        f.fi,
        f.appealed,
        late.get(late.len() / 2).copied().unwrap_or(0),
        late.last().copied().unwrap_or(0)
    );
    let (lo, hi) = range(&cal, "planning", "within_statutory_share_national");
    assert!((lo..=hi).contains(&in_time), "decided in time {in_time}");
    assert!(f.fi as f64 >= num(&cal, "planning", "min_fi_share") * decided as f64);
    assert!(f.appealed as f64 >= num(&cal, "planning", "min_appeal_share") * decided as f64);
    let confirmed = f.appeals_confirmed as f64 / f.appeals_determined.max(1) as f64;
    eprintln!(
        "  appeals: {} determined, {confirmed:.3} confirmed (P2)",
        f.appeals_determined
    );
    let (lo, hi) = range(&cal, "planning", "appeal_confirmed_share_national");
    assert!(
        f.appeals_determined >= 20,
        "{} appeals",
        f.appeals_determined
    );
    assert!(
        (lo..=hi).contains(&confirmed),
        "confirmed on appeal {confirmed}"
    );
    assert!(
        late.last().copied().unwrap_or(0) > 28,
        "a realistic tail of late decisions"
    );
}

/// The demo's default (`infra/demo.sh`): two years of history, then two months of the stream.
#[test]
fn demo_scale_figures_are_within_the_national_ranges() {
    let f = run(42, 0.05, 730, 60);
    check(&f, 0.05);
}

/// Rates and shares do not depend on the scale. (Below ~0.05 the counts are small: at 0.02 the
/// ~150 households in EA make the count's own noise ~8 %, and a council may hold 20 dwellings.)
#[test]
fn figures_are_scale_independent() {
    for (seed, scale) in [(7, 0.1), (8, 0.25)] {
        let f = run(seed, scale, 365, 30);
        check(&f, scale);
    }
}
