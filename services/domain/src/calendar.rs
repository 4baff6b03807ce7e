//! The statutory planning calendar: decision periods, further information, the Christmas exclusion.
//!
//! `schemas/reference/statutory_calendar.toml` is compiled in, so every service counts days the same way.

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Deserialize;

use crate::{Error, Result};

pub const STATUTORY_CALENDAR_TOML: &str =
    include_str!("../../../schemas/reference/statutory_calendar.toml");

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
    use chrono::Days;

    use super::*;

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
