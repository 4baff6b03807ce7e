//! The schemas' enums: variant names are the Avro symbols, so serde writes them unchanged.

use serde::{Deserialize, Serialize};

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
