//! Stage 1, source: records from Kafka ([`consumer`]: batching, positioning on the offset of
//! record, retries), the offset of record itself ([`offsets`]), and what a record is.

pub mod consumer;
pub mod offsets;

/// One consumed Kafka record, owned (the batch outlives the consumer's borrow).
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl RawRecord {
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + 64
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
