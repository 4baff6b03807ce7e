//! Graceful shutdown: SIGINT or SIGTERM cancel one token that every task watches; a second signal
//! exits at once (as Vector and most daemons do), for an operator who will not wait for the drain.
//! Every service may be stopped at any moment without loss (exactly-once rests on the offset of
//! record, not on a clean exit), so a forced exit costs re-reading, never data.

use tokio_util::sync::CancellationToken;

pub use tokio_util::sync::CancellationToken as Shutdown;

/// The exit code of a shutdown forced by a second signal or cut short by a service's limit
/// (128 + SIGINT, what a shell reports for an interrupted program).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Returns a token cancelled on the first SIGINT / SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let mut signals = Signals::new();
        signals.recv().await;
        tracing::info!(
            "shutdown signal received; finishing in-flight work (a second signal exits now)"
        );
        trigger.cancel();
        signals.recv().await;
        tracing::warn!("second shutdown signal: exiting without finishing in-flight work");
        std::process::exit(FORCED_EXIT_CODE);
    });
    token
}

/// SIGINT and SIGTERM, registered once, so that a second signal is not missed between two waits.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Self { streams }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.streams {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
