//! Telegram ids as the core's opaque ids.
//!
//! - Remote users: the decimal Telegram user id (`1002`), so ghosts are `@telegram_1002:domain`
//!   with the default `username_template`.
//! - Chats: `user:<id>` (private chat with that user), `chat:<id>` (basic group),
//!   `channel:<id>` (supergroup or channel). Every portal is owned by the login that sees
//!   it, since Telegram message ids and access rights are per account.
//! - Messages: the decimal Telegram message id, unique within its chat for one account.
//! - Logins: `telegram:<own user id>`.
//!
//! These are stored, so changing them needs a migration.

use mxbridge_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};

use crate::backend::Peer;

/// The chat id of a peer.
pub fn chat_id(peer: Peer) -> RemoteChatId {
    RemoteChatId::new(match peer {
        Peer::User(id) => format!("user:{id}"),
        Peer::Group(id) => format!("chat:{id}"),
        Peer::Channel(id) => format!("channel:{id}"),
    })
}

/// The peer a chat id names.
pub fn peer_of(chat: &RemoteChatId) -> Option<Peer> {
    let (kind, id) = chat.as_str().split_once(':')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "user" => Some(Peer::User(id)),
        "chat" => Some(Peer::Group(id)),
        "channel" => Some(Peer::Channel(id)),
        _ => None,
    }
}

/// The remote user id of a Telegram user.
pub fn user_id(id: i64) -> RemoteUserId {
    RemoteUserId::new(id.to_string())
}

/// The Telegram user id of a remote user id.
pub fn telegram_user(user: &RemoteUserId) -> Option<i64> {
    user.as_str().parse().ok()
}

/// The remote id of a message.
pub fn message_id(id: i64) -> RemoteMessageId {
    RemoteMessageId::new(id.to_string())
}

/// The Telegram id of a message.
pub fn telegram_message(id: &RemoteMessageId) -> Option<i64> {
    id.as_str().parse().ok()
}

/// The login id of an account.
pub fn login_id(own_user_id: i64) -> LoginId {
    LoginId::new(format!("telegram:{own_user_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_chat_ids_round_trip_and_reject_junk() {
        for peer in [Peer::User(1002), Peer::Group(2001), Peer::Channel(-1003001)] {
            assert_eq!(peer_of(&chat_id(peer)), Some(peer));
        }
        assert_eq!(chat_id(Peer::User(7)).as_str(), "user:7");
        for junk in ["user:", "user:x", "group:1", "1002", ""] {
            assert_eq!(peer_of(&RemoteChatId::new(junk)), None, "{junk}");
        }
        assert_eq!(telegram_user(&user_id(42)), Some(42));
        assert_eq!(telegram_message(&message_id(-5)), Some(-5));
    }
}
