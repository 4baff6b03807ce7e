//! Stage 5, encode: what a batch writes, before any of it is written — entity rows (RowBinary), the DDL and
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
    pub key: Option<Key>,
    pub value: Option<Vec<u8>>,
    pub headers: Headers,
}

/// A message's key: the entity id (enriched events, shared with the row) or the consumed record's
/// own bytes (DLQ, which keeps them exactly).
#[derive(Debug, Clone)]
pub enum Key {
    Text(Text),
    Raw(Vec<u8>),
}

impl Key {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Text(t) => t.as_bytes(),
            Key::Raw(b) => b,
        }
    }
}

/// A message's headers: an enriched event's two (no list to allocate per event), or a DLQ
/// record's. Names are ours (static); values are cell text or built for the DLQ record.
#[derive(Debug, Clone)]
pub enum Headers {
    Event { event_id: Text, la_code: Text },
    List(Vec<(&'static str, Text)>),
}

impl Headers {
    pub fn len(&self) -> usize {
        match self {
            Headers::Event { .. } => 2,
            Headers::List(list) => list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with each (name, value), in the order they are sent.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, &Text)) {
        match self {
            Headers::Event { event_id, la_code } => {
                f("event_id", event_id);
                f("la_code", la_code);
            }
            Headers::List(list) => list.iter().for_each(|(k, v)| f(k, v)),
        }
    }
}

/// One entity table's rows in a batch: RowBinary, in the order of `columns`, which the INSERT
/// names (see [`row`]).
#[derive(Debug, Clone, Default)]
pub struct TableRows {
    /// The layout's column list, `(`a`, `b`, ...)` (shared, not copied per batch).
    pub columns: std::sync::Arc<str>,
    pub rows: usize,
    pub body: Vec<u8>,
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
    /// Entity rows per table stem: written to `<table>_history` and `<table>_current`.
    pub tables: HashMap<String, TableRows>,
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
