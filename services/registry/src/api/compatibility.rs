//! `/compatibility/...`: would this schema be accepted, and if not, why.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::{validate_subject, AppState, JsonBody, Params, SrJson};
use crate::compat::Level;
use crate::error::{Error, Result};
use crate::service::{parse_request, SchemaRequest, VersionSel};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(against_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(against_version),
        )
}

fn answer(messages: Vec<String>, verbose: bool) -> SrJson {
    if verbose {
        SrJson(json!({"is_compatible": messages.is_empty(), "messages": messages}))
    } else {
        SrJson(json!({"is_compatible": messages.is_empty()}))
    }
}

async fn against_version(
    State(app): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
    JsonBody(req): JsonBody<SchemaRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let sel = VersionSel::parse(&version)?;
    let parsed = parse_request(&req, params.flag("normalize"))?;
    let state = app.registry.state();
    let live = state.live_versions(&subject);
    let target = match sel {
        // Nothing registered yet: anything is compatible with nothing (Confluent answers the same).
        VersionSel::Latest if live.is_empty() => {
            return Ok(answer(Vec::new(), params.flag("verbose")))
        }
        VersionSel::Latest => live.last().map(|e| e.version),
        VersionSel::Number(n) => {
            if !state.subject_exists(&subject) {
                return Err(Error::SubjectNotFound(subject));
            }
            live.iter().find(|e| e.version == n).map(|e| e.version)
        }
    }
    .ok_or_else(|| Error::VersionNotFound(version.clone()))?;
    let level = match state.effective_config(&subject) {
        Level::BackwardTransitive => Level::Backward,
        Level::ForwardTransitive => Level::Forward,
        Level::FullTransitive => Level::Full,
        other => other,
    };
    let messages = app
        .registry
        .check_against(&state, &subject, &parsed, level, Some(target));
    Ok(answer(messages, params.flag("verbose")))
}

async fn against_all(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
    JsonBody(req): JsonBody<SchemaRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let parsed = parse_request(&req, params.flag("normalize"))?;
    let state = app.registry.state();
    let level = state.effective_config(&subject);
    let messages = app
        .registry
        .check_against(&state, &subject, &parsed, level, None);
    Ok(answer(messages, params.flag("verbose")))
}
