//! The one error type of the benchmark: a run fails only when a measurement could not be taken.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ingest: {0}")]
    Ingest(#[from] lgma_ingest::Error),
    #[error("publisher: {0}")]
    Publisher(#[from] lgma_publisher::Error),
    #[error("simulation: {0}")]
    Sim(#[from] lgma_sim::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Run(String),
}

pub type Result<T> = std::result::Result<T, Error>;
