//! Reference data: the 31 local authorities and the statutory planning calendar.
//!
//! Both files live in `schemas/reference/` and are compiled in, so every service sees the same
//! version; the migrations load the same CSV into ClickHouse.

use std::collections::HashMap;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Deserialize;

use crate::{Error, Result};

pub const LOCAL_AUTHORITIES_CSV: &str =
    include_str!("../../../schemas/reference/local_authorities.csv");
pub const STATUTORY_CALENDAR_TOML: &str =
    include_str!("../../../schemas/reference/statutory_calendar.toml");

/// The CSO Census 2022 State total the populations must sum to.
pub const STATE_POPULATION_2022: u64 = 5_149_139;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LocalAuthority {
    pub la_code: String,
    pub official_name: String,
    pub la_type: String,
    pub homeless_region: String,
    pub nuts3_code: String,
    pub nuts3_name: String,
    pub population_2022: u64,
    #[serde(deserialize_with = "split_aliases")]
    pub aliases: Vec<String>,
}

fn split_aliases<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw
        .split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// The councils, indexed by code and by every normalised spelling of their name.
#[derive(Debug, Clone)]
pub struct LocalAuthorities {
    all: Vec<LocalAuthority>,
    by_code: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl LocalAuthorities {
    /// The compiled-in reference list.
    pub fn embedded() -> Result<Self> {
        Self::from_csv(LOCAL_AUTHORITIES_CSV)
    }

    pub fn from_csv(text: &str) -> Result<Self> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut all = Vec::new();
        for row in reader.deserialize() {
            let la: LocalAuthority = row.map_err(|e| Error::Reference {
                what: "local_authorities.csv",
                reason: e.to_string(),
            })?;
            all.push(la);
        }
        let mut by_code = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, la) in all.iter().enumerate() {
            by_code.insert(la.la_code.clone(), i);
            by_name.insert(normalise_name(&la.official_name), i);
            for alias in &la.aliases {
                by_name.insert(normalise_name(alias), i);
            }
        }
        Ok(Self {
            all,
            by_code,
            by_name,
        })
    }

    pub fn all(&self) -> &[LocalAuthority] {
        &self.all
    }

    pub fn by_code(&self, code: &str) -> Option<&LocalAuthority> {
        self.by_code.get(code).map(|&i| &self.all[i])
    }

    /// Finds a council by code, official name or any alias, ignoring case, accents and punctuation.
    pub fn resolve(&self, name_or_code: &str) -> Option<&LocalAuthority> {
        let trimmed = name_or_code.trim();
        self.by_code(&trimmed.to_ascii_uppercase()).or_else(|| {
            self.by_name
                .get(&normalise_name(trimmed))
                .map(|&i| &self.all[i])
        })
    }
}

/// Lowercase ASCII words without accents, punctuation or "council"/"county council" suffix noise.
pub fn normalise_name(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' => 'u',
            '&' => ' ',
            c if c.is_alphanumeric() => c.to_ascii_lowercase(),
            _ => ' ',
        })
        .collect();
    folded
        .split_whitespace()
        .filter(|w| *w != "council" && *w != "and")
        .collect::<Vec<_>>()
        .join(" ")
}

/// Statutory periods for planning decisions, with the Christmas exclusion.
#[derive(Debug, Clone, Deserialize)]
pub struct StatutoryCalendar {
    pub version: String,
    pub excluded_period: ExcludedPeriod,
    pub periods: Periods,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExcludedPeriod {
    pub from_month: u32,
    pub from_day: u32,
    pub to_month: u32,
    pub to_day: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Periods {
    pub decision_weeks: u32,
    pub submissions_weeks: u32,
    pub further_information_reply_months: u32,
    pub decision_after_fi_weeks: u32,
    pub appeal_weeks: u32,
    pub permission_years: u32,
}

impl StatutoryCalendar {
    pub fn embedded() -> Result<Self> {
        toml::from_str(STATUTORY_CALENDAR_TOML).map_err(|e| Error::Reference {
            what: "statutory_calendar.toml",
            reason: e.to_string(),
        })
    }

    /// Whether the day falls in the excluded Christmas period (which wraps the year end).
    pub fn is_excluded(&self, day: NaiveDate) -> bool {
        let p = &self.excluded_period;
        let md = (day.month(), day.day());
        md >= (p.from_month, p.from_day) || md <= (p.to_month, p.to_day)
    }

    /// The day `days` counted days after `start`, not counting excluded days.
    pub fn add_counted_days(&self, start: NaiveDate, days: u32) -> NaiveDate {
        let mut day = start;
        let mut counted = 0;
        while counted < days {
            day = day + Days::new(1);
            if !self.is_excluded(day) {
                counted += 1;
            }
        }
        day
    }

    /// Decision due date for an application validly received on `received`.
    pub fn decision_due(&self, received: NaiveDate) -> NaiveDate {
        self.add_counted_days(received, self.periods.decision_weeks * 7)
    }

    /// Decision due date after further information was received on `fi_received`.
    pub fn decision_due_after_fi(&self, fi_received: NaiveDate) -> NaiveDate {
        self.add_counted_days(fi_received, self.periods.decision_after_fi_weeks * 7)
    }

    /// Last day for the applicant to reply to an FI request made on `requested`; excluded days extend it.
    pub fn fi_reply_due(&self, requested: NaiveDate) -> NaiveDate {
        let naive_end = requested
            .checked_add_months(Months::new(self.periods.further_information_reply_months))
            .unwrap_or(requested);
        let calendar_days = (naive_end - requested).num_days().max(0) as u32;
        self.add_counted_days(requested, calendar_days)
    }

    /// Counted (non-excluded) days from `from` to `to`; negative when `to` is earlier.
    pub fn counted_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to < from {
            return -self.counted_days_between(to, from);
        }
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| !self.is_excluded(*d))
            .count() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_one_councils_sum_to_state_population() {
        let las = LocalAuthorities::embedded().expect("reference loads");
        assert_eq!(las.all().len(), 31);
        let total: u64 = las.all().iter().map(|la| la.population_2022).sum();
        assert_eq!(total, STATE_POPULATION_2022);
    }

    #[test]
    fn resolves_aliases_seen_in_public_datasets() {
        let las = LocalAuthorities::embedded().expect("reference loads");
        for (name, code) in [
            ("Dun Laoghaire Rathdown County", "DR"),
            ("Dún Laoghaire-Rathdown County Council", "DR"),
            ("Limerick City & County Council", "LK"),
            ("dc", "DC"),
            ("Cork County Council", "CK"),
            ("  Waterford City and County Council ", "WD"),
        ] {
            assert_eq!(
                las.resolve(name).map(|la| la.la_code.as_str()),
                Some(code),
                "{name}"
            );
        }
        assert!(las.resolve("Louth/Monaghan/Cavan").is_none());
        assert!(las.resolve("Atlantis County Council").is_none());
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn eight_weeks_outside_christmas_is_56_days() {
        let cal = StatutoryCalendar::embedded().expect("calendar loads");
        assert_eq!(cal.decision_due(d(2024, 3, 1)), d(2024, 4, 26));
    }

    #[test]
    fn christmas_days_extend_the_period() {
        let cal = StatutoryCalendar::embedded().expect("calendar loads");
        // 24 Dec .. 1 Jan is 9 excluded days.
        assert_eq!(
            cal.decision_due(d(2024, 12, 1)),
            d(2024, 12, 1) + Days::new(56 + 9)
        );
        assert_eq!(
            cal.counted_days_between(d(2024, 12, 20), d(2025, 1, 3)),
            14 - 9
        );
    }
}
