//! Council performance indicators (NOAC style): their definitions as data.
//!
//! `schemas/reference/indicators.toml` is compiled in; it holds, per indicator, what it means (title,
//! unit, numerator, denominator, grain, sources), how it is protected (suppression), its plausibility
//! band (`../shared/domain.md` §7) and the SQL that computes its per-council numerator and
//! denominator for one period. This module loads and checks the file and builds each query for a
//! period: the period's dates are bound values (`?`, client-side escaped by the `clickhouse`
//! crate), the indicator's own integer parameters are literals from the file; nothing else is ever
//! spliced in.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const INDICATORS_TOML: &str = include_str!("../../../schemas/reference/indicators.toml");

/// Placeholders that become a bound `toDate(?)`.
const DATE_PLACEHOLDERS: &[&str] = &["start", "end", "as_of"];

/// All indicator definitions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Indicators {
    pub version: String,
    #[serde(rename = "indicator")]
    pub indicators: Vec<Indicator>,
}

/// How small counts behind an indicator are protected in the API's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// The denominators are counts of cases: a figure resting on a small count is hidden.
    Denominator,
    /// Counts of people: the numerator and the rest of the denominator are both protected.
    Split,
    /// Not a count of cases (e.g. tonnes): never hidden.
    None,
}

/// A line on the dashboard (e.g. an EU target).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub year: i32,
    pub value: f64,
    pub label: String,
}

/// One indicator.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub code: String,
    pub title: String,
    pub area: String,
    pub unit: String,
    /// Value = scale × Σ numerator / Σ denominator.
    pub scale: f64,
    pub grain: String,
    pub numerator: String,
    pub denominator: String,
    /// ClickHouse tables (in database `lgma`) the SQL reads.
    pub sources: Vec<String>,
    pub suppression: Suppression,
    /// Plausibility band from domain.md §7, in the indicator's unit.
    pub band: [f64; 2],
    #[serde(default)]
    pub params: BTreeMap<String, i64>,
    pub sql: String,
    #[serde(default, rename = "target")]
    pub targets: Vec<Target>,
}

/// A reporting period: a calendar year, or one quarter of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub quarter: Option<u32>,
}

impl Period {
    /// Checks the year (2000..=2100) and quarter (1..=4).
    pub fn new(year: i32, quarter: Option<u32>) -> Option<Self> {
        let ok = (2000..=2100).contains(&year) && quarter.is_none_or(|q| (1..=4).contains(&q));
        ok.then_some(Period { year, quarter })
    }

    /// First day of the period.
    pub fn start(self) -> NaiveDate {
        let month = self.quarter.map_or(1, |q| 3 * (q - 1) + 1);
        NaiveDate::from_ymd_opt(self.year, month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// First day after the period.
    pub fn end(self) -> NaiveDate {
        let months = if self.quarter.is_some() { 3 } else { 12 };
        self.start()
            .checked_add_months(Months::new(months))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The day stock figures are taken on: the period's last day, or `today` while it runs.
    pub fn as_of(self, today: NaiveDate) -> NaiveDate {
        let last = self
            .end()
            .checked_sub_days(Days::new(1))
            .unwrap_or(NaiveDate::MIN);
        last.min(today)
    }

    /// `2024` or `2024-Q2`.
    pub fn label(self) -> String {
        match self.quarter {
            Some(q) => format!("{}-Q{q}", self.year),
            None => self.year.to_string(),
        }
    }

    /// The period holding `day` (year, or year and quarter).
    pub fn containing(day: NaiveDate, by_quarter: bool) -> Self {
        Period {
            year: day.year(),
            quarter: by_quarter.then(|| (day.month() - 1) / 3 + 1),
        }
    }
}

/// One indicator's query for one period: SQL with `?` placeholders and the values to bind in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltQuery {
    pub sql: String,
    pub binds: Vec<String>,
}

impl Indicators {
    /// The compiled-in definitions, checked.
    pub fn embedded() -> Result<Self> {
        Self::parse(INDICATORS_TOML)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let err = |reason: String| Error::Reference {
            what: "indicators.toml",
            reason,
        };
        let parsed: Indicators = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        if parsed.indicators.is_empty() {
            return Err(err("no [[indicator]]".into()));
        }
        let mut codes = std::collections::HashSet::new();
        for i in &parsed.indicators {
            let fail = |why: &str| err(format!("indicator {}: {why}", i.code));
            if i.code.is_empty()
                || !i
                    .code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(fail("code must be A-Z, 0-9 and _"));
            }
            if !codes.insert(i.code.clone()) {
                return Err(fail("code given twice"));
            }
            if i.band[0].partial_cmp(&i.band[1]) != Some(std::cmp::Ordering::Less) {
                return Err(fail("band must be [low, high] with low < high"));
            }
            if i.scale.is_nan() || i.scale <= 0.0 {
                return Err(fail("scale must be positive"));
            }
            if i.sources.is_empty() {
                return Err(fail("no sources"));
            }
            for s in &i.sources {
                if !i.sql.contains(&format!("lgma.{s}")) {
                    return Err(fail(&format!("sql does not read its source lgma.{s}")));
                }
            }
            for column in ["la_code", "numerator", "denominator"] {
                if !i.sql.contains(column) {
                    return Err(fail(&format!("sql has no column {column}")));
                }
            }
            if i.sql.contains('?') {
                return Err(fail("sql must not contain `?` (placeholders are {name})"));
            }
            // Every placeholder must be known: building once proves it.
            let period = Period {
                year: 2024,
                quarter: None,
            };
            i.build(period, period.end())
                .map_err(|e| fail(&e.to_string()))?;
        }
        Ok(parsed)
    }

    pub fn get(&self, code: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.code == code)
    }
}

impl Indicator {
    /// The SQL for `period` (stock figures taken on `period.as_of(today)`).
    pub fn build(&self, period: Period, today: NaiveDate) -> Result<BuiltQuery> {
        let bad = |reason: String| Error::Reference {
            what: "indicators.toml",
            reason: format!("indicator {}: {reason}", self.code),
        };
        let dates: BTreeMap<&str, String> = [
            ("start", period.start()),
            ("end", period.end()),
            ("as_of", period.as_of(today)),
        ]
        .into_iter()
        .map(|(k, d)| (k, d.format("%Y-%m-%d").to_string()))
        .collect();
        let mut sql = String::with_capacity(self.sql.len() + 64);
        let mut binds = Vec::new();
        let mut rest = self.sql.as_str();
        while let Some(open) = rest.find('{') {
            sql.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| bad("unclosed `{` in sql".into()))?;
            let name = &after[..close];
            if let Some(value) = dates.get(name) {
                debug_assert!(DATE_PLACEHOLDERS.contains(&name));
                sql.push_str("toDate(?)");
                binds.push(value.clone());
            } else if let Some(n) = self.params.get(name) {
                sql.push_str(&n.to_string());
            } else {
                return Err(bad(format!(
                    "unknown placeholder {{{}}}",
                    name.chars().take(40).collect::<String>()
                )));
            }
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(bad("stray `}` in sql".into()));
        }
        sql.push_str(rest);
        Ok(BuiltQuery {
            sql: sql.trim().to_string(),
            binds,
        })
    }

    /// `value = scale × numerator / denominator`, `None` over nothing.
    pub fn value(&self, numerator: f64, denominator: f64) -> Option<f64> {
        (denominator > 0.0 && numerator.is_finite()).then(|| self.scale * numerator / denominator)
    }

    /// Whether `value` lies in the plausibility band.
    pub fn in_band(&self, value: f64) -> bool {
        self.band[0] <= value && value <= self.band[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn the_file_loads_with_every_required_indicator() {
        let all = Indicators::embedded().expect("indicators.toml loads");
        for code in [
            "H2",
            "H3_TIME",
            "H3_COST",
            "H6",
            "P2",
            "P_STATUTORY",
            "W_RECYCLING",
        ] {
            let i = all.get(code).unwrap_or_else(|| panic!("{code} missing"));
            assert!(!i.title.is_empty() && !i.numerator.is_empty() && !i.denominator.is_empty());
        }
        let recycling = all.get("W_RECYCLING").expect("recycling");
        let targets: Vec<(i32, f64)> = recycling
            .targets
            .iter()
            .map(|t| (t.year, t.value))
            .collect();
        assert_eq!(targets, vec![(2025, 55.0), (2030, 60.0), (2035, 65.0)]);
        assert_eq!(
            all.get("H6").map(|i| i.suppression),
            Some(Suppression::Split)
        );
    }

    #[test]
    fn bands_are_domain_md_section_7() {
        let all = Indicators::embedded().expect("loads");
        let band = |c: &str| all.get(c).map(|i| i.band).expect("indicator");
        assert_eq!(band("H2"), [1.0, 8.0]);
        assert_eq!(band("H3_TIME"), [8.0, 80.0]);
        assert_eq!(band("H3_COST"), [5_000.0, 60_000.0]);
        assert_eq!(band("H6"), [30.0, 75.0]);
        assert_eq!(band("P2"), [50.0, 90.0]);
        assert_eq!(band("P_STATUTORY"), [60.0, 99.0]);
        assert_eq!(band("W_RECYCLING"), [25.0, 60.0]);
    }

    #[test]
    fn periods() {
        let q2 = Period::new(2024, Some(2)).expect("valid");
        assert_eq!(q2.start(), day(2024, 4, 1));
        assert_eq!(q2.end(), day(2024, 7, 1));
        assert_eq!(q2.as_of(day(2026, 1, 1)), day(2024, 6, 30));
        assert_eq!(q2.as_of(day(2024, 5, 9)), day(2024, 5, 9));
        assert_eq!(q2.label(), "2024-Q2");
        let y = Period::new(2025, None).expect("valid");
        assert_eq!((y.start(), y.end()), (day(2025, 1, 1), day(2026, 1, 1)));
        assert_eq!(y.label(), "2025");
        let q4 = Period::new(2025, Some(4)).expect("valid");
        assert_eq!(q4.end(), day(2026, 1, 1));
        assert!(Period::new(1999, None).is_none());
        assert!(Period::new(2024, Some(0)).is_none());
        assert!(Period::new(2024, Some(5)).is_none());
        assert_eq!(
            Period::containing(day(2026, 12, 4), true),
            Period {
                year: 2026,
                quarter: Some(4)
            }
        );
    }

    #[test]
    fn sql_binds_dates_in_order_and_writes_params_as_literals() {
        let all = Indicators::embedded().expect("loads");
        let h6 = all.get("H6").expect("H6");
        let q = h6
            .build(Period::new(2024, Some(1)).expect("p"), day(2030, 1, 1))
            .expect("builds");
        assert!(!q.sql.contains('{') && !q.sql.contains('}'));
        assert_eq!(q.sql.matches('?').count(), q.binds.len());
        assert!(q.binds.iter().all(|b| b == "2024-03-31"), "{:?}", q.binds);
        assert!(q.sql.contains(">= 183") && q.sql.contains("(365 - 1)"));
        let p2 = all.get("P2").expect("P2");
        let q = p2
            .build(Period::new(2024, Some(1)).expect("p"), day(2030, 1, 1))
            .expect("builds");
        assert_eq!(
            q.binds,
            vec!["2024-01-01", "2024-04-01"],
            "start before end in the text"
        );
        for i in &all.indicators {
            let q = i
                .build(Period::new(2026, None).expect("p"), day(2026, 12, 4))
                .expect("builds");
            assert_eq!(q.sql.matches('?').count(), q.binds.len(), "{}", i.code);
            assert!(q.sql.starts_with("SELECT"), "{}", i.code);
        }
    }

    #[test]
    fn bad_definitions_are_refused() {
        let base = |sql: &str| {
            format!(
                "version = \"t\"\n[[indicator]]\ncode = \"X1\"\ntitle = \"t\"\narea = \"a\"\nunit = \"%\"\nscale = 100.0\ngrain = \"g\"\nnumerator = \"n\"\ndenominator = \"d\"\nsources = [\"t\"]\nsuppression = \"denominator\"\nband = [1.0, 2.0]\nsql = \"{sql}\"\n"
            )
        };
        let good = "SELECT la_code, 1 AS numerator, 2 AS denominator FROM lgma.t WHERE d < {end}";
        assert!(Indicators::parse(&base(good)).is_ok());
        for bad in [
            "SELECT la_code, 1 AS numerator, 2 AS denominator FROM lgma.t WHERE d < {nope}",
            "SELECT la_code, 1 AS numerator, 2 AS denominator FROM lgma.t WHERE d < {end",
            "SELECT la_code, 1 AS numerator, 2 AS denominator FROM lgma.t WHERE d = ?",
            "SELECT la_code, 1 AS numerator, 2 AS denominator FROM lgma.other",
            "SELECT la_code, 1 AS numerator FROM lgma.t",
        ] {
            assert!(Indicators::parse(&base(bad)).is_err(), "{bad}");
        }
        let unknown_key = base(good).replace("area = \"a\"", "area = \"a\"\ncolour = \"red\"");
        assert!(Indicators::parse(&unknown_key).is_err());
    }

    #[test]
    fn values() {
        let all = Indicators::embedded().expect("loads");
        let h2 = all.get("H2").expect("H2");
        assert_eq!(h2.value(3.0, 100.0), Some(3.0));
        assert_eq!(h2.value(3.0, 0.0), None);
        assert!(h2.in_band(3.0) && !h2.in_band(9.0));
    }
}
