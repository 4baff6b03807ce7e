//! Stage micro-benchmarks of the ingest chain (criterion): decode, validate, enrich,
//! pseudonymise, row encode, enriched Avro encode, and the whole chain in-process (the service's
//! `Chain::process_offline`), on realistic events from every domain (the publisher's seeded
//! generator). Run: `cargo bench -p lgma-bench`. Figures are per batch of `SAMPLE` events;
//! criterion's throughput line gives events/s.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lgma_bench::chain::{raw_records, Chain};
use lgma_bench::corpus;
use lgma_sim::encode::Encoder;

const SAMPLE: usize = 5_000;

#[allow(clippy::expect_used)]
fn stages(c: &mut Criterion) {
    let encoder = Encoder::offline().expect("encoder");
    let events =
        corpus::generate(SAMPLE, 42, corpus::DEMO_INVALID_RATIO, &encoder).expect("corpus");
    let chain = Chain::new(&lgma_bench::repo_root(), &encoder).expect("chain");
    let records = raw_records(&events, "");
    let decoded: Vec<_> = records
        .iter()
        .map(|r| chain.decode(r).expect("decodes"))
        .collect();
    let judged: Vec<_> = decoded
        .iter()
        .map(|d| chain.validate(d).expect("validates"))
        .collect();
    let cells = chain.entity_cells(&records);

    let mut g = c.benchmark_group("ingest_stages");
    g.throughput(Throughput::Elements(SAMPLE as u64));
    g.sample_size(10);
    g.bench_function("decode", |b| {
        b.iter(|| {
            for r in &records {
                black_box(chain.decode(r).expect("decodes"));
            }
        })
    });
    g.bench_function("validate", |b| {
        b.iter(|| {
            for d in &decoded {
                black_box(chain.validate(d).expect("validates"));
            }
        })
    });
    g.bench_function("enrich", |b| {
        b.iter(|| {
            for j in &judged {
                black_box(chain.enrich(j).expect("enriches"));
            }
        })
    });
    g.bench_function("pseudonymise", |b| {
        b.iter(|| {
            for j in &judged {
                black_box(chain.pseudonymise(j).expect("pseudonymises"));
            }
        })
    });
    let mut buf = Vec::with_capacity(1 << 20);
    g.bench_function("row_encode", |b| {
        b.iter(|| {
            buf.clear();
            for (tp, row) in &cells {
                Chain::row(tp, row, &mut buf);
            }
            black_box(&buf);
        })
    });
    g.bench_function("enriched_avro_encode", |b| {
        b.iter(|| {
            for (tp, row) in &cells {
                buf.clear();
                Chain::enriched_avro(tp, row, &mut buf);
                black_box(&buf);
            }
        })
    });
    g.bench_function("whole_chain", |b| {
        b.iter(|| black_box(chain.process(&records).expect("processes")))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
