//! The OpenAPI 3.0 description, generated from the endpoint table so it cannot drift from the
//! routes actually served.

use serde_json::{json, Map, Value};

use crate::auth::Role;
use crate::endpoints::ENDPOINTS;
use crate::open_data::DATASETS;

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn common_params() -> Vec<Value> {
    vec![
        param(
            "format",
            "Output format (or send Accept: text/csv)",
            json!({"type": "string", "enum": ["json", "csv"]}),
        ),
        param(
            "limit",
            "Page size (1 to the configured maximum, default 100)",
            json!({"type": "integer", "minimum": 1}),
        ),
        param(
            "offset",
            "Rows to skip",
            json!({"type": "integer", "minimum": 0}),
        ),
    ]
}

fn filter_param(name: &str) -> Value {
    let month =
        json!({"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "example": "2024-05"});
    match name {
        "la_code" => param(
            "la_code",
            "Council code (see /v1/councils), e.g. DC",
            json!({"type": "string", "example": "DC"}),
        ),
        "region" => param(
            "region",
            "Homelessness region (see /v1/councils), e.g. Dublin",
            json!({"type": "string", "example": "Dublin"}),
        ),
        "entity_id" => param(
            "entity_id",
            "The source system's id of one entity, e.g. a planning reference",
            json!({"type": "string", "minLength": 1, "maxLength": 128}),
        ),
        "period" => param("period", "One month, YYYY-MM (not with from/to)", month),
        "from" => param("from", "First month, YYYY-MM", month),
        _ => param("to", "Last month, YYYY-MM", month),
    }
}

fn responses(role: Role) -> Value {
    let mut r = json!({
        "200": {"description": "Rows (JSON: page, columns, data) or CSV", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Page"}},
            "text/csv": {"schema": {"type": "string"}}}},
        "400": {"description": "Invalid parameter", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "502": {"description": "ClickHouse could not answer"},
    });
    if role != Role::Public {
        r["401"] = json!({"description": "Missing or unknown bearer token"});
        r["403"] = json!({"description": "Role too low"});
        r["503"] = json!({"description": "Access audit could not be written (fail closed)"});
    }
    r
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let mut params: Vec<Value> = e.allowed_params().iter().map(|n| filter_param(n)).collect();
        params.extend(common_params());
        paths.insert(
            e.path.into(),
            json!({"get": {
                "summary": e.summary,
                "description": format!("Role: {} or higher. Recorded in the access audit.", e.role.as_str()),
                "tags": [e.role.as_str()],
                "security": [{"bearer": []}],
                "parameters": params,
                "responses": responses(e.role),
            }}),
        );
    }
    let ids: Vec<&str> = DATASETS.iter().map(|d| d.id).collect();
    paths.insert(
        "/v1/open-data".into(),
        json!({"get": {
        "summary": "Open-data catalogue (DCAT-AP)", "tags": ["public"],
        "responses": {"200": {"description": "dcat:Catalog with dcat:Dataset entries"}}}}),
    );
    paths.insert("/v1/open-data/{id}".into(), json!({"get": {
        "summary": "One month of an open dataset: council x category with small-number and complementary suppression, and its DCAT-AP metadata",
        "tags": ["public"],
        "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "enum": ids}},
            filter_param("period"),
            param("format", "json or csv (suppressed cells: null / [c])", json!({"type": "string", "enum": ["json", "csv"]}))],
        "responses": {"200": {"description": "Suppressed table"}, "400": {"description": "Invalid parameter"}, "404": {"description": "Unknown dataset"}}}}));
    paths.insert("/v1/indicators".into(), json!({"get": {
        "summary": "Council performance indicators (NOAC style: H2 vacancy, H3 re-letting time and cost, H6 long-term homeless adults, P2 confirmed on appeal, decisions within the statutory period, household waste recycling vs the EU targets) for every council, its region and the country, for a year or a quarter, with small-number and complementary suppression",
        "description": "Open data: the same suppressed answer for every role. Definitions: /v1/indicators/definitions (schemas/reference/indicators.toml). Each data row: level (council, region, country), area, indicator, value, numerator, denominator, suppressed (null, primary, complementary).",
        "tags": ["public"],
        "parameters": [
            param("year", "Calendar year, 2000 to 2100 (default: this year, so far)", json!({"type": "integer", "minimum": 2000, "maximum": 2100, "example": 2026})),
            param("quarter", "A quarter of the year (default: the whole year)", json!({"type": "integer", "minimum": 1, "maximum": 4})),
            param("la_code", "Only this council, its homelessness region and the country", json!({"type": "string", "example": "DC"})),
            param("format", "json or csv (suppressed figures empty)", json!({"type": "string", "enum": ["json", "csv"]}))],
        "responses": {"200": {"description": "period, suppression, indicators (definitions), data (figures)"}, "400": {"description": "Invalid parameter", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "502": {"description": "ClickHouse could not answer"}}}}));
    paths.insert("/v1/indicators/definitions".into(), json!({"get": {"summary": "The indicator definitions: code, title, unit, numerator, denominator, grain, sources, suppression rule, plausibility band, targets", "tags": ["public"], "responses": {"200": {"description": "version, indicators"}}}}));
    paths.insert("/v1/councils".into(), json!({"get": {"summary": "The 31 local authorities and homelessness regions", "tags": ["public"], "responses": {"200": {"description": "Reference list"}}}}));
    paths.insert("/v1/reconcile".into(), json!({"get": {"summary": "Every published council record accounted for: per topic and partition, the broker's offsets against the offset of record (stored, quarantined, lost, unread, doubled, unaccounted)", "tags": ["analyst"], "security": [{"bearer": []}], "responses": {"200": {"description": "Report with all_accounted / nothing_lost_or_doubled"}, "502": {"description": "Broker or ClickHouse unreachable"}}}}));
    paths.insert("/v1/whoami".into(), json!({"get": {"summary": "The caller's role", "tags": ["public"], "responses": {"200": {"description": "name, role"}, "401": {"description": "Unknown token"}}}}));
    for (p, s) in [
        ("/health", "Liveness"),
        ("/ready", "Readiness: 200 while ClickHouse answers (probed every 5 s); the body lists each dependency (the broker, used only by /v1/reconcile, is shown but optional)"),
        ("/metrics", "Prometheus metrics"),
        ("/openapi.json", "This document"),
        ("/", "Dashboard"),
    ] {
        paths.insert(p.into(), json!({"get": {"summary": s, "tags": ["ops"], "responses": {"200": {"description": "OK"}}}}));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "LGMA query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Summaries, pseudonymised current state, quality and open data over the LGMA ClickHouse model. No token = public (open data); analyst and admin endpoints need a bearer token and every request to them is audited.",
            "license": {"name": "Data: CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "parameter": {"type": "string"}}},
                "Page": {"type": "object", "properties": {
                    "page": {"type": "object", "properties": {"limit": {"type": "integer"}, "offset": {"type": "integer"}, "returned": {"type": "integer"}, "total": {"type": "integer"}}},
                    "columns": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "type": {"type": "string"}}}},
                    "data": {"type": "array", "items": {"type": "object"}}}}
            }
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_documented() {
        let doc = document();
        for e in ENDPOINTS {
            let op = &doc["paths"][e.path]["get"];
            assert!(op.is_object(), "{} missing", e.path);
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .expect("params")
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            for p in e.allowed_params() {
                assert!(names.contains(&p), "{} lacks {p}", e.path);
            }
        }
    }
}
