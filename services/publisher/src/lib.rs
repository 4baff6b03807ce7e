//! The council publisher: what a council system (or our demo) uses to put change events on the
//! LGMA topics.
//!
//! - [`generator`]: a deterministic, seeded simulation of all 31 councils, calibrated to the public
//!   figures in `shared/domain.md`, with optional rule-breaking events.
//! - [`onboard`]: maps a council's export file (NPAD CSV, JSON Lines) to change events, reporting
//!   every bad row by line and column.
//! - [`encode`], [`registry`], [`produce`]: Avro + Confluent framing, schema registration, Kafka.

pub mod encode;
pub mod error;
pub mod generator;
pub mod model;
pub mod onboard;
pub mod produce;

pub mod registry;
pub mod settings;
pub mod stats;
pub mod topics;
pub mod vocab;

pub use error::{Error, Result};
pub use generator::{EventKind, GeneratedEvent, Generator, GeneratorConfig, InvalidKind};
pub use model::ChangeEvent;
pub use topics::Topic;
