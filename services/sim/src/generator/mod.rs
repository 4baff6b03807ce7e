//! A deterministic discrete-event simulation of council activity.
//!
//! Arrivals (presentations, planning applications, need assessments, dwelling changes) are Poisson
//! processes in simulated time with national rates from domain.md, spread over councils by
//! population (homelessness: ~70% Dublin). Each arrival schedules its entity's later steps
//! (validation, decision, exit...), so lifecycles are valid by construction and versions increase
//! per entity. Everything comes from one seeded ChaCha RNG: a seed reproduces the stream exactly,
//! independent of wall-clock speed.

mod councils;
mod homelessness;
mod housing;
mod invalid;
pub mod people;
mod planning;
mod waste;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use lgma_domain::StatutoryCalendar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use councils::{Council, Councils};

use crate::model::{ChangeEvent, Entity, Meta, Operation};
use crate::topics::Topic;
use crate::Result;

pub const DAY_MS: i64 = 86_400_000;
/// The most history of planning applications a snapshot simulates (see `history_days`).
pub const PLANNING_HISTORY_DAYS: i64 = 365;

/// Knobs of the simulation; defaults are the national calibration from domain.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorConfig {
    /// Council codes to simulate; empty = all 31.
    pub councils: Vec<String>,
    /// Probability that an emitted event is a deliberately broken one (0..=1).
    pub invalid_ratio: f64,
    /// Simulated start, epoch ms (default 2024-01-01T00:00:00Z).
    pub start_ms: i64,
    /// Emit the initial stock first (all dwellings, everyone already in emergency accommodation),
    /// and then `history_days` of activity before `start_ms`, all before the change stream.
    pub snapshot: bool,
    /// With `snapshot`: days of history simulated (and emitted) before `start_ms`, so summaries
    /// over past months (planning decision times, EA at each month end) have data. 0 = none.
    /// Planning applications start at most [`PLANNING_HISTORY_DAYS`] before `start_ms`.
    pub history_days: u32,
    /// Fraction of the national volumes simulated (stock, caseload and every flow alike), so a
    /// short demo can carry a whole snapshot; rates and shares do not depend on it. 1 = national.
    pub scale: f64,
    /// Local-authority dwellings nationally (~150k).
    pub dwellings_total: u32,
    /// People in emergency accommodation nationally (~14,000, May 2024).
    pub ea_people: u32,
    /// Yearly growth of the number of people in emergency accommodation (domain.md §2: 10,975 in
    /// Sept 2022, 14,159 in May 2024, ~16 % a year). `ea_people` is the count at `start_ms`; the
    /// history before it rises towards it.
    pub ea_growth_per_year: f64,
    /// Planning applications per year nationally (~30-40k).
    pub planning_per_year: u32,
    /// Qualified households newly assessed per year nationally.
    pub need_assessments_per_year: u32,
    /// Household waste per person per year, kg (~315, EPA 2018).
    pub household_waste_kg_per_person: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            councils: Vec::new(),
            invalid_ratio: 0.0,
            start_ms: 1_704_067_200_000,
            snapshot: false,
            history_days: 0,
            scale: 1.0,
            dwellings_total: 150_000,
            ea_people: 14_000,
            ea_growth_per_year: 0.15,
            planning_per_year: 35_000,
            need_assessments_per_year: 20_000,
            household_waste_kg_per_person: 315.0,
        }
    }
}

/// Ways the simulator breaks the rules on purpose; each is counted in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidKind {
    BadEircode,
    BadPpsn,
    DecisionBeforeReceipt,
    UnknownCouncil,
    OutOfRange,
    /// Bytes that are not Confluent-framed (JSON text).
    NotFramed,
    /// Framed, but the Avro body is cut short.
    TruncatedAvro,
}

impl InvalidKind {
    pub const ALL: [InvalidKind; 7] = [
        InvalidKind::BadEircode,
        InvalidKind::BadPpsn,
        InvalidKind::DecisionBeforeReceipt,
        InvalidKind::UnknownCouncil,
        InvalidKind::OutOfRange,
        InvalidKind::NotFramed,
        InvalidKind::TruncatedAvro,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InvalidKind::BadEircode => "bad_eircode",
            InvalidKind::BadPpsn => "bad_ppsn",
            InvalidKind::DecisionBeforeReceipt => "decision_before_receipt",
            InvalidKind::UnknownCouncil => "unknown_council",
            InvalidKind::OutOfRange => "out_of_range",
            InvalidKind::NotFramed => "not_framed",
            InvalidKind::TruncatedAvro => "truncated_avro",
        }
    }

    /// True for kinds whose bytes (not content) are broken.
    pub fn is_malformed_bytes(self) -> bool {
        matches!(self, InvalidKind::NotFramed | InvalidKind::TruncatedAvro)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Valid,
    Invalid(InvalidKind),
}

/// One event ready to encode: topic, Kafka key and content.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedEvent {
    pub topic: Topic,
    pub key: String,
    pub event: ChangeEvent,
    pub kind: EventKind,
}

/// What the simulation does at a point in simulated time.
#[derive(Debug)]
enum Action {
    PresentationArrival,
    PlanningArrival,
    DwellingChange,
    NewDwelling,
    NeedArrival,
    WasteMonth,
    /// An entity's scheduled later step (already fully described).
    Step(Box<Step>),
}

// Already boxed inside `Action::Step`, so the variant sizes do not matter for the queue.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Step {
    Placement(homelessness::Household, String),
    Exit(
        homelessness::Household,
        Option<crate::model::Placement>,
        i32,
    ),
    Emit {
        council: usize,
        entity: Entity,
        version: i64,
        operation: Operation,
    },
    Planning(Box<planning::Case>),
    /// The end of a dwelling's void (relet, or demolition of a unit awaiting it).
    VoidEnd(u32),
}

struct Scheduled {
    at: i64,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The seeded event generator. Iterate it (it never ends) or call [`Generator::next_event`].
pub struct Generator {
    rng: ChaCha8Rng,
    config: GeneratorConfig,
    councils: Councils,
    calendar: StatutoryCalendar,
    now: i64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    out: VecDeque<GeneratedEvent>,
    counters: HashMap<(&'static str, usize), u64>,
    housing: housing::Stock,
    snapshot_cursor: Option<u32>,
    /// People in emergency accommodation now (placements started, not yet exited).
    ea_people_now: f64,
}

impl Generator {
    pub fn new(seed: u64, config: GeneratorConfig) -> Result<Self> {
        if !(config.scale > 0.0 && config.scale <= 1.0) {
            return Err(crate::Error::Argument(format!(
                "scale must be in (0, 1], got {}",
                config.scale
            )));
        }
        let councils = Councils::select(&config.councils)?;
        let calendar = StatutoryCalendar::embedded()?;
        let housing = housing::Stock::new(&councils, config.dwellings_total, config.scale);
        let origin = if config.snapshot {
            config.start_ms - i64::from(config.history_days) * DAY_MS
        } else {
            config.start_ms
        };
        let mut generator = Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: origin,
            councils,
            calendar,
            seq: 0,
            queue: BinaryHeap::new(),
            out: VecDeque::new(),
            counters: HashMap::new(),
            housing,
            snapshot_cursor: config.snapshot.then_some(0),
            ea_people_now: 0.0,
            config,
        };
        for action in [
            Action::PresentationArrival,
            Action::DwellingChange,
            Action::NewDwelling,
            Action::NeedArrival,
        ] {
            generator.schedule_arrival(action);
        }
        // Planning is most of the events: its history is at most a year (decision times,
        // appeals), while homelessness may go further back (the 24-month EA trend).
        let planning_origin =
            origin.max(generator.config.start_ms - PLANNING_HISTORY_DAYS * DAY_MS);
        generator.now = planning_origin;
        generator.schedule_arrival(Action::PlanningArrival);
        generator.now = origin;
        let first_waste = waste::next_filing(generator.now, &mut generator.rng);
        generator.schedule(first_waste, Action::WasteMonth);
        if generator.config.snapshot {
            generator.snapshot_homelessness();
        }
        Ok(generator)
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    pub fn councils(&self) -> &Councils {
        &self.councils
    }

    /// True while the generator is still in the snapshot (the initial stock and the history before
    /// `start_ms`): the last event returned belongs to it. Publish these at full speed.
    pub fn in_snapshot(&self) -> bool {
        self.config.snapshot && (self.snapshot_cursor.is_some() || self.now < self.config.start_ms)
    }

    /// Current simulated time, epoch ms.
    pub fn sim_now(&self) -> i64 {
        self.now
    }

    /// The next event of the stream.
    pub fn next_event(&mut self) -> GeneratedEvent {
        if self.config.invalid_ratio > 0.0 && self.rng.gen_bool(self.config.invalid_ratio.min(1.0))
        {
            return self.invalid_event();
        }
        loop {
            if let Some(event) = self.out.pop_front() {
                return event;
            }
            if let Some(cursor) = self.snapshot_cursor {
                self.snapshot_cursor = self.snapshot_dwelling(cursor);
                continue;
            }
            self.step();
        }
    }

    /// Daily growth rate of the EA population (continuous).
    fn ea_growth_rate(&self) -> f64 {
        (1.0 + self.config.ea_growth_per_year.max(-0.5)).ln() / 365.0
    }

    /// The EA population at `now` relative to `ea_people` (the count at `start_ms`).
    pub(super) fn ea_level(&self) -> f64 {
        (self.ea_growth_rate() * (self.now - self.config.start_ms) as f64 / DAY_MS as f64).exp()
    }

    /// Presentations relative to the steady state that keep the EA population on its growth path.
    fn ea_growth_factor(&self) -> f64 {
        self.ea_level() * homelessness::growth_inflow_factor(self.ea_growth_rate())
    }

    /// Runs the earliest scheduled action.
    fn step(&mut self) {
        let Some(next) = self.queue.pop() else {
            // Cannot happen: arrival processes always reschedule themselves.
            self.schedule_arrival(Action::PresentationArrival);
            return;
        };
        self.now = self.now.max(next.at);
        match next.action {
            Action::PresentationArrival => {
                self.schedule_arrival(Action::PresentationArrival);
                self.presentation_arrival();
            }
            Action::PlanningArrival => {
                self.schedule_arrival(Action::PlanningArrival);
                self.planning_arrival();
            }
            Action::DwellingChange => {
                self.schedule_arrival(Action::DwellingChange);
                self.dwelling_change();
            }
            Action::NewDwelling => {
                self.schedule_arrival(Action::NewDwelling);
                self.new_dwelling();
            }
            Action::NeedArrival => {
                self.schedule_arrival(Action::NeedArrival);
                self.need_arrival();
            }
            Action::WasteMonth => {
                let next = waste::next_filing(self.now, &mut self.rng);
                self.schedule(next, Action::WasteMonth);
                self.waste_month();
            }
            Action::Step(step) => match *step {
                Step::Placement(household, presentation_id) => {
                    self.start_placement(household, Some(presentation_id), self.now)
                }
                Step::Exit(household, placement, days) => self.exit(household, placement, days),
                Step::Emit {
                    council,
                    entity,
                    version,
                    operation,
                } => self.emit_op(council, entity, version, operation),
                Step::Planning(case) => self.planning_step(*case),
                Step::VoidEnd(number) => self.end_void(number),
            },
        }
    }

    /// Events per simulated day of each arrival process (scaled to the selected councils).
    fn daily_rate(&self, action: &Action) -> f64 {
        let pop = self.councils.population_fraction() * self.config.scale;
        let scale = self.config.scale;
        match action {
            Action::PresentationArrival => {
                homelessness::presentations_per_day(self.config.ea_people as f64)
                    * self.councils.homelessness_fraction()
                    * scale
                    * self.ea_growth_factor()
            }
            Action::PlanningArrival => self.config.planning_per_year as f64 / 365.0 * pop,
            // Tenancies ending (each void's relet or demolition is scheduled when it starts).
            Action::DwellingChange => {
                self.config.dwellings_total as f64 * housing::TURNOVER_PER_YEAR / 365.0 * pop
            }
            // ~3% of the stock is new each year.
            Action::NewDwelling => self.config.dwellings_total as f64 * 0.03 / 365.0 * pop,
            Action::NeedArrival => self.config.need_assessments_per_year as f64 / 365.0 * pop,
            Action::WasteMonth | Action::Step(_) => 0.0,
        }
    }

    fn schedule_arrival(&mut self, action: Action) {
        let rate = self.daily_rate(&action).max(1e-6);
        let gap_days = exponential(&mut self.rng, 1.0 / rate);
        let at = self.now + (gap_days * DAY_MS as f64).round().max(1.0) as i64;
        self.schedule(at, action);
    }

    fn schedule(&mut self, at: i64, action: Action) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            action,
        });
    }

    fn schedule_step(&mut self, at: i64, step: Step) {
        self.schedule(at, Action::Step(Box::new(step)));
    }

    /// Next number in a per-council id sequence.
    fn next_id(&mut self, kind: &'static str, council: usize) -> u64 {
        let n = self.counters.entry((kind, council)).or_insert(0);
        *n += 1;
        *n
    }

    fn meta(
        &mut self,
        topic: Topic,
        council: usize,
        entity_id: &str,
        version: i64,
        operation: Operation,
        at: i64,
    ) -> Meta {
        let lag = self.rng.gen_range(50..5_000);
        Meta {
            event_id: people::uuid(&mut self.rng),
            operation,
            entity_id: entity_id.to_string(),
            entity_version: version,
            la_code: self.councils.list[council].code.clone(),
            source_system: source_system(topic).to_string(),
            occurred_at: at,
            published_at: at + lag,
        }
    }

    fn emit_op(&mut self, council: usize, entity: Entity, version: i64, operation: Operation) {
        let topic = entity.topic();
        let id = entity.id().to_string();
        let meta = self.meta(topic, council, &id, version, operation, self.now);
        let event = if operation == Operation::DELETE {
            ChangeEvent::delete(topic, meta)
        } else {
            ChangeEvent::new(meta, entity)
        };
        self.out.push_back(GeneratedEvent {
            topic,
            key: id,
            event,
            kind: EventKind::Valid,
        });
    }

    fn emit(&mut self, council: usize, entity: Entity, version: i64) {
        let op = if version == 1 {
            Operation::CREATE
        } else {
            Operation::UPDATE
        };
        self.emit_op(council, entity, version, op);
    }

    fn town(&self, council: usize) -> String {
        let name = &self.councils.list[council].name;
        [
            " City and County Council",
            " County Council",
            " City Council",
        ]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
        .to_string()
    }
}

impl Iterator for Generator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        Some(self.next_event())
    }
}

/// The council system that typically produces each topic's data.
fn source_system(topic: Topic) -> &'static str {
    match topic {
        Topic::Presentation | Topic::Placement | Topic::Exit => "PASS",
        Topic::DwellingUnit => "iHouse",
        Topic::NeedAssessment => "iHouse-SSHA",
        Topic::PlanningApplication => "iPlan",
        Topic::WasteReturn => "lgma-publisher",
    }
}

/// An exponential draw with the given mean.
pub(crate) fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(0.0..1.0);
    -mean * (1.0 - u).ln()
}

/// Days since the epoch for an epoch-ms instant.
pub(crate) fn day_of(ms: i64) -> i32 {
    ms.div_euclid(DAY_MS) as i32
}

/// Picks from `(item, weight)` pairs.
pub(crate) fn pick<T: Copy>(rng: &mut impl Rng, table: &[(T, f64)]) -> T {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut u = rng.gen_range(0.0..total);
    for (item, w) in table {
        if u < *w {
            return *item;
        }
        u -= w;
    }
    table[table.len() - 1].0
}
