//! The 31 local authorities: codes, names and aliases, region, NUTS3, population.
//!
//! `schemas/reference/local_authorities.csv` is compiled in, so every service sees the same
//! version; the migrations load the same CSV into ClickHouse.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::{Error, Result};

pub const LOCAL_AUTHORITIES_CSV: &str =
    include_str!("../../../schemas/reference/local_authorities.csv");

/// The CSO Census 2022 State total the populations must sum to.
pub const STATE_POPULATION_2022: u64 = 5_149_139;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LocalAuthority {
    pub la_code: String,
    pub official_name: String,
    pub la_type: String,
    pub homeless_region: String,
    pub nuts3_code: String,
    pub nuts3_name: String,
    pub population_2022: u64,
    #[serde(deserialize_with = "split_aliases")]
    pub aliases: Vec<String>,
}

fn split_aliases<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw
        .split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// The councils, indexed by code and by every normalised spelling of their name.
#[derive(Debug, Clone)]
pub struct LocalAuthorities {
    all: Vec<LocalAuthority>,
    /// Looked up three times per ingested event: FxHash, not SipHash (its keys are the fixed
    /// reference list; a lookup cannot add to it, so there is no flooding to resist).
    by_code: FxHashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl LocalAuthorities {
    /// The compiled-in reference list.
    pub fn embedded() -> Result<Self> {
        Self::from_csv(LOCAL_AUTHORITIES_CSV)
    }

    pub fn from_csv(text: &str) -> Result<Self> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut all = Vec::new();
        for row in reader.deserialize() {
            let la: LocalAuthority = row.map_err(|e| Error::Reference {
                what: "local_authorities.csv",
                reason: e.to_string(),
            })?;
            all.push(la);
        }
        let mut by_code = FxHashMap::default();
        let mut by_name = HashMap::new();
        for (i, la) in all.iter().enumerate() {
            by_code.insert(la.la_code.clone(), i);
            by_name.insert(normalise_name(&la.official_name), i);
            for alias in &la.aliases {
                by_name.insert(normalise_name(alias), i);
            }
        }
        Ok(Self {
            all,
            by_code,
            by_name,
        })
    }

    pub fn all(&self) -> &[LocalAuthority] {
        &self.all
    }

    pub fn by_code(&self, code: &str) -> Option<&LocalAuthority> {
        self.by_code.get(code).map(|&i| &self.all[i])
    }

    /// Finds a council by code, official name or any alias, ignoring case, accents and punctuation.
    pub fn resolve(&self, name_or_code: &str) -> Option<&LocalAuthority> {
        let trimmed = name_or_code.trim();
        self.by_code(&trimmed.to_ascii_uppercase()).or_else(|| {
            self.by_name
                .get(&normalise_name(trimmed))
                .map(|&i| &self.all[i])
        })
    }
}

/// Lowercase ASCII words without accents, punctuation or "council"/"county council" suffix noise.
pub fn normalise_name(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' => 'u',
            '&' => ' ',
            c if c.is_alphanumeric() => c.to_ascii_lowercase(),
            _ => ' ',
        })
        .collect();
    folded
        .split_whitespace()
        .filter(|w| *w != "council" && *w != "and")
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_one_councils_sum_to_state_population() {
        let las = LocalAuthorities::embedded().expect("reference loads");
        assert_eq!(las.all().len(), 31);
        let total: u64 = las.all().iter().map(|la| la.population_2022).sum();
        assert_eq!(total, STATE_POPULATION_2022);
    }

    #[test]
    fn resolves_aliases_seen_in_public_datasets() {
        let las = LocalAuthorities::embedded().expect("reference loads");
        for (name, code) in [
            ("Dun Laoghaire Rathdown County", "DR"),
            ("Dún Laoghaire-Rathdown County Council", "DR"),
            ("Limerick City & County Council", "LK"),
            ("dc", "DC"),
            ("Cork County Council", "CK"),
            ("  Waterford City and County Council ", "WD"),
        ] {
            assert_eq!(
                las.resolve(name).map(|la| la.la_code.as_str()),
                Some(code),
                "{name}"
            );
        }
        assert!(las.resolve("Louth/Monaghan/Cavan").is_none());
        assert!(las.resolve("Atlantis County Council").is_none());
    }
}
