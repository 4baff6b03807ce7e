//! Our reader schemas (`schemas/<topic>.avsc`) and the flat column layout derived from them.
//!
//! The reader schema is the contract: its `pii` tags decide pseudonymisation, and only fields it
//! knows reach a row (Avro resolution drops the rest). The layout is computed once per topic, so
//! turning a decoded record into cells is a walk in schema order — no name lookups per field.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use apache_avro::schema::{RecordField, Schema};
use chrono::Datelike;

use crate::{Error, Result};

/// The envelope fields every council schema starts with, in order.
pub const ENVELOPE_FIELDS: [&str; 9] = [
    "event_id",
    "operation",
    "entity_id",
    "entity_version",
    "la_code",
    "source_system",
    "occurred_at",
    "published_at",
    "payload",
];

/// The `pii` attribute values, from the schema conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pii {
    Identifier,
    Name,
    DateOfBirth,
    Address,
    FreeText,
    SpecialCategory,
    /// Coordinates precise enough to find a home: kept only on a 1 km grid.
    Location,
    /// An enum with special-category symbols: each symbol listed in the field's `generalise_to`
    /// map is stored as its group (e.g. five health and disability grounds as one), the others as
    /// sent.
    Generalised,
}

impl Pii {
    pub fn parse(tag: &str) -> Option<Self> {
        Some(match tag {
            "identifier" => Pii::Identifier,
            "name" => Pii::Name,
            "date_of_birth" => Pii::DateOfBirth,
            "address" => Pii::Address,
            "free_text" => Pii::FreeText,
            "special_category" => Pii::SpecialCategory,
            "location" => Pii::Location,
            "generalised" => Pii::Generalised,
            _ => return None,
        })
    }
}

/// The primitive kind of a leaf field after logical types are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Long,
    Float,
    Double,
    Str,
    /// Days since the epoch (Avro `date`).
    Date,
    /// Milliseconds since the epoch (Avro `timestamp-millis`, kept as Int64).
    TimestampMillis,
}

/// One flattened payload field: `site.eircode` becomes column `site_eircode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub name: String,
    pub kind: Kind,
    pub nullable: bool,
    /// Inside an array (of primitives or of records): the cell holds a list.
    pub array: bool,
    pub pii: Option<Pii>,
    /// Enum symbols when the Avro type is an enum (kept as strings in rows).
    pub symbols: Option<Vec<String>>,
    /// `pii: generalised`: symbol -> group stored instead (the field's `generalise_to`).
    pub groups: Option<Groups>,
}

/// A `generalise_to` map: symbol -> the group stored in its place.
pub type Groups = std::sync::Arc<std::collections::BTreeMap<String, String>>;

/// The `generalise_to` map of a `pii: generalised` field: required there, refused elsewhere, and
/// every key must be a symbol of the field's enum (checked once the leaf is known).
fn groups_of(field: &RecordField, pii: Option<Pii>) -> Result<Option<Groups>, String> {
    let attr = field.custom_attributes.get("generalise_to");
    match (pii, attr) {
        (Some(Pii::Generalised), Some(serde_json::Value::Object(map))) => {
            let mut groups = std::collections::BTreeMap::new();
            for (symbol, group) in map {
                let group = group.as_str().ok_or_else(|| {
                    format!(
                        "field `{}`: generalise_to values must be strings",
                        field.name
                    )
                })?;
                groups.insert(symbol.clone(), group.to_string());
            }
            Ok(Some(std::sync::Arc::new(groups)))
        }
        (Some(Pii::Generalised), _) => Err(format!(
            "field `{}` is pii `generalised` but has no generalise_to object",
            field.name
        )),
        (_, Some(_)) => Err(format!(
            "field `{}` has generalise_to but is not pii `generalised`",
            field.name
        )),
        (_, None) => Ok(None),
    }
}

/// Text in a cell: up to 23 bytes inline (codes, enum symbols, Eircodes, versions: no heap
/// allocation), longer text shared, so the copies a row makes of the envelope, the topic and the
/// versions are reference counts, not allocations (issue 17: ~60 allocations per record before).
pub type Text = smol_str::SmolStr;

/// `s` with its ASCII letters upper- or lower-cased in `buf`, when it fits (case maps of short
/// codes and symbols without an allocation); `None` when it does not fit.
pub fn ascii_cased<'b>(s: &str, buf: &'b mut [u8], upper: bool) -> Option<&'b str> {
    let out = buf.get_mut(..s.len())?;
    out.copy_from_slice(s.as_bytes());
    if upper {
        out.make_ascii_uppercase();
    } else {
        out.make_ascii_lowercase();
    }
    // Mapping ASCII letters keeps UTF-8 valid.
    std::str::from_utf8(out).ok()
}

/// A decoded leaf value. Text is [`Text`]; everything else is a copy.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Scalar {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    Date(i32),
    Ts(i64),
    List(Vec<Scalar>),
}

impl Scalar {
    pub fn is_null(&self) -> bool {
        matches!(self, Scalar::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Numeric view for range rules and derived measures.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Date(d) => Some(f64::from(*d)),
            Scalar::Ts(t) => Some(*t as f64),
            _ => None,
        }
    }
    /// Days since 1970-01-01 of [`Scalar::as_day`]'s day, without building a calendar date when
    /// the cell is a date or a timestamp (how date rules compare).
    pub fn epoch_day(&self) -> Option<i64> {
        match self {
            Scalar::Date(d) => Some(i64::from(*d)),
            Scalar::Ts(ms) => {
                chrono::DateTime::from_timestamp_millis(*ms).map(|_| ms.div_euclid(86_400_000))
            }
            Scalar::Str(_) => self
                .as_day()
                .map(|d| i64::from(d.num_days_from_ce()) - UNIX_EPOCH_CE_DAY),
            _ => None,
        }
    }
    /// Calendar day for date rules: dates directly, timestamps by their UTC day.
    pub fn as_day(&self) -> Option<chrono::NaiveDate> {
        match self {
            Scalar::Date(d) => day_from_epoch_days(i64::from(*d)),
            Scalar::Ts(ms) => chrono::DateTime::from_timestamp_millis(*ms).map(|t| t.date_naive()),
            Scalar::Str(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => None,
        }
    }
}

/// 1970-01-01 counted from 0001-01-01 as day 1 of the common era (chrono's `num_days_from_ce`).
const UNIX_EPOCH_CE_DAY: i64 = 719_163;

pub fn day_from_epoch_days(days: i64) -> Option<chrono::NaiveDate> {
    days.checked_add(UNIX_EPOCH_CE_DAY)
        .and_then(|ce| i32::try_from(ce).ok())
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
}

/// How to walk a decoded value to fill the leaves, precomputed from the reader schema. Building it
/// is how the leaves are found; walking it is the reference path's (`decode::reference`) alone.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(test, feature = "reference")), allow(dead_code))]
pub(super) enum Plan {
    Leaf(usize),
    Record(Vec<Plan>),
    /// `["null", T]` in either order; `null_index` is the union branch index of null.
    Nullable {
        null_index: u32,
        inner: Box<Plan>,
        leaves: Range<usize>,
    },
    /// An array of records: each element fills a scratch row, whose cells are appended to lists.
    ArrayOfRecords {
        inner: Box<Plan>,
        leaves: Range<usize>,
    },
    /// A field our layout does not keep (maps, bytes): skipped.
    Skip,
}

/// A topic's reader schema plus its flattened payload layout.
#[derive(Debug)]
pub struct ReaderSchema {
    pub topic: String,
    pub schema: Schema,
    /// The schema text as written (custom attributes intact), for registering and identity.
    pub text: String,
    pub leaves: Vec<Leaf>,
    index: HashMap<String, usize>,
    #[cfg_attr(not(any(test, feature = "reference")), allow(dead_code))]
    pub(super) payload_plan: Plan,
    /// Field position of `payload` in the envelope record.
    #[cfg_attr(not(any(test, feature = "reference")), allow(dead_code))]
    pub(super) payload_pos: usize,
}

impl ReaderSchema {
    /// Loads a platform reader schema; every field must declare `pii` (see [`undeclared_pii`]).
    pub fn load(dir: &Path, topic: &str) -> Result<Self> {
        let path = dir.join(format!("{topic}.avsc"));
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let loaded = Self::parse(topic, &text)?;
        let missing = undeclared_pii(&loaded.schema);
        if !missing.is_empty() {
            return Err(Error::Schema {
                what: topic.into(),
                reason: format!(
                    "{}: fields without a `pii` attribute: {} (personal data fails closed: tag \
                     every field, `\"pii\": \"none\"` when it is not personal; schemas/README.md)",
                    path.display(),
                    missing.join(", ")
                ),
            });
        }
        Ok(loaded)
    }

    pub fn parse(topic: &str, text: &str) -> Result<Self> {
        let schema = Schema::parse_str(text).map_err(|e| Error::Schema {
            what: topic.into(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| Error::Schema {
            what: topic.into(),
            reason,
        };
        let Schema::Record(envelope) = &schema else {
            return Err(bad("top level is not a record".into()));
        };
        for (i, expected) in ENVELOPE_FIELDS.iter().enumerate() {
            match envelope.fields.get(i) {
                Some(f) if f.name == *expected => {}
                other => {
                    return Err(bad(format!(
                        "envelope field {i} must be `{expected}`, found {:?}",
                        other.map(|f| &f.name)
                    )))
                }
            }
        }
        let payload_pos = 8;
        let mut leaves = Vec::new();
        let payload_plan = plan_for(
            &envelope.fields[payload_pos].schema,
            "",
            None,
            false,
            &mut leaves,
        )
        .map_err(bad)?;
        let mut index = HashMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            if index.insert(leaf.name.clone(), i).is_some() {
                return Err(bad(format!(
                    "two payload fields flatten to `{}`",
                    leaf.name
                )));
            }
        }
        Ok(Self {
            topic: topic.into(),
            schema,
            text: text.into(),
            leaves,
            index,
            payload_plan,
            payload_pos,
        })
    }

    pub fn leaf_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// Every record field (envelope and payload, nested records included) that has no `pii`
/// attribute, by dotted path. A platform schema must have none: an untagged field would be
/// treated as non-personal and reach analysts in clear.
pub fn undeclared_pii(schema: &Schema) -> Vec<String> {
    fn walk(schema: &Schema, prefix: &str, out: &mut Vec<String>) {
        match schema {
            Schema::Record(record) => {
                for field in &record.fields {
                    let path = if prefix.is_empty() {
                        field.name.clone()
                    } else {
                        format!("{prefix}.{}", field.name)
                    };
                    if !field.custom_attributes.contains_key("pii") {
                        out.push(path.clone());
                    }
                    walk(&field.schema, &path, out);
                }
            }
            Schema::Union(union) => {
                for variant in union.variants() {
                    walk(variant, prefix, out);
                }
            }
            Schema::Array(array) => walk(&array.items, prefix, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

fn pii_of(field: &RecordField) -> Result<Option<Pii>, String> {
    match field.custom_attributes.get("pii") {
        None => Ok(None),
        Some(serde_json::Value::String(tag)) if tag == "none" => Ok(None),
        Some(serde_json::Value::String(tag)) => Pii::parse(tag)
            .map(Some)
            .ok_or_else(|| format!("field `{}` has unknown pii tag `{tag}`", field.name)),
        Some(other) => Err(format!(
            "field `{}` has non-string pii tag {other}",
            field.name
        )),
    }
}

pub(crate) fn leaf_kind(schema: &Schema) -> Option<(Kind, Option<Vec<String>>)> {
    Some(match schema {
        Schema::Boolean => (Kind::Bool, None),
        Schema::Int | Schema::TimeMillis => (Kind::Int, None),
        Schema::Long | Schema::TimeMicros => (Kind::Long, None),
        Schema::Float => (Kind::Float, None),
        Schema::Double => (Kind::Double, None),
        Schema::String | Schema::Uuid(_) => (Kind::Str, None),
        Schema::Enum(e) => (Kind::Str, Some(e.symbols.clone())),
        Schema::Date => (Kind::Date, None),
        Schema::TimestampMillis | Schema::LocalTimestampMillis => (Kind::TimestampMillis, None),
        _ => return None,
    })
}

/// How many payload leaves (cells) a reader type contributes: the leaves [`plan_for`] collects
/// for it, so the compiled resolution numbers its cells by the same walk as the reader layout.
pub(crate) fn leaf_count(schema: &Schema) -> usize {
    let mut leaves = Vec::new();
    // A reader schema's subtrees were planned without error when it loaded.
    let _ = plan_for(schema, "", None, false, &mut leaves);
    leaves.len()
}

fn plan_for(
    schema: &Schema,
    prefix: &str,
    pii: Option<Pii>,
    in_array: bool,
    leaves: &mut Vec<Leaf>,
) -> std::result::Result<Plan, String> {
    match schema {
        Schema::Record(record) => {
            let mut plans = Vec::with_capacity(record.fields.len());
            for field in &record.fields {
                let name = if prefix.is_empty() {
                    field.name.clone()
                } else {
                    format!("{prefix}_{}", field.name)
                };
                let own = pii_of(field)?;
                let field_groups = groups_of(field, own)?;
                let field_pii = own.or(pii);
                let start = leaves.len();
                plans.push(plan_for(&field.schema, &name, field_pii, in_array, leaves)?);
                if let Some(groups) = field_groups {
                    for leaf in &mut leaves[start..] {
                        let symbols = leaf.symbols.as_deref().unwrap_or_default();
                        if let Some(unknown) = groups.keys().find(|k| !symbols.contains(k)) {
                            return Err(format!(
                                "field `{}`: generalise_to names `{unknown}`, not a symbol of its enum",
                                field.name
                            ));
                        }
                        leaf.groups = Some(groups.clone());
                    }
                }
            }
            Ok(Plan::Record(plans))
        }
        Schema::Union(union) => {
            let variants = union.variants();
            let null_index = variants.iter().position(|v| matches!(v, Schema::Null));
            match (variants.len(), null_index) {
                (2, Some(null_index)) => {
                    let inner_schema = &variants[1 - null_index];
                    let start = leaves.len();
                    let inner = plan_for(inner_schema, prefix, pii, in_array, leaves)?;
                    for leaf in &mut leaves[start..] {
                        leaf.nullable = true;
                    }
                    Ok(Plan::Nullable {
                        null_index: null_index as u32,
                        inner: Box::new(inner),
                        leaves: start..leaves.len(),
                    })
                }
                _ => Err(format!(
                    "`{prefix}`: only [\"null\", T] unions are supported"
                )),
            }
        }
        Schema::Array(array) if !in_array => {
            let start = leaves.len();
            match &*array.items {
                Schema::Record(_) => {
                    let inner = plan_for(&array.items, prefix, pii, true, leaves)?;
                    Ok(Plan::ArrayOfRecords {
                        inner: Box::new(inner),
                        leaves: start..leaves.len(),
                    })
                }
                items => {
                    let inner = plan_for(items, prefix, pii, true, leaves)?;
                    Ok(Plan::ArrayOfRecords {
                        inner: Box::new(inner),
                        leaves: start..leaves.len(),
                    })
                }
            }
        }
        Schema::Array(_) => Err(format!(
            "`{prefix}`: arrays inside arrays are not supported"
        )),
        Schema::Map(_) | Schema::Bytes | Schema::Fixed(_) | Schema::Decimal(_) | Schema::Null => {
            Ok(Plan::Skip)
        }
        Schema::Ref { name } => Err(format!(
            "`{prefix}`: named type reference {name} is not supported; inline the type"
        )),
        other => match leaf_kind(other) {
            Some((kind, symbols)) => {
                leaves.push(Leaf {
                    name: prefix.to_string(),
                    kind,
                    nullable: false,
                    array: in_array,
                    pii,
                    symbols,
                    groups: None,
                });
                Ok(Plan::Leaf(leaves.len() - 1))
            }
            None => Ok(Plan::Skip),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn epoch_days_are_the_calendar_days() {
        use super::{day_from_epoch_days, Scalar};
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
        for days in [-800_000i64, -1, 0, 1, 19_000, 20_454, 2_000_000] {
            let expected = epoch.checked_add_signed(chrono::Duration::days(days));
            assert_eq!(day_from_epoch_days(days), expected, "{days}");
        }
        // The day number date rules compare is the day as_day gives, for every cell kind.
        let cells = [
            Scalar::Date(-3),
            Scalar::Date(20_454),
            Scalar::Ts(-1),
            Scalar::Ts(-86_400_000),
            Scalar::Ts(1_767_225_599_999),
            Scalar::Str("2025-12-31".into()),
            Scalar::Str("31/12/2025".into()),
            Scalar::Int(3),
        ];
        for cell in cells {
            let expected = cell.as_day().map(|d| (d - epoch).num_days());
            assert_eq!(cell.epoch_day(), expected, "{cell:?}");
        }
    }

    #[test]
    fn ascii_cased_maps_ascii_letters_in_the_buffer_or_declines() {
        use super::ascii_cased;
        let mut buf = [0u8; 8];
        assert_eq!(ascii_cased("d02x285", &mut buf, true), Some("D02X285"));
        assert_eq!(
            ascii_cased("Rough-Sleeper", &mut [0u8; 16], false),
            Some("rough-sleeper")
        );
        // Non-ASCII letters are left as they are (still valid UTF-8).
        assert_eq!(ascii_cased("é1a", &mut buf, true), Some("é1A"));
        assert_eq!(ascii_cased("too long for it", &mut buf, true), None);
        assert_eq!(ascii_cased("", &mut buf, false), Some(""));
    }

    /// The pii lint: every platform schema (current and v2) loads, so every field of each
    /// declares `pii`; a field without it makes the schema fail to load, naming the field.
    #[test]
    fn every_platform_schema_declares_pii_on_every_field() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut checked = 0;
        for dir in [repo.join("schemas"), repo.join("schemas/v2")] {
            for entry in std::fs::read_dir(&dir).expect("schemas dir") {
                let path = entry.expect("entry").path();
                let Some(topic) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".avsc"))
                else {
                    continue;
                };
                let schema = ReaderSchema::load(&dir, topic)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(undeclared_pii(&schema.schema).is_empty());
                checked += 1;
            }
        }
        assert!(checked >= 8, "{checked} schemas checked");

        let dir = std::env::temp_dir().join(format!("lgma-pii-lint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let text = std::fs::read_to_string(repo.join("schemas/lgma.waste.return.avsc"))
            .expect("schema")
            .replacen("\"pii\": \"none\"", "\"doc_only\": \"x\"", 3);
        std::fs::write(dir.join("lgma.waste.return.avsc"), text).expect("write");
        let err = ReaderSchema::load(&dir, "lgma.waste.return")
            .expect_err("an untagged field fails closed")
            .to_string();
        assert!(
            err.contains("fields without a `pii` attribute: event_id, operation, entity_id"),
            "{err}"
        );
    }
    use super::*;
    use apache_avro::types::Value;
    use apache_avro::writer::datum::GenericDatumWriter;

    /// A small schema shaped like the council ones, used across this crate's unit tests.
    pub const TEST_SCHEMA: &str = r#"{
      "type": "record", "name": "TestEvent", "namespace": "lgma.test",
      "fields": [
        {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "operation", "type": {"type": "enum", "name": "Operation", "symbols": ["CREATE", "UPDATE", "DELETE"]}},
        {"name": "entity_id", "type": "string"},
        {"name": "entity_version", "type": "long"},
        {"name": "la_code", "type": "string"},
        {"name": "source_system", "type": "string"},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "published_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "payload", "type": ["null", {"type": "record", "name": "Person", "fields": [
          {"name": "ppsn", "type": ["null", "string"], "pii": "identifier"},
          {"name": "full_name", "type": "string", "pii": "name"},
          {"name": "date_of_birth", "type": ["null", {"type": "int", "logicalType": "date"}], "pii": "date_of_birth"},
          {"name": "address", "type": ["null", "string"], "pii": "address"},
          {"name": "notes", "type": ["null", "string"], "pii": "free_text"},
          {"name": "gender", "type": "string"},
          {"name": "adults", "type": "int"},
          {"name": "presented_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
          {"name": "site", "type": {"type": "record", "name": "Site", "fields": [
            {"name": "eircode", "type": ["null", "string"]},
            {"name": "floor_area", "type": ["null", "double"]}
          ]}},
          {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}
        ]}], "default": null}
      ]
    }"#;

    #[test]
    fn flattens_nested_records_and_keeps_pii_tags() {
        let rs = ReaderSchema::parse("lgma.test.person", TEST_SCHEMA).expect("parses");
        let names: Vec<_> = rs.leaves.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ppsn",
                "full_name",
                "date_of_birth",
                "address",
                "notes",
                "gender",
                "adults",
                "presented_at",
                "site_eircode",
                "site_floor_area",
                "tags"
            ]
        );
        assert_eq!(rs.leaves[0].pii, Some(Pii::Identifier));
        assert!(rs.leaves[0].nullable);
        assert_eq!(rs.leaves[1].pii, Some(Pii::Name));
        assert_eq!(rs.leaves[2].kind, Kind::Date);
        assert_eq!(rs.leaves[5].pii, None);
        assert!(rs.leaves[10].array);
    }

    /// `main_need`'s health and disability grounds are stored as one group; a `generalised` field
    /// without its map, or naming a symbol its enum does not have, stops the schema loading.
    #[test]
    fn generalised_fields_carry_their_groups_and_fail_closed() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let topic = "lgma.housing.need-assessment";
        let text = std::fs::read_to_string(repo.join(format!("schemas/{topic}.avsc")))
            .expect("schema file");
        let rs = ReaderSchema::parse(topic, &text).expect("parses");
        let leaf = &rs.leaves[rs.leaf_index("main_need").expect("main_need")];
        assert_eq!(leaf.pii, Some(Pii::Generalised));
        let groups = leaf.groups.as_ref().expect("groups");
        assert_eq!(groups.len(), 6);
        assert!(groups.values().all(|g| g == "DISABILITY_OR_MEDICAL"));
        assert_eq!(
            groups.get("MENTAL_HEALTH_DISABILITY").map(String::as_str),
            Some("DISABILITY_OR_MEDICAL")
        );
        assert!(!groups.contains_key("OVERCROWDED"));

        let typo = text.replace(
            r#""SENSORY_DISABILITY": "DISABILITY_OR_MEDICAL""#,
            r#""SENSORY_DISABILTY": "DISABILITY_OR_MEDICAL""#,
        );
        let err = ReaderSchema::parse(topic, &typo).expect_err("unknown symbol");
        assert!(err.to_string().contains("SENSORY_DISABILTY"), "{err}");
        let start = text.find(r#""generalise_to""#).expect("map");
        let end = start + text[start..].find('}').expect("end of map") + 1;
        let without = format!("{}\"x_note\": 1{}", &text[..start], &text[end..]);
        let err = ReaderSchema::parse(topic, &without).expect_err("no map");
        assert!(err.to_string().contains("generalise_to"), "{err}");
    }

    #[test]
    fn rejects_schema_without_envelope() {
        let err = ReaderSchema::parse(
            "x",
            r#"{"type":"record","name":"X","fields":[{"name":"a","type":"string"}]}"#,
        )
        .expect_err("no envelope");
        assert!(err.to_string().contains("event_id"));
    }

    /// An older writer of TEST_SCHEMA: no `tags` (the reader defaults it to []), no pii tags, an
    /// extra payload field `secret_extra` and, with `trailer`, a top-level field after the payload.
    pub(crate) fn old_writer_schema(trailer: bool) -> Schema {
        let mut text = TEST_SCHEMA
            .replace(
                r#",
          {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}"#,
                r#",
          {"name": "secret_extra", "type": "string"}"#,
            )
            .replace(r#""pii": "identifier""#, r#""doc": "no tag in the writer""#);
        if trailer {
            text = text.replace(
                r#"], "default": null}
      ]"#,
                r#"], "default": null},
        {"name": "trailer", "type": {"type": "map", "values": "long"}}
      ]"#,
            );
        }
        Schema::parse_str(&text).expect("old writer schema")
    }

    /// An envelope of TEST_SCHEMA around `payload` (None: a delete); `extra` appends a top-level
    /// `trailer` field only an old writer has.
    pub(crate) fn event(payload: Option<Value>, extra: bool) -> Value {
        let mut fields = vec![
            (
                "event_id".to_string(),
                Value::Uuid(uuid::Uuid::from_u128(0x1234)),
            ),
            ("operation".into(), Value::Enum(1, "UPDATE".into())),
            ("entity_id".into(), Value::String("E1".into())),
            ("entity_version".into(), Value::Long(3)),
            ("la_code".into(), Value::String("DC".into())),
            ("source_system".into(), Value::String("test".into())),
            (
                "occurred_at".into(),
                Value::TimestampMillis(1_700_000_000_000),
            ),
            (
                "published_at".into(),
                Value::TimestampMillis(1_700_000_000_001),
            ),
        ];
        fields.push((
            "payload".into(),
            match payload {
                Some(p) => Value::Union(1, Box::new(p)),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ));
        if extra {
            fields.push(("trailer".into(), Value::Map(Default::default())));
        }
        Value::Record(fields)
    }

    /// A payload; `extra`: as an old writer sends it (no `tags`, an unknown `secret_extra`).
    pub(crate) fn payload(extra: bool) -> Value {
        let mut p = vec![
            (
                "ppsn".to_string(),
                Value::Union(1, Box::new(Value::String("6433435F".into()))),
            ),
            ("full_name".into(), Value::String("Mary".into())),
            (
                "date_of_birth".into(),
                Value::Union(1, Box::new(Value::Date(7000))),
            ),
            ("address".into(), Value::Union(0, Box::new(Value::Null))),
            (
                "notes".into(),
                Value::Union(1, Box::new(Value::String("n".into()))),
            ),
            ("gender".into(), Value::String("F".into())),
            ("adults".into(), Value::Int(2)),
            (
                "presented_at".into(),
                Value::TimestampMillis(1_700_000_000_000),
            ),
            (
                "site".into(),
                Value::Record(vec![
                    (
                        "eircode".into(),
                        Value::Union(1, Box::new(Value::String("D02X285".into()))),
                    ),
                    (
                        "floor_area".into(),
                        Value::Union(1, Box::new(Value::Double(12.5))),
                    ),
                ]),
            ),
        ];
        if extra {
            p.push(("secret_extra".into(), Value::String("leak".into())));
        } else {
            p.push((
                "tags".into(),
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            ));
        }
        Value::Record(p)
    }

    pub(crate) fn encode(schema: &Schema, v: Value) -> Vec<u8> {
        GenericDatumWriter::builder(schema)
            .build()
            .expect("writer")
            .write_value_to_vec(v)
            .expect("encodes")
    }
}
