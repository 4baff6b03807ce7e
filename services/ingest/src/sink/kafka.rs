//! Publishing: enriched events to `<topic>.enriched` and raw quarantined records to the DLQ.
//!
//! Both are published *before* the offset-of-record INSERT and awaited, so they are at-least-once
//! (a crash between the two republishes them on restart; consumers dedup on `event_id`). The DLQ is
//! the only place raw bytes of a quarantined record go: it is restricted, ClickHouse is not.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lgma_core::kafka::KafkaSettings;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use tokio::sync::Notify;

use crate::encode::Outgoing;
use crate::{Error, Result};

/// How long a message may wait for room in librdkafka's queue before `send_all` gives up.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// The delivery-report thread's poll window. rdkafka's `poll(window)` waits in whole milliseconds
/// (`Timeout::as_millis` truncates), so it spins through the last millisecond of every window:
/// with rdkafka's `ThreadedProducer` (100 ms windows) that was 1 % of a core whatever the load,
/// a tenth of the service's CPU at 5,500 events/s (perf, BENCHMARKS.md "session 12"). One-second
/// windows spin a tenth as much; the only cost is that the thread outlives its producer by up to a
/// window.
const POLL_WINDOW: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Publisher {
    producer: Arc<Producer>,
}

/// The producer and the thread that serves its delivery reports (rdkafka's `ThreadedProducer`
/// with a longer poll window, see [`POLL_WINDOW`]). Dropping it stops the thread, which then drops
/// the producer (librdkafka's purge and final flush) on its own time.
struct Producer {
    base: Arc<BaseProducer<Acks>>,
    stop: Arc<AtomicBool>,
}

impl Producer {
    fn start(base: BaseProducer<Acks>) -> Result<Self> {
        let base = Arc::new(base);
        let stop = Arc::new(AtomicBool::new(false));
        let (polled, stopped) = (base.clone(), stop.clone());
        std::thread::Builder::new()
            .name("lgma-produce-dr".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    polled.poll(POLL_WINDOW);
                }
            })
            .map_err(|e| Error::Config(format!("cannot start the producer's thread: {e}")))?;
        Ok(Self { base, stop })
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Publisher {
    /// acks=all, but NOT idempotent, one request in flight (so a retry cannot reorder an
    /// entity's events). Idempotence buys nothing here: these topics are at-least-once by
    /// construction (a batch re-processed after a crash is published again; without broker
    /// transactions nothing can prevent that), and while tansu is slow to acknowledge, librdkafka
    /// 2.12's idempotent producer thread busy-polls: measured 61 vs 19 CPU-seconds per million
    /// events for the whole service, at the same throughput. `[kafka.properties]` still wins.
    /// `compression` is `Settings::enriched_compression`.
    pub fn new(kafka: &KafkaSettings, compression: &str) -> Result<Self> {
        let producer = kafka
            .producer_config_with(&[
                ("compression.type", compression),
                ("enable.idempotence", "false"),
                ("max.in.flight.requests.per.connection", "1"),
                ("linger.ms", "20"),
                ("message.timeout.ms", "30000"),
            ])
            .create_with_context(Acks)?;
        Ok(Self {
            producer: Arc::new(Producer::start(producer)?),
        })
    }

    /// The service's publisher: its Kafka settings, with `enriched_compression`.
    pub fn for_settings(settings: &crate::config::Settings) -> Result<Self> {
        Self::new(&settings.kafka, &settings.enriched_compression)
    }

    /// Sends all messages and waits until every one is acknowledged (acks=all); the first
    /// failure, if any, is the answer.
    pub async fn send_all(&self, messages: &[Outgoing]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let deliveries = Arc::new(Deliveries::new(messages.len()));
        let deadline = Instant::now() + QUEUE_TIMEOUT;
        let mut unsent = messages.len();
        for m in messages {
            if deliveries.failed() {
                break; // the answer is an error already: send no more
            }
            let mut record: BaseRecord<'_, [u8], [u8], _> =
                BaseRecord::with_opaque_to(&m.topic, deliveries.clone());
            // No header list at all when there are no headers (`enriched_headers = false`):
            // librdkafka would allocate and free an empty one per message.
            if !m.headers.is_empty() {
                let mut headers = Some(OwnedHeaders::new_with_capacity(m.headers.len()));
                m.headers.for_each(|key, value| {
                    let header = Header {
                        key,
                        value: Some(value.as_bytes()),
                    };
                    headers = headers.take().map(|h| h.insert(header));
                });
                if let Some(headers) = headers {
                    record = record.headers(headers);
                }
            }
            if let Some(key) = &m.key {
                record = record.key(key.as_bytes());
            }
            if let Some(value) = &m.value {
                record = record.payload(value.as_slice());
            }
            loop {
                match self.producer.base.send(record) {
                    Ok(()) => {
                        unsent -= 1;
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((e, _)) => {
                        deliveries.fail(e);
                        break;
                    }
                }
            }
        }
        // What was never enqueued will never be reported: settle it here.
        deliveries.finish(unsent);
        deliveries.done.notified().await;
        match deliveries.take_failure() {
            Some(e) => Err(Error::Kafka(e)),
            None => Ok(()),
        }
    }
}

/// One `send_all`'s deliveries: how many are still awaited, and the first failure. Every message
/// carries a reference to it as its delivery opaque, so a message costs a reference count where
/// `FutureProducer` allocates a channel and a boxed sender, and wakes a future per acknowledgement.
struct Deliveries {
    pending: AtomicUsize,
    /// Set with `failure`; read once per message by `send_all` without taking the lock.
    has_failed: AtomicBool,
    failure: Mutex<Option<KafkaError>>,
    done: Notify,
}

impl Deliveries {
    fn new(count: usize) -> Self {
        Self {
            pending: AtomicUsize::new(count),
            has_failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            done: Notify::new(),
        }
    }

    /// One message's outcome; the last one wakes `send_all` (`Notify` keeps the permit if it is
    /// not waiting yet).
    fn settle(&self, outcome: std::result::Result<(), &KafkaError>) {
        if let Err(e) = outcome {
            self.fail(e.clone());
        }
        self.finish(1);
    }

    fn fail(&self, error: KafkaError) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(error);
        }
        self.has_failed.store(true, Ordering::Release);
    }

    /// `count` messages settled (delivered, failed, or never enqueued).
    fn finish(&self, count: usize) {
        if count > 0 && self.pending.fetch_sub(count, Ordering::AcqRel) == count {
            self.done.notify_one();
        }
    }

    fn failed(&self) -> bool {
        self.has_failed.load(Ordering::Acquire)
    }

    fn take_failure(&self) -> Option<KafkaError> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }
}

/// The producer's context: a delivery report settles its message in its [`Deliveries`].
struct Acks;

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Arc<Deliveries>;

    fn delivery(&self, result: &DeliveryResult<'_>, deliveries: Arc<Deliveries>) {
        deliveries.settle(result.as_ref().map(|_| ()).map_err(|(e, _)| e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_outcome_wakes_the_sender_with_the_first_failure() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let d = Deliveries::new(3);
        d.settle(Ok(()));
        d.settle(Err(&KafkaError::Canceled));
        assert!(d.failed());
        d.settle(Err(&KafkaError::NoMessageReceived));
        // All three settled before anyone waited: the stored permit completes the wait.
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), d.done.notified())
                .await
                .expect("woken");
        });
        assert!(matches!(d.take_failure(), Some(KafkaError::Canceled)));
    }

    #[test]
    fn messages_never_enqueued_count_as_settled() {
        let d = Deliveries::new(5);
        d.settle(Ok(()));
        d.fail(KafkaError::Canceled);
        d.finish(4);
        assert_eq!(d.pending.load(Ordering::Acquire), 0);
        assert!(d.failed());
    }
}
