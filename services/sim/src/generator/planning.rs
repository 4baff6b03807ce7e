//! Planning applications through their statutory lifecycle (domain.md §4).
//!
//! Received → validated (or invalid) → optional further information (reply within 6 months,
//! decision 4 weeks after) → decision within 8 weeks → optional appeal within 4 weeks → final
//! grant after the appeal window; a few are withdrawn. Each step is a new full-state version.

use chrono::{DateTime, Datelike, NaiveDate};
use rand::Rng;

use super::{people, pick, Generator, Step, DAY_MS};
use crate::model::*;
use crate::vocab::PlanningSystem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Validate,
    RequestFi,
    ReceiveFi,
    Decide,
    LodgeAppeal,
    DecideAppeal,
    Grant,
    Withdraw,
}

#[derive(Debug, Clone)]
pub(super) struct Case {
    council: usize,
    version: i64,
    app: PlanningApplication,
    next: Next,
}

const DEVELOPMENTS: &[&str] = &[
    "Construction of a detached two-storey dwelling, wastewater treatment system and entrance",
    "Single-storey extension to the rear of existing dwelling",
    "Retention of garden shed and boundary wall",
    "Change of use from retail to residential at ground floor",
    "Demolition of existing garage and construction of two semi-detached houses",
    "Construction of agricultural slatted shed",
    "Attic conversion with dormer window to rear",
    "Residential development of apartments in blocks of up to six storeys",
];

/// Share of decisions made after the statutory period (8 weeks, or 4 weeks after further
/// information): NOAC reports most councils deciding 80-95% in time, some much less.
const P_LATE: f64 = 0.10;
/// After further information the period is only 4 weeks, and more decisions run over it.
const P_LATE_AFTER_FI: f64 = 0.20;
/// Mean days past the due date of a late decision.
const MEAN_DAYS_LATE: f64 = 21.0;

/// When a decision is made: on a day up to the due date (statutory period), or with
/// probability `p_late` after it, an exponential tail of days past it.
fn decision_time(rng: &mut impl Rng, earliest: i64, due: i64, p_late: f64) -> i64 {
    // `due` is the due date's midnight: a decision any time that day is in time.
    let last_in_time = (due + DAY_MS - 1).max(earliest + DAY_MS);
    if rng.gen_bool(p_late) {
        let late_days = 1.0 + super::exponential(rng, MEAN_DAYS_LATE);
        last_in_time + 1 + (late_days * DAY_MS as f64) as i64
    } else {
        rng.gen_range(earliest.min(last_in_time - DAY_MS)..last_in_time)
    }
}

fn date_ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or_default()
}

fn naive(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

impl Generator {
    pub(super) fn planning_arrival(&mut self) {
        let council = self.councils.by_population.draw(&mut self.rng);
        let n = self.next_id("planning", council);
        let c = self.councils.list[council].clone();
        let system = c.planning_system;
        let yy = naive(self.now).year() % 100;
        let dublin = self.councils.is_dublin(council);
        let town = self.town(council);
        let received = self.now;
        let due = date_ms(self.calendar.decision_due(naive(received)));
        let rng = &mut self.rng;
        let app_type = pick(
            rng,
            &[
                (ApplicationType::PERMISSION, 0.795),
                (ApplicationType::RETENTION, 0.12),
                (ApplicationType::OUTLINE, 0.02),
                (ApplicationType::PERMISSION_CONSEQUENT_ON_OUTLINE, 0.01),
                (ApplicationType::EXTENSION_OF_DURATION, 0.05),
                (ApplicationType::LRD, 0.005),
            ],
        );
        let application_number = match (app_type, c.code.as_str()) {
            (ApplicationType::LRD, "DC") => format!("LRD6{n:03}/{yy:02}-S3"),
            (ApplicationType::LRD, code) => format!("LRD{code}{n:03}/{yy:02}-S3"),
            (_, "DC") => format!("{n:04}/{yy:02}"),
            (_, code) => format!("{code}{yy:02}A/{n:04}"),
        };
        let one_off = app_type != ApplicationType::LRD && rng.gen_bool(0.25);
        let units = match app_type {
            ApplicationType::LRD => Some(rng.gen_range(100..450)),
            _ if one_off => Some(1),
            _ if rng.gen_bool(0.2) => Some(rng.gen_range(2..40)),
            _ => None,
        };
        let description = if app_type == ApplicationType::LRD {
            DEVELOPMENTS[DEVELOPMENTS.len() - 1]
        } else if one_off {
            DEVELOPMENTS[0]
        } else {
            DEVELOPMENTS[rng.gen_range(1..DEVELOPMENTS.len() - 1)]
        };
        let company = app_type == ApplicationType::LRD || units.unwrap_or(0) > 10;
        let app = PlanningApplication {
            application_number,
            planning_authority: c.name.clone(),
            development_description: description.to_string(),
            development_address: people::address(rng, &town),
            development_eircode: rng.gen_bool(0.6).then(|| people::eircode(rng, dublin)),
            application_type: app_type,
            application_type_raw: Some(system.application_type(app_type).to_string()),
            status: ApplicationStatus::RECEIVED,
            status_raw: Some(system.status(ApplicationStatus::RECEIVED).to_string()),
            decision: None,
            decision_raw: None,
            applicant_forename: (!company).then(|| people::forename(rng)),
            applicant_surname: Some(if company {
                format!("{} Developments Ltd", people::surname(rng))
            } else {
                people::surname(rng)
            }),
            applicant_address: Some(people::address(rng, &town)),
            land_use_code: Some(if units.is_some() {
                "RES".to_string()
            } else {
                "OTH".to_string()
            }),
            area_of_site_ha: Some((rng.gen_range(0.02..2.0_f64) * 1000.0).round() / 1000.0),
            num_residential_units: units,
            one_off_house: one_off,
            floor_area_m2: Some(
                rng.gen_range(15.0..400.0_f64).round()
                    * if app_type == ApplicationType::LRD {
                        60.0
                    } else {
                        1.0
                    },
            ),
            itm_x: Some((rng.gen_range(450_000.0..750_000.0_f64) * 10.0).round() / 10.0),
            itm_y: Some((rng.gen_range(560_000.0..950_000.0_f64) * 10.0).round() / 10.0),
            received_date: received,
            validated_date: None,
            fi_request_date: None,
            fi_received_date: None,
            decision_due_date: Some(due),
            decision_date: None,
            withdrawn_date: None,
            grant_date: None,
            expiry_date: None,
            appeal_ref_number: None,
            appeal_status: None,
            appeal_decision: None,
            appeal_submitted_date: None,
            appeal_decision_date: None,
        };
        self.emit(council, Entity::PlanningApplication(app.clone()), 1);
        let at = self.now + self.rng.gen_range(DAY_MS..5 * DAY_MS);
        self.schedule_step(
            at,
            Step::Planning(Box::new(Case {
                council,
                version: 1,
                app,
                next: Next::Validate,
            })),
        );
    }

    pub(super) fn planning_step(&mut self, mut case: Case) {
        let system = self.councils.list[case.council].planning_system;
        let now = self.now;
        let app = &mut case.app;
        let mut then: Option<(i64, Next)> = None;
        let rng = &mut self.rng;
        match case.next {
            Next::Validate => {
                app.validated_date = Some(now);
                if rng.gen_bool(0.07) {
                    set_status(app, system, ApplicationStatus::INVALID);
                    set_decision(app, system, Some(Decision::INVALID));
                } else {
                    set_status(app, system, ApplicationStatus::VALIDATED);
                    let due = app.decision_due_date.unwrap_or(now + 56 * DAY_MS);
                    then = Some(if rng.gen_bool(0.03) {
                        (now + rng.gen_range(10..40) * DAY_MS, Next::Withdraw)
                    } else if rng.gen_bool(0.25) {
                        (
                            rng.gen_range(now + DAY_MS..due.max(now + 2 * DAY_MS)),
                            Next::RequestFi,
                        )
                    } else {
                        (
                            decision_time(rng, now + 20 * DAY_MS, due, P_LATE),
                            Next::Decide,
                        )
                    });
                }
            }
            Next::RequestFi => {
                app.fi_request_date = Some(now);
                set_status(
                    app,
                    system,
                    ApplicationStatus::FURTHER_INFORMATION_REQUESTED,
                );
                set_decision(app, system, Some(Decision::FURTHER_INFORMATION_REQUESTED));
                // No reply within 6 months: the application is deemed withdrawn.
                then = Some(if rng.gen_bool(0.88) {
                    (now + rng.gen_range(20..170) * DAY_MS, Next::ReceiveFi)
                } else {
                    (now + 184 * DAY_MS, Next::Withdraw)
                });
            }
            Next::ReceiveFi => {
                app.fi_received_date = Some(now);
                let due = date_ms(self.calendar.decision_due_after_fi(naive(now)));
                app.decision_due_date = Some(due);
                set_status(app, system, ApplicationStatus::FURTHER_INFORMATION_RECEIVED);
                set_decision(app, system, None);
                then = Some((
                    decision_time(rng, now + 7 * DAY_MS, due, P_LATE_AFTER_FI),
                    Next::Decide,
                ));
            }
            Next::Decide => {
                let decision = pick(
                    rng,
                    &[
                        (Decision::GRANTED_WITH_CONDITIONS, 0.82),
                        (Decision::GRANTED, 0.03),
                        (Decision::REFUSED, 0.12),
                        (Decision::SPLIT, 0.03),
                    ],
                );
                app.decision_date = Some(now);
                set_status(app, system, ApplicationStatus::DECIDED);
                set_decision(app, system, Some(decision));
                // About 9% of decisions are appealed (refusals more often), in line with the appeal
                // body's ~2,500-3,000 appeals a year against ~30,000 decisions.
                let appeal_rate = if decision == Decision::REFUSED {
                    0.25
                } else {
                    0.07
                };
                if rng.gen_bool(appeal_rate) {
                    then = Some((now + rng.gen_range(5..27) * DAY_MS, Next::LodgeAppeal));
                } else if decision != Decision::REFUSED {
                    then = Some((now + rng.gen_range(29..36) * DAY_MS, Next::Grant));
                }
            }
            Next::LodgeAppeal => {
                let year = naive(now).year() % 100;
                app.appeal_ref_number =
                    Some(format!("ABP-{}-{year:02}", rng.gen_range(300_000..330_000)));
                app.appeal_status = Some("Appeal Lodged".into());
                app.appeal_submitted_date = Some(now);
                set_status(app, system, ApplicationStatus::APPEAL_LODGED);
                then = Some((now + rng.gen_range(120..220) * DAY_MS, Next::DecideAppeal));
            }
            Next::DecideAppeal => {
                // NOAC P2 (domain.md §7, band 50-90 %): the appeal body confirms most decisions,
                // with or without variation (~72 % of those it determines); 10 % of appeals are
                // withdrawn or dismissed without a determination.
                let outcome = if app.decision == Some(Decision::REFUSED) {
                    pick(
                        rng,
                        &[
                            (AppealDecision::REFUSED, 0.65),
                            (AppealDecision::GRANTED_WITH_CONDITIONS, 0.22),
                            (AppealDecision::GRANTED, 0.03),
                            (AppealDecision::WITHDRAWN, 0.05),
                            (AppealDecision::DISMISSED, 0.05),
                        ],
                    )
                } else if app.decision == Some(Decision::SPLIT) {
                    pick(
                        rng,
                        &[
                            (AppealDecision::SPLIT, 0.60),
                            (AppealDecision::GRANTED_WITH_CONDITIONS, 0.15),
                            (AppealDecision::REFUSED, 0.15),
                            (AppealDecision::WITHDRAWN, 0.05),
                            (AppealDecision::DISMISSED, 0.05),
                        ],
                    )
                } else {
                    pick(
                        rng,
                        &[
                            (AppealDecision::GRANTED_WITH_CONDITIONS, 0.60),
                            (AppealDecision::GRANTED, 0.05),
                            (AppealDecision::REFUSED, 0.25),
                            (AppealDecision::WITHDRAWN, 0.05),
                            (AppealDecision::DISMISSED, 0.05),
                        ],
                    )
                };
                app.appeal_decision = Some(outcome);
                app.appeal_status = Some("Appeal Decided".into());
                app.appeal_decision_date = Some(now);
                set_status(app, system, ApplicationStatus::APPEAL_DECIDED);
                let granted = matches!(
                    outcome,
                    AppealDecision::GRANTED | AppealDecision::GRANTED_WITH_CONDITIONS
                ) || (matches!(
                    outcome,
                    AppealDecision::WITHDRAWN | AppealDecision::DISMISSED
                ) && app.decision != Some(Decision::REFUSED));
                if granted {
                    then = Some((now + rng.gen_range(3..15) * DAY_MS, Next::Grant));
                }
            }
            Next::Grant => {
                app.grant_date = Some(now);
                let expiry = naive(now)
                    .checked_add_months(chrono::Months::new(60))
                    .map(date_ms);
                app.expiry_date = expiry;
                set_status(app, system, ApplicationStatus::GRANTED);
            }
            Next::Withdraw => {
                app.withdrawn_date = Some(now);
                set_status(app, system, ApplicationStatus::WITHDRAWN);
                set_decision(app, system, Some(Decision::WITHDRAWN));
            }
        }
        case.version += 1;
        self.emit(
            case.council,
            Entity::PlanningApplication(case.app.clone()),
            case.version,
        );
        if let Some((at, next)) = then {
            case.next = next;
            self.schedule_step(at, Step::Planning(Box::new(case)));
        }
    }
}

fn set_status(app: &mut PlanningApplication, system: PlanningSystem, status: ApplicationStatus) {
    app.status = status;
    app.status_raw = Some(system.status(status).to_string());
}

fn set_decision(app: &mut PlanningApplication, system: PlanningSystem, decision: Option<Decision>) {
    app.decision = decision;
    app.decision_raw = decision.map(|d| system.decision(d).to_string());
}
