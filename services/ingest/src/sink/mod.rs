//! Stage 6, sink: ClickHouse over HTTP ([`clickhouse`]), the Kafka producer ([`kafka`]) and the
//! exactly-once write protocol over both ([`protocol`]), with the order of overlapped batches'
//! offsets of record ([`order`]).

pub mod clickhouse;
pub mod kafka;
pub mod order;
pub mod protocol;

pub use clickhouse::{quote, ClickHouse};
pub use kafka::Publisher;
