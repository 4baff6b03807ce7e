//! The one config loader: defaults, then a TOML file, then environment variables.
//!
//! Environment variables use the service's prefix and `__` for nesting, e.g.
//! `LGMA_INGEST_CLICKHOUSE__URL=http://ch:8123` sets `clickhouse.url` — the convention Vector and
//! Kafka Connect users expect, and what container platforms inject.
//!
//! Secrets need not be written into either: any string setting whose whole value is
//! `${file:/run/secrets/name}` is replaced by that file's content (trailing newline removed) — Kafka
//! Connect's file config provider, and how container platforms mount secrets.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// Loads settings of type `T`. A named file that does not exist is an error, not a silent default.
pub fn load<T>(file: Option<&Path>, env_prefix: &str) -> Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(Error::ConfigFileMissing {
                path: path.to_path_buf(),
            });
        }
        figment = figment.merge(Toml::file(path));
    }
    // Only variables naming one of the settings: the prefix is shared with variables of the stack
    // and of deployment scripts (`LGMA_API_PORT`), which must not make a service refuse to start.
    let known = top_level_keys::<T>();
    figment = figment.merge(Env::prefixed(env_prefix).split("__").filter(move |key| {
        let first = key.as_str().split('.').next().unwrap_or_default();
        known.iter().any(|k| k.eq_ignore_ascii_case(first))
    }));
    let mut value: figment::value::Value = figment
        .extract()
        .map_err(|e| Error::Config(e.to_string()))?;
    resolve_file_refs(&mut value)?;
    Figment::from(Serialized::defaults(value))
        .extract()
        .map_err(|e| Error::Config(e.to_string()))
}

/// The names of the top-level settings of `T` (from its defaults).
fn top_level_keys<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Replaces every string `${file:PATH}` in `value` by the content of PATH. A file that cannot be
/// read is an error naming the file (never the other settings' values).
fn resolve_file_refs(value: &mut figment::value::Value) -> Result<()> {
    use figment::value::Value;
    match value {
        Value::String(_, s) => {
            if let Some(path) = s.strip_prefix("${file:").and_then(|r| r.strip_suffix('}')) {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Config(format!("secret file {path} (named by ${{file:...}}): {e}"))
                })?;
                *s = text.trim_end_matches(['\n', '\r']).to_string();
            }
        }
        Value::Dict(_, dict) => {
            for v in dict.values_mut() {
                resolve_file_refs(v)?;
            }
        }
        Value::Array(_, items) => {
            for v in items.iter_mut() {
                resolve_file_refs(v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The environment variable that turns on development mode for every service.
pub const DEV_MODE_VAR: &str = "LGMA_DEV_MODE";

/// Passwords of the local stack (`infra/stack`) and the placeholders of the example files: public
/// in this repository, so never a real secret.
pub const LOCAL_PASSWORDS: [&str; 8] = [
    "admin-local",
    "writer-local",
    "reader-local",
    "audit-local",
    "analyst-local",
    "change-me",
    "changeme",
    "password",
];

/// Development mode (`LGMA_DEV_MODE=1`): the only way a service accepts the committed example keys
/// or the local stack's passwords. The local stack and its tests set it; production never does.
pub fn dev_mode() -> bool {
    std::env::var(DEV_MODE_VAR)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// Refuses a secret that is empty or publicly known (`known`) outside development mode; in
/// development mode accepts it with a loud warning. `what` names the setting for the operator
/// (never the value).
pub fn require_secret(what: &str, value: &str, known: &[&str]) -> Result<()> {
    let weak = if value.is_empty() {
        Some("is empty")
    } else if known.contains(&value) {
        Some("is a publicly known example value")
    } else {
        None
    };
    match weak {
        Some(why) => unless_dev_mode(&format!("{what} {why}")),
        None => Ok(()),
    }
}

/// Accepts `problem` (a weak-secret finding, e.g. "clickhouse.password is empty") only in
/// development mode, with a loud warning; otherwise it is a start-up error saying how to fix it.
pub fn unless_dev_mode(problem: &str) -> Result<()> {
    if dev_mode() {
        // Through the service's log (JSON when it logs JSON) once a subscriber is installed;
        // stderr before that.
        if tracing::dispatcher::has_been_set() {
            tracing::warn!("WARNING: DEVELOPMENT MODE ({DEV_MODE_VAR}=1): {problem}; never run like this with real data");
        } else {
            eprintln!("WARNING: DEVELOPMENT MODE ({DEV_MODE_VAR}=1): {problem}; never run like this with real data");
        }
        return Ok(());
    }
    Err(Error::Config(format!(
        "{problem}: set a real secret (from a file or the environment), or start in development \
         mode with {DEV_MODE_VAR}=1 on a machine without real data"
    )))
}

/// Splits credentials out of a URL (`https://user:password@registry.internal` — how the
/// Confluent clients take registry credentials): the URL without them, to log and show, and the
/// `Authorization: Basic ...` value to send (to be marked sensitive by the HTTP client).
pub fn split_url_credentials(url: &str) -> (String, Option<String>) {
    use base64::Engine;
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(userinfo.as_bytes())
    );
    (format!("{scheme}://{host}{path}"), Some(header))
}

/// For an HTTP client of a URL that may carry credentials (a registry): the URL without them and
/// the default headers to send on every request — basic auth marked sensitive, so it never shows
/// in logs or debug output.
pub fn url_and_auth_headers(url: &str) -> Result<(String, axum::http::HeaderMap)> {
    let (clean, auth) = split_url_credentials(url);
    let mut headers = axum::http::HeaderMap::new();
    if let Some(auth) = auth {
        let mut value = axum::http::HeaderValue::from_str(&auth)
            .map_err(|_| Error::Config("the credentials in the URL are not valid".into()))?;
        value.set_sensitive(true);
        headers.insert(axum::http::header::AUTHORIZATION, value);
    }
    Ok((clean, headers))
}

/// Whether a Kafka client property holds a secret (redacted wherever config is printed).
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "token",
        "ssl.key.pem",
        "private",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Keys of the TOML file `file` that settings of type `T` do not have (a typo, a removed setting),
/// as dotted paths: `check-config` reports them, since loading alone ignores them. A table whose
/// default is empty (`kafka.properties`) takes any key; an array of tables is checked against its
/// first default element.
pub fn unknown_keys<T: Serialize + Default>(file: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(file).map_err(|_| Error::ConfigFileMissing {
        path: file.to_path_buf(),
    })?;
    let given: toml::Value =
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", file.display())))?;
    let known = serde_json::to_value(T::default()).map_err(|e| Error::Config(e.to_string()))?;
    let mut out = Vec::new();
    compare(&given, &known, "", &mut out);
    Ok(out)
}

/// `check-config`'s first step for every service: settings load from `file` (bad values are load
/// errors) and no key of the file is unknown. Returns a line for the operator.
pub fn check_file<T: Serialize + DeserializeOwned + Default>(
    file: Option<&Path>,
    env_prefix: &str,
) -> Result<String> {
    load::<T>(file, env_prefix)?;
    let Some(file) = file else {
        return Ok("no config file: built-in defaults and environment".into());
    };
    let unknown = unknown_keys::<T>(file)?;
    if !unknown.is_empty() {
        return Err(Error::Config(format!(
            "{}: unknown keys (typo, or a setting that no longer exists): {}",
            file.display(),
            unknown.join(", ")
        )));
    }
    Ok(format!(
        "{}: every key known, every value valid",
        file.display()
    ))
}

fn compare(given: &toml::Value, known: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (given, known) {
        (toml::Value::Table(table), serde_json::Value::Object(fields)) => {
            if fields.is_empty() {
                return; // a free-form map
            }
            for (key, value) in table {
                match fields.get(key) {
                    Some(k) => compare(value, k, &join(key), out),
                    None => out.push(join(key)),
                }
            }
        }
        (toml::Value::Array(items), serde_json::Value::Array(defaults)) => {
            if let Some(first) = defaults.first() {
                for (i, item) in items.iter().enumerate() {
                    compare(item, first, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Renders settings as TOML for `--print-config`, with secrets already redacted by the caller's types.
pub fn render<T: Serialize>(settings: &T) -> Result<String> {
    toml::to_string_pretty(settings).map_err(|e| Error::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Inner {
        url: String,
        batch: u32,
    }
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        name: String,
        inner: Inner,
    }
    impl Default for Settings {
        fn default() -> Self {
            Self {
                name: "default".into(),
                inner: Inner {
                    url: "http://localhost".into(),
                    batch: 10,
                },
            }
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, test only
    fn file_then_env_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "name = \"file\"\n[inner]\nbatch = 20\n")?;
            jail.set_env("LGMA_TEST_INNER__URL", "http://env");
            let s: Settings = load(Some(Path::new("s.toml")), "LGMA_TEST_").expect("loads");
            assert_eq!(s.name, "file");
            assert_eq!(s.inner.batch, 20);
            assert_eq!(s.inner.url, "http://env");
            // A variable of the same prefix that names no setting (a port for a start script) is
            // not this loader's business, even for settings that deny unknown fields.
            jail.set_env("LGMA_TEST_PORT", "8080");
            let s: Settings = load(None, "LGMA_TEST_").expect("unrelated variable ignored");
            assert_eq!(s.inner.url, "http://env");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, test only
    fn secrets_come_from_files_named_in_the_file_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("secret.txt", "s3cr3t\n")?;
            let dir = jail.directory().display().to_string();
            jail.create_file(
                "s.toml",
                &format!("name = \"${{file:{dir}/secret.txt}}\"\n"),
            )?;
            jail.set_env(
                "LGMA_TEST_INNER__URL",
                format!("${{file:{dir}/secret.txt}}"),
            );
            let s: Settings = load(Some(Path::new("s.toml")), "LGMA_TEST_").expect("loads");
            assert_eq!(s.name, "s3cr3t");
            assert_eq!(s.inner.url, "s3cr3t");
            assert_eq!(s.inner.batch, 10, "other settings untouched");
            jail.set_env("LGMA_TEST_INNER__URL", "${file:/nonexistent/secret}");
            let err = load::<Settings>(None, "LGMA_TEST_").expect_err("missing secret file");
            assert!(err.to_string().contains("/nonexistent/secret"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, test only
    fn known_or_empty_secrets_are_refused_outside_development_mode() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(DEV_MODE_VAR, "0");
            let err = require_secret("clickhouse.password", "writer-local", &LOCAL_PASSWORDS)
                .expect_err("known password refused");
            assert!(err.to_string().contains("clickhouse.password"));
            assert!(
                !err.to_string().contains("writer-local"),
                "never echo the value"
            );
            assert!(require_secret("x", "", &[]).is_err());
            assert!(require_secret("x", "a-real-secret", &LOCAL_PASSWORDS).is_ok());
            jail.set_env(DEV_MODE_VAR, "1");
            assert!(
                require_secret("clickhouse.password", "writer-local", &LOCAL_PASSWORDS).is_ok()
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, test only
    fn unknown_keys_are_named_with_their_path() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "name = \"x\"\nnmae = \"typo\"\n[inner]\nbatch = 1\nbatchh = 2\n",
            )?;
            let unknown = unknown_keys::<Settings>(Path::new("s.toml")).expect("reads");
            assert_eq!(
                unknown,
                vec!["inner.batchh".to_string(), "nmae".to_string()]
            );
            Ok(())
        });
    }

    #[test]
    fn url_credentials_are_split_out() {
        let (url, auth) = split_url_credentials("https://ingest:pa%40ss@registry.internal:8081/x");
        assert_eq!(url, "https://registry.internal:8081/x");
        assert_eq!(auth.as_deref(), Some("Basic aW5nZXN0OnBhJTQwc3M="));
        assert_eq!(
            split_url_credentials("http://127.0.0.1:8081"),
            ("http://127.0.0.1:8081".to_string(), None)
        );
    }

    #[test]
    fn secret_properties_are_recognised() {
        for k in [
            "sasl.password",
            "ssl.key.password",
            "sasl.oauthbearer.client.secret",
            "sasl.jaas.config",
        ] {
            assert!(is_secret_property(k), "{k}");
        }
        assert!(!is_secret_property("security.protocol"));
        assert!(!is_secret_property("sasl.username"));
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = load::<Settings>(Some(Path::new("/nonexistent/x.toml")), "LGMA_TEST_")
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
