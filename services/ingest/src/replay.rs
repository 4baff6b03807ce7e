//! `lgma-ingest replay`: re-drive quarantined records from the DLQ after a rules or schema fix, or
//! re-ingest an offset or time range of a source topic, through the normal chain.
//!
//! Exactly once, without touching the offset of record: replayed records keep their ORIGINAL
//! provenance (topic, partition, offset), so their history/current rows collapse with any earlier
//! ones (ReplacingMergeTree keyed by provenance / entity version); their verdicts go to
//! `ingest_replay_events` (ReplacingMergeTree by provenance, latest replay wins), never to
//! `ingest_events`, whose one-row-per-consumed-record invariant the live consumer relies on. A
//! quarantined record a replay accepts gets a superseding quarantine row with status `released`; one
//! that still fails gets a new quarantine row carrying the `replay_id`. Only records the live
//! consumer has already recorded (below the offset of record) are replayed. Every run writes
//! `ingest_replay_audit` rows (who, when, what, counts, result).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::chain::Mode;
use crate::config::Settings;
use crate::encode::BatchOutcome;
use crate::pipeline::Pipeline;
use crate::sink::quote;
use crate::source::offsets::next_offsets;
use crate::source::RawRecord;
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
    fn offset_ok(&self, offset: i64) -> bool {
        self.from_offset.is_none_or(|f| offset >= f) && self.to_offset.is_none_or(|t| offset <= t)
    }
    fn time_ok(&self, ms: Option<i64>) -> bool {
        if self.since_ms.is_none() && self.until_ms.is_none() {
            return true;
        }
        ms.is_some_and(|ms| {
            self.since_ms.is_none_or(|s| ms >= s) && self.until_ms.is_none_or(|u| ms <= u)
        })
    }
    fn partition_ok(&self, p: i32) -> bool {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayKind {
    /// Re-drive quarantined records from the DLQ topic.
    Dlq,
    /// Re-read a source topic range.
    Range,
}

impl ReplayKind {
    fn as_str(self) -> &'static str {
        match self {
            ReplayKind::Dlq => "dlq",
            ReplayKind::Range => "range",
        }
    }
}

/// One replay run's request.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: ReplayKind,
    pub selection: Selection,
    pub requested_by: String,
    pub reason: String,
}

/// Counts of one (source topic, partition) of a run.
#[derive(Debug, Default, Clone)]
pub struct PartitionSummary {
    pub from_offset: i64,
    pub to_offset: i64,
    pub records: u64,
    pub accepted: u64,
    pub warned: u64,
    pub quarantined: u64,
    pub released: u64,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub replay_id: String,
    pub partitions: BTreeMap<(String, i32), PartitionSummary>,
    pub result: String,
}

impl Summary {
    pub fn total(&self) -> PartitionSummary {
        let mut t = PartitionSummary::default();
        for p in self.partitions.values() {
            t.records += p.records;
            t.accepted += p.accepted;
            t.warned += p.warned;
            t.quarantined += p.quarantined;
            t.released += p.released;
        }
        t
    }
}

/// Runs a replay and writes its audit rows (also when it fails part-way).
pub async fn run(settings: &Settings, pipeline: &Pipeline, request: &Request) -> Result<Summary> {
    let replay_id = uuid::Uuid::new_v4().to_string();
    let requested_ms = chrono::Utc::now().timestamp_millis();
    let mut summary = Summary {
        replay_id: replay_id.clone(),
        partitions: BTreeMap::new(),
        result: "ok".into(),
    };
    eprintln!(
        "replay {replay_id}: {} {} requested by {}",
        request.kind.as_str(),
        request.selection.describe(),
        request.requested_by
    );
    let outcome = replay(settings, pipeline, request, &replay_id, &mut summary).await;
    if let Err(e) = &outcome {
        summary.result = format!("failed: {e}");
    }
    write_audit(pipeline, request, &summary, requested_ms).await?;
    outcome.map(|()| summary)
}

async fn replay(
    settings: &Settings,
    pipeline: &Pipeline,
    request: &Request,
    replay_id: &str,
    summary: &mut Summary,
) -> Result<()> {
    let topics = source_topics(settings, pipeline, &request.selection)?;
    // Only what the live consumer has recorded: never race it for records it has not seen.
    let recorded = next_offsets(pipeline.clickhouse(), &topics).await?;
    let consumer = replay_consumer(settings, replay_id)?;
    let mode = Mode::Replay {
        replay_id: replay_id.to_string(),
        to_dlq: request.kind == ReplayKind::Range,
    };
    let mut progress = Progress::new(replay_id);
    match request.kind {
        ReplayKind::Dlq => {
            let records =
                read_dlq(settings, &consumer, &topics, &recorded, &request.selection).await?;
            let (records, refused) = verified_against_source(&consumer, records).await?;
            if refused > 0 {
                summary.result = format!(
                    "ok; {refused} DLQ copies refused (not identical to the source record, or the \
                     source record is gone)"
                );
            }
            let mut by_partition: BTreeMap<(String, i32), Vec<RawRecord>> = BTreeMap::new();
            for r in records.into_values() {
                by_partition
                    .entry((r.topic.clone(), r.partition))
                    .or_default()
                    .push(r);
            }
            progress.total = by_partition.values().map(|v| v.len() as u64).sum();
            for (tp, records) in by_partition {
                for chunk in records.chunks(settings.batch.max_rows) {
                    let outcome = pipeline.process_as(chunk, &mode).await?;
                    account(summary, &tp, chunk, &outcome);
                    progress.add(summary);
                }
            }
        }
        ReplayKind::Range => {
            for topic in &topics {
                let partitions = partitions_of(&consumer, topic)?;
                for partition in partitions {
                    if !request.selection.partition_ok(partition) {
                        continue;
                    }
                    let end = recorded
                        .get(&(topic.clone(), partition))
                        .copied()
                        .unwrap_or(0);
                    let end = request
                        .selection
                        .to_offset
                        .map_or(end, |t| end.min(t.saturating_add(1)));
                    let start = start_offset(&consumer, topic, partition, &request.selection)?;
                    if start >= end {
                        continue;
                    }
                    progress.total += (end - start) as u64;
                    let tp = (topic.clone(), partition);
                    let mut reader = PartitionReader::new(&consumer, topic, partition, start, end)?;
                    loop {
                        let chunk = reader
                            .next_chunk(settings.batch.max_rows, &request.selection)
                            .await?;
                        if chunk.is_empty() && reader.done() {
                            break;
                        }
                        if !chunk.is_empty() {
                            let outcome = pipeline.process_as(&chunk, &mode).await?;
                            account(summary, &tp, &chunk, &outcome);
                        }
                        progress.add(summary);
                    }
                }
            }
        }
    }
    progress.finish(summary);
    Ok(())
}

fn account(summary: &mut Summary, tp: &(String, i32), chunk: &[RawRecord], o: &BatchOutcome) {
    let first = chunk.first().map_or(0, |r| r.offset);
    let last = chunk.last().map_or(0, |r| r.offset);
    let p = summary
        .partitions
        .entry(tp.clone())
        .or_insert_with(|| PartitionSummary {
            from_offset: first,
            to_offset: last,
            ..PartitionSummary::default()
        });
    p.from_offset = p.from_offset.min(first);
    p.to_offset = p.to_offset.max(last);
    p.records += o.rows as u64;
    p.accepted += o.accepted as u64;
    p.warned += o.warned as u64;
    p.quarantined += o.quarantined as u64;
    p.released += o.released as u64;
}

/// Prints progress to stderr at most every few seconds.
struct Progress {
    replay_id: String,
    total: u64,
    last: Instant,
}

impl Progress {
    fn new(replay_id: &str) -> Self {
        Self {
            replay_id: replay_id.into(),
            total: 0,
            last: Instant::now(),
        }
    }
    fn add(&mut self, summary: &Summary) {
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let t = summary.total();
        eprintln!(
            "replay {}: {} of at most {} records (accepted {}, warned {}, quarantined {}, released {})",
            self.replay_id, t.records, self.total, t.accepted, t.warned, t.quarantined, t.released
        );
    }
    fn finish(&self, summary: &Summary) {
        let t = summary.total();
        eprintln!(
            "replay {}: done, {} records (accepted {}, warned {}, quarantined {}, released {})",
            self.replay_id, t.records, t.accepted, t.warned, t.quarantined, t.released
        );
    }
}

/// The selected source topics, as consumed (suffix applied), all configured ones if none given.
fn source_topics(
    settings: &Settings,
    pipeline: &Pipeline,
    selection: &Selection,
) -> Result<Vec<String>> {
    let configured: Vec<String> = {
        let mut t: Vec<String> = pipeline.chain.topics.keys().cloned().collect();
        t.sort();
        t
    };
    if selection.topics.is_empty() {
        return Ok(configured);
    }
    selection
        .topics
        .iter()
        .map(|name| {
            let full = settings.source_topic(name);
            if configured.contains(name) {
                Ok(name.clone())
            } else if configured.contains(&full) {
                Ok(full)
            } else {
                Err(Error::Config(format!(
                    "topic {name} is not configured (configured: {configured:?})"
                )))
            }
        })
        .collect()
}

fn replay_consumer(settings: &Settings, replay_id: &str) -> Result<StreamConsumer> {
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

fn partitions_of(consumer: &StreamConsumer, topic: &str) -> Result<Vec<i32>> {
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
fn start_offset(
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
struct PartitionReader<'c> {
    consumer: &'c StreamConsumer,
    topic: String,
    partition: i32,
    next: i64,
    end: i64,
}

impl<'c> PartitionReader<'c> {
    fn new(
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
        })
    }

    fn done(&self) -> bool {
        self.next >= self.end
    }

    /// Whether a received message is the next one of this partition (not a leftover of an
    /// earlier assignment or a re-delivery).
    fn wanted(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) -> bool {
        if message.topic() != self.topic
            || message.partition() != self.partition
            || message.offset() < self.next
        {
            return false;
        }
        self.next = message.offset() + 1;
        true
    }

    async fn next_chunk(&mut self, max: usize, selection: &Selection) -> Result<Vec<RawRecord>> {
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
            out.push(RawRecord {
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
            });
        }
        Ok(out)
    }
}

/// The selected DLQ records, one per source provenance (the latest DLQ copy wins: a crash
/// between DLQ send and the offset of record can publish a record twice).
async fn read_dlq(
    settings: &Settings,
    consumer: &StreamConsumer,
    topics: &[String],
    recorded: &HashMap<(String, i32), i64>,
    selection: &Selection,
) -> Result<BTreeMap<(String, i32, i64), RawRecord>> {
    let dlq = settings.dlq();
    let mut out = BTreeMap::new();
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
                RawRecord {
                    topic,
                    partition: p,
                    offset: o,
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                },
            );
        }
    }
    Ok(out)
}

/// Keeps only the DLQ copies whose key and value are byte-identical to the source record they name:
/// the DLQ is a copy anyone with write access to it could forge, and a replay writes rows under
/// the named provenance. A copy whose source record is gone (retention) cannot be checked and is
/// refused too. Returns the verified records and how many were refused.
async fn verified_against_source(
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

/// One audit row per (source topic, partition) replayed; one row with partition -1 if none.
async fn write_audit(
    pipeline: &Pipeline,
    request: &Request,
    summary: &Summary,
    requested_ms: i64,
) -> Result<()> {
    let finished = chrono::Utc::now().timestamp();
    let row = |topic: &str, partition: i32, p: &PartitionSummary| {
        serde_json::json!({
            "replay_id": summary.replay_id, "requested_by": request.requested_by,
            "requested_at": requested_ms / 1000, "source_topic": topic, "partition": partition,
            "from_offset": p.from_offset, "to_offset": p.to_offset, "reason": request.reason,
            "records": p.records, "accepted": p.accepted, "quarantined": p.quarantined,
            "result": summary.result, "mode": request.kind.as_str(),
            "selection": request.selection.describe(), "warned": p.warned,
            "released": p.released, "finished_at": finished,
        })
    };
    let mut body = Vec::new();
    let mut push = |v: serde_json::Value| -> Result<()> {
        serde_json::to_writer(&mut body, &v).map_err(|e| Error::ClickHouse(e.to_string()))?;
        body.push(b'\n');
        Ok(())
    };
    if summary.partitions.is_empty() {
        let topics = request.selection.topics.join(",");
        push(row(&topics, -1, &PartitionSummary::default()))?;
    }
    for ((topic, partition), p) in &summary.partitions {
        push(row(topic, *partition, p))?;
    }
    let table = format!("{}.ingest_replay_audit", pipeline.clickhouse().database());
    pipeline.clickhouse().insert_json(&table, body).await?;
    tracing::info!(replay_id = %summary.replay_id, "audit written to {}", quote(&table));
    Ok(())
}

/// Parses a time bound: RFC 3339 (`2026-11-27T10:00:00Z`), a date (`2026-11-27`, UTC midnight)
/// or milliseconds since the epoch.
pub fn parse_time(text: &str) -> std::result::Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!(
        "`{text}` is not RFC 3339, YYYY-MM-DD or epoch milliseconds"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_bounds_are_inclusive() {
        let s = Selection {
            from_offset: Some(5),
            to_offset: Some(7),
            since_ms: Some(100),
            until_ms: Some(200),
            partitions: vec![1],
            ..Selection::default()
        };
        assert!(!s.offset_ok(4) && s.offset_ok(5) && s.offset_ok(7) && !s.offset_ok(8));
        assert!(s.time_ok(Some(100)) && s.time_ok(Some(200)) && !s.time_ok(Some(201)));
        assert!(!s.time_ok(None), "a time range needs a timestamp");
        assert!(Selection::default().time_ok(None));
        assert!(s.partition_ok(1) && !s.partition_ok(0));
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1000));
        assert!(parse_time("yesterday").is_err());
    }
}
