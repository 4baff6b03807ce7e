//! Rust `schema_registry_converter` (async) against the running registry on the real broker:
//! the encoder registers the schema (and, with a bare topic strategy, uses the latest version),
//! records travel through tansu, and the decoder fetches the writer schema by id.

use crate::registry_support;

use std::time::Duration;

use apache_avro::types::Value;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

const SCHEMA: &str = r#"{
  "type": "record", "name": "Presentation", "namespace": "lgma.homelessness",
  "fields": [
    {"name": "presentation_id", "type": "string"},
    {"name": "client_ppsn", "type": "string", "pii": "direct"},
    {"name": "adults", "type": "int"},
    {"name": "presented_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "note", "type": ["null", "string"], "default": null}
  ]
}"#;

fn value(i: i32) -> Vec<(&'static str, Value)> {
    vec![
        ("presentation_id", Value::String(format!("P-{i}"))),
        ("client_ppsn", Value::String("6433435F".into())),
        ("adults", Value::Int(i)),
        (
            "presented_at",
            Value::TimestampMillis(1_700_000_000_000 + i as i64),
        ),
        (
            "note",
            Value::Union(1, Box::new(Value::String(format!("n{i}")))),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn converter_encodes_and_decodes_through_registry_and_broker() {
    let topic = lgma_e2e::defined_test_topic("lgma.homelessness.presentation", 1).unwrap();
    let settings = SrSettings::new(lgma_e2e::registry_url());
    let encoder = AvroEncoder::new(settings.clone());
    let decoder = AvroDecoder::new(settings);

    // Auto-register: the encoder posts the schema to /subjects/<topic>-value/versions.
    let supplied = SuppliedSchema::new(
        Some("lgma.homelessness.Presentation".into()),
        SchemaType::Avro,
        SCHEMA.to_string(),
    );
    let with_schema =
        SubjectNameStrategy::TopicNameStrategyWithSchema(topic.clone(), false, supplied);
    let first = encoder
        .encode(value(1), with_schema)
        .await
        .expect("encode with schema");
    // Use the latest registered version: GET /subjects/<topic>-value/versions/latest.
    let latest = SubjectNameStrategy::TopicNameStrategy(topic.clone(), false);
    let second = encoder
        .encode(value(2), latest)
        .await
        .expect("encode latest");
    assert_eq!(first[0], 0, "Confluent magic byte");
    assert_eq!(
        first[1..5],
        second[1..5],
        "both encodings use the same schema id"
    );
    let id = u32::from_be_bytes(first[1..5].try_into().unwrap());

    // The id in the bytes is the one the registry reports for the subject.
    let http = registry_support::Http::new(&lgma_e2e::registry_url());
    let (status, body) = http
        .get(&format!("/subjects/{topic}-value/versions/latest"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_u64(), Some(id as u64));
    assert!(
        body["schema"]
            .as_str()
            .unwrap()
            .contains("\"pii\":\"direct\""),
        "custom attributes kept"
    );

    // Through the real broker.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", lgma_e2e::kafka_bootstrap())
        .create()
        .unwrap();
    for (key, payload) in [("P-1", &first), ("P-2", &second)] {
        producer
            .send(
                FutureRecord::to(&topic).key(key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", lgma_e2e::kafka_bootstrap())
        .set(
            "group.id",
            format!("registry-converter-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut decoded = Vec::new();
    while decoded.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("message within 30 s")
            .unwrap();
        let result = decoder.decode(msg.payload()).await.expect("decode");
        assert_eq!(
            result.name.map(|n| n.fullname(None)),
            Some("lgma.homelessness.Presentation".to_string())
        );
        decoded.push(result.value);
    }
    for (i, v) in decoded.into_iter().enumerate() {
        let Value::Record(fields) = v else {
            panic!("record expected")
        };
        let expected: Vec<(String, Value)> = value(i as i32 + 1)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(fields, expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn converter_gets_a_clear_error_for_an_incompatible_schema() {
    let topic = lgma_e2e::unique_topic("registry.converter.incompat");
    let settings = SrSettings::new(lgma_e2e::registry_url());
    let encoder = AvroEncoder::new(settings.clone());
    let v1 = SuppliedSchema::new(None, SchemaType::Avro, SCHEMA.to_string());
    encoder
        .encode(
            value(1),
            SubjectNameStrategy::TopicNameStrategyWithSchema(topic.clone(), false, v1),
        )
        .await
        .expect("v1 registers");
    // adults int -> string is incompatible under the default BACKWARD level.
    let v2 = SuppliedSchema::new(
        None,
        SchemaType::Avro,
        SCHEMA.replace(
            r#""name": "adults", "type": "int""#,
            r#""name": "adults", "type": "string""#,
        ),
    );
    let mut values = value(1);
    values[2].1 = Value::String("1".into());
    // A fresh encoder: the converter caches the schema per subject.
    let err = AvroEncoder::new(settings)
        .encode(
            values,
            SubjectNameStrategy::TopicNameStrategyWithSchema(topic, false, v2),
        )
        .await
        .expect_err("incompatible schema must be refused");
    let text = format!("{err:?}");
    assert!(
        text.contains("409") || text.contains("incompatible"),
        "{text}"
    );
}
