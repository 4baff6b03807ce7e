//! Registry operations on top of the store: the rules of registering, looking up and deleting.
//!
//! Handlers in `api/` only translate HTTP; every decision Confluent clients depend on lives here.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::compat::{self, Level, Previous};
use crate::error::{Error, Result};
use crate::identity::{self, ParsedSchema};
use crate::record::{ConfigValue, DeletedValue, Key, ModeValue, Record, Reference, SchemaValue};
use crate::state::{full_identity, Mode, State, VersionEntry};
use crate::store::Store;

/// How many times a write that lost an id/version race is retried with fresh numbers.
const MAX_ATTEMPTS: usize = 20;

/// Body of `POST /subjects/{s}/versions`, `POST /subjects/{s}` and compatibility checks
/// (Confluent's `RegisterSchemaRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    pub schema: Option<String>,
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<Reference>>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
    /// IMPORT mode only: keep the id the schema had in the source registry (negative = none).
    pub id: Option<i64>,
    /// Keep the version it had there (0 or negative = none).
    pub version: Option<i64>,
}

impl SchemaRequest {
    fn id(&self) -> Option<u32> {
        self.id.and_then(|i| u32::try_from(i).ok())
    }
    fn version(&self) -> Option<u32> {
        self.version
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
    }
    fn has_schema(&self) -> bool {
        self.schema.as_deref().is_some_and(|s| !s.trim().is_empty())
    }
    fn references(&self) -> &[Reference] {
        self.references.as_deref().unwrap_or_default()
    }
}

/// A version of a subject, as responses describe it.
#[derive(Debug, Clone)]
pub struct Found {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub guid: String,
    pub schema: String,
    pub references: Vec<Reference>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
}

pub struct Registry {
    pub store: Arc<Store>,
}

/// `latest`/-1 or a version number in [1, 2^31-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSel {
    Latest,
    Number(u32),
}

impl VersionSel {
    pub fn parse(text: &str) -> Result<Self> {
        if text.eq_ignore_ascii_case("latest") || text == "-1" {
            return Ok(VersionSel::Latest);
        }
        match text.parse::<i64>() {
            Ok(n) if (1..=i32::MAX as i64).contains(&n) => Ok(VersionSel::Number(n as u32)),
            _ => Err(Error::InvalidVersion(text.to_string())),
        }
    }
}

fn found(state: &State, entry: &VersionEntry) -> Result<Found> {
    let schema = state
        .schema(entry.id)
        .ok_or_else(|| Error::Store(format!("schema {} missing from state", entry.id)))?;
    Ok(Found {
        subject: entry.subject.clone(),
        version: entry.version,
        id: entry.id,
        guid: schema.guid.clone(),
        schema: schema.parsed.text.clone(),
        references: schema.references.clone(),
        metadata: schema.metadata.clone(),
        rule_set: schema.rule_set.clone(),
    })
}

/// `schemaType` absent or exactly `AVRO`: Confluent looks the provider up by the exact string
/// (`AbstractSchemaRegistry.parseSchema`: "Invalid schema type avro" for lower case) and this
/// registry has only the Avro provider.
fn check_type(req: &SchemaRequest) -> Result<()> {
    match req.schema_type.as_deref() {
        None | Some("AVRO") => Ok(()),
        Some(kind) => Err(Error::InvalidSchema(format!("Invalid schema type {kind}"))),
    }
}

/// A request resolved against the state: what would be stored.
pub struct Candidate {
    pub parsed: ParsedSchema,
    pub references: Vec<Reference>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
    /// Full identity (schema, references, metadata, rule set).
    pub identity: String,
}

/// Resolves `req` against `state`: references (-1 → latest; live versions only when
/// `as_new`), the schema parsed with the referenced types, the full identity. Errors are 42201.
pub fn resolve(
    state: &State,
    req: &SchemaRequest,
    schema: &str,
    normalize: bool,
    as_new: bool,
) -> Result<Candidate> {
    check_type(req)?;
    let mut references = Vec::new();
    for r in req.references() {
        let target = state.reference_target(r, !as_new).ok_or_else(|| {
            Error::InvalidSchema(format!(
                "Invalid schema: No schema reference found for subject \"{}\" and version {}",
                r.subject, r.version
            ))
        })?;
        references.push(Reference {
            name: r.name.clone(),
            subject: r.subject.clone(),
            version: i64::from(target.version),
        });
    }
    let deps = state.dependency_texts(&references, !as_new)?;
    let parsed = identity::parse_with(schema, normalize, &deps)?;
    // Confluent reads these into typed entities, so an absent member and a `null` one are the
    // same (and `"metadata": null` is no metadata): drop nulls before storing and comparing.
    let metadata = req
        .metadata
        .as_ref()
        .map(strip_nulls)
        .filter(|v| !v.is_null());
    let rule_set = req
        .rule_set
        .as_ref()
        .map(strip_nulls)
        .filter(|v| !v.is_null());
    let identity = full_identity(
        &parsed.identity,
        &references,
        metadata.as_ref(),
        rule_set.as_ref(),
    );
    Ok(Candidate {
        parsed,
        references,
        metadata,
        rule_set,
        identity,
    })
}

/// `value` without object members that are `null`, recursively.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Parses a request that must carry its own schema (compatibility checks). 42201 otherwise.
pub fn parse_request(state: &State, req: &SchemaRequest, normalize: bool) -> Result<Candidate> {
    check_type(req)?;
    let raw = req
        .schema
        .as_deref()
        .filter(|_| req.has_schema())
        .ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
    resolve(state, req, raw, normalize, true)
}

/// Confluent `maybeSetMetadataRuleSet`: a request without `metadata` / `ruleSet` takes the
/// previous version's. Returns whether anything was taken.
fn inherit_metadata(req: &mut SchemaRequest, previous: Option<&crate::state::SchemaEntry>) -> bool {
    let Some(prev) = previous else {
        return false;
    };
    let mut changed = false;
    if req.metadata.is_none() && prev.metadata.is_some() {
        req.metadata = prev.metadata.clone();
        changed = true;
    }
    if req.rule_set.is_none() && prev.rule_set.is_some() {
        req.rule_set = prev.rule_set.clone();
        changed = true;
    }
    changed
}

/// Full identity of a stored schema (normalize=true: with its text normalised, as Confluent
/// compares normalised schemas then).
fn stored_identity(state: &State, id: u32, normalize: bool) -> Option<String> {
    let entry = state.schema(id)?;
    if !normalize {
        return Some(entry.identity.clone());
    }
    let deps = state.dependency_texts(&entry.references, true).ok()?;
    let parsed = identity::parse_with(&entry.parsed.text, true, &deps).ok()?;
    Some(full_identity(
        &parsed.identity,
        &entry.references,
        entry.metadata.as_ref(),
        entry.rule_set.as_ref(),
    ))
}

fn read_only(subject: Option<&str>) -> Error {
    Error::OperationNotPermitted(format!(
        "Subject {} in context . is in read-only mode",
        subject.unwrap_or("null")
    ))
}

/// Confluent `AbstractSchemaRegistry.checkRegisterMode`: READONLY(_OVERRIDE) refuse; an explicit
/// id needs IMPORT; no id needs READWRITE (so IMPORT refuses a registration without an id).
fn check_register_mode(mode: Mode, subject: &str, id: Option<u32>) -> Result<()> {
    match mode {
        Mode::ReadOnly | Mode::ReadOnlyOverride => Err(read_only(Some(subject))),
        Mode::Import if id.is_none() => Err(Error::OperationNotPermitted(format!(
            "Subject {subject} in context . is not in read-write mode"
        ))),
        Mode::ReadWrite if id.is_some() => Err(Error::OperationNotPermitted(format!(
            "Subject {subject} in context . is not in import mode"
        ))),
        _ => Ok(()),
    }
}

fn check_writable(mode: Mode, subject: &str) -> Result<()> {
    match mode {
        Mode::ReadOnly | Mode::ReadOnlyOverride => Err(read_only(Some(subject))),
        _ => Ok(()),
    }
}

/// `{magic=1,keytype=SCHEMA,subject=s,version=v}`, Confluent's `SchemaKey.toString()`.
fn schema_key(subject: &str, version: u32) -> String {
    format!("{{magic=1,keytype=SCHEMA,subject={subject},version={version}}}")
}

impl Registry {
    pub fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.store.read()
    }

    /// Registers a schema under a subject; the same schema again returns the existing version.
    /// Follows Confluent's `KafkaSchemaRegistry.register`.
    pub async fn register(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Found> {
        check_type(req)?;
        // Ids are Java ints in Confluent's clients; a bigger imported id would also push every
        // later allocation (max id + 1) out of their range.
        if req.id.is_some_and(|id| id > i64::from(i32::MAX)) {
            return Err(Error::OperationNotPermitted(format!(
                "Schema id must be at most {}",
                i32::MAX
            )));
        }
        let _local = self.store.write_lock.lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let (key, value) = {
                let state = self.state();
                let mode = state.effective_mode(Some(subject));
                let req_id = req.id();
                let req_version = req.version();
                check_register_mode(mode, subject, req_id)?;
                let live = state.live_versions(subject);
                let latest = live.last().and_then(|e| state.schema(e.id));
                let mut req_full = SchemaRequest {
                    schema: req.schema.clone(),
                    schema_type: req.schema_type.clone(),
                    references: req.references.clone(),
                    metadata: req.metadata.clone(),
                    rule_set: req.rule_set.clone(),
                    id: req.id,
                    version: req.version,
                };
                // Confluent `maybePopulateFromPrevious` (not in IMPORT): no schema = the latest
                // one again (a new version changing only metadata / rules); no metadata or rule
                // set = the latest version's.
                if mode != Mode::Import {
                    if !req.has_schema() {
                        let prev =
                            latest.ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
                        req_full.schema = Some(prev.parsed.text.clone());
                        req_full.references = Some(prev.references.clone());
                    }
                    inherit_metadata(&mut req_full, latest);
                }
                let raw = req_full
                    .schema
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
                let candidate = resolve(&state, &req_full, &raw, normalize, mode != Mode::Import)?;
                // The same schema already a live version of the subject: that version.
                for entry in state.live_versions(subject) {
                    let same = stored_identity(&state, entry.id, normalize).as_deref()
                        == Some(candidate.identity.as_str());
                    if !same {
                        continue;
                    }
                    // IMPORT again of what was imported: same id and version → the existing one.
                    let version_ok = req_version.is_none_or(|v| v == entry.version);
                    let id_ok = req_id.is_none_or(|id| id == entry.id);
                    if version_ok && id_ok {
                        return found(&state, entry);
                    }
                    if req_version.is_none() && !id_ok {
                        return Err(Error::OperationNotPermitted(format!(
                            "Schema already registered with id {} instead of input id {}",
                            entry.id,
                            req_id.unwrap_or_default()
                        )));
                    }
                }
                if mode != Mode::Import {
                    let level = state.effective_config(subject);
                    let messages =
                        self.check_against(&state, subject, &candidate.parsed, level, None);
                    if !messages.is_empty() {
                        return Err(Error::Incompatible(format!(
                            "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                            messages.join(", ")
                        )));
                    }
                }
                let next = state.next_version(subject);
                let version = match req_version {
                    Some(v) if mode != Mode::Import && v != next => {
                        return Err(Error::InvalidSchema(
                            "Version is not one more than previous version".into(),
                        ))
                    }
                    Some(v) if state.all_versions(subject).iter().any(|e| e.version == v) => {
                        return Err(Error::OperationNotPermitted(format!(
                            "Version {v} of subject {subject} already exists with another schema"
                        )))
                    }
                    Some(v) => v,
                    None => next,
                };
                let id = match req_id.or_else(|| state.id_for_identity(&candidate.identity)) {
                    Some(id) => id,
                    None => state.max_id().checked_add(1).ok_or_else(|| {
                        Error::OperationNotPermitted("schema id space exhausted".into())
                    })?,
                };
                if let Some(existing) = state.schema(id) {
                    if existing.identity != candidate.identity {
                        return Err(Error::OperationNotPermitted(format!(
                            "Overwrite new schema with id {id} in context . is not permitted."
                        )));
                    }
                }
                let key = Key::Schema {
                    subject: subject.to_string(),
                    version,
                    nonce: uuid::Uuid::new_v4().to_string(),
                };
                let value = SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id,
                    schema_type: "AVRO".into(),
                    schema: candidate.parsed.text.clone(),
                    references: candidate.references.clone(),
                    metadata: candidate.metadata.clone(),
                    rule_set: candidate.rule_set.clone(),
                };
                (key, value)
            };
            self.store.write(Record::new(&key, Some(&value))).await?;
            let Key::Schema { nonce, .. } = &key else {
                continue;
            };
            {
                let state = self.state();
                if state.claim(nonce).is_some() {
                    metrics::counter!("lgma_registry_schemas_registered_total").increment(1);
                    if let Some(entry) = state
                        .all_versions(subject)
                        .into_iter()
                        .find(|e| &e.nonce == nonce)
                    {
                        return found(&state, entry);
                    }
                }
            }
            // Lost the race: remove our losing claim so compaction can never revive it, then retry.
            tracing::info!(
                subject,
                id = value.id,
                version = value.version,
                "registration lost an id/version race; retrying"
            );
            metrics::counter!("lgma_registry_registration_retries_total").increment(1);
            self.store.write(Record::tombstone(&key)).await?;
            if req.id().is_some() {
                return Err(Error::OperationNotPermitted(format!(
                    "Schema id {} is already used by a different schema",
                    value.id
                )));
            }
        }
        Err(Error::Store(format!(
            "could not register under {subject} after {MAX_ATTEMPTS} attempts (heavy concurrent registration)"
        )))
    }

    /// Compatibility messages of `parsed` against the subject's live versions (or one version).
    pub fn check_against(
        &self,
        state: &State,
        subject: &str,
        parsed: &ParsedSchema,
        level: Level,
        only_version: Option<u32>,
    ) -> Vec<String> {
        let live: Vec<(&VersionEntry, Arc<ParsedSchema>)> = state
            .live_versions(subject)
            .into_iter()
            .filter(|e| only_version.is_none_or(|v| v == e.version))
            .filter_map(|e| state.schema(e.id).map(|s| (e, s.parsed.clone())))
            .collect();
        let previous: Vec<Previous<'_>> = live
            .iter()
            .map(|(e, p)| Previous {
                version: e.version,
                schema: &p.avro,
                deps: &p.deps,
                text: &p.text,
            })
            .collect();
        compat::check_with(&parsed.avro, &parsed.deps, &previous, level)
    }

    /// `POST /subjects/{s}`: which version of the subject is this schema? Confluent
    /// `lookUpSchemaUnderSubject`: the exact schema first, then with the latest version's
    /// metadata and rule set filled in; no schema → 40401 / 40403 like any miss.
    pub fn lookup(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<Found> {
        let state = self.state();
        let not_found = || {
            let has = if deleted {
                !state.all_versions(subject).is_empty()
            } else {
                !state.live_versions(subject).is_empty()
            };
            if has {
                Error::SchemaNotFound("not found".into())
            } else {
                Error::SubjectNotFound(subject.to_string())
            }
        };
        check_type(req)?;
        let Some(raw) = req.schema.as_deref().filter(|_| req.has_schema()) else {
            return Err(not_found());
        };
        let candidates = if deleted {
            state.all_versions(subject)
        } else {
            state.live_versions(subject)
        };
        let find = |identity: &str| {
            candidates
                .iter()
                .rev()
                .find(|e| stored_identity(&state, e.id, normalize).as_deref() == Some(identity))
                .copied()
        };
        let candidate = resolve(&state, req, raw, normalize, false)?;
        if let Some(e) = find(&candidate.identity) {
            return found(&state, e);
        }
        let latest = state
            .live_versions(subject)
            .last()
            .and_then(|e| state.schema(e.id));
        let mut filled = SchemaRequest {
            schema: req.schema.clone(),
            schema_type: req.schema_type.clone(),
            references: req.references.clone(),
            metadata: req.metadata.clone(),
            rule_set: req.rule_set.clone(),
            id: None,
            version: None,
        };
        if inherit_metadata(&mut filled, latest) {
            let candidate = resolve(&state, &filled, raw, normalize, false)?;
            if let Some(e) = find(&candidate.identity) {
                return found(&state, e);
            }
        }
        Err(not_found())
    }

    /// One version of a subject; soft-deleted versions only when `deleted`.
    pub fn version(&self, subject: &str, sel: VersionSel, deleted: bool) -> Result<Found> {
        let state = self.state();
        if !state.subject_exists(subject) {
            return Err(Error::SubjectNotFound(subject.to_string()));
        }
        let versions = if deleted {
            state.all_versions(subject)
        } else {
            state.live_versions(subject)
        };
        if versions.is_empty() && !deleted {
            return Err(Error::SubjectNotFound(subject.to_string()));
        }
        let entry = match sel {
            VersionSel::Latest => versions.last().copied(),
            VersionSel::Number(n) => versions.iter().find(|e| e.version == n).copied(),
        };
        match entry {
            Some(e) => found(&state, e),
            None => Err(Error::VersionNotFound(match sel {
                VersionSel::Latest => "latest".into(),
                VersionSel::Number(n) => n.to_string(),
            })),
        }
    }

    pub async fn delete_version(
        &self,
        subject: &str,
        sel: VersionSel,
        permanent: bool,
    ) -> Result<u32> {
        let _local = self.store.write_lock.lock().await;
        let records = {
            let state = self.state();
            check_writable(state.effective_mode(Some(subject)), subject)?;
            let all = state.all_versions(subject);
            if all.is_empty() {
                return Err(Error::SubjectNotFound(subject.to_string()));
            }
            let entry = match sel {
                VersionSel::Latest => all.last().copied(),
                VersionSel::Number(n) => all.iter().find(|e| e.version == n).copied(),
            }
            .ok_or_else(|| Error::VersionNotFound(format!("{sel:?}")))?;
            // Confluent `deleteSchemaVersion`: refused while another schema references it (a
            // live one; for a permanent delete, any).
            if !state
                .referenced_by(subject, entry.version, permanent)
                .is_empty()
            {
                return Err(Error::ReferenceExists(schema_key(subject, entry.version)));
            }
            let deleted_key = Key::Deleted {
                subject: subject.to_string(),
                version: entry.version,
                nonce: entry.nonce.clone(),
            };
            let records = if permanent {
                if !entry.deleted {
                    return Err(Error::VersionNotSoftDeleted {
                        subject: subject.to_string(),
                        version: entry.version,
                    });
                }
                vec![
                    Record::tombstone(&Key::Schema {
                        subject: subject.to_string(),
                        version: entry.version,
                        nonce: entry.nonce.clone(),
                    }),
                    Record::tombstone(&deleted_key),
                ]
            } else {
                if entry.deleted {
                    return Err(Error::VersionSoftDeleted {
                        subject: subject.to_string(),
                        version: entry.version,
                    });
                }
                vec![Record::new(
                    &deleted_key,
                    Some(&DeletedValue { deleted: true }),
                )]
            };
            (entry.version, records)
        };
        for record in records.1 {
            self.store.write(record).await?;
        }
        Ok(records.0)
    }

    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>> {
        let _local = self.store.write_lock.lock().await;
        let (versions, records) = {
            let state = self.state();
            check_writable(state.effective_mode(Some(subject)), subject)?;
            let all = state.all_versions(subject);
            if all.is_empty() {
                return Err(Error::SubjectNotFound(subject.to_string()));
            }
            let live: Vec<&VersionEntry> = all.iter().copied().filter(|e| !e.deleted).collect();
            // Confluent `deleteSubject`: refused while another subject references one of its versions.
            for e in if permanent { &all } else { &live } {
                let mut users = state.referenced_by_subjects(subject, e.version, permanent);
                users.remove(subject);
                if !users.is_empty() {
                    return Err(Error::ReferenceExists(schema_key(subject, e.version)));
                }
            }
            let mut records = Vec::new();
            let versions: Vec<u32> = if permanent {
                if !live.is_empty() {
                    return Err(Error::SubjectNotSoftDeleted(subject.to_string()));
                }
                for e in &all {
                    records.push(Record::tombstone(&Key::Schema {
                        subject: subject.to_string(),
                        version: e.version,
                        nonce: e.nonce.clone(),
                    }));
                    records.push(Record::tombstone(&Key::Deleted {
                        subject: subject.to_string(),
                        version: e.version,
                        nonce: e.nonce.clone(),
                    }));
                }
                records.push(Record::tombstone(&Key::Config {
                    subject: Some(subject.to_string()),
                }));
                records.push(Record::tombstone(&Key::Mode {
                    subject: Some(subject.to_string()),
                }));
                all.iter().map(|e| e.version).collect()
            } else {
                if live.is_empty() {
                    return Err(Error::SubjectSoftDeleted(subject.to_string()));
                }
                for e in &live {
                    records.push(Record::new(
                        &Key::Deleted {
                            subject: subject.to_string(),
                            version: e.version,
                            nonce: e.nonce.clone(),
                        },
                        Some(&DeletedValue { deleted: true }),
                    ));
                }
                live.iter().map(|e| e.version).collect()
            };
            (versions, records)
        };
        for record in records {
            self.store.write(record).await?;
        }
        Ok(versions)
    }

    /// Sets (Some) or deletes (None) a compatibility level. Like Confluent's
    /// `KafkaSchemaRegistry.updateConfig` / `deleteSubjectConfig`, refused (42205) while the
    /// subject (or, for the global level, the registry) is READONLY or READONLY_OVERRIDE.
    pub async fn set_config(&self, subject: Option<&str>, level: Option<Level>) -> Result<()> {
        match self.state().effective_mode(subject) {
            Mode::ReadOnly | Mode::ReadOnlyOverride => return Err(read_only(subject)),
            _ => {}
        }
        let key = Key::Config {
            subject: subject.map(str::to_string),
        };
        let record = match level {
            Some(l) => Record::new(
                &key,
                Some(&ConfigValue {
                    compatibility_level: l.as_str().into(),
                }),
            ),
            None => Record::tombstone(&key),
        };
        self.store.write(record).await.map(|_| ())
    }

    pub async fn set_mode(&self, subject: Option<&str>, mode: Option<Mode>) -> Result<()> {
        let key = Key::Mode {
            subject: subject.map(str::to_string),
        };
        let record = match mode {
            Some(m) => Record::new(
                &key,
                Some(&ModeValue {
                    mode: m.as_str().into(),
                }),
            ),
            None => Record::tombstone(&key),
        };
        self.store.write(record).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_selector() {
        assert_eq!(VersionSel::parse("latest").unwrap(), VersionSel::Latest);
        assert_eq!(VersionSel::parse("-1").unwrap(), VersionSel::Latest);
        assert_eq!(VersionSel::parse("7").unwrap(), VersionSel::Number(7));
        for bad in ["0", "-2", "abc", "2147483648", ""] {
            assert!(
                matches!(VersionSel::parse(bad), Err(Error::InvalidVersion(_))),
                "{bad}"
            );
        }
    }

    /// Mirrors Confluent `AbstractSchemaRegistry.parseSchema` (provider looked up by the exact
    /// `schemaType`: "avro" is "Invalid schema type avro", 42201) and
    /// `AbstractSchemaProvider.resolveReferences` (an unknown reference is an invalid schema).
    #[test]
    fn request_validation() {
        let state = State::new();
        let req = |schema: Option<&str>, kind: Option<&str>, refs: Vec<Reference>| SchemaRequest {
            schema: schema.map(str::to_string),
            schema_type: kind.map(str::to_string),
            references: Some(refs),
            ..SchemaRequest::default()
        };
        let parse = |r: &SchemaRequest| parse_request(&state, r, false);
        assert!(parse(&req(Some("\"string\""), None, vec![])).is_ok());
        assert!(parse(&req(Some("\"string\""), Some("AVRO"), vec![])).is_ok());
        for kind in ["PROTOBUF", "JSON", "avro", "Avro"] {
            assert!(
                matches!(
                    parse(&req(Some("\"string\""), Some(kind), vec![])),
                    Err(Error::InvalidSchema(m)) if m == format!("Invalid schema type {kind}")
                ),
                "{kind}"
            );
        }
        assert!(matches!(
            parse(&req(None, None, vec![])),
            Err(Error::InvalidSchema(_))
        ));
        let missing = Reference {
            name: "x.Y".into(),
            subject: "nowhere".into(),
            version: 1,
        };
        assert!(matches!(
            parse(&req(Some("\"x.Y\""), None, vec![missing])),
            Err(Error::InvalidSchema(_))
        ));
    }

    /// Mirrors Confluent `AbstractSchemaRegistry.checkRegisterMode`.
    #[test]
    fn register_mode_rules() {
        assert!(check_register_mode(Mode::ReadWrite, "s", None).is_ok());
        assert!(check_register_mode(Mode::Import, "s", Some(5)).is_ok());
        for (mode, id) in [
            (Mode::Import, None),
            (Mode::ReadWrite, Some(5)),
            (Mode::ReadOnly, None),
            (Mode::ReadOnlyOverride, Some(5)),
        ] {
            assert!(
                matches!(
                    check_register_mode(mode, "s", id),
                    Err(Error::OperationNotPermitted(_))
                ),
                "{mode:?} {id:?}"
            );
        }
    }
}
