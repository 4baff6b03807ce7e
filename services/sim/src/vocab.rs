//! Council spellings of planning types, statuses and decisions, mapped to the canonical enums.
//!
//! Councils run different planning systems (iPlan, APAS, in-house), each with its own words. The
//! publisher maps them (case- and space-insensitively) so the canonical enum is trustworthy, and
//! keeps the raw text in `*_raw`. An unknown spelling is an error for the row, never a guess.

use crate::model::{ApplicationStatus, ApplicationType, Decision};

/// One planning system's vocabulary (the simulator picks one per council).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanningSystem {
    IPlan,
    Apas,
    InHouse,
}

impl PlanningSystem {
    pub const ALL: [PlanningSystem; 3] = [
        PlanningSystem::IPlan,
        PlanningSystem::Apas,
        PlanningSystem::InHouse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlanningSystem::IPlan => "iPlan",
            PlanningSystem::Apas => "APAS",
            PlanningSystem::InHouse => "in-house",
        }
    }

    pub fn status(self, status: ApplicationStatus) -> &'static str {
        use ApplicationStatus::*;
        let i = self as usize;
        let words: [&str; 3] = match status {
            RECEIVED => ["NEW APPLICATION", "Application Received", "Received"],
            VALIDATED => ["APPLICATION VALIDATED", "Under Consideration", "Valid"],
            INVALID => ["INVALID APPLICATION", "Invalid Application", "Invalid"],
            FURTHER_INFORMATION_REQUESTED => [
                "FURTHER INFORMATION REQUESTED",
                "Further Information Requested",
                "F.I. Requested",
            ],
            FURTHER_INFORMATION_RECEIVED => [
                "FURTHER INFORMATION RECEIVED",
                "Further Information Received",
                "F.I. Received",
            ],
            DECIDED => ["DECISION MADE", "Decision Made", "Decided"],
            APPEAL_LODGED => ["APPEALED", "Appeal Lodged", "On Appeal"],
            APPEAL_DECIDED => ["APPEAL DECIDED", "Appeal Decided", "Appeal Determined"],
            WITHDRAWN => ["WITHDRAWN", "Application Withdrawn", "Withdrawn"],
            GRANTED => ["APPLICATION FINALISED", "Final Grant", "Granted"],
        };
        words[i]
    }

    pub fn decision(self, decision: Decision) -> &'static str {
        use Decision::*;
        let i = self as usize;
        let words: [&str; 3] = match decision {
            GRANTED => ["UNCONDITIONAL", "Grant Permission", "Granted"],
            GRANTED_WITH_CONDITIONS => [
                "CONDITIONAL",
                "Grant Permission with Conditions",
                "Granted (Conditions)",
            ],
            REFUSED => ["REFUSED", "Refuse Permission", "Refused"],
            SPLIT => ["SPLIT DECISION", "Split Decision", "Split"],
            INVALID => ["INVALID", "Declared Invalid", "Invalid"],
            WITHDRAWN => ["WITHDRAWN", "Withdrawn", "Withdrawn"],
            FURTHER_INFORMATION_REQUESTED => [
                "REQUEST FURTHER INFORMATION",
                "Further Information Requested",
                "F.I. Requested",
            ],
        };
        words[i]
    }

    pub fn application_type(self, t: ApplicationType) -> &'static str {
        use ApplicationType::*;
        let i = self as usize;
        let words: [&str; 3] = match t {
            PERMISSION => ["PERMISSION", "Permission", "Full Permission"],
            RETENTION => ["RETENTION", "Retention Permission", "Retention"],
            OUTLINE => ["OUTLINE PERMISSION", "Outline Permission", "Outline"],
            PERMISSION_CONSEQUENT_ON_OUTLINE => [
                "PERMISSION CONSEQUENT",
                "Permission Consequent on Outline",
                "Perm. following Outline",
            ],
            EXTENSION_OF_DURATION => [
                "EXTENSION OF DURATION",
                "Extension of Duration",
                "Extension of Duration of Permission",
            ],
            LRD => [
                "LRD",
                "Large-scale Residential Development",
                "LRD Application",
            ],
        };
        words[i]
    }
}

fn key(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn lookup<T: Copy>(
    raw: &str,
    all: &[T],
    spell: impl Fn(PlanningSystem, T) -> &'static str,
    canon: impl Fn(T) -> &'static str,
) -> Option<T> {
    let k = key(raw);
    all.iter().copied().find(|v| {
        key(canon(*v)) == k || PlanningSystem::ALL.iter().any(|s| key(spell(*s, *v)) == k)
    })
}

/// Maps any known spelling (or the canonical symbol) to the canonical status.
pub fn parse_status(raw: &str) -> Option<ApplicationStatus> {
    lookup(
        raw,
        ApplicationStatus::ALL,
        PlanningSystem::status,
        ApplicationStatus::as_str,
    )
}

pub fn parse_decision(raw: &str) -> Option<Decision> {
    lookup(
        raw,
        Decision::ALL,
        PlanningSystem::decision,
        Decision::as_str,
    )
}

pub fn parse_application_type(raw: &str) -> Option<ApplicationType> {
    lookup(
        raw,
        ApplicationType::ALL,
        PlanningSystem::application_type,
        ApplicationType::as_str,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_maps_back() {
        for s in PlanningSystem::ALL {
            for v in ApplicationStatus::ALL {
                assert_eq!(parse_status(s.status(*v)), Some(*v), "{:?} {:?}", s, v);
            }
            for v in Decision::ALL {
                let parsed = parse_decision(s.decision(*v));
                // "Withdrawn" / "F.I. Requested" are shared by decision and status vocabularies only.
                assert_eq!(parsed, Some(*v), "{:?} {:?}", s, v);
            }
            for v in ApplicationType::ALL {
                assert_eq!(parse_application_type(s.application_type(*v)), Some(*v));
            }
        }
        assert_eq!(
            parse_decision("conditional"),
            Some(Decision::GRANTED_WITH_CONDITIONS)
        );
        assert_eq!(parse_decision("maybe"), None);
    }
}
