//! Offline inputs for the chain (unit tests, criterion benches, `lgma-bench`): the simulator's
//! writer schemas by id, as the registry would answer them, and generated events as the consumer
//! hands them over. Behind `cfg(test)` / the `reference` feature, never in the service.

use apache_avro::Schema;
use lgma_sim::encode::Encoder;
use lgma_sim::{GeneratedEvent, Generator, Topic};
use rustc_hash::FxHashMap;

use super::Chain;
use crate::config::Settings;
use crate::source::RawRecord;
use crate::{Error, Result};

fn sim(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("simulator: {e}"))
}

/// The chain of the committed settings, every enriched topic's schema id set to `enriched_id`.
pub fn chain(settings: &Settings, enriched_id: u32) -> Result<Chain> {
    let chain = Chain::new(settings)?;
    for tp in chain.topics.values() {
        tp.set_enriched_id(enriched_id);
    }
    Ok(chain)
}

/// The encoder's writer schema of every council topic, by the id it frames events with.
pub fn writers(encoder: &Encoder) -> Result<FxHashMap<u32, Schema>> {
    let mut writers = FxHashMap::default();
    for topic in Topic::ALL {
        writers.insert(
            encoder.schema_id(topic).map_err(sim)?,
            encoder.schema(topic).map_err(sim)?.clone(),
        );
    }
    Ok(writers)
}

/// A generated event as the consumer hands it over, at `offset` of partition 0.
pub fn raw_record(encoder: &Encoder, e: &GeneratedEvent, offset: i64) -> Result<RawRecord> {
    Ok(RawRecord {
        topic: e.topic.name().into(),
        partition: 0,
        offset,
        key: Some(e.key.clone().into_bytes().into()),
        value: Some(encoder.encode(e).map_err(sim)?.into()),
    })
}

/// `n` events of `generator` as raw records at offsets 0.. of partition 0.
pub fn raw_records(
    encoder: &Encoder,
    generator: &mut Generator,
    n: usize,
) -> Result<Vec<RawRecord>> {
    (0..n as i64)
        .map(|offset| raw_record(encoder, &generator.next_event(), offset))
        .collect()
}
