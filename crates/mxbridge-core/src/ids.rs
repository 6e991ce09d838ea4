//! Identifiers of remote things, as opaque newtypes.
//!
//! Contract: only network crates create these values, and the core never parses them. Each
//! value must be stable for as long as the remote thing exists and unique within its scope
//! (a chat id among chats, a message id within its chat). They are stored in the database,
//! so changing a network's id format needs a migration.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a network-chosen id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as the network wrote it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}

opaque_id!(
    /// A remote chat: an IRC channel, an XMPP MUC, a Telegram group, a one-to-one chat.
    RemoteChatId
);
opaque_id!(
    /// A remote user. Its ghost's Matrix ID is derived from it, so it must be stable.
    RemoteUserId
);
opaque_id!(
    /// One remote message, unique within its chat.
    RemoteMessageId
);
opaque_id!(
    /// One remote account of one Matrix user. Chosen by the network when a login completes
    /// (a phone number, a JID, `nick@network`), unique across the bridge.
    LoginId
);

/// Which portal a remote chat maps to.
///
/// `receiver` is empty for chats that every user of the bridge shares (an IRC channel);
/// it names a login for chats that exist once per account (a DM, a Telegram chat as seen
/// by one account), so two users with the same contact get two portals.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortalKey {
    /// The remote chat.
    pub chat: RemoteChatId,
    /// The login that owns this view of the chat, or empty when shared.
    pub receiver: String,
}

impl PortalKey {
    /// A chat that all users of the bridge share.
    pub fn shared(chat: impl Into<RemoteChatId>) -> Self {
        Self { chat: chat.into(), receiver: String::new() }
    }

    /// A chat as one login sees it.
    pub fn owned_by(chat: impl Into<RemoteChatId>, login: &LoginId) -> Self {
        Self { chat: chat.into(), receiver: login.as_str().to_owned() }
    }
}

impl fmt::Display for PortalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.receiver.is_empty() { write!(f, "{}", self.chat) } else { write!(f, "{}/{}", self.chat, self.receiver) }
    }
}
