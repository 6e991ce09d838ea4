//! Bounded waiting: poll a condition until it holds or the time is up.

use std::future::Future;
use std::time::Duration;

/// The condition never held within the time allowed.
#[derive(Debug)]
pub(crate) struct TimedOut;

/// Polls `check` every `interval` until it returns `Some`, for at most `timeout`.
pub(crate) async fn wait_until<T, F, Fut>(timeout: Duration, interval: Duration, mut check: F) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tokio::time::timeout(timeout, async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(interval).await;
        }
    })
    .await
    .map_err(|_| TimedOut)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn test_wait_until_returns_when_the_condition_holds() {
        let calls = AtomicU32::new(0);
        let got = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { (n == 3).then_some(n) }
        })
        .await;
        assert_eq!(got.unwrap(), 3);
    }

    #[tokio::test]
    async fn test_wait_until_times_out_when_it_never_holds() {
        let start = std::time::Instant::now();
        let got = wait_until(Duration::from_millis(50), Duration::from_millis(5), || async { None::<()> }).await;
        assert!(got.is_err());
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
