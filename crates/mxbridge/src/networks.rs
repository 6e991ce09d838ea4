//! Which network the config asks for (`network.type`), built from its section.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use mxbridge_core::config::{Config, RawConfig};
use mxbridge_core::network::Network;

/// Network types this binary knows.
const KNOWN: &[&str] = &["demo", "irc", "telegram", "whatsapp", "xmpp"];

fn network_type(section: &serde_json::Value) -> Result<String> {
    match section.get("type").and_then(|t| t.as_str()) {
        Some(t) if KNOWN.contains(&t) => Ok(t.to_owned()),
        Some(t) => bail!("config key `network.type`: `{t}` is not a network this build knows (fix: use one of {})", KNOWN.join(", ")),
        None => bail!("config key `network.type` is missing (fix: set it to one of {})", KNOWN.join(", ")),
    }
}

/// The protocol id for the registration, read without validating the rest of the config
/// (its tokens may still be `generate`).
pub(crate) fn protocol_of(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw = RawConfig::parse(&text, path)?;
    network_type(&raw.network)
}

/// The network named by the config, built from its section.
pub(crate) fn build(config: &Config) -> Result<Arc<dyn Network>> {
    let mut section = config.network.clone();
    let kind = network_type(&section)?;
    if let Some(map) = section.as_object_mut() {
        map.remove("type");
    }
    match kind.as_str() {
        "demo" => {
            let demo: mxbridge_demo::DemoConfig =
                serde_json::from_value(section).context("config section `network` (demo) is not valid")?;
            Ok(mxbridge_demo::DemoNetwork::new(demo).0)
        }
        "irc" => {
            let irc: mxbridge_irc::IrcSection = serde_json::from_value(section).context("config section `network` (irc) is not valid")?;
            Ok(mxbridge_irc::build(irc)?)
        }
        "telegram" => {
            let telegram: mxbridge_telegram::TelegramConfig =
                serde_json::from_value(section).context("config section `network` (telegram) is not valid")?;
            // The simulated backend's remote side has no driver in the binary: its scripted
            // contacts (Echo, the group) answer by themselves, which is what a demo needs.
            let (network, _sim) = mxbridge_telegram::TelegramNetwork::from_config(telegram)?;
            Ok(network)
        }
        "xmpp" => {
            let xmpp: mxbridge_xmpp::XmppConfig =
                serde_json::from_value(section).context("config section `network` (xmpp) is not valid")?;
            xmpp.validate()?;
            Ok(mxbridge_xmpp::XmppNetwork::new(xmpp))
        }
        "whatsapp" => {
            let whatsapp: mxbridge_whatsapp::WhatsAppConfig =
                serde_json::from_value(section).context("config section `network` (whatsapp) is not valid")?;
            // The simulated network's handle only serves tests; a demo needs nothing from it.
            let (network, _sim) = mxbridge_whatsapp::WhatsAppNetwork::from_config(whatsapp)?;
            Ok(network)
        }
        other => bail!("network `{other}` is not built in"),
    }
}
