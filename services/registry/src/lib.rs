//! lgma-registry: a Confluent-compatible Avro schema registry whose only durable state is a
//! compacted Kafka topic (see README.md for the design and the id-allocation argument).

pub mod api;
pub mod auth;
pub mod compat;
pub mod config;
pub mod error;
pub mod identity;
pub mod record;
pub mod response;
pub mod server;
pub mod service;
pub mod state;
pub mod store;

pub use error::{Error, Result};
