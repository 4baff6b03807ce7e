//! Onboarding a council's export file: each row becomes a change event, each bad row a
//! [`RowError`] with its line and column. Nothing is dropped silently.

pub mod check;
pub mod jsonl;
pub mod npad;

use std::fmt;

use lgma_sim::model::ChangeEvent;

/// One problem in one row of an export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// Column name (CSV header) or JSON path (JSON Lines).
    pub column: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The outcome of mapping a file: good events (with their line) and every bad row.
#[derive(Debug, Default)]
pub struct Mapped {
    pub events: Vec<(u64, ChangeEvent)>,
    pub errors: Vec<RowError>,
    pub rows: u64,
}
