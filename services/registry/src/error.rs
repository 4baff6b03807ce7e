//! The one error type of the registry. Every API failure carries Confluent's status and
//! `error_code`, so clients (which switch on those codes) behave exactly as against Confluent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error("Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted { subject: String, version: u32 },
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted { subject: String, version: u32 },
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectLevelCompatibilityNotConfigured(String),
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectLevelModeNotConfigured(String),
    #[error("{0}")]
    InvalidSchema(String),
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    #[error("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibilityLevel,
    #[error("Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, IMPORT")]
    InvalidMode,
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("{0}")]
    Incompatible(String),
    #[error("One or more references exist to the schema {0}.")]
    ReferenceExists(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("Invalid subject name: {0}")]
    InvalidSubject(String),
    #[error("HTTP 404 Not Found")]
    EndpointNotFound,
    #[error("HTTP 415 Unsupported Media Type: {0}")]
    UnsupportedMediaType(String),
    #[error("Request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("Error in the backend data store: {0}")]
    Store(String),
    #[error("Operation timed out: {0}")]
    Timeout(String),
    #[error("Registry is not ready: still reading the store topic")]
    NotReady,
    #[error("{0}")]
    BrokerUnreachable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Core(#[from] lgma_core::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Confluent's (HTTP status, error_code) pair for this error.
    pub fn codes(&self) -> (StatusCode, u32) {
        use Error::*;
        match self {
            SubjectNotFound(_) => (StatusCode::NOT_FOUND, 40401),
            VersionNotFound(_) => (StatusCode::NOT_FOUND, 40402),
            SchemaNotFound(_) => (StatusCode::NOT_FOUND, 40403),
            SubjectSoftDeleted(_) => (StatusCode::NOT_FOUND, 40404),
            SubjectNotSoftDeleted(_) => (StatusCode::NOT_FOUND, 40405),
            VersionSoftDeleted { .. } => (StatusCode::NOT_FOUND, 40406),
            VersionNotSoftDeleted { .. } => (StatusCode::NOT_FOUND, 40407),
            SubjectLevelCompatibilityNotConfigured(_) => (StatusCode::NOT_FOUND, 40408),
            SubjectLevelModeNotConfigured(_) => (StatusCode::NOT_FOUND, 40409),
            InvalidSchema(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            InvalidVersion(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42202),
            InvalidCompatibilityLevel => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            InvalidMode => (StatusCode::UNPROCESSABLE_ENTITY, 42204),
            OperationNotPermitted(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42205),
            // Confluent 8 (`Errors.INCOMPATIBLE_SCHEMA_ERROR_CODE`, since 8.0.4 / 8.1.2): 40901.
            Incompatible(_) => (StatusCode::CONFLICT, 40901),
            ReferenceExists(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42206),
            BadRequest(_) => (StatusCode::BAD_REQUEST, 400),
            InvalidSubject(_) => (StatusCode::BAD_REQUEST, 40002),
            EndpointNotFound => (StatusCode::NOT_FOUND, 404),
            UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415),
            PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 413),
            Unauthorized => (StatusCode::UNAUTHORIZED, 40101),
            Forbidden(_) => (StatusCode::FORBIDDEN, 40301),
            Timeout(_) => (StatusCode::INTERNAL_SERVER_ERROR, 50002),
            NotReady => (StatusCode::SERVICE_UNAVAILABLE, 50003),
            Store(_) | BrokerUnreachable(_) | Config(_) | Core(_) | Io(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, 50001)
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.codes();
        if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
        }
        let body = json!({"error_code": code, "message": self.to_string()});
        let mut response = (status, crate::response::json_body(&body)).into_response();
        if matches!(self, Error::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"lgma-registry\""),
            );
        }
        response
    }
}
