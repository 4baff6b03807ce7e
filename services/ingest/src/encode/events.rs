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
    let str_field = |out: &mut Vec<u8>, key: &str, value: &str| {
        out.extend_from_slice(key.as_bytes());
        write_json_str(value, out);
    };
    let int_field = |out: &mut Vec<u8>, key: &str, value: i64| {
        out.extend_from_slice(key.as_bytes());
        write_int(value, out);
    };
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
    out.extend_from_slice(b",\"rule_ids\":[");
    for (i, id) in r.rule_ids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(id, out);
    }
    int_field(out, "],\"schema_id\":", i64::from(r.schema_id));
    str_field(out, ",\"rules_version\":", r.rules_version);
    str_field(out, ",\"key_version\":", r.key_version);
    int_field(out, ",\"occurred_at\":", r.env.occurred_at);
    int_field(out, ",\"published_at\":", r.env.published_at);
    int_field(out, ",\"ingested_at\":", r.ingested_s);
    str_field(out, ",\"batch_id\":", r.batch_id);
    str_field(out, ",\"replay_id\":", r.replay_id);
    out.extend_from_slice(b"}\n");
}

/// The decodable non-personal payload fields of a quarantined event, as a JSON object string.
pub fn non_personal_json(schema: &ReaderSchema, cells: &[Scalar]) -> String {
    let mut map = serde_json::Map::new();
    for (leaf, cell) in schema.leaves.iter().zip(cells) {
        if leaf.pii.is_some() || cell.is_null() {
            continue;
        }
        let v = match cell {
            Scalar::Str(s) => serde_json::json!(s),
            Scalar::Int(i) | Scalar::Ts(i) => serde_json::json!(i),
            Scalar::Float(f) => serde_json::json!(f),
            Scalar::Bool(b) => serde_json::json!(b),
            Scalar::Date(d) => serde_json::json!(d),
            _ => continue,
        };
        map.insert(leaf.name.clone(), v);
    }
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
