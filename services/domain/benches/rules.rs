//! Eircode and PPSN checks per value: the byte-level ones against the regex / upper-case-copy
//! implementations they replaced (`tests/legacy`), on the same inputs (valid, typed and broken).
//! `cargo bench -p lgma-domain`; compare the pairs, which run in the same process.

#[path = "../tests/legacy/mod.rs"]
mod legacy;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use lgma_domain::eircode::{self, Eircode};
use lgma_domain::ppsn;

const EIRCODES: [&str; 6] = [
    "D02X285",
    "d02 x285",
    " A65F4E2 ",
    "D6W XY12",
    "B12X285",
    "D02X28",
];
const PPSNS: [&str; 6] = [
    "6433435F",
    "6433435 oa",
    "6433435IH",
    " 1234567tw",
    "6433435E",
    "643343F",
];

fn eircodes(c: &mut Criterion) {
    let mut g = c.benchmark_group("eircode, 6 values");
    g.bench_function("typed: old (trim, upper copy, regex, compact copy)", |b| {
        b.iter(|| {
            EIRCODES
                .iter()
                .filter_map(|e| legacy::eircode_typed(black_box(e)))
                .count()
        })
    });
    g.bench_function("typed: new (Eircode::parse)", |b| {
        b.iter(|| {
            EIRCODES
                .iter()
                .filter_map(|e| Eircode::parse(black_box(e)))
                .count()
        })
    });
    g.bench_function("stored: old (regex)", |b| {
        b.iter(|| {
            EIRCODES
                .iter()
                .filter(|e| legacy::eircode_is_valid(black_box(e)))
                .count()
        })
    });
    g.bench_function("stored: new (is_valid)", |b| {
        b.iter(|| {
            EIRCODES
                .iter()
                .filter(|e| eircode::is_valid(black_box(e)))
                .count()
        })
    });
    g.finish();
}

fn ppsns(c: &mut Criterion) {
    let mut g = c.benchmark_group("ppsn, 6 values");
    g.bench_function("typed: old (compact_upper copy, is_valid)", |b| {
        b.iter(|| {
            PPSNS
                .iter()
                .filter(|p| legacy::ppsn_typed(black_box(p)))
                .count()
        })
    });
    g.bench_function("typed: new (is_valid_typed)", |b| {
        b.iter(|| {
            PPSNS
                .iter()
                .filter(|p| ppsn::is_valid_typed(black_box(p)))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, eircodes, ppsns);
criterion_main!(benches);
