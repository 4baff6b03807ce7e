//! Two registry processes on one store topic, registering concurrently: no id is ever handed out
//! for two different schemas, no subject version is taken twice, the same schema gets one id, and
//! both instances end up with identical state (log-ordered optimistic allocation, see README).

use crate::registry_support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use registry_support::{free_port, record, unique_store_topic, Http, RegistryProcess};
use serde_json::{json, Value};

async fn retries(http: &Http) -> u64 {
    let (_, text) = http.get("/metrics").await;
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("lgma_registry_registration_retries_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

async fn state(http: &Http) -> Value {
    let (_, subjects) = http.get("/subjects").await;
    let mut out = BTreeMap::new();
    for s in subjects.as_array().unwrap() {
        let s = s.as_str().unwrap();
        let (_, versions) = http.get(&format!("/subjects/{s}/versions")).await;
        let mut vs = Vec::new();
        for v in versions.as_array().unwrap() {
            let (_, body) = http.get(&format!("/subjects/{s}/versions/{v}")).await;
            vs.push(json!([body["version"], body["id"], body["schema"]]));
        }
        out.insert(s.to_string(), vs);
    }
    json!(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_hand_out_an_id_twice() {
    let topic = unique_store_topic();
    let a = RegistryProcess::start_with(&topic, free_port(), &[]);
    let b = RegistryProcess::start_with(&topic, free_port(), &[]);
    let (ha, hb) = (Http::new(&a.url), Http::new(&b.url));
    for h in [&ha, &hb] {
        // NONE so every distinct schema is accepted into the shared subject.
        assert_eq!(
            h.put("/config/shared-value", &json!({"compatibility": "NONE"}))
                .await
                .0,
            200
        );
    }

    const PER_INSTANCE: usize = 25;
    let mut tasks = Vec::new();
    for (name, base) in [("a", a.url.clone()), ("b", b.url.clone())] {
        for i in 0..PER_INSTANCE {
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                let http = Http::new(&base);
                // A distinct schema per request, alternating between a shared and an own subject.
                let schema = record(
                    &format!("R_{name}_{i}"),
                    json!([{"name": "f", "type": "int"}]),
                );
                let subject = if i % 2 == 0 {
                    "shared-value".to_string()
                } else {
                    format!("{name}-{i}-value")
                };
                let (status, body) = http.register(&subject, &schema).await;
                assert_eq!(status, 200, "{name}/{i}: {body}");
                // The same schema registered through both instances at once.
                let common = record(
                    &format!("Common_{i}"),
                    json!([{"name": "c", "type": "string"}]),
                );
                let (status, common_body) = http
                    .register(&format!("common-{i}-{name}-value"), &common)
                    .await;
                assert_eq!(status, 200, "{common_body}");
                (
                    schema.to_string(),
                    body["id"].as_u64().unwrap(),
                    format!("Common_{i}"),
                    common_body["id"].as_u64().unwrap(),
                )
            }));
        }
    }
    let mut id_to_schema: HashMap<u64, String> = HashMap::new();
    let mut common_ids: HashMap<String, Vec<u64>> = HashMap::new();
    for task in tasks {
        let (schema, id, common_name, common_id) = task.await.unwrap();
        if let Some(previous) = id_to_schema.insert(id, schema.clone()) {
            panic!("id {id} handed out for two schemas:\n{previous}\n{schema}");
        }
        common_ids.entry(common_name).or_default().push(common_id);
    }
    assert_eq!(
        id_to_schema.len(),
        2 * PER_INSTANCE,
        "distinct schemas got distinct ids"
    );
    for (name, ids) in &common_ids {
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], ids[1], "{name}: the same schema got two ids");
        assert!(
            !id_to_schema.contains_key(&ids[0]),
            "{name}: id reused for another schema"
        );
    }

    // Every id resolves to exactly the schema it was handed out for, on both instances.
    for (id, schema) in &id_to_schema {
        for h in [&ha, &hb] {
            let (status, body) = h.get(&format!("/schemas/ids/{id}")).await;
            assert_eq!(status, 200);
            let got: Value = serde_json::from_str(body["schema"].as_str().unwrap()).unwrap();
            let want: Value = serde_json::from_str(schema).unwrap();
            assert_eq!(got, want, "id {id}");
        }
    }
    // The shared subject has versions 1..n, each once.
    let (_, versions) = ha.get("/subjects/shared-value/versions").await;
    let expected: Vec<u64> = (1..=(PER_INSTANCE as u64).div_ceil(2) * 2).collect();
    let got: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(got, expected);

    // Both instances converge on the same state.
    let mut same = false;
    for _ in 0..50 {
        if state(&ha).await == state(&hb).await {
            same = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(same, "instances disagree");
    // The test really raced: at least one proposal lost and was retried.
    let lost = retries(&ha).await + retries(&hb).await;
    assert!(
        lost > 0,
        "no registration ever lost a race: the test did not exercise concurrency"
    );
    eprintln!("registrations that lost a race and retried: {lost}");
}
