//! What a register, lookup or compatibility request asks for, resolved against the state:
//! references, the parsed schema and its full identity (what would be stored).

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::identity::{self, ParsedSchema};
use crate::record::Reference;
use crate::state::{full_identity, State};

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
    pub(super) fn id(&self) -> Option<u32> {
        self.id.and_then(|i| u32::try_from(i).ok())
    }
    pub(super) fn version(&self) -> Option<u32> {
        self.version
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
    }
    pub(super) fn has_schema(&self) -> bool {
        self.schema.as_deref().is_some_and(|s| !s.trim().is_empty())
    }
    pub(super) fn references(&self) -> &[Reference] {
        self.references.as_deref().unwrap_or_default()
    }
}

/// `schemaType` absent or exactly `AVRO`: Confluent looks the provider up by the exact string
/// (`AbstractSchemaRegistry.parseSchema`: "Invalid schema type avro" for lower case) and this
/// registry has only the Avro provider.
pub(super) fn check_type(req: &SchemaRequest) -> Result<()> {
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
pub(super) fn strip_nulls(value: &Value) -> Value {
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
pub(super) fn inherit_metadata(
    req: &mut SchemaRequest,
    previous: Option<&crate::state::SchemaEntry>,
) -> bool {
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
pub(super) fn stored_identity(state: &State, id: u32, normalize: bool) -> Option<String> {
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
