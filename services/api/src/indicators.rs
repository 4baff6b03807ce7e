//! Council performance indicators (NOAC style): `GET /v1/indicators` and
//! `GET /v1/indicators/definitions`.
//!
//! The definitions and their SQL are data (`schemas/reference/indicators.toml`, loaded by
//! `lgma_domain::indicators`). Each indicator's query gives every council's numerator and
//! denominator for the period; regions and the country are sums over their councils, so every
//! level is computed the same way. The answer is open data: small counts are suppressed with
//! `suppression::suppress` on a council × region table of the counts behind each indicator
//! (primary and complementary, so a hidden council cannot be derived from its region's or the
//! country's figures), whatever the caller's role.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use lgma_domain::indicators::{Indicator, Indicators, Period, Suppression};
use lgma_domain::LocalAuthority;
use serde_json::{json, Map, Value};

use crate::output::{cell_text, csv_response};
use crate::params::{Format, Raw};
use crate::state::AppState;
use crate::suppression::{suppress, Reason};
use crate::{Error, Result};

/// Per-council numerator and denominator of one indicator.
pub type Sums = BTreeMap<String, (f64, f64)>;

/// One published figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub level: &'static str,
    pub area: String,
    pub name: String,
    pub homeless_region: Option<String>,
    pub indicator: String,
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub suppressed: Option<Reason>,
}

impl Figure {
    fn json(&self) -> Value {
        json!({
            "level": self.level,
            "area": self.area,
            "name": self.name,
            "homeless_region": self.homeless_region,
            "indicator": self.indicator,
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "suppressed": self.suppressed,
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The counts suppression protects for one council (or area): none, the denominator, or the
/// numerator and the rest of the denominator.
fn protected_counts(rule: Suppression, num: f64, den: f64) -> Vec<u64> {
    let count = |x: f64| x.max(0.0).round() as u64;
    match rule {
        Suppression::None => Vec::new(),
        Suppression::Denominator => vec![count(den)],
        Suppression::Split => vec![count(num), count(den - num)],
    }
}

/// Hidden wins over complementary: a primary cell is reported as primary.
fn worse(a: Option<Reason>, b: Option<Reason>) -> Option<Reason> {
    match (a, b) {
        (Some(Reason::Primary), _) | (_, Some(Reason::Primary)) => Some(Reason::Primary),
        (Some(r), _) | (_, Some(r)) => Some(r),
        _ => None,
    }
}

/// Every council's, region's and the country's figure of one indicator, suppressed.
pub fn figures(
    indicator: &Indicator,
    councils: &[LocalAuthority],
    sums: &Sums,
    threshold: u64,
) -> Vec<Figure> {
    let mut regions: Vec<&str> = councils
        .iter()
        .map(|la| la.homeless_region.as_str())
        .collect();
    regions.sort_unstable();
    regions.dedup();
    let region_of = |la: &LocalAuthority| {
        regions
            .iter()
            .position(|r| *r == la.homeless_region)
            .unwrap_or(0)
    };
    let get = |code: &str| sums.get(code).copied().unwrap_or((0.0, 0.0));
    let categories = protected_counts(indicator.suppression, 0.0, 0.0).len();

    // Council × (region × category) counts: a council's counts sit in its region's columns, so the
    // column totals are the regions' counts and the grand total the country's.
    let grid: Vec<Vec<u64>> = councils
        .iter()
        .map(|la| {
            let (num, den) = get(&la.la_code);
            let mut row = vec![0; regions.len() * categories];
            for (k, c) in protected_counts(indicator.suppression, num, den)
                .into_iter()
                .enumerate()
            {
                row[region_of(la) * categories + k] = c;
            }
            row
        })
        .collect();
    let out = (categories > 0).then(|| suppress(&grid, threshold.max(1)));
    let reason_at = |r: usize, c: usize| {
        out.as_ref()
            .and_then(|o| o.reasons.get(r).and_then(|row| row.get(c)).copied())
            .flatten()
    };

    let figure = |level: &'static str,
                  area: String,
                  name: String,
                  region: Option<String>,
                  (num, den): (f64, f64),
                  hidden: Option<Reason>| {
        let shown = hidden.is_none();
        Figure {
            level,
            area,
            name,
            homeless_region: region,
            indicator: indicator.code.clone(),
            value: indicator.value(num, den).filter(|_| shown).map(round2),
            numerator: shown.then_some(round2(num)),
            denominator: shown.then_some(round2(den)),
            suppressed: hidden,
        }
    };

    let mut list = Vec::with_capacity(councils.len() + regions.len() + 1);
    for (i, la) in councils.iter().enumerate() {
        let r = region_of(la);
        let mut hidden = (0..categories)
            .map(|k| reason_at(i, r * categories + k))
            .fold(None, worse);
        // The council's own total (its row total) too.
        hidden = worse(hidden, reason_at(i, regions.len() * categories));
        list.push(figure(
            "council",
            la.la_code.clone(),
            la.official_name.clone(),
            Some(la.homeless_region.clone()),
            get(&la.la_code),
            hidden,
        ));
    }
    let totals_row = councils.len();
    for (r, region) in regions.iter().enumerate() {
        let sum = councils
            .iter()
            .filter(|la| la.homeless_region == *region)
            .map(|la| get(&la.la_code))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        let hidden = (0..categories)
            .map(|k| reason_at(totals_row, r * categories + k))
            .fold(None, worse);
        list.push(figure(
            "region",
            region.to_string(),
            format!("{region} region"),
            Some(region.to_string()),
            sum,
            hidden,
        ));
    }
    let national = councils
        .iter()
        .map(|la| get(&la.la_code))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    // The country's own counts: small ones are hidden like any other.
    let small = protected_counts(indicator.suppression, national.0, national.1)
        .iter()
        .any(|&c| c > 0 && c < threshold);
    let hidden = worse(
        small.then_some(Reason::Primary),
        reason_at(totals_row, regions.len() * categories),
    );
    list.push(figure(
        "country",
        "IE".into(),
        "Ireland".into(),
        None,
        national,
        hidden,
    ));
    list
}

/// Reads one indicator's per-council sums for `period`.
async fn sums(
    state: &AppState,
    indicator: &Indicator,
    period: Period,
    today: NaiveDate,
) -> Result<Sums> {
    let built = indicator.build(period, today)?;
    let mut q = state.db.reader.query(&built.sql);
    for b in built.binds {
        q = q.bind(b);
    }
    let table = state.db.table(q).await?;
    let number = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    let mut out = Sums::new();
    for row in table.rows {
        let Some(code) = row.get("la_code").and_then(Value::as_str) else {
            continue;
        };
        let e = out.entry(code.to_string()).or_insert((0.0, 0.0));
        e.0 += number(row.get("numerator"));
        e.1 += number(row.get("denominator"));
    }
    Ok(out)
}

/// An indicator's definition as the API shows it (the SQL stays in the repository file).
pub fn definition(i: &Indicator) -> Value {
    json!({
        "code": i.code,
        "title": i.title,
        "area": i.area,
        "unit": i.unit,
        "grain": i.grain,
        "numerator": i.numerator,
        "denominator": i.denominator,
        "value": format!("{} × numerator / denominator", i.scale),
        "sources": i.sources.iter().map(|s| format!("lgma.{s}")).collect::<Vec<_>>(),
        "suppression": i.suppression,
        "band": i.band,
        "targets": i.targets.iter().map(|t| json!({"year": t.year, "value": t.value, "label": t.label})).collect::<Vec<_>>(),
    })
}

fn suppression_note(threshold: u64) -> Value {
    json!({
        "threshold": threshold,
        "method": format!(
            "Per indicator, the counts behind it (denominators; for counts of people also the numerator and the rest of the denominator) form a council × region table whose column totals are the regions and whose grand total is the country. Counts from 1 to {} are suppressed (primary), then complementary cells until none can be derived from the totals. A suppressed figure has value, numerator and denominator null and says why in `suppressed`. Zeros are published.",
            threshold.saturating_sub(1)
        ),
    })
}

/// `GET /v1/indicators/definitions`.
pub async fn definitions(State(state): State<AppState>, raw: Raw) -> Result<Response> {
    raw.validate(&[], &state.councils, state.paging())?;
    let all = &state.indicators;
    Ok(Json(json!({
        "version": all.version,
        "source": "schemas/reference/indicators.toml",
        "indicators": all.indicators.iter().map(definition).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET /v1/indicators?year=&quarter=&la_code=`: every indicator for every council (or one council),
/// the regions (or its region) and the country, for a year or a quarter (default: this year so far).
pub async fn handle(State(state): State<AppState>, raw: Raw) -> Result<Response> {
    let params = raw.validate(
        &["la_code", "year", "quarter"],
        &state.councils,
        state.paging(),
    )?;
    let today = chrono::Utc::now().date_naive();
    let year = params
        .year
        .unwrap_or_else(|| Period::containing(today, false).year);
    let period = Period::new(year, params.quarter)
        .ok_or_else(|| Error::bad("year", "expected a year, 2000 to 2100"))?;
    if period.start() > today {
        return Err(Error::bad("year", "the period has not started yet"));
    }
    let threshold = state.settings.suppression_threshold;
    let councils = state.councils.all();
    let all: &Indicators = &state.indicators;
    let mut rows = Vec::new();
    for indicator in &all.indicators {
        let s = sums(&state, indicator, period, today).await?;
        rows.extend(figures(indicator, councils, &s, threshold));
    }
    if let Some(code) = &params.la_code {
        let region = councils
            .iter()
            .find(|la| &la.la_code == code)
            .map(|la| la.homeless_region.clone());
        rows.retain(|f| match f.level {
            "council" => &f.area == code,
            "region" => Some(&f.area) == region.as_ref(),
            _ => true,
        });
    }
    let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let last_day = period.end().pred_opt().unwrap_or(period.end());
    if params.format == Format::Csv {
        let header: Vec<String> = [
            "period",
            "level",
            "area",
            "name",
            "homeless_region",
            "indicator",
            "value",
            "numerator",
            "denominator",
            "suppressed",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let lines: Vec<Vec<String>> = rows
            .iter()
            .map(|f| {
                let j = f.json();
                let mut line = vec![period.label()];
                line.extend(header[1..].iter().map(|h| cell_text(j.get(h.as_str()))));
                line
            })
            .collect();
        return csv_response(&header, &lines);
    }
    let mut body = Map::new();
    body.insert("endpoint".into(), "/v1/indicators".into());
    body.insert("version".into(), all.version.clone().into());
    body.insert(
        "period".into(),
        json!({
            "label": period.label(),
            "year": period.year,
            "quarter": period.quarter,
            "start": fmt(period.start()),
            "end": fmt(last_day),
            "as_of": fmt(period.as_of(today)),
            "complete": period.end() <= today,
        }),
    );
    body.insert("suppression".into(), suppression_note(threshold));
    body.insert(
        "indicators".into(),
        all.indicators.iter().map(definition).collect(),
    );
    body.insert(
        "data".into(),
        rows.iter().map(Figure::json).collect::<Vec<_>>().into(),
    );
    Ok(Json(Value::Object(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lgma_domain::LocalAuthorities;

    fn setup() -> (Indicators, LocalAuthorities) {
        (
            Indicators::embedded().expect("indicators"),
            LocalAuthorities::embedded().expect("councils"),
        )
    }

    fn all_sums(councils: &LocalAuthorities, num: f64, den: f64) -> Sums {
        councils
            .all()
            .iter()
            .map(|la| (la.la_code.clone(), (num, den)))
            .collect()
    }

    #[test]
    fn every_level_sums_its_councils() {
        let (ind, las) = setup();
        let h2 = ind.get("H2").expect("H2");
        let figs = figures(h2, las.all(), &all_sums(&las, 4.0, 100.0), 10);
        assert_eq!(figs.iter().filter(|f| f.level == "council").count(), 31);
        assert_eq!(figs.iter().filter(|f| f.level == "region").count(), 9);
        let country = figs.iter().find(|f| f.level == "country").expect("country");
        assert_eq!(country.value, Some(4.0));
        assert_eq!(country.denominator, Some(3100.0));
        assert!(figs.iter().all(|f| f.suppressed.is_none()));
    }

    #[test]
    fn a_small_council_is_hidden_and_cannot_be_derived_from_its_region() {
        let (ind, las) = setup();
        let p2 = ind.get("P2").expect("P2");
        let mut sums = all_sums(&las, 30.0, 40.0);
        sums.insert("LM".into(), (2.0, 3.0)); // Leitrim: 3 appeals
        let figs = figures(p2, las.all(), &sums, 10);
        let lm = figs.iter().find(|f| f.area == "LM").expect("LM");
        assert_eq!(lm.suppressed, Some(Reason::Primary));
        assert_eq!((lm.value, lm.numerator, lm.denominator), (None, None, None));
        // Another council of the North-West region is hidden too (complementary).
        let region = lm.homeless_region.clone().expect("region");
        let others: Vec<_> = figs
            .iter()
            .filter(|f| {
                f.level == "council"
                    && f.homeless_region.as_ref() == Some(&region)
                    && f.area != "LM"
            })
            .collect();
        assert!(
            others
                .iter()
                .any(|f| f.suppressed == Some(Reason::Complementary)),
            "{others:?}"
        );
        // No published figure rests on fewer than 10 cases.
        for f in &figs {
            if let Some(d) = f.denominator {
                assert!(d == 0.0 || d >= 10.0, "{f:?}");
            }
        }
    }

    #[test]
    fn people_counts_protect_the_numerator_too() {
        let (ind, las) = setup();
        let h6 = ind.get("H6").expect("H6");
        let mut sums = all_sums(&las, 50.0, 100.0);
        sums.insert("DC".into(), (3.0, 200.0)); // 3 long-term adults among 200
        let figs = figures(h6, las.all(), &sums, 10);
        let dc = figs.iter().find(|f| f.area == "DC").expect("DC");
        assert_eq!(dc.suppressed, Some(Reason::Primary));
        assert!(dc.value.is_none());
    }

    #[test]
    fn tonnes_are_never_suppressed_and_no_data_is_not_a_figure() {
        let (ind, las) = setup();
        let w = ind.get("W_RECYCLING").expect("W");
        let mut sums = all_sums(&las, 4.0, 10.0);
        sums.remove("DC");
        let figs = figures(w, las.all(), &sums, 10);
        assert!(figs.iter().all(|f| f.suppressed.is_none()));
        let dc = figs.iter().find(|f| f.area == "DC").expect("DC");
        assert_eq!((dc.value, dc.denominator), (None, Some(0.0)));
        let lm = figs.iter().find(|f| f.area == "LM").expect("LM");
        assert_eq!(lm.value, Some(40.0));
    }
}
