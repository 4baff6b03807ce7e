//! Registry authorisation end to end: a private `lgma-registry` with a users file (two councils
//! with their own subject prefixes, a read-only user, a `*` writer and an admin) on a unique store
//! topic. A council may register, delete and configure only its own subjects (403/40301 with
//! Confluent's "User is denied operation ... on Subject: ..." on another's), only the admin may
//! change the global config and mode, a reader writes nothing, no credentials is 401/40101, and
//! the registry refuses to start without a users file unless anonymous access is allowed.
//!
//! Needs the broker (`infra/stack up tansu`) and `cargo build -p lgma-registry`.

use crate::registry_support;

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use registry_support::{free_port, record, sha256_hex, unique_store_topic, RegistryProcess, CT};

const DUBLIN: (&str, &str) = ("dublin-city", "d-pass-1");
const CORK: (&str, &str) = ("cork-city", "c-pass-1");
const READER: (&str, &str) = ("analyst", "r-pass-1");
const PLATFORM: (&str, &str) = ("platform", "p-pass-1");
const ADMIN: (&str, &str) = ("registry-admin", "a-pass-1");

fn user(name: &str, password: &str, role: &str, subjects: Option<&str>) -> String {
    let subjects = subjects
        .map(|s| format!("subjects = {s}\n"))
        .unwrap_or_default();
    format!(
        "[[users]]\nname = \"{name}\"\npassword_sha256 = \"{}\"\nrole = \"{role}\"\n{subjects}\n",
        sha256_hex(password)
    )
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("lgma-reg-authz-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_registry(dir: &TempDir) -> RegistryProcess {
    let users = dir.0.join("users.toml");
    let text = [
        user(
            DUBLIN.0,
            DUBLIN.1,
            "write",
            Some(r#"["dublin-city.", "lgma.planning.application"]"#),
        ),
        user(CORK.0, CORK.1, "write", Some(r#"["cork-city."]"#)),
        user(READER.0, READER.1, "read", None),
        user(PLATFORM.0, PLATFORM.1, "write", Some(r#"["*"]"#)),
        user(ADMIN.0, ADMIN.1, "admin", None),
    ]
    .concat();
    std::fs::write(&users, text).expect("write users file");
    RegistryProcess::start_with(
        &unique_store_topic(),
        free_port(),
        &[(
            "LGMA_REGISTRY_AUTH__USERS_FILE",
            users.display().to_string(),
        )],
    )
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        who: Option<(&str, &str)>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((name, password)) = who {
            req = req.basic_auth(name, Some(password));
        }
        if let Some(body) = body {
            req = req.header("Content-Type", CT).body(body.to_string());
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn register(&self, who: (&str, &str), subject: &str, version: u32) -> (u16, Value) {
        self.call(
            Some(who),
            Method::POST,
            &format!("/subjects/{subject}/versions"),
            Some(json!({"schema": schema(version).to_string()})),
        )
        .await
    }
}

/// Version `n` of a test schema: each adds an optional field (BACKWARD compatible).
fn schema(n: u32) -> Value {
    let mut fields = vec![json!({"name": "id", "type": "string"})];
    for i in 2..=n {
        fields.push(json!({"name": format!("f{i}"), "type": ["null", "int"], "default": null}));
    }
    record("Authz", Value::Array(fields))
}

#[track_caller]
fn assert_ok(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{what}: {body}");
    body
}

/// Confluent's authorisation error: 403, 40301, "User is denied operation ... on ...".
#[track_caller]
fn assert_denied(what: &str, (status, body): (u16, Value), expected_message_part: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["error_code"], json!(40301), "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("User is denied operation") && message.contains(expected_message_part),
        "{what}: {message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn councils_write_only_their_own_subjects_and_only_admin_changes_globals() {
    let dir = TempDir::new();
    let process = start_registry(&dir);
    let c = Client {
        base: process.url.clone(),
        http: reqwest::Client::new(),
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let dublin_subject = format!("dublin-city.planning-{suffix}-value");
    let dublin_shared = format!("lgma.planning.application-{suffix}-value");
    let cork_subject = format!("cork-city.planning-{suffix}-value");

    // Unauthenticated, wrong password, unknown user: 401/40101 with a challenge, reads included.
    for who in [None, Some((DUBLIN.0, "wrong")), Some(("nobody", DUBLIN.1))] {
        let (status, body) = c.call(who, Method::GET, "/subjects", None).await;
        assert_eq!((status, body["error_code"].clone()), (401, json!(40101)));
    }
    let (status, _) = c.register(("nobody", "x"), &dublin_subject, 1).await;
    assert_eq!(status, 401);

    // Each council registers its own subjects (a prefix list: its own and the shared one it owns).
    assert_ok("dublin v1", c.register(DUBLIN, &dublin_subject, 1).await);
    assert_ok("dublin v2", c.register(DUBLIN, &dublin_subject, 2).await);
    assert_ok("dublin shared", c.register(DUBLIN, &dublin_shared, 1).await);
    assert_ok("cork v1", c.register(CORK, &cork_subject, 1).await);

    // Every write route on another council's subject: 403/40301, and nothing changed.
    let cork_versions = format!("/subjects/{cork_subject}/versions");
    let denied: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            cork_versions.clone(),
            Some(json!({"schema": schema(2).to_string()})),
            "Write on Subject: ",
        ),
        (
            Method::DELETE,
            format!("/subjects/{cork_subject}/versions/1"),
            None,
            "Delete on Subject: ",
        ),
        (
            Method::DELETE,
            format!("/subjects/{cork_subject}/versions/latest?permanent=true"),
            None,
            "Delete on Subject: ",
        ),
        (
            Method::DELETE,
            format!("/subjects/{cork_subject}"),
            None,
            "Delete on Subject: ",
        ),
        (
            Method::DELETE,
            format!("/subjects/{cork_subject}?permanent=true"),
            None,
            "Delete on Subject: ",
        ),
        (
            Method::PUT,
            format!("/config/{cork_subject}"),
            Some(json!({"compatibility": "NONE"})),
            "AlterConfigs on Subject: ",
        ),
        (
            Method::DELETE,
            format!("/config/{cork_subject}"),
            None,
            "AlterConfigs on Subject: ",
        ),
        (
            Method::PUT,
            format!("/mode/{cork_subject}"),
            Some(json!({"mode": "READONLY"})),
            "AlterConfigs on Subject: ",
        ),
        (
            Method::DELETE,
            format!("/mode/{cork_subject}"),
            None,
            "AlterConfigs on Subject: ",
        ),
    ];
    for (method, path, body, operation) in &denied {
        let what = format!("dublin {method} {path}");
        let answer = c
            .call(Some(DUBLIN), method.clone(), path, body.clone())
            .await;
        assert_denied(&what, answer, &format!("{operation}{cork_subject}"));
        // The read-only user is refused the same writes, even on subjects nobody owns.
        let answer = c
            .call(Some(READER), method.clone(), path, body.clone())
            .await;
        assert_denied(&format!("reader {method} {path}"), answer, operation);
    }
    // Prefix matching is by prefix, not by substring or by a prefix without its separator.
    for other in [
        format!("x.dublin-city.{suffix}-value"),
        format!("dublin-city-{suffix}-value"),
        format!("lgma.planning.decision-{suffix}-value"),
    ] {
        let answer = c.register(DUBLIN, &other, 1).await;
        assert_denied(&format!("dublin registers {other}"), answer, &other);
    }
    // A percent-encoded subject is judged by its decoded name, as the handler sees it.
    let encoded = format!("/subjects/cork-city%2Eplanning-{suffix}-value/versions");
    let answer = c
        .call(
            Some(DUBLIN),
            Method::POST,
            &encoded,
            Some(json!({"schema": schema(2).to_string()})),
        )
        .await;
    assert_denied("encoded cork subject", answer, &cork_subject);
    // Cork's subject is unchanged: one version, no subject-level config or mode.
    let versions = assert_ok(
        "cork versions",
        c.call(Some(READER), Method::GET, &cork_versions, None)
            .await,
    );
    assert_eq!(versions, json!([1]));
    let (status, _) = c
        .call(
            Some(READER),
            Method::GET,
            &format!("/config/{cork_subject}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "cork has no subject-level config");

    // Reads stay open to every authenticated role: GETs, lookups and compatibility checks.
    for who in [READER, DUBLIN, CORK, PLATFORM, ADMIN] {
        assert_ok(
            "read latest",
            c.call(
                Some(who),
                Method::GET,
                &format!("{cork_versions}/latest"),
                None,
            )
            .await,
        );
        assert_ok(
            "lookup",
            c.call(
                Some(who),
                Method::POST,
                &format!("/subjects/{cork_subject}"),
                Some(json!({"schema": schema(1).to_string()})),
            )
            .await,
        );
        let compat = assert_ok(
            "compatibility",
            c.call(
                Some(who),
                Method::POST,
                &format!("/compatibility/subjects/{cork_subject}/versions/latest"),
                Some(json!({"schema": schema(2).to_string()})),
            )
            .await,
        );
        assert_eq!(compat["is_compatible"], json!(true));
        assert_ok(
            "global config",
            c.call(Some(who), Method::GET, "/config", None).await,
        );
        assert_ok(
            "global mode",
            c.call(Some(who), Method::GET, "/mode", None).await,
        );
    }

    // Dublin configures, sets the mode of and deletes its own subject.
    let dublin_config = format!("/config/{dublin_subject}");
    let dublin_mode = format!("/mode/{dublin_subject}");
    let level = assert_ok(
        "dublin config",
        c.call(
            Some(DUBLIN),
            Method::PUT,
            &dublin_config,
            Some(json!({"compatibility": "FULL"})),
        )
        .await,
    );
    assert_eq!(level, json!({"compatibility": "FULL"}));
    assert_ok(
        "dublin config reset",
        c.call(Some(DUBLIN), Method::DELETE, &dublin_config, None)
            .await,
    );
    assert_ok(
        "dublin mode",
        c.call(
            Some(DUBLIN),
            Method::PUT,
            &dublin_mode,
            Some(json!({"mode": "READONLY"})),
        )
        .await,
    );
    assert_ok(
        "dublin mode reset",
        c.call(Some(DUBLIN), Method::DELETE, &dublin_mode, None)
            .await,
    );
    assert_ok(
        "dublin soft-deletes v2",
        c.call(
            Some(DUBLIN),
            Method::DELETE,
            &format!("/subjects/{dublin_subject}/versions/2"),
            None,
        )
        .await,
    );
    assert_ok(
        "dublin permanently deletes v2",
        c.call(
            Some(DUBLIN),
            Method::DELETE,
            &format!("/subjects/{dublin_subject}/versions/2?permanent=true"),
            None,
        )
        .await,
    );
    assert_ok(
        "dublin soft-deletes the subject",
        c.call(
            Some(DUBLIN),
            Method::DELETE,
            &format!("/subjects/{dublin_subject}"),
            None,
        )
        .await,
    );
    assert_ok(
        "dublin permanently deletes the subject",
        c.call(
            Some(DUBLIN),
            Method::DELETE,
            &format!("/subjects/{dublin_subject}?permanent=true"),
            None,
        )
        .await,
    );
    // Cork may not touch Dublin's shared prefix either.
    let answer = c.register(CORK, &dublin_shared, 2).await;
    assert_denied("cork on dublin's shared subject", answer, &dublin_shared);

    // Global config and mode: admin only. Councils, the `*` writer and the reader get 403.
    let globals: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::PUT,
            "/config",
            Some(json!({"compatibility": "NONE"})),
        ),
        (Method::DELETE, "/config", None),
        (Method::PUT, "/mode", Some(json!({"mode": "READONLY"}))),
    ];
    for who in [DUBLIN, CORK, PLATFORM, READER] {
        for (method, path, body) in &globals {
            let answer = c.call(Some(who), method.clone(), path, body.clone()).await;
            assert_denied(
                &format!("{} {method} {path}", who.0),
                answer,
                &format!("on Global: {path}"),
            );
        }
    }
    let global = assert_ok(
        "global config unchanged",
        c.call(Some(READER), Method::GET, "/config", None).await,
    );
    assert_eq!(global["compatibilityLevel"], json!("BACKWARD"));
    let mode = assert_ok(
        "global mode unchanged",
        c.call(Some(READER), Method::GET, "/mode", None).await,
    );
    assert_eq!(mode["mode"], json!("READWRITE"));
    // Any non-read request on an unknown route needs the admin too (fail closed).
    let answer = c
        .call(Some(PLATFORM), Method::POST, "/exporters", Some(json!({})))
        .await;
    assert_denied("writer POST /exporters", answer, "on Global: /exporters");

    // The `*` writer may write any subject, but not the globals (checked above).
    assert_ok(
        "platform on cork",
        c.register(PLATFORM, &cork_subject, 2).await,
    );

    // The admin: global config and mode, and any subject.
    let level = assert_ok(
        "admin global config",
        c.call(
            Some(ADMIN),
            Method::PUT,
            "/config",
            Some(json!({"compatibility": "FULL"})),
        )
        .await,
    );
    assert_eq!(level, json!({"compatibility": "FULL"}));
    assert_ok(
        "admin global config reset",
        c.call(Some(ADMIN), Method::DELETE, "/config", None).await,
    );
    assert_ok(
        "admin global mode",
        c.call(
            Some(ADMIN),
            Method::PUT,
            "/mode",
            Some(json!({"mode": "READONLY"})),
        )
        .await,
    );
    // READONLY globally: even the council's own writes are refused by the mode (42205), not auth.
    let (status, body) = c.register(DUBLIN, &dublin_shared, 2).await;
    assert_eq!((status, body["error_code"].clone()), (422, json!(42205)));
    assert_ok(
        "admin global mode back",
        c.call(
            Some(ADMIN),
            Method::PUT,
            "/mode",
            Some(json!({"mode": "READWRITE"})),
        )
        .await,
    );
    assert_ok(
        "admin config on cork",
        c.call(
            Some(ADMIN),
            Method::PUT,
            &format!("/config/{cork_subject}"),
            Some(json!({"compatibility": "NONE"})),
        )
        .await,
    );
    assert_ok(
        "admin deletes cork's subject",
        c.call(
            Some(ADMIN),
            Method::DELETE,
            &format!("/subjects/{cork_subject}"),
            None,
        )
        .await,
    );
    // IMPORT mode lets a client choose (global) schema ids: admin only, even on a council's own
    // subject; and an imported id must fit Confluent's int, so allocation cannot be pushed out.
    let import_subject = format!("dublin-city.import-{suffix}-value");
    let import_mode = format!("/mode/{import_subject}");
    let answer = c
        .call(
            Some(DUBLIN),
            Method::PUT,
            &import_mode,
            Some(json!({"mode": "IMPORT"})),
        )
        .await;
    assert_denied(
        "dublin IMPORT mode",
        answer,
        "IMPORT mode is for the admin role only",
    );
    assert_ok(
        "admin IMPORT mode",
        c.call(
            Some(ADMIN),
            Method::PUT,
            &import_mode,
            Some(json!({"mode": "IMPORT"})),
        )
        .await,
    );
    // A schema not registered yet (the same schema under another id is refused, 42205).
    let imported_schema = record("AuthzImport", json!([{"name": "id", "type": "string"}]));
    let import = |id: i64| json!({"schema": imported_schema.to_string(), "id": id, "version": 1});
    let (status, body) = c
        .call(
            Some(ADMIN),
            Method::POST,
            &format!("/subjects/{import_subject}/versions"),
            Some(import(i64::from(u32::MAX))),
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42205)),
        "{body}"
    );
    let imported = assert_ok(
        "admin imports id 100000",
        c.call(
            Some(ADMIN),
            Method::POST,
            &format!("/subjects/{import_subject}/versions"),
            Some(import(100_000)),
        )
        .await,
    );
    assert_eq!(imported["id"], json!(100_000));
    assert_ok(
        "admin READWRITE again",
        c.call(Some(ADMIN), Method::DELETE, &import_mode, None)
            .await,
    );

    // Ops endpoints stay open for probes.
    let (status, _) = c.call(None, Method::GET, "/health", None).await;
    assert_eq!(status, 200);

    // Credentials in the registry URL, as services without registry auth settings are configured
    // (LGMA_INGEST_REGISTRY_URL=https://lgma-ingest:<pw>@registry.internal): reqwest sends them.
    let with_userinfo =
        process
            .url
            .replacen("http://", &format!("http://{}:{}@", READER.0, READER.1), 1);
    let status = reqwest::get(format!("{with_userinfo}/subjects"))
        .await
        .expect("GET with credentials in the URL")
        .status();
    assert_eq!(status.as_u16(), 200);
}

fn run_without_users_file(extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(registry_support::registry_bin());
    cmd.args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--topic", &unique_store_topic()])
        .env("LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .env("LGMA_REGISTRY_STORE__STARTUP_TIMEOUT_SECS", "2")
        .env_remove("LGMA_REGISTRY_AUTH__USERS_FILE")
        .env_remove("LGMA_REGISTRY_AUTH__ALLOW_ANONYMOUS");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run lgma-registry")
}

#[test]
fn refuses_to_start_without_users_file_unless_anonymous_is_allowed() {
    // No users file, no development setting: a clear refusal before touching the broker.
    let out = run_without_users_file(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no users file")
            && stderr.contains("LGMA_REGISTRY_AUTH__USERS_FILE")
            && stderr.contains("allow_anonymous")
            && !stderr.contains("unreachable"),
        "{stderr}"
    );
    // With the development setting it gets past auth (to the unreachable broker) and warns.
    let out = run_without_users_file(&[
        ("LGMA_REGISTRY_AUTH__ALLOW_ANONYMOUS", "true"),
        ("RUST_LOG", "warn"),
    ]);
    assert!(!out.status.success());
    // Logs go to stdout, the final error to stderr.
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        output.contains("AUTH IS OFF") && output.contains("unreachable"),
        "{output}"
    );
}

#[test]
fn a_write_user_without_subjects_is_a_startup_error() {
    let dir = TempDir::new();
    let users = dir.0.join("users.toml");
    std::fs::write(&users, user("old-writer", "pw", "write", None)).expect("write users file");
    let users = users.display().to_string();
    let out = run_without_users_file(&[("LGMA_REGISTRY_AUTH__USERS_FILE", users.as_str())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("old-writer") && stderr.contains("needs `subjects"),
        "{stderr}"
    );
}
