//! The consumer loop: batches records, hands them to the pipeline, and keeps the consumer's
//! position equal to ClickHouse's offset of record.
//!
//! Positioning is defensive in two layers: on every (re)assignment, and after every failed batch, the
//! partitions are paused, the offsets of record are re-read and the consumer seeks there; and a
//! per-partition `next` guard drops any record below the position already taken (records fetched
//! before a seek, or re-delivered after one), so a record is never batched twice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use lgma_core::ops::Readiness;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use rustc_hash::FxHashMap;
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use crate::chain::Mode;
use crate::config::{Assignment, Settings};
use crate::decode::Text;
use crate::encode::BatchOutcome;
use crate::pipeline::Pipeline;
use crate::sink::order::Line;
use crate::source::{Copier, Gap, RawRecord};
use crate::{metrics, Result};

mod position;

/// Flags a rebalance for the loop, which repositions every assigned partition before accepting records.
pub struct IngestContext {
    rebalanced: Arc<AtomicBool>,
    writing: Arc<WriteGate>,
}

/// How many batches are being written. A revocation waits for them (see `pre_rebalance`): the new
/// owner of a partition reads the offset of record, which must include every batch we started.
#[derive(Default)]
pub struct WriteGate {
    busy: std::sync::Mutex<usize>,
    idle: std::sync::Condvar,
}

impl WriteGate {
    fn begin(&self) {
        if let Ok(mut b) = self.busy.lock() {
            *b += 1;
        }
    }

    fn end(&self) {
        if let Ok(mut b) = self.busy.lock() {
            *b = b.saturating_sub(1);
        }
        self.idle.notify_all();
    }

    /// Blocks until no batch is being written (bounded: a stuck write must not wedge the group).
    fn wait_idle(&self, limit: Duration) {
        let Ok(guard) = self.busy.lock() else {
            return;
        };
        let _ = self.idle.wait_timeout_while(guard, limit, |busy| *busy > 0);
    }
}

impl ClientContext for IngestContext {
    /// librdkafka statistics (every `statistics.interval.ms`) carry the per-partition lag.
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (name, topic) in &statistics.topics {
            for (partition, p) in &topic.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::lag(name, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            // Runs on the thread polling the consumer; the write task runs on another worker.
            self.writing.wait_idle(Duration::from_secs(120));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                info!(partitions = tpl.count(), "partitions assigned");
                self.rebalanced.store(true, Ordering::Release);
            }
            Rebalance::Revoke(tpl) => {
                info!(partitions = tpl.count(), "partitions revoked");
                self.rebalanced.store(true, Ordering::Release);
            }
            Rebalance::Error(e) => warn!(error = %e, "rebalance error"),
        }
    }
}

type TopicPartition = (Text, i32);

pub struct Ingest {
    settings: Settings,
    pipeline: Arc<Pipeline>,
    consumer: StreamConsumer<IngestContext>,
    rebalanced: Arc<AtomicBool>,
    /// Next offset to accept per assigned partition; absent = not positioned yet (drop records).
    next: FxHashMap<TopicPartition, i64>,
    /// Manual assignment: every partition of the configured topics (no group coordination).
    manual: Option<Vec<TopicPartition>>,
    batch: Vec<RawRecord>,
    copier: Copier,
    batch_bytes: usize,
    batch_started: Option<Instant>,
    failures: u32,
    /// The batches being written, oldest first, while the next one is consumed and prepared (at
    /// most `batch.max_in_flight`); settled in this order.
    in_flight: VecDeque<tokio::task::JoinHandle<Result<BatchOutcome>>>,
    /// The order in which their offsets of record are written.
    line: Line,
    writing: Arc<WriteGate>,
    /// Missing offset ranges found while filling `batch`; recorded with it (see [`Gap`]).
    gaps: Vec<Gap>,
    /// The last offset jump re-read because the broker still held part of it: (partition, the
    /// expected offset, how often). A jump that persists after [`MAX_REFETCH`] re-reads is loss.
    refetched: Option<(TopicPartition, i64, u32)>,
    /// Shared with the write tasks, which report their gaps as soon as they are recorded.
    losses: Arc<LossReport>,
    readiness: Readiness,
}

/// Loss recorded by this instance, per (topic, partition): ranges and records, for `/ready`.
#[derive(Default)]
struct LossReport(std::sync::Mutex<std::collections::BTreeMap<TopicPartition, (u64, u64)>>);

impl LossReport {
    /// Keeps `/ready`'s detail line in step with the loss this instance has recorded.
    fn note(&self, gaps: &[Gap], readiness: &Readiness) {
        if gaps.is_empty() {
            return;
        }
        let Ok(mut losses) = self.0.lock() else {
            return;
        };
        for gap in gaps {
            let entry = losses
                .entry((gap.topic.as_str().into(), gap.partition))
                .or_default();
            entry.0 += 1;
            entry.1 += gap.records();
        }
        let records: u64 = losses.values().map(|(_, r)| r).sum();
        let ranges: u64 = losses.values().map(|(n, _)| n).sum();
        let partitions: Vec<String> = losses
            .iter()
            .map(|((t, p), (_, r))| format!("{t}[{p}]: {r}"))
            .collect();
        readiness.set_detail(format!(
            "RECORDS LOST: {records} in {ranges} missing ranges since start ({}); ranges in lgma.ingest_losses, check with `lgma-ingest reconcile`",
            partitions.join(", ")
        ));
    }
}

/// Re-reads of one offset jump before it is recorded as loss (a fetch that skips records the
/// broker still holds is retried; one that keeps skipping them cannot read them either).
const MAX_REFETCH: u32 = 3;

/// The consumer's prefetch bound (`queued.max.messages.kbytes`): at most 16 MiB of fetched
/// records wait in librdkafka, ~50,000 events, ten full batches. Held decompressed, with one op
/// per message, it was the largest single holder of the heap at 32 MiB (~30 MB of 104; heaptrack,
/// BENCHMARKS.md). With it halved and the histograms drained (`lgma_core::telemetry`), a
/// 1M-event backlog peaked at 177 MB (214 MB before; the two were measured together).
pub const PREFETCH_KBYTES: &str = "16384";

impl Ingest {
    pub fn new(settings: Settings, pipeline: Arc<Pipeline>) -> Result<Self> {
        let rebalanced = Arc::new(AtomicBool::new(false));
        let writing = Arc::new(WriteGate::default());
        let config = settings.kafka.client_config_with(&[
            ("group.id", &settings.group_id),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            // Bounded memory while paused or slow (see `PREFETCH_KBYTES`).
            ("queued.max.messages.kbytes", PREFETCH_KBYTES),
            // A fetch returns after at most 100 ms even when less than `fetch.min.bytes` is there
            // (librdkafka's 500 ms default): at a steady 2,000 events/s this took ~400 ms off
            // publish -> queryable (ingest_perf_latency: p50 1.12 -> 0.74 s).
            ("fetch.wait.max.ms", "100"),
            ("statistics.interval.ms", "5000"),
        ]);
        let consumer: StreamConsumer<IngestContext> =
            config.create_with_context(IngestContext {
                rebalanced: rebalanced.clone(),
                writing: writing.clone(),
            })?;
        let topics: Vec<String> = pipeline.chain.topics.keys().cloned().collect();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        let manual = match settings.assignment {
            Assignment::Group => {
                consumer.subscribe(&refs)?;
                info!(topics = ?topics, group = %settings.group_id, "subscribed");
                None
            }
            Assignment::Manual => {
                let mut partitions = Vec::new();
                for topic in &topics {
                    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                    for t in metadata.topics() {
                        for p in t.partitions() {
                            partitions.push((Text::from(t.name()), p.id()));
                        }
                    }
                }
                info!(
                    partitions = partitions.len(),
                    "manual assignment of every partition"
                );
                rebalanced.store(true, Ordering::Release);
                Some(partitions)
            }
        };
        Ok(Self {
            settings,
            pipeline,
            consumer,
            rebalanced,
            next: FxHashMap::default(),
            manual,
            batch: Vec::new(),
            copier: Copier::default(),
            batch_bytes: 0,
            batch_started: None,
            failures: 0,
            in_flight: VecDeque::new(),
            line: Line::default(),
            writing,
            gaps: Vec::new(),
            refetched: None,
            losses: Arc::default(),
            readiness: Readiness::default(),
        })
    }

    /// Consumes until `shutdown`, then writes what it holds, for at most `shutdown_limit_secs`
    /// from the signal: with ClickHouse or the broker hanging, the batch being prepared or written
    /// would wait for its clients' timeouts and retries. What is cut short is re-read on restart.
    pub async fn run(self, shutdown: CancellationToken, readiness: Readiness) -> Result<()> {
        let secs = self.settings.shutdown_limit_secs;
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(Duration::from_secs(secs)).await;
        };
        tokio::select! {
            result = self.consume(shutdown.clone(), readiness) => result,
            () = deadline => Err(crate::Error::ShutdownLimit { secs }),
        }
    }

    async fn consume(mut self, shutdown: CancellationToken, readiness: Readiness) -> Result<()> {
        readiness.set(true);
        self.readiness = readiness;
        let max_wait = Duration::from_millis(self.settings.batch.max_wait_ms);
        loop {
            if self.rebalanced.swap(false, Ordering::AcqRel) {
                self.discard_batch("rebalance");
                self.settle_all().await;
                self.pipeline.forget_versions();
                self.reposition(&shutdown).await;
            }
            let wait = match self.batch_started {
                Some(t) => max_wait.saturating_sub(t.elapsed()),
                None => Duration::from_millis(200),
            };
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = tokio::time::timeout(wait, self.consumer.recv()) => match received {
                    Ok(Ok(message)) => Some(owned(&mut self.copier, &message)),
                    Ok(Err(e)) => {
                        warn!(error = %e, "kafka consumer error");
                        None
                    }
                    Err(_) => None, // timeout: maybe flush below
                },
            };
            if let Some(record) = received {
                self.accept(record);
                self.drain_ready();
            }
            // A finished write is settled at once (offset hint, loss report), not when the next
            // batch happens to flush.
            while self.in_flight.front().is_some_and(|h| h.is_finished()) {
                if !self.settle_oldest().await {
                    self.failed("batch write failed", &shutdown).await;
                    break;
                }
            }
            let due = self.batch_started.is_some_and(|t| t.elapsed() >= max_wait);
            if due
                || self.batch.len() >= self.settings.batch.max_rows
                || self.batch_bytes >= self.settings.batch.max_bytes
            {
                self.flush(&shutdown).await;
            }
        }
        info!("shutting down: flushing the last batch");
        if !self.batch.is_empty() && !self.rebalanced.load(Ordering::Acquire) {
            self.flush(&CancellationToken::new()).await;
        }
        self.settle_all().await;
        Ok(())
    }

    /// Takes what librdkafka already holds, up to a full batch, without the timer and the
    /// `select!` of the loop above (a timer registered and cancelled per record, and the clock
    /// read for each, were the consume loop's own cost; perf, BENCHMARKS.md "session 12").
    fn drain_ready(&mut self) {
        while self.batch.len() < self.settings.batch.max_rows
            && self.batch_bytes < self.settings.batch.max_bytes
            && !self.rebalanced.load(Ordering::Acquire)
        {
            let record = match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => owned(&mut self.copier, &message),
                Some(Err(e)) => {
                    warn!(error = %e, "kafka consumer error");
                    return;
                }
                None => return, // nothing ready: back to the loop's timed wait
            };
            self.accept(record);
        }
    }

    fn accept(&mut self, record: RawRecord) {
        let tp = (record.topic.clone(), record.partition);
        let Some(next) = self.next.get_mut(&tp) else {
            return; // not positioned yet: it will be re-read after the seek
        };
        let offset = record.offset;
        if offset < *next {
            return; // already batched or recorded
        }
        if offset > *next {
            let expected = *next;
            if self.refetch_instead(&tp, expected, offset) {
                return;
            }
            warn!(
                topic = %tp.0,
                partition = tp.1,
                first_missing = expected,
                last_missing = offset - 1,
                records = offset - expected,
                "RECORDS LOST: the broker no longer holds these offsets; recording the range in the offset of record"
            );
            self.gaps.push(Gap {
                topic: tp.0.to_string(),
                partition: tp.1,
                first: expected,
                last: offset - 1,
            });
        }
        let Some(next) = self.next.get_mut(&tp) else {
            return;
        };
        *next = offset + 1;
        self.batch_bytes += record.size();
        self.batch.push(record);
        if self.batch_started.is_none() {
            tracing::debug!(topic = %tp.0, partition = tp.1, offset, "first record of a batch");
            self.batch_started = Some(Instant::now());
        }
    }

    /// An offset jump: if the broker still holds part of the missing range (its log starts
    /// before `offset`), the fetch skipped records; re-read from the offset of record instead of
    /// calling them lost (at most [`MAX_REFETCH`] times for the same jump). Returns true if so.
    fn refetch_instead(&mut self, tp: &TopicPartition, expected: i64, offset: i64) -> bool {
        let low = match self
            .consumer
            .fetch_watermarks(&tp.0, tp.1, Duration::from_secs(5))
        {
            Ok((low, _high)) => low,
            Err(e) => {
                warn!(topic = %tp.0, partition = tp.1, error = %e, "cannot read the log start; treating the jump as loss");
                return false;
            }
        };
        if low >= offset {
            return false; // everything before `offset` is gone from the broker
        }
        let attempts = match &self.refetched {
            Some((seen, at, n)) if seen == tp && *at == expected => *n,
            _ => 0,
        };
        if attempts >= MAX_REFETCH {
            warn!(topic = %tp.0, partition = tp.1, expected, offset, log_start = low, "the broker keeps skipping offsets it claims to hold");
            return false;
        }
        self.refetched = Some((tp.clone(), expected, attempts + 1));
        warn!(topic = %tp.0, partition = tp.1, expected, offset, log_start = low, "fetch skipped records the broker still holds; re-reading from the offset of record");
        self.rebalanced.store(true, Ordering::Release);
        true
    }

    fn discard_batch(&mut self, why: &str) {
        if !self.batch.is_empty() {
            info!(
                records = self.batch.len(),
                why, "discarding unwritten batch; it will be re-read"
            );
        }
        self.batch.clear();
        self.gaps.clear();
        self.batch_bytes = 0;
        self.batch_started = None;
    }

    /// Prepares the batch (while earlier ones are still being written), then, if
    /// `batch.max_in_flight` batches are being written, waits for the oldest, and starts writing
    /// this one. Offsets of record are written strictly in batch order (`sink::order`): if an
    /// earlier write failed, this batch is dropped unwritten (or, already started, does not record)
    /// and everything is re-read from the offsets of record.
    async fn flush(&mut self, shutdown: &CancellationToken) {
        if self.batch.is_empty() {
            self.batch_started = None;
            return;
        }
        let records = std::mem::take(&mut self.batch);
        let gaps = std::mem::take(&mut self.gaps);
        self.batch_bytes = 0;
        if let Some(t) = self.batch_started.take() {
            metrics::phase("fill", t.elapsed().as_secs_f64());
        }
        let span = info_span!("batch", records = records.len());
        let prepared = self
            .pipeline
            .prepare(&records, &Mode::live())
            .instrument(span.clone())
            .await;
        let t = Instant::now();
        let mut previous_ok = true;
        while previous_ok && self.in_flight.len() >= self.settings.max_in_flight() {
            previous_ok = self.settle_oldest().await;
        }
        metrics::phase("wait_previous", t.elapsed().as_secs_f64());
        match (previous_ok, prepared) {
            (true, Ok(mut prepared)) => {
                prepared.record_gaps(&self.pipeline.chain, gaps);
                let pipeline = self.pipeline.clone();
                let turn = self.line.take_turn();
                self.writing.begin();
                let gate = self.writing.clone();
                let (losses, readiness) = (self.losses.clone(), self.readiness.clone());
                self.in_flight.push_back(tokio::spawn(
                    async move {
                        let result = pipeline.write(prepared, turn).await;
                        // As soon as the gaps are recorded, not when the loop next settles.
                        if let Ok(outcome) = &result {
                            losses.note(&outcome.gaps, &readiness);
                        }
                        gate.end();
                        result
                    }
                    .instrument(span),
                ));
            }
            (true, Err(e)) => self.failed(&e.to_string(), shutdown).await,
            // The previous batch failed (already logged): this one is dropped, re-read later.
            (false, _) => self.failed("previous batch failed", shutdown).await,
        }
    }

    /// Waits for every batch being written, in order. Returns false if one failed (those after it
    /// then fail too: they do not record out of turn).
    async fn settle_all(&mut self) -> bool {
        let mut all_ok = true;
        while !self.in_flight.is_empty() {
            all_ok &= self.settle_oldest().await;
        }
        self.line.reset();
        all_ok
    }

    /// Waits for the oldest batch being written, if any; on success commits its offsets as a
    /// hint. Returns false if it failed.
    async fn settle_oldest(&mut self) -> bool {
        let Some(handle) = self.in_flight.pop_front() else {
            return true;
        };
        let result = handle.await;
        match result {
            Ok(Ok(outcome)) => {
                self.failures = 0;
                let mut tpl = TopicPartitionList::new();
                for ((topic, partition), offset) in &outcome.last_offsets {
                    let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1));
                }
                // A hint only: the offset of record is in ClickHouse.
                let t = Instant::now();
                if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                    warn!(error = %e, "async offset commit failed (hint only)");
                }
                metrics::phase("commit", t.elapsed().as_secs_f64());
                info!(
                    rows = outcome.rows,
                    accepted = outcome.accepted,
                    warned = outcome.warned,
                    quarantined = outcome.quarantined,
                    "batch written"
                );
                true
            }
            Ok(Err(crate::Error::OutOfTurn)) => {
                info!("batch not recorded: an earlier batch failed; it is re-read");
                false
            }
            Ok(Err(e)) => {
                warn!(error = %e, "batch write failed");
                false
            }
            Err(e) => {
                warn!(error = %e, "batch write task failed");
                false
            }
        }
    }

    /// After a failed batch: nothing more of it is recorded; pause, back off, forget remembered
    /// versions, re-read the offsets of record and resume from there.
    async fn failed(&mut self, error: &str, shutdown: &CancellationToken) {
        metrics::batch_failed();
        self.failures += 1;
        let backoff = backoff(self.failures);
        warn!(
            error,
            retry_in_ms = backoff.as_millis() as u64,
            "batch failed; re-reading offsets of record (what they lack is read again)"
        );
        self.discard_batch("batch failed");
        // The batches started after the failed one do not record; wait until they stop.
        self.settle_all().await;
        self.pipeline.forget_versions();
        self.pause_all();
        self.idle(backoff, shutdown).await;
        self.reposition(shutdown).await;
    }
}

fn owned(copier: &mut Copier, message: &rdkafka::message::BorrowedMessage<'_>) -> RawRecord {
    RawRecord::copied(
        copier,
        message.topic(),
        message.partition(),
        message.offset(),
        message.key(),
        message.payload(),
    )
}

fn backoff(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << attempt.min(7));
    Duration::from_millis(ms.min(30_000))
}
