//! `/compatibility/...`: would this schema be accepted, and if not, why.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::{validate_subject, AppState, JsonBody, Params, SrJson};
use crate::compat::Level;
use crate::error::{Error, Result};
use crate::service::{parse_request, Candidate, SchemaRequest, VersionSel};

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

/// Parses the request; with `verbose=true` an invalid schema is an incompatible answer with the
/// reason instead of 42201 (Confluent `CompatibilityResource`: `catch (InvalidSchemaException e)
/// { if (verbose) errorMessages = singletonList(e.getMessage()) ... }`).
fn candidate(
    state: &crate::state::State,
    req: &SchemaRequest,
    params: &Params,
) -> Result<std::result::Result<Candidate, SrJson>> {
    match parse_request(state, req, params.flag("normalize")) {
        Ok(c) => Ok(Ok(c)),
        Err(Error::InvalidSchema(m)) if params.flag("verbose") => Ok(Err(answer(vec![m], true))),
        Err(e) => Err(e),
    }
}

/// Confluent `CompatibilityResource.testCompatibilityBySubjectName`: the version must be a live
/// version of the subject, else 40402 (also when the subject does not exist at all: Confluent
/// looks the version up with `schemaRegistry.get(subject, version, false)` and answers
/// `versionNotFoundException`); `latest` of nothing is compatible.
async fn against_version(
    State(app): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
    JsonBody(req): JsonBody<SchemaRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let sel = VersionSel::parse(&version)?;
    let state = app.registry.state();
    let live = state.live_versions(&subject);
    let target = match sel {
        VersionSel::Latest => live.last().map(|e| e.version),
        VersionSel::Number(n) => match live.iter().find(|e| e.version == n) {
            Some(e) => Some(e.version),
            None => return Err(Error::VersionNotFound(n.to_string())),
        },
    };
    let parsed = match candidate(&state, &req, &params)? {
        Ok(c) => c.parsed,
        Err(answer) => return Ok(answer),
    };
    let Some(target) = target else {
        // Nothing registered yet: anything is compatible with nothing.
        return Ok(answer(Vec::new(), params.flag("verbose")));
    };
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

/// Confluent `CompatibilityResource.testCompatibilityForSubject`: against every live version the
/// subject's level selects; a subject without versions (or none at all) is compatible.
async fn against_all(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
    JsonBody(req): JsonBody<SchemaRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let state = app.registry.state();
    let parsed = match candidate(&state, &req, &params)? {
        Ok(c) => c.parsed,
        Err(answer) => return Ok(answer),
    };
    let level = state.effective_config(&subject);
    let messages = app
        .registry
        .check_against(&state, &subject, &parsed, level, None);
    Ok(answer(messages, params.flag("verbose")))
}
