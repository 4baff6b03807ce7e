//! The router: public pages and open data, analyst and admin endpoints behind the role guard,
//! ops endpoints, body limit and tracing.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lgma_core::ops::Readiness;
use lgma_domain::{Indicators, LocalAuthorities};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, Role, Tokens};
use crate::config::Settings;
use crate::db::Db;
use crate::endpoints::{handle, ENDPOINTS};
use crate::open_data;
use crate::params::Raw;
use crate::state::AppState;
use crate::{Error, Result};

const INDEX_HTML: &str = include_str!("../static/index.html");
const DASHBOARD_JS: &str = include_str!("../static/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../static/dashboard.css");

pub fn state(settings: Settings, tokens: Tokens, readiness: Readiness) -> Result<AppState> {
    Ok(AppState {
        db: Db::new(&settings.clickhouse)?,
        settings: Arc::new(settings),
        tokens: Arc::new(tokens),
        councils: Arc::new(LocalAuthorities::embedded()?),
        indicators: Arc::new(Indicators::embedded()?),
        readiness,
    })
}

pub fn router(state: AppState, metrics: Option<PrometheusHandle>) -> Router {
    let mut analyst = Router::new();
    let mut admin = Router::new();
    for e in ENDPOINTS {
        let route = get(move |s: State<AppState>, raw: Raw| handle(s, raw, e));
        match e.role {
            Role::Admin => admin = admin.route(e.path, route),
            _ => analyst = analyst.route(e.path, route),
        }
    }
    let analyst = analyst
        .route("/v1/reconcile", get(crate::reconcile::handle))
        .layer(from_fn_with_state(state.clone(), auth::analyst));
    let admin = admin.layer(from_fn_with_state(state.clone(), auth::admin));
    let public = Router::new()
        .route(
            "/",
            get(|| async { static_file("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/static/dashboard.js",
            get(|| async { static_file("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route(
            "/static/dashboard.css",
            get(|| async { static_file("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .route("/v1/councils", get(councils))
        .route("/v1/whoami", get(whoami))
        .route("/v1/open-data", get(open_data::catalogue))
        .route("/v1/open-data/{id}", get(open_data::dataset))
        .route("/v1/indicators", get(crate::indicators::handle))
        .route(
            "/v1/indicators/definitions",
            get(crate::indicators::definitions),
        )
        .layer(from_fn_with_state(state.clone(), auth::public));

    let max_body = state.settings.max_body_bytes;
    Router::new()
        .merge(public)
        .merge(analyst)
        .merge(admin)
        .fallback(|| async { Error::NotFound("no such endpoint; see /openapi.json".into()) })
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(|req, next| {
            lgma_core::ops::http_metrics("lgma_api", req, next)
        }))
        .merge(lgma_core::ops::routes(metrics, state.readiness.clone()))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TraceLayer::new_for_http())
}

/// HELP text for every metric of lgma-api (call once after installing the recorder).
pub fn describe_metrics() {
    lgma_core::ops::describe_http_metrics("lgma_api", "lgma-api");
    metrics::describe_histogram!(
        "lgma_api_clickhouse_query_duration_seconds",
        "Time of one ClickHouse query of lgma-api (as the reader), by outcome (ok, error)"
    );
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

/// `GET /v1/councils`: the reference list (codes, names, regions, population).
async fn councils(State(state): State<AppState>, raw: Raw) -> Result<Response> {
    raw.validate(&[], &state.councils, state.paging())?;
    let list: Vec<_> = state
        .councils
        .all()
        .iter()
        .map(|la| {
            json!({
                "la_code": la.la_code,
                "official_name": la.official_name,
                "la_type": la.la_type,
                "homeless_region": la.homeless_region,
                "nuts3_code": la.nuts3_code,
                "nuts3_name": la.nuts3_name,
                "population_2022": la.population_2022,
            })
        })
        .collect();
    let mut regions: Vec<&str> = state
        .councils
        .all()
        .iter()
        .map(|la| la.homeless_region.as_str())
        .collect();
    regions.sort_unstable();
    regions.dedup();
    Ok(Json(json!({"councils": list, "homeless_regions": regions})).into_response())
}

/// `GET /v1/whoami`: the caller's role (the dashboard uses it to show what it may read).
async fn whoami(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    raw: Raw,
) -> Result<Response> {
    raw.validate(&[], &state.councils, state.paging())?;
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = state.tokens.identify(header)?;
    Ok(
        Json(json!({"name": caller.name, "role": caller.role, "anonymous": caller.anonymous}))
            .into_response(),
    )
}
