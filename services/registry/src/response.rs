//! Response encoding shared by the REST handlers and the error type: JSON with Confluent's
//! content type.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";

/// A JSON response with Confluent's content type.
pub struct SrJson(pub Value);

impl IntoResponse for SrJson {
    fn into_response(self) -> Response {
        let mut response = self.0.to_string().into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V1));
        response
    }
}

pub fn json_body(value: &Value) -> SrJson {
    SrJson(value.clone())
}
