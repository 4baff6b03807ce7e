//! Every validation rule broken at least once: for each `[[rule]]` of `schemas/rules/*.toml` (read
//! at test time, so a new rule is covered automatically) one otherwise valid generated event of its
//! topic is changed to break exactly that rule (required → null/blank, format → a bad Eircode, ppsn →
//! a wrong check letter, range → just outside, enum_map → an unknown spelling, date_order → the later
//! date two days before the earlier one), published, and ingested. Each must carry its rule id, with
//! the verdict its severity says (QUARANTINE, or WARN for `severity = "warn"`), and a reason.

use crate::ingest_support;

use std::collections::HashMap;
use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use ingest_support::*;
use lgma_sim::{GeneratedEvent, Topic};

#[derive(Debug, Default, Clone)]
struct Rule {
    id: String,
    kind: String,
    field: String,
    earlier: String,
    later: String,
    min: Option<f64>,
    max: Option<f64>,
    warn: bool,
}

/// The `[[rule]]` tables of one rules file (flat `key = value` lines; nested value maps skipped).
fn rules(text: &str) -> (String, Vec<Rule>) {
    let mut entity = String::new();
    let mut out: Vec<Rule> = Vec::new();
    let mut in_rule = false;
    for line in text.lines().map(str::trim) {
        if line == "[[rule]]" {
            out.push(Rule::default());
            in_rule = true;
            continue;
        }
        if line.starts_with('[') {
            in_rule = false; // e.g. [rule.values]
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().trim_matches('"').to_string());
        if !in_rule {
            if k == "entity" {
                entity = v;
            }
            continue;
        }
        let r = out.last_mut().expect("rule");
        match k {
            "id" => r.id = v,
            "kind" => r.kind = v,
            "field" => r.field = v,
            "earlier" => r.earlier = v,
            "later" => r.later = v,
            "min" => r.min = v.parse().ok(),
            "max" => r.max = v.parse().ok(),
            "severity" => r.warn = v == "warn",
            _ => {}
        }
    }
    (entity, out)
}

fn topic_of(entity: &str) -> Topic {
    Topic::from_name(&format!("lgma.{entity}")).expect("entity names a topic")
}

/// The schema of a payload field, without its null branch, and whether it is nullable.
fn field_schema<'a>(payload: &'a Schema, name: &str) -> (&'a Schema, Option<usize>) {
    let Schema::Record(r) = payload else {
        panic!("payload is a record")
    };
    let f = r.fields.iter().find(|f| f.name == name).expect("field");
    match &f.schema {
        Schema::Union(u) => {
            let (i, s) = u
                .variants()
                .iter()
                .enumerate()
                .find(|(_, s)| !matches!(s, Schema::Null))
                .expect("non-null branch");
            (s, Some(i))
        }
        s => (s, None),
    }
}

enum Want {
    Null,
    Str(String),
    Num(f64),
    Days(i64),
}

fn make(payload: &Schema, name: &str, want: Want) -> Value {
    let (schema, union) = field_schema(payload, name);
    let v = match (want, schema) {
        (Want::Null, _) => {
            return match union {
                Some(_) => Value::Union(0, Box::new(Value::Null)),
                None => Value::String(" ".into()), // blank: required treats it as missing
            };
        }
        (Want::Str(s), _) => Value::String(s),
        (Want::Num(n), Schema::Int) => Value::Int(n as i32),
        (Want::Num(n), Schema::Long) => Value::Long(n as i64),
        (Want::Num(n), Schema::Float) => Value::Float(n as f32),
        (Want::Num(n), _) => Value::Double(n),
        (Want::Days(d), Schema::Date) => Value::Date(d as i32),
        (Want::Days(d), Schema::TimestampMillis) => {
            Value::TimestampMillis(d * 86_400_000 + 43_200_000)
        }
        (Want::Days(_), other) => panic!("{name}: not a date: {other:?}"),
    };
    match union {
        Some(i) => Value::Union(i as u32, Box::new(v)),
        None => v,
    }
}

fn days(v: &Value) -> Option<i64> {
    match v {
        Value::Union(_, inner) => days(inner),
        Value::Date(d) => Some(i64::from(*d)),
        Value::TimestampMillis(ms) => Some(ms.div_euclid(86_400_000)),
        _ => None,
    }
}

fn payload_fields(value: &mut Value) -> &mut Vec<(String, Value)> {
    let Value::Record(fields) = value else {
        panic!("record")
    };
    let (_, payload) = fields
        .iter_mut()
        .find(|(n, _)| n == "payload")
        .expect("payload");
    let Value::Union(_, inner) = payload else {
        panic!("payload union")
    };
    let Value::Record(p) = inner.as_mut() else {
        panic!("payload present")
    };
    p
}

fn get<'a>(p: &'a [(String, Value)], name: &str) -> &'a Value {
    &p.iter().find(|(n, _)| n == name).expect("field").1
}

fn set(p: &mut [(String, Value)], name: &str, v: Value) {
    p.iter_mut().find(|(n, _)| n == name).expect("field").1 = v;
}

/// The event with exactly `rule` broken, as Avro bytes of the topic's schema.
fn break_rule(schema: &Schema, e: &GeneratedEvent, rule: &Rule) -> anyhow::Result<Vec<u8>> {
    let Schema::Record(env) = schema else {
        anyhow::bail!("envelope")
    };
    let payload_schema = match &env
        .fields
        .iter()
        .find(|f| f.name == "payload")
        .expect("payload")
        .schema
    {
        Schema::Union(u) => u.variants()[1].clone(),
        s => s.clone(),
    };
    let mut value = e.event.to_value()?.resolve(schema)?;
    let p = payload_fields(&mut value);
    match rule.kind.as_str() {
        "required" => set(
            p,
            &rule.field,
            make(&payload_schema, &rule.field, Want::Null),
        ),
        "format" => set(
            p,
            &rule.field,
            make(&payload_schema, &rule.field, Want::Str("B12 3456".into())),
        ),
        "ppsn" => set(
            p,
            &rule.field,
            make(&payload_schema, &rule.field, Want::Str("1234567Q".into())),
        ),
        "enum_map" => set(
            p,
            &rule.field,
            make(
                &payload_schema,
                &rule.field,
                Want::Str("Not A Known Spelling".into()),
            ),
        ),
        "range" => {
            let n = match (rule.min, rule.max) {
                (Some(min), _) => min - 1.0,
                (None, Some(max)) => max + 1.0,
                _ => anyhow::bail!("{}: range without bounds", rule.id),
            };
            set(
                p,
                &rule.field,
                make(&payload_schema, &rule.field, Want::Num(n)),
            );
        }
        "date_order" => {
            // Keep the earlier date (or give it one: the later's, else 2020-01-01), then put the
            // later one two days before it.
            let base = days(get(p, &rule.earlier))
                .or_else(|| days(get(p, &rule.later)))
                .unwrap_or(18_262);
            set(
                p,
                &rule.earlier,
                make(&payload_schema, &rule.earlier, Want::Days(base)),
            );
            set(
                p,
                &rule.later,
                make(&payload_schema, &rule.later, Want::Days(base - 2)),
            );
        }
        other => anyhow::bail!("{}: unknown rule kind {other}", rule.id),
    }
    Ok(GenericDatumWriter::builder(schema)
        .build()?
        .write_value_to_vec(value)?)
}

#[derive(serde::Deserialize)]
struct Row {
    topic: String,
    offset: i64,
    verdict: String,
    rule_ids: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_rule_fires_with_its_severity() -> anyhow::Result<()> {
    let dir = repo().join("schemas/rules");
    let mut all: Vec<(Topic, Rule)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (entity, rs) = rules(&std::fs::read_to_string(&path)?);
            let topic = topic_of(&entity);
            all.extend(rs.into_iter().map(|r| (topic, r)));
        }
    }
    all.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    assert!(all.len() >= 50, "rules found: {}", all.len());

    let world = World::with_topics(&Topic::ALL, 1, 5000).await?;
    world.write_config_full(5000, 300, "", "manual")?;
    let mut pool: HashMap<Topic, Vec<GeneratedEvent>> = HashMap::new();
    let mut expected: HashMap<(String, i64), Rule> = HashMap::new();
    for (topic, rule) in &all {
        let events = pool.entry(*topic).or_insert_with(|| {
            events_of(*topic, 81, 30)
                .into_iter()
                .filter(|g| g.event.entity().is_some())
                .collect()
        });
        let e = events.pop().expect("enough events with a payload");
        let schema = topic.schema()?;
        let body = break_rule(&schema, &e, rule)?;
        let bytes = lgma_core::framing::encode(world.encoder.schema_id(*topic)?, &body);
        let name = world.topic(*topic);
        let (_, offset) = world.send_raw(&name, &e.key, Some(&bytes)).await?;
        expected.insert((name, offset), rule.clone());
    }
    println!(
        "injected: {} events, each breaking one rule",
        expected.len()
    );

    let mut child = world.spawn_ingest(0)?;
    let topics = topics_in(&world);
    let n = wait_for_count(
        &format!("SELECT count() AS n FROM lgma.ingest_events WHERE topic IN ({topics})"),
        expected.len() as u64,
        Duration::from_secs(90),
    )
    .await?;
    terminate(&mut child, Duration::from_secs(10));
    assert_eq!(n, expected.len() as u64, "log:\n{}", world.log(0));

    let rows: Vec<Row> = ch_query(&format!(
        "SELECT topic, offset, verdict, rule_ids FROM lgma.ingest_events WHERE topic IN ({topics})"
    ))
    .await?;
    let mut failures = Vec::new();
    let (mut quarantined, mut warned) = (0, 0);
    for row in &rows {
        let rule = &expected[&(row.topic.clone(), row.offset)];
        let want = if rule.warn { "WARN" } else { "QUARANTINE" };
        let fired = row.rule_ids.iter().any(|r| r == &rule.id);
        // A WARN rule may come with a QUARANTINE only if a quarantine rule fired too (it should not).
        if !fired || row.verdict != want {
            failures.push(format!(
                "{} ({}): verdict {} rules {:?}",
                rule.id, rule.kind, row.verdict, row.rule_ids
            ));
        } else if rule.warn {
            warned += 1;
        } else {
            quarantined += 1;
        }
    }
    let reasons = count(&format!(
        "SELECT count() AS n FROM lgma.ingest_quarantine FINAL WHERE topic IN ({topics}) AND notEmpty(reasons)"
    ))
    .await?;
    println!(
        "counted: {} rules broken: {quarantined} quarantined and {warned} warned as their severity says, \
         {} quarantine rows with reasons; mismatches: {failures:#?}",
        all.len(),
        reasons
    );
    assert!(
        failures.is_empty(),
        "rules that did not fire as configured: {failures:#?}"
    );
    assert_eq!(reasons, quarantined as u64);
    Ok(())
}
