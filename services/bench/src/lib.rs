//! `lgma-bench`: measures the ingest pipeline against the limits of its broker and database, in
//! one run, on the same realistic events (see BENCHMARKS.md).
//!
//! - [`corpus`]: realistic events from the publisher's seeded generator, encoded as on the wire.
//! - [`chain`]: the ingest chain in-process, stage by stage (no broker, no ClickHouse).
//! - [`live`]: what the service runs per record around the chain (copy, version memory, metrics).
//! - [`kafka`], [`scratch`], [`ingest`], [`procfs`]: the pieces the runner drives on the stack.
//! - [`report`]: the table, ratios and targets.

pub mod alloc_count;
pub mod chain;
pub mod corpus;
pub mod error;
pub mod ingest;
pub mod kafka;
pub mod live;
pub mod procfs;
pub mod report;
pub mod scratch;

pub use error::{Error, Result};

/// The local stack's data folder, as `infra/stack` sets it: `LGMA_DATA`, else `<repo>/.data`
/// (the broker's storage, the servers' PID files).
pub fn stack_data() -> std::path::PathBuf {
    std::env::var_os("LGMA_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".data"))
}

/// Whether [`stack_data`] is on tmpfs (`LGMA_DATA=/dev/shm/...`): the stack's files then hold the
/// host's memory.
pub fn stack_data_in_memory() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|mounts| on_tmpfs(&stack_data(), &mounts))
}

/// Whether `path` lies on a tmpfs in `mounts` (`/proc/mounts`' format): the longest mount point
/// that holds it is its file system.
fn on_tmpfs(path: &std::path::Path, mounts: &str) -> bool {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then_some((point.len(), kind == "tmpfs"))
        })
        .max_by_key(|(len, _)| *len)
        .is_some_and(|(_, tmpfs)| tmpfs)
}

/// The broker's folder in [`stack_data`] (its PID file `tansu.pid` and its storage):
/// `LGMA_BENCH_BROKER_DIR`, else the stack's `tansu` (`infra/bench.sh --memory-broker` sets it).
pub fn broker_dir() -> std::path::PathBuf {
    stack_data().join(std::env::var("LGMA_BENCH_BROKER_DIR").unwrap_or_else(|_| "tansu".into()))
}

/// Bytes the broker's folder holds (its sqlite store, with its write-ahead log): tansu's
/// maintenance pass, every 5 s on the stack, reads every stored record, so its stalls grow with this
/// (BENCHMARKS.md, session 24). 0 for a broker without files (`tansu-memory`).
pub fn broker_store_bytes() -> u64 {
    fn size(path: &std::path::Path) -> u64 {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => std::fs::read_dir(path)
                .map(|dir| dir.flatten().map(|e| size(&e.path())).sum())
                .unwrap_or(0),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    size(&broker_dir())
}

/// The repository root: `LGMA_REPO` if set, else the folder holding this crate's workspace.
pub fn repo_root() -> std::path::PathBuf {
    std::env::var_os("LGMA_REPO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

#[cfg(test)]
mod tests {
    use super::on_tmpfs;
    use std::path::Path;

    const MOUNTS: &str = "overlay / overlay rw 0 0\n\
                          tmpfs /dev/shm tmpfs rw,nosuid 0 0\n\
                          /dev/vda1 /work ext4 rw 0 0\n";

    #[test]
    fn the_longest_mount_point_decides() {
        assert!(on_tmpfs(Path::new("/dev/shm/lgma-bench"), MOUNTS));
        assert!(!on_tmpfs(Path::new("/work/main/.data"), MOUNTS));
        assert!(
            !on_tmpfs(Path::new("/dev/shmx/data"), MOUNTS),
            "a prefix of a name is not a parent"
        );
        assert!(!on_tmpfs(Path::new("/tmp/x"), MOUNTS));
    }
}
