//! The crate's one error type, and how each kind becomes an HTTP answer.
//!
//! Client mistakes get a 4xx with a JSON body naming the parameter; server-side failures get a
//! 5xx whose body never echoes SQL, credentials or ClickHouse messages (those go to the log).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Core(#[from] lgma_core::Error),
    #[error(transparent)]
    Domain(#[from] lgma_domain::Error),
    #[error("tokens file {path}: {reason}")]
    Tokens { path: String, reason: String },
    #[error("invalid parameter `{param}`: {reason}")]
    BadParam { param: String, reason: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("role `{have}` may not read this; needs `{need}`")]
    Forbidden {
        have: &'static str,
        need: &'static str,
    },
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("unexpected result shape: {0}")]
    Shape(String),
    /// The broker could not be asked (reconciliation).
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("access audit could not be written")]
    Audit,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn bad(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadParam {
            param: param.into(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadParam { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::ClickHouse(_) | Error::Shape(_) | Error::Kafka(_) => StatusCode::BAD_GATEWAY,
            Error::Audit => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::BadParam { .. } => "bad_parameter",
            Error::NotFound(_) => "not_found",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::ClickHouse(_) | Error::Shape(_) | Error::Kafka(_) => "upstream_error",
            Error::Audit => "audit_unavailable",
            _ => "internal_error",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            match self {
                Error::Audit => self.to_string(),
                _ => "the query could not be answered; see the server log".to_string(),
            }
        } else {
            self.to_string()
        };
        let mut body = serde_json::json!({"error": self.code(), "message": message});
        if let Error::BadParam { param, .. } = &self {
            body["parameter"] = serde_json::Value::String(param.clone());
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"lgma\""),
            );
        }
        response
    }
}
