//! Positioning the consumer on the offset of record: pause, read the offsets of record
//! (retrying while ClickHouse is down), seek or assign there, resume.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{backoff, Ingest, TopicPartition};
use crate::decode::Text;
use crate::source::offsets::next_offsets;
use crate::Result;

impl Ingest {
    pub(super) fn pause_all(&self) {
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assignment);
        }
    }

    /// Waits while keeping the consumer polled (group membership), dropping whatever arrives.
    pub(super) async fn idle(&self, duration: Duration, shutdown: &CancellationToken) {
        let until = Instant::now() + duration;
        while Instant::now() < until && !shutdown.is_cancelled() {
            let left = until.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(left, self.consumer.recv()).await;
        }
    }

    /// Pause, read the offsets of record (retrying while ClickHouse is down), seek, resume.
    pub(super) async fn reposition(&mut self, shutdown: &CancellationToken) {
        self.next.clear();
        let mut attempt = 0;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            self.rebalanced.store(false, Ordering::Release);
            let assignment = match (&self.manual, self.consumer.assignment()) {
                (Some(partitions), _) => {
                    let mut tpl = TopicPartitionList::new();
                    for (topic, partition) in partitions {
                        tpl.add_partition(topic, *partition);
                    }
                    tpl
                }
                (None, Ok(a)) => a,
                (None, Err(e)) => {
                    warn!(error = %e, "reading assignment failed");
                    TopicPartitionList::new()
                }
            };
            if assignment.count() == 0 {
                return;
            }
            let mut topics: Vec<String> = assignment
                .elements()
                .iter()
                .map(|e| e.topic().to_string())
                .collect();
            topics.dedup();
            match next_offsets(self.pipeline.clickhouse(), &topics).await {
                Ok(recorded) if self.manual.is_some() => {
                    // Manual mode: assign with the offsets of record; no seek needed.
                    let mut tpl = TopicPartitionList::new();
                    for element in assignment.elements() {
                        let tp = (element.topic().to_string(), element.partition());
                        let next = recorded.get(&tp).copied().unwrap_or(0);
                        let _ = tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(next));
                        self.next.insert((tp.0.into(), tp.1), next);
                    }
                    // A failed batch paused the partitions; librdkafka keeps a partition's pause
                    // flag across re-assignment, so resume explicitly.
                    match self
                        .consumer
                        .assign(&tpl)
                        .and_then(|()| self.consumer.resume(&tpl))
                    {
                        Ok(()) => {
                            info!(
                                partitions = self.next.len(),
                                "assigned at the offsets of record"
                            );
                            return;
                        }
                        Err(e) => {
                            warn!(error = %e, "assign failed");
                            self.next.clear();
                        }
                    }
                }
                Ok(recorded) => {
                    let mut ok = true;
                    for element in assignment.elements() {
                        let key = (element.topic().to_string(), element.partition());
                        let (offset, next) = match recorded.get(&key) {
                            Some(next) => (Offset::Offset(*next), *next),
                            // Offset 0 rather than Beginning: no ListOffsets round trip (slow on
                            // tansu); auto.offset.reset=earliest covers a log that starts later.
                            None => (Offset::Offset(0), 0),
                        };
                        let tp = (Text::from(key.0), key.1);
                        if let Err(e) = self.seek_with_retry(&tp, offset).await {
                            warn!(topic = %tp.0, partition = tp.1, error = %e, "seek failed");
                            ok = false;
                            break;
                        }
                        self.next.insert(tp, next);
                    }
                    if ok && !self.rebalanced.load(Ordering::Acquire) {
                        let _ = self.consumer.resume(&assignment);
                        info!(
                            partitions = self.next.len(),
                            "positioned at the offsets of record"
                        );
                        return;
                    }
                    self.next.clear();
                }
                Err(e) => warn!(error = %e, "cannot read offsets of record; ClickHouse down?"),
            }
            attempt += 1;
            self.idle(backoff(attempt), shutdown).await;
        }
    }

    async fn seek_with_retry(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        let mut last = None;
        for _ in 0..20 {
            match self
                .consumer
                .seek(&tp.0, tp.1, offset, Duration::from_secs(2))
            {
                Ok(()) => return Ok(()),
                Err(e) => {
                    // Just after assignment the fetcher may not be ready ("Erroneous state").
                    last = Some(e);
                    let _ = tokio::time::timeout(Duration::from_millis(100), self.consumer.recv())
                        .await;
                }
            }
        }
        Err(last.map_or_else(
            || crate::Error::Config("seek failed".into()),
            crate::Error::Kafka,
        ))
    }
}
