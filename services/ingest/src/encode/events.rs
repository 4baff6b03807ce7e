//! The rows and messages of one record besides its entity row: the offset-of-record row
//! (`ingest_events`, one per consumed record), the quarantine row, the DLQ record and the enriched
//! event; and the `LOST` row of a gap.

use crate::decode::{ReaderSchema, Scalar, Text};
use crate::encode::row::{write_int, write_json_str, Cells};
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
    gap: &Gap,
    table: &str,
    rules_version: &str,
    ingested_s: i64,
    batch_id: &str,
) {
    let row = serde_json::json!({
        "topic": gap.topic, "partition": gap.partition, "offset": gap.last,
        "event_id": "", "entity_table": table,
        "entity_id": "", "entity_version": 0, "operation": "", "la_code": "",
        "verdict": LOST, "rule_ids": ["offset.gap"], "schema_id": 0,
        "rules_version": rules_version, "key_version": "",
        "occurred_at": 0, "published_at": 0, "ingested_at": ingested_s,
        "batch_id": batch_id, "lost_first": gap.first, "lost_records": gap.records(),
    });
    out.extend_from_slice(row.to_string().as_bytes());
    out.push(b'\n');
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

/// Appends one `ingest_events` JSONEachRow line, written directly (one per consumed record, so
/// no map per row).
pub fn write_event_row(out: &mut Vec<u8>, r: &EventRow<'_>) {
    str_field(out, "{\"topic\":", &r.raw.topic);
    int_field(out, ",\"partition\":", i64::from(r.raw.partition));
    int_field(out, ",\"offset\":", r.raw.offset);
    str_field(out, ",\"event_id\":", &r.env.event_id);
    str_field(out, ",\"entity_table\":", r.table);
    str_field(out, ",\"entity_id\":", &r.env.entity_id);
    int_field(out, ",\"entity_version\":", r.env.entity_version);
    str_field(out, ",\"operation\":", &r.env.operation);
    str_field(out, ",\"la_code\":", &r.env.la_code);
    str_field(out, ",\"verdict\":", r.verdict);
    list_field(out, ",\"rule_ids\":", r.rule_ids);
    int_field(out, ",\"schema_id\":", i64::from(r.schema_id));
    str_field(out, ",\"rules_version\":", r.rules_version);
    str_field(out, ",\"key_version\":", r.key_version);
    int_field(out, ",\"occurred_at\":", r.env.occurred_at);
    int_field(out, ",\"published_at\":", r.env.published_at);
    int_field(out, ",\"ingested_at\":", r.ingested_s);
    str_field(out, ",\"batch_id\":", r.batch_id);
    str_field(out, ",\"replay_id\":", r.replay_id);
    out.extend_from_slice(b"}\n");
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
mod tests {
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
    fn event_rows_are_the_json_a_serializer_writes() {
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
        let mut out = Vec::new();
        write_event_row(
            &mut out,
            &EventRow {
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
                replay_id: "",
            },
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            parsed,
            serde_json::json!({
                "topic": raw.topic, "partition": 3, "offset": 42, "event_id": env.event_id,
                "entity_table": "tbl", "entity_id": "ent", "entity_version": -7,
                "operation": "UPSERT", "la_code": "DC", "verdict": "WARN",
                "rule_ids": ["a.b", "c"], "schema_id": 9, "rules_version": "2026.1",
                "key_version": "k1", "occurred_at": 1_700_000_000_123i64,
                "published_at": 1_700_000_000_456i64, "ingested_at": 1_700_000_001,
                "batch_id": "b", "replay_id": "",
            })
        );
    }
}
