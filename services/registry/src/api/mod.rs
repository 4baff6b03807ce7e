//! The Confluent REST API: routing, request decoding, auth and response encoding.

mod compatibility;
mod config;
mod schemas;
mod subjects;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::auth::Users;
use crate::error::{Error, Result};
pub use crate::response::{json_body, SrJson, CONTENT_TYPE_V1};
use crate::service::Registry;

/// The Confluent Schema Registry release whose REST behaviour this registry reproduces
/// (`GET /v1/metadata/version` reports it; `commitId` names us).
pub const CONFLUENT_API_VERSION: &str = "8.0.0";

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub max_body_bytes: usize,
    pub users: Option<Arc<Users>>,
}

/// A JSON request body: content type checked (415), size limited (413), parsed (400).
pub struct JsonBody<T>(pub T);

const ACCEPTED_TYPES: [&str; 5] = [
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
    "*/*",
];

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let media = ct
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !ACCEPTED_TYPES.contains(&media.as_str()) {
                return Err(Error::UnsupportedMediaType(format!(
                    "content type '{media}' is not accepted; use {CONTENT_TYPE_V1}"
                )));
            }
        }
        let limit = state.max_body_bytes;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            drain(req.into_body()).await;
            return Err(Error::PayloadTooLarge(limit));
        }
        let mut body = req.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| Error::BadRequest(format!("reading request body: {e}")))?;
            if bytes.len() + chunk.len() > limit {
                drain(Body::from_stream(body)).await;
                return Err(Error::PayloadTooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::BadRequest(format!("Malformed request body: {e}")))
    }
}

/// Reads and discards an oversized body (up to a cap, for a few seconds) so the client, still
/// sending, gets the 413 instead of a broken pipe. Beyond the cap the connection is just closed.
async fn drain(body: Body) {
    const CAP: usize = 64 * 1024 * 1024;
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > CAP {
                break;
            }
        }
    })
    .await;
}

/// Query parameters, read leniently: clients send `true`, `True`, `1`.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let query = parts.uri.query().unwrap_or_default();
        let map: HashMap<String, String> = serde_urlencoded_pairs(query);
        Ok(Params(map))
    }
}

fn serde_urlencoded_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Params {
    pub fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    /// `offset`/`limit` pagination for listings without a cap (subjects, versions).
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        self.page_capped(items, usize::MAX)
    }

    /// `offset`/`limit` pagination as Confluent's `AbstractSchemaRegistry.normalizeLimit`: a
    /// limit that is absent, 0, negative or above `max` means `max` (the configured default,
    /// equal to the maximum: 1000 for schema listings, unlimited for subjects and versions).
    pub fn page_capped<T>(&self, items: Vec<T>, max: usize) -> Vec<T> {
        let offset = self
            .get("offset")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let limit = self
            .get("limit")
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|l| usize::try_from(l).ok())
            .filter(|l| *l > 0 && *l <= max)
            .unwrap_or(max);
        items.into_iter().skip(offset).take(limit).collect()
    }
}

/// Subject names are free text in Confluent, but never a path trick or control characters.
pub fn validate_subject(subject: &str) -> Result<()> {
    let bad = subject.is_empty()
        || subject.len() > 512
        || subject.trim() != subject
        || subject.contains("..")
        || subject.contains('/')
        || subject.contains('\\')
        || subject.chars().any(char::is_control);
    if bad {
        return Err(Error::InvalidSubject(format!(
            "'{}' (1-512 characters; no '/', '\\', '..', control characters or surrounding spaces)",
            subject.escape_default()
        )));
    }
    Ok(())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(subjects::routes())
        .merge(schemas::routes())
        .merge(config::routes())
        .merge(compatibility::routes())
        .route("/", get(|| async { SrJson(serde_json::json!({})) }))
        .route("/contexts", get(|| async { SrJson(serde_json::json!(["."])) }))
        // Confluent `ServerMetadataResource.getSchemaRegistryVersion`.
        .route(
            "/v1/metadata/version",
            get(|| async {
                SrJson(serde_json::json!({
                    "version": CONFLUENT_API_VERSION,
                    "commitId": concat!("lgma-registry-", env!("CARGO_PKG_VERSION")),
                }))
            }),
        )
        .route(
            "/v1/metadata/id",
            get(|| async {
                SrJson(serde_json::json!({"scope": {"path": [], "clusters": {"kafka-cluster": "lgma", "schema-registry-cluster": "lgma-registry"}}}))
            }),
        )
        .fallback(|| async { Error::EndpointNotFound })
        .method_not_allowed_fallback(|| async {
            let body = serde_json::json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"});
            (axum::http::StatusCode::METHOD_NOT_ALLOWED, SrJson(body))
        })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn(|req, next| {
            lgma_core::ops::http_metrics("lgma_registry", req, next)
        }))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// What a request needs beyond being authenticated (Confluent security plugin operations in
/// brackets).
#[derive(Debug, PartialEq, Eq)]
enum Need {
    /// GETs, schema lookups and compatibility checks (`SUBJECT_READ`, `GLOBAL_READ`, ...).
    Read,
    /// A change to one subject: `operation` as Confluent names it in its denial message.
    Subject {
        operation: &'static str,
        subject: String,
    },
    /// A change to the global config or mode, or any other non-read request (`GLOBAL_*_WRITE`).
    Admin,
}

/// Classifies a request by method and matched route (`route` is the route template, `subject`
/// the percent-decoded `{subject}` parameter). Anything not known to be a read or a one-subject
/// change needs an admin: new mutating routes fail closed.
fn need(method: &Method, route: Option<&str>, subject: Option<&str>) -> Need {
    let subject_op = |operation: &'static str| match subject {
        Some(s) => Need::Subject {
            operation,
            subject: s.to_string(),
        },
        None => Need::Admin,
    };
    match (method.as_str(), route.unwrap_or_default()) {
        ("GET" | "HEAD" | "OPTIONS", _) => Need::Read,
        (
            "POST",
            "/subjects/{subject}"
            | "/compatibility/subjects/{subject}/versions"
            | "/compatibility/subjects/{subject}/versions/{version}",
        ) => Need::Read,
        ("POST", "/subjects/{subject}/versions") => subject_op("Write"),
        ("DELETE", "/subjects/{subject}" | "/subjects/{subject}/versions/{version}") => {
            subject_op("Delete")
        }
        ("PUT" | "DELETE", "/config/{subject}" | "/mode/{subject}") => subject_op("AlterConfigs"),
        _ => Need::Admin,
    }
}

async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(users) = &state.users else {
        return next.run(req).await;
    };
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(user) = header.and_then(|h| users.authenticate(h)) else {
        return refuse(req, Error::Unauthorized).await;
    };
    let (mut parts, body) = req.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    // Percent-decoded as the handlers see it; undecodable (not UTF-8) means no subject, so only
    // an admin gets through to the handler's 400.
    let subject = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "subject")
                .map(|(_, value)| value.to_string())
        });
    // Handlers that judge the body (IMPORT mode) see who asked.
    parts.extensions.insert(user.clone());
    let req = Request::from_parts(parts, body);
    let denied = match need(req.method(), route.as_deref(), subject.as_deref()) {
        Need::Read => None,
        Need::Subject { operation, subject } => (!user.may_write_subject(&subject))
            .then(|| format!("User is denied operation {operation} on Subject: {subject}")),
        Need::Admin => (!user.is_admin()).then(|| {
            format!(
                "User is denied operation {} on Global: {} (admin role only)",
                if matches!(*req.method(), Method::PUT | Method::DELETE) {
                    "AlterConfigs"
                } else {
                    "Write"
                },
                req.uri().path()
            )
        }),
    };
    match denied {
        Some(message) => {
            tracing::info!(user = %user.name, method = %req.method(), path = %req.uri().path(), "denied");
            refuse(req, Error::Forbidden(message)).await
        }
        None => next.run(req).await,
    }
}

/// Answers a refused request only after reading its body: a body left unread makes the server
/// drop the kept-alive connection, and the client's next request on it fails.
async fn refuse(req: Request, error: Error) -> Response {
    drain(req.into_body()).await;
    error.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_validation() {
        for ok in [
            "lgma.homelessness.presentation-value",
            "a b",
            "Ünïcode-value",
            "x:y",
        ] {
            assert!(validate_subject(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "..",
            "a\\b",
            " lead",
            "tab\t",
            &"x".repeat(513),
        ] {
            assert!(validate_subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_flags_accept_python_spelling() {
        let p = Params(serde_urlencoded_pairs(
            "normalize=False&deleted=True&x=%2Fa+b",
        ));
        assert!(p.flag("deleted"));
        assert!(!p.flag("normalize"));
        assert_eq!(p.get("x"), Some("/a b"));
        assert!(!p.flag("missing"));
    }

    #[test]
    fn pagination() {
        let p = Params(serde_urlencoded_pairs("offset=1&limit=2"));
        assert_eq!(p.page(vec![1, 2, 3, 4]), vec![2, 3]);
        let all = Params(serde_urlencoded_pairs("limit=-1"));
        assert_eq!(all.page(vec![1, 2]), vec![1, 2]);
    }

    /// Mirrors Confluent `AbstractSchemaRegistry.normalizeLimit`: `limit=0` (or negative, or
    /// above the maximum) is the default limit, not "nothing".
    #[test]
    fn limit_zero_means_the_default_not_nothing() {
        let zero = Params(serde_urlencoded_pairs("limit=0"));
        assert_eq!(zero.page(vec![1, 2, 3]), vec![1, 2, 3]);
        assert_eq!(zero.page_capped((0..1500).collect(), 1000).len(), 1000);
        let big = Params(serde_urlencoded_pairs("limit=5000&offset=1"));
        assert_eq!(big.page_capped((0..1500).collect::<Vec<_>>(), 1000)[0], 1);
        assert_eq!(
            big.page_capped((0..1500).collect::<Vec<_>>(), 1000).len(),
            1000
        );
    }

    #[test]
    fn request_classification() {
        let subject = |operation, s: &str| Need::Subject {
            operation,
            subject: s.to_string(),
        };
        let s = Some("dublin-city.x-value");
        let cases = [
            (Method::GET, "/subjects/{subject}/versions", s, Need::Read),
            (Method::GET, "/config", None, Need::Read),
            (Method::POST, "/subjects/{subject}", s, Need::Read),
            (
                Method::POST,
                "/compatibility/subjects/{subject}/versions/{version}",
                s,
                Need::Read,
            ),
            (
                Method::POST,
                "/compatibility/subjects/{subject}/versions",
                s,
                Need::Read,
            ),
            (
                Method::POST,
                "/subjects/{subject}/versions",
                s,
                subject("Write", "dublin-city.x-value"),
            ),
            (
                Method::DELETE,
                "/subjects/{subject}",
                s,
                subject("Delete", "dublin-city.x-value"),
            ),
            (
                Method::DELETE,
                "/subjects/{subject}/versions/{version}",
                s,
                subject("Delete", "dublin-city.x-value"),
            ),
            (
                Method::PUT,
                "/config/{subject}",
                s,
                subject("AlterConfigs", "dublin-city.x-value"),
            ),
            (
                Method::DELETE,
                "/mode/{subject}",
                s,
                subject("AlterConfigs", "dublin-city.x-value"),
            ),
            (Method::PUT, "/config", None, Need::Admin),
            (Method::DELETE, "/config", None, Need::Admin),
            (Method::PUT, "/mode", None, Need::Admin),
            (Method::DELETE, "/mode", None, Need::Admin),
            // Unknown or unmatched mutating requests, and an undecodable subject: admin only.
            (Method::POST, "/exporters", None, Need::Admin),
            (Method::PATCH, "/subjects/{subject}", s, Need::Admin),
            (
                Method::POST,
                "/subjects/{subject}/versions",
                None,
                Need::Admin,
            ),
        ];
        for (method, route, subject, expected) in cases {
            assert_eq!(
                need(&method, Some(route), subject),
                expected,
                "{method} {route}"
            );
        }
        assert_eq!(need(&Method::PUT, None, None), Need::Admin);
        assert_eq!(need(&Method::GET, None, None), Need::Read);
    }
}
