//! Validation rules as versioned data: `schemas/rules/<entity>.toml`, one file per entity.
//!
//! Councils' systems differ; the differences belong in reviewable data (a diff shows exactly which
//! spelling was accepted from when), not in scattered `if`s. Every row stores the rules version
//! that judged it.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::decode::schema::{ReaderSchema, Text};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Quarantine,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    entity: String,
    version: String,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
struct RuleSpec {
    id: String,
    #[serde(default = "default_severity")]
    severity: Severity,
    /// Required only on CREATE/UPDATE (a DELETE may carry no payload).
    #[serde(flatten)]
    kind: RuleKindSpec,
}

fn default_severity() -> Severity {
    Severity::Quarantine
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RuleKindSpec {
    Required {
        field: String,
    },
    EnumMap {
        field: String,
        /// canonical value -> council spellings (matched ignoring case and surrounding spaces).
        values: HashMap<String, Vec<String>>,
    },
    Range {
        field: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    Format {
        field: String,
        /// `eircode` (normalised to 7 uppercase characters) or a custom `pattern`.
        format: Option<String>,
        pattern: Option<String>,
    },
    Ppsn {
        field: String,
    },
    DateOrder {
        earlier: String,
        later: String,
    },
}

/// A compiled rule, bound to leaf positions of the reader schema.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub severity: Severity,
    pub check: Check,
}

#[derive(Debug)]
pub enum Check {
    Required {
        field: usize,
    },
    EnumMap {
        field: usize,
        /// lowercased trimmed spelling -> canonical
        lookup: rustc_hash::FxHashMap<String, Text>,
    },
    Range {
        field: usize,
        min: Option<f64>,
        max: Option<f64>,
    },
    Format {
        field: usize,
        format: Format,
    },
    Ppsn {
        field: usize,
    },
    DateOrder {
        earlier: usize,
        later: usize,
    },
}

/// An entity's rules, compiled against its reader schema.
#[derive(Debug)]
pub struct RuleSet {
    pub entity: String,
    /// Stamped on every row: a reference count per copy (see `decode::Text`).
    pub version: Text,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn load(dir: &Path, entity: &str, schema: &ReaderSchema) -> Result<Self> {
        let path = dir.join(format!("{entity}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&path, &text, entity, schema)
    }

    pub fn parse(path: &Path, text: &str, entity: &str, schema: &ReaderSchema) -> Result<Self> {
        let bad = |reason: String| Error::Rules {
            path: path.to_path_buf(),
            reason,
        };
        let file: RulesFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.entity != entity {
            return Err(bad(format!(
                "file is for entity `{}`, expected `{entity}`",
                file.entity
            )));
        }
        let leaf = |rule: &str, name: &str| {
            schema.leaf_index(name).ok_or_else(|| {
                bad(format!(
                    "rule `{rule}` names field `{name}`, which the reader schema {} does not have",
                    schema.topic
                ))
            })
        };
        let mut rules = Vec::with_capacity(file.rules.len());
        let mut seen = std::collections::HashSet::new();
        for spec in file.rules {
            if !seen.insert(spec.id.clone()) {
                return Err(bad(format!("rule id `{}` appears twice", spec.id)));
            }
            let check = match spec.kind {
                RuleKindSpec::Required { field } => Check::Required {
                    field: leaf(&spec.id, &field)?,
                },
                RuleKindSpec::EnumMap { field, values } => {
                    let mut lookup = rustc_hash::FxHashMap::default();
                    for (canonical, spellings) in values {
                        let canonical = Text::new(canonical);
                        lookup.insert(canonical.trim().to_lowercase(), canonical.clone());
                        for spelling in spellings {
                            lookup.insert(spelling.trim().to_lowercase(), canonical.clone());
                        }
                    }
                    Check::EnumMap {
                        field: leaf(&spec.id, &field)?,
                        lookup,
                    }
                }
                RuleKindSpec::Range { field, min, max } => Check::Range {
                    field: leaf(&spec.id, &field)?,
                    min,
                    max,
                },
                RuleKindSpec::Format {
                    field,
                    format,
                    pattern,
                } => {
                    let format = match (format.as_deref(), pattern) {
                        (Some("eircode"), None) => Format::Eircode,
                        (None, Some(p)) => {
                            Format::Pattern(Regex::new(&p).map_err(|e| bad(e.to_string()))?)
                        }
                        _ => {
                            return Err(bad(format!(
                                "rule `{}`: give either format = \"eircode\" or a pattern",
                                spec.id
                            )))
                        }
                    };
                    Check::Format {
                        field: leaf(&spec.id, &field)?,
                        format,
                    }
                }
                RuleKindSpec::Ppsn { field } => Check::Ppsn {
                    field: leaf(&spec.id, &field)?,
                },
                RuleKindSpec::DateOrder { earlier, later } => Check::DateOrder {
                    earlier: leaf(&spec.id, &earlier)?,
                    later: leaf(&spec.id, &later)?,
                },
            };
            rules.push(Rule {
                id: spec.id,
                severity: spec.severity,
                check,
            });
        }
        Ok(Self {
            entity: file.entity,
            version: file.version.into(),
            rules,
        })
    }
}

/// What a format rule accepts.
#[derive(Debug)]
pub enum Format {
    /// An Eircode as typed (case, surrounding spaces and the middle space do not matter), stored
    /// in its 7-character form: `lgma_domain::eircode::Eircode::parse`, no regex.
    Eircode,
    /// A council's own pattern, matched as typed.
    Pattern(Regex),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::schema::tests::TEST_SCHEMA;

    #[test]
    fn rules_bind_to_schema_fields_or_fail_loudly() {
        let schema = ReaderSchema::parse("lgma.test.person", TEST_SCHEMA).expect("schema");
        let ok = r#"
            entity = "test.person"
            version = "1"
            [[rule]]
            id = "person.gender"
            kind = "enum_map"
            field = "gender"
            values = { FEMALE = ["F", "Female"], MALE = ["M"] }
        "#;
        let set = RuleSet::parse(Path::new("t.toml"), ok, "test.person", &schema).expect("ok");
        assert_eq!(set.rules.len(), 1);
        let missing = ok.replace("field = \"gender\"", "field = \"sex\"");
        let err = RuleSet::parse(Path::new("t.toml"), &missing, "test.person", &schema)
            .expect_err("unknown field");
        assert!(err.to_string().contains("`sex`"));
    }
}
