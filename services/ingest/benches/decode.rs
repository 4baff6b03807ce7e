//! Decode cost per event, generic apache-avro path vs the compiled per-writer resolution, on the
//! publisher's seeded events from every domain. Run: `cargo bench -p lgma-ingest --bench decode`.
//! `generic` = the apache-avro reference path (framing + `decode_body` into a `Value`);
//! `generic_flatten` adds the walk into cells the old pipeline did next; `compiled` is what the
//! pipeline does now (framing + `Resolution::decode`, cells directly).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lgma_ingest::chain::Chain;
use lgma_ingest::config::Settings;
use lgma_ingest::decode::reference::decode_body;
use lgma_ingest::decode::resolve::Resolution;
use lgma_sim::encode::Encoder;
use lgma_sim::{EventKind, Generator, GeneratorConfig, Topic};

const SAMPLE: usize = 5_000;

#[allow(clippy::expect_used)]
fn decode(c: &mut Criterion) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let settings = Settings::in_repo(&repo);
    let chain = Chain::new(&settings).expect("chain");
    let encoder = Encoder::offline().expect("encoder");
    let mut generator = Generator::new(42, GeneratorConfig::default()).expect("generator");
    let mut events = Vec::with_capacity(SAMPLE);
    while events.len() < SAMPLE {
        let e = generator.next_event();
        if matches!(e.kind, EventKind::Valid) {
            events.push((e.topic, encoder.encode(&e).expect("encodes")));
        }
    }
    let mut plans: HashMap<(Topic, u32), Resolution> = HashMap::new();
    for topic in Topic::ALL {
        let id = encoder.schema_id(topic).expect("id");
        let tp = &chain.topics[topic.name()];
        let plan = Resolution::compile(encoder.schema(topic).expect("schema"), &tp.schema)
            .expect("compiles");
        plans.insert((topic, id), plan);
    }
    let writer = |topic: Topic| encoder.schema(topic).expect("schema");

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(SAMPLE as u64));
    g.sample_size(10);
    g.bench_function("generic", |b| {
        b.iter(|| {
            for (topic, bytes) in &events {
                let framed = lgma_core::framing::decode(bytes).expect("framed");
                let tp = &chain.topics[topic.name()];
                black_box(decode_body(writer(*topic), &tp.schema, framed.body).expect("decodes"));
            }
        })
    });
    g.bench_function("generic_flatten", |b| {
        b.iter(|| {
            for (topic, bytes) in &events {
                let framed = lgma_core::framing::decode(bytes).expect("framed");
                let tp = &chain.topics[topic.name()];
                let v = decode_body(writer(*topic), &tp.schema, framed.body).expect("decodes");
                black_box(tp.schema.flatten(&v).expect("flattens"));
            }
        })
    });
    g.bench_function("compiled", |b| {
        b.iter(|| {
            for (topic, bytes) in &events {
                let framed = lgma_core::framing::decode(bytes).expect("framed");
                let plan = &plans[&(*topic, framed.schema_id)];
                black_box(plan.decode(framed.body).expect("decodes"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
