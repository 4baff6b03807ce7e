//! Typed, validated query parameters.
//!
//! Every endpoint names the parameters it accepts; anything else, anything repeated and anything
//! malformed is a 400 naming the parameter. Values that reach SQL are only ever these validated
//! forms, and they are still passed with `.bind()` (client-side escaping), never spliced.

use std::collections::HashSet;

use axum::extract::FromRequestParts;
use axum::http::header::ACCEPT;
use axum::http::request::Parts;
use chrono::NaiveDate;
use lgma_domain::LocalAuthorities;

use crate::{Error, Result};

/// The raw query string pairs plus the Accept header; validated by [`Raw::validate`].
#[derive(Debug, Clone)]
pub struct Raw {
    pairs: Vec<(String, String)>,
    accepts_csv: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Raw {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
                .map(|q| q.0)
                .map_err(|_| {
                    Error::bad("query", format!("not a valid query string: {query:.80}"))
                })?;
        let accepts_csv = parts
            .headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
        Ok(Raw { pairs, accepts_csv })
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn parse(param: &str, s: &str) -> Result<Self> {
        let bad = || Error::bad(param, "expected a month as YYYY-MM, e.g. 2024-05");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(2000..=2100).contains(&year) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// First day of the month, as the `YYYY-MM-DD` text ClickHouse compares with `Date` columns.
    pub fn first_day(self) -> String {
        format!("{:04}-{:02}-01", self.year, self.month)
    }

    pub fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Validated parameters of one request. Unset = no filter.
#[derive(Debug, Clone)]
pub struct Params {
    pub la_code: Option<String>,
    pub region: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<Month>,
    pub to: Option<Month>,
    /// A calendar year (`year=2024`; the indicators' period).
    pub year: Option<i32>,
    /// A quarter of `year` (`quarter=1`..`4`).
    pub quarter: Option<u32>,
    pub limit: u32,
    pub offset: u64,
    pub format: Format,
}

/// Limits that come from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub default_limit: u32,
    pub max_limit: u32,
}

/// Parameters every data endpoint understands.
pub const COMMON: &[&str] = &["format", "limit", "offset"];

impl Raw {
    /// Validates against the names `allowed` (plus [`COMMON`]).
    pub fn validate(
        &self,
        allowed: &[&str],
        councils: &LocalAuthorities,
        paging: Paging,
    ) -> Result<Params> {
        let mut seen = HashSet::new();
        let mut p = Params {
            la_code: None,
            region: None,
            entity_id: None,
            from: None,
            to: None,
            year: None,
            quarter: None,
            limit: paging.default_limit,
            offset: 0,
            format: if self.accepts_csv {
                Format::Csv
            } else {
                Format::Json
            },
        };
        for (name, value) in &self.pairs {
            if !allowed.contains(&name.as_str()) && !COMMON.contains(&name.as_str()) {
                let mut known: Vec<&str> = allowed.iter().chain(COMMON).copied().collect();
                known.sort_unstable();
                return Err(Error::bad(
                    truncate(name),
                    format!("unknown parameter; accepted: {}", known.join(", ")),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(Error::bad(name, "given more than once"));
            }
            match name.as_str() {
                "la_code" => {
                    let la = councils.by_code(value).ok_or_else(|| {
                        Error::bad("la_code", "not a council code (see /v1/councils)")
                    })?;
                    p.la_code = Some(la.la_code.clone());
                }
                "region" => {
                    let region = councils
                        .all()
                        .iter()
                        .map(|la| la.homeless_region.as_str())
                        .find(|r| *r == value)
                        .ok_or_else(|| {
                            Error::bad("region", "not a homelessness region (see /v1/councils)")
                        })?;
                    p.region = Some(region.to_string());
                }
                "entity_id" => {
                    // Bound as a value, never spliced; the bound keeps it to one id.
                    if value.is_empty()
                        || value.chars().count() > 128
                        || value.chars().any(char::is_control)
                    {
                        return Err(Error::bad(
                            "entity_id",
                            "expected 1 to 128 characters, no control characters",
                        ));
                    }
                    p.entity_id = Some(value.clone());
                }
                "period" => {
                    let m = Month::parse("period", value)?;
                    p.from = Some(m);
                    p.to = Some(m);
                }
                "year" => {
                    p.year = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|y| (2000..=2100).contains(y) && value.len() == 4)
                            .ok_or_else(|| Error::bad("year", "expected a year, 2000 to 2100"))?,
                    );
                }
                "quarter" => {
                    p.quarter = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|q| (1..=4).contains(q) && value.len() == 1)
                            .ok_or_else(|| Error::bad("quarter", "expected 1, 2, 3 or 4"))?,
                    );
                }
                "from" => p.from = Some(Month::parse("from", value)?),
                "to" => p.to = Some(Month::parse("to", value)?),
                "limit" => {
                    let n: u32 = value
                        .parse()
                        .map_err(|_| Error::bad("limit", "expected a whole number"))?;
                    if n == 0 || n > paging.max_limit {
                        return Err(Error::bad(
                            "limit",
                            format!("must be between 1 and {}", paging.max_limit),
                        ));
                    }
                    p.limit = n;
                }
                "offset" => {
                    p.offset = value
                        .parse()
                        .ok()
                        .filter(|n| *n <= 10_000_000)
                        .ok_or_else(|| Error::bad("offset", "expected 0..=10000000"))?;
                }
                "format" => {
                    p.format = match value.as_str() {
                        "json" => Format::Json,
                        "csv" => Format::Csv,
                        _ => return Err(Error::bad("format", "expected json or csv")),
                    }
                }
                _ => {}
            }
        }
        if seen.contains("period") && (seen.contains("from") || seen.contains("to")) {
            return Err(Error::bad(
                "period",
                "give either period or from/to, not both",
            ));
        }
        if let (Some(f), Some(t)) = (p.from, p.to) {
            if f > t {
                return Err(Error::bad("from", "must not be after `to`"));
            }
        }
        Ok(p)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> Raw {
        Raw {
            pairs: pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            accepts_csv: false,
        }
    }
    const PAGING: Paging = Paging {
        default_limit: 100,
        max_limit: 1000,
    };
    const ALL: &[&str] = &[
        "la_code",
        "region",
        "entity_id",
        "period",
        "from",
        "to",
        "year",
        "quarter",
    ];

    fn check(pairs: &[(&str, &str)]) -> Result<Params> {
        let councils = LocalAuthorities::embedded().expect("reference");
        raw(pairs).validate(ALL, &councils, PAGING)
    }

    #[test]
    fn good_parameters() {
        let p = check(&[
            ("la_code", "DC"),
            ("period", "2024-05"),
            ("limit", "5"),
            ("format", "csv"),
        ])
        .expect("valid");
        assert_eq!(p.la_code.as_deref(), Some("DC"));
        assert_eq!(
            p.from,
            Some(Month {
                year: 2024,
                month: 5
            })
        );
        assert_eq!(p.to, p.from);
        assert_eq!(p.limit, 5);
        assert_eq!(p.format, Format::Csv);
        let p = check(&[("region", "Dublin"), ("from", "2024-01"), ("to", "2024-03")]).expect("ok");
        assert_eq!(p.region.as_deref(), Some("Dublin"));
        assert_eq!(p.from.map(Month::first_day).as_deref(), Some("2024-01-01"));
        let p = check(&[("year", "2024"), ("quarter", "2")]).expect("year and quarter");
        assert_eq!((p.year, p.quarter), (Some(2024), Some(2)));
        let p = check(&[("entity_id", "PA-2024/0173 'x'")]).expect("any printable id");
        assert_eq!(p.entity_id.as_deref(), Some("PA-2024/0173 'x'"));
    }

    #[test]
    fn bad_parameters_name_the_parameter() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("la_code", "DC' OR 1=1 --")], "la_code"),
            (&[("la_code", "dc")], "la_code"),
            (&[("region", "Dublin; DROP TABLE x")], "region"),
            (&[("period", "2024-13")], "period"),
            (&[("period", "2024-5")], "period"),
            (&[("period", "24-05")], "period"),
            (&[("period", "2024-05' --")], "period"),
            (&[("limit", "0")], "limit"),
            (&[("limit", "1001")], "limit"),
            (&[("limit", "-1")], "limit"),
            (&[("offset", "1e9")], "offset"),
            (&[("format", "xml")], "format"),
            (&[("la_code", "DC"), ("la_code", "CK")], "la_code"),
            (&[("from", "2024-05"), ("to", "2024-01")], "from"),
            (&[("period", "2024-05"), ("from", "2024-01")], "period"),
            (&[("sql", "select 1")], "sql"),
            (&[("entity_id", "")], "entity_id"),
            (&[("year", "1999")], "year"),
            (&[("year", "+2024")], "year"),
            (&[("year", "2024 OR 1=1")], "year"),
            (&[("quarter", "0")], "quarter"),
            (&[("quarter", "5")], "quarter"),
            (&[("quarter", "+1")], "quarter"),
            (&[("entity_id", "a\u{0}b")], "entity_id"),
            (&[("entity_id", &"x".repeat(129))], "entity_id"),
        ];
        for (pairs, param) in cases {
            match check(pairs) {
                Err(Error::BadParam { param: p, .. }) => assert_eq!(&p, param, "{pairs:?}"),
                other => panic!("{pairs:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn only_allowed_names() {
        let councils = LocalAuthorities::embedded().expect("reference");
        let err = raw(&[("la_code", "DC")])
            .validate(&["period"], &councils, PAGING)
            .expect_err("la_code not allowed here");
        assert!(err.to_string().contains("unknown parameter"));
    }
}
