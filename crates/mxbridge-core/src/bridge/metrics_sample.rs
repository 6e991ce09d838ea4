//! What `/metrics` reads from the running bridge at scrape time: queue sizes, loaded
//! logins and the inbox backlog.

use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;

use super::Bridge;
use crate::metrics::{BridgeSample, Sampler};

/// A scrape must answer even when the database hangs; the backlog is then left out.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(2);

/// Samples the bridge (which may be gone at shutdown).
pub(crate) struct BridgeSampler(pub(crate) Weak<Bridge>);

#[async_trait]
impl Sampler for BridgeSampler {
    async fn sample(&self) -> BridgeSample {
        let Some(bridge) = self.0.upgrade() else { return BridgeSample::default() };
        let inbox_backlog = match tokio::time::timeout(BACKLOG_TIMEOUT, bridge.store.inbox_backlog()).await {
            Ok(Ok(n)) => Some(n),
            _ => None,
        };
        BridgeSample {
            loaded_logins: bridge.logins.lock().expect("lock").len(),
            inbox_backlog,
            inbox_in_flight: bridge.dispatched.lock().expect("lock").len(),
            room_queues: bridge.room_queues.lock().expect("lock").len(),
            portal_queues: bridge.portal_queues.lock().expect("lock").len(),
        }
    }
}
