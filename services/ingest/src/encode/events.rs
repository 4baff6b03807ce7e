//! The rows and messages of one record besides its entity row: the offset-of-record row
//! (`ingest_events`, one per consumed record), the quarantine row, the DLQ record and the enriched
//! event; and the `LOST` row of a gap.

use std::collections::HashMap;

use crate::decode::{ReaderSchema, Scalar, Text};
use crate::encode::row::{column_mismatches, write_int, write_json_str, write_uvarint, Cells};
use crate::encode::{Headers, Key, Outgoing};
use crate::judge::validate::Envelope;
use crate::judge::Judged;
use crate::source::{Gap, RawRecord};
use crate::transform::layout::Layout;

/// The verdict of an offset-of-record row that stands for records the broker no longer holds.
pub const LOST: &str = "LOST";

/// The `ingest_events` row standing for a gap (migration 0208): one per missing range.
pub fn write_gap_row(
    out: &mut Vec<u8>,
    events: &EventsTable,
    gap: &Gap,
    table: &str,
    rules_version: &str,
    ingested_s: i64,
    batch_id: &str,
) {
    let raw = RawRecord {
        topic: Text::new(&gap.topic),
        partition: gap.partition,
        offset: gap.last,
        key: None,
        value: None,
    };
    let row = EventRow {
        raw: &raw,
        env: &Envelope::default(),
        table,
        verdict: LOST,
        rule_ids: &["offset.gap"],
        schema_id: 0,
        rules_version,
        key_version: "",
        ingested_s,
        batch_id,
        replay_id: "",
    };
    write_row(out, events, &row, (gap.first, gap.records()));
}

/// The DLQ record of a quarantined event: its raw key and value, the verdict in headers.
pub fn dlq_record(
    dlq_topic: &Text,
    rules_version: &str,
    j: &Judged<'_>,
    rule_ids: &[&str],
    messages: &[&str],
    replay_id: &str,
) -> Outgoing {
    let mut headers = vec![
        ("lgma.reason", Text::from(rule_ids.join(","))),
        ("lgma.message", Text::from(messages.join(" | "))),
        ("lgma.source.topic", Text::new(&j.raw.topic)),
        (
            "lgma.source.partition",
            Text::from(j.raw.partition.to_string()),
        ),
        ("lgma.source.offset", Text::from(j.raw.offset.to_string())),
        ("lgma.rules_version", Text::new(rules_version)),
    ];
    if !replay_id.is_empty() {
        headers.push(("lgma.replay_id", Text::new(replay_id)));
    }
    if let Some(detail) = &j.dlq_detail {
        headers.push(("lgma.detail", Text::new(detail)));
    }
    Outgoing {
        topic: dlq_topic.clone(),
        key: j.raw.key.as_deref().map(|k| Key::Raw(k.to_vec())),
        value: j.raw.value.as_deref().map(<[u8]>::to_vec),
        headers: Headers::List(headers),
    }
}

/// The enriched event of an accepted row: Confluent-framed with the enriched schema `id`.
pub fn enriched_message(
    topic: &Text,
    layout: &Layout,
    id: u32,
    j: &Judged<'_>,
    cells: &impl Cells,
    with_headers: bool,
) -> Outgoing {
    // Confluent framing header, then the record written straight from the cells.
    let mut value = Vec::with_capacity(512);
    lgma_core::framing::encode_into(id, &[], &mut value);
    layout.write_avro(cells, &mut value);
    Outgoing {
        topic: topic.clone(),
        key: Some(Key::Text(j.env.entity_id.clone())),
        value: Some(value),
        headers: if with_headers {
            Headers::Event {
                event_id: j.env.event_id.clone(),
                la_code: j.env.la_code.clone(),
            }
        } else {
            Headers::List(Vec::new())
        },
    }
}

/// The offset-of-record columns both events tables share, in the order [`write_event_row`] writes
/// them; each table adds its own last columns ([`EventsTable`]).
macro_rules! event_columns {
    () => {
        "topic, partition, offset, event_id, entity_table, entity_id, entity_version, operation, \
         la_code, verdict, rule_ids, schema_id, rules_version, key_version, occurred_at, \
         published_at, ingested_at, batch_id"
    };
}

/// Where a batch's verdicts go, and the columns of its RowBinary rows in the order they are
/// written. RowBinary, not JSONEachRow: one row per consumed record, so its encoding was ~8 % of
/// the chain's time as JSON, and ClickHouse parsed that JSON on the same cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsTable {
    pub name: &'static str,
    /// The INSERT's column list, in parentheses.
    pub columns: &'static str,
    /// Live rows end with the gap columns (migration 0208), a replay's with its id.
    ends_with_replay_id: bool,
}

impl EventsTable {
    /// `ingest_events`, the offset of record (live ingest).
    pub const OFFSET_OF_RECORD: Self = Self {
        name: "ingest_events",
        columns: concat!("(", event_columns!(), ", lost_first, lost_records)"),
        ends_with_replay_id: false,
    };
    /// `ingest_replay_events`, a replay's verdicts (the offset of record is never rewritten).
    pub const REPLAY: Self = Self {
        name: "ingest_replay_events",
        columns: concat!("(", event_columns!(), ", replay_id)"),
        ends_with_replay_id: true,
    };

    /// The column names, in the order they are written.
    pub fn column_names(&self) -> impl Iterator<Item = &'static str> {
        self.columns.trim_matches(['(', ')']).split(", ")
    }

    /// How the table's columns (`found`: name -> type, from `system.columns`) differ from what
    /// these rows write. RowBinary carries no types: a column of another width would shift every
    /// value after it, so a difference refuses the write, as for the entity tables.
    pub fn mismatches(&self, found: Option<&HashMap<String, String>>) -> Vec<String> {
        let expected = self.column_names().map(|name| (name, column_type(name)));
        column_mismatches(self.name, found, expected, "lgma-ingest")
    }

    /// Whether these are a replay's rows (`REPLAY`) rather than the offset of record.
    pub(crate) fn is_replay(&self) -> bool {
        self.ends_with_replay_id
    }

    /// The table's own last columns: `lost` = (lost_first, lost_records), or the replay id.
    fn write_tail(&self, out: &mut Vec<u8>, lost: (i64, u64), replay_id: &str) {
        if self.ends_with_replay_id {
            binary_str(out, replay_id);
        } else {
            out.extend_from_slice(&lost.0.to_le_bytes());
            out.extend_from_slice(&lost.1.to_le_bytes());
        }
    }
}

/// One `ingest_events` row's values.
pub struct EventRow<'a> {
    pub raw: &'a RawRecord,
    pub env: &'a Envelope,
    pub table: &'a str,
    pub verdict: &'a str,
    pub rule_ids: &'a [&'a str],
    pub schema_id: u32,
    pub rules_version: &'a str,
    pub key_version: &'a str,
    pub ingested_s: i64,
    pub batch_id: &'a str,
    pub replay_id: &'a str,
}

/// Appends one offset-of-record row in RowBinary, in the order of `events.columns`.
pub fn write_event_row(out: &mut Vec<u8>, events: &EventsTable, r: &EventRow<'_>) {
    write_row(out, events, r, (0, 0));
}

/// A record's row or a gap's: `lost` = (lost_first, lost_records), zero for a record.
fn write_row(out: &mut Vec<u8>, events: &EventsTable, r: &EventRow<'_>, lost: (i64, u64)) {
    binary_str(out, &r.raw.topic);
    out.extend_from_slice(&r.raw.partition.to_le_bytes());
    out.extend_from_slice(&r.raw.offset.to_le_bytes());
    binary_str(out, &r.env.event_id);
    binary_str(out, r.table);
    binary_str(out, &r.env.entity_id);
    out.extend_from_slice(&r.env.entity_version.to_le_bytes());
    binary_str(out, &r.env.operation);
    binary_str(out, &r.env.la_code);
    binary_str(out, r.verdict);
    binary_list(out, r.rule_ids);
    out.extend_from_slice(&r.schema_id.to_le_bytes());
    binary_str(out, r.rules_version);
    binary_str(out, r.key_version);
    out.extend_from_slice(&r.env.occurred_at.to_le_bytes());
    out.extend_from_slice(&r.env.published_at.to_le_bytes());
    binary_datetime(out, r.ingested_s);
    binary_str(out, r.batch_id);
    events.write_tail(out, lost, r.replay_id);
}

/// The ClickHouse type each offset-of-record column is written as.
fn column_type(column: &str) -> &'static str {
    match column {
        "partition" => "Int32",
        "offset" | "entity_version" | "occurred_at" | "published_at" | "lost_first" => "Int64",
        "rule_ids" => "Array(String)",
        "schema_id" => "UInt32",
        "ingested_at" => "DateTime",
        "lost_records" => "UInt64",
        _ => "String",
    }
}

/// A RowBinary `String`: its length, then its bytes.
fn binary_str(out: &mut Vec<u8>, s: &str) {
    write_uvarint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A RowBinary `Array(String)`.
fn binary_list(out: &mut Vec<u8>, values: &[&str]) {
    write_uvarint(values.len() as u64, out);
    for v in values {
        binary_str(out, v);
    }
}

/// A RowBinary `DateTime`: seconds since the epoch as a `UInt32` (clamped to its range).
fn binary_datetime(out: &mut Vec<u8>, seconds: i64) {
    let s = u32::try_from(seconds.max(0)).unwrap_or(u32::MAX);
    out.extend_from_slice(&s.to_le_bytes());
}

/// A JSON row's `key` (its punctuation included) and string value.
fn str_field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(key.as_bytes());
    write_json_str(value, out);
}

/// A JSON row's `key` and integer value.
fn int_field(out: &mut Vec<u8>, key: &str, value: i64) {
    out.extend_from_slice(key.as_bytes());
    write_int(value, out);
}

/// A JSON row's `key` and array of strings.
fn list_field(out: &mut Vec<u8>, key: &str, values: &[&str]) {
    out.extend_from_slice(key.as_bytes());
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(v, out);
    }
    out.push(b']');
}

/// One `ingest_quarantine` row's values.
pub struct QuarantineRow<'a, 'r> {
    pub j: &'a Judged<'r>,
    pub schema: &'a ReaderSchema,
    pub ingested_s: i64,
    pub rule_ids: &'a [&'a str],
    pub reasons: &'a [&'a str],
    pub rules_version: &'a str,
    pub dlq_topic: &'a str,
    pub replay_id: &'a str,
    pub status: &'a str,
}

/// Appends one `ingest_quarantine` JSONEachRow line, written directly like [`write_event_row`]
/// (each row was a `serde_json::Value` before: the 2 % of events quarantined cost ~3 % of the chain).
pub fn write_quarantine_row(out: &mut Vec<u8>, r: &QuarantineRow<'_, '_>) {
    let (raw, env) = (r.j.raw, &r.j.env);
    str_field(out, "{\"topic\":", &raw.topic);
    int_field(out, ",\"partition\":", i64::from(raw.partition));
    int_field(out, ",\"offset\":", raw.offset);
    int_field(out, ",\"ingested_at\":", r.ingested_s);
    int_field(out, ",\"schema_id\":", i64::from(r.j.schema_id));
    int_field(out, ",\"decoded\":", i64::from(r.j.decoded));
    str_field(out, ",\"event_id\":", &env.event_id);
    str_field(out, ",\"operation\":", &env.operation);
    str_field(out, ",\"entity_id\":", &env.entity_id);
    int_field(out, ",\"entity_version\":", env.entity_version);
    str_field(out, ",\"la_code\":", &env.la_code);
    str_field(out, ",\"source_system\":", &env.source_system);
    int_field(out, ",\"occurred_at\":", env.occurred_at);
    int_field(out, ",\"published_at\":", env.published_at);
    list_field(out, ",\"rule_ids\":", r.rule_ids);
    list_field(out, ",\"reasons\":", r.reasons);
    str_field(out, ",\"rules_version\":", r.rules_version);
    str_field(
        out,
        ",\"non_personal_fields\":",
        &non_personal_json(r.schema, &r.j.cells),
    );
    str_field(out, ",\"dlq_topic\":", r.dlq_topic);
    str_field(out, ",\"replay_id\":", r.replay_id);
    str_field(out, ",\"status\":", r.status);
    out.extend_from_slice(b"}\n");
}

/// The decodable non-personal payload fields of a quarantined event, as a JSON object string
/// (numbers as serde_json writes them: a non-finite float is `null`).
pub fn non_personal_json(schema: &ReaderSchema, cells: &[Scalar]) -> String {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for (leaf, cell) in schema.leaves.iter().zip(cells) {
        if leaf.pii.is_some() {
            continue;
        }
        let start = out.len();
        if start > 1 {
            out.push(b',');
        }
        write_json_str(&leaf.name, &mut out);
        out.push(b':');
        match cell {
            Scalar::Str(s) => write_json_str(s, &mut out),
            Scalar::Int(i) | Scalar::Ts(i) => write_int(*i, &mut out),
            Scalar::Date(d) => write_int(*d, &mut out),
            Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Scalar::Float(f) => {
                if serde_json::to_writer(&mut out, f).is_err() {
                    out.extend_from_slice(b"null");
                }
            }
            Scalar::Null | Scalar::List(_) => out.truncate(start),
        }
    }
    out.push(b'}');
    // Only complete UTF-8 strings and ASCII were written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::schema::Kind;

    /// What the quarantine row was before it was written directly: serde_json's maps.
    fn serialized_quarantine_row(r: &QuarantineRow<'_, '_>) -> serde_json::Value {
        let mut fields = serde_json::Map::new();
        for (leaf, cell) in r.schema.leaves.iter().zip(&r.j.cells) {
            let v = match cell {
                _ if leaf.pii.is_some() => continue,
                Scalar::Str(s) => serde_json::json!(s),
                Scalar::Int(i) | Scalar::Ts(i) => serde_json::json!(i),
                Scalar::Float(f) => serde_json::json!(f),
                Scalar::Bool(b) => serde_json::json!(b),
                Scalar::Date(d) => serde_json::json!(d),
                Scalar::Null | Scalar::List(_) => continue,
            };
            fields.insert(leaf.name.clone(), v);
        }
        let (j, env) = (r.j, &r.j.env);
        serde_json::json!({
            "topic": j.raw.topic, "partition": j.raw.partition, "offset": j.raw.offset,
            "ingested_at": r.ingested_s, "schema_id": j.schema_id,
            "decoded": u8::from(j.decoded),
            "event_id": env.event_id, "operation": env.operation,
            "entity_id": env.entity_id, "entity_version": env.entity_version,
            "la_code": env.la_code, "source_system": env.source_system,
            "occurred_at": env.occurred_at, "published_at": env.published_at,
            "rule_ids": r.rule_ids, "reasons": r.reasons,
            "rules_version": r.rules_version,
            "non_personal_fields": serde_json::Value::Object(fields).to_string(),
            "dlq_topic": r.dlq_topic,
            "replay_id": r.replay_id, "status": r.status,
        })
    }

    #[test]
    fn quarantine_rows_are_the_json_a_serializer_writes() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let schema = ReaderSchema::load(&repo.join("schemas"), "lgma.housing.dwelling-unit")
            .expect("the dwelling schema loads");
        // A cell of every kind, with text to escape, nulls and a non-finite float among them.
        let cells: Vec<Scalar> = schema
            .leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| match (i % 5, &leaf.kind) {
                (0, _) => Scalar::Null,
                (_, Kind::Str) => Scalar::Str(format!("v\"{i}\\\n\u{e9}").into()),
                (_, Kind::Bool) => Scalar::Bool(i % 2 == 0),
                (_, Kind::Float | Kind::Double) if i % 3 == 0 => Scalar::Float(f64::NAN),
                (_, Kind::Float | Kind::Double) => Scalar::Float(i as f64 / 7.0),
                (_, Kind::Date) => Scalar::Date(19_000 + i as i32),
                (_, Kind::TimestampMillis) => Scalar::Ts(1_700_000_000_000 + i as i64),
                (_, Kind::Int | Kind::Long) => Scalar::Int(-(i as i64)),
            })
            .collect();
        assert!(schema.leaves.iter().any(|l| l.pii.is_some()));
        let raw = RawRecord {
            topic: "lgma.housing.dwelling-unit".into(),
            partition: 2,
            offset: 77,
            key: None,
            value: None,
        };
        let j = Judged {
            raw: &raw,
            schema_id: 5,
            env: Envelope {
                event_id: "ev\t1".into(),
                entity_id: "D-1".into(),
                entity_version: 3,
                operation: "UPSERT".into(),
                la_code: "DC".into(),
                source_system: "sys".into(),
                occurred_at: 1_700_000_000_123,
                published_at: 1_700_000_000_456,
            },
            cells,
            has_payload: true,
            findings: Vec::new(),
            decoded: true,
            dlq_detail: None,
        };
        for (status, reasons) in [
            (
                "quarantined",
                &["field `x` out of range", "two \"quoted\""][..],
            ),
            ("released", &["released by replay r1"][..]),
        ] {
            let row = QuarantineRow {
                j: &j,
                schema: &schema,
                ingested_s: 1_700_000_001,
                rule_ids: &["range.x", "date.y"],
                reasons,
                rules_version: "2026.2",
                dlq_topic: "lgma.dlq",
                replay_id: "r1",
                status,
            };
            let mut out = Vec::new();
            write_quarantine_row(&mut out, &row);
            assert_eq!(out.last(), Some(&b'\n'));
            let parsed: serde_json::Value = serde_json::from_slice(&out).expect("json");
            assert_eq!(parsed, serialized_quarantine_row(&row));
        }
    }

    #[test]
    fn event_rows_read_back_as_the_values_written() {
        let raw = RawRecord {
            topic: "lgma.t\"x".into(),
            partition: 3,
            offset: 42,
            key: None,
            value: None,
        };
        let env = Envelope {
            event_id: "e\\1\n".into(),
            entity_id: "ent".into(),
            entity_version: -7,
            operation: "UPSERT".into(),
            la_code: "DC".into(),
            occurred_at: 1_700_000_000_123,
            published_at: 1_700_000_000_456,
            ..Envelope::default()
        };
        let row = |replay_id| EventRow {
            raw: &raw,
            env: &env,
            table: "tbl",
            verdict: "WARN",
            rule_ids: &["a.b", "c"],
            schema_id: 9,
            rules_version: "2026.1",
            key_version: "k1",
            ingested_s: 1_700_000_001,
            batch_id: "b",
            replay_id,
        };
        let common = serde_json::json!({
            "topic": raw.topic, "partition": 3, "offset": 42, "event_id": env.event_id,
            "entity_table": "tbl", "entity_id": "ent", "entity_version": -7,
            "operation": "UPSERT", "la_code": "DC", "verdict": "WARN",
            "rule_ids": ["a.b", "c"], "schema_id": 9, "rules_version": "2026.1",
            "key_version": "k1", "occurred_at": 1_700_000_000_123i64,
            "published_at": 1_700_000_000_456i64, "ingested_at": 1_700_000_001,
            "batch_id": "b",
        });
        let with = |extra: serde_json::Value| {
            let mut v = common.clone();
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };

        let mut live = Vec::new();
        write_event_row(&mut live, &EventsTable::OFFSET_OF_RECORD, &row(""));
        write_event_row(&mut live, &EventsTable::OFFSET_OF_RECORD, &row(""));
        let expected = with(serde_json::json!({"lost_first": 0, "lost_records": 0}));
        assert_eq!(
            read_event_rows(&live, &EventsTable::OFFSET_OF_RECORD),
            vec![expected.clone(), expected]
        );

        let mut replay = Vec::new();
        write_event_row(&mut replay, &EventsTable::REPLAY, &row("r-1"));
        assert_eq!(
            read_event_rows(&replay, &EventsTable::REPLAY),
            vec![with(serde_json::json!({"replay_id": "r-1"}))]
        );
    }

    #[test]
    fn a_gap_row_carries_its_range() {
        let gap = Gap {
            topic: "lgma.t".into(),
            partition: 1,
            first: 10,
            last: 14,
        };
        let mut out = Vec::new();
        write_gap_row(
            &mut out,
            &EventsTable::OFFSET_OF_RECORD,
            &gap,
            "tbl",
            "2026.1",
            1_700_000_001,
            "b",
        );
        let rows = read_event_rows(&out, &EventsTable::OFFSET_OF_RECORD);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (
                &r["offset"],
                &r["verdict"],
                &r["lost_first"],
                &r["lost_records"]
            ),
            (
                &serde_json::json!(14),
                &serde_json::json!(LOST),
                &serde_json::json!(10),
                &serde_json::json!(5)
            )
        );
        assert_eq!(r["rule_ids"], serde_json::json!(["offset.gap"]));
    }

    /// The RowBinary types the rows are written in are the tables' own, as the migrations create
    /// them: a column written in another width would shift every value after it.
    #[test]
    fn the_written_columns_have_the_tables_types() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../infra/clickhouse/migrations");
        let mut ddl = String::new();
        for name in [
            "0100_ingest_core.sql",
            "0117_ingest_replay.sql",
            "0208_ingest_loss.sql",
        ] {
            ddl.push_str(&std::fs::read_to_string(root.join(name)).expect("migration"));
        }
        for table in [EventsTable::OFFSET_OF_RECORD, EventsTable::REPLAY] {
            // The table's CREATE block and its ADD COLUMNs: "<name> <type>[ DEFAULT ...]".
            let create = format!("CREATE TABLE IF NOT EXISTS lgma.{}", table.name);
            let added = format!("ALTER TABLE lgma.{} ADD COLUMN ", table.name);
            let block = ddl.split(create.as_str()).nth(1).expect("CREATE TABLE");
            let block = block.split("\n)").next().unwrap_or_default();
            let declared: HashMap<String, String> = block
                .lines()
                .chain(ddl.lines().filter_map(|l| l.strip_prefix(added.as_str())))
                .filter_map(|l| {
                    let (name, ty) = l.trim().split_once(' ')?;
                    let ty = ty.split(" DEFAULT").next().unwrap_or(ty);
                    Some((
                        name.to_string(),
                        ty.trim_end_matches([',', ';']).to_string(),
                    ))
                })
                .collect();
            assert_eq!(table.mismatches(Some(&declared)), Vec::<String>::new());
        }
    }

    #[test]
    fn a_table_of_other_types_is_refused_with_each_difference_named() {
        let table = EventsTable::OFFSET_OF_RECORD;
        let mut found: HashMap<String, String> = table
            .column_names()
            .map(|c| (c.to_string(), column_type(c).to_string()))
            .collect();
        assert!(table.mismatches(Some(&found)).is_empty());
        found.insert("schema_id".into(), "UInt64".into());
        found.remove("lost_records");
        assert_eq!(
            table.mismatches(Some(&found)),
            vec![
                "ingest_events: column `schema_id` is UInt64, lgma-ingest writes UInt32"
                    .to_string(),
                "ingest_events: no column `lost_records` (UInt64)".to_string(),
            ]
        );
        assert_eq!(
            table.mismatches(None),
            vec!["table ingest_events does not exist".to_string()]
        );
    }

    /// Reads offset-of-record rows back from RowBinary, by `table.columns` and their types.
    pub(crate) fn read_event_rows(mut bytes: &[u8], table: &EventsTable) -> Vec<serde_json::Value> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (head, tail) = bytes.split_at(n);
            *bytes = tail;
            head
        }
        fn uvarint(bytes: &mut &[u8]) -> usize {
            let (mut n, mut shift) = (0usize, 0);
            loop {
                let b = take(bytes, 1)[0];
                n |= usize::from(b & 0x7f) << shift;
                if b < 0x80 {
                    return n;
                }
                shift += 7;
            }
        }
        fn string(bytes: &mut &[u8]) -> String {
            let n = uvarint(bytes);
            String::from_utf8(take(bytes, n).to_vec()).expect("utf-8")
        }
        let mut rows = Vec::new();
        while !bytes.is_empty() {
            let mut row = serde_json::Map::new();
            for column in table.column_names() {
                let mut fixed = |n| -> [u8; 8] {
                    let mut b = [0u8; 8];
                    b[..n].copy_from_slice(take(&mut bytes, n));
                    b
                };
                let value = match column_type(column) {
                    "Int32" => {
                        serde_json::json!(i32::from_le_bytes(fixed(4)[..4].try_into().expect("4")))
                    }
                    "UInt32" | "DateTime" => {
                        serde_json::json!(u32::from_le_bytes(fixed(4)[..4].try_into().expect("4")))
                    }
                    "Int64" => serde_json::json!(i64::from_le_bytes(fixed(8))),
                    "UInt64" => serde_json::json!(u64::from_le_bytes(fixed(8))),
                    "Array(String)" => {
                        let n = uvarint(&mut bytes);
                        serde_json::json!((0..n).map(|_| string(&mut bytes)).collect::<Vec<_>>())
                    }
                    _ => serde_json::json!(string(&mut bytes)),
                };
                row.insert(column.to_string(), value);
            }
            rows.push(serde_json::Value::Object(row));
        }
        rows
    }
}
