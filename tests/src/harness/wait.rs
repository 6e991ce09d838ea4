//! Bounded waiting: poll a condition until it holds or the time is up.

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

/// The condition never held within the time allowed.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Polls `check` every `interval` until it returns `Some`, for at most `timeout`. The first
/// check runs at once, so a condition that already holds costs no wait.
pub(crate) async fn wait_until<T, F, Fut>(timeout: Duration, interval: Duration, mut check: F) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut ticks = tokio::time::interval(interval);
    // A slow check must not be followed by a burst of catch-up checks.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::time::timeout(timeout, async {
        loop {
            ticks.tick().await;
            if let Some(v) = check().await {
                return v;
            }
        }
    })
    .await
    .map_err(|_| TimedOut)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn test_wait_until_returns_as_soon_as_the_condition_holds() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let got = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { (n == 3).then_some(n) }
        })
        .await;
        assert_eq!(got.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 4, "no check after the one that held");
        assert!(start.elapsed() < Duration::from_secs(5), "returned early, not at the timeout: {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn test_wait_until_checks_at_once() {
        let start = Instant::now();
        let got = wait_until(Duration::from_secs(10), Duration::from_secs(5), || async { Some("ready") }).await;
        assert_eq!(got.unwrap(), "ready");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn test_wait_until_times_out_when_it_never_holds() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let got = wait_until(Duration::from_millis(200), Duration::from_millis(10), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { None::<()> }
        })
        .await;
        assert!(got.is_err());
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(start.elapsed() < Duration::from_secs(5), "gave up near the timeout: {:?}", start.elapsed());
        assert!(calls.load(Ordering::SeqCst) >= 2, "it kept polling");
    }
}
