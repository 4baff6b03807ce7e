//! Simulated councils: what the publisher, the tests and the benchmark put on the LGMA topics.
//!
//! - [`model`], [`topics`], [`vocab`]: the change events of the council topics, their schemas and
//!   the planning systems' words.
//! - [`generator`]: a deterministic, seeded simulation of all 31 councils, calibrated to the public
//!   figures in `shared/domain.md`, with optional rule-breaking events.
//! - [`encode`]: Avro + Confluent framing of those events.
//!
//! No I/O: registering schemas and producing to Kafka is the publisher's (`lgma-publisher`).

pub mod encode;
pub mod generator;
pub mod model;
pub mod topics;
pub mod vocab;

pub use generator::{EventKind, GeneratedEvent, Generator, GeneratorConfig, InvalidKind};
pub use model::ChangeEvent;
pub use topics::Topic;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] lgma_core::Error),
    #[error(transparent)]
    Domain(#[from] lgma_domain::Error),
    #[error("schema {topic}: {reason}")]
    Schema { topic: String, reason: String },
    #[error("avro encoding for {topic}: {reason}")]
    Encode { topic: String, reason: String },
    #[error("invalid argument: {0}")]
    Argument(String),
}
