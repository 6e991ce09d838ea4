//! Asking a running bridge's `/health` from outside, for container healthchecks
//! (`mxbridge healthcheck`): the image has no curl, and the bridge knows its own address.

use std::time::Duration;

use serde_json::Value;

/// How long the bridge may take to answer before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a bridge is not healthy, as the probe's caller prints it.
#[derive(Debug, thiserror::Error)]
pub enum HealthProbeError {
    /// Nothing answered at the address.
    #[error("no bridge answers on {address} ({reason}): is it running, with this config's appservice.hostname and appservice.port?")]
    Unreachable {
        /// Where the probe looked.
        address: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The bridge answered that it cannot do its job.
    #[error("the bridge on {address} is unhealthy: {}", reasons.join("; "))]
    Unhealthy {
        /// Where the bridge answered.
        address: String,
        /// The reasons `/health` gave.
        reasons: Vec<String>,
    },
}

/// Where a bridge listening on `host:port` is reached from the same machine: a wildcard
/// address is reached through loopback.
fn local_address(host: &str, port: u16) -> String {
    match host {
        "0.0.0.0" | "" => format!("127.0.0.1:{port}"),
        "::" | "[::]" => format!("[::1]:{port}"),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]:{port}"),
        h => format!("{h}:{port}"),
    }
}

/// Asks the bridge listening on `host:port` whether it is healthy. `Ok` carries its uptime
/// in seconds.
pub async fn probe_health(host: &str, port: u16) -> Result<u64, HealthProbeError> {
    let address = local_address(host, port);
    let unreachable = |e: reqwest::Error| HealthProbeError::Unreachable { address: address.clone(), reason: e.to_string() };
    // As in `Matrix::new`: building a client without a chosen rustls provider panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(PROBE_TIMEOUT).build().map_err(unreachable)?;
    let response = client.get(format!("http://{address}/health")).send().await.map_err(unreachable)?;
    let ok = response.status().is_success();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if ok {
        return Ok(body["uptime_seconds"].as_u64().unwrap_or(0));
    }
    let mut reasons: Vec<String> = body["reasons"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_owned)).collect();
    if reasons.is_empty() {
        reasons.push("it gave no reason".to_owned());
    }
    Err(HealthProbeError::Unhealthy { address, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_wildcard_listeners_are_probed_through_loopback() {
        assert_eq!(local_address("0.0.0.0", 29318), "127.0.0.1:29318");
        assert_eq!(local_address("::", 29318), "[::1]:29318");
        assert_eq!(local_address("::1", 29318), "[::1]:29318");
        assert_eq!(local_address("bridge.internal", 29318), "bridge.internal:29318");
    }

    #[tokio::test]
    async fn test_a_closed_port_is_unreachable_and_says_what_to_check() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = probe_health("127.0.0.1", port).await.unwrap_err();
        assert!(matches!(err, HealthProbeError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("appservice.port"), "{err}");
    }
}
