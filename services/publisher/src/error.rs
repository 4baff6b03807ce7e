//! The one error type of `lgma-publisher`.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] lgma_core::Error),
    #[error(transparent)]
    Domain(#[from] lgma_domain::Error),
    #[error(transparent)]
    Sim(#[from] lgma_sim::Error),
    #[error("schema registry {url}: {reason}")]
    Registry { url: String, reason: String },
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("topic admin: {0}")]
    TopicAdmin(String),
    #[error("invalid argument: {0}")]
    Argument(String),
    #[error("{path}: {errors} row error(s); first: {first}")]
    Rows {
        path: String,
        errors: usize,
        first: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
