//! The Kafka side: creating missing topics and producing framed events with envelope headers.
//!
//! A `ThreadedProducer` with a delivery-counting context keeps the hot loop free of per-message
//! futures; `flush` at the end waits for every acknowledgement (idempotent, acks=all).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders, Timestamp};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::settings::Settings;
use crate::{Error, Result};
use lgma_sim::encode::headers;
use lgma_sim::model::Meta;

/// Counts acknowledged and failed deliveries.
#[derive(Default, Clone)]
pub struct DeliveryCounter {
    pub delivered: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
    /// When set ([`EventProducer::timing_acks`]), each acknowledgement's delay since its record
    /// was handed to the producer, in ms: how long the broker took to accept an event, apart from
    /// what ingest does with it afterwards (benchmarks).
    pub ack_ms: Option<Arc<Mutex<Vec<i64>>>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                // librdkafka stamps a record's CreateTime when it is produced (we never set it).
                if let (Some(acks), Timestamp::CreateTime(sent)) =
                    (&self.ack_ms, message.timestamp())
                {
                    let now = chrono::Utc::now().timestamp_millis();
                    if let Ok(mut acks) = acks.lock() {
                        acks.push(now - sent);
                    }
                }
            }
            Err((e, _)) => {
                tracing::warn!(error = %e, "delivery failed");
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Checks that every topic exists. A publisher never creates topics: one created with client
/// defaults gets whatever retention the broker defaults to (on the local broker, settings that can
/// delete records before ingest reads them), so topics come only from `infra/kafka/topics.toml`
/// (`infra/stack topics`, or `infra/tools/topics.py --suffix` for tests).
pub async fn require_topics(settings: &Settings, names: &[String]) -> Result<()> {
    let config = settings.kafka.client_config();
    let existing = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
        let consumer: BaseConsumer = config.create()?;
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(20))?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .collect())
    })
    .await
    .map_err(|e| Error::TopicAdmin(format!("metadata task: {e}")))??;
    let missing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !existing.iter().any(|e| e == n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::TopicAdmin(format!(
        "topics missing: {}. Create them from infra/kafka/topics.toml (`infra/stack topics`; tests: \
         `infra/tools/topics.py --suffix <suffix>`): the publisher does not create topics, since one \
         created with client defaults may lose records",
        missing.join(", ")
    )))
}

pub struct EventProducer {
    producer: ThreadedProducer<DeliveryCounter>,
    pub counter: DeliveryCounter,
}

impl EventProducer {
    pub fn new(settings: &Settings) -> Result<Self> {
        Self::with_counter(settings, DeliveryCounter::default())
    }

    /// A producer that also keeps every acknowledgement's delay (see [`DeliveryCounter::ack_ms`]):
    /// take them with [`EventProducer::take_ack_ms`].
    pub fn timing_acks(settings: &Settings) -> Result<Self> {
        let counter = DeliveryCounter {
            ack_ms: Some(Arc::default()),
            ..DeliveryCounter::default()
        };
        Self::with_counter(settings, counter)
    }

    /// The acknowledgement delays kept since the last call (empty unless [`Self::timing_acks`]).
    pub fn take_ack_ms(&self) -> Vec<i64> {
        self.counter
            .ack_ms
            .as_ref()
            .and_then(|acks| acks.lock().ok().map(|mut v| std::mem::take(&mut *v)))
            .unwrap_or_default()
    }

    fn with_counter(settings: &Settings, counter: DeliveryCounter) -> Result<Self> {
        let producer = settings
            .kafka
            .producer_config_with(&[("queue.buffering.max.messages", "200000")])
            .create_with_context(counter.clone())?;
        Ok(Self { producer, counter })
    }

    /// Enqueues one record, waiting while the local queue is full.
    pub async fn send(&self, topic: &str, key: &str, value: &[u8], meta: &Meta) -> Result<()> {
        let mut kafka_headers = OwnedHeaders::new_with_capacity(4);
        for (name, v) in headers(meta) {
            kafka_headers = kafka_headers.insert(Header {
                key: name,
                value: Some(v.as_bytes()),
            });
        }
        let mut record = BaseRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(kafka_headers);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Waits for every outstanding acknowledgement.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer.flush(timeout)?;
        Ok(())
    }

    pub fn delivered(&self) -> u64 {
        self.counter.delivered.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.counter.failed.load(Ordering::Relaxed)
    }
}
