//! Confluent Schema Registry 8.x conformance: each test reproduces one behaviour of Confluent's
//! server, named (class.method) in its doc comment from the Confluent source
//! (github.com/confluentinc/schema-registry, core/src/main/java/io/confluent/kafka/schemaregistry).
//! Subject-scoped behaviour runs against the stack registry (LGMA_REGISTRY_URL) with unique
//! subjects; registry-wide modes run on a registry process of their own (own store topic).

use crate::registry_support;

use registry_support::{record, unique_subject, Http, RegistryProcess};
use serde_json::{json, Value};

fn stack() -> Http {
    Http::new(&lgma_e2e::registry_url())
}

fn schema(fields: Value) -> Value {
    record("Conf", fields)
}

fn v1() -> Value {
    schema(json!([{"name": "id", "type": "string"}]))
}

fn code(body: &Value) -> Option<u64> {
    body["error_code"].as_u64()
}

/// `ServerMetadataResource.getSchemaRegistryVersion`: `GET /v1/metadata/version` answers
/// `{"version", "commitId"}` (`SchemaRegistryServerVersion`).
#[tokio::test]
async fn metadata_version_endpoint() {
    let (s, body) = stack().get("/v1/metadata/version").await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("8.")),
        "{body}"
    );
    assert!(body["commitId"].is_string(), "{body}");
}

/// `AbstractSchemaRegistry.checkRegisterMode`: in IMPORT a registration without an id is refused
/// (42205 "is not in read-write mode"); `KafkaSchemaRegistry.register`: importing the same schema
/// with the same id and version again returns that version instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn import_mode_needs_an_id_and_reimport_is_idempotent() {
    let process = RegistryProcess::start(&registry_support::unique_store_topic());
    let http = Http::new(&process.url);
    let (s, _) = http.put("/mode", &json!({"mode": "IMPORT"})).await;
    assert_eq!(s, 200);
    let (s, body) = http.register("imp-value", &v1()).await;
    assert_eq!((s, code(&body)), (422, Some(42205)), "{body}");
    let import = json!({"schema": v1().to_string(), "id": 77, "version": 2});
    let (s, first) = http.post("/subjects/imp-value/versions", &import).await;
    assert_eq!(s, 200, "{first}");
    let (s, again) = http.post("/subjects/imp-value/versions", &import).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        (again["id"].as_u64(), again["version"].as_u64()),
        (Some(77), Some(2))
    );
    // READWRITE: an explicit id is refused ("is not in import mode").
    http.put("/mode", &json!({"mode": "READWRITE"})).await;
    let (s, body) = http
        .post(
            "/subjects/other-value/versions",
            &json!({"schema": v1().to_string(), "id": 5}),
        )
        .await;
    assert_eq!((s, code(&body)), (422, Some(42205)), "{body}");
}

/// `KafkaSchemaRegistry.updateConfig` / `deleteSubjectConfig`: "Subject ... is in read-only mode"
/// (42205) under READONLY and READONLY_OVERRIDE, for the subject's and the global config.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_modes_refuse_config_changes() {
    let process = RegistryProcess::start(&registry_support::unique_store_topic());
    let http = Http::new(&process.url);
    let (s, _) = http
        .put("/config/ro-value", &json!({"compatibility": "FULL"}))
        .await;
    assert_eq!(s, 200);
    for mode in ["READONLY", "READONLY_OVERRIDE"] {
        let (s, _) = http.put("/mode/ro-value", &json!({"mode": mode})).await;
        assert_eq!(s, 200);
        let (s, body) = http
            .put("/config/ro-value", &json!({"compatibility": "NONE"}))
            .await;
        assert_eq!((s, code(&body)), (422, Some(42205)), "{mode} {body}");
        let (s, body) = http.delete("/config/ro-value").await;
        assert_eq!((s, code(&body)), (422, Some(42205)), "{mode} {body}");
        let (s, _) = http.delete("/mode/ro-value").await;
        assert_eq!(s, 200);
    }
    http.put("/mode", &json!({"mode": "READONLY"})).await;
    let (s, body) = http.put("/config", &json!({"compatibility": "NONE"})).await;
    assert_eq!((s, code(&body)), (422, Some(42205)), "{body}");
    http.put("/mode", &json!({"mode": "READWRITE"})).await;
    let (_, cfg) = http.get("/config/ro-value").await;
    assert_eq!(cfg, json!({"compatibilityLevel": "FULL"}));
}

/// `AbstractSchemaRegistry.parseSchema`: the provider is looked up by the exact `schemaType`, so
/// `"avro"` is "Invalid schema type avro" (42201).
#[tokio::test]
async fn schema_type_is_case_sensitive() {
    let http = stack();
    let subject = unique_subject("conf.type");
    let (s, body) = http
        .post(
            &format!("/subjects/{subject}/versions"),
            &json!({"schema": v1().to_string(), "schemaType": "avro"}),
        )
        .await;
    assert_eq!((s, code(&body)), (422, Some(42201)), "{body}");
    let (s, _) = http
        .post(
            &format!("/subjects/{subject}/versions"),
            &json!({"schema": v1().to_string(), "schemaType": "AVRO"}),
        )
        .await;
    assert_eq!(s, 200);
}

/// `MD5.ofSchema` over `AvroSchema.canonicalString()` (Avro `Schema.toString()`): a schema
/// written with inherited names and with explicit namespaces is one schema with one id; a `doc`
/// or custom-attribute change is a new one.
#[tokio::test]
async fn namespace_spellings_share_one_id() {
    let http = stack();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let inherited = json!({"type": "record", "name": "Env", "namespace": format!("conf{tag}"), "fields": [
        {"name": "a", "type": {"type": "record", "name": "Addr", "fields": [
            {"name": "g", "type": {"type": "record", "name": "Geo", "fields": [{"name": "x", "type": "double"}]}}]}},
        {"name": "l", "type": {"type": "array", "items": {"type": "enum", "name": "K", "symbols": ["A"]}}},
        {"name": "u", "type": ["null", "Addr"], "default": null}]});
    let explicit = json!({"type": "record", "name": format!("conf{tag}.Env"), "fields": [
        {"name": "a", "type": {"type": "record", "name": "Addr", "namespace": format!("conf{tag}"), "fields": [
            {"name": "g", "type": {"type": "record", "name": format!("conf{tag}.Geo"), "fields": [{"name": "x", "type": "double"}]}}]}},
        {"name": "l", "type": {"type": "array", "items": {"type": "enum", "name": "K", "namespace": format!("conf{tag}"), "symbols": ["A"]}}},
        {"name": "u", "type": ["null", format!("conf{tag}.Addr")], "default": null}]});
    let (s1, a) = http.register(&unique_subject("conf.ns"), &inherited).await;
    let (s2, b) = http.register(&unique_subject("conf.ns"), &explicit).await;
    assert_eq!((s1, s2), (200, 200), "{a} {b}");
    assert_eq!(a["id"], b["id"]);
    let mut with_doc = inherited.clone();
    with_doc["doc"] = json!("changed");
    let (_, c) = http.register(&unique_subject("conf.ns"), &with_doc).await;
    assert_ne!(a["id"], c["id"], "a doc change is a new schema");
}

/// `AbstractSchemaRegistry.normalizeLimit`: `limit=0` (or negative) means the default limit,
/// i.e. everything for subject and version listings.
#[tokio::test]
async fn limit_zero_lists_everything() {
    let http = stack();
    let subject = unique_subject("conf.limit");
    http.register(&subject, &v1()).await;
    let (_, all) = http
        .get(&format!("/subjects/{subject}/versions?limit=0"))
        .await;
    assert_eq!(all, json!([1]));
    let (_, subjects) = http.get("/subjects?limit=0").await;
    assert!(subjects.as_array().unwrap().contains(&json!(subject)));
}

/// `ConfigResource.updateSubjectLevelConfig` + `ConfigValue.update`: a body without a level keeps
/// the current one and answers it, instead of 42203.
#[tokio::test]
async fn put_config_with_empty_body_answers_current_config() {
    let http = stack();
    let subject = unique_subject("conf.cfg");
    http.put(
        &format!("/config/{subject}"),
        &json!({"compatibility": "FULL"}),
    )
    .await;
    let (s, body) = http.put(&format!("/config/{subject}"), &json!({})).await;
    assert_eq!((s, body), (200, json!({"compatibility": "FULL"})));
    let (s, body) = http.put("/config", &json!({})).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["compatibility"].is_string(), "{body}");
}

/// `CompatibilityResource.testCompatibilityBySubjectName`: a numbered version of a subject that
/// does not exist is `versionNotFoundException` (40402); `ConfigResource.deleteSubjectConfig` and
/// `ModeResource.deleteSubjectMode` with nothing set are `subjectNotFoundException` (40401);
/// `SubjectsResource.lookUpSchemaUnderSubject` with an empty schema is a miss (404: 40401 for an
/// unknown subject, 40403 for a known one).
#[tokio::test]
async fn error_codes_match_confluent() {
    let http = stack();
    let missing = unique_subject("conf.missing");
    let body = json!({"schema": v1().to_string()});
    let (s, b) = http
        .post(
            &format!("/compatibility/subjects/{missing}/versions/1"),
            &body,
        )
        .await;
    assert_eq!((s, code(&b)), (404, Some(40402)), "{b}");
    let (s, b) = http
        .post(
            &format!("/compatibility/subjects/{missing}/versions/latest"),
            &body,
        )
        .await;
    assert_eq!((s, b), (200, json!({"is_compatible": true})));
    let (s, b) = http.delete(&format!("/config/{missing}")).await;
    assert_eq!((s, code(&b)), (404, Some(40401)), "{b}");
    let (s, b) = http.delete(&format!("/mode/{missing}")).await;
    assert_eq!((s, code(&b)), (404, Some(40401)), "{b}");
    let (s, b) = http
        .post(&format!("/subjects/{missing}"), &json!({"schema": ""}))
        .await;
    assert_eq!((s, code(&b)), (404, Some(40401)), "{b}");
    let known = unique_subject("conf.known");
    http.register(&known, &v1()).await;
    let (s, b) = http
        .post(&format!("/subjects/{known}"), &json!({"schema": ""}))
        .await;
    assert_eq!((s, code(&b)), (404, Some(40403)), "{b}");
    let (s, b) = http.post(&format!("/subjects/{known}"), &json!({})).await;
    assert_eq!((s, code(&b)), (404, Some(40403)), "{b}");
}

/// `SchemasResource.getSchema` with `fetchMaxId=true`: `maxId` is the highest id in use.
#[tokio::test]
async fn fetch_max_id() {
    let http = stack();
    let (_, reg) = http.register(&unique_subject("conf.maxid"), &v1()).await;
    let id = reg["id"].as_u64().unwrap();
    let (s, body) = http
        .get(&format!("/schemas/ids/{id}?fetchMaxId=true"))
        .await;
    assert_eq!(s, 200);
    assert!(body["maxId"].as_u64().is_some_and(|m| m >= id), "{body}");
    let (_, plain) = http.get(&format!("/schemas/ids/{id}")).await;
    assert!(plain.get("maxId").is_none());
}

/// References (`AbstractSchemaProvider.resolveReferences`, `SubjectVersionsResource.getReferencedBy`,
/// `KafkaSchemaRegistry.deleteSchemaVersion` / `deleteSubject` → `ReferenceExistsException`
/// 42206): a type registered once and referenced by another subject resolves for registration,
/// lookup and compatibility, is returned in `references`, lists its referrers, and cannot be
/// deleted while referenced; an unknown reference is an invalid schema (42201).
#[tokio::test]
async fn references_register_lookup_compat_and_block_deletes() {
    let http = stack();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let ns = format!("conf{tag}");
    let address_subject = unique_subject("conf.address");
    let address = json!({"type": "record", "name": "Address", "namespace": ns,
        "fields": [{"name": "line", "type": "string"}]});
    let (s, a) = http.register(&address_subject, &address).await;
    assert_eq!(s, 200, "{a}");
    let refs = json!([{"name": format!("{ns}.Address"), "subject": address_subject, "version": 1}]);
    let person = json!({"type": "record", "name": "Person", "namespace": ns,
        "fields": [{"name": "home", "type": format!("{ns}.Address")}]});
    let person_subject = unique_subject("conf.person");
    let req = json!({"schema": person.to_string(), "references": refs});
    let (s, p) = http
        .post(&format!("/subjects/{person_subject}/versions"), &req)
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["references"], refs);
    let pid = p["id"].as_u64().unwrap();
    let (_, again) = http
        .post(&format!("/subjects/{person_subject}/versions"), &req)
        .await;
    assert_eq!(again["id"].as_u64(), Some(pid));
    let (_, by_id) = http.get(&format!("/schemas/ids/{pid}")).await;
    assert_eq!(by_id["references"], refs);
    let (_, v) = http
        .get(&format!("/subjects/{person_subject}/versions/1"))
        .await;
    assert_eq!(v["references"], refs);
    let (s, found) = http
        .post(&format!("/subjects/{person_subject}"), &req)
        .await;
    assert_eq!((s, found["version"].as_u64()), (200, Some(1)), "{found}");
    // Compatible evolution using the referenced type.
    let person2 = json!({"type": "record", "name": "Person", "namespace": ns, "fields": [
        {"name": "home", "type": format!("{ns}.Address")},
        {"name": "work", "type": ["null", format!("{ns}.Address")], "default": null}]});
    let req2 = json!({"schema": person2.to_string(), "references": refs});
    let (s, c) = http
        .post(
            &format!("/compatibility/subjects/{person_subject}/versions/latest"),
            &req2,
        )
        .await;
    assert_eq!((s, c), (200, json!({"is_compatible": true})));
    // referencedby and delete refused while referenced.
    let (_, by) = http
        .get(&format!(
            "/subjects/{address_subject}/versions/1/referencedby"
        ))
        .await;
    assert_eq!(by, json!([pid]));
    let (s, b) = http
        .delete(&format!("/subjects/{address_subject}/versions/1"))
        .await;
    assert_eq!((s, code(&b)), (422, Some(42206)), "{b}");
    let (s, b) = http.delete(&format!("/subjects/{address_subject}")).await;
    assert_eq!((s, code(&b)), (422, Some(42206)), "{b}");
    // Unknown reference.
    let bad = json!({"schema": person.to_string(),
        "references": [{"name": format!("{ns}.Address"), "subject": address_subject, "version": 9}]});
    let (s, b) = http
        .post(
            &format!("/subjects/{}/versions", unique_subject("conf.bad")),
            &bad,
        )
        .await;
    assert_eq!((s, code(&b)), (422, Some(42201)), "{b}");
    // Once the referrer is gone (soft delete), the referenced version may be soft-deleted.
    let (s, _) = http.delete(&format!("/subjects/{person_subject}")).await;
    assert_eq!(s, 200);
    let (_, by) = http
        .get(&format!(
            "/subjects/{address_subject}/versions/1/referencedby"
        ))
        .await;
    assert_eq!(by, json!([]));
    let (s, b) = http
        .delete(&format!("/subjects/{address_subject}/versions/1"))
        .await;
    assert_eq!(s, 200, "{b}");
}

/// Data contracts (`AbstractSchemaRegistry.maybeSetMetadataRuleSet`, `MD5.ofSchema`): `metadata`
/// and `ruleSet` are stored and returned; the same schema with other metadata is a new version
/// and id; a registration without them inherits the latest version's (and so is that version).
#[tokio::test]
async fn metadata_and_rule_sets_are_versioned_and_part_of_identity() {
    let http = stack();
    let subject = unique_subject("conf.contract");
    let url = format!("/subjects/{subject}/versions");
    let metadata = json!({"properties": {"owner": "housing"}});
    let rule_set = json!({"domainRules": [{"name": "checkId", "kind": "CONDITION", "mode": "WRITE",
        "type": "CEL", "expr": "message.id != ''"}]});
    let req = json!({"schema": v1().to_string(), "metadata": metadata, "ruleSet": rule_set});
    let (s, r1) = http.post(&url, &req).await;
    assert_eq!(s, 200, "{r1}");
    assert_eq!(
        (r1["metadata"].clone(), r1["ruleSet"].clone()),
        (metadata.clone(), rule_set.clone())
    );
    let (_, latest) = http.get(&format!("{url}/latest")).await;
    assert_eq!(latest["metadata"], metadata);
    assert_eq!(latest["ruleSet"], rule_set);
    let (_, by_id) = http.get(&format!("/schemas/ids/{}", r1["id"])).await;
    assert_eq!(by_id["metadata"], metadata);
    // Without metadata/ruleSet: inherits them, so it is version 1 again.
    let (_, same) = http.register(&subject, &v1()).await;
    assert_eq!(
        (same["version"].as_u64(), same["id"].clone()),
        (Some(1), r1["id"].clone())
    );
    let (s, looked) = http
        .post(
            &format!("/subjects/{subject}"),
            &json!({"schema": v1().to_string()}),
        )
        .await;
    assert_eq!((s, looked["version"].as_u64()), (200, Some(1)), "{looked}");
    // Other metadata: a new version with a new id, same schema text.
    let other = json!({"properties": {"owner": "planning"}});
    let (s, r2) = http
        .post(
            &url,
            &json!({"schema": v1().to_string(), "metadata": other}),
        )
        .await;
    assert_eq!(s, 200, "{r2}");
    assert_eq!(r2["version"].as_u64(), Some(2));
    assert_ne!(r2["id"], r1["id"]);
    assert_eq!(r2["metadata"], other);
    assert_eq!(r2["ruleSet"], rule_set, "the rule set is inherited");
}
