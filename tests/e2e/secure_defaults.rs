//! Secure defaults (issue 14, "Secrets and keys"): outside development mode no service starts with
//! the committed example pseudonymisation keys or the local stack's passwords, the refusal names the
//! setting (never the value), development mode says so loudly, and printed configs redact Kafka
//! secrets. The binaries are run as an operator would start them; nothing here needs the stack up.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin(name: &str) -> PathBuf {
    let b = repo().join("target/debug").join(name);
    assert!(b.exists(), "{} missing: cargo build --bins", b.display());
    b
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `name args...` with the operator's environment minus development mode, plus `env`.
fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin(name));
    cmd.args(args).env_remove(lgma_core::config::DEV_MODE_VAR);
    for var in [
        "LGMA_INGEST_CLICKHOUSE__PASSWORD",
        "LGMA_API_CLICKHOUSE__READER_PASSWORD",
        "LGMA_API_CLICKHOUSE__WRITER_PASSWORD",
        "LGMA_INGEST_KEYS_FILE",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

fn ingest_config() -> String {
    repo()
        .join("infra/config/ingest.toml")
        .display()
        .to_string()
}

#[test]
fn ingest_refuses_the_local_password_outside_development_mode() {
    let out = run("lgma-ingest", &["--config", &ingest_config(), "run"], &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("clickhouse.password") && t.contains("LGMA_DEV_MODE=1"),
        "{t}"
    );
    assert!(
        !t.contains("writer-local"),
        "the refusal never echoes the value: {t}"
    );
}

#[test]
fn ingest_refuses_the_example_keys_outside_development_mode() {
    let example = std::fs::read_to_string(repo().join("infra/config/keys.example.toml")).unwrap();
    let hex: Vec<&str> = example
        .lines()
        .filter_map(|l| l.strip_prefix("key_hex = "))
        .map(|v| v.trim_matches('"'))
        .collect();
    assert_eq!(hex.len(), 4);
    let out = run(
        "lgma-ingest",
        &["--config", &ingest_config(), "run"],
        &[(
            "LGMA_INGEST_CLICKHOUSE__PASSWORD",
            "a-real-password-from-a-secret-store",
        )],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("committed example key") && t.contains("homelessness"),
        "{t}"
    );
    for h in hex {
        assert!(!t.contains(h), "key material in the refusal");
    }
    // One real key is not enough while another domain still has the example key.
    let real = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let out = run(
        "lgma-ingest",
        &["--config", &ingest_config(), "run"],
        &[
            (
                "LGMA_INGEST_CLICKHOUSE__PASSWORD",
                "a-real-password-from-a-secret-store",
            ),
            ("LGMA_INGEST_KEY_HOMELESSNESS", &format!("prod-hl-1:{real}")),
        ],
    );
    let t = text(&out);
    assert!(!out.status.success() && t.contains("housing"), "{t}");
    assert!(!t.contains("domain(s) homelessness"), "{t}");
}

#[test]
fn api_refuses_the_local_passwords_outside_development_mode() {
    let config = repo().join("infra/config/api.toml").display().to_string();
    let out = run("lgma-api", &["--config", &config], &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("clickhouse.reader_password") && t.contains("LGMA_DEV_MODE=1"),
        "{t}"
    );
    assert!(!t.contains("reader-local"), "{t}");
}

#[test]
fn development_mode_says_so_loudly() {
    // `ddl` needs no secret; `reconcile` checks the password (and fails later without a stack,
    // which does not matter here: the warning comes first).
    let out = run(
        "lgma-ingest",
        &[
            "--config",
            &ingest_config(),
            "reconcile",
            "--topic",
            "lgma.waste.return",
        ],
        &[
            (lgma_core::config::DEV_MODE_VAR, "1"),
            ("LGMA_INGEST_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ],
    );
    let t = text(&out);
    assert!(
        t.contains("WARNING: DEVELOPMENT MODE (LGMA_DEV_MODE=1): clickhouse.password"),
        "{t}"
    );
}

#[test]
fn printed_configs_redact_kafka_secrets() {
    let dir = std::env::temp_dir().join(format!("lgma-secure-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "s3cret-sasl-password-xyz";
    let props = format!(
        "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.username\" = \"lgma\"\n\"sasl.password\" = \"{secret}\"\n"
    );
    for (service, base) in [
        ("lgma-ingest", "ingest.toml"),
        ("lgma-api", "api.toml"),
        ("lgma-publisher", "publisher.toml"),
        ("lgma-registry", "registry.toml"),
    ] {
        let mut text_in = std::fs::read_to_string(repo().join("infra/config").join(base)).unwrap();
        // Keep relative paths of the repo's config working from the temp folder.
        text_in = text_in.replace("\"../../", &format!("\"{}/", repo().display()));
        text_in = text_in.replace(
            "keys_file = \"keys.example.toml\"",
            &format!(
                "keys_file = \"{}/infra/config/keys.example.toml\"",
                repo().display()
            ),
        );
        if text_in.contains("[kafka]") {
            text_in = text_in.replace("[kafka.properties]\n", "");
            text_in.push('\n');
            text_in.push_str(&props);
        } else {
            text_in.push_str(&format!(
                "\n[kafka]\nbootstrap_servers = \"127.0.0.1:9092\"\n{props}"
            ));
        }
        let file = dir.join(base);
        std::fs::write(&file, text_in).unwrap();
        let file = file.display().to_string();
        let args: Vec<&str> = match service {
            "lgma-ingest" => vec!["--config", &file, "print-config"],
            _ => vec!["--config", &file, "--print-config"],
        };
        let out = run(service, &args, &[]);
        let t = text(&out);
        assert!(out.status.success(), "{service}: {t}");
        assert!(
            t.contains("SASL_SSL") && t.contains("<redacted>"),
            "{service}: {t}"
        );
        assert!(!t.contains(secret), "{service} printed the SASL password");
    }
}

#[test]
fn check_config_accepts_the_shipped_configs_and_names_typos_and_bad_values() {
    let dev = [(lgma_core::config::DEV_MODE_VAR, "1")];
    let config = |f: &str| repo().join(f).display().to_string();
    for (service, args) in [
        (
            "lgma-ingest",
            vec![
                "--config".to_string(),
                config("infra/config/ingest.toml"),
                "check-config".into(),
            ],
        ),
        (
            "lgma-api",
            vec![
                "--config".into(),
                config("infra/config/api.toml"),
                "--check-config".into(),
            ],
        ),
        (
            "lgma-publisher",
            vec![
                "--config".into(),
                config("infra/config/publisher.toml"),
                "--check-config".into(),
            ],
        ),
        (
            "lgma-registry",
            vec![
                "--config".into(),
                config("infra/config/registry.toml"),
                "--check-config".into(),
            ],
        ),
        (
            "lgma-registry",
            vec![
                "--config".into(),
                config("infra/deploy/registry.toml.example"),
                "--check-config".into(),
            ],
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(service, &args, &dev);
        let t = text(&out);
        assert!(
            out.status.success() && t.contains("every key known"),
            "{service} {args:?}: {t}"
        );
    }

    let dir = std::env::temp_dir().join(format!("lgma-check-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = std::fs::read_to_string(repo().join("infra/config/ingest.toml")).unwrap();
    let typo = dir.join("typo.toml");
    std::fs::write(
        &typo,
        base.replace("bootstrap_servers =", "bootstrap_server =")
            .replace("\"../../", &format!("\"{}/", repo().display()))
            .replace(
                "keys_file = \"keys.example.toml\"",
                &format!(
                    "keys_file = \"{}/infra/config/keys.example.toml\"",
                    repo().display()
                ),
            ),
    )
    .unwrap();
    let typo = typo.display().to_string();
    let out = run("lgma-ingest", &["--config", &typo, "check-config"], &dev);
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("unknown keys") && t.contains("kafka.bootstrap_server"),
        "{t}"
    );

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, base.replace("max_rows = 5000", "max_rows = 0")).unwrap();
    let bad = bad.display().to_string();
    let out = run("lgma-ingest", &["--config", &bad, "check-config"], &dev);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("batch.max_rows"), "{t}");
}
