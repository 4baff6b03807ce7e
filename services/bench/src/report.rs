//! The output: every figure, the ratios between them, and the targets met or missed.

use std::fmt::Write;

use crate::chain::StageCosts;
use crate::kafka::ConsumeStats;
use crate::procfs::HostShare;

/// A phase during which the host spent at least this share of its CPU time waiting for I/O, or
/// had it stolen by the hypervisor, is flagged as disturbed.
pub const DISTURBED_PCT: f64 = 10.0;

/// A phase in which ClickHouse spent at least this share of its CPU in the kernel (and at least
/// [`KERNEL_BOUND_MIN_CORES`]) is flagged: its figures then say how fast this host's file
/// system creates files, not how fast ClickHouse or ingest are (BENCHMARKS.md, session 15:
/// 41-48 % in a run on a rested file system, 59-84 % in the run right after another).
pub const KERNEL_BOUND_PCT: f64 = 55.0;
/// Below this, ClickHouse is idle enough that its kernel share says nothing.
pub const KERNEL_BOUND_MIN_CORES: f64 = 0.1;

impl HostShare {
    /// ClickHouse's kernel time as a share of its CPU, in per cent (`None` if it was idle or
    /// unread).
    pub fn clickhouse_kernel_pct(&self) -> Option<f64> {
        let (all, kernel) = self.clickhouse.zip(self.clickhouse_kernel)?;
        (all >= KERNEL_BOUND_MIN_CORES).then(|| kernel * 100.0 / all)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct InsertStats {
    pub events: u64,
    pub rows: u64,
    /// Enriched events and DLQ records sent to the broker with the rows (0: tables only).
    pub messages: u64,
    pub secs: f64,
    pub batch: usize,
}

/// The same entity rows inserted as RowBinary (what the service sends) and as JSONEachRow (the
/// format before), one INSERT at a time, alternating: what each costs ClickHouse.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatStats {
    /// Rows per round (each into `_history` and `_current`).
    pub rows: u64,
    /// Per format (RowBinary, JSONEachRow): bytes sent per round, the best round's wall seconds
    /// and ClickHouse server CPU seconds (`None` if its process could not be read).
    pub bytes: (u64, u64),
    pub secs: (f64, f64),
    pub server_cpu: (Option<f64>, Option<f64>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineStats {
    pub instances: usize,
    pub events: u64,
    /// First row recorded -> last row recorded.
    pub secs: f64,
    /// Process start -> last row recorded (includes joining the group).
    pub wall_secs: f64,
    pub cpu_secs: f64,
    pub peak_rss: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyStats {
    pub events: u64,
    pub rate: f64,
    pub achieved_rate: f64,
    /// Publish -> the row in its entity table (`<table>_history`, where analysts read): the
    /// target's figure.
    pub queryable: Spread,
    /// Publish -> the batch's offset of record (`ingest_events`), written after the tables and the
    /// enriched events: an upper bound.
    pub recorded: Spread,
    /// Publish -> the broker's acknowledgement to the publisher (acks=all): the part of the
    /// latency before ingest can read the event at all. `None` if no acknowledgement carried its
    /// record's creation time.
    pub acked: Option<Spread>,
    pub peak_rss: u64,
    /// The broker's store when the steady stream began ([`crate::broker_store_bytes`]).
    pub broker_store_bytes: u64,
}

/// The p50, p99 and maximum of a series of latencies, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Spread {
    /// Of `values`, in any order (all 0 if there are none, as [`quantile`]).
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self {
            p50_ms: quantile(&values, 0.50),
            p99_ms: quantile(&values, 0.99),
            max_ms: quantile(&values, 1.0),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PythonStats {
    pub events: u64,
    pub secs: f64,
    pub cpu_secs: f64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BackfillStats {
    pub days: u32,
    pub events: u64,
    pub publish_secs: f64,
    pub secs: f64,
    pub wall_secs: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub machine: String,
    pub events: u64,
    pub mix: String,
    pub stages: Option<StageCosts>,
    pub publish_secs: Option<f64>,
    pub raw_consume: Option<ConsumeStats>,
    /// The service's write, tables only.
    pub raw_insert: Option<InsertStats>,
    /// The service's write with the enriched topics and the DLQ (measured when it publishes).
    pub raw_write: Option<InsertStats>,
    /// The raw stages the ratio uses (consume; the write the pipeline does) measured again right
    /// after the 1-instance pipeline. tansu's cost per record grows with its store, which every
    /// phase that publishes enlarges: the limits measured before the pipeline ran on a smaller
    /// store than it did, the ones after on a larger one. The ratio uses the mean of the two.
    pub raw_consume_after: Option<ConsumeStats>,
    pub raw_write_after: Option<InsertStats>,
    /// The entity rows as RowBinary vs JSONEachRow, on the server.
    pub formats: Option<FormatStats>,
    /// Whether the pipeline's config publishes enriched events (`publish_enriched`).
    pub publishes: bool,
    pub pipeline1: Option<PipelineStats>,
    pub pipeline2: Option<PipelineStats>,
    /// Why the 2-instance pipeline did not finish, when it did not (the run goes on without it).
    pub pipeline2_failed: Option<String>,
    pub latency: Option<LatencyStats>,
    pub python: Option<PythonStats>,
    pub backfill: Option<BackfillStats>,
    /// What the whole host's CPUs did during each phase, in run order.
    pub host: Vec<(String, HostShare)>,
}

fn rate(events: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        events as f64 / secs
    } else {
        0.0
    }
}

fn n(v: f64) -> String {
    // Thousands separators for readability.
    let s = format!("{:.0}", v);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1024.0 / 1024.0)
}

/// A target: the measured value against its threshold.
pub struct Target {
    pub name: &'static str,
    pub wanted: String,
    pub measured: Option<f64>,
    pub shown: String,
    pub met: Option<bool>,
}

impl Figures {
    pub fn pipeline_rate(&self) -> Option<f64> {
        self.pipeline1.map(|p| rate(p.events, p.secs))
    }
    pub fn consume_rate(&self) -> Option<f64> {
        self.raw_consume.map(|c| rate(c.events, c.secs))
    }
    pub fn insert_rate(&self) -> Option<f64> {
        self.raw_insert.map(|i| rate(i.events, i.secs))
    }
    pub fn write_rate(&self) -> Option<f64> {
        self.raw_write.map(|i| rate(i.events, i.secs))
    }
    /// The slower of the raw stages the pipeline runs: consume, and the write — with the
    /// enriched publishing when the pipeline publishes. Each is the mean of its rates before and
    /// after the pipeline when both were measured (see [`Figures::raw_consume_after`]).
    pub fn slower_raw(&self) -> Option<f64> {
        let (consume, write) = self.raw_means();
        match (consume, write) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    /// The rate if consuming and writing could not overlap at all: `1 / (1/consume + 1/write)`,
    /// with [`Figures::slower_raw`]'s means. The limit when both wait on one saturated resource,
    /// as on one tansu process at ~1 core, which serves the pipeline's fetches and its enriched
    /// events' produce requests alike.
    pub fn serial_raw(&self) -> Option<f64> {
        let (consume, write) = self.raw_means();
        let (consume, write) = (consume?, write?);
        (consume > 0.0 && write > 0.0).then(|| 1.0 / (1.0 / consume + 1.0 / write))
    }
    /// The raw consume rate and the rate of the write the pipeline does (with publishing when it
    /// publishes), each the mean of its runs before and after the pipeline where both were taken.
    fn raw_means(&self) -> (Option<f64>, Option<f64>) {
        let mean = |before: Option<f64>, after: Option<f64>| match (before, after) {
            (Some(b), Some(a)) => Some((a + b) / 2.0),
            (b, a) => b.or(a),
        };
        let write = if self.publishes {
            self.write_rate()
        } else {
            self.insert_rate()
        };
        (
            mean(
                self.consume_rate(),
                self.raw_consume_after.map(|c| rate(c.events, c.secs)),
            ),
            mean(write, self.raw_write_after.map(|i| rate(i.events, i.secs))),
        )
    }
    pub fn python_rate(&self) -> Option<f64> {
        self.python.map(|p| rate(p.events, p.secs))
    }

    pub fn ratios(&self) -> Vec<(&'static str, Option<f64>)> {
        let p1 = self.pipeline_rate();
        let p2 = self.pipeline2.map(|p| rate(p.events, p.secs));
        let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        vec![
            (
                "pipeline (1 instance) / slower raw stage (consume; write incl. publishing when the pipeline publishes; each the mean of its runs before and after the pipeline)",
                div(p1, self.slower_raw()),
            ),
            (
                "pipeline (1 instance) / Python baseline",
                div(p1, self.python_rate()),
            ),
            (
                "pipeline (1 instance) / consume and write one after the other, 1/(1/consume + 1/write) with the same means (the limit when both wait on one saturated broker; not a target)",
                div(p1, self.serial_raw()),
            ),
            ("2 instances / 1 instance", div(p2, p1)),
            (
                "raw write with publishing / tables only",
                div(self.write_rate(), self.insert_rate()),
            ),
            (
                "live in-process chain / process_offline alone (per core)",
                self.stages
                    .as_ref()
                    .and_then(|s| div(Some(s.live_events_per_sec()), Some(s.chain_events_per_sec()))),
            ),
            (
                "ClickHouse CPU per entity row, JSONEachRow / RowBinary",
                self.formats.and_then(|f| div(f.server_cpu.1, f.server_cpu.0)),
            ),
            (
                "entity rows inserted per second, RowBinary / JSONEachRow",
                self.formats.and_then(|f| div(Some(f.secs.1), Some(f.secs.0))),
            ),
        ]
    }

    pub fn targets(&self) -> Vec<Target> {
        let ratios = self.ratios();
        let ratio = |i: usize| ratios.get(i).and_then(|r| r.1);
        let chain = self.stages.as_ref().map(StageCosts::live_events_per_sec);
        let allocs = self
            .stages
            .as_ref()
            .and_then(|s| s.live_allocs_per_accepted);
        let cpu_per_m = self
            .pipeline1
            .filter(|p| p.events > 0)
            .map(|p| p.cpu_secs * 1e6 / p.events as f64);
        let python_cpu_ratio = self
            .python
            .filter(|p| p.events > 0)
            .map(|p| p.cpu_secs * 1e6 / p.events as f64)
            .zip(cpu_per_m)
            .map(|(py, ours)| py / ours);
        let p99 = self.latency.map(|l| l.queryable.p99_ms / 1000.0);
        let rss = [
            self.pipeline1.map(|p| p.peak_rss),
            self.pipeline2.map(|p| p.peak_rss),
            self.latency.map(|l| l.peak_rss),
        ]
        .into_iter()
        .flatten()
        .max()
        .map(|b| b as f64 / 1024.0 / 1024.0);
        let t =
            |name, wanted: &str, measured: Option<f64>, shown: String, ok: &dyn Fn(f64) -> bool| {
                Target {
                    name,
                    wanted: wanted.into(),
                    measured,
                    shown,
                    met: measured.map(ok),
                }
            };
        vec![
            t(
                "pipeline vs slower raw stage",
                ">= 0.7x",
                ratio(0),
                ratio(0).map_or("n/a".into(), |r| format!("{r:.2}x")),
                &|r| r >= 0.7,
            ),
            t(
                "in-process chain per core (as live: copy, version memory, metrics)",
                ">= 300,000 events/s",
                chain,
                chain.map_or("n/a".into(), |c| format!("{} events/s", n(c))),
                &|c| c >= 300_000.0,
            ),
            t(
                "allocations per accepted event (in-process chain, as live)",
                "<= 10",
                allocs,
                allocs.map_or("n/a".into(), |a| format!("{a:.1}")),
                &|a| a <= 10.0,
            ),
            t(
                "live ingest CPU (1 instance)",
                "<= 5 CPU-s per million events",
                cpu_per_m,
                cpu_per_m.map_or("n/a".into(), |c| format!("{c:.1} CPU-s per million")),
                &|c| c <= 5.0,
            ),
            t(
                "CPU per event vs Python baseline",
                ">= 10x less",
                python_cpu_ratio,
                python_cpu_ratio.map_or("n/a".into(), |r| format!("{r:.1}x less")),
                &|r| r >= 10.0,
            ),
            t(
                "p99 publish -> queryable",
                "<= 1.0 s",
                p99,
                p99.map_or("n/a".into(), |s| format!("{s:.2} s")),
                &|s| s <= 1.0,
            ),
            t(
                "peak RSS of lgma-ingest",
                "<= 200 MB",
                rss,
                rss.map_or("n/a".into(), |m| format!("{m:.0} MB")),
                &|m| m <= 200.0,
            ),
        ]
    }

    /// The whole table as Markdown.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "Machine: {}", self.machine);
        let _ = writeln!(o, "Events: {} ({})\n", n(self.events as f64), self.mix);
        let _ = writeln!(o, "| Measurement | Figure |\n|---|---|");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(o, "| {k} | {v} |");
        };
        if let Some(s) = &self.stages {
            let ns = |v: f64| format!("{v:.0} ns/event");
            row(
                &format!(
                    "stage: decode (Avro, compiled writer->reader resolution), {} events",
                    s.events
                ),
                ns(s.decode),
            );
            row("stage: validate (envelope, entity rules)", ns(s.validate));
            row(
                "stage: enrich (reference data, derived measures)",
                ns(s.enrich),
            );
            row(
                "stage: pseudonymise (HMAC, age band, routing key)",
                ns(s.pseudonymise),
            );
            row(
                "stage: row encode (entity row, RowBinary: what the service sends)",
                format!("{} ({:.0} bytes/row)", ns(s.row), s.row_bytes.0),
            );
            row(
                "the same rows as JSONEachRow (the format before; reference, not in the chain)",
                format!("{} ({:.0} bytes/row)", ns(s.row_json), s.row_bytes.1),
            );
            row("stage: enriched event encode (Avro)", ns(s.enriched_avro));
            row(
                "in-process chain, process_offline alone (5,000-event batches)",
                ns(s.chain),
            );
            row(
                "in-process chain as live (Chain::process_live: consumer copy + writer-schema pass + the one-pass chain with the version memory + write metrics)",
                format!(
                    "{} = {} events/s per core",
                    ns(s.live_chain()),
                    n(s.live_events_per_sec())
                ),
            );
            let allocs = |a: Option<f64>| a.map_or("n/a".into(), |a| format!("{a:.1}"));
            row(
                &format!(
                    "heap allocations per accepted event ({} of {} events accepted or warned)",
                    s.accepted, s.events
                ),
                format!(
                    "{} as live ({} per event); {} in process_offline alone",
                    allocs(s.live_allocs_per_accepted),
                    allocs(s.live_allocs_per_event),
                    allocs(s.allocs_per_accepted)
                ),
            );
        }
        if let Some(secs) = self.publish_secs {
            row(
                "publish (publisher library -> tansu, acks=all)",
                format!("{} events/s", n(rate(self.events, secs))),
            );
        }
        const AFTER: &str = ", again right after the 1-instance pipeline (larger broker store)";
        for (c, when) in [(self.raw_consume, ""), (self.raw_consume_after, AFTER)] {
            let Some(c) = c else { continue };
            row(
                &format!("raw consume limit (rdkafka, no processing){when}"),
                format!(
                    "{} events/s, {:.1} MB/s",
                    n(rate(c.events, c.secs)),
                    c.bytes as f64 / 1024.0 / 1024.0 / c.secs.max(1e-9)
                ),
            );
        }
        let (tables, publishing) = ("tables only", "tables + enriched topics and DLQ, acks=all");
        let after = match self.raw_write_after {
            Some(i) if i.messages > 0 => publishing,
            _ => tables,
        };
        for (i, what) in [
            (self.raw_insert, tables.to_string()),
            (self.raw_write, publishing.to_string()),
            (self.raw_write_after, format!("{after}{AFTER}")),
        ] {
            let Some(i) = i else { continue };
            row(
                &format!(
                    "raw write limit, {what} (the service's sink::protocol::write, distinct rows, {}-event batches)",
                    i.batch
                ),
                format!(
                    "{} events/s ({} rows/s, {} messages/s)",
                    n(rate(i.events, i.secs)),
                    n(rate(i.rows, i.secs)),
                    n(rate(i.messages, i.secs))
                ),
            );
        }
        if let Some(f) = self.formats {
            let us = |cpu: Option<f64>| {
                cpu.map_or("n/a".into(), |c| {
                    format!("{:.1} µs", c * 1e6 / (2 * f.rows).max(1) as f64)
                })
            };
            for (what, bytes, secs, cpu) in [
                (
                    "RowBinary (what the service sends)",
                    f.bytes.0,
                    f.secs.0,
                    f.server_cpu.0,
                ),
                (
                    "JSONEachRow (the format before)",
                    f.bytes.1,
                    f.secs.1,
                    f.server_cpu.1,
                ),
            ] {
                row(
                    &format!(
                        "entity rows into history + current, one INSERT at a time, as {what}: {} rows, best of 3 alternating rounds",
                        n(2.0 * f.rows as f64)
                    ),
                    format!(
                        "{} rows/s; ClickHouse CPU {} per row; {} bytes/row",
                        n(rate(2 * f.rows, secs)),
                        us(cpu),
                        n(bytes as f64 / f.rows.max(1) as f64)
                    ),
                );
            }
        }
        for p in [self.pipeline1, self.pipeline2].into_iter().flatten() {
            row(
                &format!("pipeline, {} instance(s)", p.instances),
                format!(
                    "{} events/s ({} events in {:.1} s; {:.1} s with start-up)",
                    n(rate(p.events, p.secs)),
                    n(p.events as f64),
                    p.secs,
                    p.wall_secs
                ),
            );
            row(
                &format!("pipeline, {} instance(s): CPU", p.instances),
                format!(
                    "{:.1} CPU s per million events",
                    p.cpu_secs / (p.events as f64 / 1e6).max(1e-9)
                ),
            );
            row(
                &format!(
                    "pipeline, {} instance(s): peak RSS (largest process)",
                    p.instances
                ),
                mb(p.peak_rss),
            );
        }
        if let Some(why) = &self.pipeline2_failed {
            row("pipeline, 2 instance(s)", format!("did not finish: {why}"));
        }
        if let Some(l) = self.latency {
            row(
                &format!(
                    "latency publish -> queryable (row in its entity table) at {} events/s (achieved {}), {} events, on a broker store of {:.2} GB",
                    n(l.rate),
                    n(l.achieved_rate),
                    n(l.events as f64),
                    l.broker_store_bytes as f64 / 1e9
                ),
                l.queryable.to_string(),
            );
            row(
                "latency publish -> acknowledged by the broker (the publisher's acks=all; before ingest can read it)",
                l.acked.map_or("n/a".into(), |a| a.to_string()),
            );
            row(
                "latency publish -> offset of record (ingest_events, after the enriched events are acknowledged)",
                l.recorded.to_string(),
            );
            row("latency run: peak RSS", mb(l.peak_rss));
        }
        if let Some(p) = self.python {
            row(
                concat!(
                    "Python baseline (confluent-kafka DeserializingConsumer + AvroDeserializer, HTTP JSONEachRow). ",
                    "Does: envelope checks, Eircode format, PPSN check letter, no negative numbers, ",
                    "pseudonymisation from the `pii` tags, one JSON-blob row per event in one table, ",
                    "each accepted event to its enriched topic (Avro, acks=all, flushed per batch) with ",
                    "the payload as one JSON string. ",
                    "Skips: the rules files (required, enum maps, ranges, date orders), enrichment ",
                    "(reference data, statutory calendar, bands), the 7 entity tables (history + current ",
                    "and their views), the quarantine table and DLQ, typed Avro fields in the enriched ",
                    "event, version safety, the exactly-once offset of record (it commits Kafka offsets)"
                ),
                format!(
                    "{} events/s ({} events in {:.1} s, {:.0} CPU s per million)",
                    n(rate(p.events, p.secs)),
                    n(p.events as f64),
                    p.secs,
                    p.cpu_secs / (p.events as f64 / 1e6).max(1e-9)
                ),
            );
        }
        if let Some(b) = self.backfill {
            row(
                &format!(
                    "back-fill: {} simulated days, all councils, {} events",
                    b.days,
                    n(b.events as f64)
                ),
                format!(
                    "{:.1} s ({} events/s; {:.1} s with start-up; publishing took {:.1} s)",
                    b.secs,
                    n(rate(b.events, b.secs)),
                    b.wall_secs,
                    b.publish_secs
                ),
            );
        }
        if !self.host.is_empty() {
            let _ = writeln!(
                o,
                "\n| Host CPU during the phase | busy (all cores) | I/O wait | steal | ClickHouse (cores) | ClickHouse in the kernel | broker (cores) |\n|---|---|---|---|---|---|---|"
            );
            let cores = |c: Option<f64>| c.map_or("n/a".into(), |c| format!("{c:.2}"));
            for (phase, h) in &self.host {
                let _ = writeln!(
                    o,
                    "| {phase} | {:.0} % | {:.0} % | {:.0} % | {} | {} | {} |",
                    h.busy,
                    h.iowait,
                    h.steal,
                    cores(h.clickhouse),
                    h.clickhouse_kernel_pct()
                        .map_or("n/a".into(), |p| format!("{p:.0} %")),
                    cores(h.broker)
                );
            }
            // The phases whose host reading `flagged` picks out, in run order.
            let phases_where = |flagged: &dyn Fn(&HostShare) -> bool| -> Vec<&str> {
                self.host
                    .iter()
                    .filter(|(_, h)| flagged(h))
                    .map(|(phase, _)| phase.as_str())
                    .collect()
            };
            let disturbed =
                phases_where(&|h| h.iowait >= DISTURBED_PCT || h.steal >= DISTURBED_PCT);
            if !disturbed.is_empty() {
                let _ = writeln!(
                    o,
                    "\n**Disturbed run:** the host spent {DISTURBED_PCT:.0} % or more of its CPU time \
                     waiting for I/O or stolen during: {}. Compare its figures only with runs disturbed \
                     alike (the ratios, measured in the same run, hold better than the absolute figures).",
                    disturbed.join(", ")
                );
            }
            let kernel_bound = phases_where(&|h| {
                h.clickhouse_kernel_pct()
                    .is_some_and(|p| p >= KERNEL_BOUND_PCT)
            });
            if !kernel_bound.is_empty() {
                let _ = writeln!(
                    o,
                    "\n**File-system-bound ClickHouse:** ClickHouse spent {KERNEL_BOUND_PCT:.0} % or \
                     more of its CPU in the kernel during: {}. Each INSERT creates a part of many files, \
                     and on ext4 without a journal creating a file scans past every inode deleted in \
                     the last 1-6 minutes (a wiped data folder, a previous run's dropped databases). \
                     Those figures measure the file system; leave 6 minutes after such deletions \
                     (BENCHMARKS.md, session 15).",
                    kernel_bound.join(", ")
                );
            }
        }
        let _ = writeln!(o, "\n| Ratio | Value |\n|---|---|");
        for (k, v) in self.ratios() {
            let _ = writeln!(
                o,
                "| {k} | {} |",
                v.map_or("n/a".into(), |v| format!("{v:.2}"))
            );
        }
        let _ = writeln!(o, "\n| Target | Wanted | Measured | |\n|---|---|---|---|");
        for t in self.targets() {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not measured",
            };
            let _ = writeln!(o, "| {} | {} | {} | {verdict} |", t.name, t.wanted, t.shown);
        }
        o
    }
}

/// The q-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        // A spread sorts its values first, and reads as the report prints it.
        let shuffled: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let spread = Spread::of(shuffled);
        assert_eq!(
            (spread.p50_ms, spread.p99_ms, spread.max_ms),
            (50.0, 99.0, 100.0)
        );
        assert_eq!(spread.to_string(), "p50 50 ms, p99 99 ms, max 100 ms");
        assert_eq!(Spread::of(Vec::new()), Spread::default());
    }

    #[test]
    fn ratios_and_targets_follow_the_figures() {
        let f = Figures {
            raw_consume: Some(ConsumeStats {
                events: 1000,
                bytes: 1,
                secs: 1.0,
            }),
            raw_insert: Some(InsertStats {
                events: 2000,
                rows: 6000,
                messages: 0,
                secs: 1.0,
                batch: 5000,
            }),
            pipeline1: Some(PipelineStats {
                instances: 1,
                events: 800,
                secs: 1.0,
                cpu_secs: 1.0,
                ..Default::default()
            }),
            pipeline2: Some(PipelineStats {
                instances: 2,
                events: 800,
                secs: 0.5,
                ..Default::default()
            }),
            python: Some(PythonStats {
                events: 100,
                secs: 1.0,
                cpu_secs: 1.0,
            }),
            ..Figures::default()
        };
        let r = f.ratios();
        assert_eq!(r[0].1, Some(0.8));
        // Measured again after the pipeline on a larger store: each stage's mean counts.
        let after = Figures {
            raw_consume_after: Some(ConsumeStats {
                events: 1000,
                bytes: 1,
                secs: 2.0,
            }),
            raw_write_after: Some(InsertStats {
                events: 2000,
                rows: 6000,
                messages: 0,
                secs: 4.0,
                batch: 5000,
            }),
            ..f.clone()
        };
        // consume (1000 + 500) / 2 = 750 < write (2000 + 500) / 2 = 1250: 800 / 750.
        assert_eq!(after.slower_raw(), Some(750.0));
        // One after the other: 1 / (1/750 + 1/1250) = 468.75.
        assert_eq!(after.serial_raw(), Some(468.75));
        let shown = after.render();
        assert!(
            shown.contains("raw consume limit (rdkafka, no processing), again right after")
                && shown.contains("| raw write limit, tables only, again right after"),
            "{shown}"
        );
        assert_eq!(r[1].1, Some(8.0));
        // 800 / (1 / (1/1000 + 1/2000)) = 800 / 666.67.
        assert!((r[2].1.unwrap_or(0.0) - 1.2).abs() < 1e-9);
        assert_eq!(r[3].1, Some(2.0));
        let t = f.targets();
        let met = |name: &str| {
            t.iter()
                .find(|t| t.name.starts_with(name))
                .and_then(|t| t.met)
        };
        assert_eq!(met("pipeline vs slower raw stage"), Some(true));
        // Python 1 CPU-s per 100 events, ours per 800: 8x less, not 10x.
        assert_eq!(met("CPU per event vs Python"), Some(false));
        assert_eq!(met("in-process chain"), None);
        assert!(f.render().contains("not measured"));
        // A 2-instance phase that stalled is in the table with its reason, the rest as before.
        let stalled = Figures {
            pipeline2: None,
            pipeline2_failed: Some("stalled at 495,158 of 1,000,000 records for 120 s".into()),
            ..f.clone()
        };
        let shown = stalled.render();
        assert!(
            shown.contains("| pipeline, 2 instance(s) | did not finish: stalled at 495,158")
                && shown.contains("| pipeline, 1 instance(s) |"),
            "{shown}"
        );
        assert_eq!(stalled.ratios()[3].1, None);
    }

    #[test]
    fn a_phase_slowed_by_the_hosts_io_is_flagged() {
        let share = |busy, iowait| HostShare {
            busy,
            iowait,
            steal: 0.0,
            clickhouse: Some(0.85),
            clickhouse_kernel: Some(0.17),
            broker: None,
        };
        let mut f = Figures {
            host: vec![
                ("raw consume".into(), share(95.0, 2.0)),
                ("pipeline, 1 instance(s)".into(), share(60.0, 3.0)),
            ],
            ..Figures::default()
        };
        let quiet = f.render();
        assert!(
            quiet.contains("| raw consume | 95 % | 2 % | 0 % | 0.85 | 20 % | n/a |"),
            "{quiet}"
        );
        assert!(!quiet.contains("Disturbed run"), "{quiet}");
        assert!(!quiet.contains("File-system-bound"), "{quiet}");
        f.host.push(("latency run".into(), share(40.0, 33.0)));
        let loud = f.render();
        assert!(
            loud.contains("Disturbed run") && loud.contains("during: latency run."),
            "{loud}"
        );
        assert!(!Figures::default().render().contains("Host CPU"));
    }

    #[test]
    fn a_phase_where_clickhouse_works_in_the_kernel_is_flagged() {
        let share = |clickhouse, kernel| HostShare {
            busy: 80.0,
            clickhouse: Some(clickhouse),
            clickhouse_kernel: Some(kernel),
            ..HostShare::default()
        };
        let mut f = Figures {
            host: vec![
                ("raw write, tables only".into(), share(0.95, 0.30)),
                // Idle: a high share of almost nothing says nothing.
                ("raw consume".into(), share(0.05, 0.04)),
            ],
            ..Figures::default()
        };
        let quiet = f.render();
        assert!(quiet.contains("| 0.95 | 32 % |"), "{quiet}");
        assert!(quiet.contains("| 0.05 | n/a |"), "{quiet}");
        assert!(!quiet.contains("File-system-bound"), "{quiet}");
        f.host
            .push(("pipeline, 1 instance(s)".into(), share(0.56, 0.41)));
        let loud = f.render();
        assert!(
            loud.contains("File-system-bound ClickHouse")
                && loud.contains("during: pipeline, 1 instance(s). "),
            "{loud}"
        );
    }

    #[test]
    fn thousands() {
        assert_eq!(n(1234567.0), "1,234,567");
        assert_eq!(n(999.0), "999");
    }
}
