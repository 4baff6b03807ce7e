//! Enrichment: reference data (region, NUTS3, population) and derived measures per entity.
//!
//! Reads clear payload values (before pseudonymisation) but only emits non-personal derived
//! values. Field names are bound to leaf positions once at start-up, so a renamed schema field
//! fails loudly instead of silently producing nulls.

use chrono::NaiveDate;
use lgma_domain::{LocalAuthorities, StatutoryCalendar};
use rustc_hash::FxHashMap;

use crate::decode::schema::{ReaderSchema, Scalar, Text};
use crate::judge::validate::Envelope;
use crate::transform::layout::{Base, ColType};
use crate::{Error, Result};

#[derive(Debug)]
enum Derive {
    Planning {
        received: usize,
        decision: usize,
        fi_request: usize,
        fi_received: usize,
    },
    Placement {
        start: usize,
        planned_end: usize,
    },
    Exit {
        days_in_ea: usize,
    },
    Presentation {
        dob: usize,
        presented: usize,
    },
    Dwelling {
        void_start: usize,
        relet: usize,
        ber_value: usize,
    },
    NeedAssessment {
        list_entry: usize,
        assessed: usize,
    },
    Waste {
        population: usize,
        tonnes: Vec<usize>,
        recycled: usize,
        landfill: usize,
    },
    None,
}

/// Enrichment for one topic.
#[derive(Debug)]
pub struct Enricher {
    derive: Derive,
    columns: Vec<(String, ColType)>,
}

fn int() -> ColType {
    ColType::nullable(Base::Int64)
}
fn text() -> ColType {
    ColType::nullable(Base::String)
}
fn date() -> ColType {
    ColType::nullable(Base::Date)
}
fn float() -> ColType {
    ColType::nullable(Base::Float64)
}

/// Columns every table gets from the council reference data.
pub fn reference_columns() -> Vec<(String, ColType)> {
    vec![
        ("homeless_region".into(), text()),
        ("nuts3_code".into(), text()),
        ("nuts3_name".into(), text()),
        ("la_population_2022".into(), ColType::nullable(Base::UInt32)),
    ]
}

/// Every council's reference cells (`reference_columns` order), made once: a record's are copies
/// of them, not texts built again from the reference data for every record.
#[derive(Debug)]
pub struct ReferenceCells(FxHashMap<String, [Scalar; 4]>);

impl ReferenceCells {
    pub fn new(councils: &LocalAuthorities) -> Self {
        let cells = councils.all().iter().map(|la| {
            let cells = [
                Scalar::Str(Text::new(&la.homeless_region)),
                Scalar::Str(Text::new(&la.nuts3_code)),
                Scalar::Str(Text::new(&la.nuts3_name)),
                Scalar::Int(la.population_2022 as i64),
            ];
            (la.la_code.clone(), cells)
        });
        Self(cells.collect())
    }

    /// Appends the council's reference cells to `out`; nulls for a code that is not a council's.
    pub fn cells_into(&self, la_code: &str, out: &mut Vec<Scalar>) {
        // Fx on a code from the wire: the map is fixed (31 keys), a look-up cannot grow it.
        match self.0.get(la_code) {
            Some(cells) => out.extend(cells.iter().cloned()),
            None => out.extend(std::iter::repeat_n(Scalar::Null, 4)),
        }
    }
}

impl Enricher {
    pub fn for_entity(entity: &str, schema: &ReaderSchema) -> Result<Self> {
        let f = |name: &str| {
            schema.leaf_index(name).ok_or_else(|| Error::Schema {
                what: schema.topic.clone(),
                reason: format!("enrichment for {entity} needs field `{name}`"),
            })
        };
        let c = |pairs: &[(&str, ColType)]| {
            pairs
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect::<Vec<_>>()
        };
        let (derive, columns) = match entity {
            "planning.application" => (
                Derive::Planning {
                    received: f("received_date")?,
                    decision: f("decision_date")?,
                    fi_request: f("fi_request_date")?,
                    fi_received: f("fi_received_date")?,
                },
                c(&[
                    ("statutory_due_date", date()),
                    ("decision_days", int()),
                    ("is_overdue", ColType::nullable(Base::UInt8)),
                    ("fi_duration_days", int()),
                ]),
            ),
            "homelessness.placement" => (
                Derive::Placement {
                    start: f("start_date")?,
                    planned_end: f("planned_end_date")?,
                },
                c(&[("length_of_stay_days", int())]),
            ),
            "homelessness.exit" => (
                Derive::Exit {
                    days_in_ea: f("days_in_ea")?,
                },
                c(&[("length_of_stay_band", text())]),
            ),
            "homelessness.presentation" => (
                Derive::Presentation {
                    dob: f("date_of_birth")?,
                    presented: f("presented_at")?,
                },
                c(&[("derived_age_band", text())]),
            ),
            "housing.dwelling-unit" => (
                Derive::Dwelling {
                    void_start: f("void_start_date")?,
                    relet: f("relet_date")?,
                    ber_value: f("ber_kwh_m2_yr")?,
                },
                c(&[("void_days", int()), ("ber_band_derived", text())]),
            ),
            "housing.need-assessment" => (
                Derive::NeedAssessment {
                    list_entry: f("list_entry_date")?,
                    assessed: f("assessed_on")?,
                },
                c(&[("days_on_list", int())]),
            ),
            "waste.return" => (
                Derive::Waste {
                    population: f("population_served")?,
                    tonnes: vec![
                        f("kerbside_residual_t")?,
                        f("kerbside_dry_recyclables_t")?,
                        f("kerbside_organics_t")?,
                        f("civic_amenity_t")?,
                        f("bring_bank_t")?,
                    ],
                    recycled: f("recycled_t")?,
                    landfill: f("landfill_t")?,
                },
                c(&[
                    ("total_collected_t", float()),
                    ("kg_per_person", float()),
                    ("recycling_rate", float()),
                    ("landfill_rate", float()),
                ]),
            ),
            _ => (Derive::None, Vec::new()),
        };
        Ok(Self { derive, columns })
    }

    pub fn columns(&self) -> &[(String, ColType)] {
        &self.columns
    }

    /// Appends the derived cells, aligned with `columns()`, to `out` (a buffer reused from record
    /// to record). `cells` are the validated clear payload cells.
    pub fn derive_into(
        &self,
        env: &Envelope,
        cells: &[Scalar],
        cal: &StatutoryCalendar,
        out: &mut Vec<Scalar>,
    ) {
        let event_day =
            chrono::DateTime::from_timestamp_millis(env.occurred_at).map(|t| t.date_naive());
        let day = |i: usize| cells.get(i).and_then(Scalar::as_day);
        let days = |a: Option<NaiveDate>, b: Option<NaiveDate>| match (a, b) {
            (Some(a), Some(b)) => Scalar::Int((b - a).num_days()),
            _ => Scalar::Null,
        };
        let date_cell = |d: NaiveDate| Scalar::Date((d - epoch()).num_days() as i32);
        match &self.derive {
            Derive::Planning {
                received,
                decision,
                fi_request,
                fi_received,
            } => {
                let received = day(*received);
                let decided = day(*decision);
                let due = match (day(*fi_received), received) {
                    (Some(fi), _) => Some(cal.decision_due_after_fi(fi)),
                    (None, Some(r)) => Some(cal.decision_due(r)),
                    _ => None,
                };
                let decision_days = match (received, decided) {
                    (Some(r), Some(d)) => Scalar::Int(cal.counted_days_between(r, d)),
                    _ => Scalar::Null,
                };
                let overdue = match (due, decided, event_day) {
                    (Some(due), Some(d), _) => Scalar::Bool(d > due),
                    (Some(due), None, Some(now)) => Scalar::Bool(now > due),
                    _ => Scalar::Null,
                };
                out.extend([
                    due.map_or(Scalar::Null, date_cell),
                    decision_days,
                    overdue,
                    days(day(*fi_request), day(*fi_received)),
                ]);
            }
            Derive::Placement { start, planned_end } => {
                let end = day(*planned_end).or(event_day);
                out.push(days(day(*start), end));
            }
            Derive::Exit { days_in_ea } => {
                let band = cells[*days_in_ea].as_f64().map(|d| match d as i64 {
                    i64::MIN..=-1 => "INVALID",
                    0..=90 => "0-3_MONTHS",
                    91..=182 => "3-6_MONTHS",
                    183..=365 => "6-12_MONTHS",
                    366..=730 => "1-2_YEARS",
                    _ => "2_YEARS_PLUS",
                });
                out.push(band.map_or(Scalar::Null, |b| Scalar::Str(b.into())));
            }
            Derive::Presentation { dob, presented } => {
                let band = match (day(*dob), day(*presented)) {
                    (Some(b), Some(at)) => {
                        Scalar::Str(crate::transform::pseudonymise::age_band(b, at).into())
                    }
                    _ => Scalar::Null,
                };
                out.push(band);
            }
            Derive::Dwelling {
                void_start,
                relet,
                ber_value,
            } => {
                let start = day(*void_start);
                let end = day(*relet).or(event_day);
                let void_days = if start.is_some() {
                    days(start, end)
                } else {
                    Scalar::Null
                };
                let band = cells[*ber_value].as_f64().map_or(Scalar::Null, |v| {
                    Scalar::Str(lgma_domain::ber::band(v).into())
                });
                out.extend([void_days, band]);
            }
            Derive::NeedAssessment {
                list_entry,
                assessed,
            } => out.push(days(day(*list_entry), day(*assessed))),
            Derive::Waste {
                population,
                tonnes,
                recycled,
                landfill,
            } => {
                let total: f64 = tonnes.iter().filter_map(|i| cells[*i].as_f64()).sum();
                let pop = cells[*population].as_f64().unwrap_or(0.0);
                let ratio = |i: usize| match cells[i].as_f64() {
                    Some(v) if total > 0.0 => Scalar::Float(v / total),
                    _ => Scalar::Null,
                };
                out.extend([
                    Scalar::Float(total),
                    if pop > 0.0 {
                        Scalar::Float(total * 1000.0 / pop)
                    } else {
                        Scalar::Null
                    },
                    ratio(*recycled),
                    ratio(*landfill),
                ]);
            }
            Derive::None => {}
        }
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_cells_are_the_councils_and_null_for_an_unknown_code() {
        let councils = LocalAuthorities::embedded().expect("reference data");
        let reference = ReferenceCells::new(&councils);
        let mut out = Vec::new();
        reference.cells_into("CC", &mut out);
        let cork = councils.by_code("CC").expect("Cork City");
        assert_eq!(
            out,
            [
                Scalar::Str(cork.homeless_region.as_str().into()),
                Scalar::Str(cork.nuts3_code.as_str().into()),
                Scalar::Str(cork.nuts3_name.as_str().into()),
                Scalar::Int(224_004),
            ]
        );
        assert_eq!(cork.nuts3_code, "IE053");
        out.clear();
        reference.cells_into("cc", &mut out);
        reference.cells_into("XX", &mut out);
        assert_eq!(out, vec![Scalar::Null; 8]);
    }
}
