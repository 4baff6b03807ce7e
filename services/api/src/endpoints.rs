//! The data endpoints as a table: path, role, the view it reads, which filters it accepts.
//!
//! Keeping them declarative keeps SQL text fixed: the only variable parts are which of the fixed
//! `AND column = ?` fragments are present, and the bound values. Views and columns come from this
//! file, never from the request.

use axum::extract::State;
use axum::response::Response;
use serde_json::Map;

use crate::auth::Role;
use crate::db::Table;
use crate::output;
use crate::params::{Params, Raw};
use crate::state::AppState;
use crate::Result;

/// Which request parameter filters which column.
#[derive(Debug, Clone, Copy)]
pub struct Filters {
    pub la_code: Option<&'static str>,
    pub region: Option<&'static str>,
    /// A `Date` column holding the first day of a month.
    pub month: Option<&'static str>,
    /// The source system's id of one entity (current state, quarantine): look one up directly
    /// instead of paging through a council's rows.
    pub entity_id: Option<&'static str>,
}

const COUNCIL_MONTH: Filters = Filters {
    la_code: Some("la_code"),
    region: None,
    month: Some("month"),
    entity_id: None,
};
const COUNCIL_REGION_MONTH: Filters = Filters {
    la_code: Some("la_code"),
    region: Some("homeless_region"),
    month: Some("month"),
    entity_id: None,
};
const COUNCIL: Filters = Filters {
    la_code: Some("la_code"),
    region: None,
    month: None,
    entity_id: None,
};
const COUNCIL_ENTITY: Filters = Filters {
    entity_id: Some("entity_id"),
    ..COUNCIL
};

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub path: &'static str,
    pub role: Role,
    /// A view (or fixed subquery), or a `*_current` table (see [`Endpoint::reads_current_table`]).
    pub relation: &'static str,
    pub filters: Filters,
    pub order_by: &'static str,
    pub summary: &'static str,
}

/// Every view-backed endpoint. `/v1/current/*` are pseudonymised current state (no personal
/// columns exist in ClickHouse at all; identifiers are keyed HMACs).
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/v1/summaries/planning/monthly",
        role: Role::Analyst,
        relation: "lgma.v_planning_monthly",
        filters: COUNCIL_MONTH,
        order_by: "month, la_code",
        summary: "Planning applications received and decided per council per month: median decision days, share within the statutory period, FI rate, grant rate, appeals, received per 1,000",
    },
    Endpoint {
        path: "/v1/summaries/planning/decision-times",
        role: Role::Analyst,
        relation: "lgma.v_planning_decision_times",
        filters: COUNCIL,
        order_by: "la_code",
        summary: "Decision times per council against the 8-week (56-day) statutory target",
    },
    Endpoint {
        path: "/v1/summaries/homelessness/adults-in-ea",
        role: Role::Analyst,
        relation: "lgma.v_hl_adults_in_ea_monthly",
        filters: COUNCIL_REGION_MONTH,
        order_by: "month, la_code, accommodation_type, age_band, gender",
        summary: "Adults in emergency accommodation at month end by council, region, accommodation type, age band and gender",
    },
    Endpoint {
        path: "/v1/summaries/homelessness/region-trend",
        role: Role::Analyst,
        relation: "lgma.v_hl_region_trend",
        filters: Filters {
            la_code: None,
            region: Some("homeless_region"),
            month: Some("month"),
            entity_id: None,
        },
        order_by: "month, homeless_region",
        summary: "Adults in emergency accommodation per homelessness region per month, and per 1,000 population",
    },
    Endpoint {
        path: "/v1/summaries/homelessness/presentations",
        role: Role::Analyst,
        relation: "lgma.v_hl_presentations_monthly",
        filters: COUNCIL_REGION_MONTH,
        order_by: "month, la_code, presentation_type, household_type, outcome",
        summary: "Households presenting as homeless per council per month by type and outcome",
    },
    Endpoint {
        path: "/v1/summaries/homelessness/exits",
        role: Role::Analyst,
        relation: "lgma.v_hl_exits_monthly",
        filters: COUNCIL_REGION_MONTH,
        order_by: "month, la_code, route, is_prevention, length_of_stay_band",
        summary: "Exits from emergency accommodation and preventions by route per council per month",
    },
    Endpoint {
        path: "/v1/summaries/homelessness/length-of-stay",
        role: Role::Analyst,
        relation: "lgma.v_hl_length_of_stay",
        filters: COUNCIL_MONTH,
        order_by: "month, la_code",
        summary: "Length of stay in emergency accommodation of households that exited, per council per month",
    },
    Endpoint {
        path: "/v1/summaries/housing/stock",
        role: Role::Analyst,
        relation: "lgma.v_housing_stock",
        filters: COUNCIL,
        order_by: "la_code, ownership, status",
        summary: "Social housing stock by status and ownership per council",
    },
    Endpoint {
        path: "/v1/summaries/housing/voids",
        role: Role::Analyst,
        relation: "lgma.v_housing_voids",
        filters: COUNCIL,
        order_by: "la_code",
        summary: "Void rate, average void days and relet cost per council",
    },
    Endpoint {
        path: "/v1/summaries/housing/need",
        role: Role::Analyst,
        relation: "lgma.v_housing_need",
        filters: COUNCIL,
        order_by: "la_code, main_need, time_on_list",
        summary: "Qualified households (net need) by main need and time on list per council",
    },
    Endpoint {
        path: "/v1/summaries/waste/monthly",
        role: Role::Analyst,
        relation: "lgma.v_waste_monthly",
        filters: COUNCIL_MONTH,
        order_by: "month, la_code",
        summary: "Municipal waste per council per month: kg per person, recycling and landfill rates against the 2035 targets",
    },
    Endpoint {
        path: "/v1/quality/freshness",
        role: Role::Analyst,
        relation: "lgma.v_quality_freshness",
        filters: COUNCIL,
        order_by: "la_code, entity_table",
        summary: "Freshness and quality per council and entity table: last event, events per day, verdict counts",
    },
    Endpoint {
        path: "/v1/quality/loss",
        role: Role::Analyst,
        relation: "lgma.v_ingest_loss",
        filters: Filters {
            la_code: None,
            region: None,
            month: None,
            entity_id: None,
        },
        order_by: "topic",
        summary: "Records lost per topic: offset ranges the broker no longer held when ingest reached them (their council is unknown)",
    },
    Endpoint {
        path: "/v1/quality/rules",
        role: Role::Admin,
        relation: "lgma.v_quality_rules",
        filters: Filters {
            la_code: Some("la_code"),
            region: None,
            month: None,
            entity_id: None,
        },
        order_by: "day DESC, la_code, entity_table, rule_id",
        summary: "Rule findings per council, entity table, day and rule",
    },
    Endpoint {
        path: "/v1/quarantine",
        role: Role::Admin,
        relation: "(SELECT topic, partition, offset, ingested_at, schema_id, decoded, event_id, operation, entity_id, entity_version, la_code, source_system, occurred_at, published_at, rule_ids, reasons, rules_version, dlq_topic FROM lgma.ingest_quarantine FINAL)",
        filters: COUNCIL_ENTITY,
        order_by: "ingested_at DESC, topic, partition, offset",
        summary: "Quarantined events: provenance, rule ids and reasons (never clear personal values)",
    },
    Endpoint {
        path: "/v1/audit/replays",
        role: Role::Admin,
        relation: "lgma.ingest_replay_audit",
        filters: Filters {
            la_code: None,
            region: None,
            month: None,
            entity_id: None,
        },
        order_by: "requested_at DESC, replay_id",
        summary: "Replays of quarantined events or offset ranges",
    },
    Endpoint {
        path: "/v1/audit/access",
        role: Role::Admin,
        relation: "lgma.api_access_audit",
        filters: Filters {
            la_code: None,
            region: None,
            month: None,
            entity_id: None,
        },
        order_by: "at DESC, request_id",
        summary: "Access audit of analyst and admin requests",
    },
    Endpoint {
        path: "/v1/current/planning-applications",
        role: Role::Analyst,
        relation: "lgma.planning_application_current",
        filters: COUNCIL_ENTITY,
        order_by: "la_code, entity_id, topic",
        summary: "Current state of planning applications (latest version, deletes removed)",
    },
    Endpoint {
        path: "/v1/current/homelessness-placements",
        role: Role::Analyst,
        relation: "lgma.hl_placement_current",
        filters: Filters {
            la_code: Some("la_code"),
            region: Some("homeless_region"),
            month: None,
            entity_id: Some("entity_id"),
        },
        order_by: "la_code, entity_id, topic",
        summary: "Current state of emergency accommodation placements (pseudonymised)",
    },
    Endpoint {
        path: "/v1/current/dwelling-units",
        role: Role::Analyst,
        relation: "lgma.housing_dwelling_unit_current",
        filters: COUNCIL_ENTITY,
        order_by: "la_code, entity_id, topic",
        summary: "Current state of social housing units (pseudonymised)",
    },
];

impl Endpoint {
    /// `*_current` tables are read as current state: the same rows as their `lgma.v_*` views
    /// (0201_current_views.sql: `FINAL`, deletes removed), but with the council and entity filters
    /// inside the `FINAL` read. Every `*_current` table is `ORDER BY (topic, la_code, entity_id)`
    /// and every version of an entity shares those, so filtering first is exact and reads only the
    /// matching key range; ClickHouse 18.16 does not push a filter on a view into it and merged the
    /// whole table (measured on 3M rows: 3,001,000 rows read for one entity through the view,
    /// 43,688 this way).
    fn reads_current_table(&self) -> bool {
        self.relation.ends_with("_current")
    }

    pub fn allowed_params(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.filters.la_code.is_some() {
            names.push("la_code");
        }
        if self.filters.region.is_some() {
            names.push("region");
        }
        if self.filters.month.is_some() {
            names.extend(["period", "from", "to"]);
        }
        if self.filters.entity_id.is_some() {
            names.push("entity_id");
        }
        names
    }

    /// The SQL text (placeholders only) and the values to bind, in order.
    pub fn sql(&self, p: &Params) -> (String, Vec<String>) {
        let mut binds = Vec::new();
        let mut key_filters = String::new();
        for (col, v) in [
            (self.filters.la_code, &p.la_code),
            (self.filters.entity_id, &p.entity_id),
        ] {
            if let (Some(col), Some(v)) = (col, v) {
                key_filters.push_str(&format!(" AND {col} = ?"));
                binds.push(v.clone());
            }
        }
        let mut sql = if self.reads_current_table() {
            format!(
                "SELECT * FROM (SELECT * FROM {} FINAL WHERE 1 = 1{key_filters}) WHERE is_deleted = 0",
                self.relation
            )
        } else {
            format!("SELECT * FROM {} WHERE 1 = 1{key_filters}", self.relation)
        };
        if let (Some(col), Some(v)) = (self.filters.region, &p.region) {
            sql.push_str(&format!(" AND {col} = ?"));
            binds.push(v.clone());
        }
        if let Some(col) = self.filters.month {
            if let Some(from) = p.from {
                sql.push_str(&format!(" AND {col} >= toDate(?)"));
                binds.push(from.first_day());
            }
            if let Some(to) = p.to {
                sql.push_str(&format!(" AND {col} <= toDate(?)"));
                binds.push(to.first_day());
            }
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT ? OFFSET ?", self.order_by));
        (sql, binds)
    }

    pub async fn run(&self, state: &AppState, p: &Params) -> Result<Table> {
        let (sql, binds) = self.sql(p);
        let mut q = state.db.reader.query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        q = q.bind(p.limit).bind(p.offset);
        state.db.table(q).await
    }
}

/// The axum handler of one endpoint.
pub async fn handle(
    state: State<AppState>,
    raw: Raw,
    endpoint: &'static Endpoint,
) -> Result<Response> {
    let params = raw.validate(&endpoint.allowed_params(), &state.councils, state.paging())?;
    let table = endpoint.run(&state, &params).await?;
    let mut extra = Map::new();
    extra.insert("endpoint".into(), endpoint.path.into());
    extra.insert("description".into(), endpoint.summary.into());
    output::page(table, &params, extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Format, Month};

    #[test]
    fn sql_has_placeholders_only() {
        let e = &ENDPOINTS[0];
        let p = Params {
            la_code: Some("DC".into()),
            region: None,
            entity_id: None,
            from: Some(Month {
                year: 2024,
                month: 1,
            }),
            to: Some(Month {
                year: 2024,
                month: 3,
            }),
            year: None,
            quarter: None,
            limit: 10,
            offset: 0,
            format: Format::Json,
        };
        let (sql, binds) = e.sql(&p);
        assert!(!sql.contains("DC") && !sql.contains("2024"));
        assert_eq!(binds, vec!["DC", "2024-01-01", "2024-03-01"]);
        assert_eq!(sql.matches('?').count(), 5);
    }

    #[test]
    fn current_state_filters_keys_inside_final_and_the_rest_after_it() {
        let e = ENDPOINTS
            .iter()
            .find(|e| e.path == "/v1/current/homelessness-placements")
            .expect("endpoint");
        let p = Params {
            la_code: Some("DC".into()),
            region: Some("Dublin".into()),
            entity_id: Some("PL-1".into()),
            from: None,
            to: None,
            year: None,
            quarter: None,
            limit: 10,
            offset: 0,
            format: Format::Json,
        };
        let (sql, binds) = e.sql(&p);
        assert_eq!(
            sql,
            "SELECT * FROM (SELECT * FROM lgma.hl_placement_current FINAL WHERE 1 = 1 \
             AND la_code = ? AND entity_id = ?) WHERE is_deleted = 0 AND homeless_region = ? \
             ORDER BY la_code, entity_id, topic LIMIT ? OFFSET ?"
        );
        assert_eq!(binds, vec!["DC", "PL-1", "Dublin"]);
    }

    #[test]
    fn paths_unique_and_versioned() {
        let mut seen = std::collections::HashSet::new();
        for e in ENDPOINTS {
            assert!(e.path.starts_with("/v1/"));
            assert!(seen.insert(e.path), "duplicate {}", e.path);
            assert!(e.role != Role::Public, "{} would skip the audit", e.path);
        }
    }
}
