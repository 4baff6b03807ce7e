//! The end-to-end tests against the real local stack (tansu, ClickHouse, our registry), one module
//! per suite, in one test binary: every suite links the same crates, and one binary instead of one
//! per suite cut the clean build (README, "Disk"). Suites share the `*_support` modules.
//!
//! Each test makes its own topics, tables and processes (suffixed names), so tests may run side by
//! side; `infra/stack test` runs them one at a time (`--test-threads=1`, as when each suite was its
//! own binary: two at a time across suites made the local broker stall a fetch). What stops or
//! restarts a shared service, or mutates shared tables, is `#[ignore]` and runs in the serial phase
//! (`cargo test -- --ignored --test-threads=1`).
//! Run one suite with a filter, e.g. `cargo test -p lgma-e2e --test e2e ingest_loss::`.

mod ingest_support;
mod registry_support;
mod reliability_support;

mod broker_restart;
mod ingest_erase;
mod ingest_exactly_once;
mod ingest_full_batch;
mod ingest_key_link;
mod ingest_loss;
mod ingest_outage;
mod ingest_perf_latency;
mod ingest_pii_scan;
mod ingest_pipeline;
mod ingest_quarantine;
mod ingest_registry_outage;
mod ingest_replay;
mod ingest_row_format;
mod ingest_scale_out;
mod publisher_simulate;
mod registry_authz;
mod registry_conformance;
mod registry_converter;
mod registry_durability;
mod registry_http;
mod registry_two_instances;
mod reliability_data_protection;
mod reliability_disruptive;
mod reliability_every_rule;
mod reliability_hostile_events;
mod reliability_key_rotation;
mod reliability_rebalance;
mod reliability_schema_v2;
mod secure_defaults;
mod smoke_pipeline;
