//! The `network:` section for XMPP.

use mxbridge_core::secret::Secret;
use serde::Deserialize;

/// The XMPP component's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmppConfig {
    /// The component's JID, as declared in the XMPP server (`Component "matrix.example.org"`):
    /// Matrix users appear as `<localpart>_<server>@<component>`.
    pub component: String,
    /// `host:port` of the XMPP server's component listener (Prosody: 5347).
    pub server: String,
    /// The component's shared secret (`component_secret` in Prosody).
    pub secret: Secret<String>,
    /// How often each Matrix user checks that every MUC they are in still has them
    /// (XEP-0410 self-ping), in seconds; 0 turns the check off.
    #[serde(default = "default_self_ping_secs")]
    pub self_ping_secs: u64,
    /// How many of a MUC's last messages its portal shows when the bridge first joins it
    /// (XEP-0313 archive, where the MUC keeps one); 0 for none.
    #[serde(default = "default_backfill_messages")]
    pub backfill_messages: u32,
}

/// A setting of the `network:` section that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum XmppConfigError {
    /// `network.server` is not `host:port`.
    #[error(
        "config key `network.server`: `{0}` is not `host:port` (fix: write the XMPP server's component address with its port, e.g. `127.0.0.1:5347` or `xmpp.example.org:5347`)"
    )]
    Server(String),
    /// `network.component` is not a domain.
    #[error(
        "config key `network.component`: `{0}` is not a domain (fix: write the component's JID as declared in the XMPP server, e.g. `matrix.xmpp.example.org`)"
    )]
    Component(String),
}

impl XmppConfig {
    /// Checks what serde cannot: that the addresses have the form the link needs, so a bad
    /// value is named at start instead of failing every reconnect.
    pub fn validate(&self) -> Result<(), XmppConfigError> {
        let (host, port) = self.server.rsplit_once(':').ok_or_else(|| XmppConfigError::Server(self.server.clone()))?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
        if host.is_empty() || host.contains(char::is_whitespace) || !port_ok || (host.contains(':') && !self.server.starts_with('[')) {
            return Err(XmppConfigError::Server(self.server.clone()));
        }
        let component_ok = !self.component.is_empty()
            && self.component.split('.').all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if !component_ok {
            return Err(XmppConfigError::Component(self.component.clone()));
        }
        Ok(())
    }
}

fn default_backfill_messages() -> u32 {
    20
}

fn default_self_ping_secs() -> u64 {
    300
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(server: &str, component: &str) -> XmppConfig {
        XmppConfig {
            component: component.into(),
            server: server.into(),
            secret: Secret::new("s".into()),
            self_ping_secs: 0,
            backfill_messages: 0,
        }
    }

    #[test]
    fn test_server_needs_host_and_port() {
        for good in ["127.0.0.1:5347", "xmpp.example.org:5347", "[::1]:5347", "prosody:5347"] {
            assert!(with(good, "matrix.example.org").validate().is_ok(), "{good}");
        }
        for bad in ["127.0.0.1", "xmpp.example.org", ":5347", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:99999", "::1:5347", "a b:5347"] {
            let err = with(bad, "matrix.example.org").validate().unwrap_err().to_string();
            assert!(err.contains("`network.server`") && err.contains("host:port"), "{bad}: {err}");
        }
    }

    #[test]
    fn test_component_is_a_domain() {
        for bad in ["", "matrix..example.org", "user@matrix.example.org", "matrix example"] {
            let err = with("127.0.0.1:5347", bad).validate().unwrap_err().to_string();
            assert!(err.contains("`network.component`"), "{bad}: {err}");
        }
    }
}
