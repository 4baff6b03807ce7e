//! Realistic events: the publisher's seeded generator (every domain, all 31 councils), encoded
//! exactly as a council publishes them (Confluent-framed Avro), with the demo's share of
//! deliberately broken ones (a rule broken, or malformed bytes) so the quarantine path is measured.

use lgma_sim::encode::Encoder;
use lgma_sim::model::{ChangeEvent, Meta};
use lgma_sim::{GeneratedEvent, Generator, GeneratorConfig, Topic};

use crate::Result;

/// One event as it sits on the wire, plus the envelope the producer puts in headers.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub topic: Topic,
    pub key: String,
    pub value: Vec<u8>,
    pub meta: Meta,
}

/// The demo's share of deliberately broken events (`LGMA_DEMO_INVALID` in `infra/demo.sh`,
/// passed to the publisher's `--invalid-ratio`).
pub const DEMO_INVALID_RATIO: f64 = 0.02;

/// The default national simulation (no snapshot: the ongoing flow of every domain) with
/// `invalid_ratio` of its events deliberately broken.
pub fn generator(seed: u64, invalid_ratio: f64) -> Result<Generator> {
    Ok(Generator::new(
        seed,
        GeneratorConfig {
            invalid_ratio,
            ..GeneratorConfig::default()
        },
    )?)
}

/// `n` events of [`generator`].
pub fn generate(
    n: usize,
    seed: u64,
    invalid_ratio: f64,
    encoder: &Encoder,
) -> Result<Vec<Encoded>> {
    let mut generator = generator(seed, invalid_ratio)?;
    (0..n)
        .map(|_| encode(encoder, generator.next_event()))
        .collect()
}

/// Every event of `days` simulated days (a back-fill of history).
pub fn simulated_days(
    days: u32,
    seed: u64,
    invalid_ratio: f64,
    encoder: &Encoder,
) -> Result<Vec<Encoded>> {
    let mut generator = generator(seed, invalid_ratio)?;
    let end = generator.sim_now() + i64::from(days) * lgma_sim::generator::DAY_MS;
    let mut out = Vec::new();
    loop {
        let event = generator.next_event();
        if generator.sim_now() >= end {
            return Ok(out);
        }
        out.push(encode(encoder, event)?);
    }
}

/// Encodes one event as the publisher does: the value is what the topic carries (framed Avro,
/// or the malformed bytes of a deliberately broken event).
pub fn encode(encoder: &Encoder, event: GeneratedEvent) -> Result<Encoded> {
    Ok(Encoded {
        topic: event.topic,
        value: encoder.encode(&event)?,
        meta: event.event.meta(),
        key: event.key,
    })
}

/// Sets the envelope's `published_at` (latency runs: the wall-clock send moment, epoch ms).
pub fn restamp(event: &mut ChangeEvent, published_at: i64) {
    macro_rules! set {
        ($e:ident) => {{
            $e.published_at = published_at;
        }};
    }
    match event {
        ChangeEvent::Presentation(e) => set!(e),
        ChangeEvent::Placement(e) => set!(e),
        ChangeEvent::Exit(e) => set!(e),
        ChangeEvent::DwellingUnit(e) => set!(e),
        ChangeEvent::NeedAssessment(e) => set!(e),
        ChangeEvent::PlanningApplication(e) => set!(e),
        ChangeEvent::WasteReturn(e) => set!(e),
    }
}

/// Events per topic, for the report.
pub fn mix(events: &[Encoded]) -> Vec<(Topic, usize)> {
    Topic::ALL
        .iter()
        .map(|t| (*t, events.iter().filter(|e| e.topic == *t).count()))
        .collect()
}
