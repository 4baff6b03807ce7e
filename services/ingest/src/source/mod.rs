//! Stage 1, source: records from Kafka ([`consumer`]: batching, positioning on the offset of
//! record, retries), the offset of record itself ([`offsets`]), and what a record is.

pub mod consumer;
pub mod offsets;

use rustc_hash::FxHashMap;

use crate::decode::Text;

/// One consumed Kafka record, owned (the batch outlives the consumer's borrow).
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Shared with every record of the topic ([`TopicNames`]), not a copy per record.
    pub topic: Text,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl RawRecord {
    /// The consumer's copy of a fetched record out of librdkafka's buffer: the key and the payload
    /// onto the heap (the batch outlives the fetch), the topic name shared.
    pub fn copied(
        names: &mut TopicNames,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Self {
        Self {
            topic: names.get(topic),
            partition,
            offset,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
        }
    }

    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + 64
    }
}

/// The topic names a consumer has seen, each made once: a record's topic is then a reference count
/// (names beyond 23 bytes, such as suffixed test topics) or an inline copy, never an allocation.
#[derive(Debug, Default)]
pub struct TopicNames(FxHashMap<Box<str>, Text>);

impl TopicNames {
    pub fn get(&mut self, name: &str) -> Text {
        if let Some(text) = self.0.get(name) {
            return text.clone();
        }
        let text = Text::new(name);
        self.0.insert(name.into(), text.clone());
        text
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
