//! Pseudonymisation, driven only by the `pii` tags of OUR reader schema.
//!
//! identifier -> keyed HMAC-SHA256 (a key per domain, tagged with its version); date_of_birth -> age
//! band at the event date; address -> Eircode routing key when one is present; name, free_text and
//! special_category -> dropped. Keys are secrets: never logged, never in Debug output or errors.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use hmac::{Hmac, Mac};
use regex::Regex;
use serde::Deserialize;
use sha2::Sha256;

use crate::rules::compact_upper;
use crate::schema::Scalar;
use crate::{Error, Result};

/// Anywhere in an address line: an Eircode (routing key + unique identifier).
const EIRCODE_IN_TEXT: &str = r"(?i)\b((?:[AC-FHKNPRTV-Y][0-9]{2}|D6W)) ?[0-9AC-FHKNPRTV-Y]{4}\b";

#[derive(Deserialize)]
struct KeysFile {
    domains: HashMap<String, KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_version: String,
    /// At least 32 bytes of key material, hex encoded.
    key_hex: String,
}

/// One domain's HMAC key. Debug prints the version only.
#[derive(Clone)]
pub struct DomainKey {
    pub version: String,
    key: Vec<u8>,
}

impl fmt::Debug for DomainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainKey")
            .field("version", &self.version)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl DomainKey {
    pub fn new(version: &str, key_hex: &str) -> Result<Self> {
        let key = hex::decode(key_hex.trim())
            .map_err(|_| Error::Keys(format!("key version {version}: key_hex is not hex")))?;
        if key.len() < 32 {
            return Err(Error::Keys(format!(
                "key version {version}: need at least 32 bytes of key material, got {}",
                key.len()
            )));
        }
        Ok(Self {
            version: version.into(),
            key,
        })
    }

    /// HMAC-SHA256 of the normalised identifier (uppercase, no spaces), hex encoded.
    pub fn pseudonym(&self, identifier: &str) -> String {
        // Hmac accepts keys of any length; new_from_slice cannot fail for HMAC.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(compact_upper(identifier).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Keys by domain (`homelessness`, `housing`, `planning`, `waste`).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    by_domain: HashMap<String, DomainKey>,
}

impl Keys {
    /// Reads the keys file; `LGMA_INGEST_KEY_<DOMAIN>=<version>:<hex>` overrides an entry.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Keys(format!("cannot read {}: {e}", path.display())))?;
        let mut keys = Self::parse(&text)?;
        for (name, value) in std::env::vars() {
            if let Some(domain) = name.strip_prefix("LGMA_INGEST_KEY_") {
                let (version, hex) = value
                    .split_once(':')
                    .ok_or_else(|| Error::Keys(format!("{name} must be <version>:<hex>")))?;
                keys.by_domain
                    .insert(domain.to_lowercase(), DomainKey::new(version, hex)?);
            }
        }
        Ok(keys)
    }

    pub fn parse(text: &str) -> Result<Self> {
        // The toml error could quote a line of the file, i.e. key material: say only where.
        let file: KeysFile = toml::from_str(text).map_err(|e| {
            Error::Keys(format!(
                "keys file is not valid TOML (at {:?})",
                e.span().map(|s| s.start)
            ))
        })?;
        let mut by_domain = HashMap::new();
        for (domain, entry) in file.domains {
            by_domain.insert(domain, DomainKey::new(&entry.key_version, &entry.key_hex)?);
        }
        Ok(Self { by_domain })
    }

    pub fn for_domain(&self, domain: &str) -> Result<&DomainKey> {
        self.by_domain
            .get(domain)
            .ok_or_else(|| Error::Keys(format!("no key for domain `{domain}`")))
    }
}

/// Age band used by the Department's monthly report (plus under-18 for dependants).
pub fn age_band(birth: NaiveDate, at: NaiveDate) -> &'static str {
    let mut age = at.year() - birth.year();
    if (at.month(), at.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    match age {
        i32::MIN..=-1 => "INVALID",
        0..=17 => "0-17",
        18..=24 => "18-24",
        25..=44 => "25-44",
        45..=64 => "45-64",
        _ => "65+",
    }
}

/// The pseudonymising transforms, compiled once.
#[derive(Debug)]
pub struct Pseudonymiser {
    eircode: Regex,
}

impl Default for Pseudonymiser {
    fn default() -> Self {
        Self::new()
    }
}

impl Pseudonymiser {
    pub fn new() -> Self {
        Self {
            #[allow(clippy::expect_used)]
            eircode: Regex::new(EIRCODE_IN_TEXT).expect("constant regex compiles"),
        }
    }

    pub fn identifier(&self, key: &DomainKey, value: &Scalar) -> Scalar {
        map_cell(value, &|v| match v {
            Scalar::Str(s) if !s.trim().is_empty() => Scalar::Str(key.pseudonym(s)),
            _ => Scalar::Null,
        })
    }

    pub fn age_band_at(&self, value: &Scalar, event_day: Option<NaiveDate>) -> Scalar {
        map_cell(value, &|v| match (v.as_day(), event_day) {
            (Some(birth), Some(at)) => Scalar::Str(age_band(birth, at).into()),
            _ => Scalar::Null,
        })
    }

    pub fn routing_key(&self, value: &Scalar) -> Scalar {
        map_cell(value, &|v| match v {
            Scalar::Str(s) => self
                .eircode
                .captures(s)
                .and_then(|c| c.get(1))
                .map_or(Scalar::Null, |m| {
                    Scalar::Str(m.as_str().to_ascii_uppercase())
                }),
            _ => Scalar::Null,
        })
    }
}

fn map_cell(value: &Scalar, f: &dyn Fn(&Scalar) -> Scalar) -> Scalar {
    match value {
        Scalar::List(items) => Scalar::List(items.iter().map(f).collect()),
        Scalar::Null => Scalar::Null,
        v => f(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = r#"
        [domains.homelessness]
        key_version = "hl-2026-1"
        key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        [domains.housing]
        key_version = "ho-2026-1"
        key_hex = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
    "#;

    #[test]
    fn same_person_same_pseudonym_after_normalising_but_per_domain() {
        let keys = Keys::parse(KEYS).expect("keys");
        let hl = keys.for_domain("homelessness").expect("hl");
        let ho = keys.for_domain("housing").expect("ho");
        assert_eq!(hl.pseudonym("6433435F"), hl.pseudonym(" 6433435 f"));
        assert_ne!(hl.pseudonym("6433435F"), ho.pseudonym("6433435F"));
        assert_eq!(hl.pseudonym("6433435F").len(), 64);
        assert!(!hl.pseudonym("6433435F").contains("6433435"));
    }

    #[test]
    fn keys_never_shown() {
        let keys = Keys::parse(KEYS).expect("keys");
        let debug = format!("{keys:?}");
        assert!(!debug.contains("00112233"));
        assert!(debug.contains("hl-2026-1"));
        let err = Keys::parse("domains = [\"00112233445566778899\"").expect_err("bad toml");
        assert!(!err.to_string().contains("00112233"));
        assert!(Keys::parse("[domains.x]\nkey_version=\"1\"\nkey_hex=\"abcd\"").is_err());
    }

    #[test]
    fn age_bands_at_event_date() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(age_band(d(2000, 6, 2), d(2024, 6, 1)), "18-24");
        assert_eq!(age_band(d(2000, 6, 1), d(2025, 6, 1)), "25-44");
        assert_eq!(age_band(d(2010, 1, 1), d(2024, 1, 1)), "0-17");
        assert_eq!(age_band(d(1950, 1, 1), d(2024, 1, 1)), "65+");
    }

    #[test]
    fn routing_key_from_address_text() {
        let p = Pseudonymiser::new();
        let addr = Scalar::Str("12 Main St, Dublin 2, D02 X285".into());
        assert_eq!(p.routing_key(&addr), Scalar::Str("D02".into()));
        assert_eq!(
            p.routing_key(&Scalar::Str("No code here".into())),
            Scalar::Null
        );
        assert_eq!(
            p.routing_key(&Scalar::Str("d6w1234".into())),
            Scalar::Str("D6W".into())
        );
    }
}
