//! Open data: council × category tables with small-number suppression and DCAT-AP metadata.
//!
//! Each dataset is a two-way table (31 councils × a fixed category list) for one month, so totals
//! are well defined and `suppression::suppress` can guarantee no hidden cell is derivable from
//! them. Metadata follows the DCAT-AP fields data.gov.ie shows (title, description, publisher,
//! licence, temporal and spatial coverage, modified) plus how suppression was applied.

use axum::extract::{Path, State};
use axum::http::header::LINK;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::db::as_u64;
use crate::output::csv_response;
use crate::params::{Format, Month, Raw};
use crate::state::AppState;
use crate::suppression::suppress;
use crate::{Error, Result};

pub struct Dataset {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub theme: &'static str,
    pub unit: &'static str,
    pub category_name: &'static str,
    pub categories: &'static [&'static str],
    /// `la_code, category, value` for the month bound as `toDate(?)`.
    pub cells_sql: &'static str,
    /// `first_month, last_month, modified` (strings) over all data.
    pub coverage_sql: &'static str,
}

pub const DATASETS: &[Dataset] = &[
    Dataset {
        id: "homelessness-adults-in-ea-by-council",
        title: "Adults in emergency accommodation by local authority and age group",
        description: "Adults accessing local-authority-funded emergency accommodation at the end of the month, by local authority and age group (from placements and exits reported by councils). Small numbers are suppressed.",
        theme: "SOCI",
        unit: "adults",
        category_name: "age_band",
        categories: &["AGE_18_24", "AGE_25_44", "AGE_45_64", "AGE_65_PLUS", "NOT_STATED"],
        cells_sql: "SELECT la_code, age_band AS category, toUInt64(sum(adults)) AS value FROM lgma.v_hl_adults_in_ea_monthly WHERE month = toDate(?) GROUP BY la_code, category",
        coverage_sql: "SELECT toString(min(month)) AS first_month, toString(max(month)) AS last_month, (SELECT toString(max(ingested_at)) FROM lgma.hl_placement_history) AS modified FROM lgma.v_hl_adults_in_ea_monthly",
    },
    Dataset {
        id: "planning-decisions-by-council",
        title: "Planning decisions by local authority and outcome",
        description: "Planning applications decided in the month (granted, refused, split decisions) by planning authority. Granted includes granted with conditions. Small numbers are suppressed.",
        theme: "GOVE",
        unit: "applications",
        category_name: "decision",
        categories: &["GRANTED", "REFUSED", "SPLIT"],
        cells_sql: "SELECT la_code, if(assumeNotNull(decision) = 'GRANTED_WITH_CONDITIONS', 'GRANTED', assumeNotNull(decision)) AS category, toUInt64(count()) AS value FROM lgma.v_planning_application WHERE decision_date IS NOT NULL AND assumeNotNull(decision) IN ('GRANTED', 'GRANTED_WITH_CONDITIONS', 'REFUSED', 'SPLIT') AND toStartOfMonth(toDate(toDateTime(intDiv(assumeNotNull(decision_date), 1000), 'Europe/Dublin'))) = toDate(?) GROUP BY la_code, category",
        coverage_sql: "SELECT toString(min(month)) AS first_month, toString(max(month)) AS last_month, (SELECT toString(max(ingested_at)) FROM lgma.planning_application_history) AS modified FROM lgma.sum_planning_decided",
    },
];

fn find(id: &str) -> Result<&'static Dataset> {
    DATASETS.iter().find(|d| d.id == id).ok_or_else(|| {
        Error::NotFound(format!(
            "no open dataset `{}`",
            id.chars().take(60).collect::<String>()
        ))
    })
}

fn metadata(d: &Dataset, coverage: &Map<String, Value>, threshold: u64) -> Value {
    let text = |k: &str| {
        coverage
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (first, last) = (text("first_month"), text("last_month"));
    let empty = |s: &str| s.is_empty() || s.starts_with("0000") || s.starts_with("1970");
    let modified = Some(text("modified")).filter(|m| !empty(m));
    json!({
        "@context": "https://semiceu.github.io/DCAT-AP/releases/3.0.0/context/dcat-ap.jsonld",
        "@type": "dcat:Dataset",
        "identifier": d.id,
        "title": d.title,
        "description": d.description,
        "publisher": {"@type": "foaf:Agent", "name": "Local Government Management Agency (LGMA)"},
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "licenseTitle": "Creative Commons Attribution 4.0 (CC BY 4.0)",
        "theme": format!("http://publications.europa.eu/resource/authority/data-theme/{}", d.theme),
        "accrualPeriodicity": "http://publications.europa.eu/resource/authority/frequency/MONTHLY",
        "temporal": {
            "startDate": if empty(&first) { Value::Null } else { first.into() },
            "endDate": if empty(&last) { Value::Null } else { last.into() },
        },
        "spatial": {
            "label": "Ireland: the 31 local authorities",
            "uri": "http://publications.europa.eu/resource/authority/country/IRL",
        },
        "modified": modified,
        "unit": d.unit,
        "distribution": [
            {"format": "JSON", "mediaType": "application/json", "accessURL": format!("/v1/open-data/{}", d.id)},
            {"format": "CSV", "mediaType": "text/csv", "accessURL": format!("/v1/open-data/{}?format=csv", d.id)},
        ],
        "suppression": {
            "threshold": threshold,
            "method": format!(
                "Cells and totals with a count from 1 to {} are suppressed (primary). Then, until no row or column (totals included) has exactly one suppressed entry, the smallest non-zero cell of such a line is suppressed too (complementary), so no suppressed value can be derived from published totals. Zeros are published. Suppressed entries are null in JSON and [c] in CSV.",
                threshold.saturating_sub(1)
            ),
        },
    })
}

async fn coverage(state: &AppState, d: &Dataset) -> Result<Map<String, Value>> {
    let t = state
        .db
        .table(state.db.reader.query(d.coverage_sql))
        .await?;
    Ok(t.rows.into_iter().next().unwrap_or_default())
}

/// `GET /v1/open-data`: the catalogue.
pub async fn catalogue(State(state): State<AppState>, raw: Raw) -> Result<Response> {
    raw.validate(&[], &state.councils, state.paging())?;
    let mut datasets = Vec::new();
    for d in DATASETS {
        datasets.push(metadata(
            d,
            &coverage(&state, d).await?,
            state.settings.suppression_threshold,
        ));
    }
    Ok(Json(json!({
        "@type": "dcat:Catalog",
        "title": "LGMA open data: homelessness, housing, planning and waste",
        "publisher": {"@type": "foaf:Agent", "name": "Local Government Management Agency (LGMA)"},
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "dataset": datasets,
    }))
    .into_response())
}

/// `GET /v1/open-data/{id}?period=YYYY-MM`: one month of a dataset, suppressed (latest month when
/// no period is given).
pub async fn dataset(
    State(state): State<AppState>,
    Path(id): Path<String>,
    raw: Raw,
) -> Result<Response> {
    let d = find(&id)?;
    let params = raw.validate(&["period"], &state.councils, state.paging())?;
    let cov = coverage(&state, d).await?;
    let threshold = state.settings.suppression_threshold;
    let meta = metadata(d, &cov, threshold);
    let month = match params.from {
        Some(m) => Some(m),
        None => meta["temporal"]["endDate"]
            .as_str()
            .and_then(|s| Month::parse("period", s.get(..7).unwrap_or("")).ok()),
    };
    let cells = match month {
        Some(m) => {
            state
                .db
                .table(state.db.reader.query(d.cells_sql).bind(m.first_day()))
                .await?
                .rows
        }
        None => Vec::new(),
    };
    let councils = state.councils.all();
    let grid: Vec<Vec<u64>> = councils
        .iter()
        .map(|la| {
            d.categories
                .iter()
                .map(|cat| {
                    cells
                        .iter()
                        .filter(|r| {
                            r.get("la_code").and_then(Value::as_str) == Some(la.la_code.as_str())
                                && r.get("category").and_then(Value::as_str) == Some(*cat)
                        })
                        .map(|r| as_u64(r.get("value")))
                        .sum()
                })
                .collect()
        })
        .collect();
    let out = suppress(&grid, threshold);
    let period = month.map(|m| m.to_string());

    if params.format == Format::Csv {
        let mut header = vec!["la_code".to_string(), "official_name".to_string()];
        header.extend(d.categories.iter().map(|c| c.to_string()));
        header.push("total".into());
        let show = |v: Option<u64>| v.map_or_else(|| "[c]".to_string(), |n| n.to_string());
        let mut rows: Vec<Vec<String>> = councils
            .iter()
            .enumerate()
            .map(|(i, la)| {
                let mut r = vec![la.la_code.clone(), la.official_name.clone()];
                r.extend(out.cells[i].iter().map(|v| show(*v)));
                r.push(show(out.row_totals[i]));
                r
            })
            .collect();
        let mut total = vec!["TOTAL".to_string(), "All local authorities".to_string()];
        total.extend(out.column_totals.iter().map(|v| show(*v)));
        total.push(show(out.grand_total));
        rows.push(total);
        let mut response = csv_response(&header, &rows)?;
        if let Ok(v) = format!("</v1/open-data/{}>; rel=\"describedby\"", d.id).parse() {
            response.headers_mut().insert(LINK, v);
        }
        return Ok(response);
    }

    let rows: Vec<Value> = councils
        .iter()
        .enumerate()
        .map(|(i, la)| {
            let cells: Map<String, Value> = d
                .categories
                .iter()
                .zip(&out.cells[i])
                .map(|(c, v)| (c.to_string(), json!(v)))
                .collect();
            json!({
                "la_code": la.la_code,
                "official_name": la.official_name,
                "cells": cells,
                "total": out.row_totals[i],
            })
        })
        .collect();
    let column_totals: Map<String, Value> = d
        .categories
        .iter()
        .zip(&out.column_totals)
        .map(|(c, v)| (c.to_string(), json!(v)))
        .collect();
    Ok(Json(json!({
        "dataset": meta,
        "period": period,
        "unit": d.unit,
        "category": d.category_name,
        "categories": d.categories,
        "rows": rows,
        "column_totals": column_totals,
        "grand_total": out.grand_total,
        "suppressed_entries": out.suppressed_count(),
    }))
    .into_response())
}
