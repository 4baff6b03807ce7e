//! The one config loader: defaults, then a TOML file, then environment variables.
//!
//! Environment variables use the service's prefix and `__` for nesting, e.g.
//! `LGMA_INGEST_CLICKHOUSE__URL=http://ch:8123` sets `clickhouse.url` — the convention Vector and
//! Kafka Connect users expect, and what container platforms inject.

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
    figment = figment.merge(Env::prefixed(env_prefix).split("__"));
    figment.extract().map_err(|e| Error::Config(e.to_string()))
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
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = load::<Settings>(Some(Path::new("/nonexistent/x.toml")), "LGMA_TEST_")
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
