//! Registry operations on top of the store: the rules of registering, looking up and deleting.
//!
//! Handlers in `api/` only translate HTTP; every decision Confluent clients depend on lives here.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::compat::{self, Level, Previous};
use crate::error::{Error, Result};
use crate::identity::{self, ParsedSchema};
use crate::record::{ConfigValue, DeletedValue, Key, ModeValue, Record, SchemaValue};
use crate::state::{Mode, State, VersionEntry};
use crate::store::Store;

/// How many times a write that lost an id/version race is retried with fresh numbers.
const MAX_ATTEMPTS: usize = 20;

/// Body of `POST /subjects/{s}/versions`, `POST /subjects/{s}` and compatibility checks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    pub schema: Option<String>,
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Vec<Value>,
    /// IMPORT mode only: keep the id the schema had in the source registry.
    pub id: Option<u32>,
    /// IMPORT mode only: keep the version it had there.
    pub version: Option<u32>,
}

/// A version of a subject, as responses describe it.
#[derive(Debug, Clone)]
pub struct Found {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub guid: String,
    pub schema: String,
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
    })
}

/// Parses the request's schema; AVRO only, no references (42201 otherwise).
pub fn parse_request(req: &SchemaRequest, normalize: bool) -> Result<ParsedSchema> {
    if let Some(kind) = &req.schema_type {
        if !kind.eq_ignore_ascii_case("AVRO") {
            return Err(Error::InvalidSchema(format!(
                "Invalid schema type {kind}: this registry supports AVRO only"
            )));
        }
    }
    if !req.references.is_empty() {
        return Err(Error::InvalidSchema(
            "Schema references are not supported by this registry".into(),
        ));
    }
    let raw = req
        .schema
        .as_deref()
        .ok_or_else(|| Error::InvalidSchema("Empty schema".into()))?;
    identity::parse(raw, normalize)
}

/// Identity of a stored schema, normalised when the request asked for normalisation.
fn stored_identity(state: &State, id: u32, normalize: bool) -> Option<String> {
    let entry = state.schema(id)?;
    if normalize {
        identity::parse(&entry.parsed.text, true)
            .ok()
            .map(|p| p.identity)
    } else {
        Some(entry.parsed.identity.clone())
    }
}

fn check_writable(mode: Mode, subject: &str) -> Result<()> {
    match mode {
        Mode::ReadOnly | Mode::ReadOnlyOverride => Err(Error::OperationNotPermitted(format!(
            "Subject {subject} is in read-only mode"
        ))),
        _ => Ok(()),
    }
}

impl Registry {
    pub fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.store.read()
    }

    /// Registers a schema under a subject; the same schema again returns the existing version.
    pub async fn register(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Found> {
        let parsed = parse_request(req, normalize)?;
        let _local = self.store.write_lock.lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let (key, value) = {
                let state = self.state();
                let mode = state.effective_mode(Some(subject));
                check_writable(mode, subject)?;
                if (req.id.is_some() || req.version.is_some()) && mode != Mode::Import {
                    return Err(Error::OperationNotPermitted(
                        "Overwrite new schema with id or version is not permitted unless in IMPORT mode."
                            .into(),
                    ));
                }
                for entry in state.live_versions(subject) {
                    if stored_identity(&state, entry.id, normalize).as_deref()
                        == Some(parsed.identity.as_str())
                    {
                        if req.id.is_some_and(|id| id != entry.id) {
                            return Err(Error::OperationNotPermitted(format!(
                                "Schema already registered with id {} instead of input id {}",
                                entry.id,
                                req.id.unwrap_or_default()
                            )));
                        }
                        return found(&state, entry);
                    }
                }
                if mode != Mode::Import {
                    let level = state.effective_config(subject);
                    let messages = self.check_against(&state, subject, &parsed, level, None);
                    if !messages.is_empty() {
                        return Err(Error::Incompatible(format!(
                            "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                            messages.join(", ")
                        )));
                    }
                }
                let id = req
                    .id
                    .or_else(|| state.id_for_identity(&parsed.identity))
                    .unwrap_or(state.max_id() + 1);
                let version = match req.version {
                    Some(v) if state.all_versions(subject).iter().any(|e| e.version == v) => {
                        return Err(Error::OperationNotPermitted(format!(
                            "Version {v} of subject {subject} already exists"
                        )))
                    }
                    Some(v) => v,
                    None => state.next_version(subject),
                };
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
                    schema: parsed.text.clone(),
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
                    metrics::counter!("registry_schemas_registered_total").increment(1);
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
            metrics::counter!("registry_registration_retries_total").increment(1);
            self.store.write(Record::tombstone(&key)).await?;
            if req.id.is_some() {
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
                text: &p.text,
            })
            .collect();
        compat::check(&parsed.avro, &previous, level)
    }

    /// `POST /subjects/{s}`: which version of the subject is this schema?
    pub fn lookup(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<Found> {
        let parsed = parse_request(req, normalize)?;
        let state = self.state();
        if !state.subject_exists(subject) {
            return Err(Error::SubjectNotFound(subject.to_string()));
        }
        let candidates = if deleted {
            state.all_versions(subject)
        } else {
            state.live_versions(subject)
        };
        candidates
            .into_iter()
            .rev()
            .find(|e| {
                stored_identity(&state, e.id, normalize).as_deref()
                    == Some(parsed.identity.as_str())
            })
            .map(|e| found(&state, e))
            .unwrap_or_else(|| Err(Error::SchemaNotFound("not found".into())))
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

    pub async fn set_config(&self, subject: Option<&str>, level: Option<Level>) -> Result<()> {
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

    #[test]
    fn request_validation() {
        let req = |schema: Option<&str>, kind: Option<&str>, refs: Vec<Value>| SchemaRequest {
            schema: schema.map(str::to_string),
            schema_type: kind.map(str::to_string),
            references: refs,
            id: None,
            version: None,
        };
        assert!(parse_request(&req(Some("\"string\""), None, vec![]), false).is_ok());
        assert!(parse_request(&req(Some("\"string\""), Some("AVRO"), vec![]), false).is_ok());
        assert!(matches!(
            parse_request(&req(Some("\"string\""), Some("PROTOBUF"), vec![]), false),
            Err(Error::InvalidSchema(_))
        ));
        assert!(matches!(
            parse_request(&req(None, None, vec![]), false),
            Err(Error::InvalidSchema(_))
        ));
        assert!(matches!(
            parse_request(
                &req(
                    Some("\"string\""),
                    None,
                    vec![serde_json::json!({"name":"x"})]
                ),
                false
            ),
            Err(Error::InvalidSchema(_))
        ));
    }
}
