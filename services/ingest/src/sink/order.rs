//! The order of the offsets of record when batches are written overlapped.
//!
//! Batch N+1's tables and enriched events may be written while batch N is still being written
//! (so consumption and queryability do not wait for N's publishing), but the offsets of record
//! must land in batch order: a crash must never leave N+1 recorded and N not, or N's records
//! would be skipped on restart. Each batch therefore takes a [`Turn`] from the [`Line`]: it
//! records only after the batch before it recorded, and if that one failed it records nothing
//! (both are re-read from the offsets of record; their idempotent rows collapse).

use tokio::sync::oneshot;

use crate::{Error, Result};

/// Hands out turns in the order batches are started.
#[derive(Default)]
pub struct Line {
    /// Resolves when the last started batch has recorded; closed without a value if it failed.
    last: Option<oneshot::Receiver<()>>,
}

impl Line {
    /// The turn of the next batch: after every batch started before it.
    pub fn take_turn(&mut self) -> Turn {
        let (done, last) = oneshot::channel();
        Turn {
            previous: self.last.replace(last),
            done: Some(done),
            out_of_turn: false,
        }
    }

    /// Starts a new line: call only when no batch is in flight (after a failure was settled and
    /// the consumer repositioned), so a failed batch from before does not fail the next.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// One batch's place in the [`Line`].
pub struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
    /// The batch before failed (its answer is read once).
    out_of_turn: bool,
}

impl Turn {
    /// A batch written on its own (a replay, an erasure, a benchmark's sequential write).
    pub fn alone() -> Self {
        Self {
            previous: None,
            done: None,
            out_of_turn: false,
        }
    }

    /// Waits until the batch before has recorded. An error if it failed: this batch must then
    /// not record either. Cancel-safe: a wait that is dropped can be started again.
    pub async fn wait(&mut self) -> Result<()> {
        if self.out_of_turn {
            return Err(Error::OutOfTurn);
        }
        let Some(previous) = self.previous.as_mut() else {
            return Ok(());
        };
        let answer = previous.await;
        self.previous = None;
        self.out_of_turn = answer.is_err();
        answer.map_err(|_| Error::OutOfTurn)
    }

    /// This batch has recorded: the next may record. Dropping a turn without calling this fails
    /// every batch after it.
    pub fn recorded(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_follow_the_line_and_a_failure_fails_the_rest() {
        let mut line = Line::default();
        let mut first = line.take_turn();
        let mut second = line.take_turn();
        let mut third = line.take_turn();
        first.wait().await.expect("first waits for nobody");
        // The second cannot record before the first did.
        let pending = tokio::time::timeout(std::time::Duration::from_millis(50), second.wait());
        assert!(pending.await.is_err(), "second recorded before the first");
        first.recorded();
        second.wait().await.expect("first recorded");
        drop(second); // failed
        assert!(
            third.wait().await.is_err(),
            "third recorded after a failure"
        );
        assert!(
            third.wait().await.is_err(),
            "asked again, still out of turn"
        );

        line.reset();
        let mut fresh = line.take_turn();
        fresh.wait().await.expect("a new line starts clean");
        assert!(Turn::alone().wait().await.is_ok());
    }
}
