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
#[serde(from = "CalendarFile")]
pub struct StatutoryCalendar {
    pub version: String,
    pub excluded_period: ExcludedPeriod,
    pub periods: Periods,
    /// Where the excluded period falls in a common year and in a leap year, worked out once
    /// (counting days is per planning event: the ordinals were a dozen date constructions a count).
    years: [YearBounds; 2],
}

/// The calendar file as written.
#[derive(Deserialize)]
struct CalendarFile {
    version: String,
    excluded_period: ExcludedPeriod,
    periods: Periods,
}

impl From<CalendarFile> for StatutoryCalendar {
    fn from(f: CalendarFile) -> Self {
        let years = [2001, 2000].map(|year| YearBounds::of(&f.excluded_period, year));
        Self {
            version: f.version,
            excluded_period: f.excluded_period,
            periods: f.periods,
            years,
        }
    }
}

/// The excluded period's ordinals in one kind of year (common or leap).
#[derive(Debug, Clone, Copy)]
struct YearBounds {
    /// The first ordinal on or after the period's start (the year's length + 1 if none).
    from: i64,
    /// The last ordinal on or before the period's end (0 if none).
    to: i64,
    /// Excluded days in the whole year.
    whole_year: i64,
}

impl YearBounds {
    /// By chrono's dates for one representative year of the kind (2001 common, 2000 leap).
    fn of(p: &ExcludedPeriod, year: i32) -> Self {
        let leap = NaiveDate::from_ymd_opt(year, 1, 1).is_some_and(|d| d.leap_year());
        let year_len = if leap { 366 } else { 365 };
        let days_in = |month: u32| -> u32 {
            (28..=31)
                .rev()
                .find(|d| NaiveDate::from_ymd_opt(year, month, *d).is_some())
                .unwrap_or(0)
        };
        // The first ordinal with (month, day) >= (m, d), and the last with (month, day) <= (m, d).
        let first_on_or_after = |m: u32, d: u32| -> i64 {
            match NaiveDate::from_ymd_opt(year, m, d) {
                Some(date) => i64::from(date.ordinal()),
                None if m >= 12 => year_len + 1,
                None => NaiveDate::from_ymd_opt(year, m + 1, 1)
                    .map_or(year_len + 1, |date| i64::from(date.ordinal())),
            }
        };
        let last_on_or_before = |m: u32, d: u32| -> i64 {
            if m == 0 {
                return 0;
            }
            match NaiveDate::from_ymd_opt(year, m, d.min(days_in(m))) {
                Some(date) if d > 0 => i64::from(date.ordinal()),
                _ => first_on_or_after(m, 1) - 1,
            }
        };
        let mut bounds = Self {
            from: first_on_or_after(p.from_month, p.from_day),
            to: last_on_or_before(p.to_month, p.to_day),
            whole_year: 0,
        };
        bounds.whole_year = bounds.excluded_up_to(year_len);
        bounds
    }

    /// Excluded days from 1 January up to and including day `ordinal`: those on or after the
    /// period's start plus those on or before its end, less those counted twice.
    fn excluded_up_to(&self, ordinal: i64) -> i64 {
        let on_or_after_from = (ordinal - self.from + 1).max(0);
        let on_or_before_to = ordinal.min(self.to).max(0);
        let both = (ordinal.min(self.to) - self.from + 1).max(0);
        on_or_after_from + on_or_before_to - both
    }
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

    /// The day `days` counted days after `start`, not counting excluded days. Constant time: a
    /// jump to the first day that could be it, corrected by the excluded days it crossed (a
    /// handful of jumps at most, whatever the period).
    pub fn add_counted_days(&self, start: NaiveDate, days: u32) -> NaiveDate {
        let target = self.counted(start) + i64::from(days);
        let mut day = start;
        let mut missing = i64::from(days);
        // `day` never passes the answer: a day adds at most one counted day.
        while missing > 0 {
            match day.checked_add_days(Days::new(missing.unsigned_abs())) {
                Some(next) => day = next,
                None => return day,
            }
            missing = target - self.counted(day);
        }
        day
    }

    /// A running count of the days that are not excluded, up to and including `day` (only
    /// differences mean anything): days since the common era minus the excluded days before the
    /// year and in it so far, by arithmetic on ordinals.
    fn counted(&self, day: NaiveDate) -> i64 {
        let year = i64::from(day.year());
        let [common, leap] = self.years.map(|y| y.whole_year);
        // Leap years in any consistent prefix: f(n) - f(n - 1) = 1 exactly when n is a leap year.
        let f = |n: i64| n.div_euclid(4) - n.div_euclid(100) + n.div_euclid(400);
        let before_year = year * common + f(year - 1) * (leap - common);
        let excluded = before_year + self.excluded_in_year(day);
        i64::from(day.num_days_from_ce()) - excluded
    }

    /// Excluded days of `day`'s year from 1 January up to and including `day` (as
    /// [`Self::is_excluded`] counts them).
    fn excluded_in_year(&self, day: NaiveDate) -> i64 {
        self.years[usize::from(day.leap_year())].excluded_up_to(i64::from(day.ordinal()))
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

    /// Counted (non-excluded) days from `from` to `to`; negative when `to` is earlier. Constant
    /// time (see [`Self::add_counted_days`]).
    pub fn counted_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        self.counted(to) - self.counted(from)
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

    /// The arithmetic agrees with walking the calendar day by day, across leap years, year ends
    /// and every period length the calendar uses.
    #[test]
    fn constant_time_counts_match_the_day_by_day_walk() {
        let cal = StatutoryCalendar::embedded().expect("calendar loads");
        let walk_add = |start: NaiveDate, days: u32| {
            let mut day = start;
            let mut counted = 0;
            while counted < days {
                day = day + Days::new(1);
                if !cal.is_excluded(day) {
                    counted += 1;
                }
            }
            day
        };
        let walk_between = |from: NaiveDate, to: NaiveDate| {
            let (a, b, sign) = if to < from {
                (to, from, -1)
            } else {
                (from, to, 1)
            };
            sign * a
                .iter_days()
                .skip(1)
                .take_while(|d| *d <= b)
                .filter(|d| !cal.is_excluded(*d))
                .count() as i64
        };
        let mut start = d(2019, 10, 1);
        while start < d(2025, 3, 1) {
            for days in [0, 1, 7, 35, 56, 61, 119, 400] {
                let due = cal.add_counted_days(start, days);
                assert_eq!(due, walk_add(start, days), "{start} + {days}");
            }
            for span in [0i64, 1, 9, 40, 90, 800] {
                let other = start + chrono::Duration::days(span);
                assert_eq!(
                    cal.counted_days_between(start, other),
                    walk_between(start, other),
                    "{start} .. {other}"
                );
                assert_eq!(
                    cal.counted_days_between(other, start),
                    walk_between(other, start)
                );
            }
            start = start + Days::new(3);
        }
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
