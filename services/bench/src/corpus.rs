//! Realistic events: the publisher's seeded generator (every domain, all 31 councils), encoded
//! exactly as a council publishes them (Confluent-framed Avro).

use lgma_sim::encode::Encoder;
use lgma_sim::model::{ChangeEvent, Meta};
use lgma_sim::{Generator, GeneratorConfig, Topic};

use crate::Result;

/// One event as it sits on the wire, plus the envelope the producer puts in headers.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub topic: Topic,
    pub key: String,
    pub value: Vec<u8>,
    pub meta: Meta,
}

/// `n` events of the default national simulation (no snapshot: the ongoing flow of every domain).
pub fn generate(n: usize, seed: u64, encoder: &Encoder) -> Result<Vec<Encoded>> {
    let mut generator = Generator::new(seed, GeneratorConfig::default())?;
    (0..n)
        .map(|_| {
            let event = generator.next_event();
            encode(encoder, &event.event, event.key)
        })
        .collect()
}

/// Every event of `days` simulated days (a back-fill of history).
pub fn simulated_days(days: u32, seed: u64, encoder: &Encoder) -> Result<Vec<Encoded>> {
    let mut generator = Generator::new(seed, GeneratorConfig::default())?;
    let end = generator.sim_now() + i64::from(days) * lgma_sim::generator::DAY_MS;
    let mut out = Vec::new();
    loop {
        let event = generator.next_event();
        if generator.sim_now() >= end {
            return Ok(out);
        }
        out.push(encode(encoder, &event.event, event.key)?);
    }
}

/// Encodes one event; the value is what the topic carries.
pub fn encode(encoder: &Encoder, event: &ChangeEvent, key: String) -> Result<Encoded> {
    Ok(Encoded {
        topic: event.topic(),
        key,
        value: encoder.encode_body(event).and_then(|body| {
            Ok(lgma_core::framing::encode(
                encoder.schema_id(event.topic())?,
                &body,
            ))
        })?,
        meta: event.meta(),
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
