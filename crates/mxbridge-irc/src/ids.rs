//! The remote IDs of IRC chats and users. A bridge serving one IRC network names them by
//! channel and nick alone (`#rust`, `alice`), as it always did. A bridge serving several
//! puts the network's name and a dot in front (`libera.#rust`, `libera.alice`): network
//! names have no dot, and nicks never contain one, so the first dot splits them. Logins
//! are `<network>:<Matrix user>` either way.

use mxbridge_core::ids::{LoginId, RemoteChatId, RemoteUserId};
use mxbridge_core::network::event::Sender;
use ruma::UserId;

use crate::nick::casefold;

/// How one network's IDs are written.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdScheme {
    /// Empty for a bridge of one network, else `<name>.`.
    prefix: String,
}

impl IdScheme {
    /// Bare channel names and nicks: the bridge serves this network only.
    pub(crate) fn bare() -> Self {
        Self::default()
    }

    /// IDs that start with the network's name.
    pub(crate) fn named(network: &str) -> Self {
        Self { prefix: format!("{network}.") }
    }

    /// The chat of a channel (IRC channel names are case-insensitive).
    pub(crate) fn channel(&self, channel: &str) -> RemoteChatId {
        RemoteChatId::new(format!("{}{}", self.prefix, casefold(channel)))
    }

    /// The private chat with a nick.
    pub(crate) fn private(&self, nick: &str) -> RemoteChatId {
        RemoteChatId::new(format!("{}{}", self.prefix, casefold(nick)))
    }

    /// The remote user behind a nick.
    pub(crate) fn user(&self, nick: &str) -> RemoteUserId {
        RemoteUserId::new(format!("{}{}", self.prefix, casefold(nick)))
    }

    /// A nick as the sender of an event, shown as written.
    pub(crate) fn sender(&self, nick: &str) -> Sender {
        Sender::named(self.user(nick), nick)
    }

    /// A chat ID that only names this network: enough for the core to pick or make a
    /// user's login on it.
    pub(crate) fn any_chat(&self) -> RemoteChatId {
        RemoteChatId::new(self.prefix.clone())
    }

    /// The channel or nick a chat of this network is about.
    pub(crate) fn target<'a>(&self, chat: &'a RemoteChatId) -> &'a str {
        self.strip(chat.as_str())
    }

    /// The nick of a remote user of this network.
    pub(crate) fn nick<'a>(&self, user: &'a RemoteUserId) -> &'a str {
        self.strip(user.as_str())
    }

    fn strip<'a>(&self, id: &'a str) -> &'a str {
        id.strip_prefix(&self.prefix).unwrap_or(id)
    }
}

/// The network named at the start of an ID of a bridge with several networks.
pub(crate) fn network_of(id: &str) -> Option<&str> {
    id.split_once('.').map(|(network, _)| network)
}

/// The login of a Matrix user (a puppet, or the bot's relay connection) on a network.
pub(crate) fn login_id(network: &str, user: &UserId) -> LoginId {
    LoginId::new(format!("{network}:{user}"))
}

/// The network a login is on.
pub(crate) fn network_of_login(login: &LoginId) -> Option<&str> {
    login.as_str().split_once(':').map(|(network, _)| network)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_one_network_keeps_bare_ids_and_several_prefix_them_reversibly() {
        let bare = IdScheme::bare();
        assert_eq!(bare.channel("#Rust[]").as_str(), "#rust{}");
        assert_eq!(bare.user("Alice").as_str(), "alice");
        assert_eq!(bare.target(&bare.channel("#a.b")), "#a.b");

        let libera = IdScheme::named("libera");
        let chat = libera.channel("#Rust.Dev");
        assert_eq!(chat.as_str(), "libera.#rust.dev");
        assert_eq!(libera.target(&chat), "#rust.dev", "a dot in the channel name stays");
        assert_eq!(network_of(chat.as_str()), Some("libera"), "the first dot splits");
        assert_eq!(libera.nick(&libera.user("Bob")), "bob");
        assert_eq!(libera.private("Bob").as_str(), "libera.bob");
        assert_eq!(network_of(libera.any_chat().as_str()), Some("libera"));
        let login = login_id("libera", ruma::user_id!("@alice:hs"));
        assert_eq!((login.as_str(), network_of_login(&login)), ("libera:@alice:hs", Some("libera")));
        let sender = libera.sender("Bob");
        assert_eq!(sender.id.as_str(), "libera.bob");
        assert_eq!(sender.info.and_then(|i| i.display_name).as_deref(), Some("Bob"), "shown as written");
    }
}
