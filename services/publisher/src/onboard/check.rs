//! Row checks shared by the file formats: the same rules the ingest enforces, caught at the
//! source so a council sees them with a line number instead of in a quarantine table later.

use lgma_domain::{eircode, ppsn};

use lgma_sim::model::*;

/// (field, message) for each broken rule of an entity.
pub fn entity_problems(entity: &Entity) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut ppsn = |v: &Option<String>| {
        if let Some(p) = v {
            if !ppsn::is_valid(p) {
                out.push((
                    "ppsn",
                    format!("`{p}` is not a valid PPS number (format or check letter)"),
                ));
            }
        }
    };
    match entity {
        Entity::Presentation(p) => {
            ppsn(&p.ppsn);
            range(&mut out, "adults", p.adults, 1, 10);
            range(&mut out, "dependants", p.dependants, 0, 15);
        }
        Entity::NeedAssessment(a) => {
            ppsn(&a.ppsn);
            range(&mut out, "adults", a.adults, 1, 10);
            range(&mut out, "children", a.children, 0, 15);
            if a.assessed_on < a.list_entry_date {
                out.push(("assessed_on", "is before list_entry_date".into()));
            }
        }
        Entity::Placement(p) => {
            range(&mut out, "adults", p.adults, 1, 10);
            range(&mut out, "dependants", p.dependants, 0, 15);
            if p.planned_end_date.is_some_and(|e| e < p.start_date) {
                out.push(("planned_end_date", "is before start_date".into()));
            }
        }
        Entity::Exit(e) => {
            range(&mut out, "days_in_ea", e.days_in_ea, 0, 7300);
            range(&mut out, "adults", e.adults, 1, 10);
        }
        Entity::DwellingUnit(u) => {
            eircode(&mut out, "eircode", &u.eircode);
            range(&mut out, "bedrooms", u.bedrooms, 0, 8);
            if let (Some(v), Some(r)) = (u.void_start_date, u.relet_date) {
                if r < v {
                    out.push(("relet_date", "is before void_start_date".into()));
                }
            }
        }
        Entity::PlanningApplication(a) => {
            eircode(&mut out, "development_eircode", &a.development_eircode);
            let before = |d: Option<Millis>| d.is_some_and(|d| d < a.received_date);
            for (field, date) in [
                ("validated_date", a.validated_date),
                ("fi_request_date", a.fi_request_date),
                ("decision_date", a.decision_date),
                ("withdrawn_date", a.withdrawn_date),
            ] {
                if before(date) {
                    out.push((field, "is before received_date".into()));
                }
            }
            if let (Some(req), Some(rec)) = (a.fi_request_date, a.fi_received_date) {
                if rec < req {
                    out.push(("fi_received_date", "is before fi_request_date".into()));
                }
            }
            if let (Some(d), Some(g)) = (a.decision_date, a.grant_date) {
                if g <= d {
                    out.push(("grant_date", "is not after decision_date".into()));
                }
            }
        }
        Entity::WasteReturn(w) => {
            range(&mut out, "period_month", w.period_month, 1, 12);
            for (field, v) in [
                ("kerbside_residual_t", w.kerbside_residual_t),
                ("kerbside_dry_recyclables_t", w.kerbside_dry_recyclables_t),
                ("kerbside_organics_t", w.kerbside_organics_t),
                ("civic_amenity_t", w.civic_amenity_t),
                ("bring_bank_t", w.bring_bank_t),
                ("recycled_t", w.recycled_t),
                ("energy_recovery_t", w.energy_recovery_t),
                ("landfill_t", w.landfill_t),
            ] {
                if v < 0.0 || !v.is_finite() {
                    out.push((field, format!("{v} is negative or not a number")));
                }
            }
        }
    }
    out
}

fn range(out: &mut Vec<(&'static str, String)>, field: &'static str, v: i32, lo: i32, hi: i32) {
    if v < lo || v > hi {
        out.push((field, format!("{v} is outside {lo}..={hi}")));
    }
}

fn eircode(out: &mut Vec<(&'static str, String)>, field: &'static str, v: &Option<String>) {
    if let Some(e) = v {
        if !eircode::is_valid(e) {
            out.push((
                field,
                format!("`{e}` is not a valid Eircode (7 characters, no space)"),
            ));
        }
    }
}
