use super::*;
use crate::config::default_topics;
use crate::encode::Outgoing;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn settings() -> Settings {
    Settings::in_repo(&repo())
}

/// A generated event as the consumer hands it over, at `offset` of partition 0.
fn raw_record(
    encoder: &lgma_sim::encode::Encoder,
    e: &lgma_sim::GeneratedEvent,
    offset: i64,
) -> RawRecord {
    offline::raw_record(encoder, e, offset).expect("encodes")
}

/// `n` generated events (seeded, `invalid_ratio` of them broken) as records at offsets 0..n.
fn generated_records(
    encoder: &lgma_sim::encode::Encoder,
    seed: u64,
    invalid_ratio: f64,
    n: i64,
) -> Vec<RawRecord> {
    let config = lgma_sim::GeneratorConfig {
        invalid_ratio,
        ..lgma_sim::GeneratorConfig::default()
    };
    let mut generator = lgma_sim::Generator::new(seed, config).expect("generator");
    (0..n)
        .map(|i| raw_record(encoder, &generator.next_event(), i))
        .collect()
}

#[test]
fn every_topic_builds_from_the_committed_schemas_rules_and_example_keys() {
    let settings = settings();
    let keys = Keys::load(&settings.keys_file).expect("example keys");
    for topic in default_topics() {
        let tp = TopicPipeline::build(&settings, &topic, &keys)
            .unwrap_or_else(|e| panic!("{}: {e}", topic.topic));
        assert!(!tp.rules.rules.is_empty(), "{} has rules", topic.entity);
    }
}

/// The committed migrations must create every column the layout writes (schema drift check).
#[test]
fn migrations_cover_every_generated_column() {
    let settings = settings();
    let mut migrations = String::new();
    let dir = repo().join("infra/clickhouse/migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("01") && n.ends_with(".sql"))
        })
        .collect();
    files.sort();
    for f in files {
        migrations.push_str(&std::fs::read_to_string(f).expect("readable"));
    }
    for topic in default_topics() {
        let ddl = TopicPipeline::ddl_for(&settings, &topic).expect("ddl");
        for line in ddl.lines().filter(|l| l.trim_start().starts_with('`')) {
            assert!(
                migrations.contains(line.trim_end_matches(',')),
                "{}: no migration creates column {line}; run `lgma-ingest ddl` into a new 01xx migration",
                topic.table
            );
        }
        assert!(migrations.contains(&format!("lgma.{}_history", topic.table)));
        assert!(migrations.contains(&format!("lgma.{}_current", topic.table)));
    }
}

/// The offline chain on generated events from every domain (valid and invalid kinds): every
/// record gets exactly one `ingest_events` row in order, accepted ones one entity row and one
/// enriched event, quarantined ones one quarantine row and one DLQ record; and the compiled
/// resolution decodes every real schema exactly as the generic apache-avro path does.
#[test]
fn process_offline_runs_the_whole_chain_and_matches_the_generic_decoder() {
    use lgma_sim::encode::Encoder;

    let chain = offline::chain(&settings(), 4242).expect("chain");
    let encoder = Encoder::offline().expect("encoder");
    let writers = offline::writers(&encoder).expect("writers");
    let mut records = generated_records(&encoder, 7, 0.1, 600);
    records.push(RawRecord {
        topic: "lgma.waste.return".into(),
        partition: 0,
        offset: 600,
        key: None,
        value: None,
    });

    // The compiled resolution agrees with decode_body + flatten on every record.
    let mut compared = 0;
    for r in &records {
        let tp = &chain.topics[r.topic.as_str()];
        let Some(Ok(framed)) = r.value.as_deref().map(lgma_core::framing::decode) else {
            continue;
        };
        let Some(writer) = writers.get(&framed.schema_id) else {
            continue;
        };
        let generic = crate::decode::reference::decode_body(writer, &tp.schema, framed.body)
            .ok()
            .and_then(|v| {
                let has = ReaderSchema::has_payload(&v);
                tp.schema.flatten(&v).ok().map(|(e, c)| (e, c, has))
            });
        let fast = Resolution::compile(writer, &tp.schema)
            .expect("compiles")
            .decode(framed.body)
            .ok()
            .map(|d| (d.envelope.to_vec(), d.cells, d.has_payload));
        assert_eq!(fast, generic, "{} offset {}", r.topic, r.offset);
        compared += 1;
    }
    assert!(compared > 500);

    let batch = chain
        .process_offline(&records, &writers, 1_700_000_000_000)
        .expect("processes");
    let o = &batch.outcome;
    assert_eq!(o.rows, records.len());
    assert_eq!(o.accepted + o.warned + o.quarantined, records.len());
    assert!(o.quarantined >= 1 && o.accepted > 400, "{o:?}");
    let events = crate::encode::events::tests::read_event_rows(
        &batch.events,
        &crate::encode::events::EventsTable::OFFSET_OF_RECORD,
    );
    assert_eq!(events.len(), records.len());
    for (e, r) in events.iter().zip(&records) {
        assert_eq!(e["offset"], r.offset);
        assert_eq!(e["topic"], r.topic.as_str());
    }
    let rows: usize = batch.tables.values().map(|t| t.rows).sum();
    assert_eq!(rows, o.accepted + o.warned);
    assert!(batch.links.is_empty(), "no previous key, no links");
    let quarantine_rows = batch.quarantine.iter().filter(|b| **b == b'\n').count();
    assert_eq!(quarantine_rows, o.quarantined);
    let dlq = batch
        .outgoing
        .iter()
        .filter(|m| m.topic == "lgma.dlq")
        .count();
    assert_eq!(dlq, o.quarantined);
    let enriched: Vec<&Outgoing> = batch
        .outgoing
        .iter()
        .filter(|m| m.topic.ends_with(".enriched"))
        .collect();
    assert_eq!(enriched.len(), o.accepted + o.warned);
    let framed =
        lgma_core::framing::decode(enriched[0].value.as_deref().expect("value")).expect("framed");
    assert_eq!(framed.schema_id, 4242);
    // Every enriched body (written straight from the cells) is a complete record of the
    // enriched schema, byte for byte what apache-avro writes for the values it decodes to.
    for m in &enriched {
        let tp = chain
            .topics
            .values()
            .find(|tp| tp.enriched_topic == m.topic)
            .expect("topic");
        let framed =
            lgma_core::framing::decode(m.value.as_deref().expect("value")).expect("framed");
        let mut body = framed.body;
        let value = apache_avro::reader::datum::GenericDatumReader::builder(tp.enriched_schema())
            .build()
            .and_then(|r| r.read_value(&mut body))
            .expect("decodes");
        assert!(body.is_empty(), "trailing bytes in {}", m.topic);
        let again = apache_avro::writer::datum::GenericDatumWriter::builder(tp.enriched_schema())
            .build()
            .and_then(|w| w.write_value_to_vec(value))
            .expect("encodes");
        assert_eq!(again, framed.body, "{}", m.topic);
    }
}

/// With a previous homelessness key, the chain links every homelessness identifier it
/// pseudonymises (and only those: other domains have no previous key).
#[test]
fn transition_keys_link_the_identifiers_of_accepted_rows() {
    use lgma_sim::encode::Encoder;
    use lgma_sim::{Generator, GeneratorConfig};

    let dir = std::env::temp_dir().join(format!("lgma-links-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let example =
        std::fs::read_to_string(repo().join("infra/config/keys.example.toml")).expect("keys");
    let old_hex = "6c676d612d6465762d686f6d656c6573736e6573732d6b65792d6e6f742d7365637265742d3031";
    let new_hex = "aa".repeat(32);
    let keys = example.replace(
        &format!("key_version = \"dev-hl-1\"\nkey_hex = \"{old_hex}\""),
        &format!(
            "key_version = \"dev-hl-2\"\nkey_hex = \"{new_hex}\"\n\
             previous_key_version = \"dev-hl-1\"\nprevious_key_hex = \"{old_hex}\""
        ),
    );
    assert_ne!(keys, example);
    std::fs::write(dir.join("keys.toml"), keys).expect("write keys");
    let settings = Settings {
        keys_file: dir.join("keys.toml"),
        ..settings()
    };
    let chain = Chain::new(&settings).expect("chain");
    let encoder = Encoder::offline().expect("encoder");
    let writers = offline::writers(&encoder).expect("writers");
    let mut generator = Generator::new(3, GeneratorConfig::default()).expect("generator");
    let mut records = Vec::new();
    let mut events = Vec::new();
    for i in 0..300 {
        let e = generator.next_event();
        records.push(raw_record(&encoder, &e, i));
        events.push(e);
    }
    let batch = chain
        .process_offline(&records, &writers, 1_700_000_000_000)
        .expect("batch");
    let _ = std::fs::remove_dir_all(&dir);
    let old = DomainKey::new("dev-hl-1", old_hex).expect("old key");
    let hl = chain
        .topics
        .values()
        .find(|tp| tp.domain == "homelessness")
        .expect("homelessness topic");
    let text = String::from_utf8(batch.links.rows.clone()).expect("utf8");
    let mut columns = HashSet::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(row["domain"], "homelessness");
        assert_eq!(row["old_key_version"], "dev-hl-1");
        assert_eq!(row["new_key_version"], "dev-hl-2");
        assert_eq!(row["ingested_at"], 1_700_000_000);
        columns.insert(
            row["pseudonym_column"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert!(batch.links.len() > 20, "{} links", batch.links.len());
    for column in ["client_id_pseudo", "household_id_pseudo", "ppsn_pseudo"] {
        assert!(columns.contains(column), "{column} linked");
    }
    // Each accepted presentation's client: the link maps the previous key's pseudonym to the
    // one in its entity row.
    // RowBinary: the pseudonyms are in it as their hex text.
    let hl_rows = String::from_utf8_lossy(&batch.tables["hl_presentation"].body).into_owned();
    let links: HashSet<(String, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|l| l["pseudonym_column"] == "client_id_pseudo")
        .map(|l| {
            (
                l["old_pseudonym"].as_str().unwrap_or_default().to_string(),
                l["new_pseudonym"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut checked = 0;
    for e in &events {
        let lgma_sim::model::ChangeEvent::Presentation(env) = &e.event else {
            continue;
        };
        let Some(p) = &env.payload else { continue };
        let new = hl.key.pseudonym(&p.client_id).to_string();
        if !hl_rows.contains(&new) {
            continue; // quarantined: no row, no link needed
        }
        assert!(links.contains(&(old.pseudonym(&p.client_id).to_string(), new)));
        assert!(!text.contains(&p.client_id), "no clear id in links");
        checked += 1;
    }
    assert!(checked > 10, "{checked} clients checked");
}

/// Enriched events carry `event_id` and `la_code` headers (the event's own values) unless
/// `enriched_headers` is off; then they carry none. DLQ records keep theirs either way.
#[test]
fn enriched_headers_follow_the_setting() {
    let encoder = lgma_sim::encode::Encoder::offline().expect("encoder");
    let writers = offline::writers(&encoder).expect("writers");
    let records = generated_records(&encoder, 11, 0.2, 200);
    for on in [true, false] {
        let mut s = settings();
        s.enriched_headers = on;
        let chain = offline::chain(&s, 4242).expect("chain");
        let batch = chain
            .process_offline(&records, &writers, 1_700_000_000_000)
            .expect("batch");
        let (mut enriched, mut dlq) = (0, 0);
        for m in &batch.outgoing {
            let mut headers = Vec::new();
            m.headers.for_each(|k, v| headers.push((k, v.to_string())));
            if m.topic == "lgma.dlq" {
                dlq += 1;
                assert!(
                    headers.iter().any(|(k, _)| *k == "lgma.reason"),
                    "{headers:?}"
                );
                continue;
            }
            enriched += 1;
            if on {
                let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
                assert_eq!(names, ["event_id", "la_code"]);
                assert!(
                    chain.councils().by_code(&headers[1].1).is_some(),
                    "{headers:?}"
                );
            } else {
                assert!(headers.is_empty(), "{headers:?}");
            }
        }
        assert!(enriched > 100 && dlq > 10, "{enriched} enriched, {dlq} DLQ");
    }
}

/// Each entity row column holds the cell its source names: the payload leaf as decoded, the
/// made cells (pseudonymised, generalised) in layout order, the council's reference cells and the
/// derived measures, each computed again here by the stage that makes it.
#[test]
fn entity_rows_put_each_cell_in_its_column() {
    use lgma_sim::encode::Encoder;

    let chain = offline::chain(&settings(), 1).expect("chain");
    let encoder = Encoder::offline().expect("encoder");
    let writers = offline::writers(&encoder).expect("writers");
    let records = generated_records(&encoder, 11, 0.0, 400);
    let mut rows = chain
        .entity_cells_offline(&records, &writers, 1_700_000_000_000)
        .into_iter();
    let mut checked = 0;
    let mut made_cells = 0;
    for raw in &records {
        let tp = &chain.topics[raw.topic.as_str()];
        let j = chain.judge_offline(tp, raw, &writers);
        if verdict_of(&j.findings) == Verdict::Quarantine {
            continue;
        }
        let (row_tp, row) = rows.next().expect("a row per accepted record");
        assert!(std::ptr::eq(row_tp, tp));
        assert_eq!(row.len(), tp.layout.columns.len());
        let made = transform::pseudonymise(&tp.plan(), &j);
        let enriched = transform::enrich(&chain.context(), &tp.plan(), &j);
        let mut next_made = made.iter();
        for (col, cell) in tp.layout.columns.iter().zip(&row) {
            let expected = match &col.source {
                Source::Common(_) => match col.name.as_str() {
                    "topic" => Scalar::Str(raw.topic.as_str().into()),
                    "offset" => Scalar::Int(raw.offset),
                    "entity_id" => Scalar::Str(j.env.entity_id.clone()),
                    _ => continue,
                },
                Source::Leaf(i) => j.cells[*i].clone(),
                Source::Reference(i) => enriched.reference[*i].clone(),
                Source::Derived(i) => enriched.derived[*i].clone(),
                Source::Pseudonym(_)
                | Source::AgeBand(_)
                | Source::RoutingKey(_)
                | Source::Grid(_)
                | Source::Generalised(..) => next_made.next().expect("a made cell").clone(),
            };
            assert_eq!(cell, &expected, "{} column {}", tp.table, col.name);
        }
        assert!(next_made.next().is_none(), "{}: made cells left", tp.table);
        made_cells += made.len();
        checked += 1;
    }
    assert!(rows.next().is_none());
    assert!(
        checked > 350 && made_cells > checked,
        "{checked} rows, {made_cells} made cells"
    );
}
