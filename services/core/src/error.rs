//! The one error type of `lgma-core`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The value is empty: a Kafka tombstone or a zero-length message.
    #[error("empty message: no Confluent header (a tombstone or zero-length value)")]
    EmptyMessage,
    #[error("message of {len} bytes is shorter than the 5-byte Confluent header")]
    TooShort { len: usize },
    #[error("first byte is {found:#04x}, not the Confluent magic byte 0x00: not Confluent-framed")]
    BadMagic { found: u8 },
    #[error("configuration: {0}")]
    Config(String),
    #[error("config file {path} not found")]
    ConfigFileMissing { path: PathBuf },
    #[error("telemetry: {0}")]
    Telemetry(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
