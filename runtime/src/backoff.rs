//! One backoff policy for every wait: the retries of a transient failure (throttling, a 5xx,
//! a dropped connection) and the pauses between status polls (an Athena query, a CloudFormation
//! operation). The delays come from `backon`'s exponential builder, without jitter, so a test
//! sees the same pace every run.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// No pause is longer.
    pub max: Duration,
    /// Each pause is this many times the one before (at least 1).
    pub factor: f32,
    /// Calls in all, the first one included; `None`: no limit (a poll under a deadline).
    pub attempts: Option<usize>,
}

/// How a poll ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled<T> {
    Ready(T),
    /// The next pause would have ended past the deadline; this long had passed.
    TimedOut {
        waited: Duration,
    },
}

/// The pauses between the calls of one poll, under its deadline.
pub struct Pauses {
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    max: Duration,
    started: tokio::time::Instant,
    deadline: Duration,
}

impl Pauses {
    /// Waits the next pause; `Err` with the time since the poll began, without waiting, when
    /// the pause would end past the deadline.
    pub async fn wait(&mut self) -> Result<(), Duration> {
        let pause = self.delays.next().unwrap_or(self.max);
        let waited = self.started.elapsed();
        if waited + pause > self.deadline {
            return Err(waited);
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// Time since the poll began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A call that failed for good, and how many calls were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted<E> {
    pub error: E,
    pub attempts: usize,
}

impl Backoff {
    /// Retries: `attempts` calls in all, pauses doubling from `first` (up to 64 × `first`).
    pub const fn retries(attempts: usize, first: Duration) -> Backoff {
        Backoff { first, max: first.saturating_mul(64), factor: 2.0, attempts: Some(attempts) }
    }

    /// Polls: pauses doubling from `first` up to `max`, without end (the caller keeps the
    /// deadline).
    pub const fn polls(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max, factor: 2.0, attempts: None }
    }

    fn builder(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.max.max(self.first))
            .with_factor(self.factor.max(1.0));
        match self.attempts {
            // backon counts retries, not calls.
            Some(n) => b.with_max_times(n.saturating_sub(1)),
            None => b.without_max_times(),
        }
    }

    /// The pauses, in order (endless for a poll).
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        self.builder().build()
    }

    /// The pauses of a poll that must end within `deadline` (from now).
    pub fn pauses(&self, deadline: Duration) -> Pauses {
        Pauses { delays: Box::new(self.delays()), max: self.max, started: tokio::time::Instant::now(), deadline }
    }

    /// Calls `check` until it answers `Some`, pausing between calls, for at most `deadline`.
    /// An error from `check` ends the poll at once.
    pub async fn poll<T, E, F, Fut>(&self, deadline: Duration, mut check: F) -> Result<Polled<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let mut pauses = self.pauses(deadline);
        loop {
            if let Some(done) = check().await? {
                return Ok(Polled::Ready(done));
            }
            if let Err(waited) = pauses.wait().await {
                return Ok(Polled::TimedOut { waited });
            }
        }
    }

    /// Calls `op` until it succeeds, fails for good (`transient` says so), or the attempts run
    /// out; the error comes with the number of calls made.
    pub async fn retry<T, E, F, Fut>(&self, op: F, transient: impl Fn(&E) -> bool) -> Result<T, Exhausted<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let calls = AtomicUsize::new(1);
        op.retry(self.builder())
            .sleep(tokio::time::sleep)
            .when(|e| transient(e))
            .notify(|_, _| {
                calls.fetch_add(1, Ordering::Relaxed);
            })
            .await
            .map_err(|error| Exhausted { error, attempts: calls.load(Ordering::Relaxed) })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn retries_double_and_polls_grow_to_their_cap() {
        let ms = |v: Vec<Duration>| v.iter().map(|d| d.as_millis()).collect::<Vec<_>>();
        let r = Backoff::retries(4, Duration::from_millis(100));
        assert_eq!(ms(r.delays().collect()), [100, 200, 400], "three pauses between four calls");
        let p = Backoff::polls(Duration::from_millis(200), Duration::from_secs(1));
        assert_eq!(ms(p.delays().take(6).collect()), [200, 400, 800, 1000, 1000, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_a_permanent_error_and_counts_calls() {
        let b = Backoff::retries(5, Duration::from_millis(10));
        let n = Cell::new(0);
        let got: Result<(), _> = b
            .retry(
                || {
                    n.set(n.get() + 1);
                    async { Err::<(), _>(if n.get() < 3 { "busy" } else { "denied" }) }
                },
                |e| *e == "busy",
            )
            .await;
        assert_eq!(got, Err(Exhausted { error: "denied", attempts: 3 }));
        let n = Cell::new(0);
        let got: Result<(), _> = b
            .retry(
                || {
                    n.set(n.get() + 1);
                    async { Err::<(), _>("busy") }
                },
                |_| true,
            )
            .await;
        assert_eq!(got, Err(Exhausted { error: "busy", attempts: 5 }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_ends_when_ready_or_before_its_deadline() {
        let p = Backoff::polls(Duration::from_millis(100), Duration::from_millis(400));
        let n = Cell::new(0);
        let ready = p
            .poll(Duration::from_secs(10), || {
                n.set(n.get() + 1);
                async { Ok::<_, ()>((n.get() == 3).then_some("done")) }
            })
            .await;
        assert_eq!(ready, Ok(Polled::Ready("done")));
        // pauses 100, 200, 400, 400: the fifth call would start after 1.1 s, past the deadline
        let n = Cell::new(0);
        let late = p
            .poll(Duration::from_millis(1000), || {
                n.set(n.get() + 1);
                async { Ok::<Option<()>, ()>(None) }
            })
            .await;
        // (tokio's timer ticks in whole milliseconds: each sleep may end a tick late)
        let Ok(Polled::TimedOut { waited }) = late else { panic!("{late:?}") };
        assert!((700..710).contains(&waited.as_millis()) && n.get() == 4, "{waited:?} after {} calls", n.get());
        let failed = p.poll(Duration::from_secs(1), || async { Err::<Option<()>, _>("denied") }).await;
        assert_eq!(failed, Err("denied"));
    }
}
