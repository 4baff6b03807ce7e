//! Domain rules of the LGMA platform, one copy for every service.
//!
//! The councils and their codes, the PPSN check, the Eircode format, BER bands and the statutory
//! planning calendar: the publisher generates and checks with them, ingest validates and enriches
//! with them, the API names councils with them. Pure: no I/O, no service dependencies.

pub mod ber;
pub mod calendar;
pub mod councils;
pub mod eircode;
pub mod indicators;
pub mod ppsn;

pub use calendar::StatutoryCalendar;
pub use councils::{LocalAuthorities, LocalAuthority, STATE_POPULATION_2022};
pub use indicators::{Indicator, Indicators, Period};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The one error: a compiled-in reference file that does not load.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reference data {what}: {reason}")]
    Reference { what: &'static str, reason: String },
}

/// Uppercase, no whitespace: the stored form of an Eircode or a PPSN typed by a person.
pub fn compact_upper(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
