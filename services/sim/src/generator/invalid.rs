//! Deliberately broken events, one rule broken per event, each on a fresh entity so the valid
//! stream's lifecycles and versions stay intact.

use rand::Rng;

use super::{day_of, people, EventKind, GeneratedEvent, Generator, InvalidKind, DAY_MS};
use crate::model::*;

/// Council codes that look plausible but are not in the reference list.
const UNKNOWN_CODES: [&str; 4] = ["ZZ", "XX", "DUB", "CO"];

impl Generator {
    pub(super) fn invalid_event(&mut self) -> GeneratedEvent {
        let kind = InvalidKind::ALL[self.rng.gen_range(0..InvalidKind::ALL.len())];
        let council = self.councils.by_population.draw(&mut self.rng);
        let code = self.councils.list[council].code.clone();
        let n = self.next_id("invalid", council);
        let today = day_of(self.now);
        let entity = match kind {
            InvalidKind::BadEircode => {
                let mut unit = self.sample_unit(council, n);
                unit.eircode = Some(people::bad_eircode(&mut self.rng));
                Entity::DwellingUnit(unit)
            }
            InvalidKind::BadPpsn => {
                let mut p = self.sample_presentation(council, n);
                p.ppsn = Some(people::bad_ppsn(&mut self.rng));
                Entity::Presentation(p)
            }
            InvalidKind::DecisionBeforeReceipt => {
                let mut app = self.sample_planning(council, n);
                app.decision_date = Some(app.received_date - self.rng.gen_range(1..30) * DAY_MS);
                app.status = ApplicationStatus::DECIDED;
                app.status_raw = Some("Decided".into());
                app.decision = Some(Decision::GRANTED_WITH_CONDITIONS);
                app.decision_raw = Some("Granted (Conditions)".into());
                Entity::PlanningApplication(app)
            }
            InvalidKind::OutOfRange => match self.rng.gen_range(0..3) {
                0 => {
                    let mut unit = self.sample_unit(council, n);
                    unit.bedrooms = self.rng.gen_range(40..100);
                    Entity::DwellingUnit(unit)
                }
                1 => {
                    let mut p = self.sample_presentation(council, n);
                    p.adults = if self.rng.gen_bool(0.5) {
                        0
                    } else {
                        self.rng.gen_range(25..60)
                    };
                    Entity::Presentation(p)
                }
                _ => {
                    let mut p = self.sample_presentation(council, n);
                    let exit = Exit {
                        exit_id: format!("{code}-INV-EXT-{n:06}"),
                        placement_id: Some(format!("{code}-INV-PLC-{n:06}")),
                        client_id: p.client_id.clone(),
                        household_id: std::mem::take(&mut p.household_id),
                        exit_date: today,
                        route: ExitRoute::HAP,
                        days_in_ea: -self.rng.gen_range(1..400),
                        is_prevention: false,
                        adults: p.adults,
                        dependants: p.dependants,
                        new_address: None,
                        notes: None,
                    };
                    Entity::Exit(exit)
                }
            },
            InvalidKind::UnknownCouncil | InvalidKind::NotFramed | InvalidKind::TruncatedAvro => {
                if self.rng.gen_bool(0.5) {
                    Entity::Presentation(self.sample_presentation(council, n))
                } else {
                    Entity::PlanningApplication(self.sample_planning(council, n))
                }
            }
        };
        let topic = entity.topic();
        let id = entity.id().to_string();
        let mut meta = self.meta(topic, council, &id, 1, Operation::CREATE, self.now);
        if kind == InvalidKind::UnknownCouncil {
            meta.la_code = UNKNOWN_CODES[self.rng.gen_range(0..UNKNOWN_CODES.len())].to_string();
        }
        GeneratedEvent {
            topic,
            key: id,
            event: ChangeEvent::new(meta, entity),
            kind: EventKind::Invalid(kind),
        }
    }

    fn sample_unit(&mut self, council: usize, n: u64) -> DwellingUnit {
        let mut unit = self.base_unit(council, 0, false, None);
        unit.unit_id = format!("{}-INV-U{n:06}", self.councils.list[council].code);
        unit
    }

    fn sample_presentation(&mut self, council: usize, n: u64) -> Presentation {
        let code = self.councils.list[council].code.clone();
        let ppsn = people::ppsn(&mut self.rng);
        Presentation {
            presentation_id: format!("{code}-INV-PRS-{n:06}"),
            client_id: format!("{code}-INV-C{n:06}"),
            household_id: format!("{code}-INV-H{n:06}"),
            ppsn: Some(ppsn),
            forename: Some(people::forename(&mut self.rng)),
            surname: Some(people::surname(&mut self.rng)),
            date_of_birth: Some(day_of(self.now) - 30 * 365 - 100),
            presented_at: self.now,
            presentation_type: PresentationType::NEW,
            household_type: HouseholdType::SINGLE,
            adults: 1,
            dependants: 0,
            gender: Gender::MALE,
            age_band: AgeBand::AGE_25_44,
            citizenship: Citizenship::IRISH,
            reason: PresentationReason::NOTICE_OF_TERMINATION,
            outcome: PresentationOutcome::REFERRED,
            last_address: None,
            health_notes: None,
            caseworker_notes: None,
        }
    }

    fn sample_planning(&mut self, council: usize, n: u64) -> PlanningApplication {
        let c = self.councils.list[council].clone();
        PlanningApplication {
            application_number: format!("{}-INV-{n:06}", c.code),
            planning_authority: c.name,
            development_description: "Single-storey extension to the rear of existing dwelling"
                .into(),
            development_address: people::address(&mut self.rng, "Town"),
            development_eircode: None,
            application_type: ApplicationType::PERMISSION,
            application_type_raw: Some("Permission".into()),
            status: ApplicationStatus::RECEIVED,
            status_raw: Some("Received".into()),
            decision: None,
            decision_raw: None,
            applicant_forename: Some(people::forename(&mut self.rng)),
            applicant_surname: Some(people::surname(&mut self.rng)),
            applicant_address: None,
            land_use_code: None,
            area_of_site_ha: Some(0.1),
            num_residential_units: None,
            one_off_house: false,
            floor_area_m2: Some(30.0),
            itm_x: None,
            itm_y: None,
            received_date: self.now,
            validated_date: None,
            fi_request_date: None,
            fi_received_date: None,
            decision_due_date: None,
            decision_date: None,
            withdrawn_date: None,
            grant_date: None,
            expiry_date: None,
            appeal_ref_number: None,
            appeal_status: None,
            appeal_decision: None,
            appeal_submitted_date: None,
            appeal_decision_date: None,
        }
    }
}
