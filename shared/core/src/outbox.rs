//! The loop each outbox sender runs (notifications, webhook deliveries): one round of due
//! work, again at once while rounds come back full (a backlog), after `idle` once one comes
//! back short, and after ten times that when the outbox itself failed, so a broken store is
//! not hammered; until shutdown, letting a round in flight finish first.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How the rounds are paced.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// A round that handled this many or more is taken as a sign of more waiting.
    pub batch: usize,
    pub idle: Duration,
}

impl Pace {
    /// How long to wait after a round that ended so.
    fn wait_after<E>(self, round: &Result<usize, E>) -> Duration {
        match round {
            Ok(n) if *n >= self.batch => Duration::ZERO,
            Ok(_) => self.idle,
            Err(_) => self.idle * 10,
        }
    }
}

/// Runs `round` until `shutdown` turns true. `outbox` names what failed in the log.
pub async fn run_rounds<F, Fut, E>(outbox: &str, pace: Pace, mut shutdown: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: Display,
{
    while !*shutdown.borrow() {
        let result = round().await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, outbox, "the outbox could not be read or recorded");
        }
        let wait = pace.wait_after(&result);
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const PACE: Pace = Pace { batch: 10, idle: Duration::from_millis(40) };

    #[test]
    fn a_full_round_goes_again_at_once_a_short_one_waits_and_a_failure_waits_longest() {
        assert_eq!(PACE.wait_after::<String>(&Ok(10)), Duration::ZERO);
        assert_eq!(PACE.wait_after::<String>(&Ok(3)), Duration::from_millis(40));
        assert_eq!(PACE.wait_after(&Err("disk full")), Duration::from_millis(400));
    }

    #[tokio::test]
    async fn rounds_run_until_shutdown_and_a_waiting_loop_wakes_for_it() {
        let (stop, shutdown) = watch::channel(false);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let rounds =
            tokio::spawn(run_rounds("test", Pace { batch: 1, idle: Duration::from_secs(3600) }, shutdown, move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                // Two full rounds, then an empty one: the loop then waits an hour unless woken.
                async move { Ok::<_, String>(usize::from(n < 2)) }
            }));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rounds).await.expect("the loop stops on shutdown").unwrap();
    }
}
