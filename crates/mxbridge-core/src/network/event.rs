//! Events a network reports to the core, as plain data.
//!
//! The network never touches Matrix: it sends one [`RemoteEvent`] per thing that happened,
//! and the core does all Matrix work, in order per portal.

use tokio::sync::mpsc;

use super::{ChatInfo, UserInfo};
use crate::ids::{LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use crate::network::content::{Content, Media};

/// Who did something on the remote side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The remote user.
    pub id: RemoteUserId,
    /// Profile to give the ghost, when the event carries one (IRC nick, push name).
    pub info: Option<UserInfo>,
    /// True when this is the logged-in user's own account acting from another client; the
    /// core then shows it as that Matrix user's message where it can (double puppeting) or
    /// skips it when it is an echo of a message the bridge sent.
    pub is_self: bool,
}

impl Sender {
    /// A remote user with no profile information in the event.
    pub fn user(id: impl Into<RemoteUserId>) -> Self {
        Self { id: id.into(), info: None, is_self: false }
    }

    /// A remote user with a display name.
    pub fn named(id: impl Into<RemoteUserId>, name: impl Into<String>) -> Self {
        Self { id: id.into(), info: Some(UserInfo { display_name: Some(name.into()), avatar: None }), is_self: false }
    }
}

/// One message of a chat's past, for a new portal's history (backfill): what a
/// [`RemoteEvent::Message`] carries, with the time it was sent.
#[derive(Clone, Debug)]
pub struct HistoryMessage {
    /// Who sent it.
    pub sender: Sender,
    /// Its remote id, so later replies, edits and reactions find it.
    pub id: RemoteMessageId,
    /// When it was sent, in milliseconds since the epoch (the Matrix event's timestamp).
    pub timestamp_ms: i64,
    /// What it says.
    pub content: Content,
    /// The message it replies to.
    pub reply_to: Option<RemoteMessageId>,
}

impl HistoryMessage {
    /// The history message of a [`RemoteEvent::Message`]; `None` for other events (edits,
    /// reactions), which have no place in a new room's history, and for messages without a
    /// timestamp, whose place in it is unknown.
    pub fn from_event(event: RemoteEvent) -> Option<Self> {
        match event {
            RemoteEvent::Message { sender, id, timestamp_ms: Some(timestamp_ms), content, reply_to, .. } => {
                Some(Self { sender, id, timestamp_ms, content, reply_to })
            }
            _ => None,
        }
    }
}

/// The state of one login's connection, shown to its user in the management room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginState {
    /// Connected and bridging.
    Connected,
    /// Lost the connection; the network is reconnecting by itself.
    TransientDisconnect(String),
    /// The remote side refused the credentials: the user must log in again.
    BadCredentials(String),
    /// Logged out from the remote side, or the session was dropped: the core forgets the
    /// login (a restart does not load it again) and tells its owner to log in again.
    LoggedOut(String),
}

/// Membership changes in a remote chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Joined the chat.
    Join,
    /// Left the chat.
    Leave,
}

/// Something that happened on the remote network.
#[derive(Clone, Debug)]
pub enum RemoteEvent {
    /// A new message.
    Message {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// Its remote id, for later edits, replies, reactions and deletion.
        id: RemoteMessageId,
        /// When, in milliseconds since the epoch (sent as `ts`).
        timestamp_ms: Option<i64>,
        /// What.
        content: Content,
        /// The message it replies to.
        reply_to: Option<RemoteMessageId>,
    },
    /// A message was edited.
    Edit {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// The edited message.
        target: RemoteMessageId,
        /// The new content.
        content: Content,
    },
    /// A reaction was added.
    Reaction {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// The message reacted to.
        target: RemoteMessageId,
        /// The emoji or key.
        key: String,
    },
    /// A reaction was removed.
    ReactionRemoved {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// The message reacted to.
        target: RemoteMessageId,
        /// The emoji or key.
        key: String,
    },
    /// A message was deleted.
    Deleted {
        /// Where.
        chat: PortalKey,
        /// Who deleted it.
        sender: Sender,
        /// The deleted message.
        target: RemoteMessageId,
    },
    /// Someone is typing (or stopped).
    Typing {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// Typing or stopped.
        typing: bool,
    },
    /// Someone read up to a message.
    Read {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// The last message read.
        up_to: RemoteMessageId,
    },
    /// Someone joined or left a chat.
    Member {
        /// Where.
        chat: PortalKey,
        /// Who.
        sender: Sender,
        /// Joined or left.
        membership: Membership,
    },
    /// A member's role changed (IRC op or voice given or taken).
    RoleChanged {
        /// Where.
        chat: PortalKey,
        /// Whose role; `None` for the login's own Matrix user (whose Matrix power level then
        /// follows, so IRC ops can moderate from Matrix).
        sender: Option<Sender>,
        /// The new role.
        role: crate::network::Role,
    },
    /// A remote user's availability changed (IRC away-notify, XMPP presence).
    Presence {
        /// Who.
        sender: Sender,
        /// Available (online) or away.
        available: bool,
        /// Their status or away message.
        status: Option<String>,
    },
    /// A remote user's profile was fetched or changed (an XMPP vCard): the ghost takes the
    /// display name in `sender.info`, and the picture as its avatar.
    Profile {
        /// Who, with the name to show in `info` when known.
        sender: Sender,
        /// The avatar as bytes, for networks that hand out pictures rather than links: the
        /// core uploads it to the homeserver's media repository (once per picture and ghost:
        /// the same bytes again change nothing). `None` keeps the current avatar.
        avatar: Option<Media>,
    },
    /// A remote user took their picture away: the ghost's avatar goes too, when the bridge
    /// set it (an avatar from elsewhere stays).
    AvatarRemoved {
        /// Whose picture.
        sender: Sender,
    },
    /// The login's own account was removed from the chat (kicked, banned): its Matrix user
    /// leaves the portal room too.
    Removed {
        /// Where.
        chat: PortalKey,
        /// Who removed it, when known.
        by: Option<Sender>,
        /// Why, as the network said.
        reason: String,
    },
    /// The chat's name, topic or avatar changed, or it was seen for the first time.
    ChatChanged {
        /// Which chat.
        chat: PortalKey,
        /// Who changed it, when known.
        sender: Option<Sender>,
        /// The new information.
        info: ChatInfo,
    },
    /// The login's connection state changed.
    LoginState(LoginState),
    /// Something the login's owner should know that belongs to no chat (the phone has been
    /// offline for days, a call came in that cannot be bridged): shown in their management
    /// room.
    Notice {
        /// What to tell them, with what to do next where there is something to do.
        text: String,
    },
}

impl RemoteEvent {
    /// The portal this event belongs to, if any.
    pub fn portal(&self) -> Option<&PortalKey> {
        match self {
            Self::Message { chat, .. }
            | Self::Edit { chat, .. }
            | Self::Reaction { chat, .. }
            | Self::ReactionRemoved { chat, .. }
            | Self::Deleted { chat, .. }
            | Self::Typing { chat, .. }
            | Self::Read { chat, .. }
            | Self::Member { chat, .. }
            | Self::RoleChanged { chat, .. }
            | Self::Removed { chat, .. }
            | Self::ChatChanged { chat, .. } => Some(chat),
            Self::LoginState(_) | Self::Presence { .. } | Self::Profile { .. } | Self::AvatarRemoved { .. } | Self::Notice { .. } => None,
        }
    }
}

/// Where a network client sends its events. Cloneable; stamped with the login it belongs to.
#[derive(Clone, Debug)]
pub struct EventSink {
    login: LoginId,
    tx: mpsc::UnboundedSender<(LoginId, RemoteEvent)>,
}

impl EventSink {
    /// A sink feeding `tx`. The bridge makes one per login; benchmarks and tests that drive a
    /// network without a bridge make their own.
    pub fn new(login: LoginId, tx: mpsc::UnboundedSender<(LoginId, RemoteEvent)>) -> Self {
        Self { login, tx }
    }

    /// The login this sink reports for.
    pub fn login(&self) -> &LoginId {
        &self.login
    }

    /// Reports an event. Returns false once the bridge is shutting down; the network should
    /// then stop reading.
    pub fn send(&self, event: RemoteEvent) -> bool {
        self.tx.send((self.login.clone(), event)).is_ok()
    }
}
