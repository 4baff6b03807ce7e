//! The in-memory index, built only by applying store-topic records in log order.
//!
//! Pure and deterministic: every instance that applies the same log reaches the same state, which
//! is what makes ids stable across restarts and agreed between instances.
//!
//! Id allocation rule (see README): a SCHEMA claim is accepted only if, at its position in the
//! log, its subject/version is free, its id is free or already names the same schema, and its
//! schema has no other id. Otherwise it is a *loser* and ignored; the writer that proposed it sees
//! this once it has read up to its own record, deletes it with a tombstone and retries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::compat::Level;
use crate::error::{Error, Result};
use crate::identity::{self, ParsedSchema};
use crate::record::{ConfigValue, DeletedValue, Key, ModeValue, Reference, SchemaValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
    ReadOnlyOverride,
    Import,
}

impl Mode {
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "READWRITE" => Mode::ReadWrite,
            "READONLY" => Mode::ReadOnly,
            "READONLY_OVERRIDE" => Mode::ReadOnlyOverride,
            "IMPORT" => Mode::Import,
            _ => return Err(Error::InvalidMode),
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::ReadOnlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }
}

/// One version of one subject.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub nonce: String,
    pub deleted: bool,
}

/// One schema (one id): the Avro text with its references, metadata and rule set, which are all
/// part of its identity (Confluent's `MD5.ofSchema` hashes the four together).
#[derive(Debug, Clone)]
pub struct SchemaEntry {
    pub id: u32,
    pub parsed: Arc<ParsedSchema>,
    pub guid: String,
    pub references: Vec<Reference>,
    pub metadata: Option<serde_json::Value>,
    pub rule_set: Option<serde_json::Value>,
    /// Names resolved (see `identity.rs`) plus references, metadata and rule set.
    pub identity: String,
    /// The exact text (keys sorted) plus references, metadata and rule set.
    pub raw_identity: String,
}

/// Identity of a schema with its references, metadata and rule set. Without any of those it is
/// the schema's own identity, so ids and guids of plain schemas are what they always were.
pub fn full_identity(
    schema_identity: &str,
    references: &[Reference],
    metadata: Option<&serde_json::Value>,
    rule_set: Option<&serde_json::Value>,
) -> String {
    if references.is_empty() && metadata.is_none() && rule_set.is_none() {
        return schema_identity.to_string();
    }
    serde_json::json!([
        schema_identity,
        references,
        metadata.map(identity::sorted),
        rule_set.map(identity::sorted)
    ])
    .to_string()
}

/// What applying one record did (for logs, metrics and the writer waiting on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Accepted,
    /// A SCHEMA claim that lost a race (or was invalid): ignored.
    Rejected(String),
    Ignored,
}

#[derive(Debug, Default)]
pub struct State {
    subjects: BTreeMap<String, BTreeMap<u32, VersionEntry>>,
    schemas: BTreeMap<u32, SchemaEntry>,
    /// Full identity → ids with it (normally one; logs written before names were resolved in
    /// identities may hold two spellings of one schema under two ids: the lowest is used).
    by_identity: HashMap<String, BTreeSet<u32>>,
    /// Raw full identity → id: "one id per exact schema", the rule claims are judged by.
    by_raw_identity: HashMap<String, u32>,
    /// nonce → (subject, version) of accepted claims.
    claims: HashMap<String, (String, u32)>,
    max_id: u32,
    global_config: Option<Level>,
    subject_config: HashMap<String, Level>,
    global_mode: Option<Mode>,
    subject_mode: HashMap<String, Mode>,
    /// Offset of the last record applied (-1 before any).
    pub applied_offset: i64,
}

impl State {
    pub fn new() -> Self {
        Self {
            applied_offset: -1,
            ..Self::default()
        }
    }

    /// Applies one record at `offset`. Malformed records are ignored (logged by the caller), never fatal:
    /// one bad record must not stop every instance from starting.
    pub fn apply(&mut self, offset: i64, key: &[u8], value: Option<&[u8]>) -> Applied {
        self.applied_offset = self.applied_offset.max(offset);
        let Ok(key) = serde_json::from_slice::<Key>(key) else {
            return Applied::Ignored;
        };
        match (key, value) {
            (
                Key::Schema {
                    subject,
                    version,
                    nonce,
                },
                Some(v),
            ) => match serde_json::from_slice::<SchemaValue>(v) {
                Ok(value) if value.subject == subject && value.version == version => {
                    self.apply_claim(nonce, value)
                }
                _ => Applied::Rejected("malformed schema value".into()),
            },
            (Key::Schema { nonce, .. }, None) => {
                self.remove_claim(&nonce);
                Applied::Accepted
            }
            (Key::Deleted { nonce, .. }, Some(v)) => {
                let deleted = serde_json::from_slice::<DeletedValue>(v)
                    .map(|d| d.deleted)
                    .unwrap_or(false);
                self.set_deleted(&nonce, deleted)
            }
            (Key::Deleted { .. }, None) => Applied::Ignored,
            (Key::Config { subject }, value) => {
                let level = value
                    .and_then(|v| serde_json::from_slice::<ConfigValue>(v).ok())
                    .and_then(|c| Level::parse(&c.compatibility_level).ok());
                match subject {
                    None => self.global_config = level,
                    Some(s) => match level {
                        Some(l) => {
                            self.subject_config.insert(s, l);
                        }
                        None => {
                            self.subject_config.remove(&s);
                        }
                    },
                }
                Applied::Accepted
            }
            (Key::Mode { subject }, value) => {
                let mode = value
                    .and_then(|v| serde_json::from_slice::<ModeValue>(v).ok())
                    .and_then(|m| Mode::parse(&m.mode).ok());
                match subject {
                    None => self.global_mode = mode,
                    Some(s) => match mode {
                        Some(m) => {
                            self.subject_mode.insert(s, m);
                        }
                        None => {
                            self.subject_mode.remove(&s);
                        }
                    },
                }
                Applied::Accepted
            }
        }
    }

    fn apply_claim(&mut self, nonce: String, value: SchemaValue) -> Applied {
        if self.claims.contains_key(&nonce) {
            return Applied::Ignored;
        }
        if value.id == 0 || value.version == 0 {
            return Applied::Rejected("id and version start at 1".into());
        }
        let deps = match self.dependency_texts(&value.references, true) {
            Ok(d) => d,
            Err(e) => return Applied::Rejected(e.to_string()),
        };
        let parsed = match identity::parse_with(&value.schema, false, &deps) {
            Ok(p) => p,
            Err(e) => return Applied::Rejected(e.to_string()),
        };
        let ident = full_identity(
            &parsed.identity,
            &value.references,
            value.metadata.as_ref(),
            value.rule_set.as_ref(),
        );
        let raw_ident = full_identity(
            &parsed.raw_identity,
            &value.references,
            value.metadata.as_ref(),
            value.rule_set.as_ref(),
        );
        if self
            .subjects
            .get(&value.subject)
            .is_some_and(|vs| vs.contains_key(&value.version))
        {
            return Applied::Rejected(format!(
                "{} version {} already taken",
                value.subject, value.version
            ));
        }
        if let Some(existing) = self.schemas.get(&value.id) {
            if existing.identity != ident {
                return Applied::Rejected(format!("id {} already names another schema", value.id));
            }
        }
        if let Some(&other) = self.by_raw_identity.get(&raw_ident) {
            if other != value.id {
                return Applied::Rejected(format!("schema already has id {other}"));
            }
        }
        self.max_id = self.max_id.max(value.id);
        if !self.schemas.contains_key(&value.id) {
            self.by_identity
                .entry(ident.clone())
                .or_default()
                .insert(value.id);
            self.by_raw_identity.insert(raw_ident.clone(), value.id);
            let guid = identity::guid(&raw_ident);
            self.schemas.insert(
                value.id,
                SchemaEntry {
                    id: value.id,
                    parsed: Arc::new(parsed),
                    guid,
                    references: value.references,
                    metadata: value.metadata,
                    rule_set: value.rule_set,
                    identity: ident,
                    raw_identity: raw_ident,
                },
            );
        }
        self.claims
            .insert(nonce.clone(), (value.subject.clone(), value.version));
        self.subjects
            .entry(value.subject.clone())
            .or_default()
            .insert(
                value.version,
                VersionEntry {
                    subject: value.subject,
                    version: value.version,
                    id: value.id,
                    nonce,
                    deleted: false,
                },
            );
        Applied::Accepted
    }

    /// The texts of every schema `references` needs, transitively (Confluent's
    /// `AbstractSchemaProvider.resolveReferences`: a name already resolved is not resolved again).
    /// `include_deleted`: whether soft-deleted versions may be referenced (true for stored
    /// schemas, false for a new registration, as Confluent's `validateAsNew`).
    pub fn dependency_texts(
        &self,
        references: &[Reference],
        include_deleted: bool,
    ) -> Result<Vec<String>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        self.collect_deps(references, include_deleted, &mut seen, &mut out, 0)?;
        Ok(out)
    }

    fn collect_deps(
        &self,
        references: &[Reference],
        include_deleted: bool,
        seen: &mut std::collections::HashSet<String>,
        out: &mut Vec<String>,
        depth: usize,
    ) -> Result<()> {
        if depth > 64 {
            return Err(Error::InvalidSchema("references nested too deeply".into()));
        }
        for reference in references {
            if !seen.insert(reference.name.clone()) {
                continue;
            }
            let entry = self
                .reference_target(reference, include_deleted)
                .and_then(|e| self.schemas.get(&e.id))
                .ok_or_else(|| {
                    Error::InvalidSchema(format!(
                        "Invalid schema: No schema reference found for subject \"{}\" and version {}",
                        reference.subject, reference.version
                    ))
                })?;
            self.collect_deps(&entry.references, true, seen, out, depth + 1)?;
            out.push(entry.parsed.text.clone());
        }
        Ok(())
    }

    /// The version a reference names (`version` -1 = latest).
    pub fn reference_target(
        &self,
        reference: &Reference,
        include_deleted: bool,
    ) -> Option<&VersionEntry> {
        let versions = self.subjects.get(&reference.subject)?;
        let usable = |e: &&VersionEntry| include_deleted || !e.deleted;
        if reference.version == -1 {
            versions.values().rfind(usable)
        } else {
            let v = u32::try_from(reference.version).ok()?;
            versions.get(&v).filter(usable)
        }
    }

    /// Ids of the schemas that reference `version` of `subject` (Confluent `getReferencedBy`):
    /// only schemas still used by a live version unless `include_deleted`. Sorted.
    pub fn referenced_by(&self, subject: &str, version: u32, include_deleted: bool) -> Vec<u32> {
        self.schemas
            .values()
            .filter(|s| {
                s.references
                    .iter()
                    .any(|r| r.subject == subject && r.version == i64::from(version))
            })
            .filter(|s| include_deleted || self.usages(s.id).iter().any(|e| !e.deleted))
            .map(|s| s.id)
            .collect()
    }

    /// Subjects with a version (live unless `include_deleted`) whose schema references
    /// `version` of `subject` (Confluent `getReferencedBySubjects`).
    pub fn referenced_by_subjects(
        &self,
        subject: &str,
        version: u32,
        include_deleted: bool,
    ) -> BTreeSet<String> {
        self.referenced_by(subject, version, true)
            .into_iter()
            .flat_map(|id| self.usages(id))
            .filter(|e| include_deleted || !e.deleted)
            .map(|e| e.subject.clone())
            .collect()
    }

    fn set_deleted(&mut self, nonce: &str, deleted: bool) -> Applied {
        let Some((subject, version)) = self.claims.get(nonce) else {
            return Applied::Ignored;
        };
        if let Some(entry) = self
            .subjects
            .get_mut(subject)
            .and_then(|vs| vs.get_mut(version))
        {
            entry.deleted = deleted;
        }
        Applied::Accepted
    }

    fn remove_claim(&mut self, nonce: &str) {
        let Some((subject, version)) = self.claims.remove(nonce) else {
            return;
        };
        let mut removed_id = None;
        if let Some(versions) = self.subjects.get_mut(&subject) {
            removed_id = versions.remove(&version).map(|e| e.id);
            if versions.is_empty() {
                self.subjects.remove(&subject);
            }
        }
        if let Some(id) = removed_id {
            let still_used = self
                .subjects
                .values()
                .flat_map(|vs| vs.values())
                .any(|e| e.id == id);
            if !still_used {
                if let Some(entry) = self.schemas.remove(&id) {
                    if let Some(ids) = self.by_identity.get_mut(&entry.identity) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.by_identity.remove(&entry.identity);
                        }
                    }
                    if self.by_raw_identity.get(&entry.raw_identity) == Some(&id) {
                        self.by_raw_identity.remove(&entry.raw_identity);
                    }
                }
            }
        }
    }

    // ---- queries ----

    /// Whether the claim with this nonce is (still) accepted.
    pub fn claim(&self, nonce: &str) -> Option<(String, u32)> {
        self.claims.get(nonce).cloned()
    }

    pub fn max_id(&self) -> u32 {
        self.max_id
    }

    pub fn subjects(&self, deleted: bool, deleted_only: bool, prefix: &str) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(s, _)| s.starts_with(prefix))
            .filter(|(_, vs)| {
                let live = vs.values().any(|e| !e.deleted);
                if deleted_only {
                    vs.values().any(|e| e.deleted)
                } else {
                    live || deleted
                }
            })
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// All versions of a subject (oldest first), including soft-deleted ones.
    pub fn all_versions(&self, subject: &str) -> Vec<&VersionEntry> {
        self.subjects
            .get(subject)
            .map(|vs| vs.values().collect())
            .unwrap_or_default()
    }

    pub fn live_versions(&self, subject: &str) -> Vec<&VersionEntry> {
        self.all_versions(subject)
            .into_iter()
            .filter(|e| !e.deleted)
            .collect()
    }

    pub fn subject_exists(&self, subject: &str) -> bool {
        self.subjects.contains_key(subject)
    }

    pub fn schema(&self, id: u32) -> Option<&SchemaEntry> {
        self.schemas.get(&id)
    }

    pub fn schemas(&self) -> impl Iterator<Item = &SchemaEntry> {
        self.schemas.values()
    }

    pub fn schema_by_guid(&self, guid: &str) -> Option<&SchemaEntry> {
        self.schemas.values().find(|s| s.guid == guid)
    }

    /// The id of the schema with this full identity (see [`full_identity`]).
    pub fn id_for_identity(&self, identity: &str) -> Option<u32> {
        self.by_identity
            .get(identity)
            .and_then(|ids| ids.iter().next().copied())
    }

    /// Every (subject, version) that uses schema `id`.
    pub fn usages(&self, id: u32) -> Vec<&VersionEntry> {
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|e| e.id == id)
            .collect()
    }

    pub fn next_version(&self, subject: &str) -> u32 {
        self.subjects
            .get(subject)
            .and_then(|vs| vs.keys().next_back().copied())
            .unwrap_or(0)
            + 1
    }

    pub fn global_config(&self) -> Option<Level> {
        self.global_config
    }
    pub fn subject_config(&self, subject: &str) -> Option<Level> {
        self.subject_config.get(subject).copied()
    }
    /// The level that applies to a subject: its own, else global, else BACKWARD.
    pub fn effective_config(&self, subject: &str) -> Level {
        self.subject_config(subject)
            .or(self.global_config)
            .unwrap_or(Level::Backward)
    }
    pub fn global_mode(&self) -> Option<Mode> {
        self.global_mode
    }
    pub fn subject_mode(&self, subject: &str) -> Option<Mode> {
        self.subject_mode.get(subject).copied()
    }
    pub fn effective_mode(&self, subject: Option<&str>) -> Mode {
        subject
            .and_then(|s| self.subject_mode(s))
            .or(self.global_mode)
            .unwrap_or(Mode::ReadWrite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    const A: &str = r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}"#;
    const B: &str = r#"{"type":"record","name":"B","fields":[{"name":"x","type":"int"}]}"#;

    fn claim(subject: &str, version: u32, id: u32, schema: &str, nonce: &str) -> Record {
        claim_with(subject, version, id, schema, nonce, Vec::new(), None)
    }

    fn apply_all(records: &[Record]) -> (State, Vec<Applied>) {
        let mut state = State::new();
        let outcomes = records
            .iter()
            .enumerate()
            .map(|(i, r)| state.apply(i as i64, &r.key, r.value.as_deref()))
            .collect();
        (state, outcomes)
    }

    #[test]
    fn first_claim_of_an_id_wins_and_loser_is_ignored() {
        let (state, outcomes) = apply_all(&[
            claim("s1", 1, 1, A, "n1"),
            claim("s2", 1, 1, B, "n2"), // same id, other schema: loses
            claim("s2", 1, 2, B, "n3"), // retry with a new id
        ]);
        assert_eq!(outcomes[0], Applied::Accepted);
        assert!(matches!(outcomes[1], Applied::Rejected(_)));
        assert_eq!(outcomes[2], Applied::Accepted);
        assert!(state.claim("n2").is_none());
        assert_eq!(state.live_versions("s2")[0].id, 2);
        assert_eq!(state.max_id(), 2);
    }

    #[test]
    fn same_schema_in_two_subjects_shares_the_id() {
        let (state, outcomes) =
            apply_all(&[claim("s1", 1, 1, A, "n1"), claim("s2", 1, 1, A, "n2")]);
        assert_eq!(outcomes, vec![Applied::Accepted, Applied::Accepted]);
        assert_eq!(state.usages(1).len(), 2);
    }

    #[test]
    fn a_schema_never_gets_a_second_id_and_a_version_is_never_taken_twice() {
        let (_, outcomes) = apply_all(&[
            claim("s1", 1, 1, A, "n1"),
            claim("s2", 1, 2, A, "n2"),
            claim("s1", 1, 3, B, "n3"),
        ]);
        assert!(matches!(outcomes[1], Applied::Rejected(_)));
        assert!(matches!(outcomes[2], Applied::Rejected(_)));
    }

    #[test]
    fn soft_delete_then_hard_delete() {
        let deleted = Record::new(
            &Key::Deleted {
                subject: "s1".into(),
                version: 1,
                nonce: "n1".into(),
            },
            Some(&DeletedValue { deleted: true }),
        );
        let tomb = Record::tombstone(&Key::Schema {
            subject: "s1".into(),
            version: 1,
            nonce: "n1".into(),
        });
        let (state, _) = apply_all(&[claim("s1", 1, 1, A, "n1"), deleted.clone()]);
        assert!(state.live_versions("s1").is_empty());
        assert_eq!(state.all_versions("s1").len(), 1);
        assert_eq!(state.subjects(false, false, ""), Vec::<String>::new());
        assert_eq!(state.subjects(true, false, ""), vec!["s1".to_string()]);
        assert!(state.schema(1).is_some(), "soft-deleted ids stay readable");
        let (state, _) = apply_all(&[claim("s1", 1, 1, A, "n1"), deleted, tomb]);
        assert!(!state.subject_exists("s1"));
        assert!(state.schema(1).is_none());
        assert_eq!(state.max_id(), 1, "ids are not reused after a hard delete");
    }

    #[test]
    fn config_and_mode_records() {
        let cfg = Record::new(
            &Key::Config { subject: None },
            Some(&ConfigValue {
                compatibility_level: "FULL".into(),
            }),
        );
        let subj_cfg = Record::new(
            &Key::Config {
                subject: Some("s".into()),
            },
            Some(&ConfigValue {
                compatibility_level: "NONE".into(),
            }),
        );
        let mode = Record::new(
            &Key::Mode { subject: None },
            Some(&ModeValue {
                mode: "READONLY".into(),
            }),
        );
        let (state, _) = apply_all(&[cfg, subj_cfg.clone(), mode]);
        assert_eq!(state.effective_config("s"), Level::None);
        assert_eq!(state.effective_config("t"), Level::Full);
        assert_eq!(state.effective_mode(Some("s")), Mode::ReadOnly);
        let clear = Record::tombstone(&Key::Config {
            subject: Some("s".into()),
        });
        let (state, _) = apply_all(&[subj_cfg, clear]);
        assert_eq!(state.effective_config("s"), Level::Backward);
    }

    fn claim_with(
        subject: &str,
        version: u32,
        id: u32,
        schema: &str,
        nonce: &str,
        references: Vec<Reference>,
        metadata: Option<serde_json::Value>,
    ) -> Record {
        Record::new(
            &Key::Schema {
                subject: subject.into(),
                version,
                nonce: nonce.into(),
            },
            Some(&SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema_type: "AVRO".into(),
                schema: schema.into(),
                references,
                metadata,
                rule_set: None,
            }),
        )
    }

    const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"lgma","fields":[{"name":"line","type":"string"}]}"#;
    const PERSON: &str = r#"{"type":"record","name":"Person","namespace":"lgma","fields":[{"name":"home","type":"lgma.Address"}]}"#;

    fn address_ref() -> Reference {
        Reference {
            name: "lgma.Address".into(),
            subject: "address".into(),
            version: 1,
        }
    }

    /// Confluent `getReferencedBy`: a schema registered with a reference resolves the referenced
    /// type and is listed as referencing that subject version (live referrers only by default).
    #[test]
    fn references_resolve_and_are_indexed() {
        let (state, outcomes) = apply_all(&[
            claim("address", 1, 1, ADDRESS, "n1"),
            claim_with("person", 1, 2, PERSON, "n2", vec![address_ref()], None),
        ]);
        assert_eq!(outcomes, vec![Applied::Accepted, Applied::Accepted]);
        assert_eq!(state.referenced_by("address", 1, false), vec![2]);
        assert_eq!(state.schema(2).unwrap().parsed.deps.len(), 1);
        assert_eq!(
            state.referenced_by_subjects("address", 1, false),
            BTreeSet::from(["person".to_string()])
        );
        // Without the referenced schema the claim cannot be parsed: rejected, never fatal.
        let (_, outcomes) = apply_all(&[claim_with(
            "person",
            1,
            2,
            PERSON,
            "n2",
            vec![address_ref()],
            None,
        )]);
        assert!(matches!(outcomes[0], Applied::Rejected(_)));
    }

    /// Confluent `MD5.ofSchema` hashes schema, references, metadata and rule set together: the
    /// same text with other metadata is another schema (another id), the same with equal
    /// metadata (any key order) is the same id.
    #[test]
    fn metadata_is_part_of_identity() {
        let m1 = serde_json::json!({"properties": {"owner": "housing", "tier": "1"}});
        let m1b = serde_json::json!({"properties": {"tier": "1", "owner": "housing"}});
        let m2 = serde_json::json!({"properties": {"owner": "planning"}});
        let (state, outcomes) = apply_all(&[
            claim_with("s", 1, 1, A, "n1", vec![], Some(m1)),
            claim_with("s", 2, 2, A, "n2", vec![], Some(m2)),
            claim_with("t", 1, 1, A, "n3", vec![], Some(m1b)),
            claim_with("u", 1, 2, A, "n4", vec![], None),
        ]);
        assert_eq!(
            outcomes[..3],
            [Applied::Accepted, Applied::Accepted, Applied::Accepted]
        );
        assert!(
            matches!(outcomes[3], Applied::Rejected(_)),
            "id 2 has metadata m2"
        );
        assert_ne!(
            state.schema(1).unwrap().identity,
            state.schema(2).unwrap().identity
        );
    }

    /// A log written before identities resolved names may hold two spellings of one schema
    /// under two ids; both still replay, and new registrations find the lowest id.
    #[test]
    fn legacy_logs_with_two_spellings_replay_unchanged() {
        let short = r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"record","name":"A","fields":[]}}]}"#;
        let full = r#"{"type":"record","name":"P","namespace":"lgma","fields":[{"name":"a","type":{"type":"record","name":"lgma.A","fields":[]}}]}"#;
        let (state, outcomes) = apply_all(&[
            claim("s1", 1, 1, short, "n1"),
            claim("s2", 1, 2, full, "n2"),
        ]);
        assert_eq!(outcomes, vec![Applied::Accepted, Applied::Accepted]);
        let ident = state.schema(2).unwrap().identity.clone();
        assert_eq!(ident, state.schema(1).unwrap().identity);
        assert_eq!(state.id_for_identity(&ident), Some(1));
    }

    #[test]
    fn garbage_records_are_ignored() {
        let mut state = State::new();
        assert_eq!(state.apply(0, b"not json", Some(b"x")), Applied::Ignored);
        let r = claim("s", 1, 1, "{bad", "n");
        assert!(matches!(
            state.apply(1, &r.key, r.value.as_deref()),
            Applied::Rejected(_)
        ));
        assert_eq!(state.applied_offset, 1);
    }
}
