//! The in-process chain and its encoders, on the publisher's seeded events from every domain.
//! Run: `cargo bench -p lgma-ingest --bench chain`.
//!
//! `chain/process_offline` = the whole chain per event (decode -> validate -> enrich ->
//! pseudonymise -> entity rows, `ingest_events` rows, enriched Avro), the figure the 300k
//! events/s/core target is about. `encode/*` compares the encoders the pipeline uses now with the
//! reference ones (apache-avro `Value` tree + writer per record; the entity row as the JSONEachRow
//! line the tables took before RowBinary).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lgma_ingest::chain::offline;
use lgma_ingest::config::Settings;
use lgma_ingest::encode::reference::{avro_cell, JsonRows};
use lgma_sim::encode::Encoder;
use lgma_sim::{Generator, GeneratorConfig};

const SAMPLE: usize = 5_000;

#[allow(clippy::expect_used)]
fn chain(c: &mut Criterion) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chain = offline::chain(&Settings::in_repo(&repo), 1).expect("chain");
    let encoder = Encoder::offline().expect("encoder");
    let writers = offline::writers(&encoder).expect("writers");
    let mut generator = Generator::new(42, GeneratorConfig::default()).expect("generator");
    let records = offline::raw_records(&encoder, &mut generator, SAMPLE).expect("encodes");
    let ms = 1_700_000_000_000;

    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(SAMPLE as u64));
    g.sample_size(10);
    g.bench_function("process_offline", |b| {
        b.iter(|| black_box(chain.process_offline(&records, &writers, ms).expect("runs")))
    });
    g.finish();

    let cells = chain.entity_cells_offline(&records, &writers, ms);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(cells.len() as u64));
    g.sample_size(10);
    g.bench_function("avro_direct", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for (tp, row) in &cells {
                out.clear();
                tp.layout.write_avro(row, &mut out);
                black_box(&out);
            }
        })
    });
    g.bench_function("avro_generic", |b| {
        b.iter(|| {
            for (tp, row) in &cells {
                let record = apache_avro::types::Value::Record(
                    tp.layout
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| (c.name.clone(), avro_cell(&c.ty, v)))
                        .collect(),
                );
                let body =
                    apache_avro::writer::datum::GenericDatumWriter::builder(tp.enriched_schema())
                        .build()
                        .and_then(|w| w.write_value_to_vec(record))
                        .expect("encodes");
                black_box(body);
            }
        })
    });
    g.bench_function("row_binary", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for (tp, row) in &cells {
                tp.layout.write_row_binary(row, &mut out);
            }
            black_box(out)
        })
    });
    let json: Vec<JsonRows> = cells
        .iter()
        .map(|(tp, _)| JsonRows::new(&tp.layout))
        .collect();
    g.bench_function("json_row_reference", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for ((tp, row), rows) in cells.iter().zip(&json) {
                rows.write(&tp.layout, row, &mut out);
            }
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
