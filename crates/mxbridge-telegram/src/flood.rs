//! Flood control: when Telegram answers FLOOD_WAIT_X, the call waits X seconds and is
//! made again, instead of being dropped (mautrix-telegram#1079 dropped them). Calls of one
//! account queue behind a wait: a gate holds them until the wait is over, so the bridge
//! does not hammer Telegram while it is limited. However long Telegram asks to wait, the
//! call waits; a wait long enough to be noticed is told to the user, once per wait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tracing::warn;

use crate::backend::BackendError;

/// How flood waits are honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodPolicy {
    /// Waits at least this long are told to the user (the call still waits them out:
    /// Telegram sometimes asks for hours, and the messages go out after).
    pub notice_after: Duration,
    /// How many waits one call may go through before it fails: only a guard against an
    /// endless loop of waits, which Telegram does not normally ask for.
    pub max_attempts: u32,
}

impl Default for FloodPolicy {
    fn default() -> Self {
        Self { notice_after: Duration::from_secs(60), max_attempts: 10 }
    }
}

/// Told about a flood wait the user should know of (its seconds).
pub type FloodNotice = Arc<dyn Fn(u64) + Send + Sync>;

/// One account's flood gate: calls go one at a time through a wait.
#[derive(Clone)]
pub struct FloodGate {
    policy: FloodPolicy,
    waiting: Arc<Mutex<()>>,
    /// What one second of flood wait lasts: a second, except in tests.
    second: Duration,
    notice: Option<FloodNotice>,
}

impl FloodGate {
    /// A gate with this policy.
    pub fn new(policy: FloodPolicy) -> Self {
        Self { policy, waiting: Arc::default(), second: Duration::from_secs(1), notice: None }
    }

    /// Calls `notice` at the start of each wait of at least [`FloodPolicy::notice_after`].
    pub fn with_notice(self, notice: FloodNotice) -> Self {
        Self { notice: Some(notice), ..self }
    }

    /// A gate whose waits are scaled (a "second" lasts `second`), so tests run quickly.
    #[cfg(test)]
    fn scaled(policy: FloodPolicy, second: Duration) -> Self {
        Self { second, ..Self::new(policy) }
    }

    /// Runs `call`, waiting out flood waits and trying again.
    pub async fn run<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, BackendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let mut attempt = 0;
        loop {
            // A call waits here while another one sits out a flood wait.
            drop(self.waiting.lock().await);
            match call().await {
                Err(BackendError::FloodWait(seconds)) => {
                    attempt += 1;
                    if attempt >= self.policy.max_attempts {
                        return Err(BackendError::FloodWait(seconds));
                    }
                    warn!(call = what, seconds, attempt, "Telegram flood wait: retrying after the wait");
                    let _held = self.waiting.lock().await;
                    if let Some(notice) = self.notice.as_ref().filter(|_| Duration::from_secs(seconds) >= self.policy.notice_after) {
                        notice(seconds);
                    }
                    tokio::time::sleep(self.second * seconds as u32).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn test_flood_wait_is_waited_out_then_retried() {
        let gate = FloodGate::scaled(FloodPolicy::default(), 10 * MS);
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let out = gate
            .run("send", || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 2 { Err(BackendError::FloodWait(7)) } else { Ok(n) } }
            })
            .await;
        assert_eq!(out, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(started.elapsed() >= 140 * MS, "waited twice 7 scaled seconds: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn test_a_long_wait_is_waited_out_and_told_once() {
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let notice: FloodNotice = {
            let told = told.clone();
            Arc::new(move |s| told.lock().unwrap().push(s))
        };
        let gate = FloodGate::scaled(FloodPolicy { notice_after: Duration::from_secs(60), max_attempts: 3 }, Duration::from_micros(50))
            .with_notice(notice);
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let out = gate
            .run("send", || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err(BackendError::FloodWait(3600)) } else { Ok(n) } }
            })
            .await;
        assert_eq!(out, Ok(1), "an hour's wait is sat out, not failed");
        assert!(started.elapsed() >= 180 * MS, "waited 3600 scaled seconds: {:?}", started.elapsed());
        assert_eq!(*told.lock().unwrap(), vec![3600], "told once, for the long wait");
        let out = gate.run("send", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n == 2 { Err(BackendError::FloodWait(5)) } else { Ok(n) } }
        });
        assert_eq!(out.await, Ok(3));
        assert_eq!(*told.lock().unwrap(), vec![3600], "a short wait is not told");
    }

    #[tokio::test]
    async fn test_other_errors_are_returned_and_endless_waits_stop() {
        let gate = FloodGate::scaled(FloodPolicy { notice_after: Duration::from_secs(60), max_attempts: 3 }, MS);
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = gate
            .run("send", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(BackendError::Refused("no".into())) }
            })
            .await;
        assert_eq!(out, Err(BackendError::Refused("no".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "only flood waits are retried");
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = gate
            .run("send", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(BackendError::FloodWait(1)) }
            })
            .await;
        assert_eq!(out, Err(BackendError::FloodWait(1)));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "gives up after max_attempts");
    }

    #[tokio::test]
    async fn test_other_calls_queue_behind_a_wait() {
        let gate = FloodGate::scaled(FloodPolicy::default(), 20 * MS);
        let first = {
            let gate = gate.clone();
            let calls = Arc::new(AtomicU32::new(0));
            tokio::spawn(async move {
                gate.run("a", || {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move { if n == 0 { Err(BackendError::FloodWait(10)) } else { Ok(()) } }
                })
                .await
            })
        };
        tokio::time::sleep(20 * MS).await;
        let started = std::time::Instant::now();
        gate.run("b", || async { Ok::<_, BackendError>(()) }).await.unwrap();
        assert!(started.elapsed() >= 150 * MS, "b waited for a's 10 scaled seconds: {:?}", started.elapsed());
        first.await.unwrap().unwrap();
    }
}
