//! The role check on every route and the access audit of restricted requests (who, what, when,
//! the answer); the roles themselves come from [`crate::tokens`].

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;
pub use crate::tokens::{Caller, Role, Tokens};
use crate::{Error, Result};

/// One row of `lgma.api_access_audit` (column order as in migration 0200).
#[derive(Debug, clickhouse::Row, Serialize)]
pub struct AuditRow {
    pub at: u32,
    pub request_id: String,
    pub token_name: String,
    pub role: String,
    pub required_role: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub duration_ms: u32,
}

pub const AUDIT_TABLE: &str = "api_access_audit";

/// Middleware: checks the caller's role against `need`; for analyst/admin routes, records the
/// request (allowed or not) in the audit table, and fails closed (503) if that write fails.
pub async fn guard(state: AppState, need: Role, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let path: String = req.uri().path().chars().take(512).collect();
    let query: String = req.uri().query().unwrap_or("").chars().take(2048).collect();
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
    let caller = state.tokens.identify(header);
    let (response, caller) = match caller {
        Err(e) => (e.into_response(), None),
        Ok(c) if c.role < need && c.anonymous => (Error::Unauthorized.into_response(), Some(c)),
        Ok(c) if c.role < need => (
            Error::Forbidden {
                have: c.role.as_str(),
                need: need.as_str(),
            }
            .into_response(),
            Some(c),
        ),
        Ok(c) => {
            req.extensions_mut().insert(c.clone());
            (next.run(req).await, Some(c))
        }
    };
    if need == Role::Public {
        return response;
    }
    let row = AuditRow {
        at: chrono::Utc::now().timestamp().clamp(0, u32::MAX as i64) as u32,
        request_id: uuid::Uuid::new_v4().to_string(),
        token_name: caller.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        role: caller
            .as_ref()
            .map(|c| {
                if c.anonymous {
                    "anonymous"
                } else {
                    c.role.as_str()
                }
            })
            .unwrap_or("invalid_token")
            .to_string(),
        required_role: need.as_str().to_string(),
        method,
        path,
        query,
        status: response.status().as_u16(),
        duration_ms: started.elapsed().as_millis().min(u32::MAX as u128) as u32,
    };
    match write_audit(&state, row).await {
        Ok(()) => response,
        Err(e) => {
            tracing::error!(error = %e, "access audit insert failed; refusing the response");
            Error::Audit.into_response()
        }
    }
}

async fn write_audit(state: &AppState, row: AuditRow) -> Result<()> {
    let mut insert = state.db.writer.insert::<AuditRow>(AUDIT_TABLE).await?;
    insert.write(&row).await?;
    insert.end().await?;
    Ok(())
}

/// Route layers (`axum::middleware::from_fn_with_state`), one per required role.
pub async fn analyst(State(state): State<AppState>, req: Request, next: Next) -> Response {
    guard(state, Role::Analyst, req, next).await
}
pub async fn admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    guard(state, Role::Admin, req, next).await
}
pub async fn public(State(state): State<AppState>, req: Request, next: Next) -> Response {
    guard(state, Role::Public, req, next).await
}
