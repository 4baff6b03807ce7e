//! Stage 6, sink: ClickHouse over HTTP ([`clickhouse`]), the Kafka producer ([`kafka`]) and the
//! exactly-once write protocol over both ([`protocol`]).

pub mod clickhouse;
pub mod kafka;
pub mod protocol;

pub use clickhouse::{quote, ClickHouse};
pub use kafka::Publisher;
