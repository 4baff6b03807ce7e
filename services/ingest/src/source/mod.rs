//! Stage 1, source: records from Kafka ([`consumer`]: batching, positioning on the offset of
//! record, retries), the offset of record itself ([`offsets`]), and what a record is.

pub mod consumer;
pub mod offsets;

use bytes::{Bytes, BytesMut};
use rustc_hash::FxHashMap;

use crate::decode::Text;

/// One consumed Kafka record, owned (the batch outlives the consumer's borrow).
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Shared with every record of the topic ([`Copier`]), not a copy per record.
    pub topic: Text,
    pub partition: i32,
    pub offset: i64,
    /// Views into the consumer's shared chunks ([`Copier`]). `encode::events::dlq_record` still
    /// copies them into its message (2 % of records), so the enriched messages stay plain `Vec`s.
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

impl RawRecord {
    /// The consumer's copy of a fetched record out of librdkafka's buffer (the batch outlives the
    /// fetch): the key and the payload into the copier's chunk, the topic name shared.
    pub fn copied(
        copier: &mut Copier,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Self {
        Self {
            topic: copier.topic(topic),
            partition,
            offset,
            key: key.map(|k| copier.bytes(k)),
            value: value.map(|v| copier.bytes(v)),
        }
    }

    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len) + self.value.as_ref().map_or(0, Bytes::len) + 64
    }
}

/// A chunk of [`Copier`]'s bytes: one allocation for a few hundred records' keys and payloads.
const CHUNK_BYTES: usize = 64 * 1024;

/// What a consumer's copies of records share, kept across batches: each topic name made once (a
/// record's topic is then a reference count, or an inline copy up to 23 bytes), and the records'
/// bytes copied one after another into [`CHUNK_BYTES`] chunks instead of two allocations per record
/// (key and payload): 7.5 allocations per accepted event instead of 9.5, the chain's time within
/// its run-to-run noise (BENCHMARKS.md, session 18). A chunk is freed when the last record viewing
/// it is dropped.
#[derive(Debug, Default)]
pub struct Copier {
    names: FxHashMap<Box<str>, Text>,
    chunk: BytesMut,
}

impl Copier {
    pub fn topic(&mut self, name: &str) -> Text {
        if let Some(text) = self.names.get(name) {
            return text.clone();
        }
        let text = Text::new(name);
        self.names.insert(name.into(), text.clone());
        text
    }

    /// `bytes` copied to the end of the current chunk (a new chunk when it is full).
    pub fn bytes(&mut self, bytes: &[u8]) -> Bytes {
        if self.chunk.capacity() < bytes.len() {
            self.chunk = BytesMut::with_capacity(CHUNK_BYTES.max(bytes.len()));
        }
        self.chunk.extend_from_slice(bytes);
        self.chunk.split().freeze()
    }
}

/// Offsets `first..=last` of a partition that the consumer never saw: the broker no longer holds
/// them (council topics are not compacted and carry no transactions, so offsets are consecutive).
/// Recorded in the offset of record as one `LOST` row (migration 0208), never silently skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

impl Gap {
    pub fn records(&self) -> u64 {
        u64::try_from(self.last - self.first + 1).unwrap_or(0)
    }
}
