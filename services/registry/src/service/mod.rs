//! Registry operations on top of the store: the rules of registering, looking up and deleting.
//!
//! Handlers in `api/` only translate HTTP; every decision Confluent clients depend on lives here.

use std::sync::Arc;

use serde_json::Value;

use crate::compat::{self, Level, Previous};
use crate::error::{Error, Result};
use crate::identity::ParsedSchema;
use crate::record::{ConfigValue, DeletedValue, Key, ModeValue, Record, Reference, SchemaValue};
use crate::state::{Mode, State, VersionEntry};
use crate::store::Store;

/// How many times a write that lost an id/version race is retried with fresh numbers.
const MAX_ATTEMPTS: usize = 20;

mod request;
mod write;

use request::{check_type, inherit_metadata, stored_identity};
pub use request::{parse_request, resolve, Candidate, SchemaRequest};

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
