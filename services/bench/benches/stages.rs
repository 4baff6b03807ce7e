//! Stage micro-benchmarks of the ingest chain (criterion): decode, validate, enrich,
//! pseudonymise, row encode, enriched Avro encode, and the whole chain in-process, on realistic
//! events from every domain (the publisher's seeded generator). Run: `cargo bench -p lgma-bench`.
//! Figures are per batch of `SAMPLE` events; criterion's throughput line gives events/s.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lgma_bench::chain::{Chain, Output};
use lgma_bench::corpus;
use lgma_ingest::schema::Scalar;
use lgma_publisher::encode::Encoder;

const SAMPLE: usize = 5_000;

#[allow(clippy::expect_used)]
fn stages(c: &mut Criterion) {
    let encoder = Encoder::offline().expect("encoder");
    let events = corpus::generate(SAMPLE, 42, &encoder).expect("corpus");
    let chain = Chain::new(&lgma_bench::repo_root(), &encoder).expect("chain");
    let decoded: Vec<_> = events
        .iter()
        .map(|e| (e.topic, chain.decode(e).expect("decodes")))
        .collect();
    let judged: Vec<_> = decoded
        .iter()
        .map(|(t, (id, v))| chain.validate(*t, *id, v).expect("validates"))
        .collect();
    let enriched: Vec<_> = judged.iter().map(|j| chain.enrich(j)).collect();
    let pseudo: Vec<Vec<Scalar>> = judged.iter().map(|j| chain.pseudonymise(j)).collect();
    let cells: Vec<Vec<Scalar>> = judged
        .iter()
        .zip(&enriched)
        .zip(&pseudo)
        .map(|((j, e), p)| chain.cells(j, e, p.clone()))
        .collect();

    let mut g = c.benchmark_group("ingest_stages");
    g.throughput(Throughput::Elements(SAMPLE as u64));
    g.sample_size(10);
    g.bench_function("decode", |b| {
        b.iter(|| {
            for e in &events {
                black_box(chain.decode(e).expect("decodes"));
            }
        })
    });
    g.bench_function("validate", |b| {
        b.iter(|| {
            for (t, (id, v)) in &decoded {
                black_box(chain.validate(*t, *id, v).expect("validates"));
            }
        })
    });
    g.bench_function("enrich", |b| {
        b.iter(|| {
            for j in &judged {
                black_box(chain.enrich(j));
            }
        })
    });
    g.bench_function("pseudonymise", |b| {
        b.iter(|| {
            for j in &judged {
                black_box(chain.pseudonymise(j));
            }
        })
    });
    let mut out = Output::default();
    g.bench_function("row_encode", |b| {
        b.iter(|| {
            out.clear();
            for ((j, e), p) in judged.iter().zip(&enriched).zip(&pseudo) {
                let row = chain.cells(j, e, p.clone());
                chain.row(j, &row, &mut out).expect("row");
            }
        })
    });
    g.bench_function("enriched_avro_encode", |b| {
        b.iter(|| {
            for (j, row) in judged.iter().zip(&cells) {
                black_box(chain.enriched_avro(j, row).expect("encodes"));
            }
        })
    });
    g.bench_function("whole_chain", |b| {
        b.iter(|| {
            out.clear();
            for e in &events {
                chain.process(e, &mut out).expect("processes");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
