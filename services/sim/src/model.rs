//! Rust mirrors of the schemas: the envelope and one payload struct per entity.
//!
//! Serde field names and enum symbols match the `.avsc` files exactly, so a value goes
//! struct → `apache_avro::to_value` → `resolve(schema)` → bytes without hand-written mapping, and
//! JSON Lines exports deserialise into the same structs.

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};

use crate::topics::Topic;
use crate::{Error, Result};

/// Declares a schema enum whose variant names are the Avro symbols.
macro_rules! avro_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($v),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),+ }
            }
        }
    };
}

avro_enum!(Operation {
    CREATE,
    UPDATE,
    DELETE
});
avro_enum!(Gender {
    MALE,
    FEMALE,
    OTHER,
    NOT_STATED
});
avro_enum!(Citizenship {
    IRISH,
    EEA_UK,
    NON_EEA,
    NOT_STATED
});
avro_enum!(HouseholdType {
    SINGLE,
    COUPLE,
    FAMILY,
    SINGLE_PARENT
});
avro_enum!(PresentationType { NEW, REPEAT });
avro_enum!(AgeBand {
    AGE_18_24,
    AGE_25_44,
    AGE_45_64,
    AGE_65_PLUS
});
avro_enum!(PresentationReason {
    NOTICE_OF_TERMINATION,
    FAMILY_CIRCUMSTANCES,
    RELATIONSHIP_BREAKDOWN,
    LEAVING_INSTITUTION,
    OVERCROWDING,
    RENT_ARREARS,
    OTHER,
    NOT_STATED
});
avro_enum!(PresentationOutcome {
    PLACED_EA,
    PREVENTED,
    REFERRED,
    NOT_ELIGIBLE
});
avro_enum!(AccommodationType {
    PEA,
    STA,
    TEA,
    OTHER
});
avro_enum!(AccommodationSubtype {
    HOTEL,
    B_AND_B,
    HOSTEL,
    FAMILY_HUB,
    SUPPORTED_HOUSING,
    OTHER
});
avro_enum!(BookingMode {
    NIGHTLY,
    ROLLING_WEEKLY,
    FIXED_TERM
});
avro_enum!(ExitRoute {
    LA_TENANCY,
    AHB_TENANCY,
    HAP,
    HOMELESS_HAP,
    RAS,
    PRIVATE_RENTED,
    HOUSING_FIRST,
    FAMILY_FRIENDS,
    OTHER_REGION,
    UNKNOWN
});
avro_enum!(DwellingType {
    HOUSE,
    APARTMENT,
    MAISONETTE,
    BUNGALOW,
    SENIOR_CITIZEN_UNIT,
    DEMOUNTABLE,
    OTHER
});
avro_enum!(BerRating {
    A1,
    A2,
    A3,
    B1,
    B2,
    B3,
    C1,
    C2,
    C3,
    D1,
    D2,
    E1,
    E2,
    F,
    G
});
avro_enum!(Ownership {
    LA_OWNED,
    AHB,
    LEASED,
    RAS,
    HAP_PRIVATE
});
avro_enum!(DwellingStatus {
    TENANTED,
    VACANT_RELETTABLE,
    VOID_UNDER_WORKS,
    UNDER_REFURBISHMENT,
    AWAITING_DEMOLITION,
    SOLD
});
avro_enum!(DeliveryRoute {
    CONSTRUCTION,
    ACQUISITION,
    LEASING,
    RAS,
    HAP,
    TRANSFER,
    LEGACY
});
avro_enum!(HouseholdComposition {
    SINGLE_PERSON,
    COUPLE_NO_CHILDREN,
    SINGLE_PARENT_1_CHILD,
    SINGLE_PARENT_2_CHILDREN,
    SINGLE_PARENT_3_PLUS_CHILDREN,
    COUPLE_1_CHILD,
    COUPLE_2_CHILDREN,
    COUPLE_3_PLUS_CHILDREN,
    MULTI_ADULT_NO_CHILDREN,
    MULTI_ADULT_WITH_CHILDREN,
    ELDERLY_SINGLE,
    ELDERLY_COUPLE,
    OTHER
});
avro_enum!(MainNeed {
    HOMELESS_INSTITUTION_EA,
    OVERCROWDED,
    UNFIT_ACCOMMODATION,
    INVOLUNTARY_SHARING,
    PHYSICAL_DISABILITY,
    SENSORY_DISABILITY,
    MENTAL_HEALTH_DISABILITY,
    INTELLECTUAL_DISABILITY,
    OTHER_DISABILITY,
    MEDICAL_GROUNDS,
    REQUIRES_RENT_SUPPLEMENT,
    YOUNG_PERSON_LEAVING_CARE,
    OTHER
});
avro_enum!(AccommodationRequirement {
    ONE_BED,
    TWO_BED,
    THREE_BED,
    FOUR_PLUS_BED
});
avro_enum!(CurrentTenure {
    PRIVATE_RENTED_WITH_SUPPORT,
    PRIVATE_RENTED_NO_SUPPORT,
    LIVING_WITH_PARENTS,
    LIVING_WITH_RELATIVES_FRIENDS,
    EMERGENCY_ACCOMMODATION,
    INSTITUTION,
    OWNER_OCCUPIER,
    OTHER
});
avro_enum!(EmploymentStatus {
    EMPLOYED,
    UNEMPLOYED,
    RETIRED,
    STUDENT,
    CARER,
    UNABLE_TO_WORK,
    OTHER
});
avro_enum!(TimeOnList {
    LT_6_MONTHS,
    M6_TO_12,
    Y1_TO_2,
    Y2_TO_3,
    Y3_TO_4,
    Y4_TO_5,
    Y5_TO_7,
    GT_7_YEARS
});
avro_enum!(ApplicationType {
    PERMISSION,
    RETENTION,
    OUTLINE,
    PERMISSION_CONSEQUENT_ON_OUTLINE,
    EXTENSION_OF_DURATION,
    LRD
});
avro_enum!(ApplicationStatus {
    RECEIVED,
    VALIDATED,
    INVALID,
    FURTHER_INFORMATION_REQUESTED,
    FURTHER_INFORMATION_RECEIVED,
    DECIDED,
    APPEAL_LODGED,
    APPEAL_DECIDED,
    WITHDRAWN,
    GRANTED
});
avro_enum!(Decision {
    GRANTED,
    GRANTED_WITH_CONDITIONS,
    REFUSED,
    SPLIT,
    INVALID,
    WITHDRAWN,
    FURTHER_INFORMATION_REQUESTED
});
avro_enum!(AppealDecision {
    GRANTED,
    GRANTED_WITH_CONDITIONS,
    REFUSED,
    SPLIT,
    WITHDRAWN,
    DISMISSED,
    INVALID
});

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

/// The envelope fields every event shares (field order = schema order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P> {
    pub event_id: String,
    pub operation: Operation,
    pub entity_id: String,
    pub entity_version: i64,
    pub la_code: String,
    pub source_system: String,
    pub occurred_at: Millis,
    pub published_at: Millis,
    pub payload: Option<P>,
}

/// The envelope without its payload, for building events and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub event_id: String,
    pub operation: Operation,
    pub entity_id: String,
    pub entity_version: i64,
    pub la_code: String,
    pub source_system: String,
    pub occurred_at: Millis,
    pub published_at: Millis,
}

impl Meta {
    fn wrap<P>(self, payload: Option<P>) -> Envelope<P> {
        Envelope {
            event_id: self.event_id,
            operation: self.operation,
            entity_id: self.entity_id,
            entity_version: self.entity_version,
            la_code: self.la_code,
            source_system: self.source_system,
            occurred_at: self.occurred_at,
            published_at: self.published_at,
            payload,
        }
    }
}

/// One change event on one of the seven topics.
// Variants differ in size (planning is the widest); events are built once and moved into the
// encoder, so boxing would only add an allocation and clumsier matching for library users.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeEvent {
    Presentation(Envelope<Presentation>),
    Placement(Envelope<Placement>),
    Exit(Envelope<Exit>),
    DwellingUnit(Envelope<DwellingUnit>),
    NeedAssessment(Envelope<HousingNeedAssessment>),
    PlanningApplication(Envelope<PlanningApplication>),
    WasteReturn(Envelope<WasteReturn>),
}

/// An entity state, before it is wrapped in an envelope.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Presentation(Presentation),
    Placement(Placement),
    Exit(Exit),
    DwellingUnit(DwellingUnit),
    NeedAssessment(HousingNeedAssessment),
    PlanningApplication(PlanningApplication),
    WasteReturn(WasteReturn),
}

impl Entity {
    pub fn topic(&self) -> Topic {
        match self {
            Entity::Presentation(_) => Topic::Presentation,
            Entity::Placement(_) => Topic::Placement,
            Entity::Exit(_) => Topic::Exit,
            Entity::DwellingUnit(_) => Topic::DwellingUnit,
            Entity::NeedAssessment(_) => Topic::NeedAssessment,
            Entity::PlanningApplication(_) => Topic::PlanningApplication,
            Entity::WasteReturn(_) => Topic::WasteReturn,
        }
    }

    /// The entity's own id field (the envelope's entity_id and the Kafka key).
    pub fn id(&self) -> &str {
        match self {
            Entity::Presentation(p) => &p.presentation_id,
            Entity::Placement(p) => &p.placement_id,
            Entity::Exit(p) => &p.exit_id,
            Entity::DwellingUnit(p) => &p.unit_id,
            Entity::NeedAssessment(p) => &p.assessment_id,
            Entity::PlanningApplication(p) => &p.application_number,
            Entity::WasteReturn(p) => &p.return_id,
        }
    }
}

macro_rules! each_event {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            ChangeEvent::Presentation($e) => $body,
            ChangeEvent::Placement($e) => $body,
            ChangeEvent::Exit($e) => $body,
            ChangeEvent::DwellingUnit($e) => $body,
            ChangeEvent::NeedAssessment($e) => $body,
            ChangeEvent::PlanningApplication($e) => $body,
            ChangeEvent::WasteReturn($e) => $body,
        }
    };
}

impl ChangeEvent {
    /// Wraps an entity state (Some) or a deletion of `topic`'s entity (None is built with [`ChangeEvent::delete`]).
    pub fn new(meta: Meta, entity: Entity) -> Self {
        match entity {
            Entity::Presentation(p) => ChangeEvent::Presentation(meta.wrap(Some(p))),
            Entity::Placement(p) => ChangeEvent::Placement(meta.wrap(Some(p))),
            Entity::Exit(p) => ChangeEvent::Exit(meta.wrap(Some(p))),
            Entity::DwellingUnit(p) => ChangeEvent::DwellingUnit(meta.wrap(Some(p))),
            Entity::NeedAssessment(p) => ChangeEvent::NeedAssessment(meta.wrap(Some(p))),
            Entity::PlanningApplication(p) => ChangeEvent::PlanningApplication(meta.wrap(Some(p))),
            Entity::WasteReturn(p) => ChangeEvent::WasteReturn(meta.wrap(Some(p))),
        }
    }

    /// A DELETE event: no payload.
    pub fn delete(topic: Topic, meta: Meta) -> Self {
        match topic {
            Topic::Presentation => ChangeEvent::Presentation(meta.wrap(None)),
            Topic::Placement => ChangeEvent::Placement(meta.wrap(None)),
            Topic::Exit => ChangeEvent::Exit(meta.wrap(None)),
            Topic::DwellingUnit => ChangeEvent::DwellingUnit(meta.wrap(None)),
            Topic::NeedAssessment => ChangeEvent::NeedAssessment(meta.wrap(None)),
            Topic::PlanningApplication => ChangeEvent::PlanningApplication(meta.wrap(None)),
            Topic::WasteReturn => ChangeEvent::WasteReturn(meta.wrap(None)),
        }
    }

    pub fn topic(&self) -> Topic {
        match self {
            ChangeEvent::Presentation(_) => Topic::Presentation,
            ChangeEvent::Placement(_) => Topic::Placement,
            ChangeEvent::Exit(_) => Topic::Exit,
            ChangeEvent::DwellingUnit(_) => Topic::DwellingUnit,
            ChangeEvent::NeedAssessment(_) => Topic::NeedAssessment,
            ChangeEvent::PlanningApplication(_) => Topic::PlanningApplication,
            ChangeEvent::WasteReturn(_) => Topic::WasteReturn,
        }
    }

    pub fn meta(&self) -> Meta {
        each_event!(self, e => Meta {
            event_id: e.event_id.clone(),
            operation: e.operation,
            entity_id: e.entity_id.clone(),
            entity_version: e.entity_version,
            la_code: e.la_code.clone(),
            source_system: e.source_system.clone(),
            occurred_at: e.occurred_at,
            published_at: e.published_at,
        })
    }

    pub fn entity_id(&self) -> &str {
        each_event!(self, e => &e.entity_id)
    }

    pub fn la_code(&self) -> &str {
        each_event!(self, e => &e.la_code)
    }

    pub fn set_la_code(&mut self, code: &str) {
        each_event!(self, e => e.la_code = code.to_string())
    }

    pub fn entity(&self) -> Option<Entity> {
        match self {
            ChangeEvent::Presentation(e) => e.payload.clone().map(Entity::Presentation),
            ChangeEvent::Placement(e) => e.payload.clone().map(Entity::Placement),
            ChangeEvent::Exit(e) => e.payload.clone().map(Entity::Exit),
            ChangeEvent::DwellingUnit(e) => e.payload.clone().map(Entity::DwellingUnit),
            ChangeEvent::NeedAssessment(e) => e.payload.clone().map(Entity::NeedAssessment),
            ChangeEvent::PlanningApplication(e) => {
                e.payload.clone().map(Entity::PlanningApplication)
            }
            ChangeEvent::WasteReturn(e) => e.payload.clone().map(Entity::WasteReturn),
        }
    }

    /// The generic Avro value, not yet resolved against the schema.
    pub fn to_value(&self) -> Result<Value> {
        let value = each_event!(self, e => apache_avro::to_value(e));
        value.map_err(|e| Error::Encode {
            topic: self.topic().name().into(),
            reason: e.to_string(),
        })
    }

    /// Reads a decoded Avro value back into a typed event.
    pub fn from_value(topic: Topic, value: &Value) -> Result<Self> {
        fn de<P: serde::de::DeserializeOwned>(
            v: &Value,
        ) -> std::result::Result<Envelope<P>, apache_avro::Error> {
            apache_avro::from_value::<Envelope<P>>(v)
        }
        let event = match topic {
            Topic::Presentation => de(value).map(ChangeEvent::Presentation),
            Topic::Placement => de(value).map(ChangeEvent::Placement),
            Topic::Exit => de(value).map(ChangeEvent::Exit),
            Topic::DwellingUnit => de(value).map(ChangeEvent::DwellingUnit),
            Topic::NeedAssessment => de(value).map(ChangeEvent::NeedAssessment),
            Topic::PlanningApplication => de(value).map(ChangeEvent::PlanningApplication),
            Topic::WasteReturn => de(value).map(ChangeEvent::WasteReturn),
        };
        event.map_err(|e| Error::Encode {
            topic: topic.name().into(),
            reason: e.to_string(),
        })
    }

    /// JSON form (used for the `not_framed` malformed kind: what a misconfigured producer sends).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let bytes = each_event!(self, e => serde_json::to_vec(e));
        bytes.map_err(|e| Error::Encode {
            topic: self.topic().name().into(),
            reason: e.to_string(),
        })
    }
}
