//! Reconciliation: what the broker published against what the offset of record holds, per topic
//! and partition, so "nothing lost, nothing doubled" is a figure, not a belief.
//!
//! Offsets of a council topic are consecutive from 0 (no compaction, no transactions), so the
//! broker's high watermark is the number of records ever published to a partition, and every one
//! of them must be exactly one of: recorded (stored or quarantined), lost (a `LOST` range in the
//! offset of record, or gone from the broker before ingest reached it) or still unread. Anything
//! else is `unaccounted` (a hole in the offset of record) or `doubled` (an offset recorded twice).
//!
//! The I/O is the caller's (`lgma-ingest reconcile`, lgma-api's `/v1/reconcile`): each runs
//! [`recorded_sql`] with its own ClickHouse client and [`broker_offsets`] with the service's Kafka
//! settings, then [`compare`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::kafka::KafkaSettings;
use crate::{Error, Result};

/// The platform's council topics (`infra/kafka/topics.toml`), for services that account for them
/// without an ingest configuration (lgma-api).
pub const COUNCIL_TOPICS: [&str; 7] = [
    "lgma.homelessness.presentation",
    "lgma.homelessness.placement",
    "lgma.homelessness.exit",
    "lgma.housing.dwelling-unit",
    "lgma.housing.need-assessment",
    "lgma.planning.application",
    "lgma.waste.return",
];

/// A partition as the broker sees it: `low` = first offset still held, `high` = next offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerPartition {
    pub topic: String,
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// A partition as the offset of record (`ingest_events`) sees it: one row of [`recorded_sql`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RecordedPartition {
    pub topic: String,
    pub partition: i32,
    /// Rows for consumed records (any verdict but `LOST`).
    #[serde(deserialize_with = "number")]
    pub rows: i64,
    #[serde(deserialize_with = "number")]
    pub distinct_offsets: i64,
    /// Accepted or warned (stored in the entity tables).
    #[serde(deserialize_with = "number")]
    pub stored: i64,
    #[serde(deserialize_with = "number")]
    pub quarantined: i64,
    /// Records in `LOST` ranges, and how many ranges.
    #[serde(deserialize_with = "number")]
    pub lost: i64,
    #[serde(deserialize_with = "number")]
    pub lost_ranges: i64,
    /// `max(offset) + 1` over every row: where ingest resumes.
    #[serde(deserialize_with = "number")]
    pub next_offset: i64,
}

/// ClickHouse may send 64-bit integers quoted (a readonly user cannot turn that off).
fn number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        U(u64),
        S(String),
    }
    match N::deserialize(d)? {
        N::I(n) => Ok(n),
        N::U(n) => i64::try_from(n).map_err(serde::de::Error::custom),
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// The query whose rows are [`RecordedPartition`]s (the caller appends its `FORMAT`).
pub fn recorded_sql(database: &str, topics: &[String]) -> String {
    let list: Vec<String> = topics
        .iter()
        .map(|t| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!(
        "SELECT topic, partition, \
         toInt64(countIf(verdict != 'LOST')) AS rows, \
         toInt64(uniqExactIf(offset, verdict != 'LOST')) AS distinct_offsets, \
         toInt64(countIf(verdict IN ('ACCEPT', 'WARN'))) AS stored, \
         toInt64(countIf(verdict = 'QUARANTINE')) AS quarantined, \
         toInt64(sumIf(lost_records, verdict = 'LOST')) AS lost, \
         toInt64(countIf(verdict = 'LOST')) AS lost_ranges, \
         max(offset) + 1 AS next_offset \
         FROM {database}.ingest_events WHERE topic IN ({}) \
         GROUP BY topic, partition ORDER BY topic, partition",
        if list.is_empty() {
            "''".to_string()
        } else {
            list.join(", ")
        }
    )
}

/// Every partition's log start and end on the broker (blocking: one metadata request, then one
/// offsets request per partition).
pub fn broker_offsets(
    kafka: &KafkaSettings,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<BrokerPartition>> {
    let consumer: BaseConsumer = kafka
        .client_config_with(&[
            ("group.id", "lgma-reconcile"),
            ("enable.auto.commit", "false"),
        ])
        .create()
        .map_err(|e| Error::Config(format!("kafka client: {e}")))?;
    let mut out = Vec::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| Error::Config(format!("metadata of {topic}: {e}")))?;
        for t in metadata.topics() {
            if let Some(e) = t.error() {
                return Err(Error::Config(format!("topic {topic}: {e:?}")));
            }
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), timeout)
                    .map_err(|e| Error::Config(format!("offsets of {topic}[{}]: {e}", p.id())))?;
                out.push(BrokerPartition {
                    topic: topic.clone(),
                    partition: p.id(),
                    low,
                    high,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}

/// One partition's account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Line {
    pub topic: String,
    pub partition: i32,
    /// Records ever published (the high watermark).
    pub published: i64,
    /// First offset the broker still holds.
    pub log_start: i64,
    pub stored: i64,
    pub quarantined: i64,
    /// Recorded as lost (`LOST` ranges in the offset of record).
    pub lost: i64,
    /// Gone from the broker before ingest reached them, not recorded yet (ingest records them as
    /// lost when it gets there).
    pub lost_unrecorded: i64,
    /// Still on the broker, not consumed yet (lag).
    pub unread: i64,
    /// Offsets recorded more than once.
    pub doubled: i64,
    /// Published offsets that are none of the above (a hole in the offset of record).
    pub unaccounted: i64,
}

impl Line {
    fn add(&mut self, o: &Line) {
        self.published += o.published;
        self.stored += o.stored;
        self.quarantined += o.quarantined;
        self.lost += o.lost;
        self.lost_unrecorded += o.lost_unrecorded;
        self.unread += o.unread;
        self.doubled += o.doubled;
        self.unaccounted += o.unaccounted;
    }

    pub fn verdict(&self) -> &'static str {
        if self.doubled > 0 || self.unaccounted != 0 {
            "MISMATCH"
        } else if self.lost > 0 || self.lost_unrecorded > 0 {
            "LOSS"
        } else if self.unread > 0 {
            "catching up"
        } else {
            "ok"
        }
    }
}

/// Every partition's account and the totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub lines: Vec<Line>,
    pub total: Line,
}

impl Report {
    /// Every published record is stored or quarantined exactly once: nothing lost, doubled,
    /// unaccounted or still unread.
    pub fn all_accounted(&self) -> bool {
        self.lines.iter().all(|l| l.verdict() == "ok")
    }

    /// Like [`Report::all_accounted`] but records still waiting to be read are fine.
    pub fn nothing_lost_or_doubled(&self) -> bool {
        self.lines
            .iter()
            .all(|l| matches!(l.verdict(), "ok" | "catching up"))
    }

    /// A fixed-width table for terminals and logs.
    pub fn table(&self) -> String {
        let width = self
            .lines
            .iter()
            .map(|l| l.topic.len() + 5)
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$} {:>10} {:>10} {:>11} {:>8} {:>8} {:>8} {:>7} {:>11}  verdict",
            "topic[partition]",
            "published",
            "stored",
            "quarantined",
            "lost",
            "gone*",
            "unread",
            "doubled",
            "unaccounted"
        );
        let mut row = |name: String, l: &Line| {
            let _ = writeln!(
                out,
                "{name:<width$} {:>10} {:>10} {:>11} {:>8} {:>8} {:>8} {:>7} {:>11}  {}",
                l.published,
                l.stored,
                l.quarantined,
                l.lost,
                l.lost_unrecorded,
                l.unread,
                l.doubled,
                l.unaccounted,
                l.verdict()
            );
        };
        for l in &self.lines {
            row(format!("{}[{}]", l.topic, l.partition), l);
        }
        row("TOTAL".into(), &self.total);
        out.push_str(
            "* gone: deleted by the broker before ingest reached them; recorded as lost when it does\n",
        );
        out
    }
}

/// Puts the broker's and the offset of record's view side by side.
pub fn compare(broker: &[BrokerPartition], recorded: &[RecordedPartition]) -> Report {
    let mut by_key: BTreeMap<(&str, i32), &RecordedPartition> = BTreeMap::new();
    for r in recorded {
        by_key.insert((r.topic.as_str(), r.partition), r);
    }
    let empty = RecordedPartition::default();
    let mut report = Report::default();
    for b in broker {
        let r = by_key
            .remove(&(b.topic.as_str(), b.partition))
            .unwrap_or(&empty);
        let next = r.next_offset.max(0);
        // Offsets from `next` on: gone if below the log start, else unread up to the end.
        let lost_unrecorded = (b.low - next).max(0);
        let unread = (b.high - next.max(b.low)).max(0);
        let doubled = r.rows - r.distinct_offsets;
        let accounted = r.distinct_offsets + r.lost + lost_unrecorded + unread;
        let line = Line {
            topic: b.topic.clone(),
            partition: b.partition,
            published: b.high,
            log_start: b.low,
            stored: r.stored,
            quarantined: r.quarantined,
            lost: r.lost,
            lost_unrecorded,
            unread,
            doubled,
            unaccounted: b.high - accounted,
        };
        report.total.add(&line);
        report.lines.push(line);
    }
    // Recorded partitions the broker does not know (topic recreated?): all unaccounted.
    for ((topic, partition), r) in by_key {
        let line = Line {
            topic: topic.to_string(),
            partition,
            stored: r.stored,
            quarantined: r.quarantined,
            lost: r.lost,
            doubled: r.rows - r.distinct_offsets,
            unaccounted: -(r.distinct_offsets + r.lost),
            ..Line::default()
        };
        report.total.add(&line);
        report.lines.push(line);
    }
    report.total.topic = "TOTAL".into();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(p: i32, low: i64, high: i64) -> BrokerPartition {
        BrokerPartition {
            topic: "t".into(),
            partition: p,
            low,
            high,
        }
    }

    fn recorded(p: i32, stored: i64, quarantined: i64, lost: i64, next: i64) -> RecordedPartition {
        RecordedPartition {
            topic: "t".into(),
            partition: p,
            rows: stored + quarantined,
            distinct_offsets: stored + quarantined,
            stored,
            quarantined,
            lost,
            lost_ranges: i64::from(lost > 0),
            next_offset: next,
        }
    }

    #[test]
    fn everything_recorded_is_ok() {
        let r = compare(&[broker(0, 0, 10)], &[recorded(0, 8, 2, 0, 10)]);
        assert!(r.all_accounted(), "{}", r.table());
        assert_eq!(r.total.published, 10);
        assert_eq!(r.total.unaccounted, 0);
    }

    #[test]
    fn recorded_loss_is_loss_and_adds_up() {
        // Offsets 3..=5 lost, the rest recorded.
        let r = compare(&[broker(0, 6, 10)], &[recorded(0, 7, 0, 3, 10)]);
        assert_eq!(r.lines[0].verdict(), "LOSS");
        assert_eq!(r.lines[0].unaccounted, 0);
        assert!(!r.nothing_lost_or_doubled());
    }

    #[test]
    fn deleted_before_read_is_loss_not_yet_recorded() {
        // Ingest recorded 0..=3; the broker now starts at 7 and ends at 12.
        let r = compare(&[broker(0, 7, 12)], &[recorded(0, 4, 0, 0, 4)]);
        let l = &r.lines[0];
        assert_eq!((l.lost_unrecorded, l.unread, l.unaccounted), (3, 5, 0));
        assert_eq!(l.verdict(), "LOSS");
    }

    #[test]
    fn lag_is_catching_up_and_unseen_partitions_count_as_unread() {
        let r = compare(
            &[broker(0, 0, 10), broker(1, 0, 4)],
            &[recorded(0, 6, 0, 0, 6)],
        );
        assert_eq!(r.lines[0].unread, 4);
        assert_eq!(r.lines[1].unread, 4);
        assert!(r.nothing_lost_or_doubled() && !r.all_accounted());
    }

    #[test]
    fn doubled_and_holes_are_mismatches() {
        let mut doubled = recorded(0, 10, 0, 0, 10);
        doubled.rows = 11;
        let r = compare(&[broker(0, 0, 10)], &[doubled]);
        assert_eq!((r.lines[0].doubled, r.lines[0].verdict()), (1, "MISMATCH"));
        let mut hole = recorded(0, 9, 0, 0, 10);
        hole.distinct_offsets = 9;
        let r = compare(&[broker(0, 0, 10)], &[hole]);
        assert_eq!(
            (r.lines[0].unaccounted, r.lines[0].verdict()),
            (1, "MISMATCH")
        );
    }

    #[test]
    fn quoted_and_plain_numbers_parse() {
        let row: RecordedPartition = serde_json::from_str(
            r#"{"topic":"t","partition":1,"rows":"5","distinct_offsets":5,"stored":4,
               "quarantined":"1","lost":0,"lost_ranges":0,"next_offset":"5"}"#,
        )
        .expect("parses");
        assert_eq!((row.rows, row.next_offset), (5, 5));
    }

    #[test]
    fn sql_quotes_topic_names() {
        let sql = recorded_sql("lgma", &["a'b".to_string()]);
        assert!(sql.contains("IN ('a\\'b')"), "{sql}");
    }
}
