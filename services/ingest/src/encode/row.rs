//! The flattened ClickHouse row of one entity table, and its single source of truth: the layout.
//!
//! A layout lists the columns of `<table>_history` / `<table>_current` in order, each with where its
//! value comes from (envelope, provenance, a payload field as-is, a pseudonymised payload field, or
//! enrichment). The DDL, the JSONEachRow encoding and the enriched Avro schema are all generated from
//! it, so they cannot drift apart. Personal fields only appear in their transformed form.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::decode::schema::{Kind, Leaf, Pii, ReaderSchema, Scalar};

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
    /// Reference data (region, NUTS3, population), in `enrich::reference_columns` order.
    Reference(usize),
    /// Derived measure, in `Enricher::columns` order.
    Derived(usize),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub source: Source,
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
    /// `"name":` per column, rendered once (JSONEachRow keys are the same on every row).
    json_keys: Vec<String>,
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
        let json_keys = columns
            .iter()
            .map(|c| {
                let mut key = Vec::new();
                write_json_str(&c.name, &mut key);
                key.push(b':');
                String::from_utf8_lossy(&key).into_owned()
            })
            .collect();
        Self {
            table: table.into(),
            columns,
            json_keys,
        }
    }

    /// Appends one JSONEachRow line for `cells` (aligned with the columns), with the keys
    /// rendered at start-up.
    pub fn write_json_row(&self, cells: &[Scalar], out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, ((col, key), cell)) in self
            .columns
            .iter()
            .zip(&self.json_keys)
            .zip(cells)
            .enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key.as_bytes());
            write_json_cell(&col.ty, cell, out);
        }
        out.extend_from_slice(b"}\n");
    }

    /// Appends the Avro binary encoding of `cells` as a record of [`Layout::avro_schema`]:
    /// the same bytes apache-avro writes for `reference::avro_cell`'s values, without building them.
    pub fn write_avro(&self, cells: &[Scalar], out: &mut Vec<u8>) {
        for (col, cell) in self.columns.iter().zip(cells) {
            write_avro_cell(&col.ty, cell, out);
        }
        // Always a complete record (cells are built one per column; a missing one is null).
        for col in self.columns.iter().skip(cells.len()) {
            write_avro_cell(&col.ty, &Scalar::Null, out);
        }
    }

    /// `CREATE TABLE` statements for history and current state (see README: exactly once).
    pub fn ddl(&self, database: &str) -> String {
        let mut cols = String::new();
        for (i, c) in self.columns.iter().enumerate() {
            let sep = if i + 1 == self.columns.len() { "" } else { "," };
            let _ = writeln!(cols, "    `{}` {}{sep}", c.name, c.ty.clickhouse());
        }
        format!(
            "-- Generated by `lgma-ingest ddl` from the reader schema; regenerate, do not hand-edit.\n\
             -- History: every accepted/warned version, one row per Kafka record. Keyed by provenance, so a\n\
             -- batch re-inserted after a crash collapses on merge (read with FINAL).\n\
             CREATE TABLE IF NOT EXISTS {database}.{t}_history\n(\n{cols})\n\
             ENGINE = ReplacingMergeTree()\n\
             PARTITION BY toYYYYMM(toDateTime(intDiv(occurred_at, 1000)))\n\
             ORDER BY (topic, la_code, entity_id, entity_version, partition, offset);\n\n\
             -- Current state: the highest entity_version per entity wins, never the latest arrival.\n\
             -- Deletes are rows with is_deleted = 1; read with FINAL and filter them out.\n\
             CREATE TABLE IF NOT EXISTS {database}.{t}_current\n(\n{cols})\n\
             ENGINE = ReplacingMergeTree(entity_version)\n\
             ORDER BY (topic, la_code, entity_id);\n",
            t = self.table
        )
    }

    /// The enriched-topic Avro schema (same columns, same names).
    pub fn avro_schema(&self) -> Json {
        let fields: Vec<Json> = self
            .columns
            .iter()
            .map(|c| serde_json::json!({"name": c.name, "type": c.ty.avro()}))
            .collect();
        serde_json::json!({
            "type": "record",
            "name": format!("{}_enriched", self.table),
            "namespace": "ie.lgma.enriched",
            "doc": "Validated, enriched, pseudonymised event produced by lgma-ingest (no clear personal data).",
            "fields": fields,
        })
    }
}

pub(crate) fn write_json_cell(ty: &ColType, cell: &Scalar, out: &mut Vec<u8>) {
    match cell {
        Scalar::Null if ty.array => out.extend_from_slice(b"[]"),
        Scalar::Null if !ty.nullable => match ty.base {
            Base::String => out.extend_from_slice(b"\"\""),
            Base::Date => out.extend_from_slice(b"\"1970-01-01\""),
            _ => out.push(b'0'),
        },
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        // DateTime cells carry epoch milliseconds; ClickHouse's DateTime takes seconds.
        Scalar::Int(i) | Scalar::Ts(i) if ty.base == Base::DateTime => {
            let _ = write!(DisplayBuf(out), "{}", i.div_euclid(1000));
        }
        Scalar::Int(i) | Scalar::Ts(i) => {
            let _ = write!(DisplayBuf(out), "{i}");
        }
        Scalar::Float(f) if f.is_finite() => {
            let _ = write!(DisplayBuf(out), "{f}");
        }
        Scalar::Float(_) => out.extend_from_slice(b"null"),
        Scalar::Str(s) => write_json_str(s, out),
        Scalar::Date(d) => match crate::decode::schema::day_from_epoch_days(i64::from(*d)) {
            Some(day) => {
                use chrono::Datelike as _;
                let _ = write!(
                    DisplayBuf(out),
                    "\"{:04}-{:02}-{:02}\"",
                    day.year(),
                    day.month(),
                    day.day()
                );
            }
            None => out.extend_from_slice(b"\"1970-01-01\""),
        },
        Scalar::List(items) => {
            out.push(b'[');
            let item_ty = ColType {
                array: false,
                ..ty.clone()
            };
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_cell(&item_ty, item, out);
            }
            out.push(b']');
        }
    }
}

/// A JSON string literal; the common case (nothing to escape) is a plain copy.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Avro `long`/`int`: zig-zag varint.
fn write_avro_long(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// One cell in the enriched schema's Avro encoding; mirrors `reference::avro_cell` case by case.
fn write_avro_cell(ty: &ColType, cell: &Scalar, out: &mut Vec<u8>) {
    if ty.array {
        let item_ty = ColType {
            array: false,
            ..ty.clone()
        };
        if let Scalar::List(items) = cell {
            if !items.is_empty() {
                write_avro_long(items.len() as i64, out);
                for item in items {
                    write_avro_cell(&item_ty, item, out);
                }
            }
        }
        out.push(0); // end of blocks
        return;
    }
    // The value's own encoding, or None (null / a mismatched cell).
    let start = out.len();
    if ty.nullable {
        out.push(2); // union branch 1 (zig-zag of 1), fixed up below when null
    }
    let wrote = match (ty.base, cell) {
        (_, Scalar::Null) => false,
        (Base::UInt8, Scalar::Bool(b)) => {
            out.push(u8::from(*b));
            true
        }
        (Base::UInt8, Scalar::Int(i)) => {
            out.push(u8::from(*i != 0));
            true
        }
        (Base::UInt32 | Base::Int32, Scalar::Int(i)) => {
            write_avro_long(i64::from(*i as i32), out);
            true
        }
        (Base::Int64 | Base::DateTime, Scalar::Int(i) | Scalar::Ts(i)) => {
            write_avro_long(*i, out);
            true
        }
        (Base::Float64, Scalar::Float(f)) => {
            out.extend_from_slice(&f.to_le_bytes());
            true
        }
        (Base::Float64, Scalar::Int(i)) => {
            out.extend_from_slice(&(*i as f64).to_le_bytes());
            true
        }
        (Base::String, Scalar::Str(s)) => {
            write_avro_long(s.len() as i64, out);
            out.extend_from_slice(s.as_bytes());
            true
        }
        (Base::Date, Scalar::Date(d)) => {
            write_avro_long(i64::from(*d), out);
            true
        }
        _ => false,
    };
    if wrote {
        return;
    }
    out.truncate(start);
    if ty.nullable {
        out.push(0); // union branch 0: null
        return;
    }
    match ty.base {
        Base::UInt8 => out.push(0),
        Base::UInt32 | Base::Int32 | Base::Date | Base::Int64 | Base::DateTime => out.push(0),
        Base::Float64 => out.extend_from_slice(&0f64.to_le_bytes()),
        Base::String => out.push(0),
    }
}

struct DisplayBuf<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for DisplayBuf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::schema::tests::TEST_SCHEMA;
    use crate::encode::reference::{avro_cell, write_json_row};

    #[test]
    fn personal_fields_only_in_transformed_form() {
        let schema = ReaderSchema::parse("lgma.test.person", TEST_SCHEMA).expect("schema");
        let layout = Layout::new(
            "test_person",
            &schema,
            crate::transform::enrich::reference_columns(),
            &[],
        );
        let names: Vec<_> = layout.columns.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"ppsn_pseudo"));
        assert!(names.contains(&"date_of_birth_age_band"));
        assert!(names.contains(&"address_routing_key"));
        for dropped in ["ppsn", "full_name", "notes", "date_of_birth", "address"] {
            assert!(!names.contains(&dropped), "{dropped} must not be a column");
        }
        assert!(names.contains(&"gender"));
        assert!(names.contains(&"site_eircode"));
        let ddl = layout.ddl("lgma");
        assert!(ddl.contains("`tags` Array(Nullable(String))"));
        assert!(ddl.contains("ReplacingMergeTree(entity_version)"));
        // The enriched schema is valid Avro.
        apache_avro::Schema::parse(&layout.avro_schema()).expect("valid avro");
    }

    /// `write_avro` gives exactly apache-avro's bytes for `avro_cell`'s values, including nulls
    /// in non-nullable columns, mismatched cells, promotions and (nullable) arrays.
    #[test]
    fn direct_avro_matches_the_generic_writer() {
        let types = [
            ColType::plain(Base::UInt8),
            ColType::plain(Base::Int32),
            ColType::plain(Base::UInt32),
            ColType::plain(Base::Int64),
            ColType::plain(Base::Float64),
            ColType::plain(Base::String),
            ColType::plain(Base::Date),
            ColType::plain(Base::DateTime),
            ColType::nullable(Base::UInt8),
            ColType::nullable(Base::Int32),
            ColType::nullable(Base::Int64),
            ColType::nullable(Base::Float64),
            ColType::nullable(Base::String),
            ColType::nullable(Base::Date),
            ColType::nullable(Base::DateTime),
            ColType::array(Base::String),
            ColType {
                base: Base::Int64,
                nullable: true,
                array: true,
            },
        ];
        let cells = [
            Scalar::Null,
            Scalar::Bool(true),
            Scalar::Int(0),
            Scalar::Int(-1),
            Scalar::Int(1 << 40),
            Scalar::Int(i64::MIN),
            Scalar::Float(2.5),
            Scalar::Float(f64::NAN),
            Scalar::Str(String::new()),
            Scalar::Str("Baile Átha Cliath \"x\"".into()),
            Scalar::Date(-3),
            Scalar::Date(20_000),
            Scalar::Ts(1_700_000_000_000),
            Scalar::List(vec![]),
            Scalar::List(vec![Scalar::Str("a".into()), Scalar::Null, Scalar::Int(5)]),
        ];
        let mut compared = 0;
        for (n, ty) in types.iter().enumerate() {
            for cell in &cells {
                let columns = vec![
                    Column {
                        name: "c".into(),
                        ty: ty.clone(),
                        source: Source::Leaf(0),
                    },
                    Column {
                        name: "d".into(),
                        ty: ColType::plain(Base::Int64),
                        source: Source::Leaf(1),
                    },
                ];
                let layout = Layout {
                    table: format!("t{n}"),
                    json_keys: vec!["\"c\":".into(), "\"d\":".into()],
                    columns,
                };
                let schema = apache_avro::Schema::parse(&layout.avro_schema()).expect("schema");
                let row = [cell.clone(), Scalar::Int(7)];
                let value = apache_avro::types::Value::Record(
                    layout
                        .columns
                        .iter()
                        .zip(&row)
                        .map(|(c, v)| (c.name.clone(), avro_cell(&c.ty, v)))
                        .collect(),
                );
                let Ok(generic) = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
                    .build()
                    .and_then(|w| w.write_value_to_vec(value))
                else {
                    panic!("apache-avro refuses {ty:?} {cell:?}");
                };
                let mut direct = Vec::new();
                layout.write_avro(&row, &mut direct);
                assert_eq!(direct, generic, "{ty:?} {cell:?}");
                compared += 1;
            }
        }
        assert_eq!(compared, types.len() * cells.len());
    }

    #[test]
    fn json_cells() {
        let cols = vec![
            Column {
                name: "a".into(),
                ty: ColType::nullable(Base::Date),
                source: Source::Leaf(0),
            },
            Column {
                name: "b".into(),
                ty: ColType::array(Base::String),
                source: Source::Leaf(1),
            },
            Column {
                name: "c".into(),
                ty: ColType::plain(Base::String),
                source: Source::Leaf(2),
            },
        ];
        let mut out = Vec::new();
        write_json_row(
            &cols,
            &[Scalar::Date(1), Scalar::Null, Scalar::Str("x\"y".into())],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\"a\":\"1970-01-02\",\"b\":[],\"c\":\"x\\\"y\"}\n"
        );
    }
}
