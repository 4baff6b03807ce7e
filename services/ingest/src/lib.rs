//! `lgma-ingest`: council change events from Kafka into ClickHouse, exactly once.
//!
//! The stages, in the order the data flows (see README "The chain"):
//! [`source`] -> [`decode`] -> [`judge`] -> [`transform`] -> [`encode`] -> [`sink`].
//! [`chain`] runs decode..encode on a batch without any I/O; [`pipeline`] fetches what the chain
//! needs, calls it and writes with the exactly-once protocol. [`replay`], [`erase`] and
//! [`reconcile`] are the service's other commands; [`ready`] is what `/ready` probes.

pub mod config;
pub mod error;
pub mod metrics;

pub mod source;

pub mod decode;

pub mod judge;

pub mod transform;

pub mod encode;

pub mod sink;

pub mod chain;
pub mod pipeline;

pub mod erase;
pub mod ready;
pub mod reconcile;
pub mod replay;

pub use error::{Error, Result};
