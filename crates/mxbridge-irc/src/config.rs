//! The `network:` section for IRC: one network's settings, or a list of networks.

use serde::Deserialize;

/// The whole `network:` section: one IRC network (its keys directly in the section), or
/// several under `networks:`, served by one bridge with one bot.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum IrcSection {
    /// `networks: [{name: libera, server: ...}, {name: oftc, server: ...}]`.
    Several(SeveralNetworks),
    /// `name: libera`, `server: ...` directly in the section.
    One(IrcConfig),
}

/// The list form of the section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeveralNetworks {
    /// The networks; the first is the default for commands that name none.
    pub networks: Vec<IrcConfig>,
}

/// A problem in the section, naming the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IrcConfigError {
    #[error("config key `network.networks` is empty (fix: list at least one network, or put one network's keys directly under `network`)")]
    NoNetworks,
    #[error(
        "config key `network.networks[{index}].name`: `{name}` is not a usable network name (fix: lowercase letters, digits and `-` only, \
         as it becomes part of ghost IDs and aliases)"
    )]
    BadName { index: usize, name: String },
    #[error("config key `network.networks[{index}].name`: `{name}` is used twice (fix: give each network its own name)")]
    DuplicateName { index: usize, name: String },
}

impl IrcSection {
    /// The networks, checked.
    pub fn networks(self) -> Result<Vec<IrcConfig>, IrcConfigError> {
        let networks = match self {
            Self::One(config) => return Ok(vec![config]),
            Self::Several(SeveralNetworks { networks }) => networks,
        };
        if networks.is_empty() {
            return Err(IrcConfigError::NoNetworks);
        }
        for (index, network) in networks.iter().enumerate() {
            let name = &network.name;
            let usable = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !usable {
                return Err(IrcConfigError::BadName { index, name: name.clone() });
            }
            if networks[..index].iter().any(|other| &other.name == name) {
                return Err(IrcConfigError::DuplicateName { index, name: name.clone() });
            }
        }
        Ok(networks)
    }
}

/// One IRC network's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrcConfig {
    /// Short name of the network, used in messages, in the status room's name and as the
    /// optional `[net]` argument of commands.
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
    /// At most this many puppets register with the server at the same time, so a server
    /// restart is not answered with a connection storm. A registration lasts about a
    /// second (servers finish them on a once-a-second tick), so this is also roughly the
    /// number of puppets that come back per second.
    #[serde(default = "default_concurrent_connects")]
    pub max_concurrent_connects: usize,
    /// Puppets whose Matrix user did nothing for this many seconds are disconnected (0:
    /// never); they reconnect when the user speaks. `active` exempts a user.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// A message sent while its puppet is (re)connecting waits this long for the
    /// connection before its sender is told it failed.
    #[serde(default = "default_send_queue")]
    pub send_queue_secs: u64,
    /// A netsplit's QUITs are held this long: users back within it never leave the room.
    #[serde(default = "default_quit_debounce")]
    pub quit_debounce_secs: u64,
    /// Whether users may send raw IRC commands with `cmd`.
    #[serde(default = "default_true")]
    pub allow_raw_commands: bool,
    /// Whether users may join channels that have no portal yet (else only plumbed or
    /// already bridged channels).
    #[serde(default = "default_true")]
    pub dynamic_channels: bool,
    /// Channels that are never bridged (case-insensitive).
    #[serde(default)]
    pub excluded_channels: Vec<String>,
    /// A message longer than this many IRC lines is sent as its first line and a link to
    /// the whole text (needs `bridge.public_url`; without it every line is sent).
    #[serde(default = "default_line_limit")]
    pub line_limit: usize,
    /// Nick of the bridge bot's own connection, which relays for Matrix users without a
    /// connection of their own in plumbed rooms.
    #[serde(default = "default_bot_nick")]
    pub bot_nick: String,
    /// Display name of IRC users' ghosts: `{nick}`, `{network}`.
    #[serde(default = "default_displayname_template")]
    pub displayname_template: String,
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

fn default_concurrent_connects() -> usize {
    // Measured (BENCHMARKS.md): 50 brought 10,000 puppets back in 203 s; at this value
    // they come back within the 60 s the bridge aims for.
    500
}

fn default_idle_timeout() -> u64 {
    // matrix-appservice-irc's default: three hours.
    10_800
}

fn default_send_queue() -> u64 {
    60
}

fn default_quit_debounce() -> u64 {
    30
}

fn default_true() -> bool {
    true
}

fn default_line_limit() -> usize {
    // matrix-appservice-irc's default.
    3
}

fn default_bot_nick() -> String {
    "MatrixBridge".to_owned()
}

fn default_displayname_template() -> String {
    // matrix-appservice-irc's default: the nick alone.
    "{nick}".to_owned()
}

impl IrcConfig {
    /// The display name of an IRC user's ghost.
    pub fn display_name(&self, nick: &str) -> String {
        self.displayname_template.replace("{network}", &self.name).replace("{nick}", nick)
    }

    /// Whether a channel may be bridged at all.
    pub fn is_excluded(&self, channel: &str) -> bool {
        let folded = crate::nick::casefold(channel);
        self.excluded_channels.iter().any(|c| crate::nick::casefold(c) == folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: serde_json::Value) -> Result<Vec<IrcConfig>, IrcConfigError> {
        serde_json::from_value::<IrcSection>(yaml).expect("parses").networks()
    }

    #[test]
    fn test_one_network_or_a_list_of_them_with_checked_names() {
        let one = section(serde_json::json!({"name": "libera", "server": "irc.libera.chat"})).unwrap();
        assert_eq!(one.len(), 1);
        let two = section(serde_json::json!({"networks": [
            {"name": "libera", "server": "irc.libera.chat"},
            {"name": "oftc", "server": "irc.oftc.net", "port": 6697, "tls": true}
        ]}))
        .unwrap();
        assert_eq!(two.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["libera", "oftc"]);
        assert!(two[1].tls && !two[0].tls);

        assert_eq!(section(serde_json::json!({"networks": []})).err(), Some(IrcConfigError::NoNetworks));
        let dotted = section(serde_json::json!({"networks": [{"name": "lib.era", "server": "x"}]}));
        assert_eq!(dotted.err(), Some(IrcConfigError::BadName { index: 0, name: "lib.era".into() }));
        let twice = section(serde_json::json!({"networks": [{"name": "a", "server": "x"}, {"name": "a", "server": "y"}]}));
        let twice = twice.expect_err("refused");
        assert_eq!(twice, IrcConfigError::DuplicateName { index: 1, name: "a".into() });
        assert!(twice.to_string().contains("network.networks[1].name"), "the message names the key");
    }

    #[test]
    fn test_ghost_display_names_follow_the_template() {
        let config = |extra: serde_json::Value| {
            let mut c = serde_json::json!({"name": "libera", "server": "x"});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<IrcConfig>(c).unwrap()
        };
        assert_eq!(config(serde_json::json!({})).display_name("Bob"), "Bob", "the nick alone by default");
        let labelled = config(serde_json::json!({"displayname_template": "{nick} ({network})"}));
        assert_eq!(labelled.display_name("{network}"), "{network} (libera)", "a nick is never read as a placeholder");
    }

    #[test]
    fn test_unknown_keys_are_refused_in_both_forms() {
        assert!(serde_json::from_value::<IrcSection>(serde_json::json!({"server": "x", "prot": 1})).is_err());
        assert!(serde_json::from_value::<IrcSection>(serde_json::json!({"networks": [{"server": "x", "prot": 1}]})).is_err());
    }
}
