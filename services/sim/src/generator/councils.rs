//! Which councils take part and how activity is spread between them.
//!
//! Planning, housing and waste scale with population; homelessness follows the monthly report,
//! where the Dublin region holds ~70% of people in emergency accommodation, most of it DRHE/Dublin City.

use lgma_domain::LocalAuthorities;
use rand::Rng;

use crate::vocab::PlanningSystem;
use crate::{Error, Result};

/// Share of people in emergency accommodation per Dublin council (sums to the region's ~70%).
const DUBLIN_EA_SHARE: [(&str, f64); 4] = [("DC", 0.45), ("FG", 0.10), ("SD", 0.09), ("DR", 0.06)];

#[derive(Debug, Clone)]
pub struct Council {
    pub code: String,
    pub name: String,
    pub population: u64,
    pub planning_system: PlanningSystem,
}

/// A cumulative-weight table for drawing a council index.
#[derive(Debug, Clone)]
pub struct Weights(Vec<f64>);

impl Weights {
    fn new(raw: &[f64]) -> Self {
        let total: f64 = raw.iter().sum();
        let mut acc = 0.0;
        Weights(
            raw.iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect(),
        )
    }

    pub fn share(&self, i: usize) -> f64 {
        self.0[i] - if i == 0 { 0.0 } else { self.0[i - 1] }
    }

    pub fn draw(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen();
        self.0
            .iter()
            .position(|c| u < *c)
            .unwrap_or(self.0.len() - 1)
    }
}

#[derive(Debug, Clone)]
pub struct Councils {
    pub list: Vec<Council>,
    pub by_population: Weights,
    pub by_homelessness: Weights,
    /// See [`Councils::homelessness_fraction`]: computed once, when selected.
    homelessness_fraction: f64,
}

impl Councils {
    /// The selected councils (all 31 when `codes` is empty).
    pub fn select(codes: &[String]) -> Result<Self> {
        let reference = LocalAuthorities::embedded()?;
        let mut list = Vec::new();
        for (i, la) in reference.all().iter().enumerate() {
            if !codes.is_empty() && !codes.iter().any(|c| c.eq_ignore_ascii_case(&la.la_code)) {
                continue;
            }
            list.push(Council {
                code: la.la_code.clone(),
                name: la.official_name.clone(),
                population: la.population_2022,
                planning_system: PlanningSystem::ALL[i % PlanningSystem::ALL.len()],
            });
        }
        for code in codes {
            if reference.by_code(&code.to_ascii_uppercase()).is_none() {
                return Err(Error::Argument(format!("unknown council code {code}")));
            }
        }
        if list.is_empty() {
            return Err(Error::Argument("no councils selected".into()));
        }
        let pops: Vec<f64> = list.iter().map(|c| c.population as f64).collect();
        let other_pop: f64 = reference
            .all()
            .iter()
            .filter(|la| la.homeless_region != "Dublin")
            .map(|la| la.population_2022 as f64)
            .sum();
        let homeless: Vec<f64> = list
            .iter()
            .map(|c| {
                DUBLIN_EA_SHARE
                    .iter()
                    .find(|(code, _)| *code == c.code)
                    .map(|(_, share)| *share)
                    .unwrap_or(0.30 * c.population as f64 / other_pop)
            })
            .collect();
        // The selected councils' shares of national EA activity, before they are normalised into
        // the draw's weights (all 31 carry all of it).
        let homelessness_fraction = if list.len() == reference.all().len() {
            1.0
        } else {
            homeless.iter().sum()
        };
        Ok(Councils {
            by_population: Weights::new(&pops),
            by_homelessness: Weights::new(&homeless),
            homelessness_fraction,
            list,
        })
    }

    /// Population of the selected councils relative to the State (scales national volumes).
    pub fn population_fraction(&self) -> f64 {
        let selected: u64 = self.list.iter().map(|c| c.population).sum();
        selected as f64 / lgma_domain::STATE_POPULATION_2022 as f64
    }

    /// Fraction of national EA activity the selected councils carry: read for every event drawn
    /// (the council reference was parsed twice per call when it was computed here).
    pub fn homelessness_fraction(&self) -> f64 {
        self.homelessness_fraction
    }

    pub fn is_dublin(&self, i: usize) -> bool {
        DUBLIN_EA_SHARE.iter().any(|(d, _)| *d == self.list[i].code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fraction(codes: &[&str]) -> f64 {
        let codes: Vec<String> = codes.iter().map(|c| (*c).to_string()).collect();
        Councils::select(&codes)
            .map(|c| c.homelessness_fraction())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn homelessness_fraction_is_the_selected_councils_share() {
        assert_eq!(fraction(&[]), 1.0);
        assert!((fraction(&["DC"]) - 0.45).abs() < 1e-12);
        assert!((fraction(&["DC", "FG"]) - 0.55).abs() < 1e-12);
        // Outside Dublin: 30 % of EA activity, shared by population.
        let all = Councils::select(&[]).map(|c| c.list).unwrap_or_default();
        let other: u64 = all
            .iter()
            .filter(|c| !DUBLIN_EA_SHARE.iter().any(|(d, _)| *d == c.code))
            .map(|c| c.population)
            .sum();
        let cork = all
            .iter()
            .find(|c| c.code == "CC")
            .map_or(0, |c| c.population);
        assert!(cork > 0);
        let expected = 0.30 * cork as f64 / other as f64;
        assert!((fraction(&["CC"]) - expected).abs() < 1e-12);
        assert!((fraction(&["CC", "DC"]) - (expected + 0.45)).abs() < 1e-12);
    }
}
