//! `lgma-ingest`: council change events from Kafka into ClickHouse, exactly once.
//!
//! One module per stage, in pipeline order: [`decode`] -> [`validate`] (with [`rules`]) ->
//! [`enrich`] -> [`pseudonymise`] -> [`row`] -> [`sink`]; [`pipeline`] chains them and owns the
//! write protocol, [`offsets`] reads the offset of record, [`consumer`] keeps Kafka positioned
//! on it, [`publish`] sends enriched events and DLQ records, [`reconcile`] checks the broker's
//! offsets against the offset of record.

pub mod config;
pub mod consumer;
pub mod decode;
pub mod enrich;
pub mod erase;
pub mod error;
pub mod links;
pub mod metrics;
pub mod offsets;
pub mod pipeline;
pub mod pseudonymise;
pub mod publish;
pub mod ready;
pub mod reconcile;
pub mod replay;
pub mod resolve;
pub mod row;
pub mod rules;
pub mod schema;
pub mod sink;
pub mod validate;
pub mod versions;

pub use error::{Error, Result};
