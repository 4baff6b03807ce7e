//! Local-authority dwellings (~150k, spread by population) and social-housing need assessments.
//!
//! With a snapshot, the whole stock is published first, its vacant share the steady state of the
//! void process below; without one, a dwelling is published (CREATE) the first time it is touched.
//! Tenancies end at [`TURNOVER_PER_YEAR`]; each void then lasts a drawn time and ends in a re-let
//! (or, for a unit awaiting demolition, its deletion), so the vacancy rate stays at a few per cent
//! (NOAC H2) however long the run. ~3% of the stock per year is new, let within weeks. Need
//! assessments are created, sometimes revised and sometimes cancelled (DELETE).

use std::collections::HashMap;

use rand::Rng;

use super::{day_of, exponential, people, pick, Councils, Generator, Step, DAY_MS};
use crate::model::*;

/// The BER rating of an energy use in kWh/m2/yr (the bands are `lgma_domain::ber`).
pub fn ber_band(kwh: f64) -> BerRating {
    let band = lgma_domain::ber::band(kwh);
    BerRating::ALL
        .iter()
        .copied()
        .find(|b| b.as_str() == band)
        .unwrap_or(BerRating::G)
}

/// Share of let dwellings whose tenancy ends in a year.
pub const TURNOVER_PER_YEAR: f64 = 0.10;

/// What a void is when a tenancy ends: (status, share, mean days until it ends).
const VOID_KINDS: [(DwellingStatus, f64, f64); 3] = [
    (DwellingStatus::VOID_UNDER_WORKS, 0.80, 120.0),
    (DwellingStatus::VACANT_RELETTABLE, 0.15, 40.0),
    (DwellingStatus::UNDER_REFURBISHMENT, 0.05, 300.0),
];
/// Units awaiting demolition in the stock, and the mean days until they are demolished.
const AWAITING_DEMOLITION_SHARE: f64 = 0.003;
const DEMOLITION_MEAN_DAYS: f64 = 300.0;
/// Minimum days a void lasts (inspection, works, offer).
const MIN_VOID_DAYS: f64 = 10.0;

/// Days a void lasts beyond [`MIN_VOID_DAYS`]: Erlang-3 (three exponential stages: inspection,
/// works, offer) with the kind's mean. Tenancy ends come in turns (not at random), so how much a
/// council's count of vacant units swings is set by how dispersed void lengths are: with a single
/// exponential a council of ~80 dwellings at the demo's scale reached 7 vacant (8.8 %, above the
/// NOAC H2 band of domain.md §7) where ~3 are expected; three stages halve the variance.
fn void_days(rng: &mut impl Rng, mean: f64) -> f64 {
    (0..3).map(|_| exponential(rng, mean / 3.0)).sum()
}

/// Mean days a void of this status lasts.
fn mean_void_days(status: DwellingStatus) -> f64 {
    VOID_KINDS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map(|(_, _, d)| *d)
        .unwrap_or(DEMOLITION_MEAN_DAYS)
}

/// The snapshot's status mix: the void process's steady state (inflow × mean duration per kind).
fn snapshot_statuses() -> Vec<(DwellingStatus, f64)> {
    let mut mix: Vec<(DwellingStatus, f64)> = VOID_KINDS
        .iter()
        .map(|(s, share, days)| {
            (
                *s,
                TURNOVER_PER_YEAR * share * (MIN_VOID_DAYS + days) / 365.0,
            )
        })
        .collect();
    mix.push((
        DwellingStatus::AWAITING_DEMOLITION,
        AWAITING_DEMOLITION_SHARE,
    ));
    mix
}

/// Vacant share of the stock in the steady state (the snapshot's, and the stream's in time).
pub fn expected_void_rate() -> f64 {
    snapshot_statuses().iter().map(|(_, p)| p).sum()
}

#[derive(Debug, Clone)]
struct UnitState {
    version: i64,
    unit: DwellingUnit,
    deleted: bool,
}

/// The dwelling stock: which unit numbers belong to which council, and every published unit's state.
#[derive(Debug, Default)]
pub(super) struct Stock {
    /// First unit number and count per council.
    ranges: Vec<(u32, u32)>,
    units: HashMap<u32, UnitState>,
    next_new: u32,
    /// New builds (numbers past the initial ranges) and their council.
    new_units: Vec<(u32, usize)>,
    /// Each council's accumulated share of tenancy ends (see `next_void_council`).
    void_credit: Vec<f64>,
}

impl Stock {
    pub fn new(councils: &Councils, national_total: u32, scale: f64) -> Self {
        let mut ranges = Vec::new();
        let mut start = 0;
        for c in &councils.list {
            let n = ((national_total as f64) * scale * c.population as f64
                / lgma_domain::STATE_POPULATION_2022 as f64)
                .round()
                .max(1.0) as u32;
            ranges.push((start, n));
            start += n;
        }
        Stock {
            ranges,
            units: HashMap::new(),
            next_new: start,
            new_units: Vec::new(),
            void_credit: Vec::new(),
        }
    }

    /// The council whose turn it is for a tenancy to end (largest accumulated share).
    fn next_void_council(&mut self, councils: &Councils) -> usize {
        if self.void_credit.len() != councils.list.len() {
            self.void_credit = vec![0.0; councils.list.len()];
        }
        let mut best = 0;
        for (i, credit) in self.void_credit.iter_mut().enumerate() {
            *credit += councils.by_population.share(i);
        }
        for i in 1..self.void_credit.len() {
            if self.void_credit[i] > self.void_credit[best] {
                best = i;
            }
        }
        self.void_credit[best] -= 1.0;
        best
    }

    pub fn total(&self) -> u32 {
        self.ranges.iter().map(|(_, n)| n).sum()
    }

    fn council_of(&self, unit: u32) -> usize {
        self.ranges
            .iter()
            .position(|(s, n)| unit >= *s && unit < s + n)
            .or_else(|| {
                self.new_units
                    .binary_search_by_key(&unit, |(n, _)| *n)
                    .ok()
                    .map(|i| self.new_units[i].1)
            })
            .unwrap_or(0)
    }
}

impl Generator {
    /// A unit of the stock; `status` None draws one (new builds are vacant, awaiting a first letting).
    pub(super) fn base_unit(
        &mut self,
        council: usize,
        number: u32,
        new_build: bool,
        status: Option<DwellingStatus>,
    ) -> DwellingUnit {
        let code = self.councils.list[council].code.clone();
        let dublin = self.councils.is_dublin(council);
        let town = self.town(council);
        let rng = &mut self.rng;
        let year_built = if new_build {
            2024
        } else {
            rng.gen_range(1930..2023)
        };
        let kwh = if new_build {
            rng.gen_range(15.0..70.0)
        } else if year_built < 1980 {
            rng.gen_range(180.0..520.0)
        } else {
            rng.gen_range(90.0..320.0)
        };
        let kwh: f64 = (kwh * 10.0_f64).round() / 10.0;
        let rated = new_build || rng.gen_bool(0.85);
        let status = match status {
            Some(s) => s,
            None if new_build => DwellingStatus::VACANT_RELETTABLE,
            None => {
                let mut mix = snapshot_statuses();
                mix.push((DwellingStatus::TENANTED, 1.0 - expected_void_rate()));
                pick(rng, &mix)
            }
        };
        let bedrooms = pick(
            rng,
            &[(1, 0.22), (2, 0.33), (3, 0.38), (4, 0.06), (5, 0.01)],
        );
        let today = day_of(self.now);
        DwellingUnit {
            unit_id: format!("{code}-U{number:07}"),
            eircode: rng.gen_bool(0.95).then(|| people::eircode(rng, dublin)),
            address: Some(people::address(rng, &town)),
            itm_x: Some((rng.gen_range(450_000.0..750_000.0_f64) * 10.0).round() / 10.0),
            itm_y: Some((rng.gen_range(560_000.0..950_000.0_f64) * 10.0).round() / 10.0),
            dwelling_type: pick(
                rng,
                &[
                    (DwellingType::HOUSE, 0.62),
                    (DwellingType::APARTMENT, 0.22),
                    (DwellingType::MAISONETTE, 0.04),
                    (DwellingType::BUNGALOW, 0.05),
                    (DwellingType::SENIOR_CITIZEN_UNIT, 0.05),
                    (DwellingType::DEMOUNTABLE, 0.01),
                    (DwellingType::OTHER, 0.01),
                ],
            ),
            bedrooms,
            ber_rating: rated.then(|| ber_band(kwh)),
            ber_kwh_m2_yr: rated.then_some(kwh),
            year_built: Some(year_built),
            ownership: pick(
                rng,
                &[
                    (Ownership::LA_OWNED, 0.88),
                    (Ownership::LEASED, 0.06),
                    (Ownership::RAS, 0.04),
                    (Ownership::AHB, 0.02),
                ],
            ),
            status,
            delivery_route: Some(if new_build {
                pick(
                    rng,
                    &[
                        (DeliveryRoute::CONSTRUCTION, 0.6),
                        (DeliveryRoute::ACQUISITION, 0.25),
                        (DeliveryRoute::LEASING, 0.15),
                    ],
                )
            } else {
                DeliveryRoute::LEGACY
            }),
            // Memoryless void lengths: time already vacant has the law of the time still to go.
            void_start_date: (status != DwellingStatus::TENANTED && !new_build).then(|| {
                today - exponential(rng, mean_void_days(status)).round().min(3000.0) as i32
            }),
            relet_date: None,
            relet_cost_eur: None,
            adapted_for_disability: rng.gen_bool(0.06),
            tenancy_ref: (status == DwellingStatus::TENANTED)
                .then(|| format!("{code}-T{:08}", rng.gen_range(0..100_000_000))),
        }
    }

    /// Publishes unit `number` of the initial stock (snapshot); returns the next cursor.
    pub(super) fn snapshot_dwelling(&mut self, number: u32) -> Option<u32> {
        if number >= self.housing.total() {
            return None;
        }
        let council = self.housing.council_of(number);
        let (start, len) = self.housing.ranges[council];
        // A low-discrepancy sequence over each council's units: every council's vacant share is
        // the national one within a unit or two, whatever the scale (no sampling noise).
        let u = ((number - start) as f64 * 0.618_033_988_749_895 + 0.5 / f64::from(len)).fract();
        let mut acc = 0.0;
        let mut status = DwellingStatus::TENANTED;
        for (s, p) in snapshot_statuses() {
            acc += p;
            if u < acc {
                status = s;
                break;
            }
        }
        let unit = self.base_unit(council, number, false, Some(status));
        self.adopt(council, number, unit);
        Some(number + 1)
    }

    /// Records and publishes a unit new to the stream; a vacant one gets the end of its void.
    fn adopt(&mut self, council: usize, number: u32, unit: DwellingUnit) {
        if unit.status != DwellingStatus::TENANTED {
            let mean = mean_void_days(unit.status);
            let days = if unit.delivery_route != Some(DeliveryRoute::LEGACY) {
                self.rng.gen_range(7.0..45.0)
            } else {
                // The rest of a void already under way: an Erlang-3 void's remaining time averages
                // about 2/3 of its mean (plus part of the minimum).
                void_days(&mut self.rng, mean) * 2.0 / 3.0 + MIN_VOID_DAYS / 2.0
            };
            let at = self.now + (days * DAY_MS as f64) as i64;
            self.schedule_step(at, Step::VoidEnd(number));
        }
        self.housing.units.insert(
            number,
            UnitState {
                version: 1,
                unit: unit.clone(),
                deleted: false,
            },
        );
        self.emit(council, Entity::DwellingUnit(unit), 1);
    }

    /// A tenancy ends in a random unit of a council: the unit becomes void and its re-letting is
    /// scheduled. A unit already vacant is left alone. Councils take turns in proportion to their
    /// stock (not a random draw), so a small council's vacancy rate is not at the mercy of a few
    /// draws at a small scale.
    pub(super) fn dwelling_change(&mut self) {
        let council = self.housing.next_void_council(&self.councils);
        let (start, len) = self.housing.ranges[council];
        let number = start + self.rng.gen_range(0..len);
        let Some(state) = self.housing.units.get(&number).cloned() else {
            let unit = self.base_unit(council, number, false, None);
            self.adopt(council, number, unit);
            return;
        };
        if state.deleted || state.unit.status != DwellingStatus::TENANTED {
            return;
        }
        let today = day_of(self.now);
        let mut unit = state.unit.clone();
        let rng = &mut self.rng;
        let kinds: Vec<(usize, f64)> = VOID_KINDS
            .iter()
            .enumerate()
            .map(|(i, (_, share, _))| (i, *share))
            .collect();
        let (status, _, mean) = VOID_KINDS[pick(rng, &kinds)];
        unit.status = status;
        unit.void_start_date = Some(today);
        unit.relet_date = None;
        unit.relet_cost_eur = None;
        unit.tenancy_ref = None;
        let days = MIN_VOID_DAYS + void_days(rng, mean);
        let at = self.now + (days * DAY_MS as f64) as i64;
        self.schedule_step(at, Step::VoidEnd(number));
        let version = state.version + 1;
        self.housing.units.insert(
            number,
            UnitState {
                version,
                unit: unit.clone(),
                ..state
            },
        );
        self.emit(council, Entity::DwellingUnit(unit), version);
    }

    /// A void ends: the unit is let (re-let date and cost), or demolished (DELETE).
    pub(super) fn end_void(&mut self, number: u32) {
        let Some(state) = self.housing.units.get(&number).cloned() else {
            return;
        };
        if state.deleted || state.unit.status == DwellingStatus::TENANTED {
            return;
        }
        let council = self.housing.council_of(number);
        let code = self.councils.list[council].code.clone();
        let today = day_of(self.now);
        let mut unit = state.unit.clone();
        let version = state.version + 1;
        if unit.status == DwellingStatus::AWAITING_DEMOLITION {
            self.housing.units.insert(
                number,
                UnitState {
                    deleted: true,
                    version,
                    ..state
                },
            );
            self.emit_op(
                council,
                Entity::DwellingUnit(unit),
                version,
                Operation::DELETE,
            );
            return;
        }
        let rng = &mut self.rng;
        let first_letting = unit.delivery_route != Some(DeliveryRoute::LEGACY);
        unit.status = DwellingStatus::TENANTED;
        if first_letting {
            // A new home's first tenancy is not a re-let.
            unit.void_start_date = None;
            unit.relet_date = None;
            unit.relet_cost_eur = None;
        } else {
            let void_start = unit.void_start_date.unwrap_or(today).min(today);
            unit.void_start_date = Some(void_start);
            unit.relet_date = Some(today);
            unit.relet_cost_eur = Some((rng.gen_range(5_000.0..60_000.0_f64)).round());
        }
        unit.tenancy_ref = Some(format!("{code}-T{:08}", rng.gen_range(0..100_000_000)));
        if !first_letting && rng.gen_bool(0.3) {
            // Retrofit during the void.
            let kwh: f64 = rng.gen_range(60.0..125.0_f64).round();
            unit.ber_kwh_m2_yr = Some(kwh);
            unit.ber_rating = Some(ber_band(kwh));
        }
        self.housing.units.insert(
            number,
            UnitState {
                version,
                unit: unit.clone(),
                ..state
            },
        );
        self.emit(council, Entity::DwellingUnit(unit), version);
    }

    pub(super) fn new_dwelling(&mut self) {
        let council = self.councils.by_population.draw(&mut self.rng);
        let number = self.housing.next_new;
        self.housing.next_new += 1;
        self.housing.new_units.push((number, council));
        let unit = self.base_unit(council, number, true, None);
        self.adopt(council, number, unit);
    }

    pub(super) fn need_arrival(&mut self) {
        let council = self.councils.by_population.draw(&mut self.rng);
        let n = self.next_id("assessment", council);
        let code = self.councils.list[council].code.clone();
        let town = self.town(council);
        let today = day_of(self.now);
        let rng = &mut self.rng;
        let composition = pick(
            rng,
            &[
                (HouseholdComposition::SINGLE_PERSON, 0.45),
                (HouseholdComposition::COUPLE_NO_CHILDREN, 0.05),
                (HouseholdComposition::SINGLE_PARENT_1_CHILD, 0.12),
                (HouseholdComposition::SINGLE_PARENT_2_CHILDREN, 0.08),
                (HouseholdComposition::SINGLE_PARENT_3_PLUS_CHILDREN, 0.04),
                (HouseholdComposition::COUPLE_1_CHILD, 0.05),
                (HouseholdComposition::COUPLE_2_CHILDREN, 0.05),
                (HouseholdComposition::COUPLE_3_PLUS_CHILDREN, 0.04),
                (HouseholdComposition::MULTI_ADULT_NO_CHILDREN, 0.03),
                (HouseholdComposition::MULTI_ADULT_WITH_CHILDREN, 0.03),
                (HouseholdComposition::ELDERLY_SINGLE, 0.03),
                (HouseholdComposition::ELDERLY_COUPLE, 0.01),
                (HouseholdComposition::OTHER, 0.02),
            ],
        );
        use HouseholdComposition as H;
        let (adults, children) = match composition {
            H::SINGLE_PERSON | H::ELDERLY_SINGLE => (1, 0),
            H::COUPLE_NO_CHILDREN | H::ELDERLY_COUPLE => (2, 0),
            H::SINGLE_PARENT_1_CHILD => (1, 1),
            H::SINGLE_PARENT_2_CHILDREN => (1, 2),
            H::SINGLE_PARENT_3_PLUS_CHILDREN => (1, rng.gen_range(3..6)),
            H::COUPLE_1_CHILD => (2, 1),
            H::COUPLE_2_CHILDREN => (2, 2),
            H::COUPLE_3_PLUS_CHILDREN => (2, rng.gen_range(3..6)),
            H::MULTI_ADULT_NO_CHILDREN => (rng.gen_range(3..5), 0),
            H::MULTI_ADULT_WITH_CHILDREN => (rng.gen_range(3..5), rng.gen_range(1..4)),
            H::OTHER => (rng.gen_range(1..3), rng.gen_range(0..3)),
        };
        let elderly = matches!(composition, H::ELDERLY_SINGLE | H::ELDERLY_COUPLE);
        let age = if elderly {
            rng.gen_range(66..90)
        } else {
            rng.gen_range(19..64)
        };
        // New applicants, or households already on the list being onboarded.
        let list_entry_date = if rng.gen_bool(0.4) {
            today - rng.gen_range(0..30)
        } else {
            today - rng.gen_range(30..3650)
        };
        let main_need = pick(
            rng,
            &[
                (MainNeed::REQUIRES_RENT_SUPPLEMENT, 0.55),
                (MainNeed::HOMELESS_INSTITUTION_EA, 0.09),
                (MainNeed::OVERCROWDED, 0.05),
                (MainNeed::INVOLUNTARY_SHARING, 0.10),
                (MainNeed::UNFIT_ACCOMMODATION, 0.02),
                (MainNeed::PHYSICAL_DISABILITY, 0.03),
                (MainNeed::SENSORY_DISABILITY, 0.005),
                (MainNeed::MENTAL_HEALTH_DISABILITY, 0.02),
                (MainNeed::INTELLECTUAL_DISABILITY, 0.01),
                (MainNeed::OTHER_DISABILITY, 0.005),
                (MainNeed::MEDICAL_GROUNDS, 0.03),
                (MainNeed::YOUNG_PERSON_LEAVING_CARE, 0.01),
                (MainNeed::OTHER, 0.07),
            ],
        );
        let disability = matches!(
            main_need,
            MainNeed::PHYSICAL_DISABILITY
                | MainNeed::SENSORY_DISABILITY
                | MainNeed::MENTAL_HEALTH_DISABILITY
                | MainNeed::INTELLECTUAL_DISABILITY
                | MainNeed::OTHER_DISABILITY
                | MainNeed::MEDICAL_GROUNDS
        );
        let size = adults + children;
        let assessment = HousingNeedAssessment {
            assessment_id: format!("{code}-SSHA-{n:07}"),
            applicant_id: format!("{code}-A{n:07}"),
            ppsn: rng.gen_bool(0.97).then(|| people::ppsn(rng)),
            forename: Some(people::forename(rng)),
            surname: Some(people::surname(rng)),
            date_of_birth: Some(today - age * 365 - rng.gen_range(0..360)),
            current_address: Some(people::address(rng, &town)),
            list_entry_date,
            assessed_on: today,
            household_composition: composition,
            adults,
            children,
            main_need,
            accommodation_requirement: match size {
                1 => AccommodationRequirement::ONE_BED,
                2 => AccommodationRequirement::TWO_BED,
                3 | 4 => AccommodationRequirement::THREE_BED,
                _ => AccommodationRequirement::FOUR_PLUS_BED,
            },
            current_tenure: pick(
                rng,
                &[
                    (CurrentTenure::PRIVATE_RENTED_WITH_SUPPORT, 0.45),
                    (CurrentTenure::PRIVATE_RENTED_NO_SUPPORT, 0.10),
                    (CurrentTenure::LIVING_WITH_PARENTS, 0.18),
                    (CurrentTenure::LIVING_WITH_RELATIVES_FRIENDS, 0.10),
                    (CurrentTenure::EMERGENCY_ACCOMMODATION, 0.08),
                    (CurrentTenure::INSTITUTION, 0.02),
                    (CurrentTenure::OWNER_OCCUPIER, 0.02),
                    (CurrentTenure::OTHER, 0.05),
                ],
            ),
            employment_status: if elderly {
                EmploymentStatus::RETIRED
            } else {
                pick(
                    rng,
                    &[
                        (EmploymentStatus::EMPLOYED, 0.40),
                        (EmploymentStatus::UNEMPLOYED, 0.30),
                        (EmploymentStatus::STUDENT, 0.03),
                        (EmploymentStatus::CARER, 0.10),
                        (EmploymentStatus::UNABLE_TO_WORK, 0.12),
                        (EmploymentStatus::OTHER, 0.05),
                    ],
                )
            },
            net_household_income_eur: Some((rng.gen_range(9_000.0..42_000.0_f64)).round()),
            citizenship: pick(
                rng,
                &[
                    (Citizenship::IRISH, 0.80),
                    (Citizenship::EEA_UK, 0.10),
                    (Citizenship::NON_EEA, 0.09),
                    (Citizenship::NOT_STATED, 0.01),
                ],
            ),
            is_traveller: Some(rng.gen_bool(0.03)),
            disability_details: disability
                .then(|| "Requires ground-floor accommodation".to_string()),
            time_on_list: time_on_list(today - list_entry_date),
            qualified: rng.gen_bool(0.93),
        };
        let roll: f64 = self.rng.gen();
        if roll < 0.10 {
            let at = self.now + self.rng.gen_range(30..120) * DAY_MS;
            let mut revised = assessment.clone();
            revised.assessed_on = day_of(at);
            revised.time_on_list = time_on_list(revised.assessed_on - revised.list_entry_date);
            revised.net_household_income_eur = assessment
                .net_household_income_eur
                .map(|x| (x * 1.04).round());
            self.schedule_step(
                at,
                Step::Emit {
                    council,
                    entity: Entity::NeedAssessment(revised),
                    version: 2,
                    operation: Operation::UPDATE,
                },
            );
        } else if roll < 0.14 {
            let at = self.now + self.rng.gen_range(60..300) * DAY_MS;
            self.schedule_step(
                at,
                Step::Emit {
                    council,
                    entity: Entity::NeedAssessment(assessment.clone()),
                    version: 2,
                    operation: Operation::DELETE,
                },
            );
        }
        self.emit(council, Entity::NeedAssessment(assessment), 1);
    }
}

/// The SSHA time-on-list band for a number of days.
pub fn time_on_list(days: i32) -> TimeOnList {
    let months = days as f64 / 30.44;
    match months {
        m if m < 6.0 => TimeOnList::LT_6_MONTHS,
        m if m < 12.0 => TimeOnList::M6_TO_12,
        m if m < 24.0 => TimeOnList::Y1_TO_2,
        m if m < 36.0 => TimeOnList::Y2_TO_3,
        m if m < 48.0 => TimeOnList::Y3_TO_4,
        m if m < 60.0 => TimeOnList::Y4_TO_5,
        m if m < 84.0 => TimeOnList::Y5_TO_7,
        _ => TimeOnList::GT_7_YEARS,
    }
}
