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
        Ok(Councils {
            by_population: Weights::new(&pops),
            by_homelessness: Weights::new(&homeless),
            list,
        })
    }

    /// Population of the selected councils relative to the State (scales national volumes).
    pub fn population_fraction(&self) -> f64 {
        let selected: u64 = self.list.iter().map(|c| c.population).sum();
        selected as f64 / lgma_domain::STATE_POPULATION_2022 as f64
    }

    /// Fraction of national EA activity the selected councils carry.
    pub fn homelessness_fraction(&self) -> f64 {
        let all = Councils::select(&[]).map(|c| c.list.len()).unwrap_or(31);
        if self.list.len() == all {
            return 1.0;
        }
        let other_pop: f64 = Councils::select(&[])
            .map(|c| {
                c.list
                    .iter()
                    .filter(|x| !DUBLIN_EA_SHARE.iter().any(|(d, _)| *d == x.code))
                    .map(|x| x.population as f64)
                    .sum()
            })
            .unwrap_or(1.0);
        self.list
            .iter()
            .map(|c| {
                DUBLIN_EA_SHARE
                    .iter()
                    .find(|(code, _)| *code == c.code)
                    .map(|(_, s)| *s)
                    .unwrap_or(0.30 * c.population as f64 / other_pop)
            })
            .sum()
    }

    pub fn is_dublin(&self, i: usize) -> bool {
        DUBLIN_EA_SHARE.iter().any(|(d, _)| *d == self.list[i].code)
    }
}
