//! Checks now and then that the homeserver answers, for `/health`.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::appservice::Health;
use crate::matrix::intent::Matrix;

/// Time between checks: a load balancer learns of an outage within this.
const INTERVAL: Duration = Duration::from_secs(30);
/// A check that takes longer failed (the client retries inside, so allow it some).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the homeserver for `/versions` every [`INTERVAL`] until `stop`, recording each
/// outcome in `health`. Changes are logged once, with the error, which `/health` leaves out.
pub(crate) async fn watch(matrix: Matrix, health: Health, mut stop: watch::Receiver<bool>) {
    let mut was_up = true;
    loop {
        let up = match tokio::time::timeout(TIMEOUT, matrix.versions()).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                if was_up {
                    warn!(error = %e, "the homeserver does not answer; /health reports 503 until it does");
                }
                false
            }
            Err(_) => {
                if was_up {
                    warn!(timeout_s = TIMEOUT.as_secs(), "the homeserver does not answer in time; /health reports 503 until it does");
                }
                false
            }
        };
        if up && !was_up {
            info!("the homeserver answers again");
        }
        was_up = up;
        health.homeserver_checked(up);
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
