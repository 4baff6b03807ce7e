//! Data protection checks against the running stack:
//! - the read-only ClickHouse user (`lgma_reader`, the API's and analysts' user) cannot write:
//!   INSERT, ALTER (DELETE/UPDATE/ADD COLUMN), DROP, TRUNCATE, DETACH, RENAME, OPTIMIZE, CREATE
//!   (table, temporary table, database), SYSTEM, table functions, INTO OUTFILE, raising its own
//!   `readonly`/limits, killing another user's query — each refused, and a canary table is unchanged;
//! - pseudonymisation keys appear in no service log written during tests (every ingest/registry/
//!   API/publisher log of the Rust and Python tests in the temp folder, the stack's logs), nor in `print-config`, nor in the errors for a bad keys file
//!   or a bad key override.

use crate::ingest_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ingest_support::*;
use lgma_e2e::clickhouse_url;

fn creds(user: &str) -> (String, String) {
    let (var, default) = match user {
        "lgma_admin" => ("LGMA_CH_ADMIN_PASSWORD", "admin-local"),
        _ => ("LGMA_CH_READER_PASSWORD", "reader-local"),
    };
    (
        user.to_string(),
        std::env::var(var).unwrap_or_else(|_| default.into()),
    )
}

async fn ch_as(user: &str, sql: &str, params: &[(&str, &str)]) -> anyhow::Result<(u16, String)> {
    let (name, password) = creds(user);
    let r = reqwest::Client::new()
        .post(clickhouse_url())
        .basic_auth(name, Some(password))
        .query(params)
        .body(sql.to_string())
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_clickhouse_user_cannot_write_or_escalate() -> anyhow::Result<()> {
    let canary = format!("lgma.reliability_canary_{}", uuid::Uuid::new_v4().simple());
    let evil = format!("{canary}_evil");
    let (s, t) = ch_as(
        "lgma_admin",
        &format!("CREATE TABLE {canary} (a UInt8, s String) ENGINE = MergeTree ORDER BY a"),
        &[],
    )
    .await?;
    assert_eq!(s, 200, "{t}");
    ch_as(
        "lgma_admin",
        &format!("INSERT INTO {canary} VALUES (1, 'x'), (2, 'y')"),
        &[],
    )
    .await?;
    let state = || async {
        let rows = ch_as(
            "lgma_admin",
            &format!("SELECT a, s FROM {canary} ORDER BY a FORMAT TSV"),
            &[],
        )
        .await?
        .1;
        let columns = ch_as("lgma_admin", &format!("DESCRIBE TABLE {canary}"), &[])
            .await?
            .1;
        let tables = ch_as(
            "lgma_admin",
            &format!(
                "SELECT name FROM system.tables WHERE database = 'lgma' AND name LIKE '{}%' ORDER BY name",
                canary.trim_start_matches("lgma.")
            ),
            &[],
        )
        .await?
        .1;
        let dbs = ch_as(
            "lgma_admin",
            "SELECT name FROM system.databases WHERE name LIKE 'reliability_evil%'",
            &[],
        )
        .await?
        .1;
        anyhow::Ok((rows, columns, tables, dbs))
    };
    let before = state().await?;
    assert_eq!(before.0, "1\tx\n2\ty\n");

    let attempts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("INSERT INTO {canary} VALUES (3, 'z')"), vec![]),
        (format!("ALTER TABLE {canary} DELETE WHERE 1"), vec![]),
        (
            format!("ALTER TABLE {canary} UPDATE s = 'h' WHERE 1"),
            vec![],
        ),
        (
            format!("ALTER TABLE {canary} ADD COLUMN evil String"),
            vec![],
        ),
        (format!("ALTER TABLE {canary} DROP COLUMN s"), vec![]),
        (format!("DROP TABLE {canary}"), vec![]),
        (format!("TRUNCATE TABLE {canary}"), vec![]),
        (format!("DETACH TABLE {canary}"), vec![]),
        (format!("RENAME TABLE {canary} TO {evil}"), vec![]),
        (format!("OPTIMIZE TABLE {canary} FINAL"), vec![]),
        (
            format!("CREATE TABLE {evil} (a UInt8) ENGINE = Memory"),
            vec![],
        ),
        (
            format!("CREATE TABLE {evil} ENGINE = Memory AS SELECT * FROM {canary}"),
            vec![],
        ),
        (
            "CREATE TEMPORARY TABLE t (a UInt8) ENGINE = Memory".into(),
            vec![],
        ),
        ("CREATE DATABASE reliability_evil".into(), vec![]),
        ("SYSTEM STOP MERGES".into(), vec![]),
        ("SYSTEM DROP MARK CACHE".into(), vec![]),
        (
            "SELECT * FROM file('/etc/passwd', 'TSV', 's String')".into(),
            vec![],
        ),
        (
            "SELECT * FROM url('http://127.0.0.1:8123/?query=SELECT+1', 'TSV', 's String')".into(),
            vec![],
        ),
        (
            "SELECT 1 INTO OUTFILE '/tmp/reliability-evil.tsv'".into(),
            vec![],
        ),
        // Escalation through settings: the readonly profile cannot be lifted per request.
        (
            format!("INSERT INTO {canary} VALUES (4, 'w')"),
            vec![("readonly", "0")],
        ),
        (
            format!("INSERT INTO {canary} VALUES (4, 'w')"),
            vec![("readonly", "2")],
        ),
        (
            "SELECT 1".into(),
            vec![("max_memory_usage", "100000000000")],
        ),
        ("SELECT 1".into(), vec![("max_execution_time", "0")]),
    ];
    for (sql, params) in &attempts {
        let (status, text) = ch_as("lgma_reader", sql, params).await?;
        println!(
            "injected as lgma_reader: {sql} {params:?} → {status} {}",
            text.lines().next().unwrap_or("")
        );
        assert_ne!(status, 200, "lgma_reader could run: {sql} {params:?}");
        assert!(
            text.contains("Code: 164") || text.contains("Code: 358"),
            "{sql}: refused for the wrong reason: {text}"
        );
    }

    // Killing another user's query: a 2 s admin query, the reader tries to kill it by id.
    let qid = format!("reliability-{}", uuid::Uuid::new_v4().simple());
    let q = qid.clone();
    let long = tokio::spawn(async move {
        ch_as("lgma_admin", "SELECT sleep(2)", &[("query_id", q.as_str())]).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, text) = ch_as(
        "lgma_reader",
        &format!("KILL QUERY WHERE query_id = '{qid}' SYNC"),
        &[],
    )
    .await?;
    println!(
        "injected as lgma_reader: KILL QUERY of an admin query → {status} {}",
        text.trim()
    );
    assert_ne!(status, 200, "{text}");
    assert!(
        text.contains("attempts to kill query created by lgma_admin"),
        "{text}"
    );
    let (s, out) = long.await??;
    assert_eq!((s, out.trim()), (200, "0"), "the admin query finished");

    // The reader can still read (the refusals were about writing, not a broken login).
    let (s, out) = ch_as("lgma_reader", &format!("SELECT count() FROM {canary}"), &[]).await?;
    assert_eq!((s, out.trim()), (200, "2"));

    let after = state().await?;
    ch_as("lgma_admin", &format!("DROP TABLE IF EXISTS {canary}"), &[]).await?;
    assert_eq!(
        before, after,
        "rows, columns, tables and databases unchanged"
    );
    println!(
        "counted: {} write/escalation attempts + 1 kill refused; canary rows, columns, tables and databases unchanged",
        attempts.len()
    );
    Ok(())
}

/// Every key of the example keys file: hex as configured, and the decoded bytes when they are text.
fn example_secrets() -> Vec<String> {
    let text =
        std::fs::read_to_string(repo().join("infra/config/keys.example.toml")).expect("keys");
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("key_hex = \"") {
            let hex = rest.trim_end_matches('"').to_string();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            if let Ok(ascii) = String::from_utf8(bytes) {
                out.push(ascii);
            }
            out.push(hex);
        }
    }
    assert_eq!(out.len(), 8, "4 domains, hex and text");
    out
}

fn log_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && depth > 0 {
            log_files(&path, depth - 1, out);
        } else if path.extension().is_some_and(|e| e == "log") {
            out.push(path);
        }
    }
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    let lower = text.to_lowercase();
    for s in secrets {
        assert!(
            !lower.contains(&s.to_lowercase()),
            "{what} contains key material ({} chars)",
            s.len()
        );
    }
}

#[tokio::test]
async fn keys_never_appear_in_logs_config_dumps_or_errors() -> anyhow::Result<()> {
    let secrets = example_secrets();
    let bin = ingest_binary();

    // print-config with a key override in the environment.
    let override_text = "reliability-override-key-material-0001";
    let override_hex: String = override_text.bytes().map(|b| format!("{b:02x}")).collect();
    let mut all = secrets.clone();
    all.push(override_text.into());
    all.push(override_hex.clone());
    let out = Command::new(&bin)
        .args(["--config"])
        .arg(repo().join("infra/config/ingest.toml"))
        .arg("print-config")
        .env("LGMA_INGEST_KEY_WASTE", format!("wa-rel-9:{override_hex}"))
        .output()?;
    let dump = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{dump}");
    assert!(dump.contains("keys_file"), "the dump is the settings");
    assert_no_secret("print-config", &dump, &all);

    // A keys file that is not valid TOML on the line holding the key, and a short key: the
    // errors name the problem, never the material.
    let dir = std::env::temp_dir().join(format!(
        "lgma-reliability-keys-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let broken_secret = "6c676d612d72656c696162696c6974792d62726f6b656e2d6b65792d2d2d2d2d2d2d2d";
    let cases = [
        (
            "not TOML",
            format!("[domains.homelessness]\nkey_version = \"x-1\"\nkey_hex = {broken_secret}\n"),
            vec![],
        ),
        (
            "short key",
            format!("[domains.homelessness]\nkey_version = \"x-1\"\nkey_hex = \"{}\"\n", &broken_secret[..20]),
            vec![],
        ),
        (
            "not hex",
            "[domains.homelessness]\nkey_version = \"x-1\"\nkey_hex = \"zz-not-hex-but-secret-zz\"\n".to_string(),
            vec![],
        ),
        (
            "bad env override",
            std::fs::read_to_string(repo().join("infra/config/keys.example.toml"))?,
            vec![("LGMA_INGEST_KEY_PLANNING", format!("pl-x:{}", &broken_secret[..30]))],
        ),
    ];
    for (what, keys, env) in cases {
        let keys_path = dir.join("keys.toml");
        std::fs::write(&keys_path, keys)?;
        let config = dir.join("ingest.toml");
        let base = std::fs::read_to_string(repo().join("infra/config/ingest.toml"))?;
        let text = base
            .replace(
                "keys_file = \"keys.example.toml\"",
                &format!("keys_file = \"{}\"", keys_path.display()),
            )
            .replace(
                "schemas_dir = \"../../schemas\"",
                &format!("schemas_dir = \"{}\"", repo().join("schemas").display()),
            )
            .replace(
                "rules_dir = \"../../schemas/rules\"",
                &format!("rules_dir = \"{}\"", repo().join("schemas/rules").display()),
            )
            .replace("127.0.0.1:9181", &format!("127.0.0.1:{}", free_port()?));
        assert!(text.contains(&keys_path.display().to_string()));
        std::fs::write(&config, text)?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--config").arg(&config).arg("run");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "injected keys file '{what}': exit {:?}, {}",
            out.status.code(),
            text.lines().last().unwrap_or("")
        );
        assert!(
            !out.status.success(),
            "{what}: the service refused to start"
        );
        let mut forbidden = all.clone();
        forbidden.push(broken_secret.to_string());
        forbidden.push(broken_secret[..20].to_string());
        forbidden.push(broken_secret[..30].to_string());
        forbidden.push("zz-not-hex-but-secret-zz".to_string());
        assert_no_secret(what, &text, &forbidden);
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Every service log this machine's tests wrote: ingest test instances (temp folder) and the
    // stack's own services (.data).
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            // Our e2e instances (lgma-*) and the Python tests' services (pytest-of-<user>/pytest-N/<test>/).
            if name.starts_with("lgma-") {
                log_files(&e.path(), 2, &mut files);
            } else if name.starts_with("pytest-of-") {
                log_files(&e.path(), 3, &mut files);
            }
        }
    }
    let data = std::env::var("LGMA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".data"));
    log_files(&data, 3, &mut files);
    let ingest_logs = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("lgma-ingest-test"))
        .count();
    let mut bytes = 0usize;
    for f in &files {
        // The first 64 MiB of each file (bench logs can be large; keys would show at start-up).
        let Ok(file) = std::fs::File::open(f) else {
            continue;
        };
        let mut text = Vec::new();
        if std::io::Read::read_to_end(&mut std::io::Read::take(file, 64 << 20), &mut text).is_err()
        {
            continue;
        }
        bytes += text.len();
        assert_no_secret(
            &f.display().to_string(),
            &String::from_utf8_lossy(&text),
            &all,
        );
    }
    println!(
        "counted: {} log files ({ingest_logs} from ingest test instances, {bytes} bytes) and the print-config \
         dump scanned for {} key strings: none found",
        files.len(),
        all.len()
    );
    assert!(files.len() >= 3, "found the logs: {files:?}");
    Ok(())
}
