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
    #[error(
        "config key `{key}`: `{address}` is not a server address (fix: a host name or IP address such as irc.example.net, \
         letters, digits, `.`, `-` and `:` only)"
    )]
    BadAddress { key: String, address: String },
    #[error(
        "config key `{key}`: `{address}` already names the network `{other}` (fix: give each network addresses of its own, \
         or commands naming it could not tell the networks apart)"
    )]
    SharedAddress { key: String, address: String, other: String },
}

impl IrcSection {
    /// The networks, checked.
    pub fn networks(self) -> Result<Vec<IrcConfig>, IrcConfigError> {
        let networks = match self {
            Self::One(config) => {
                check_addresses(std::slice::from_ref(&config), |_| "network.addresses".to_owned())?;
                return Ok(vec![config]);
            }
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
        check_addresses(&networks, |index| format!("network.networks[{index}].addresses"))?;
        Ok(networks)
    }
}

/// Every extra address looks like a host, and names no other network (by its name, server
/// or addresses). Two networks may share a `server` (the tests do): naming that address
/// is then refused as ambiguous when a command uses it.
fn check_addresses(networks: &[IrcConfig], key: impl Fn(usize) -> String) -> Result<(), IrcConfigError> {
    for (index, network) in networks.iter().enumerate() {
        for address in &network.addresses {
            let host_like = !address.is_empty() && address.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
            if !host_like {
                return Err(IrcConfigError::BadAddress { key: key(index), address: address.clone() });
            }
            let other = networks.iter().enumerate().find(|(i, n)| {
                *i != index && (n.name.eq_ignore_ascii_case(address) || n.addresses.iter().any(|a| a.eq_ignore_ascii_case(address)))
            });
            if let Some((_, other)) = other {
                return Err(IrcConfigError::SharedAddress { key: key(index), address: address.clone(), other: other.name.clone() });
            }
        }
    }
    Ok(())
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
    /// Other addresses of the network (its other servers, or the name users know it by,
    /// like `irc.example.net`): commands accept them, like the name and `server`, as the
    /// optional network argument (`join irc.example.net #rust`).
    #[serde(default)]
    pub addresses: Vec<String>,
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
    /// Whether a command's word names this network: its name, its server, or one of its
    /// other addresses (case-insensitive, as host names are).
    pub fn is_called(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word)
            || self.server.eq_ignore_ascii_case(word)
            || self.addresses.iter().any(|a| a.eq_ignore_ascii_case(word))
    }

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
    fn test_networks_are_called_by_name_server_or_address_and_addresses_are_checked() {
        let one = section(serde_json::json!({"name": "libera", "server": "irc.libera.chat", "addresses": ["irc.example.net"]})).unwrap();
        for word in ["libera", "LIBERA", "irc.libera.chat", "IRC.Example.NET"] {
            assert!(one[0].is_called(word), "{word}");
        }
        assert!(!one[0].is_called("#libera") && !one[0].is_called("irc.oftc.net"));

        let bad = section(serde_json::json!({"name": "a", "server": "x", "addresses": ["irc example"]})).unwrap_err();
        assert_eq!(bad, IrcConfigError::BadAddress { key: "network.addresses".into(), address: "irc example".into() });
        assert!(section(serde_json::json!({"server": "x", "addresses": ["#chan"]})).is_err(), "a channel is no address");
        let shared = section(serde_json::json!({"networks": [
            {"name": "a", "server": "x", "addresses": ["irc.example.net"]},
            {"name": "b", "server": "x", "addresses": ["IRC.example.net"]}
        ]}))
        .unwrap_err();
        assert!(shared.to_string().contains("network.networks[0].addresses") && shared.to_string().contains("`b`"), "{shared}");
        let named =
            section(serde_json::json!({"networks": [{"name": "a", "server": "x", "addresses": ["b"]}, {"name": "b", "server": "y"}]}));
        assert!(named.is_err(), "an address may not be another network's name");
        let same_server = section(serde_json::json!({"networks": [{"name": "a", "server": "x"}, {"name": "b", "server": "x"}]}));
        assert!(same_server.is_ok(), "two networks may share a server (then naming it is ambiguous)");
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
