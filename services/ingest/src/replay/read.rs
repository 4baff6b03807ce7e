//! Reading what a replay re-drives: a consumer of its own (no group offsets), the partitions and
//! start offsets of a selection, one partition read in chunks, the DLQ's records and their
//! originals on the source topic.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Settings;
use crate::source::{Copier, RawRecord};
use crate::{Error, Result};

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Source topics (base names as configured, or full names); empty = every configured topic.
    pub topics: Vec<String>,
    /// Partitions of the source topics; empty = all.
    pub partitions: Vec<i32>,
    /// Inclusive source offset bounds.
    pub from_offset: Option<i64>,
    pub to_offset: Option<i64>,
    /// Inclusive time bounds (ms since the epoch): the source record's timestamp for a range
    /// replay, the DLQ record's (quarantine time) for a DLQ replay.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Selection {
    pub(super) fn offset_ok(&self, offset: i64) -> bool {
        self.from_offset.is_none_or(|f| offset >= f) && self.to_offset.is_none_or(|t| offset <= t)
    }
    pub(super) fn time_ok(&self, ms: Option<i64>) -> bool {
        if self.since_ms.is_none() && self.until_ms.is_none() {
            return true;
        }
        ms.is_some_and(|ms| {
            self.since_ms.is_none_or(|s| ms >= s) && self.until_ms.is_none_or(|u| ms <= u)
        })
    }
    pub(super) fn partition_ok(&self, p: i32) -> bool {
        self.partitions.is_empty() || self.partitions.contains(&p)
    }
    /// The selection as one line for the audit table.
    pub fn describe(&self) -> String {
        format!(
            "topics={:?} partitions={:?} offsets={}..={} time_ms={}..={}",
            self.topics,
            self.partitions,
            opt(self.from_offset),
            opt(self.to_offset),
            opt(self.since_ms),
            opt(self.until_ms)
        )
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "*".into(), |v| v.to_string())
}

pub(super) fn replay_consumer(settings: &Settings, replay_id: &str) -> Result<StreamConsumer> {
    let group = format!("{}-replay-{replay_id}", settings.group_id);
    Ok(settings
        .kafka
        .client_config_with(&[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ])
        .create()?)
}

pub(super) fn partitions_of(consumer: &StreamConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut out: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Where a range replay starts: `from_offset`, else the first offset at `since` (if the broker
/// answers a time lookup), else the log start. Records are still filtered by time while reading.
pub(super) fn start_offset(
    consumer: &StreamConsumer,
    topic: &str,
    partition: i32,
    selection: &Selection,
) -> Result<i64> {
    if let Some(from) = selection.from_offset {
        return Ok(from.max(0));
    }
    if let Some(since) = selection.since_ms {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(since))?;
        if let Ok(found) = consumer.offsets_for_times(tpl, Duration::from_secs(10)) {
            if let Some(Offset::Offset(o)) =
                found.find_partition(topic, partition).map(|e| e.offset())
            {
                return Ok(o.max(0));
            }
        }
    }
    Ok(0)
}

/// Reads [start, end) of one partition in chunks.
pub(super) struct PartitionReader<'c> {
    consumer: &'c StreamConsumer,
    topic: String,
    partition: i32,
    next: i64,
    end: i64,
    copier: Copier,
}

impl<'c> PartitionReader<'c> {
    pub(super) fn new(
        consumer: &'c StreamConsumer,
        topic: &str,
        partition: i32,
        start: i64,
        end: i64,
    ) -> Result<Self> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
        consumer.assign(&tpl)?;
        Ok(Self {
            consumer,
            topic: topic.to_string(),
            partition,
            next: start,
            end,
            copier: Copier::default(),
        })
    }

    pub(super) fn done(&self) -> bool {
        self.next >= self.end
    }

    /// Whether a received message is the next one of this partition (not a leftover of an
    /// earlier assignment or a re-delivery).
    pub(super) fn wanted(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) -> bool {
        if message.topic() != self.topic
            || message.partition() != self.partition
            || message.offset() < self.next
        {
            return false;
        }
        self.next = message.offset() + 1;
        true
    }

    pub(super) async fn next_chunk(
        &mut self,
        max: usize,
        selection: &Selection,
    ) -> Result<Vec<RawRecord>> {
        let mut out = Vec::new();
        while !self.done() && out.len() < max {
            let message = tokio::time::timeout(Duration::from_secs(30), self.consumer.recv())
                .await
                .map_err(|_| {
                    Error::Replay(format!(
                        "no record from the broker for 30 s (expected offset {})",
                        self.next
                    ))
                })??;
            if !self.wanted(&message) {
                continue;
            }
            if message.offset() >= self.end {
                break;
            }
            if !selection.offset_ok(message.offset())
                || !selection.time_ok(message.timestamp().to_millis())
            {
                continue;
            }
            out.push(RawRecord::copied(
                &mut self.copier,
                message.topic(),
                message.partition(),
                message.offset(),
                message.key(),
                message.payload(),
            ));
        }
        Ok(out)
    }
}

/// The selected DLQ records, one per source provenance (the latest DLQ copy wins: a crash
/// between DLQ send and the offset of record can publish a record twice).
pub(super) async fn read_dlq(
    settings: &Settings,
    consumer: &StreamConsumer,
    topics: &[String],
    recorded: &HashMap<(String, i32), i64>,
    selection: &Selection,
) -> Result<BTreeMap<(String, i32, i64), RawRecord>> {
    let dlq = settings.dlq();
    let mut out = BTreeMap::new();
    let mut copier = Copier::default();
    for partition in partitions_of(consumer, &dlq)? {
        let (_, high) = consumer.fetch_watermarks(&dlq, partition, Duration::from_secs(10))?;
        let mut reader = PartitionReader::new(consumer, &dlq, partition, 0, high)?;
        while !reader.done() {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .map_err(|_| Error::Replay(format!("no record from {dlq} for 30 s")))??;
            if !reader.wanted(&message) {
                continue;
            }
            let header = |name: &str| {
                message.headers().and_then(|h| {
                    h.iter()
                        .find(|x| x.key == name)
                        .and_then(|x| x.value)
                        .map(|v| String::from_utf8_lossy(v).to_string())
                })
            };
            let (Some(topic), Some(p), Some(o)) = (
                header("lgma.source.topic"),
                header("lgma.source.partition").and_then(|p| p.parse::<i32>().ok()),
                header("lgma.source.offset").and_then(|o| o.parse::<i64>().ok()),
            ) else {
                tracing::warn!(
                    offset = message.offset(),
                    "DLQ record without provenance headers"
                );
                continue;
            };
            let below_record = recorded.get(&(topic.clone(), p)).is_some_and(|n| o < *n);
            if !topics.contains(&topic)
                || !below_record
                || !selection.partition_ok(p)
                || !selection.offset_ok(o)
                || !selection.time_ok(message.timestamp().to_millis())
            {
                continue;
            }
            out.insert(
                (topic.clone(), p, o),
                RawRecord::copied(&mut copier, &topic, p, o, message.key(), message.payload()),
            );
        }
    }
    Ok(out)
}

/// Keeps only the DLQ copies whose key and value are byte-identical to the source record they name:
/// the DLQ is a copy anyone with write access to it could forge, and a replay writes rows under
/// the named provenance. A copy whose source record is gone (retention) cannot be checked and is
/// refused too. Returns the verified records and how many were refused.
pub(super) async fn verified_against_source(
    consumer: &StreamConsumer,
    copies: BTreeMap<(String, i32, i64), RawRecord>,
) -> Result<(BTreeMap<(String, i32, i64), RawRecord>, usize)> {
    let mut by_partition: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
    for (topic, partition, offset) in copies.keys() {
        by_partition
            .entry((topic.clone(), *partition))
            .or_default()
            .push(*offset);
    }
    let mut verified = BTreeMap::new();
    for ((topic, partition), offsets) in by_partition {
        let (Some(first), Some(last)) = (offsets.first(), offsets.last()) else {
            continue;
        };
        let (low, _) = consumer.fetch_watermarks(&topic, partition, Duration::from_secs(10))?;
        let start = (*first).max(low);
        if start > *last {
            continue; // every source record of this partition is gone
        }
        let mut reader = PartitionReader::new(consumer, &topic, partition, start, last + 1)?;
        while !reader.done() {
            for source in reader.next_chunk(1000, &Selection::default()).await? {
                let key = (topic.clone(), partition, source.offset);
                if let Some(copy) = copies.get(&key) {
                    if copy.key == source.key && copy.value == source.value {
                        verified.insert(key, source);
                    }
                }
            }
        }
    }
    let refused = copies.len() - verified.len();
    if refused > 0 {
        tracing::warn!(
            refused,
            "DLQ copies refused: not identical to their source record, or the source is gone"
        );
        eprintln!("refused {refused} DLQ copies: not identical to their source record, or the source record is gone");
    }
    Ok((verified, refused))
}
