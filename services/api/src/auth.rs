//! Roles by bearer token, and the access audit of restricted requests.
//!
//! The tokens file holds only SHA-256 digests of tokens, so a leaked config does not leak access.
//! No token = the `public` role (open data is open); a token that is present but unknown is a 401
//! everywhere, so a typo never silently downgrades a caller. Roles are ordered:
//! admin ⊇ analyst ⊇ public.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::AppState;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Public,
    Analyst,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// Who is calling, as established by [`guard`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    pub anonymous: bool,
}

#[derive(Debug, Deserialize)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    /// Lowercase hex SHA-256 of the bearer token.
    sha256: String,
    role: Role,
}

/// Token digests → caller.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, (String, Role)>);

impl Tokens {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Tokens {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| Error::Tokens {
            path: path.display().to_string(),
            reason,
        })
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: TokensFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut map = HashMap::new();
        for t in file.tokens {
            let digest = t.sha256.to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("token `{}`: sha256 must be 64 hex digits", t.name));
            }
            if map.insert(digest, (t.name.clone(), t.role)).is_some() {
                return Err(format!("token `{}`: duplicate digest", t.name));
            }
        }
        Ok(Tokens(map))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The caller for an `Authorization` header value (absent = anonymous public).
    pub fn identify(&self, header: Option<&str>) -> Result<Caller> {
        let Some(value) = header else {
            return Ok(Caller {
                name: String::new(),
                role: Role::Public,
                anonymous: true,
            });
        };
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthorized)?;
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        let (name, role) = self.0.get(&digest).ok_or(Error::Unauthorized)?;
        Ok(Caller {
            name: name.clone(),
            role: *role,
            anonymous: false,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let d = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
        Tokens::parse(&format!(
            "[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nrole = \"analyst\"\n\
             [[tokens]]\nname = \"adm\"\nsha256 = \"{}\"\nrole = \"admin\"\n",
            d("analyst-secret"),
            d("admin-secret")
        ))
        .expect("parses")
    }

    #[test]
    fn identify() {
        let t = tokens();
        let c = t.identify(Some("Bearer analyst-secret")).expect("known");
        assert_eq!((c.name.as_str(), c.role), ("a", Role::Analyst));
        assert_eq!(
            t.identify(Some("Bearer admin-secret")).expect("ok").role,
            Role::Admin
        );
        assert!(t.identify(None).expect("anon").anonymous);
        for bad in [
            "Bearer wrong",
            "Bearer ",
            "Basic YWJj",
            "analyst-secret",
            "bearer analyst-secret",
        ] {
            assert!(
                matches!(t.identify(Some(bad)), Err(Error::Unauthorized)),
                "{bad}"
            );
        }
        assert!(Role::Admin > Role::Analyst && Role::Analyst > Role::Public);
    }

    #[test]
    fn bad_files_rejected() {
        assert!(Tokens::parse("[[tokens]]\nname=\"x\"\nsha256=\"abc\"\nrole=\"admin\"\n").is_err());
        assert!(Tokens::parse("[[tokens]]\nname=\"x\"\nsha256=\"abc\"\nrole=\"root\"\n").is_err());
    }
}
