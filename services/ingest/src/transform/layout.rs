//! The layout of one entity table, the single source of truth of its row: the columns of
//! `<table>_history` / `<table>_current` in order, each with where its value comes from (envelope,
//! provenance, a payload field as-is, a pseudonymised payload field, or enrichment). The transform
//! stage fills a row by it; the DDL, the RowBinary encoding and the enriched Avro schema
//! (`encode::row`) are all generated from it, so they cannot drift apart. Personal fields only
//! appear in their transformed form.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::decode::schema::{Kind, Leaf, Pii, ReaderSchema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    UInt8,
    UInt32,
    Int32,
    Int64,
    Float64,
    String,
    Date,
    DateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColType {
    pub base: Base,
    pub nullable: bool,
    pub array: bool,
}

impl ColType {
    pub fn plain(base: Base) -> Self {
        Self {
            base,
            nullable: false,
            array: false,
        }
    }
    pub fn nullable(base: Base) -> Self {
        Self {
            base,
            nullable: true,
            array: false,
        }
    }
    pub fn array(base: Base) -> Self {
        Self {
            base,
            nullable: false,
            array: true,
        }
    }

    /// The type of an array column's items (the column's own type otherwise).
    pub fn item(&self) -> Self {
        Self {
            array: false,
            ..self.clone()
        }
    }

    /// ClickHouse type, valid on 18.16 and current releases.
    pub fn clickhouse(&self) -> String {
        let base = match self.base {
            Base::UInt8 => "UInt8",
            Base::UInt32 => "UInt32",
            Base::Int32 => "Int32",
            Base::Int64 => "Int64",
            Base::Float64 => "Float64",
            Base::String => "String",
            Base::Date => "Date",
            Base::DateTime => "DateTime",
        };
        let inner = if self.nullable {
            format!("Nullable({base})")
        } else {
            base.to_string()
        };
        if self.array {
            format!("Array({inner})")
        } else {
            inner
        }
    }

    /// Avro type for the enriched topic schema.
    pub fn avro(&self) -> Json {
        let base = match self.base {
            Base::UInt8 => serde_json::json!("boolean"),
            Base::UInt32 | Base::Int32 => serde_json::json!("int"),
            Base::Int64 => serde_json::json!("long"),
            Base::Float64 => serde_json::json!("double"),
            Base::String => serde_json::json!("string"),
            Base::Date => serde_json::json!({"type": "int", "logicalType": "date"}),
            Base::DateTime => {
                serde_json::json!({"type": "long", "logicalType": "timestamp-millis"})
            }
        };
        let inner = if self.nullable {
            serde_json::json!(["null", base])
        } else {
            base
        };
        if self.array {
            serde_json::json!({"type": "array", "items": inner})
        } else {
            inner
        }
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Provenance and verdict columns, filled by the pipeline (see `Common`).
    Common(usize),
    /// A non-personal payload field, as validated (enums canonicalised, Eircodes compacted).
    Leaf(usize),
    /// identifier -> keyed HMAC.
    Pseudonym(usize),
    /// date_of_birth -> age band at the event date.
    AgeBand(usize),
    /// address -> Eircode routing key.
    RoutingKey(usize),
    /// location -> the coordinate of its 1 km grid square (south-west corner, metres).
    Grid(usize),
    /// generalised -> the symbol's group (same column name: a report's categories, coarser).
    Generalised(usize, crate::decode::schema::Groups),
    /// Reference data (region, NUTS3, population), in `enrich::reference_columns` order.
    Reference(usize),
    /// Derived measure, in `Enricher::columns` order.
    Derived(usize),
}

/// The parts a record's row is read from when it is encoded (`transform::Row`), in the order of
/// its `parts` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Provenance and verdict cells (`common_columns`).
    Common,
    /// The record's validated payload cells, as decoded.
    Payload,
    /// Cells made from payload cells: pseudonymised or generalised, in layout order.
    Made,
    Reference,
    Derived,
}

/// Where a column's cell is: which part of the record's row, at which index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub part: Part,
    pub index: usize,
}

impl Source {
    /// A column's slot, `made` counting the columns made from payload cells before it.
    fn slot(&self, made: &mut usize) -> Slot {
        let (part, index) = match self {
            Source::Common(i) => (Part::Common, *i),
            Source::Leaf(i) => (Part::Payload, *i),
            Source::Reference(i) => (Part::Reference, *i),
            Source::Derived(i) => (Part::Derived, *i),
            Source::Pseudonym(_)
            | Source::AgeBand(_)
            | Source::RoutingKey(_)
            | Source::Grid(_)
            | Source::Generalised(..) => {
                *made += 1;
                (Part::Made, *made - 1)
            }
        };
        Slot { part, index }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub source: Source,
}

#[cfg(test)]
impl Column {
    /// A payload column `name` of type `ty` (for tests that build a layout by hand).
    pub(crate) fn leaf(name: &str, ty: ColType) -> Self {
        Self {
            name: name.into(),
            ty,
            source: Source::Leaf(0),
        }
    }
}

/// Provenance, envelope and verdict columns at the head of every entity table, in order.
pub fn common_columns() -> Vec<(&'static str, ColType)> {
    use Base::*;
    vec![
        ("topic", ColType::plain(String)),
        ("partition", ColType::plain(Int32)),
        ("offset", ColType::plain(Int64)),
        ("schema_id", ColType::plain(UInt32)),
        ("rules_version", ColType::plain(String)),
        ("key_version", ColType::plain(String)),
        ("ingested_at", ColType::plain(DateTime)),
        ("event_id", ColType::plain(String)),
        ("operation", ColType::plain(String)),
        ("entity_id", ColType::plain(String)),
        ("entity_version", ColType::plain(Int64)),
        ("la_code", ColType::plain(String)),
        ("source_system", ColType::plain(String)),
        ("occurred_at", ColType::plain(Int64)),
        ("published_at", ColType::plain(Int64)),
        ("is_deleted", ColType::plain(UInt8)),
        ("verdict", ColType::plain(String)),
        ("rule_ids", ColType::array(String)),
    ]
}

fn leaf_type(leaf: &Leaf) -> ColType {
    let base = match leaf.kind {
        Kind::Bool => Base::UInt8,
        Kind::Int => Base::Int32,
        Kind::Long | Kind::TimestampMillis => Base::Int64,
        Kind::Float | Kind::Double => Base::Float64,
        Kind::Str => Base::String,
        Kind::Date => Base::Date,
    };
    // Payload columns are Nullable: a DELETE carries no payload at all.
    ColType {
        base,
        nullable: true,
        array: leaf.array,
    }
}

/// The columns of one entity table.
#[derive(Debug, Clone)]
pub struct Layout {
    pub table: String,
    pub columns: Vec<Column>,
    /// The INSERT's column list, `(`a`, `b`, ...)`, rendered once: RowBinary is positional, so
    /// every INSERT names the columns its rows are in (a table may have more, which then take
    /// their defaults).
    pub insert_columns: Arc<str>,
    /// Each column's slot (same order as `columns`).
    pub slots: Vec<Slot>,
}

impl Layout {
    pub fn new(
        table: &str,
        schema: &ReaderSchema,
        reference: Vec<(String, ColType)>,
        derived: &[(String, ColType)],
    ) -> Self {
        let mut columns: Vec<Column> = common_columns()
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty))| Column {
                name: name.into(),
                ty,
                source: Source::Common(i),
            })
            .collect();
        for (i, leaf) in schema.leaves.iter().enumerate() {
            let pseudo = |suffix: &str, source: Source| Column {
                name: format!("{}_{suffix}", leaf.name),
                ty: ColType {
                    base: Base::String,
                    nullable: true,
                    array: leaf.array,
                },
                source,
            };
            match leaf.pii {
                None => columns.push(Column {
                    name: leaf.name.clone(),
                    ty: leaf_type(leaf),
                    source: Source::Leaf(i),
                }),
                Some(Pii::Identifier) => columns.push(pseudo("pseudo", Source::Pseudonym(i))),
                Some(Pii::DateOfBirth) => columns.push(pseudo("age_band", Source::AgeBand(i))),
                Some(Pii::Address) => columns.push(pseudo("routing_key", Source::RoutingKey(i))),
                Some(Pii::Location) => columns.push(Column {
                    name: format!("{}_1km", leaf.name),
                    ty: leaf_type(leaf),
                    source: Source::Grid(i),
                }),
                Some(Pii::Generalised) => columns.push(Column {
                    name: leaf.name.clone(),
                    ty: leaf_type(leaf),
                    source: Source::Generalised(i, leaf.groups.clone().unwrap_or_default()),
                }),
                Some(Pii::Name) | Some(Pii::FreeText) | Some(Pii::SpecialCategory) => {}
            }
        }
        for (i, (name, ty)) in reference.into_iter().enumerate() {
            columns.push(Column {
                name,
                ty,
                source: Source::Reference(i),
            });
        }
        for (i, (name, ty)) in derived.iter().enumerate() {
            columns.push(Column {
                name: name.clone(),
                ty: ty.clone(),
                source: Source::Derived(i),
            });
        }
        Self::from_columns(table, columns)
    }

    /// The layout of `columns` as given.
    pub fn from_columns(table: &str, columns: Vec<Column>) -> Self {
        let names: Vec<String> = columns.iter().map(|c| format!("`{}`", c.name)).collect();
        let mut made = 0;
        Self {
            table: table.into(),
            insert_columns: format!("({})", names.join(", ")).into(),
            slots: columns.iter().map(|c| c.source.slot(&mut made)).collect(),
            columns,
        }
    }
}
