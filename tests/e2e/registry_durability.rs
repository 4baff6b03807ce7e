//! Durability: the registry's only state is its store topic. Kill it (SIGKILL), restart it, and
//! every subject, version, id, schema text and config is still there, unchanged; new ids continue
//! after the old ones; the same after a broker restart (on a private broker).

use crate::registry_support;

use std::process::Command;

use registry_support::{free_port, record, unique_store_topic, Http, RegistryProcess};
use serde_json::{json, Value};

/// Everything a client can observe, as one JSON value.
async fn snapshot(http: &Http) -> Value {
    let (_, subjects) = http.get("/subjects?deleted=true").await;
    let mut out = serde_json::Map::new();
    let mut ids = std::collections::BTreeSet::new();
    for subject in subjects.as_array().unwrap() {
        let s = subject.as_str().unwrap();
        let (_, versions) = http
            .get(&format!("/subjects/{s}/versions?deleted=true"))
            .await;
        let (_, live) = http.get(&format!("/subjects/{s}/versions")).await;
        let mut detail = Vec::new();
        for v in versions.as_array().unwrap() {
            let (_, body) = http
                .get(&format!("/subjects/{s}/versions/{v}?deleted=true"))
                .await;
            ids.insert(body["id"].as_u64().unwrap());
            detail.push(body);
        }
        let (_, config) = http.get(&format!("/config/{s}")).await;
        out.insert(
            s.to_string(),
            json!({"versions": versions, "live": live, "detail": detail, "config": config}),
        );
    }
    let mut by_id = serde_json::Map::new();
    for id in ids {
        let (_, body) = http.get(&format!("/schemas/ids/{id}")).await;
        by_id.insert(id.to_string(), body);
    }
    let (_, global) = http.get("/config").await;
    json!({"subjects": out, "ids": by_id, "global": global})
}

async fn populate(http: &Http) {
    let a1 = record("A", json!([{"name": "x", "type": "int"}]));
    let a2 = record(
        "A",
        json!([{"name": "x", "type": "int"}, {"name": "y", "type": "string", "default": ""}]),
    );
    let b1 = record(
        "B",
        json!([{"name": "ppsn", "type": "string", "pii": "direct"}]),
    );
    for (subject, schema) in [
        ("a-value", &a1),
        ("a-value", &a2),
        ("b-value", &b1),
        ("shared-value", &a1),
    ] {
        let (status, body) = http.register(subject, schema).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(http.delete("/subjects/a-value/versions/1").await.0, 200);
    assert_eq!(
        http.put("/config/b-value", &json!({"compatibility": "FULL"}))
            .await
            .0,
        200
    );
    assert_eq!(
        http.put("/config", &json!({"compatibility": "FORWARD"}))
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn state_survives_sigkill_and_restart_unchanged() {
    let topic = unique_store_topic();
    let port = free_port();
    let mut first = RegistryProcess::start_with(&topic, port, &[]);
    let http = Http::new(&first.url);
    populate(&http).await;
    let before = snapshot(&http).await;
    assert_eq!(before["subjects"].as_object().unwrap().len(), 3);
    first.kill();

    let second = RegistryProcess::start_with(&topic, port, &[]);
    let after = snapshot(&Http::new(&second.url)).await;
    assert_eq!(before, after);

    // A new schema gets a fresh id, above every id handed out before the restart.
    let max_before = before["ids"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse::<u64>().unwrap())
        .max()
        .unwrap();
    let (status, body) = Http::new(&second.url)
        .register(
            "c-value",
            &record("C", json!([{"name": "z", "type": "long"}])),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_u64(), Some(max_before + 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_is_a_clean_exit() {
    let mut process = RegistryProcess::start(&unique_store_topic());
    let status = process.terminate();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn unreachable_broker_is_a_clear_non_zero_exit() {
    let out = Command::new(registry_support::registry_bin())
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .env("LGMA_REGISTRY_STORE__STARTUP_TIMEOUT_SECS", "2")
        .env("LGMA_REGISTRY_AUTH__ALLOW_ANONYMOUS", "true")
        .output()
        .expect("run lgma-registry");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unreachable") && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );
}

/// Restarts a broker under a running registry, on a private tansu (same binary and storage engine
/// as the stack's) so the shared broker other tests use is never interrupted.
#[tokio::test(flavor = "multi_thread")]
async fn state_survives_broker_restart_and_registry_keeps_working() {
    let mut broker = registry_support::PrivateBroker::start();
    let env = [("LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS", broker.bootstrap())];
    let topic = unique_store_topic();
    let port = free_port();
    let mut process = RegistryProcess::start_with(&topic, port, &env);
    let http = Http::new(&process.url);
    populate(&http).await;
    let before = snapshot(&http).await;

    tokio::task::block_in_place(|| broker.restart());
    // The running instance reconnects and can still write.
    let d1 = record("D", json!([{"name": "w", "type": "int"}]));
    let mut registered = None;
    for _ in 0..60 {
        let (status, body) = http.register("d-value", &d1).await;
        if status == 200 {
            registered = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let d = registered.expect("registry could not write after the broker restart");

    // A fresh instance rebuilds the same state from the restarted broker's topic.
    process.kill();
    let again = RegistryProcess::start_with(&topic, port, &env);
    let http = Http::new(&again.url);
    let mut after = snapshot(&http).await;
    assert_eq!(after["subjects"]["d-value"]["detail"][0]["id"], d["id"]);
    after["subjects"].as_object_mut().unwrap().remove("d-value");
    after["ids"]
        .as_object_mut()
        .unwrap()
        .remove(&d["id"].to_string());
    assert_eq!(before, after);
}
