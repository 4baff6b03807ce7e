//! Stage 4, transform: a judged record's cells into the entity row's cells, by the table's
//! [`layout`] — enrichment ([`enrich`]: reference data, derived measures) and pseudonymisation
//! ([`pseudonymise`]). Pure: no I/O.

use lgma_domain::{LocalAuthorities, StatutoryCalendar};

use crate::decode::Scalar;
use crate::judge::Judged;
use enrich::{reference_cells, Enricher};
use layout::{Layout, Source};
use pseudonymise::{DomainKey, Pseudonymiser};

pub mod enrich;
pub mod layout;
pub mod pseudonymise;

/// What every topic shares: reference data and the pseudonymiser.
pub struct Context<'c> {
    pub councils: &'c LocalAuthorities,
    pub calendar: &'c StatutoryCalendar,
    pub pseudonymiser: &'c Pseudonymiser,
}

/// What one topic needs: its enricher, its key domain's key and the row layout it fills.
pub struct Plan<'t> {
    pub enricher: &'t Enricher,
    pub key: &'t DomainKey,
    pub layout: &'t Layout,
}

/// The entity row's cells in the layout's column order: `common` (provenance and verdict, in
/// `layout::common_columns` order), then every payload leaf as is, pseudonymised (HMAC,
/// age band at the event date, Eircode routing key, 1 km grid), reference data of the
/// council, or derived by the entity's enricher. Clear personal values go no further.
pub fn row_cells(
    cx: &Context<'_>,
    plan: &Plan<'_>,
    j: &Judged<'_>,
    common: &[Scalar],
) -> Vec<Scalar> {
    let env = &j.env;
    let event_day =
        chrono::DateTime::from_timestamp_millis(env.occurred_at).map(|t| t.date_naive());
    let reference = reference_cells(cx.councils, &env.la_code);
    let derived = if j.has_payload {
        plan.enricher.derive(env, &j.cells, cx.calendar)
    } else {
        vec![Scalar::Null; plan.enricher.columns().len()]
    };
    plan.layout
        .columns
        .iter()
        .map(|col| match &col.source {
            Source::Common(i) => common[*i].clone(),
            Source::Leaf(i) => j.cells.get(*i).cloned().unwrap_or(Scalar::Null),
            Source::Pseudonym(i) => j
                .cells
                .get(*i)
                .map_or(Scalar::Null, |c| cx.pseudonymiser.identifier(plan.key, c)),
            Source::AgeBand(i) => j
                .cells
                .get(*i)
                .map_or(Scalar::Null, |c| cx.pseudonymiser.age_band_at(c, event_day)),
            Source::RoutingKey(i) => j
                .cells
                .get(*i)
                .map_or(Scalar::Null, |c| cx.pseudonymiser.routing_key(c)),
            Source::Grid(i) => j.cells.get(*i).map_or(Scalar::Null, pseudonymise::grid_1km),
            Source::Generalised(i, groups) => j
                .cells
                .get(*i)
                .map_or(Scalar::Null, |c| pseudonymise::generalise(c, groups)),
            Source::Reference(i) => reference.get(*i).cloned().unwrap_or(Scalar::Null),
            Source::Derived(i) => derived.get(*i).cloned().unwrap_or(Scalar::Null),
        })
        .collect()
}
