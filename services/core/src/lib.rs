//! Shared building blocks of the LGMA platform services.
//!
//! Every service loads its settings, starts its telemetry, and frames Avro payloads
//! the same way; those pieces live here so there is exactly one of each.

pub mod config;
pub mod error;
pub mod framing;
pub mod kafka;
pub mod ops;
pub mod reconcile;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use error::{Error, Result};
