//! `lgma-api`: the query API, open data and dashboard over the ClickHouse model.
//!
//! Roles by bearer token (`tokens`, checked and audited by `auth`), typed parameters bound into fixed SQL (`params`, `endpoints`),
//! small-number suppression for open data (`suppression`, `open_data`, and the council
//! performance indicators, `indicators`), and an access audit of
//! every analyst/admin request.

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod indicators;
pub mod open_data;
pub mod openapi;
pub mod output;
pub mod params;
pub mod reconcile;
pub mod state;
pub mod suppression;
pub mod tokens;

pub use error::{Error, Result};
