//! Monthly municipal waste returns (domain.md §6): ~315 kg household waste per person a year,
//! kerbside ~70% of it, and a treatment split near the EPA's (recycled ~41%, energy recovery ~43%,
//! landfill ~16%) so the EU 2035 targets (65% recycled, ≤10% landfill) are not yet met.

use chrono::{DateTime, Datelike, NaiveDate};
use rand::Rng;

use super::{Entity, Generator, Operation, Step, DAY_MS};
use crate::model::WasteReturn;

fn month_start(year: i32, month: u32) -> i64 {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or_default()
}

fn year_month(ms: i64) -> (i32, u32) {
    DateTime::from_timestamp_millis(ms)
        .map(|d| (d.year(), d.month()))
        .unwrap_or((1970, 1))
}

/// Returns are filed on day 3-10 of the month after the reporting month.
pub(super) fn next_filing(now: i64, rng: &mut impl Rng) -> i64 {
    let (y, m) = year_month(now);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    month_start(ny, nm) + rng.gen_range(2..10) * DAY_MS + rng.gen_range(0..DAY_MS / 2)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Generator {
    /// Every selected council files its return for the previous month.
    pub(super) fn waste_month(&mut self) {
        let (y, m) = year_month(self.now);
        let (year, month) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        let kg = self.config.household_waste_kg_per_person;
        for council in 0..self.councils.list.len() {
            let c = self.councils.list[council].clone();
            let rng = &mut self.rng;
            // Seasonal swing: more in December and summer.
            let season =
                1.0 + 0.08 * ((f64::from(month) - 1.0) / 12.0 * std::f64::consts::TAU).cos();
            let total =
                c.population as f64 * kg / 1000.0 / 12.0 * season * rng.gen_range(0.95..1.05);
            let kerbside = total * rng.gen_range(0.68..0.72);
            let civic = total * rng.gen_range(0.18..0.24);
            let bring = (total - kerbside - civic).max(0.0);
            let residual = kerbside * rng.gen_range(0.40..0.46);
            let dry = kerbside * rng.gen_range(0.29..0.33);
            let organics = kerbside - residual - dry;
            let recycled = total * rng.gen_range(0.38..0.44);
            let energy = total * rng.gen_range(0.40..0.46);
            let w = WasteReturn {
                return_id: format!("{}-{year}-{month:02}", c.code),
                period_year: year,
                period_month: month as i32,
                population_served: c.population as i64,
                kerbside_residual_t: round3(residual),
                kerbside_dry_recyclables_t: round3(dry),
                kerbside_organics_t: round3(organics),
                civic_amenity_t: round3(civic),
                bring_bank_t: round3(bring),
                recycled_t: round3(recycled),
                energy_recovery_t: round3(energy),
                landfill_t: round3((total - recycled - energy).max(0.0)),
                notes: rng
                    .gen_bool(0.1)
                    .then(|| "Civic amenity site closed for two days (weather)".to_string()),
            };
            if self.rng.gen_bool(0.1) {
                let mut revised = w.clone();
                revised.notes = Some("Revised after contractor weighbridge reconciliation".into());
                revised.bring_bank_t = round3(w.bring_bank_t * 1.02);
                revised.landfill_t = round3(w.landfill_t + (revised.bring_bank_t - w.bring_bank_t));
                let at = self.now + self.rng.gen_range(14..28) * DAY_MS;
                self.schedule_step(
                    at,
                    Step::Emit {
                        council,
                        entity: Entity::WasteReturn(revised),
                        version: 2,
                        operation: Operation::UPDATE,
                    },
                );
            }
            self.emit(council, Entity::WasteReturn(w), 1);
        }
    }
}
