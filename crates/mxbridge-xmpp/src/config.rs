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

fn default_backfill_messages() -> u32 {
    20
}

fn default_self_ping_secs() -> u64 {
    300
}
