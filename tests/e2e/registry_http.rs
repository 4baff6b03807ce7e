//! The registry's REST API against the running stack registry (LGMA_REGISTRY_URL) on the real
//! broker: lifecycle of a subject, identity rules, compatibility over HTTP, and every kind of bad
//! input getting Confluent's status and error code while the service stays up.

use crate::registry_support;

use registry_support::{record, unique_subject, Http, RegistryProcess, CT};
use serde_json::{json, Value};

fn stack() -> Http {
    Http::new(&lgma_e2e::registry_url())
}

fn v1() -> Value {
    record("Presentation", json!([{"name": "id", "type": "string"}]))
}

fn v2_with_default() -> Value {
    record(
        "Presentation",
        json!([{"name": "id", "type": "string"}, {"name": "adults", "type": "int", "default": 1}]),
    )
}

#[tokio::test]
async fn subject_lifecycle_register_read_lookup_delete() {
    let http = stack();
    let subject = unique_subject("http.lifecycle");
    let (status, body) = http.register(&subject, &v1()).await;
    assert_eq!(status, 200, "{body}");
    let id1 = body["id"].as_u64().unwrap();
    assert_eq!(body["version"], 1);

    // Same schema, other whitespace and key order: same id, same version.
    let reordered = r#"{ "fields":[{"type":"string","name":"id"}], "namespace":"lgma.test", "name":"Presentation", "type":"record" }"#;
    let (status, body) = http
        .post(
            &format!("/subjects/{subject}/versions"),
            &json!({"schema": reordered}),
        )
        .await;
    assert_eq!(
        (status, body["id"].as_u64(), body["version"].as_u64()),
        (200, Some(id1), Some(1))
    );

    let (status, body) = http.register(&subject, &v2_with_default()).await;
    assert_eq!(status, 200, "{body}");
    let id2 = body["id"].as_u64().unwrap();
    assert_ne!(id1, id2);
    assert_eq!(body["version"], 2);

    let (_, versions) = http.get(&format!("/subjects/{subject}/versions")).await;
    assert_eq!(versions, json!([1, 2]));
    let (_, latest) = http
        .get(&format!("/subjects/{subject}/versions/latest"))
        .await;
    assert_eq!(
        (latest["version"].as_u64(), latest["id"].as_u64()),
        (Some(2), Some(id2))
    );
    assert_eq!(latest["schemaType"], "AVRO");
    let (status, raw) = http
        .get(&format!("/subjects/{subject}/versions/1/schema"))
        .await;
    assert_eq!((status, raw), (200, v1()));
    let (_, by_id) = http.get(&format!("/schemas/ids/{id1}")).await;
    assert_eq!(
        serde_json::from_str::<Value>(by_id["schema"].as_str().unwrap()).unwrap(),
        v1()
    );
    // Other tests register the same v1 under their subjects: ours must be among the users of the id.
    let (_, subjects) = http.get(&format!("/schemas/ids/{id1}/subjects")).await;
    assert!(
        subjects.as_array().unwrap().contains(&json!(subject)),
        "{subjects}"
    );
    let (_, vs) = http.get(&format!("/schemas/ids/{id1}/versions")).await;
    assert!(
        vs.as_array()
            .unwrap()
            .contains(&json!({"subject": subject, "version": 1})),
        "{vs}"
    );

    // Lookup under the subject.
    let (status, found) = http
        .post(
            &format!("/subjects/{subject}"),
            &json!({"schema": v1().to_string()}),
        )
        .await;
    assert_eq!(
        (status, found["version"].as_u64(), found["id"].as_u64()),
        (200, Some(1), Some(id1))
    );
    let other = record("Other", json!([{"name": "x", "type": "int"}]));
    let (status, body) = http
        .post(
            &format!("/subjects/{subject}"),
            &json!({"schema": other.to_string()}),
        )
        .await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40403)));

    // Soft delete version 1, then it is hidden unless ?deleted=true.
    let (status, body) = http
        .delete(&format!("/subjects/{subject}/versions/1"))
        .await;
    assert_eq!((status, body), (200, json!(1)));
    let (_, versions) = http.get(&format!("/subjects/{subject}/versions")).await;
    assert_eq!(versions, json!([2]));
    let (_, versions) = http
        .get(&format!("/subjects/{subject}/versions?deleted=true"))
        .await;
    assert_eq!(versions, json!([1, 2]));
    let (status, _) = http.get(&format!("/subjects/{subject}/versions/1")).await;
    assert_eq!(status, 404);
    let (status, _) = http
        .get(&format!("/subjects/{subject}/versions/1?deleted=true"))
        .await;
    assert_eq!(status, 200);
    // The id stays resolvable for consumers of old messages.
    let (status, _) = http.get(&format!("/schemas/ids/{id1}")).await;
    assert_eq!(status, 200);

    // Hard delete needs a soft delete first (40407), then works.
    let (status, body) = http
        .delete(&format!("/subjects/{subject}/versions/2?permanent=true"))
        .await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40407)));
    let (status, body) = http
        .delete(&format!("/subjects/{subject}?permanent=true"))
        .await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40405)));
    let (status, body) = http.delete(&format!("/subjects/{subject}")).await;
    assert_eq!((status, body), (200, json!([2])));
    let (status, body) = http.delete(&format!("/subjects/{subject}")).await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40404)));
    let (_, all) = http.get("/subjects").await;
    assert!(!all.as_array().unwrap().contains(&json!(subject)));
    let (_, all) = http.get("/subjects?deleted=true").await;
    assert!(all.as_array().unwrap().contains(&json!(subject)));
    let (status, body) = http
        .delete(&format!("/subjects/{subject}?permanent=true"))
        .await;
    assert_eq!((status, body), (200, json!([1, 2])));
    let (status, body) = http
        .get(&format!("/subjects/{subject}/versions?deleted=true"))
        .await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40401)));
}

#[tokio::test]
async fn identity_keeps_pii_tags_doc_and_defaults() {
    let http = stack();
    let subject = unique_subject("http.identity");
    http.put(
        &format!("/config/{subject}"),
        &json!({"compatibility": "NONE"}),
    )
    .await;
    let tagged = |tag: &str| {
        record(
            "Client",
            json!([{"name": "ppsn", "type": "string", "pii": tag}]),
        )
    };
    let (_, a) = http.register(&subject, &tagged("direct")).await;
    let (_, b) = http.register(&subject, &tagged("pseudonymised")).await;
    assert_ne!(a["id"], b["id"], "a changed pii tag is a new schema");
    assert_eq!(b["version"], 2);
    // Same schema in another subject: same id.
    let other = unique_subject("http.identity.other");
    let (_, c) = http.register(&other, &tagged("direct")).await;
    assert_eq!(a["id"], c["id"]);
    // normalize=true: a namespace spelled differently is the same schema.
    let spelled = json!({"type": "record", "name": "lgma.test.Client", "fields": [{"name": "ppsn", "type": {"type": "string"}, "pii": "direct"}]});
    let (_, n1) = http
        .post(
            &format!("/subjects/{other}/versions?normalize=true"),
            &json!({"schema": tagged("direct").to_string()}),
        )
        .await;
    let (_, n2) = http
        .post(
            &format!("/subjects/{other}/versions?normalize=true"),
            &json!({"schema": spelled.to_string()}),
        )
        .await;
    assert_eq!(n1["id"], n2["id"], "{n1} {n2}");
}

#[tokio::test]
async fn compatibility_over_http() {
    let http = stack();
    let subject = unique_subject("http.compat");
    assert_eq!(http.register(&subject, &v1()).await.0, 200);
    // Default is BACKWARD: a field without default is rejected with 409 and a reason.
    let no_default = record(
        "Presentation",
        json!([{"name": "id", "type": "string"}, {"name": "gender", "type": "string"}]),
    );
    let (status, body) = http
        .post(
            &format!("/compatibility/subjects/{subject}/versions/latest?verbose=true"),
            &json!({"schema": no_default.to_string()}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["is_compatible"], false);
    let messages = body["messages"].to_string();
    assert!(
        messages.contains("READER_FIELD_MISSING_DEFAULT_VALUE") && messages.contains("gender"),
        "{messages}"
    );
    let (status, body) = http.register(&subject, &no_default).await;
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (409, Some(40901)),
        "{body}"
    );
    let (_, body) = http
        .post(
            &format!("/compatibility/subjects/{subject}/versions/1"),
            &json!({"schema": v2_with_default().to_string()}),
        )
        .await;
    assert_eq!(body, json!({"is_compatible": true}));
    // FORWARD at subject level: the same change is now fine, removing a required field is not.
    let (status, _) = http
        .put(
            &format!("/config/{subject}"),
            &json!({"compatibility": "FORWARD"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, cfg) = http.get(&format!("/config/{subject}")).await;
    assert_eq!(cfg, json!({"compatibilityLevel": "FORWARD"}));
    assert_eq!(http.register(&subject, &no_default).await.0, 200);
    let only_gender = record(
        "Presentation",
        json!([{"name": "gender", "type": "string"}]),
    );
    let (status, _) = http.register(&subject, &only_gender).await;
    assert_eq!(status, 409);
    // Against all versions (FORWARD: the latest one).
    let plus_adults = record(
        "Presentation",
        json!([{"name": "id", "type": "string"}, {"name": "gender", "type": "string"}, {"name": "adults", "type": "int", "default": 1}]),
    );
    let (_, all) = http
        .post(
            &format!("/compatibility/subjects/{subject}/versions?verbose=true"),
            &json!({"schema": plus_adults.to_string()}),
        )
        .await;
    assert_eq!(all["is_compatible"], true, "{all}");
    // The latest version requires gender, so it cannot read v1-shaped data.
    let (_, all) = http
        .post(
            &format!("/compatibility/subjects/{subject}/versions?verbose=true"),
            &json!({"schema": v1().to_string()}),
        )
        .await;
    assert_eq!(all["is_compatible"], false, "{all}");
    // Subject config removal falls back to the global level.
    let (status, _) = http.delete(&format!("/config/{subject}")).await;
    assert_eq!(status, 200);
    let (status, body) = http.get(&format!("/config/{subject}")).await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40408)));
    let (status, body) = http
        .get(&format!("/config/{subject}?defaultToGlobal=true"))
        .await;
    assert_eq!(status, 200);
    assert!(body["compatibilityLevel"].is_string());
    let (status, body) = http
        .put(
            &format!("/config/{subject}"),
            &json!({"compatibility": "SOMETIMES"}),
        )
        .await;
    assert_eq!((status, body["error_code"].as_u64()), (422, Some(42203)));
}

#[tokio::test]
async fn bad_input_gets_confluent_codes_and_the_service_stays_up() {
    let http = stack();
    let subject = unique_subject("http.bad");
    let post_schema = |schema: &str| json!({"schema": schema});
    let cases: Vec<(&str, Value, u16, u64)> = vec![
        ("not JSON at all", post_schema("{not json"), 422, 42201),
        (
            "unknown type name",
            post_schema(r#"{"type":"record","name":"X","fields":[{"name":"a","type":"strnig"}]}"#),
            422,
            42201,
        ),
        (
            "record without fields",
            post_schema(r#"{"type":"record","name":"X"}"#),
            422,
            42201,
        ),
        ("empty schema", json!({}), 422, 42201),
        (
            "protobuf",
            json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}),
            422,
            42201,
        ),
    ];
    for (what, body, status, code) in cases {
        let (s, b) = http
            .post(&format!("/subjects/{subject}/versions"), &body)
            .await;
        assert_eq!(
            (s, b["error_code"].as_u64()),
            (status, Some(code)),
            "{what}: {b}"
        );
        assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: message"
        );
    }
    // Malformed request envelope.
    let raw = http
        .client
        .post(format!("{}/subjects/{subject}/versions", http.base))
        .header("Content-Type", CT)
        .body("{\"schema\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    // Wrong content type.
    let raw = http
        .client
        .post(format!("{}/subjects/{subject}/versions", http.base))
        .header("Content-Type", "text/plain")
        .body(json!({"schema": "\"string\""}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 415);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error_code"], 415);
    // 10 MB body.
    let huge = json!({"schema": format!("\"{}\"", "x".repeat(10 * 1024 * 1024))});
    let (s, b) = http
        .post(&format!("/subjects/{subject}/versions"), &huge)
        .await;
    assert_eq!((s, b["error_code"].as_u64()), (413, Some(413)), "{b}");
    // Unknown subject / version / id.
    let (s, b) = http.get(&format!("/subjects/{subject}/versions")).await;
    assert_eq!((s, b["error_code"].as_u64()), (404, Some(40401)));
    assert_eq!(http.register(&subject, &v1()).await.0, 200);
    let (s, b) = http.get(&format!("/subjects/{subject}/versions/99")).await;
    assert_eq!((s, b["error_code"].as_u64()), (404, Some(40402)));
    let (s, b) = http
        .get(&format!("/subjects/{subject}/versions/zero"))
        .await;
    assert_eq!((s, b["error_code"].as_u64()), (422, Some(42202)));
    let (s, b) = http.get("/schemas/ids/2147483000").await;
    assert_eq!((s, b["error_code"].as_u64()), (404, Some(40403)));
    // Path tricks in subject names: encoded ones reach the server and are refused with 40002;
    // a raw `..` segment is sent as-is (HTTP clients would normalise it away).
    for path in [
        "/subjects/..%2F..%2Fetc%2Fpasswd/versions",
        "/subjects/a%2Fb/versions",
        "/subjects/%2E%2E%2Fx/versions",
    ] {
        let (s, b) = http.get(path).await;
        assert_eq!(
            (s, b["error_code"].as_u64()),
            (400, Some(40002)),
            "{path}: {b}"
        );
    }
    let (s, text) = registry_support::raw_get(&http.base, "/subjects/../versions");
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("40002"), "{text}");
    // Unknown endpoints answer Confluent-style 404 JSON.
    let (s, b) = http.get("/associations/resources/x/y").await;
    assert_eq!((s, b["error_code"].as_u64()), (404, Some(404)));
    // Still up and serving.
    let (s, _) = http.get("/subjects").await;
    assert_eq!(s, 200);
    let (s, types) = http.get("/schemas/types").await;
    assert_eq!((s, types), (200, json!(["AVRO"])));
    let (s, ctx) = http.get("/contexts").await;
    assert_eq!((s, ctx), (200, json!(["."])));
}

/// Global config, modes and IMPORT change the whole registry: test them on our own instance.
#[tokio::test(flavor = "multi_thread")]
async fn global_config_modes_and_import() {
    let process = RegistryProcess::start(&registry_support::unique_store_topic());
    let http = Http::new(&process.url);
    let (_, cfg) = http.get("/config").await;
    assert_eq!(cfg, json!({"compatibilityLevel": "BACKWARD"}));
    let (s, body) = http
        .put("/config", &json!({"compatibility": "FULL_TRANSITIVE"}))
        .await;
    assert_eq!(
        (s, body),
        (200, json!({"compatibility": "FULL_TRANSITIVE"}))
    );
    let (_, cfg) = http.get("/config").await;
    assert_eq!(cfg, json!({"compatibilityLevel": "FULL_TRANSITIVE"}));

    // IMPORT on an empty registry: keep the source registry's ids and versions.
    let (s, m) = http.put("/mode", &json!({"mode": "IMPORT"})).await;
    assert_eq!((s, m), (200, json!({"mode": "IMPORT"})));
    let (s, body) = http
        .post(
            "/subjects/imported-value/versions",
            &json!({"schema": v1().to_string(), "id": 4711, "version": 3}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (body["id"].as_u64(), body["version"].as_u64()),
        (Some(4711), Some(3))
    );
    let (s, _) = http
        .post(
            "/subjects/clash-value/versions",
            &json!({"schema": v2_with_default().to_string(), "id": 4711}),
        )
        .await;
    assert_eq!(s, 422, "an imported id cannot name a second schema");
    let (s, _) = http.put("/mode", &json!({"mode": "READWRITE"})).await;
    assert_eq!(s, 200);
    let (s, body) = http.register("fresh-value", &v2_with_default()).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["id"], 4712,
        "new ids continue after the highest imported one"
    );
    let (s, body) = http
        .post(
            "/subjects/x-value/versions",
            &json!({"schema": v1().to_string(), "id": 9}),
        )
        .await;
    assert_eq!((s, body["error_code"].as_u64()), (422, Some(42205)));

    // IMPORT over existing subjects needs force.
    let (s, body) = http.put("/mode", &json!({"mode": "IMPORT"})).await;
    assert_eq!((s, body["error_code"].as_u64()), (422, Some(42205)));
    let (s, _) = http
        .put("/mode?force=true", &json!({"mode": "IMPORT"}))
        .await;
    assert_eq!(s, 200);
    http.put("/mode", &json!({"mode": "READWRITE"})).await;

    // READONLY per subject blocks writes there only.
    let (s, _) = http
        .put("/mode/fresh-value", &json!({"mode": "READONLY"}))
        .await;
    assert_eq!(s, 200);
    let (s, body) = http.register("fresh-value", &v1()).await;
    assert_eq!((s, body["error_code"].as_u64()), (422, Some(42205)));
    let (s, _) = http.register("other-value", &v1()).await;
    assert_eq!(s, 200);
    let (s, body) = http.get("/mode/other-value").await;
    assert_eq!((s, body["error_code"].as_u64()), (404, Some(40409)));
    let (_, body) = http.get("/mode/other-value?defaultToGlobal=true").await;
    assert_eq!(body, json!({"mode": "READWRITE"}));
    let (s, body) = http.put("/mode", &json!({"mode": "SOMETIMES"})).await;
    assert_eq!((s, body["error_code"].as_u64()), (422, Some(42204)));
    let (s, _) = http.delete("/mode/fresh-value").await;
    assert_eq!(s, 200);

    // Pagination and prefix on subjects.
    let (_, page) = http.get("/subjects?offset=1&limit=1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    let (_, pre) = http.get("/subjects?subjectPrefix=imp").await;
    assert_eq!(pre, json!(["imported-value"]));
    let (_, latest) = http
        .get("/schemas?latestOnly=true&subjectPrefix=imported")
        .await;
    assert_eq!(latest.as_array().unwrap().len(), 1);
}

/// Basic auth: no credentials 401, read-only users read but cannot write (403), writers write.
#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_roles() {
    use registry_support::sha256_hex;
    let dir = std::env::temp_dir().join(format!("lgma-reg-auth-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nname = \"reader\"\npassword_sha256 = \"{}\"\nrole = \"read\"\n\n[[users]]\nname = \"writer\"\npassword_sha256 = \"{}\"\nrole = \"write\"\nsubjects = [\"a-\"]\n",
            sha256_hex("r-pass"),
            sha256_hex("w-pass")
        ),
    )
    .unwrap();
    let process = RegistryProcess::start_with(
        &registry_support::unique_store_topic(),
        registry_support::free_port(),
        &[(
            "LGMA_REGISTRY_AUTH__USERS_FILE",
            users.display().to_string(),
        )],
    );
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", process.url);
    let body = json!({"schema": v1().to_string()}).to_string();

    let r = client.get(url("/subjects")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let r = client
        .get(url("/subjects"))
        .basic_auth("writer", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .post(url("/subjects/a-value/versions"))
        .basic_auth("reader", Some("r-pass"))
        .header("Content-Type", CT)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = client
        .post(url("/subjects/a-value/versions"))
        .basic_auth("writer", Some("w-pass"))
        .header("Content-Type", CT)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = client
        .get(url("/subjects"))
        .basic_auth("reader", Some("r-pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A lookup is a read.
    let r = client
        .post(url("/subjects/a-value"))
        .basic_auth("reader", Some("r-pass"))
        .header("Content-Type", CT)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = client
        .put(url("/config"))
        .basic_auth("reader", Some("r-pass"))
        .header("Content-Type", CT)
        .body(r#"{"compatibility":"NONE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Ops endpoints stay open for probes.
    let r = client.get(url("/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}
