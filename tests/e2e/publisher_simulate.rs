//! The publisher against the real stack: simulate events (with broken ones) onto unique topics
//! through our registry and tansu, consume every one back, and check keys, headers, schema ids
//! (resolved through the registry, decoded with that schema) and the malformed kinds.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::Schema;
use lgma_e2e::{kafka_bootstrap, registry_url};
use lgma_publisher::produce::{require_topics, EventProducer};
use lgma_publisher::registry::RegistryClient;
use lgma_publisher::settings::Settings;
use lgma_sim::encode::Encoder;
use lgma_sim::topics::TopicNaming;
use lgma_sim::{EventKind, Generator, GeneratorConfig, InvalidKind, Topic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

const N: u64 = 5_000;

async fn schema_by_id(http: &reqwest::Client, id: u32) -> Schema {
    let body: serde_json::Value = http
        .get(format!("{}/schemas/ids/{id}", registry_url()))
        .send()
        .await
        .expect("registry reachable")
        .json()
        .await
        .expect("json");
    Schema::parse_str(body["schema"].as_str().expect("schema text"))
        .expect("registered schema parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_events_land_on_the_broker_and_read_back() {
    let suffix = format!(
        ".pubsim{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let mut settings = Settings::default();
    settings.kafka.bootstrap_servers = kafka_bootstrap();
    settings.registry_url = registry_url();
    settings.topics = TopicNaming {
        prefix: String::new(),
        suffix: suffix.clone(),
    };

    // The topics as the stack defines them; then what `lgma-publisher simulate` does: register,
    // check the topics exist, produce.
    let ids = RegistryClient::new(&settings.registry_url, None)
        .unwrap()
        .register_all(&settings.topics)
        .await
        .unwrap();
    let names: Vec<String> = Topic::ALL
        .iter()
        .map(|t| settings.topics.topic(*t))
        .collect();
    let missing = require_topics(&settings, &names)
        .await
        .expect_err("the publisher does not create topics");
    assert!(
        missing.to_string().contains("topics.toml"),
        "the error says where topics come from: {missing}"
    );
    let bases: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
    lgma_e2e::create_defined_topics(&bases, &suffix, None).unwrap();
    require_topics(&settings, &names)
        .await
        .expect("every topic exists now");
    let encoder = Encoder::new(&ids).unwrap();
    // Timing acknowledgements as lgma-bench's latency run does: it changes nothing else.
    let producer = EventProducer::timing_acks(&settings).unwrap();
    let producing = Instant::now();
    let config = GeneratorConfig {
        invalid_ratio: 0.05,
        ..GeneratorConfig::default()
    };
    let mut expected_kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected: HashMap<String, (Topic, EventKind, String)> = HashMap::new();
    for event in Generator::new(2024, config).unwrap().take(N as usize) {
        let value = encoder.encode(&event).unwrap();
        let meta = event.event.meta();
        producer
            .send(
                &settings.topics.topic(event.topic),
                &event.key,
                &value,
                &meta,
            )
            .await
            .unwrap();
        let kind = match event.kind {
            EventKind::Valid => "valid".to_string(),
            EventKind::Invalid(k) => k.name().to_string(),
        };
        *expected_kinds.entry(kind).or_default() += 1;
        expected.insert(
            meta.event_id.clone(),
            (event.topic, event.kind, event.key.clone()),
        );
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert_eq!((producer.delivered(), producer.failed()), (N, 0));
    // One delay per acknowledged event, each within the time spent producing and flushing (the
    // broker's CreateTime stamps are this host's clock: 1 s of slack for the ms rounding).
    let acks = producer.take_ack_ms();
    let bound = i64::try_from(producing.elapsed().as_millis()).unwrap() + 1_000;
    assert_eq!(acks.len() as u64, N, "one acknowledgement delay per event");
    assert!(
        acks.iter().all(|ms| (0..=bound).contains(ms)),
        "delays outside 0..={bound} ms: {:?}",
        acks.iter()
            .filter(|ms| !(0..=bound).contains(*ms))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(producer.take_ack_ms().is_empty(), "taken once");

    let consumer: BaseConsumer = lgma_e2e::client_config()
        .set("group.id", format!("pubsim-{suffix}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    // Explicit assignment from the beginning: no group coordination needed to read everything.
    let mut assignment = TopicPartitionList::new();
    for name in &names {
        // The defined partition count (infra/kafka/topics.toml: 4 for council topics).
        for partition in 0..4 {
            assignment
                .add_partition_offset(name, partition, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let http = reqwest::Client::new();
    let mut schemas: HashMap<u32, Schema> = HashMap::new();
    let mut seen_kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen < N && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("consume");
        seen += 1;
        let headers: HashMap<String, String> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| {
                        (
                            x.key.to_string(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for name in ["event_id", "la_code", "entity_version", "operation"] {
            assert!(headers.contains_key(name), "header {name} missing");
        }
        let (topic, kind, key) = expected
            .get(&headers["event_id"])
            .expect("an event we produced")
            .clone();
        assert_eq!(message.topic(), settings.topics.topic(topic));
        assert_eq!(message.key(), Some(key.as_bytes()), "key = entity_id");
        let value = message.payload().expect("no tombstones from the publisher");
        let label = match kind {
            EventKind::Invalid(InvalidKind::NotFramed) => {
                assert_ne!(value[0], 0, "not Confluent-framed");
                serde_json::from_slice::<serde_json::Value>(value)
                    .expect("the JSON a misconfigured producer sends");
                "not_framed".to_string()
            }
            _ => {
                assert_eq!(value[0], 0, "Confluent magic byte");
                let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
                assert_eq!(id, ids[&topic], "schema id of the topic's subject");
                if let std::collections::hash_map::Entry::Vacant(slot) = schemas.entry(id) {
                    slot.insert(schema_by_id(&http, id).await);
                }
                let reader = GenericDatumReader::builder(&schemas[&id]).build().unwrap();
                let mut body = &value[5..];
                let decoded = reader.read_value(&mut body);
                match kind {
                    EventKind::Invalid(InvalidKind::TruncatedAvro) => {
                        assert!(decoded.is_err(), "truncated body must not decode");
                        "truncated_avro".to_string()
                    }
                    EventKind::Invalid(k) => {
                        decoded.expect("rule-breaking events are still well-formed Avro");
                        k.name().to_string()
                    }
                    EventKind::Valid => {
                        let decoded =
                            decoded.expect("valid event decodes with the registry's schema");
                        assert!(body.is_empty(), "no trailing bytes");
                        let apache_avro::types::Value::Record(fields) = decoded else {
                            panic!("record")
                        };
                        assert_eq!(fields[2].1, apache_avro::types::Value::String(key.clone()));
                        "valid".to_string()
                    }
                }
            }
        };
        *seen_kinds.entry(label).or_default() += 1;
    }
    assert_eq!(seen, N, "every produced event is read back");
    assert_eq!(seen_kinds, expected_kinds);
    assert_eq!(
        seen_kinds.len(),
        1 + InvalidKind::ALL.len(),
        "every invalid kind present: {seen_kinds:?}"
    );
}
