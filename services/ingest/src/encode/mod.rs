//! Stage 5, encode: what a batch writes, before any of it is written — entity rows, the DDL and
//! the enriched Avro schema by the table layout ([`row`]), the offset-of-record and quarantine rows,
//! DLQ records and enriched events ([`events`]), pseudonym links during a key rotation ([`links`]).
//! Pure.

use std::collections::HashMap;

use crate::decode::Text;
use crate::source::Gap;
use links::Links;

pub mod events;
pub mod links;
#[cfg(any(test, feature = "reference"))]
pub mod reference;
pub mod row;

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Shared with the topic's pipeline (a reference count per message, not a copy).
    pub topic: Text,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Header names are ours (static); values are cell text or built for a DLQ record.
    pub headers: Vec<(&'static str, Text)>,
}

/// What a processed batch wrote, for the caller's bookkeeping.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub rows: usize,
    pub accepted: usize,
    pub warned: usize,
    pub quarantined: usize,
    /// Missing ranges recorded with this batch (see [`Gap`]).
    pub gaps: Vec<Gap>,
    /// Replay only: previously quarantined records that are now accepted or warned.
    pub released: usize,
    /// Highest offset written per (topic, partition).
    pub last_offsets: HashMap<(String, i32), i64>,
}

/// Everything one batch writes, before any of it is written.
#[derive(Debug, Default)]
pub struct Batch {
    pub outcome: BatchOutcome,
    /// `ingest_events` rows (JSONEachRow), one per record, in record order.
    pub events: Vec<u8>,
    /// `ingest_quarantine` rows (JSONEachRow).
    pub quarantine: Vec<u8>,
    /// Entity rows (JSONEachRow) per table stem: written to `<table>_history` and `<table>_current`.
    pub tables: HashMap<String, Vec<u8>>,
    /// `pseudonym_links` rows (only while a domain key names a previous key).
    pub links: Links,
    /// DLQ records and enriched events, in record order.
    pub outgoing: Vec<Outgoing>,
    /// `published_at` of every entity row (publish-to-queryable latency once written).
    pub latencies: Vec<i64>,
    /// The batch time every `ingest_events` row shares (one partition, one part).
    pub ingested_ms: i64,
    pub batch_id: String,
}
