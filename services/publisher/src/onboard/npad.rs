//! NPAD-format planning CSV (the National Planning Application Database's field names, dates as
//! epoch milliseconds, each council's own status and decision words).
//!
//! A row is the application's current state; its entity version is the latest date in the row
//! (epoch ms), which only grows as the application moves on, so re-exports stay ordered.

use std::collections::HashMap;

use lgma_domain::LocalAuthorities;

use super::{check, Mapped, RowError};
use lgma_sim::generator::people;
use lgma_sim::model::*;
use lgma_sim::vocab;

/// Columns that must be present and non-empty.
pub const REQUIRED: [&str; 7] = [
    "PlanningAuthority",
    "ApplicationNumber",
    "DevelopmentDescription",
    "DevelopmentAddress",
    "ApplicationStatus",
    "ApplicationType",
    "ReceivedDate",
];

/// The 1-based line of a record starting at `byte`: counted from the bytes themselves, because
/// the csv reader's own line count lags by one on CRLF files (what most council exports are).
fn line_at(input: &[u8], byte: u64) -> u64 {
    let at = (byte as usize).min(input.len());
    let mut line = 1 + input[..at].iter().filter(|b| **b == b'\n').count() as u64;
    // With CRLF the record may "start" on the previous line's '\n' (or '\r\n').
    let rest = &input[at..];
    if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
        line += 1;
    }
    line
}

/// Maps an NPAD CSV to planning change events. `now_ms` becomes `published_at`.
pub fn map(
    input: &[u8],
    source_system: &str,
    now_ms: i64,
    rng: &mut impl rand::Rng,
) -> Result<Mapped, RowError> {
    let councils = LocalAuthorities::embedded().map_err(|e| RowError {
        line: 0,
        column: "-".into(),
        message: e.to_string(),
    })?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| RowError {
            line: 1,
            column: "header".into(),
            message: e.to_string(),
        })?
        .clone();
    let index: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_string(), i))
        .collect();
    for required in REQUIRED {
        if !index.contains_key(required) {
            return Err(RowError {
                line: 1,
                column: required.into(),
                message: "required column missing from header".into(),
            });
        }
    }
    let mut mapped = Mapped::default();
    for record in reader.records() {
        mapped.rows += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| line_at(input, p.byte())).unwrap_or(0);
                mapped.errors.push(RowError {
                    line,
                    column: "-".into(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = record
            .position()
            .map(|p| line_at(input, p.byte()))
            .unwrap_or(0);
        let mut row = Row {
            record: &record,
            index: &index,
            line,
            errors: Vec::new(),
        };
        let event = row.build_event(&councils, source_system, now_ms, rng);
        if row.errors.is_empty() {
            if let Some(event) = event {
                mapped.events.push((line, event));
            }
        } else {
            mapped.errors.append(&mut row.errors);
        }
    }
    Ok(mapped)
}

struct Row<'a> {
    record: &'a csv::StringRecord,
    index: &'a HashMap<String, usize>,
    line: u64,
    errors: Vec<RowError>,
}

impl Row<'_> {
    fn raw(&self, column: &str) -> Option<&str> {
        self.index
            .get(column)
            .and_then(|i| self.record.get(*i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn error(&mut self, column: &str, message: impl Into<String>) {
        self.errors.push(RowError {
            line: self.line,
            column: column.into(),
            message: message.into(),
        });
    }

    fn text(&mut self, column: &str) -> Option<String> {
        self.raw(column).map(String::from)
    }

    fn required(&mut self, column: &str) -> String {
        match self.raw(column) {
            Some(v) => v.to_string(),
            None => {
                self.error(column, "required value is empty");
                String::new()
            }
        }
    }

    fn parse<T: std::str::FromStr>(&mut self, column: &str, what: &str) -> Option<T> {
        let raw = self.raw(column)?.to_string();
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(column, format!("`{raw}` is not {what}"));
                None
            }
        }
    }

    fn millis(&mut self, column: &str) -> Option<Millis> {
        let v = self.parse::<i64>(column, "an epoch-milliseconds date")?;
        // 1950-01-01 .. 2100-01-01: anything else is seconds, days or garbage.
        if !(-631_152_000_000..=4_102_444_800_000).contains(&v) {
            self.error(
                column,
                format!("{v} is not a plausible epoch-milliseconds date"),
            );
            return None;
        }
        Some(v)
    }

    fn flag(&mut self, column: &str) -> bool {
        match self.raw(column).map(|s| s.to_ascii_lowercase()) {
            None => false,
            Some(s) if ["y", "yes", "true", "1"].contains(&s.as_str()) => true,
            Some(s) if ["n", "no", "false", "0"].contains(&s.as_str()) => false,
            Some(s) => {
                self.error(column, format!("`{s}` is not Y/N"));
                false
            }
        }
    }

    fn build_event(
        &mut self,
        councils: &LocalAuthorities,
        source_system: &str,
        now_ms: i64,
        rng: &mut impl rand::Rng,
    ) -> Option<ChangeEvent> {
        let authority = self.required("PlanningAuthority");
        let la_code = match councils.resolve(&authority) {
            Some(la) => la.la_code.clone(),
            None => {
                if !authority.is_empty() {
                    self.error(
                        "PlanningAuthority",
                        format!("`{authority}` is not a known local authority"),
                    );
                }
                String::new()
            }
        };
        let application_number = self.required("ApplicationNumber");
        let description = self.required("DevelopmentDescription");
        let address = self.required("DevelopmentAddress");
        let status_raw = self.required("ApplicationStatus");
        let status = vocab::parse_status(&status_raw);
        if status.is_none() && !status_raw.is_empty() {
            self.error(
                "ApplicationStatus",
                format!("unknown status `{status_raw}`"),
            );
        }
        let type_raw = self.required("ApplicationType");
        let app_type = vocab::parse_application_type(&type_raw);
        if app_type.is_none() && !type_raw.is_empty() {
            self.error(
                "ApplicationType",
                format!("unknown application type `{type_raw}`"),
            );
        }
        let decision_raw = self.text("Decision");
        let decision = decision_raw.as_deref().and_then(|d| {
            let parsed = vocab::parse_decision(d);
            if parsed.is_none() {
                self.error("Decision", format!("unknown decision `{d}`"));
            }
            parsed
        });
        let appeal_decision = self.text("AppealDecision").and_then(|d| {
            let parsed = parse_appeal_decision(&d);
            if parsed.is_none() {
                self.error("AppealDecision", format!("unknown appeal decision `{d}`"));
            }
            parsed
        });
        let received = self.millis("ReceivedDate");
        if self.raw("ReceivedDate").is_none() {
            self.error("ReceivedDate", "required value is empty");
        }
        let app = PlanningApplication {
            application_number: application_number.clone(),
            planning_authority: authority,
            development_description: description,
            development_address: address,
            development_eircode: self
                .text("DevelopmentPostcode")
                .map(|e| lgma_domain::compact_upper(&e)),
            application_type: app_type.unwrap_or(ApplicationType::PERMISSION),
            application_type_raw: Some(type_raw),
            status: status.unwrap_or(ApplicationStatus::RECEIVED),
            status_raw: Some(status_raw),
            decision,
            decision_raw,
            applicant_forename: self.text("ApplicantForename"),
            applicant_surname: self.text("ApplicantSurname"),
            applicant_address: self.text("ApplicantAddress"),
            land_use_code: self.text("LandUseCode"),
            area_of_site_ha: self.parse("AreaofSite", "a number"),
            num_residential_units: self.parse("NumResidentialUnits", "a whole number"),
            one_off_house: self.flag("OneOffHouse"),
            floor_area_m2: self.parse("FloorArea", "a number"),
            itm_x: self.parse("ITMEasting", "a number"),
            itm_y: self.parse("ITMNorthing", "a number"),
            received_date: received.unwrap_or_default(),
            validated_date: self.millis("ValidatedDate"),
            fi_request_date: self.millis("FIRequestDate"),
            fi_received_date: self.millis("FIRecDate"),
            decision_due_date: self.millis("DecisionDueDate"),
            decision_date: self.millis("DecisionDate"),
            withdrawn_date: self.millis("WithdrawnDate"),
            grant_date: self.millis("GrantDate"),
            expiry_date: self.millis("ExpiryDate"),
            appeal_ref_number: self.text("AppealRefNumber"),
            appeal_status: self.text("AppealStatus"),
            appeal_decision,
            appeal_submitted_date: self.millis("AppealSubmittedDate"),
            appeal_decision_date: self.millis("AppealDecisionDate"),
        };
        let entity = Entity::PlanningApplication(app.clone());
        for (field, message) in check::entity_problems(&entity) {
            self.error(npad_column(field), message);
        }
        if !self.errors.is_empty() {
            return None;
        }
        let version = [
            Some(app.received_date),
            app.validated_date,
            app.fi_request_date,
            app.fi_received_date,
            app.decision_date,
            app.withdrawn_date,
            app.grant_date,
            app.appeal_submitted_date,
            app.appeal_decision_date,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(app.received_date);
        let meta = Meta {
            event_id: people::uuid(rng),
            operation: if app.status == ApplicationStatus::RECEIVED {
                Operation::CREATE
            } else {
                Operation::UPDATE
            },
            entity_id: application_number,
            entity_version: version,
            la_code,
            source_system: source_system.to_string(),
            occurred_at: version,
            published_at: now_ms.max(version),
        };
        Some(ChangeEvent::new(meta, entity))
    }
}

/// The NPAD column that holds a schema field (for error messages).
fn npad_column(field: &str) -> &str {
    match field {
        "development_eircode" => "DevelopmentPostcode",
        "validated_date" => "ValidatedDate",
        "fi_request_date" => "FIRequestDate",
        "fi_received_date" => "FIRecDate",
        "decision_date" => "DecisionDate",
        "withdrawn_date" => "WithdrawnDate",
        "grant_date" => "GrantDate",
        other => other,
    }
}

fn parse_appeal_decision(raw: &str) -> Option<AppealDecision> {
    let key: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match key.as_str() {
        "grant" | "granted" | "grantpermission" => Some(AppealDecision::GRANTED),
        "grantwithconditions" | "grantedwithconditions" | "conditional" => {
            Some(AppealDecision::GRANTED_WITH_CONDITIONS)
        }
        "refuse" | "refused" | "refusepermission" => Some(AppealDecision::REFUSED),
        "split" | "splitdecision" => Some(AppealDecision::SPLIT),
        "withdrawn" => Some(AppealDecision::WITHDRAWN),
        "dismissed" | "dismiss" => Some(AppealDecision::DISMISSED),
        "invalid" => Some(AppealDecision::INVALID),
        _ => None,
    }
}
