//! `/subjects/...`: list, register, look up, read and delete versions.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::{validate_subject, AppState, JsonBody, Params, SrJson};
use crate::error::{Error, Result};
use crate::record::Reference;
use crate::service::{Found, SchemaRequest, VersionSel};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
}

pub fn version_json(f: &Found) -> serde_json::Value {
    let mut out = json!({
        "subject": f.subject,
        "version": f.version,
        "id": f.id,
        "guid": f.guid,
        "schemaType": "AVRO",
        "schema": f.schema,
    });
    add_contract(
        &mut out,
        &f.references,
        f.metadata.as_ref(),
        f.rule_set.as_ref(),
    );
    out
}

/// Adds `references`, `metadata` and `ruleSet` when present: Confluent's response entities
/// (`Schema`, `SchemaString`, `RegisterSchemaResponse`) are `@JsonInclude(NON_EMPTY)`.
pub fn add_contract(
    out: &mut serde_json::Value,
    references: &[Reference],
    metadata: Option<&serde_json::Value>,
    rule_set: Option<&serde_json::Value>,
) {
    let Some(map) = out.as_object_mut() else {
        return;
    };
    if !references.is_empty() {
        map.insert("references".into(), json!(references));
    }
    if let Some(m) = metadata.filter(|m| !is_empty(m)) {
        map.insert("metadata".into(), m.clone());
    }
    if let Some(r) = rule_set.filter(|r| !is_empty(r)) {
        map.insert("ruleSet".into(), r.clone());
    }
}

fn is_empty(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// A stored schema text served raw (`.../schema` endpoints).
pub fn raw_schema(text: &str) -> Response {
    SrJson(serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_string())))
        .into_response()
}

async fn list_subjects(State(app): State<AppState>, params: Params) -> SrJson {
    let prefix = params.get("subjectPrefix").unwrap_or_default();
    let prefix = if prefix == ":*:" { "" } else { prefix };
    let subjects =
        app.registry
            .state()
            .subjects(params.flag("deleted"), params.flag("deletedOnly"), prefix);
    SrJson(json!(params.page(subjects)))
}

async fn list_versions(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let state = app.registry.state();
    let all = state.all_versions(&subject);
    let versions: Vec<u32> = all
        .iter()
        .filter(|e| {
            if params.flag("deletedOnly") {
                e.deleted
            } else {
                !e.deleted || params.flag("deleted")
            }
        })
        .map(|e| e.version)
        .collect();
    if versions.is_empty() && !params.flag("deletedOnly") {
        return Err(Error::SubjectNotFound(subject));
    }
    Ok(SrJson(json!(params.page(versions))))
}

async fn register(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
    JsonBody(req): JsonBody<SchemaRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let f = app
        .registry
        .register(&subject, &req, params.flag("normalize"))
        .await?;
    let mut out = json!({
        "id": f.id,
        "version": f.version,
        "guid": f.guid,
        "schemaType": "AVRO",
        "schema": f.schema,
    });
    add_contract(
        &mut out,
        &f.references,
        f.metadata.as_ref(),
        f.rule_set.as_ref(),
    );
    Ok(SrJson(out))
}

async fn lookup(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
    JsonBody(req): JsonBody<SchemaRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let f = app.registry.lookup(
        &subject,
        &req,
        params.flag("normalize"),
        params.flag("deleted"),
    )?;
    Ok(SrJson(version_json(&f)))
}

async fn get_version(
    State(app): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let sel = VersionSel::parse(&version)?;
    let f = app
        .registry
        .version(&subject, sel, params.flag("deleted"))?;
    Ok(SrJson(version_json(&f)))
}

async fn get_version_schema(
    State(app): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> Result<Response> {
    validate_subject(&subject)?;
    let sel = VersionSel::parse(&version)?;
    let f = app
        .registry
        .version(&subject, sel, params.flag("deleted"))?;
    Ok(raw_schema(&f.schema))
}

/// Confluent `SubjectVersionsResource.getReferencedBy`: ids of the schemas referencing this
/// version (live ones unless `deleted=true`), sorted, paged like schema listings.
async fn referenced_by(
    State(app): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let sel = VersionSel::parse(&version)?;
    let f = app.registry.version(&subject, sel, true)?;
    let ids = app
        .registry
        .state()
        .referenced_by(&subject, f.version, params.flag("deleted"));
    Ok(SrJson(json!(params.page_capped(ids, SCHEMA_LIMIT))))
}

/// Confluent's `schema.search.default.limit` / `schema.search.max.limit` (both 1000).
pub const SCHEMA_LIMIT: usize = 1000;

async fn delete_subject(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let versions = app
        .registry
        .delete_subject(&subject, params.flag("permanent"))
        .await?;
    Ok(SrJson(json!(versions)))
}

async fn delete_version(
    State(app): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let sel = VersionSel::parse(&version)?;
    let v = app
        .registry
        .delete_version(&subject, sel, params.flag("permanent"))
        .await?;
    Ok(SrJson(json!(v)))
}
