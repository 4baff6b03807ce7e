//! The seven council topics and their compiled-in schemas.
//!
//! Schemas are embedded so the binary registers exactly the schemas it encodes with, whatever the
//! working directory.

use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Topic {
    Presentation,
    Placement,
    Exit,
    DwellingUnit,
    NeedAssessment,
    PlanningApplication,
    WasteReturn,
}

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::Presentation,
        Topic::Placement,
        Topic::Exit,
        Topic::DwellingUnit,
        Topic::NeedAssessment,
        Topic::PlanningApplication,
        Topic::WasteReturn,
    ];

    /// The base topic name (also the `.avsc` file name).
    pub fn name(self) -> &'static str {
        match self {
            Topic::Presentation => "lgma.homelessness.presentation",
            Topic::Placement => "lgma.homelessness.placement",
            Topic::Exit => "lgma.homelessness.exit",
            Topic::DwellingUnit => "lgma.housing.dwelling-unit",
            Topic::NeedAssessment => "lgma.housing.need-assessment",
            Topic::PlanningApplication => "lgma.planning.application",
            Topic::WasteReturn => "lgma.waste.return",
        }
    }

    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The schema text, as in `schemas/<topic>.avsc`.
    pub fn schema_json(self) -> &'static str {
        match self {
            Topic::Presentation => {
                include_str!("../../../schemas/lgma.homelessness.presentation.avsc")
            }
            Topic::Placement => include_str!("../../../schemas/lgma.homelessness.placement.avsc"),
            Topic::Exit => include_str!("../../../schemas/lgma.homelessness.exit.avsc"),
            Topic::DwellingUnit => include_str!("../../../schemas/lgma.housing.dwelling-unit.avsc"),
            Topic::NeedAssessment => {
                include_str!("../../../schemas/lgma.housing.need-assessment.avsc")
            }
            Topic::PlanningApplication => {
                include_str!("../../../schemas/lgma.planning.application.avsc")
            }
            Topic::WasteReturn => include_str!("../../../schemas/lgma.waste.return.avsc"),
        }
    }

    pub fn schema(self) -> Result<Schema> {
        Schema::parse_str(self.schema_json()).map_err(|e| Error::Schema {
            topic: self.name().into(),
            reason: e.to_string(),
        })
    }
}

/// The planning schema v2 (adds `num_student_bed_spaces`), for compatibility tests.
pub const PLANNING_V2_JSON: &str =
    include_str!("../../../schemas/v2/lgma.planning.application.avsc");

/// How actual topic names are derived from base names, so tests can run on unique topics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicNaming {
    pub prefix: String,
    pub suffix: String,
}

impl TopicNaming {
    pub fn topic(&self, topic: Topic) -> String {
        format!("{}{}{}", self.prefix, topic.name(), self.suffix)
    }

    /// TopicNameStrategy subject for the value schema.
    pub fn subject(&self, topic: Topic) -> String {
        format!("{}-value", self.topic(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::schema_compatibility::SchemaCompatibility;

    #[test]
    fn every_schema_parses_with_envelope_first_and_docs() {
        for topic in Topic::ALL {
            let schema = topic.schema().expect("parses");
            let Schema::Record(record) = schema else {
                panic!("{} is not a record", topic.name())
            };
            let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(
                &names[..9],
                &[
                    "event_id",
                    "operation",
                    "entity_id",
                    "entity_version",
                    "la_code",
                    "source_system",
                    "occurred_at",
                    "published_at",
                    "payload"
                ],
                "{}",
                topic.name()
            );
            assert!(record.fields.iter().all(|f| f.doc.is_some()));
        }
    }

    #[test]
    fn pii_tags_survive_parsing() {
        let schema = Topic::Presentation.schema().expect("parses");
        let json: serde_json::Value = serde_json::from_str(&schema.canonical_form()).expect("json");
        // Canonical form drops custom attributes (why identity must not use it)...
        assert!(!json.to_string().contains("\"pii\""));
        // ...but the parsed schema keeps them on the payload fields.
        let Schema::Record(env) = schema else {
            panic!()
        };
        let Schema::Union(u) = &env.fields[8].schema else {
            panic!()
        };
        let Schema::Record(p) = &u.variants()[1] else {
            panic!()
        };
        let ppsn = p.fields.iter().find(|f| f.name == "ppsn").expect("ppsn");
        assert_eq!(
            ppsn.custom_attributes.get("pii"),
            Some(&serde_json::json!("identifier"))
        );
    }

    #[test]
    fn planning_v2_is_backward_compatible() {
        let v1 = Topic::PlanningApplication.schema().expect("v1");
        let v2 = Schema::parse_str(PLANNING_V2_JSON).expect("v2");
        // BACKWARD: a consumer on v2 reads data written with v1.
        SchemaCompatibility::can_read(&v1, &v2).expect("v2 reads v1");
    }
}
