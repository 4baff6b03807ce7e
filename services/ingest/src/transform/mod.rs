//! Stage 4, transform: a judged record's cells into the entity row's cells, by the table's
//! [`layout`] — enrichment ([`enrich`]: reference data, derived measures) and pseudonymisation
//! ([`pseudonymise`]). Pure: no I/O.

use lgma_domain::{LocalAuthorities, StatutoryCalendar};

use crate::decode::Scalar;
use crate::judge::Judged;
use enrich::{reference_cells_into, Enricher};
use layout::{Layout, Source};
use pseudonymise::DomainKey;

pub mod enrich;
pub mod layout;
pub mod pseudonymise;

/// What every topic shares: the councils' reference data and the statutory calendar.
pub struct Context<'c> {
    pub councils: &'c LocalAuthorities,
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
    pseudonymised: Vec<Scalar>,
    /// The last record's entity row (layout order), valid until the next [`row_cells`].
    pub row: Vec<Scalar>,
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
    reference_cells_into(cx.councils, &env.la_code, &mut out.reference);
    if j.has_payload {
        plan.enricher
            .derive_into(env, &j.cells, cx.calendar, &mut out.derived);
    } else {
        let columns = plan.enricher.columns().len();
        out.derived
            .extend(std::iter::repeat_n(Scalar::Null, columns));
    }
}

/// Stage 4b, pseudonymise: one cell per pseudonymised column of the layout, in layout order —
/// keyed HMAC of identifiers, age band at the event date, Eircode routing key, 1 km grid.
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
                _ => None,
            }),
    );
}

/// The entity row's cells in the layout's column order, into `scratch.row`: `common` (provenance
/// and verdict, in `layout::common_columns` order), then every payload leaf as is, pseudonymised
/// ([`pseudonymise`]), generalised, reference data of the council or derived by the entity's
/// enricher ([`enrich`]). Clear personal values go no further. The payload cells and `common`
/// move into the row (no copies): `j.cells` is empty afterwards.
pub fn row_cells(
    cx: &Context<'_>,
    plan: &Plan<'_>,
    j: &mut Judged<'_>,
    common: &mut [Scalar],
    scratch: &mut Scratch,
) {
    enrich_into(cx, plan, j, &mut scratch.enriched);
    pseudonymise_into(plan, j, &mut scratch.pseudonymised);
    let cells = std::mem::take(&mut j.cells);
    assemble(plan, cells, common, scratch);
}

/// Puts a record's cells, its enrichment and its pseudonymised cells in the layout's order,
/// moving each (a layout uses each payload leaf and common cell once).
fn assemble(plan: &Plan<'_>, mut cells: Vec<Scalar>, common: &mut [Scalar], scratch: &mut Scratch) {
    let take = |v: Option<&mut Scalar>| v.map_or(Scalar::Null, std::mem::take);
    let Scratch {
        enriched,
        pseudonymised,
        row,
    } = scratch;
    let mut pseudonymised = pseudonymised.drain(..);
    row.clear();
    for col in &plan.layout.columns {
        row.push(match &col.source {
            Source::Common(i) => take(common.get_mut(*i)),
            Source::Leaf(i) => take(cells.get_mut(*i)),
            Source::Pseudonym(_) | Source::AgeBand(_) | Source::RoutingKey(_) | Source::Grid(_) => {
                pseudonymised.next().unwrap_or(Scalar::Null)
            }
            Source::Generalised(i, groups) => cells
                .get(*i)
                .map_or(Scalar::Null, |c| pseudonymise::generalise(c, groups)),
            Source::Reference(i) => take(enriched.reference.get_mut(*i)),
            Source::Derived(i) => take(enriched.derived.get_mut(*i)),
        });
    }
}
