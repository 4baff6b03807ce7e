//! `/config` (compatibility levels) and `/mode`, global and per subject.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::{validate_subject, AppState, JsonBody, Params, SrJson};
use crate::auth::Principal;
use crate::compat::Level;
use crate::error::{Error, Result};
use crate::state::Mode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/config",
            get(get_global).put(put_global).delete(delete_global),
        )
        .route(
            "/config/{subject}",
            get(get_subject).put(put_subject).delete(delete_subject),
        )
        .route("/mode", get(get_global_mode).put(put_global_mode))
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
}

#[derive(Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

impl ConfigRequest {
    /// The level asked for; None when the body names none (`{}`), which Confluent's
    /// `ConfigValue.update` treats as "keep the current level".
    fn level(&self) -> Result<Option<Level>> {
        self.compatibility
            .as_deref()
            .or(self.compatibility_level.as_deref())
            .map(Level::parse)
            .transpose()
    }
}

/// `PUT /config[/{s}]` answer: Confluent echoes the resulting config (`ConfigUpdateRequest`,
/// `NON_NULL`), so a body without a level answers the current one (or `{}` if none is set).
fn update_json(level: Option<Level>) -> SrJson {
    match level {
        Some(l) => SrJson(json!({"compatibility": l.as_str()})),
        None => SrJson(json!({})),
    }
}

#[derive(Deserialize)]
struct ModeRequest {
    mode: String,
}

fn level_json(level: Level) -> SrJson {
    SrJson(json!({"compatibilityLevel": level.as_str()}))
}

async fn get_global(State(app): State<AppState>) -> SrJson {
    level_json(
        app.registry
            .state()
            .global_config()
            .unwrap_or(Level::Backward),
    )
}

async fn put_global(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ConfigRequest>,
) -> Result<SrJson> {
    let level = match req.level()? {
        Some(l) => l,
        None => {
            let current = app.registry.state().global_config();
            return Ok(update_json(Some(current.unwrap_or(Level::Backward))));
        }
    };
    app.registry.set_config(None, Some(level)).await?;
    Ok(update_json(Some(level)))
}

async fn delete_global(State(app): State<AppState>) -> Result<SrJson> {
    let previous = app
        .registry
        .state()
        .global_config()
        .unwrap_or(Level::Backward);
    app.registry.set_config(None, None).await?;
    Ok(level_json(previous))
}

async fn get_subject(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let state = app.registry.state();
    match state.subject_config(&subject) {
        Some(level) => Ok(level_json(level)),
        None if params.flag("defaultToGlobal") => {
            Ok(level_json(state.global_config().unwrap_or(Level::Backward)))
        }
        None => Err(Error::SubjectLevelCompatibilityNotConfigured(subject)),
    }
}

async fn put_subject(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    JsonBody(req): JsonBody<ConfigRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let level = match req.level()? {
        Some(l) => l,
        None => return Ok(update_json(app.registry.state().subject_config(&subject))),
    };
    app.registry.set_config(Some(&subject), Some(level)).await?;
    Ok(update_json(Some(level)))
}

async fn delete_subject(
    State(app): State<AppState>,
    Path(subject): Path<String>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let previous = app.registry.state().subject_config(&subject);
    // Confluent `ConfigResource.deleteSubjectConfig`: none set → `subjectNotFoundException` (40401).
    let Some(previous) = previous else {
        return Err(Error::SubjectNotFound(subject));
    };
    app.registry.set_config(Some(&subject), None).await?;
    Ok(level_json(previous))
}

fn mode_json(mode: Mode) -> SrJson {
    SrJson(json!({"mode": mode.as_str()}))
}

async fn get_global_mode(State(app): State<AppState>) -> SrJson {
    mode_json(
        app.registry
            .state()
            .global_mode()
            .unwrap_or(Mode::ReadWrite),
    )
}

/// IMPORT on a registry (or subject) that already has schemas needs `force=true`, as in Confluent:
/// importing over existing ids is how two registries end up disagreeing.
fn check_import_allowed(
    app: &AppState,
    subject: Option<&str>,
    mode: Mode,
    params: &Params,
) -> Result<()> {
    if mode != Mode::Import || params.flag("force") {
        return Ok(());
    }
    let state = app.registry.state();
    let has_schemas = match subject {
        Some(s) => state.subject_exists(s),
        None => !state.subjects(true, false, "").is_empty(),
    };
    if has_schemas {
        return Err(Error::OperationNotPermitted(
            "Cannot import since found existing subjects".into(),
        ));
    }
    Ok(())
}

async fn put_global_mode(
    State(app): State<AppState>,
    params: Params,
    JsonBody(req): JsonBody<ModeRequest>,
) -> Result<SrJson> {
    let mode = Mode::parse(&req.mode)?;
    check_import_allowed(&app, None, mode, &params)?;
    app.registry.set_mode(None, Some(mode)).await?;
    Ok(mode_json(mode))
}

async fn get_subject_mode(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let state = app.registry.state();
    match state.subject_mode(&subject) {
        Some(mode) => Ok(mode_json(mode)),
        None if params.flag("defaultToGlobal") => {
            Ok(mode_json(state.global_mode().unwrap_or(Mode::ReadWrite)))
        }
        None => Err(Error::SubjectLevelModeNotConfigured(subject)),
    }
}

async fn put_subject_mode(
    State(app): State<AppState>,
    Path(subject): Path<String>,
    user: Option<Extension<Principal>>,
    params: Params,
    JsonBody(req): JsonBody<ModeRequest>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let mode = Mode::parse(&req.mode)?;
    // IMPORT lets a client choose schema ids, which are global: a migration tool for admins,
    // not something one council may do (it could take ids out from under everyone else).
    if mode == Mode::Import && user.is_some_and(|Extension(u)| !u.is_admin()) {
        return Err(Error::Forbidden(format!(
            "User is denied operation AlterConfigs on Subject: {subject} (IMPORT mode is for the admin role only)"
        )));
    }
    check_import_allowed(&app, Some(&subject), mode, &params)?;
    app.registry.set_mode(Some(&subject), Some(mode)).await?;
    Ok(mode_json(mode))
}

async fn delete_subject_mode(
    State(app): State<AppState>,
    Path(subject): Path<String>,
) -> Result<SrJson> {
    validate_subject(&subject)?;
    let previous = app.registry.state().subject_mode(&subject);
    // Confluent `ModeResource.deleteSubjectMode`: none set → `subjectNotFoundException` (40401).
    let Some(previous) = previous else {
        return Err(Error::SubjectNotFound(subject));
    };
    app.registry.set_mode(Some(&subject), None).await?;
    Ok(mode_json(previous))
}
