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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::chain::Mode;
use crate::config::Settings;
use crate::encode::BatchOutcome;
use crate::pipeline::Pipeline;
use crate::sink::quote;
use crate::source::offsets::next_offsets;
use crate::source::RawRecord;
use crate::{Error, Result};
pub use read::Selection;
use read::{
    partitions_of, read_dlq, replay_consumer, start_offset, verified_against_source,
    PartitionReader,
};

mod read;

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
    let mode = Mode::replay(replay_id, request.kind == ReplayKind::Range);
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
                    .entry((r.topic.to_string(), r.partition))
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
