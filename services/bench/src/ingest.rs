//! Runs the real `lgma-ingest` binary against a topic set and a scratch database, and samples
//! its CPU time and peak memory from /proc while it runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lgma_ingest::config::Settings;

use crate::{procfs, Error, Result};

/// Where one pipeline run reads and writes.
#[derive(Debug, Clone)]
pub struct Target {
    pub bootstrap: String,
    pub registry: String,
    pub clickhouse_url: String,
    pub clickhouse_user: String,
    pub clickhouse_password: String,
    pub database: String,
    pub topic_suffix: String,
    pub group_id: String,
}

/// Writes the service's config for `target` ([`settings`]). The password is passed by
/// environment, never written.
pub fn write_config(repo: &Path, target: &Target, path: &Path) -> Result<()> {
    let mut settings = settings(repo, target)?;
    settings.clickhouse.password = String::new();
    let text = toml::to_string(&settings).map_err(|e| Error::Run(format!("config: {e}")))?;
    std::fs::write(path, text)?;
    Ok(())
}

/// The service's settings for `target`: the committed `infra/config/ingest.toml` (batching,
/// topics, enriched publishing) with the run's topics, group, database, password and absolute
/// paths.
pub fn settings(repo: &Path, target: &Target) -> Result<Settings> {
    let mut settings = Settings::load(Some(&repo.join("infra/config/ingest.toml")))?;
    settings.group_id = target.group_id.clone();
    settings.topic_suffix = target.topic_suffix.clone();
    settings.kafka.bootstrap_servers = target.bootstrap.clone();
    settings.registry_url = target.registry.clone();
    settings.clickhouse.url = target.clickhouse_url.clone();
    settings.clickhouse.user = target.clickhouse_user.clone();
    settings.clickhouse.password = target.clickhouse_password.clone();
    settings.clickhouse.database = target.database.clone();
    settings.schemas_dir = repo.join("schemas");
    settings.rules_dir = repo.join("schemas/rules");
    settings.keys_file = repo.join("infra/config/keys.example.toml");
    settings.metrics_listen = "127.0.0.1:0".into();
    settings.log_json = false;
    Ok(settings)
}

/// One running ingest process.
pub struct Instance {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

/// CPU seconds and peak RSS of a process, read just before it is stopped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_secs: f64,
    pub peak_rss: u64,
}

impl Instance {
    pub fn spawn(bin: &Path, config: &Path, password: &str, log: PathBuf) -> Result<Self> {
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("LGMA_INGEST_CLICKHOUSE__PASSWORD", password)
            // The run uses the committed example keys and the local stack's passwords, which the
            // service accepts only in development mode (as `infra/stack` runs it).
            .env("LGMA_DEV_MODE", "1")
            // Warnings only, unless `LGMA_BENCH_INGEST_LOG` asks for more (e.g.
            // `lgma_ingest=debug` logs every batch's phase timings).
            .env(
                "RUST_LOG",
                std::env::var("LGMA_BENCH_INGEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::Run(format!("cannot start {}: {e}", bin.display())))?;
        Ok(Self {
            pid: child.id(),
            child,
            log,
        })
    }

    /// Fails if the process has exited (it should run until stopped).
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(Error::Run(format!(
                "lgma-ingest exited early ({status}); see {}",
                self.log.display()
            ))),
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            cpu_secs: procfs::cpu_seconds(self.pid).unwrap_or(0.0),
            peak_rss: procfs::peak_rss_bytes(self.pid).unwrap_or(0),
        }
    }

    /// Reads the usage, then SIGTERM (clean shutdown), SIGKILL after 15 s.
    pub fn stop(mut self) -> Result<Usage> {
        let usage = self.usage();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(usage);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(usage) // still running: dropping `self` kills it
    }
}

impl Drop for Instance {
    /// An instance still running when dropped (a failed or interrupted run) is killed, so no ingest
    /// process outlives the benchmark. (A SIGKILLed lgma-bench still leaves them: nothing runs.)
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
