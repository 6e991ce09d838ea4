//! `bridge.backfill:`: how much of a chat's past a new portal shows.

use serde::Deserialize;

use super::{ConfigError, invalid};

/// The most messages a new portal may be filled with: each is one Matrix event sent at
/// portal creation, so a large number makes every login slow.
const MAX_INITIAL_MESSAGES: u32 = 1000;

/// `bridge.backfill:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackfill {
    /// How many of a chat's last messages a portal shows when the bridge creates it (for
    /// networks that can tell them: Telegram, WhatsApp); 0 turns backfill off. Default 50,
    /// as mautrix bridges' `max_initial_messages`.
    #[serde(default = "default_initial_messages")]
    pub initial_messages: u32,
}

fn default_initial_messages() -> u32 {
    50
}

impl Default for RawBackfill {
    fn default() -> Self {
        Self { initial_messages: default_initial_messages() }
    }
}

impl RawBackfill {
    /// The number of messages to backfill into a new portal.
    pub(super) fn validate(&self) -> Result<usize, ConfigError> {
        if self.initial_messages > MAX_INITIAL_MESSAGES {
            return Err(invalid(
                "bridge.backfill.initial_messages",
                format!("{} is more than {MAX_INITIAL_MESSAGES}", self.initial_messages),
                "pick a number from 0 (no history) to 1000; 50 is the default",
            ));
        }
        Ok(self.initial_messages as usize)
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
    fn test_backfill_defaults_to_fifty_and_is_bounded() {
        assert_eq!(load(EXAMPLE).unwrap().backfill_initial_messages, 50);
        let with = |section: &str| EXAMPLE.replace("bridge:\n", &format!("bridge:\n  backfill: {section}\n"));
        assert_eq!(load(&with("{initial_messages: 0}")).unwrap().backfill_initial_messages, 0, "0 turns it off");
        assert_eq!(load(&with("{initial_messages: 1000}")).unwrap().backfill_initial_messages, 1000);
        let err = load(&with("{initial_messages: 1001}")).unwrap_err().to_string();
        assert!(err.contains("`bridge.backfill.initial_messages`") && err.contains("fix:"), "{err}");
        assert!(load(&with("{initial_messages: -1}")).is_err(), "not a count");
        assert!(load(&with("{initial: 5}")).is_err(), "unknown keys are refused");
    }
}
