//! Rendering a result as JSON or CSV (`?format=csv` or `Accept: text/csv`).

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::db::Table;
use crate::params::{Format, Params};
use crate::{Error, Result};

/// A page of rows with its paging facts, in the requested format.
pub fn page(table: Table, params: &Params, extra: Map<String, Value>) -> Result<Response> {
    match params.format {
        Format::Csv => {
            let names: Vec<String> = table.columns.iter().map(|(n, _)| n.clone()).collect();
            let rows: Vec<Vec<String>> = table
                .rows
                .iter()
                .map(|r| names.iter().map(|n| cell_text(r.get(n))).collect())
                .collect();
            csv_response(&names, &rows)
        }
        Format::Json => {
            let returned = table.rows.len();
            let mut body = Map::new();
            body.insert(
                "page".into(),
                json!({
                    "limit": params.limit,
                    "offset": params.offset,
                    "returned": returned,
                    "total": table.rows_before_limit.unwrap_or(params.offset + returned as u64),
                }),
            );
            body.extend(extra);
            body.insert(
                "columns".into(),
                Value::Array(
                    table
                        .columns
                        .iter()
                        .map(|(n, t)| json!({"name": n, "type": t}))
                        .collect(),
                ),
            );
            body.insert(
                "data".into(),
                Value::Array(table.rows.into_iter().map(Value::Object).collect()),
            );
            Ok(Json(Value::Object(body)).into_response())
        }
    }
}

/// A CSV document with a header row.
pub fn csv_response(header: &[String], rows: &[Vec<String>]) -> Result<Response> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::Shape(e.to_string());
    w.write_record(header).map_err(io)?;
    for r in rows {
        w.write_record(r).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Shape(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}

/// A JSON value as CSV text: strings bare, null empty, arrays as JSON.
pub fn cell_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(cell_text(Some(&json!("a,b"))), "a,b");
        assert_eq!(cell_text(Some(&json!(3))), "3");
        assert_eq!(cell_text(Some(&Value::Null)), "");
        assert_eq!(cell_text(Some(&json!(["x"]))), "[\"x\"]");
    }
}
