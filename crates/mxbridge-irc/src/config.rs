//! The `network:` section for IRC.

use serde::Deserialize;

/// One IRC network's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrcConfig {
    /// Short name of the network, used in ghost and alias names (`_<name>_...`) by the
    /// example config and in messages.
    #[serde(default = "default_name")]
    pub name: String,
    /// Server host name.
    pub server: String,
    /// Server port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Use TLS.
    #[serde(default)]
    pub tls: bool,
    /// Nick template for Matrix users: `{displayname}`, `{localpart}`.
    #[serde(default = "default_nick_template")]
    pub nick_template: String,
    /// Flood control: lines per window before lines queue.
    #[serde(default = "default_burst")]
    pub max_messages_in_burst: u32,
    /// Flood control window in seconds.
    #[serde(default = "default_window")]
    pub burst_window_secs: u32,
}

fn default_name() -> String {
    "irc".to_owned()
}

fn default_port() -> u16 {
    6667
}

fn default_nick_template() -> String {
    crate::nick::DEFAULT_TEMPLATE.to_owned()
}

fn default_burst() -> u32 {
    5
}

fn default_window() -> u32 {
    4
}
