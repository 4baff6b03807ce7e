//! `/schemas/...`: schemas by id or guid, and where each id is used.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::subjects::{add_contract, raw_schema, SCHEMA_LIMIT};
use super::{AppState, Params, SrJson};
use crate::error::{Error, Result};
use crate::state::SchemaEntry;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(|| async { SrJson(json!(["AVRO"])) }))
        .route("/schemas/ids/{id}", get(by_id))
        .route("/schemas/ids/{id}/schema", get(by_id_raw))
        .route("/schemas/ids/{id}/subjects", get(id_subjects))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route("/schemas/guids/{guid}", get(by_guid))
        .route("/schemas/guids/{guid}/schema", get(by_guid_raw))
}

fn parse_id(text: &str) -> Result<u32> {
    text.parse::<u32>()
        .map_err(|_| Error::SchemaNotFound(format!("id {text}")))
}

fn schema_text(app: &AppState, id: u32) -> Result<(String, String)> {
    let state = app.registry.state();
    let entry = state
        .schema(id)
        .ok_or_else(|| Error::SchemaNotFound(id.to_string()))?;
    Ok((entry.parsed.text.clone(), entry.guid.clone()))
}

fn entry_json(entry: &SchemaEntry) -> serde_json::Value {
    let mut out = json!({"id": entry.id, "guid": entry.guid, "schemaType": "AVRO", "schema": entry.parsed.text});
    add_contract(
        &mut out,
        &entry.references,
        entry.metadata.as_ref(),
        entry.rule_set.as_ref(),
    );
    out
}

/// `GET /schemas/ids/{id}`; `fetchMaxId=true` adds `maxId`, the highest id in use (Confluent
/// `SchemasResource.getSchema` → `SchemaString.setMaxId(idGenerator.getMaxId(..))`).
async fn by_id(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<SrJson> {
    let id = parse_id(&id)?;
    let state = app.registry.state();
    let entry = state
        .schema(id)
        .ok_or_else(|| Error::SchemaNotFound(id.to_string()))?;
    let mut out = entry_json(entry);
    if params.flag("fetchMaxId") {
        out["maxId"] = json!(state.max_id());
    }
    Ok(SrJson(out))
}

async fn by_id_raw(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    Ok(raw_schema(&schema_text(&app, id)?.0))
}

async fn by_guid(State(app): State<AppState>, Path(guid): Path<String>) -> Result<SrJson> {
    let state = app.registry.state();
    let entry = state
        .schema_by_guid(&guid)
        .ok_or_else(|| Error::SchemaNotFound(guid.clone()))?;
    Ok(SrJson(entry_json(entry)))
}

async fn by_guid_raw(State(app): State<AppState>, Path(guid): Path<String>) -> Result<Response> {
    let state = app.registry.state();
    let entry = state
        .schema_by_guid(&guid)
        .ok_or_else(|| Error::SchemaNotFound(guid.clone()))?;
    Ok(raw_schema(&entry.parsed.text))
}

async fn id_subjects(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<SrJson> {
    let id = parse_id(&id)?;
    let state = app.registry.state();
    if state.schema(id).is_none() {
        return Err(Error::SchemaNotFound(id.to_string()));
    }
    let mut subjects: Vec<String> = state
        .usages(id)
        .into_iter()
        .filter(|e| !e.deleted || params.flag("deleted"))
        .map(|e| e.subject.clone())
        .collect();
    subjects.dedup();
    Ok(SrJson(json!(params.page(subjects))))
}

async fn id_versions(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<SrJson> {
    let id = parse_id(&id)?;
    let state = app.registry.state();
    if state.schema(id).is_none() {
        return Err(Error::SchemaNotFound(id.to_string()));
    }
    let versions: Vec<serde_json::Value> = state
        .usages(id)
        .into_iter()
        .filter(|e| !e.deleted || params.flag("deleted"))
        .map(|e| json!({"subject": e.subject, "version": e.version}))
        .collect();
    Ok(SrJson(json!(params.page(versions))))
}

async fn list_schemas(State(app): State<AppState>, params: Params) -> SrJson {
    let state = app.registry.state();
    let prefix = params.get("subjectPrefix").unwrap_or_default();
    let deleted = params.flag("deleted");
    let latest_only = params.flag("latestOnly");
    let mut out = Vec::new();
    for subject in state.subjects(deleted, false, prefix) {
        let versions = if deleted {
            state.all_versions(&subject)
        } else {
            state.live_versions(&subject)
        };
        let chosen: Vec<_> = if latest_only {
            versions.last().copied().into_iter().collect()
        } else {
            versions
        };
        for e in chosen {
            if let Some(s) = state.schema(e.id) {
                let mut item = json!({
                    "subject": e.subject, "version": e.version, "id": e.id,
                    "guid": s.guid, "schemaType": "AVRO", "schema": s.parsed.text,
                });
                add_contract(
                    &mut item,
                    &s.references,
                    s.metadata.as_ref(),
                    s.rule_set.as_ref(),
                );
                out.push(item);
            }
        }
    }
    SrJson(json!(params.page_capped(out, SCHEMA_LIMIT)))
}
