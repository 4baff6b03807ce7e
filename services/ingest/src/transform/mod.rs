//! Stage 4, transform: a judged record's cells into the entity row's cells, by the table's
//! [`layout`] — enrichment ([`enrich`]: reference data, derived measures) and pseudonymisation
//! ([`pseudonymise`]). Pure: no I/O.

use lgma_domain::StatutoryCalendar;

use crate::decode::Scalar;
use crate::encode::row::{Cells, NULL};
use crate::judge::Judged;
use enrich::{Enricher, ReferenceCells};
use layout::{Layout, Slot, Source};
use pseudonymise::DomainKey;

pub mod enrich;
pub mod layout;
pub mod pseudonymise;

/// What every topic shares: the councils' reference cells and the statutory calendar.
pub struct Context<'c> {
    pub reference: &'c ReferenceCells,
    pub calendar: &'c StatutoryCalendar,
}

/// What one topic needs: its enricher, its key domain's key and the row layout it fills.
pub struct Plan<'t> {
    pub enricher: &'t Enricher,
    pub key: &'t DomainKey,
    pub layout: &'t Layout,
}

/// Enrichment's output for one record: the council's reference cells and the entity's derived
/// measures (in `reference_columns` / the enricher's column order).
#[derive(Debug, Clone, Default)]
pub struct Enriched {
    pub reference: Vec<Scalar>,
    pub derived: Vec<Scalar>,
}

/// A batch's working buffers for [`row_cells`], reused from record to record: after the first
/// record of a batch, transforming one allocates nothing of its own.
#[derive(Debug, Default)]
pub struct Scratch {
    enriched: Enriched,
    made: Vec<Scalar>,
}

/// A record's entity row in the layout's column order, read where its cells are (common cells,
/// payload cells, made cells, enrichment) by the layout's slots: no cell is moved or copied into a
/// row of its own, and each is dropped once, with the part that holds it.
pub struct Row<'r> {
    slots: &'r [Slot],
    /// By [`layout::Part`], in its declaration order.
    parts: [&'r [Scalar]; 5],
}

impl Cells for Row<'_> {
    fn cell(&self, column: usize) -> &Scalar {
        match self.slots.get(column) {
            Some(slot) => self.parts[slot.part as usize]
                .get(slot.index)
                .unwrap_or(&NULL),
            None => &NULL,
        }
    }
}

impl Row<'_> {
    /// The row's cells copied into one vector (tests, benchmarks).
    pub fn to_vec(&self) -> Vec<Scalar> {
        (0..self.slots.len())
            .map(|k| self.cell(k).clone())
            .collect()
    }
}

/// Stage 4a, enrich: reference data of the record's council and the entity's derived measures
/// (statutory calendar, bands...).
pub fn enrich(cx: &Context<'_>, plan: &Plan<'_>, j: &Judged<'_>) -> Enriched {
    let mut out = Enriched::default();
    enrich_into(cx, plan, j, &mut out);
    out
}

/// [`enrich`] into reused buffers (cleared first).
fn enrich_into(cx: &Context<'_>, plan: &Plan<'_>, j: &Judged<'_>, out: &mut Enriched) {
    let env = &j.env;
    out.reference.clear();
    out.derived.clear();
    cx.reference.cells_into(&env.la_code, &mut out.reference);
    if j.has_payload {
        plan.enricher
            .derive_into(env, &j.cells, cx.calendar, &mut out.derived);
    } else {
        let columns = plan.enricher.columns().len();
        out.derived
            .extend(std::iter::repeat_n(Scalar::Null, columns));
    }
}

/// Stage 4b, pseudonymise: one cell per pseudonymised or generalised column of the layout, in
/// layout order — keyed HMAC of identifiers, age band at the event date, Eircode routing key, 1 km
/// grid, a symbol's group.
pub fn pseudonymise(plan: &Plan<'_>, j: &Judged<'_>) -> Vec<Scalar> {
    let mut out = Vec::new();
    pseudonymise_into(plan, j, &mut out);
    out
}

/// [`pseudonymise`] into a reused buffer (cleared first).
fn pseudonymise_into(plan: &Plan<'_>, j: &Judged<'_>, out: &mut Vec<Scalar>) {
    let event_day =
        chrono::DateTime::from_timestamp_millis(j.env.occurred_at).map(|t| t.date_naive());
    let cell = |i: usize, f: &dyn Fn(&Scalar) -> Scalar| j.cells.get(i).map_or(Scalar::Null, f);
    out.clear();
    out.extend(
        plan.layout
            .columns
            .iter()
            .filter_map(|col| match &col.source {
                Source::Pseudonym(i) => Some(cell(*i, &|c| pseudonymise::identifier(plan.key, c))),
                Source::AgeBand(i) => Some(cell(*i, &|c| pseudonymise::age_band_at(c, event_day))),
                Source::RoutingKey(i) => Some(cell(*i, &pseudonymise::routing_key)),
                Source::Grid(i) => Some(cell(*i, &pseudonymise::grid_1km)),
                Source::Generalised(i, groups) => {
                    Some(cell(*i, &|c| pseudonymise::generalise(c, groups)))
                }
                // Every other source has its own part of the row (`layout::Source::slot`): a new
                // source must be placed in both matches.
                Source::Common(_) | Source::Leaf(_) | Source::Reference(_) | Source::Derived(_) => {
                    None
                }
            }),
    );
}

/// The entity row of a judged record, in the layout's column order: `common` (provenance and
/// verdict, in `layout::common_columns` order), then every payload leaf as is, pseudonymised
/// ([`pseudonymise`]), generalised, reference data of the council or derived by the entity's
/// enricher ([`enrich`]). The row reads the clear payload cells only for the columns that take
/// them as they are (non-personal leaves); personal values reach it only in their made form.
pub fn row_cells<'r>(
    cx: &Context<'_>,
    plan: &Plan<'r>,
    j: &'r Judged<'_>,
    common: &'r [Scalar],
    scratch: &'r mut Scratch,
) -> Row<'r> {
    enrich_into(cx, plan, j, &mut scratch.enriched);
    pseudonymise_into(plan, j, &mut scratch.made);
    let Scratch { enriched, made } = scratch;
    Row {
        slots: &plan.layout.slots,
        parts: [
            common,
            &j.cells,
            made,
            &enriched.reference,
            &enriched.derived,
        ],
    }
}
