//! Raw Telegram updates the bridge shows that grammers passes through untyped: typing,
//! the other side reading a private chat, incoming calls.

use grammers_client::tl;

use crate::backend::{Peer, TgUpdate, TgUser};

/// A user known only by id (typing, receipts, reactions, calls name no more): the empty
/// name tells the bridge to keep the name the ghost already has.
pub(crate) fn placeholder_user(id: i64) -> TgUser {
    TgUser { id, name: String::new(), username: None, phone: None, photo: None }
}

fn is_typing(action: &tl::enums::SendMessageAction) -> bool {
    !matches!(action, tl::enums::SendMessageAction::SendMessageCancelAction)
}

/// Our updates for a raw one (none for kinds the bridge ignores).
pub(crate) fn raw_update(raw: tl::enums::Update) -> Vec<TgUpdate> {
    use tl::enums::{Peer as TlPeer, PhoneCall, Update};
    match raw {
        Update::UserTyping(t) => {
            vec![TgUpdate::Typing { peer: Peer::User(t.user_id), user: placeholder_user(t.user_id), typing: is_typing(&t.action) }]
        }
        Update::ChatUserTyping(t) => match t.from_id {
            TlPeer::User(from) => {
                vec![TgUpdate::Typing { peer: Peer::Group(t.chat_id), user: placeholder_user(from.user_id), typing: is_typing(&t.action) }]
            }
            _ => Vec::new(),
        },
        // Supergroups (and their topics, shown in the one portal).
        Update::ChannelUserTyping(t) => match t.from_id {
            TlPeer::User(from) => vec![TgUpdate::Typing {
                peer: Peer::Channel(t.channel_id),
                user: placeholder_user(from.user_id),
                typing: is_typing(&t.action),
            }],
            _ => Vec::new(),
        },
        // In a private chat the other person read our messages; elsewhere Telegram does not
        // say who read.
        Update::ReadHistoryOutbox(r) => match r.peer {
            TlPeer::User(u) => {
                vec![TgUpdate::Read { peer: Peer::User(u.user_id), user: placeholder_user(u.user_id), up_to: i64::from(r.max_id) }]
            }
            _ => Vec::new(),
        },
        Update::PhoneCall(call) => match call.phone_call {
            PhoneCall::Requested(c) => vec![TgUpdate::IncomingCall { call_id: c.id, from: placeholder_user(c.admin_id), video: c.video }],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_typing_in_private_chats_groups_and_supergroups() {
        let typing = tl::enums::SendMessageAction::SendMessageTypingAction;
        let user = raw_update(tl::types::UpdateUserTyping { user_id: 5, top_msg_id: None, action: typing.clone() }.into());
        assert_eq!(user, vec![TgUpdate::Typing { peer: Peer::User(5), user: placeholder_user(5), typing: true }]);
        let from: tl::enums::Peer = tl::types::PeerUser { user_id: 6 }.into();
        let group = raw_update(
            tl::types::UpdateChatUserTyping {
                chat_id: 7,
                from_id: from.clone(),
                action: tl::enums::SendMessageAction::SendMessageCancelAction,
            }
            .into(),
        );
        assert_eq!(group, vec![TgUpdate::Typing { peer: Peer::Group(7), user: placeholder_user(6), typing: false }]);
        let supergroup = raw_update(
            tl::types::UpdateChannelUserTyping { channel_id: 8, top_msg_id: None, from_id: from, action: typing.clone() }.into(),
        );
        assert_eq!(supergroup, vec![TgUpdate::Typing { peer: Peer::Channel(8), user: placeholder_user(6), typing: true }]);
        let as_channel = tl::types::PeerChannel { channel_id: 9 }.into();
        let anonymous =
            raw_update(tl::types::UpdateChannelUserTyping { channel_id: 8, top_msg_id: None, from_id: as_channel, action: typing }.into());
        assert!(anonymous.is_empty(), "typing as a channel has no ghost");
    }

    #[test]
    fn test_reads_are_bridged_only_where_telegram_says_who_read() {
        let read = |peer: tl::enums::Peer| raw_update(tl::types::UpdateReadHistoryOutbox { peer, max_id: 42, pts: 0, pts_count: 0 }.into());
        assert_eq!(
            read(tl::types::PeerUser { user_id: 5 }.into()),
            vec![TgUpdate::Read { peer: Peer::User(5), user: placeholder_user(5), up_to: 42 }]
        );
        assert!(read(tl::types::PeerChat { chat_id: 7 }.into()).is_empty());
    }
}
