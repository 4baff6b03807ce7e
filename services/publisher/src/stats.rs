//! Counters for progress lines and the end-of-run summary.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use lgma_sim::generator::{EventKind, GeneratedEvent};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub events: u64,
    pub valid: u64,
    pub invalid: BTreeMap<String, u64>,
    pub per_topic: BTreeMap<String, u64>,
    pub per_council: BTreeMap<String, u64>,
    pub delivered: u64,
    pub delivery_failures: u64,
    pub elapsed_secs: f64,
    pub events_per_sec: f64,
    pub sim_start_ms: i64,
    pub sim_end_ms: i64,
}

impl Summary {
    pub fn record(&mut self, event: &GeneratedEvent) {
        self.events += 1;
        match event.kind {
            EventKind::Valid => self.valid += 1,
            EventKind::Invalid(kind) => *self.invalid.entry(kind.name().into()).or_default() += 1,
        }
        *self.per_topic.entry(event.topic.name().into()).or_default() += 1;
        *self
            .per_council
            .entry(event.event.la_code().to_string())
            .or_default() += 1;
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed_secs = elapsed.as_secs_f64();
        self.events_per_sec = if self.elapsed_secs > 0.0 {
            self.events as f64 / self.elapsed_secs
        } else {
            0.0
        };
    }

    /// A human-readable report for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!(
            "events: {} ({} valid, {} invalid) in {:.1}s = {:.0} events/s; delivered {}, failed {}\n",
            self.events,
            self.valid,
            self.events - self.valid,
            self.elapsed_secs,
            self.events_per_sec,
            self.delivered,
            self.delivery_failures
        );
        if self.sim_end_ms > self.sim_start_ms {
            out += &format!(
                "simulated time: {:.1} days\n",
                (self.sim_end_ms - self.sim_start_ms) as f64 / 86_400_000.0
            );
        }
        out += "per topic:\n";
        for (k, v) in &self.per_topic {
            out += &format!("  {k:<34} {v:>9}\n");
        }
        out += "per council:\n";
        for (k, v) in &self.per_council {
            out += &format!("  {k:<6} {v:>9}\n");
        }
        if !self.invalid.is_empty() {
            out += "invalid by kind:\n";
            for (k, v) in &self.invalid {
                out += &format!("  {k:<26} {v:>9}\n");
            }
        }
        out
    }
}
