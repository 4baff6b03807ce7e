//! The council publisher: what a council system (or our demo) uses to put change events on the
//! LGMA topics.
//!
//! - `lgma_sim` (the simulation crate): the change-event model, the seeded simulation of all 31
//!   councils and the Avro encoding; the publisher's `simulate` puts its events on the topics.
//! - [`onboard`]: maps a council's export file (NPAD CSV, JSON Lines) to change events, reporting
//!   every bad row by line and column.
//! - [`registry`], [`produce`]: schema registration, Kafka.

pub mod error;
pub mod onboard;
pub mod produce;
pub mod registry;
pub mod settings;
pub mod stats;

pub use error::{Error, Result};
