//! Shared request state: settings, ClickHouse clients, tokens and reference data.

use std::sync::Arc;

use lgma_core::ops::Readiness;
use lgma_domain::{Indicators, LocalAuthorities};

use crate::config::Settings;
use crate::db::Db;
use crate::params::Paging;
use crate::tokens::Tokens;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub tokens: Arc<Tokens>,
    pub councils: Arc<LocalAuthorities>,
    /// The indicator definitions (`schemas/reference/indicators.toml`).
    pub indicators: Arc<Indicators>,
    pub readiness: Readiness,
}

impl AppState {
    pub fn paging(&self) -> Paging {
        Paging {
            default_limit: self.settings.default_page_size,
            max_limit: self.settings.max_page_size,
        }
    }
}
