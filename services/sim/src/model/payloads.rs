//! One payload struct per entity, fields in schema order.

use serde::{Deserialize, Serialize};

use super::enums::*;

/// Days since 1970-01-01 (Avro `date`).
pub type Date = i32;
/// Epoch milliseconds, UTC (Avro `timestamp-millis`).
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presentation {
    pub presentation_id: String,
    pub client_id: String,
    pub household_id: String,
    pub ppsn: Option<String>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    pub date_of_birth: Option<Date>,
    pub presented_at: Millis,
    pub presentation_type: PresentationType,
    pub household_type: HouseholdType,
    pub adults: i32,
    pub dependants: i32,
    pub gender: Gender,
    pub age_band: AgeBand,
    pub citizenship: Citizenship,
    pub reason: PresentationReason,
    pub outcome: PresentationOutcome,
    pub last_address: Option<String>,
    pub health_notes: Option<String>,
    pub caseworker_notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub placement_id: String,
    pub presentation_id: Option<String>,
    pub client_id: String,
    pub household_id: String,
    pub provider_id: String,
    pub accommodation_type: AccommodationType,
    pub accommodation_subtype: AccommodationSubtype,
    pub booking_mode: BookingMode,
    pub start_date: Date,
    pub planned_end_date: Option<Date>,
    pub household_type: HouseholdType,
    pub adults: i32,
    pub dependants: i32,
    pub gender: Gender,
    pub age_band: AgeBand,
    pub citizenship: Citizenship,
    pub nightly_cost_eur: Option<f64>,
    pub support_needs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exit {
    pub exit_id: String,
    pub placement_id: Option<String>,
    pub client_id: String,
    pub household_id: String,
    pub exit_date: Date,
    pub route: ExitRoute,
    pub days_in_ea: i32,
    pub is_prevention: bool,
    pub adults: i32,
    pub dependants: i32,
    pub new_address: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DwellingUnit {
    pub unit_id: String,
    pub eircode: Option<String>,
    pub address: Option<String>,
    pub itm_x: Option<f64>,
    pub itm_y: Option<f64>,
    pub dwelling_type: DwellingType,
    pub bedrooms: i32,
    pub ber_rating: Option<BerRating>,
    pub ber_kwh_m2_yr: Option<f64>,
    pub year_built: Option<i32>,
    pub ownership: Ownership,
    pub status: DwellingStatus,
    pub delivery_route: Option<DeliveryRoute>,
    pub void_start_date: Option<Date>,
    pub relet_date: Option<Date>,
    pub relet_cost_eur: Option<f64>,
    pub adapted_for_disability: bool,
    pub tenancy_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HousingNeedAssessment {
    pub assessment_id: String,
    pub applicant_id: String,
    pub ppsn: Option<String>,
    pub forename: Option<String>,
    pub surname: Option<String>,
    pub date_of_birth: Option<Date>,
    pub current_address: Option<String>,
    pub list_entry_date: Date,
    pub assessed_on: Date,
    pub household_composition: HouseholdComposition,
    pub adults: i32,
    pub children: i32,
    pub main_need: MainNeed,
    pub accommodation_requirement: AccommodationRequirement,
    pub current_tenure: CurrentTenure,
    pub employment_status: EmploymentStatus,
    pub net_household_income_eur: Option<f64>,
    pub citizenship: Citizenship,
    pub is_traveller: Option<bool>,
    pub disability_details: Option<String>,
    pub time_on_list: TimeOnList,
    pub qualified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanningApplication {
    pub application_number: String,
    pub planning_authority: String,
    pub development_description: String,
    pub development_address: String,
    pub development_eircode: Option<String>,
    pub application_type: ApplicationType,
    pub application_type_raw: Option<String>,
    pub status: ApplicationStatus,
    pub status_raw: Option<String>,
    pub decision: Option<Decision>,
    pub decision_raw: Option<String>,
    pub applicant_forename: Option<String>,
    pub applicant_surname: Option<String>,
    pub applicant_address: Option<String>,
    pub land_use_code: Option<String>,
    pub area_of_site_ha: Option<f64>,
    pub num_residential_units: Option<i32>,
    pub one_off_house: bool,
    pub floor_area_m2: Option<f64>,
    pub itm_x: Option<f64>,
    pub itm_y: Option<f64>,
    pub received_date: Millis,
    pub validated_date: Option<Millis>,
    pub fi_request_date: Option<Millis>,
    pub fi_received_date: Option<Millis>,
    pub decision_due_date: Option<Millis>,
    pub decision_date: Option<Millis>,
    pub withdrawn_date: Option<Millis>,
    pub grant_date: Option<Millis>,
    pub expiry_date: Option<Millis>,
    pub appeal_ref_number: Option<String>,
    pub appeal_status: Option<String>,
    pub appeal_decision: Option<AppealDecision>,
    pub appeal_submitted_date: Option<Millis>,
    pub appeal_decision_date: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WasteReturn {
    pub return_id: String,
    pub period_year: i32,
    pub period_month: i32,
    pub population_served: i64,
    pub kerbside_residual_t: f64,
    pub kerbside_dry_recyclables_t: f64,
    pub kerbside_organics_t: f64,
    pub civic_amenity_t: f64,
    pub bring_bank_t: f64,
    pub recycled_t: f64,
    pub energy_recovery_t: f64,
    pub landfill_t: f64,
    pub notes: Option<String>,
}

impl WasteReturn {
    /// Tonnes by collection stream.
    pub fn stream_total(&self) -> f64 {
        self.kerbside_residual_t
            + self.kerbside_dry_recyclables_t
            + self.kerbside_organics_t
            + self.civic_amenity_t
            + self.bring_bank_t
    }

    /// Tonnes by treatment route.
    pub fn treatment_total(&self) -> f64 {
        self.recycled_t + self.energy_recovery_t + self.landfill_t
    }
}
