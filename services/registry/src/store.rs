//! The Kafka-backed log: produce a record, replay the topic from the beginning, follow it.
//!
//! The store topic is the only durable state. Every instance applies every record, in order, to
//! its own [`State`]; a writer knows the outcome of its write once it has applied the log up to
//! its own record's offset.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use lgma_core::kafka::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::StoreSettings;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::state::{Applied, State};

pub struct Store {
    topic: String,
    producer: FutureProducer,
    state: Arc<RwLock<State>>,
    applied: watch::Receiver<i64>,
    write_timeout: Duration,
    /// Serialises this instance's own writes: local requests never race each other for an id.
    pub write_lock: tokio::sync::Mutex<()>,
}

impl Store {
    /// Connects, creates the topic if asked, starts following it and returns once the state has
    /// caught up with the end of the log as it was at start.
    pub async fn open(
        kafka: &KafkaSettings,
        settings: &StoreSettings,
        shutdown: CancellationToken,
    ) -> Result<Arc<Store>> {
        let startup = Duration::from_secs(settings.startup_timeout_secs.max(1));
        if settings.create_topic {
            ensure_topic(kafka, &settings.topic, startup).await?;
        }
        let group = format!("lgma-registry-{}", uuid::Uuid::new_v4());
        let consumer: StreamConsumer = kafka
            .client_config_with(&[
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
                ("auto.offset.reset", "earliest"),
                // A write waits to read its own record back: poll the (tiny) store topic eagerly.
                ("fetch.wait.max.ms", "20"),
                ("fetch.error.backoff.ms", "50"),
            ])
            .create()
            .map_err(|e| Error::Store(format!("kafka consumer: {e}")))?;
        let high = {
            let topic = settings.topic.clone();
            let (_, high) = tokio::task::block_in_place(|| {
                consumer.fetch_watermarks(&topic, 0, startup)
            })
            .map_err(|e| {
                Error::BrokerUnreachable(format!(
                    "cannot read store topic '{topic}' within {startup:?} (is the broker at {} up?): {e}",
                    kafka.bootstrap_servers
                ))
            })?;
            high
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&settings.topic, 0, Offset::Beginning)
            .map_err(|e| Error::Store(e.to_string()))?;
        consumer
            .assign(&tpl)
            .map_err(|e| Error::Store(format!("assign store topic: {e}")))?;
        let producer: FutureProducer = kafka
            .producer_config_with(&[("linger.ms", "0")])
            .create()
            .map_err(|e| Error::Store(format!("kafka producer: {e}")))?;

        let state = Arc::new(RwLock::new(State::new()));
        let (tx, rx) = watch::channel(-1i64);
        let consumer = Arc::new(consumer);
        tokio::spawn(follow(consumer.clone(), state.clone(), tx, shutdown));

        let store = Arc::new(Store {
            topic: settings.topic.clone(),
            producer,
            state,
            applied: rx,
            write_timeout: Duration::from_secs(settings.write_timeout_secs.max(1)),
            write_lock: tokio::sync::Mutex::new(()),
        });
        tracing::info!(topic = %settings.topic, end_offset = high, "replaying store topic");
        // Caught up once the record before the start-time end offset is applied, or the consumer's
        // position passed it (compaction may have removed that very offset).
        loop {
            if *store.applied.borrow() >= high - 1 || position(&consumer, &settings.topic) >= high {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(topic = %settings.topic, end_offset = high, "store topic replayed");
        Ok(store)
    }

    /// Read access to the current state. Never hold it across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock means a panic while applying: the state may be half-applied, which we
        // cannot serve correctly; recover the guard anyway since apply never panics by design.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Produces `record` and waits until this instance has applied the log up to it.
    pub async fn write(&self, record: Record) -> Result<i64> {
        let mut fr = FutureRecord::<Vec<u8>, Vec<u8>>::to(&self.topic)
            .key(&record.key)
            .partition(0);
        if let Some(v) = &record.value {
            fr = fr.payload(v);
        }
        let delivery = self
            .producer
            .send(fr, self.write_timeout)
            .await
            .map_err(|(e, _)| Error::Store(format!("write to store topic: {e}")))?;
        let offset = delivery.offset;
        let mut rx = self.applied.clone();
        tokio::time::timeout(self.write_timeout, rx.wait_for(|&a| a >= offset))
            .await
            .map_err(|_| Error::Timeout(format!("store record {offset} not read back")))?
            .map_err(|_| Error::Store("store follower stopped".into()))?;
        metrics::counter!("lgma_registry_store_writes_total").increment(1);
        Ok(offset)
    }
}

fn position(consumer: &StreamConsumer, topic: &str) -> i64 {
    consumer
        .position()
        .ok()
        .and_then(|tpl| {
            tpl.find_partition(topic, 0)
                .and_then(|p| p.offset().to_raw())
        })
        .unwrap_or(-1)
}

async fn ensure_topic(kafka: &KafkaSettings, topic: &str, timeout: Duration) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config()
        .create()
        .map_err(|e| Error::Store(format!("kafka admin client: {e}")))?;
    let unreachable = || {
        Error::BrokerUnreachable(format!(
            "Kafka broker at {} unreachable: could not create/check store topic '{topic}' within {timeout:?}",
            kafka.bootstrap_servers
        ))
    };
    // Metadata first: it fails fast and clearly when nothing listens at the bootstrap address.
    tokio::task::block_in_place(|| admin.inner().fetch_metadata(None, timeout)).map_err(|e| {
        match unreachable() {
            Error::BrokerUnreachable(text) => Error::BrokerUnreachable(format!("{text}: {e}")),
            other => other,
        }
    })?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = tokio::time::timeout(timeout, admin.create_topics([&new], &options))
        .await
        .map_err(|_| unreachable())?
        .map_err(|e| Error::Store(format!("create store topic: {e}")))?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, "created store topic (1 partition, compacted)"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(Error::Store(format!("create store topic {name}: {code}")))
            }
        }
    }
    Ok(())
}

/// Applies every record of the store topic, forever, publishing the applied offset.
async fn follow(
    consumer: Arc<StreamConsumer>,
    state: Arc<RwLock<State>>,
    applied: watch::Sender<i64>,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = consumer.recv() => m,
        };
        match message {
            Ok(m) => {
                let offset = m.offset();
                let outcome = {
                    let mut guard = state.write().unwrap_or_else(|e| e.into_inner());
                    guard.apply(offset, m.key().unwrap_or_default(), m.payload())
                };
                match &outcome {
                    Applied::Rejected(reason) => {
                        tracing::info!(
                            offset,
                            reason,
                            "store record not applied (lost a race or invalid)"
                        );
                        metrics::counter!("lgma_registry_store_rejected_records_total")
                            .increment(1);
                    }
                    Applied::Ignored => tracing::debug!(offset, "store record ignored"),
                    Applied::Accepted => {}
                }
                metrics::gauge!("lgma_registry_store_applied_offset").set(offset as f64);
                applied.send_replace(offset);
            }
            Err(e) => {
                tracing::warn!(error = %e, "store topic consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
