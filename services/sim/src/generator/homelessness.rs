//! Presentations, placements in emergency accommodation (EA) and exits.
//!
//! Calibration (domain.md §2): ~14,000 people in EA (May 2024), Dublin ~70%; adults 66% male, ages
//! 13/57/28/2%; PEA and STA about equal, TEA small. The presentation rate is derived so that the
//! steady-state stock (placements/day × people × mean stay) equals the configured EA population.

use rand::Rng;

use super::{day_of, exponential, people, pick, Generator, Step, DAY_MS};
use crate::model::*;

const HOUSEHOLDS: [(HouseholdType, f64); 4] = [
    (HouseholdType::SINGLE, 0.58),
    (HouseholdType::COUPLE, 0.06),
    (HouseholdType::FAMILY, 0.14),
    (HouseholdType::SINGLE_PARENT, 0.22),
];
const MAX_DEPENDANTS: i32 = 4;
const P_PLACED: f64 = 0.55;
const OUTCOMES: [(PresentationOutcome, f64); 4] = [
    (PresentationOutcome::PLACED_EA, P_PLACED),
    (PresentationOutcome::PREVENTED, 0.30),
    (PresentationOutcome::REFERRED, 0.10),
    (PresentationOutcome::NOT_ELIGIBLE, 0.05),
];
/// How strongly placements respond to the gap between people in EA and the target (see
/// `presentation_outcome`): 3 = a 10 % shortfall places 30 % more presentations.
const CAPACITY_RESPONSE: f64 = 3.0;
const AGE_BANDS: [(AgeBand, f64); 4] = [
    (AgeBand::AGE_18_24, 0.13),
    (AgeBand::AGE_25_44, 0.57),
    (AgeBand::AGE_45_64, 0.28),
    (AgeBand::AGE_65_PLUS, 0.02),
];
const CITIZENSHIP: [(Citizenship, f64); 4] = [
    (Citizenship::IRISH, 0.55),
    (Citizenship::EEA_UK, 0.15),
    (Citizenship::NON_EEA, 0.28),
    (Citizenship::NOT_STATED, 0.02),
];
const REASONS: [(PresentationReason, f64); 8] = [
    (PresentationReason::NOTICE_OF_TERMINATION, 0.30),
    (PresentationReason::FAMILY_CIRCUMSTANCES, 0.22),
    (PresentationReason::RELATIONSHIP_BREAKDOWN, 0.15),
    (PresentationReason::LEAVING_INSTITUTION, 0.08),
    (PresentationReason::OVERCROWDING, 0.07),
    (PresentationReason::RENT_ARREARS, 0.05),
    (PresentationReason::OTHER, 0.10),
    (PresentationReason::NOT_STATED, 0.03),
];
const EXIT_ROUTES: [(ExitRoute, f64); 10] = [
    (ExitRoute::LA_TENANCY, 0.20),
    (ExitRoute::AHB_TENANCY, 0.14),
    (ExitRoute::HAP, 0.08),
    (ExitRoute::HOMELESS_HAP, 0.26),
    (ExitRoute::RAS, 0.03),
    (ExitRoute::PRIVATE_RENTED, 0.08),
    (ExitRoute::HOUSING_FIRST, 0.05),
    (ExitRoute::FAMILY_FRIENDS, 0.09),
    (ExitRoute::OTHER_REGION, 0.03),
    (ExitRoute::UNKNOWN, 0.04),
];
const PREVENTION_ROUTES: [(ExitRoute, f64); 4] = [
    (ExitRoute::HOMELESS_HAP, 0.45),
    (ExitRoute::PRIVATE_RENTED, 0.25),
    (ExitRoute::LA_TENANCY, 0.15),
    (ExitRoute::FAMILY_FRIENDS, 0.15),
];

fn is_family(t: HouseholdType) -> bool {
    matches!(t, HouseholdType::FAMILY | HouseholdType::SINGLE_PARENT)
}

/// Accommodation type mix: families mostly in private emergency (hotels, hubs), singles in hostels.
fn accommodation_mix(t: HouseholdType) -> [(AccommodationType, f64); 3] {
    if is_family(t) {
        [
            (AccommodationType::PEA, 0.70),
            (AccommodationType::STA, 0.30),
            (AccommodationType::TEA, 0.0),
        ]
    } else {
        [
            (AccommodationType::PEA, 0.40),
            (AccommodationType::STA, 0.55),
            (AccommodationType::TEA, 0.05),
        ]
    }
}

/// Mean length of stay in days per accommodation type.
fn mean_stay(t: AccommodationType) -> f64 {
    match t {
        AccommodationType::PEA => 320.0,
        AccommodationType::STA => 220.0,
        AccommodationType::TEA => 90.0,
        AccommodationType::OTHER => 150.0,
    }
}

fn mean_size(t: HouseholdType) -> f64 {
    let dependants = f64::from(1 + MAX_DEPENDANTS) / 2.0;
    match t {
        HouseholdType::SINGLE => 1.0,
        HouseholdType::COUPLE => 2.0,
        HouseholdType::FAMILY => 2.0 + dependants,
        HouseholdType::SINGLE_PARENT => 1.0 + dependants,
    }
}

/// Expected person-days in EA per placement, from the tables above.
pub(super) fn people_days_per_placement() -> f64 {
    HOUSEHOLDS
        .iter()
        .map(|(t, w)| {
            let stay: f64 = accommodation_mix(*t)
                .iter()
                .map(|(a, p)| p * mean_stay(*a))
                .sum();
            w * mean_size(*t) * stay
        })
        .sum()
}

/// Inflow relative to the steady state that keeps the EA population growing at `r` a day: a
/// stock fed by an inflow growing at `r` holds, per placement, sum(p x T / (1 + r T)) person-days
/// over the stay kinds (T their mean stays) instead of sum(p x T).
pub(super) fn growth_inflow_factor(r: f64) -> f64 {
    let discounted: f64 = HOUSEHOLDS
        .iter()
        .map(|(t, w)| {
            let stay: f64 = accommodation_mix(*t)
                .iter()
                .map(|(a, p)| p * mean_stay(*a) / (1.0 + r * mean_stay(*a)))
                .sum();
            w * mean_size(*t) * stay
        })
        .sum();
    people_days_per_placement() / discounted
}

/// Presentations per day nationally so the EA stock settles at `ea_people`.
pub(super) fn presentations_per_day(ea_people: f64) -> f64 {
    ea_people / people_days_per_placement() / P_PLACED
}

/// A household as PASS knows it; carried from presentation to placement to exit.
#[derive(Debug, Clone)]
pub(super) struct Household {
    pub council: usize,
    pub client_id: String,
    pub household_id: String,
    pub household_type: HouseholdType,
    pub adults: i32,
    pub dependants: i32,
    pub gender: Gender,
    pub age_band: AgeBand,
    pub citizenship: Citizenship,
    pub ppsn: Option<String>,
    pub forename: String,
    pub surname: String,
    pub date_of_birth: Date,
}

impl Generator {
    fn household(&mut self, council: usize) -> Household {
        let rng = &mut self.rng;
        let household_type = pick(rng, &HOUSEHOLDS);
        let (adults, dependants) = match household_type {
            HouseholdType::SINGLE => (1, 0),
            HouseholdType::COUPLE => (2, 0),
            HouseholdType::FAMILY => (2, rng.gen_range(1..=MAX_DEPENDANTS)),
            HouseholdType::SINGLE_PARENT => (1, rng.gen_range(1..=MAX_DEPENDANTS)),
        };
        let p_male = match household_type {
            HouseholdType::SINGLE => 0.78,
            HouseholdType::SINGLE_PARENT => 0.12,
            _ => 0.55,
        };
        let gender = if rng.gen_bool(0.01) {
            Gender::NOT_STATED
        } else if rng.gen_bool(p_male) {
            Gender::MALE
        } else {
            Gender::FEMALE
        };
        let age_band = pick(rng, &AGE_BANDS);
        let age = match age_band {
            AgeBand::AGE_18_24 => rng.gen_range(18..=24),
            AgeBand::AGE_25_44 => rng.gen_range(25..=44),
            AgeBand::AGE_45_64 => rng.gen_range(45..=64),
            AgeBand::AGE_65_PLUS => rng.gen_range(65..=85),
        };
        // Born `age` full years (plus up to a year) before today: the band holds on the presentation date.
        let date_of_birth = day_of(self.now) - age * 365 - age / 4 - rng.gen_range(1..360);
        let ppsn = rng.gen_bool(0.9).then(|| people::ppsn(rng));
        let n = self.next_id("client", council);
        let code = self.councils.list[council].code.clone();
        Household {
            council,
            client_id: format!("{code}-C{n:07}"),
            household_id: format!("{code}-H{n:07}"),
            household_type,
            adults,
            dependants,
            gender,
            age_band,
            citizenship: pick(&mut self.rng, &CITIZENSHIP),
            ppsn,
            forename: people::forename(&mut self.rng),
            surname: people::surname(&mut self.rng),
            date_of_birth,
        }
    }

    /// The outcome of a presentation. Placements depend on capacity, as in PASS's bed-capacity
    /// reports: when EA holds more people than its growth path (beds are full) fewer presentations
    /// are placed and more referred; when it holds fewer, more are placed. This keeps the count
    /// near `ea_people` (times growth and scale) instead of drifting like an uncontrolled queue.
    fn presentation_outcome(&mut self) -> PresentationOutcome {
        let target = self.config.ea_people as f64
            * self.councils.homelessness_fraction()
            * self.config.scale
            * self.ea_level();
        let gap = (target - self.ea_people_now) / target.max(1.0);
        let p_placed = (P_PLACED * (1.0 + CAPACITY_RESPONSE * gap)).clamp(0.2, 0.9);
        if self.rng.gen_bool(p_placed) {
            return PresentationOutcome::PLACED_EA;
        }
        let rest: Vec<(PresentationOutcome, f64)> = OUTCOMES[1..].to_vec();
        pick(&mut self.rng, &rest)
    }

    pub(super) fn presentation_arrival(&mut self) {
        let council = self.councils.by_homelessness.draw(&mut self.rng);
        let household = self.household(council);
        let n = self.next_id("presentation", council);
        let code = self.councils.list[council].code.clone();
        let town = self.town(council);
        let outcome = self.presentation_outcome();
        let rng = &mut self.rng;
        let presentation = Presentation {
            presentation_id: format!("{code}-PRS-{n:07}"),
            client_id: household.client_id.clone(),
            household_id: household.household_id.clone(),
            ppsn: household.ppsn.clone(),
            forename: Some(household.forename.clone()),
            surname: Some(household.surname.clone()),
            date_of_birth: Some(household.date_of_birth),
            presented_at: self.now,
            presentation_type: if rng.gen_bool(0.35) {
                PresentationType::REPEAT
            } else {
                PresentationType::NEW
            },
            household_type: household.household_type,
            adults: household.adults,
            dependants: household.dependants,
            gender: household.gender,
            age_band: household.age_band,
            citizenship: household.citizenship,
            reason: pick(rng, &REASONS),
            outcome,
            last_address: rng.gen_bool(0.8).then(|| people::address(rng, &town)),
            health_notes: rng
                .gen_bool(0.15)
                .then(|| "Reports ongoing health difficulties; GP letter on file".to_string()),
            caseworker_notes: rng
                .gen_bool(0.3)
                .then(|| "Notice of termination served; seeking HAP property".to_string()),
        };
        let id = presentation.presentation_id.clone();
        if self.rng.gen_bool(0.05) {
            // A correction a few days later (full new state, version 2).
            let mut corrected = presentation.clone();
            corrected.caseworker_notes = Some("Details corrected after follow-up interview".into());
            let at = self.now + self.rng.gen_range(1..10) * DAY_MS;
            self.schedule_step(
                at,
                Step::Emit {
                    council,
                    entity: Entity::Presentation(corrected),
                    version: 2,
                    operation: Operation::UPDATE,
                },
            );
        }
        self.emit(council, Entity::Presentation(presentation), 1);
        match outcome {
            PresentationOutcome::PLACED_EA => {
                let at = self.now + self.rng.gen_range(0..DAY_MS);
                self.schedule_step(at, Step::Placement(household, id));
            }
            PresentationOutcome::PREVENTED => {
                let at = self.now + self.rng.gen_range(3..30) * DAY_MS;
                self.schedule_step(at, Step::Exit(household, None, 0));
            }
            _ => {}
        }
    }

    /// Places a household; `start_ms` may lie in the past for the initial snapshot.
    pub(super) fn start_placement(
        &mut self,
        household: Household,
        presentation_id: Option<String>,
        start_ms: i64,
    ) {
        let council = household.council;
        let n = self.next_id("placement", council);
        let code = self.councils.list[council].code.clone();
        let rng = &mut self.rng;
        let accommodation_type = pick(rng, &accommodation_mix(household.household_type));
        let family = is_family(household.household_type);
        let (subtype, booking, cost) = match accommodation_type {
            AccommodationType::PEA => (
                if family && rng.gen_bool(0.3) {
                    AccommodationSubtype::FAMILY_HUB
                } else if rng.gen_bool(0.6) {
                    AccommodationSubtype::HOTEL
                } else {
                    AccommodationSubtype::B_AND_B
                },
                pick(
                    rng,
                    &[
                        (BookingMode::NIGHTLY, 0.5),
                        (BookingMode::ROLLING_WEEKLY, 0.4),
                        (BookingMode::FIXED_TERM, 0.1),
                    ],
                ),
                rng.gen_range(80.0..180.0),
            ),
            AccommodationType::STA => (
                if family {
                    AccommodationSubtype::FAMILY_HUB
                } else if rng.gen_bool(0.8) {
                    AccommodationSubtype::HOSTEL
                } else {
                    AccommodationSubtype::SUPPORTED_HOUSING
                },
                pick(
                    rng,
                    &[
                        (BookingMode::FIXED_TERM, 0.6),
                        (BookingMode::ROLLING_WEEKLY, 0.4),
                    ],
                ),
                rng.gen_range(40.0..90.0),
            ),
            _ => (
                AccommodationSubtype::HOSTEL,
                pick(
                    rng,
                    &[
                        (BookingMode::NIGHTLY, 0.7),
                        (BookingMode::ROLLING_WEEKLY, 0.3),
                    ],
                ),
                rng.gen_range(30.0..60.0),
            ),
        };
        let start_date = day_of(start_ms);
        let planned_end_date =
            (booking == BookingMode::FIXED_TERM).then(|| start_date + rng.gen_range(28..180));
        let placement = Placement {
            placement_id: format!("{code}-PLC-{n:07}"),
            presentation_id,
            client_id: household.client_id.clone(),
            household_id: household.household_id.clone(),
            provider_id: format!("{code}-PRV-{:03}", rng.gen_range(1..60)),
            accommodation_type,
            accommodation_subtype: subtype,
            booking_mode: booking,
            start_date,
            planned_end_date,
            household_type: household.household_type,
            adults: household.adults,
            dependants: household.dependants,
            gender: household.gender,
            age_band: household.age_band,
            citizenship: household.citizenship,
            nightly_cost_eur: Some((cost * 100.0_f64).round() / 100.0),
            support_needs: rng
                .gen_bool(0.1)
                .then(|| "Key worker support; medication management".to_string()),
        };
        // Length of stay: memoryless, so a snapshot placement's remaining stay has the same law.
        let mean = mean_stay(accommodation_type);
        let stay_from_now = exponential(&mut self.rng, mean).round().clamp(1.0, 3650.0) as i64;
        let exit_ms = self.now + stay_from_now * DAY_MS;
        let days_in_ea = (day_of(exit_ms) - start_date).max(0);
        if stay_from_now >= 14 && self.rng.gen_bool(0.2) {
            let mut extended = placement.clone();
            extended.booking_mode = BookingMode::ROLLING_WEEKLY;
            extended.planned_end_date = None;
            extended.nightly_cost_eur = placement
                .nightly_cost_eur
                .map(|c| (c * 105.0).round() / 100.0);
            let at = self.now + stay_from_now * DAY_MS / 2;
            self.schedule_step(
                at,
                Step::Emit {
                    council,
                    entity: Entity::Placement(extended),
                    version: 2,
                    operation: Operation::UPDATE,
                },
            );
        }
        self.schedule_step(
            exit_ms,
            Step::Exit(household, Some(placement.clone()), days_in_ea),
        );
        self.ea_people_now += f64::from(placement.adults + placement.dependants);
        self.emit(council, Entity::Placement(placement), 1);
    }

    pub(super) fn exit(
        &mut self,
        household: Household,
        placement: Option<Placement>,
        days_in_ea: i32,
    ) {
        if placement.is_some() {
            self.ea_people_now -= f64::from(household.adults + household.dependants);
        }
        let council = household.council;
        let n = self.next_id("exit", council);
        let code = self.councils.list[council].code.clone();
        let town = self.town(council);
        let rng = &mut self.rng;
        let is_prevention = placement.is_none();
        let route = if is_prevention {
            pick(rng, &PREVENTION_ROUTES)
        } else {
            pick(rng, &EXIT_ROUTES)
        };
        let exit = Exit {
            exit_id: format!("{code}-EXT-{n:07}"),
            placement_id: placement.as_ref().map(|p| p.placement_id.clone()),
            client_id: household.client_id,
            household_id: household.household_id,
            exit_date: placement
                .as_ref()
                .map(|p| p.start_date + days_in_ea)
                .unwrap_or(day_of(self.now)),
            route,
            days_in_ea: if is_prevention { 0 } else { days_in_ea },
            is_prevention,
            adults: household.adults,
            dependants: household.dependants,
            new_address: (route != ExitRoute::UNKNOWN).then(|| people::address(rng, &town)),
            notes: rng
                .gen_bool(0.2)
                .then(|| "Tenancy sustainment referral made".to_string()),
        };
        self.emit(council, Entity::Exit(exit), 1);
    }

    /// Everyone already in EA at the start: placements started in the past, exits still to come.
    pub(super) fn snapshot_homelessness(&mut self) {
        // At the snapshot's origin (the start of its history) the population is on its growth path.
        let target = self.config.ea_people as f64
            * self.councils.homelessness_fraction()
            * self.config.scale
            * self.ea_level();
        let mut people = 0.0;
        while people < target {
            let council = self.councils.by_homelessness.draw(&mut self.rng);
            let household = self.household(council);
            people += f64::from(household.adults + household.dependants);
            let mix = accommodation_mix(household.household_type);
            let mean: f64 = mix.iter().map(|(a, p)| p * mean_stay(*a)).sum();
            let elapsed = exponential(&mut self.rng, mean).round().clamp(0.0, 3000.0) as i64;
            let start_ms = self.now - elapsed * DAY_MS;
            self.start_placement(household, None, start_ms);
        }
    }
}
