//! Version safety's memory for live ingest: the highest accepted `entity_version` per entity, per
//! (topic, partition), kept in memory instead of asking ClickHouse for every key of every batch.
//!
//! Why it is correct: records are keyed by entity id, so an entity's versions all come through one
//! partition, and a partition is consumed by one instance in offset order. A partition is seeded
//! ONCE from ClickHouse when a batch first needs it (the offset of record `ingest_events` plus
//! versions a replay accepted), i.e. exactly what was committed below the consumer's position;
//! from then on each prepared batch adds its accepted versions. Those include a batch still being
//! written (at most one is in flight): if any batch fails, or partitions are rebalanced, the
//! consumer calls [`VersionCache::clear`] and re-seeds from ClickHouse after re-positioning, so a
//! re-processed batch gets the verdicts of its first attempt. Versions a concurrent `replay`
//! releases are merged by a periodic poll of `ingest_replay_events`.
//!
//! The rule itself, for live ingest and replays alike: [`check_version`].
//!
//! Memory: an entity is remembered by a 128-bit XXH3 digest of `la_code \0 entity_id`, not the
//! string: 24 bytes inline and no allocation per entity, where the string key cost ~80 bytes. At
//! 128 bits two of even a billion entities collide with odds around 10^-21, far below any
//! hardware error rate, so a digest stands for the key.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use twox_hash::XxHash3_128;

use super::validate::{verdict_of, Finding, Verdict};
use super::Judged;
use crate::decode::Text;

/// Maps keyed by what councils send (entity ids, or digests of them) hash with foldhash, seeded
/// at random per process and per map: about as fast as Fx on these keys (SipHash cost the version
/// memory ~40 % of its time), and unlike Fx, which has no seed, a publisher cannot work out ahead
/// ids that all fall into one bucket. foldhash is only "minimally DoS-resistant": an attacker who
/// studied the running process's timing long enough could; that is the trade for the speed. Maps
/// keyed by our own names (topics) and by partitions use Fx.
type WireMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Accepted versions already stored, by topic then (la_code, entity_id): (partition, offset,
/// version). Keyed by topic first so a record's lookup borrows its topic (no copy per record).
#[derive(Debug, Default)]
pub struct Stored(FxHashMap<String, WireMap<(Text, Text), Entries>>);

/// An entity's stored versions: live ingest remembers one per entity (inline, no allocation per
/// record); a replay may find several in ClickHouse.
type Entries = smallvec::SmallVec<[At; 1]>;

/// Where a version is stored and which: (partition, offset, version).
pub type At = (i32, i64, i64);

impl Stored {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that `version` of the entity is stored at (`partition`, `offset`).
    pub fn add(
        &mut self,
        topic: &str,
        la_code: Text,
        entity_id: Text,
        at: (i32, i64),
        version: i64,
    ) {
        let by_entity = match self.0.get_mut(topic) {
            Some(by_entity) => by_entity,
            None => self.0.entry(topic.to_string()).or_default(),
        };
        by_entity
            .entry((la_code, entity_id))
            .or_default()
            .push((at.0, at.1, version));
    }

    /// What is stored of the entity: (partition, offset, version) entries.
    pub fn get(&self, topic: &str, la_code: &Text, entity_id: &Text) -> &[At] {
        self.0
            .get(topic)
            .and_then(|by_entity| by_entity.get(&(la_code.clone(), entity_id.clone())))
            .map_or(&[], Entries::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entity's entries: ((topic, la_code, entity_id), entries).
    pub fn iter(&self) -> impl Iterator<Item = ((&str, &Text, &Text), &[At])> {
        self.0.iter().flat_map(|(topic, by_entity)| {
            by_entity
                .iter()
                .map(move |((la, id), entries)| ((topic.as_str(), la, id), entries.as_slice()))
        })
    }
}

/// What version safety compares a record with: the highest accepted version of its entity stored
/// before it. Live ingest asks its memory ([`VersionCache`]); a replay and the offline chain the
/// versions found stored for the batch plus the batch's earlier records ([`InBatch`]).
pub trait Before<'a> {
    /// The highest accepted version of `j`'s entity before `j` (None: none).
    fn before(&self, j: &Judged<'a>) -> Option<i64>;
    /// `j` passed: the records after it compare with it too.
    fn accepted(&mut self, j: &Judged<'a>);
}

/// Version safety for one record, records taken in log order: an event older than the highest
/// accepted version of its entity before it is quarantined as `version.stale`, the same version
/// again as `version.duplicate`.
pub fn check_version<'a>(j: &mut Judged<'a>, versions: &mut impl Before<'a>) {
    if !is_candidate(j) {
        return;
    }
    match versions.before(j) {
        Some(stored) if j.env.entity_version < stored => {
            j.findings.push(Finding::quarantine(
                "version.stale",
                format!(
                    "field `entity_version` value {} is older than stored version {} (rule version.stale)",
                    j.env.entity_version, stored
                ),
            ));
        }
        // Versions are monotonic per entity, so the same version again is a re-sent event (a
        // publisher retry at a new offset): recorded once in the offset of record, never
        // accepted twice.
        Some(stored) if j.env.entity_version == stored => {
            j.findings.push(Finding::quarantine(
                "version.duplicate",
                format!(
                    "field `entity_version` value {} is already stored for entity {} (event {} re-sent; rule version.duplicate)",
                    j.env.entity_version, j.env.entity_id, j.env.event_id
                ),
            ));
        }
        _ => versions.accepted(j),
    }
}

/// Stored versions, then the batch's own: what is before a record is the highest version stored
/// BEFORE it (an earlier offset of the same partition, or any other partition) or accepted
/// earlier in the batch. Bounding by offset makes a replayed record get the verdict it had (or
/// would have had) at its place in the log, whatever was ingested after it.
pub struct InBatch<'s, 'a> {
    stored: &'s Stored,
    in_batch: WireMap<(&'a str, Text, Text), i64>,
}

impl<'s, 'a> InBatch<'s, 'a> {
    pub fn new(stored: &'s Stored) -> Self {
        Self {
            stored,
            in_batch: WireMap::default(),
        }
    }

    /// The batch's key of `j`'s entity: (topic, la_code, entity_id).
    fn key(j: &Judged<'a>) -> (&'a str, Text, Text) {
        (&j.raw.topic, j.env.la_code.clone(), j.env.entity_id.clone())
    }
}

impl<'a> Before<'a> for InBatch<'_, 'a> {
    fn before(&self, j: &Judged<'a>) -> Option<i64> {
        let before_stored = self
            .stored
            .get(&j.raw.topic, &j.env.la_code, &j.env.entity_id)
            .iter()
            .filter(|(p, o, _)| *p != j.raw.partition || *o < j.raw.offset)
            .map(|(_, _, v)| *v)
            .max();
        before_stored.max(self.in_batch.get(&Self::key(j)).copied())
    }

    fn accepted(&mut self, j: &Judged<'a>) {
        let v = self
            .in_batch
            .entry(Self::key(j))
            .or_insert(j.env.entity_version);
        *v = (*v).max(j.env.entity_version);
    }
}

/// [`check_version`] over a batch judged beforehand, against `stored` (a replay's path).
pub fn apply_version_safety<'j, 'a: 'j>(
    judged: impl IntoIterator<Item = &'j mut Judged<'a>>,
    stored: &Stored,
) {
    let mut versions = InBatch::new(stored);
    for j in judged {
        check_version(j, &mut versions);
    }
}

/// A record version safety judges: decoded and not quarantined.
pub fn is_candidate(j: &Judged<'_>) -> bool {
    j.decoded && verdict_of(&j.findings) != Verdict::Quarantine
}

/// digest of `la_code \0 entity_id` -> highest accepted entity_version.
type Entities = WireMap<u128, i64>;

fn entity_key(la_code: &str, entity_id: &str) -> u128 {
    let (la, id) = (la_code.as_bytes(), entity_id.as_bytes());
    let len = la.len() + 1 + id.len();
    let mut stack = [0u8; 128];
    let mut heap = Vec::new();
    let buf = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap[..]
    };
    buf[..la.len()].copy_from_slice(la);
    buf[la.len()] = 0;
    buf[la.len() + 1..].copy_from_slice(id);
    XxHash3_128::oneshot(buf)
}

#[derive(Debug, Default)]
pub struct VersionCache {
    /// topic -> partition -> entities.
    topics: FxHashMap<String, FxHashMap<i32, Entities>>,
    /// Epoch seconds of the last `ingest_replay_events` poll (None: never).
    pub replay_polled: Option<i64>,
}

impl VersionCache {
    /// Forgets everything (after a failed batch or a rebalance); partitions are re-seeded.
    pub fn clear(&mut self) {
        self.topics.clear();
        self.replay_polled = None;
    }

    pub fn is_seeded(&self, topic: &str, partition: i32) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|p| p.contains_key(&partition))
    }

    /// Marks a partition seeded (possibly with no entity yet).
    pub fn seed(&mut self, topic: &str, partition: i32) {
        self.topics
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_default();
    }

    /// Raises an entity's version in a seeded partition (ignored for partitions not seeded:
    /// their seed will read it from ClickHouse).
    pub fn raise(&mut self, topic: &str, partition: i32, la_code: &str, entity_id: &str, v: i64) {
        if let Some(entities) = self
            .topics
            .get_mut(topic)
            .and_then(|p| p.get_mut(&partition))
        {
            let slot = entities.entry(entity_key(la_code, entity_id)).or_insert(v);
            *slot = (*slot).max(v);
        }
    }

    pub fn get(&self, topic: &str, partition: i32, la_code: &str, entity_id: &str) -> Option<i64> {
        self.topics
            .get(topic)
            .and_then(|p| p.get(&partition))
            .and_then(|entities| entities.get(&entity_key(la_code, entity_id)))
            .copied()
    }

    /// Entities remembered (memory bound, metrics).
    pub fn len(&self) -> usize {
        self.topics
            .values()
            .flat_map(FxHashMap::values)
            .map(WireMap::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Live ingest: what is before a record is what the memory holds for its entity (every partition
/// of the batch seeded first, see the module's doc); an accepted record is remembered at once, so
/// the batch's later records compare with it.
impl<'a> Before<'a> for VersionCache {
    fn before(&self, j: &Judged<'a>) -> Option<i64> {
        self.get(
            &j.raw.topic,
            j.raw.partition,
            &j.env.la_code,
            &j.env.entity_id,
        )
    }

    fn accepted(&mut self, j: &Judged<'a>) {
        let env = &j.env;
        self.raise(
            &j.raw.topic,
            j.raw.partition,
            &env.la_code,
            &env.entity_id,
            env.entity_version,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_highest_version_per_seeded_partition_only() {
        let mut c = VersionCache::default();
        c.raise("t", 0, "DC", "e1", 3); // not seeded: ignored
        assert_eq!(c.get("t", 0, "DC", "e1"), None);
        c.seed("t", 0);
        assert!(c.is_seeded("t", 0) && !c.is_seeded("t", 1));
        c.raise("t", 0, "DC", "e1", 3);
        c.raise("t", 0, "DC", "e1", 2);
        assert_eq!(c.get("t", 0, "DC", "e1"), Some(3));
        assert_eq!(c.get("t", 0, "CK", "e1"), None);
        assert_eq!(c.get("u", 0, "DC", "e1"), None);
        // The separator keeps ("DC", "1e1") and ("DC1", "e1") apart.
        c.raise("t", 0, "DC1", "e1", 9);
        assert_eq!(c.get("t", 0, "DC", "1e1"), None);
        assert_eq!(c.get("t", 0, "DC1", "e1"), Some(9));
        c.clear();
        assert!(c.is_empty() && !c.is_seeded("t", 0));
    }
}
