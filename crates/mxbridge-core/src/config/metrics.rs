//! `metrics:`: whether `/metrics` is served, and on which address.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// `metrics:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Serve Prometheus metrics at `http://<listen>/metrics` (default off).
    #[serde(default)]
    pub enabled: bool,
    /// `ip:port` of the metrics listener, separate from the appservice port.
    #[serde(default)]
    pub listen: Option<String>,
}

impl RawMetrics {
    /// Where to serve `/metrics`, or `None` when off. `listen` is checked even while
    /// metrics are off, so turning them on later cannot reveal a typo at a bad moment; it
    /// may not be the appservice listener's address (`appservice.hostname`/`port`).
    pub(super) fn validate(&self, appservice_host: &str, appservice_port: u16) -> Result<Option<SocketAddr>, ConfigError> {
        const KEY: &str = "metrics.listen";
        let Some(listen) = self.listen.as_deref() else {
            if self.enabled {
                return Err(invalid(KEY, "is missing while metrics.enabled is true", "set it to a private ip:port such as 127.0.0.1:9108"));
            }
            return Ok(None);
        };
        let addr: SocketAddr = listen.trim().parse().map_err(|_| {
            invalid(KEY, format!("`{listen}` is not an ip:port"), "write an IP address and a port, e.g. 127.0.0.1:9108 (or [::1]:9108)")
        })?;
        let any_host = |h: &str| h == "0.0.0.0" || h == "::";
        let clashes = addr.port() == appservice_port
            && (addr.ip().is_unspecified() || any_host(appservice_host) || addr.ip().to_string() == appservice_host);
        if clashes {
            return Err(invalid(
                KEY,
                format!("`{listen}` is the appservice listener's address"),
                "give metrics a port of their own; the appservice port may face the internet, metrics should not",
            ));
        }
        Ok(self.enabled.then_some(addr))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::EXAMPLE;
    use super::super::{Config, RawConfig};

    fn load(text: &str) -> Result<Config, super::ConfigError> {
        Config::from_raw(RawConfig::parse(text, Path::new("t.yaml"))?, Path::new("/etc/mxbridge"))
    }

    #[test]
    fn test_metrics_are_off_unless_enabled_and_the_address_is_checked() {
        assert_eq!(load(EXAMPLE).unwrap().metrics_listen, None, "no section, no metrics");
        let with = |section: &str| format!("{EXAMPLE}metrics: {section}\n");
        let on = load(&with("{enabled: true, listen: \"127.0.0.1:9108\"}")).unwrap();
        assert_eq!(on.metrics_listen, Some("127.0.0.1:9108".parse().unwrap()));
        assert_eq!(load(&with("{enabled: false, listen: \"127.0.0.1:9108\"}")).unwrap().metrics_listen, None);
        for bad in [
            "{enabled: true}",
            "{enabled: true, listen: \"localhost\"}",
            "{enabled: false, listen: \"127.0.0.1\"}",
            "{enabled: true, listen: \"127.0.0.1:29331\"}",
            "{enabled: true, listen: \"0.0.0.0:29331\"}",
        ] {
            let err = load(&with(bad)).unwrap_err().to_string();
            assert!(err.contains("`metrics.listen`") && err.contains("fix:"), "{bad}: {err}");
        }
        assert!(load(&with("{enabled: true, listen: \"127.0.0.1:29332\"}")).is_ok(), "another port is fine");
    }
}
