//! The one error type of `lgma-ingest`.
//!
//! Errors split in two families the consumer loop treats differently: *transient* ones (ClickHouse,
//! registry or broker unreachable) pause the partitions and re-seek from the offset of record;
//! everything about a single bad record is not an error at all but a quarantine verdict.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] lgma_core::Error),
    #[error(transparent)]
    Domain(#[from] lgma_domain::Error),
    #[error("config: {0}")]
    Config(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema {what}: {reason}")]
    Schema { what: String, reason: String },
    #[error("rules file {path}: {reason}")]
    Rules { path: PathBuf, reason: String },
    #[error("pseudonymisation keys: {0}")]
    Keys(String),
    #[error("schema registry: {0}")]
    Registry(String),
    #[error("clickhouse: {0}")]
    ClickHouse(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("avro: {0}")]
    Avro(String),
    #[error("replay: {0}")]
    Replay(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The batch before this one failed, so this one does not record its offsets either
    /// (`sink::order`); both are re-read.
    #[error("not recorded: the batch before it failed")]
    OutOfTurn,
    /// Graceful shutdown did not finish within `shutdown_limit_secs`; the batches still being
    /// written are abandoned and re-read from the offsets of record on restart.
    #[error("shutdown cut short after {secs} s: in-flight batches abandoned (re-read from the offsets of record on restart)")]
    ShutdownLimit { secs: u64 },
}
