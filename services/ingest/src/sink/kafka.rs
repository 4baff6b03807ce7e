//! Publishing: enriched events to `<topic>.enriched` and raw quarantined records to the DLQ.
//!
//! Both are published *before* the offset-of-record INSERT and awaited, so they are at-least-once
//! (a crash between the two republishes them on restart; consumers dedup on `event_id`). The DLQ is
//! the only place raw bytes of a quarantined record go: it is restricted, ClickHouse is not.

use std::time::Duration;

use futures::future::try_join_all;
use lgma_core::kafka::KafkaSettings;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::encode::Outgoing;
use crate::{Error, Result};

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
}

impl Publisher {
    /// acks=all, but NOT idempotent, one request in flight (so a retry cannot reorder an
    /// entity's events). Idempotence buys nothing here: these topics are at-least-once by
    /// construction (a batch re-processed after a crash is published again; without broker
    /// transactions nothing can prevent that), and while tansu is slow to acknowledge, librdkafka
    /// 2.12's idempotent producer thread busy-polls: measured 61 vs 19 CPU-seconds per million
    /// events for the whole service, at the same throughput. `[kafka.properties]` still wins.
    pub fn new(kafka: &KafkaSettings) -> Result<Self> {
        let producer = kafka
            .producer_config_with(&[
                ("enable.idempotence", "false"),
                ("max.in.flight.requests.per.connection", "1"),
                ("linger.ms", "20"),
                ("message.timeout.ms", "30000"),
            ])
            .create()?;
        Ok(Self { producer })
    }

    /// Sends all messages and waits until every one is acknowledged (acks=all).
    pub async fn send_all(&self, messages: &[Outgoing]) -> Result<()> {
        let sends = messages.iter().map(|m| {
            let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
            m.headers.for_each(|key, value| {
                let header = Header {
                    key,
                    value: Some(value.as_bytes()),
                };
                headers = std::mem::take(&mut headers).insert(header);
            });
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&m.topic).headers(headers);
            if let Some(key) = &m.key {
                record = record.key(key.as_bytes());
            }
            if let Some(value) = &m.value {
                record = record.payload(value.as_slice());
            }
            let send = self.producer.send(record, Duration::from_secs(30));
            async move { send.await.map_err(|(e, _)| Error::Kafka(e)) }
        });
        try_join_all(sends).await.map(|_| ())
    }
}
