//! The traits a network crate implements to plug into the core.
//!
//! One [`Network`] per process; one [`NetworkClient`] per logged-in remote account. A
//! client must implement the seven required methods to bridge text; everything else is an
//! optional capability that defaults to `None`, and the core turns "unsupported" into a
//! clear notice to the sender. Networks report what happens remotely as
//! [`event::RemoteEvent`] data and never call Matrix themselves.

mod capabilities;
pub mod content;
mod context;
pub mod event;
pub mod gateway;
pub mod login;
mod readers;

pub use capabilities::{
    Backfill, ChatMembership, ChatNames, DisplayNames, Edits, Location, Locations, MatrixPresence, Moderation, PresenceUpdates, Reactions,
    ReadReceipts, Redactions, ResolveIdentifier, Typing,
};
pub use context::{AutoLogins, GhostIds, NetworkContext, SessionStore, SessionStoreError, StoredLogin};
pub use readers::ChatReaders;

use std::sync::Arc;

use async_trait::async_trait;
use ruma::UserId;

use crate::commands::spec::CommandSpec;
use crate::ids::{LoginId, PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};
use content::Content;
use event::EventSink;
use login::{LoginError, LoginFlow, LoginProcess};

/// Static facts about a network.
#[derive(Clone, Debug)]
pub struct NetworkInfo {
    /// Short lowercase id, used as the third-party protocol id (`irc`, `xmpp`).
    pub id: String,
    /// Name shown to people (`IRC`, `WhatsApp`).
    pub display_name: String,
    /// One line about what the bridge connects to; shown by `help` and `version`.
    pub description: String,
}

/// A remote user's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// Name to show.
    pub display_name: Option<String>,
    /// Avatar: an `mxc://` URI or an `https://` URL the core may fetch.
    pub avatar: Option<String>,
}

/// A member's role in a remote chat, mapped to Matrix power levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Ordinary member (power level 0).
    Member,
    /// May speak where others may not, like IRC voice (power level 1).
    Voiced,
    /// Can moderate (power level 50).
    Moderator,
    /// Owns or administers the chat (power level 100 is kept for the bot: 95).
    Admin,
}

/// What sort of chat a portal is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatKind {
    /// A one-to-one chat with this remote user.
    Direct(RemoteUserId),
    /// A group chat, visible only to its members.
    Group,
    /// A public channel anyone may join.
    Channel,
    /// A channel where only its admins post (a Telegram channel): its portal is read-only
    /// for everyone below moderator.
    Broadcast,
}

impl ChatKind {
    /// Stored form.
    pub(crate) fn as_db(&self) -> &'static str {
        match self {
            Self::Direct(_) => "dm",
            Self::Group => "group",
            Self::Channel => "channel",
            Self::Broadcast => "broadcast",
        }
    }
}

/// Everything the core needs to create or update a portal room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatInfo {
    /// Room name; `None` for DMs (clients then show the other person).
    pub name: Option<String>,
    /// Room topic.
    pub topic: Option<String>,
    /// Room avatar (`mxc://` or `https://`).
    pub avatar: Option<String>,
    /// DM, group or channel.
    pub kind: ChatKind,
    /// Known members with their roles; ghosts are created and joined for them.
    pub members: Vec<ChatMember>,
}

impl ChatInfo {
    /// A DM with one remote user.
    pub fn direct(other: RemoteUserId, other_info: Option<UserInfo>) -> Self {
        Self {
            name: None,
            topic: None,
            avatar: None,
            kind: ChatKind::Direct(other.clone()),
            members: vec![ChatMember { id: other, info: other_info, role: Role::Member }],
        }
    }
}

/// A member of a remote chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMember {
    /// Who.
    pub id: RemoteUserId,
    /// Their profile, when known.
    pub info: Option<UserInfo>,
    /// Their role.
    pub role: Role,
}

/// A message from Matrix to send to the network.
#[derive(Clone, Debug)]
pub struct OutgoingMessage {
    /// Where.
    pub portal: PortalKey,
    /// What.
    pub content: Content,
    /// The remote message it replies to, when that message is bridged.
    pub reply_to: Option<RemoteMessageId>,
    /// Set when a relay login sends for a Matrix user who has no login of their own:
    /// the display name of the real sender, which the network puts in front of the text.
    pub relayed_for: Option<String>,
}

/// What the network says about a sent message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The remote id the message got.
    pub id: RemoteMessageId,
    /// When the network stamped it, if it says.
    pub timestamp_ms: Option<i64>,
    /// Set when the network got something other than what was sent (cut, turned into a
    /// link, sent as a new message): the sender is told, so nothing changes silently.
    pub note: Option<String>,
}

impl SentMessage {
    /// Sent as it was, with this id.
    pub fn new(id: RemoteMessageId) -> Self {
        Self { id, timestamp_ms: None, note: None }
    }
}

/// Why a network operation failed. Every variant is shown to the Matrix user.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The login is not connected right now.
    #[error("not connected to the network: {0}")]
    NotConnected(String),
    /// The chat, user or message does not exist remotely.
    #[error("not found: {0}")]
    NotFound(String),
    /// The remote side refused (no permission, banned, message too long).
    #[error("refused by the network: {0}")]
    Refused(String),
    /// The network cannot do this at all.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl NetworkError {
    /// What the user is told, with what to do next.
    pub fn user_message(&self) -> String {
        match self {
            Self::NotConnected(_) => {
                format!("{self}. The bridge reconnects by itself; send it again in a moment, or send `login` if you were logged out.")
            }
            Self::NotFound(_) => format!("{self}. Check the name and try again."),
            Self::Refused(_) | Self::Other(_) => format!("{self}."),
            Self::Unsupported(_) => format!("{self} on this network."),
        }
    }
}

/// A network-specific bot command being run (`!join #rust`, `list contacts`).
pub struct CommandCall<'a> {
    /// Who sent it.
    pub user: &'a UserId,
    /// The command name as declared in [`Network::commands`] (aliases resolved).
    pub name: &'a str,
    /// The arguments, already split shell-style.
    pub args: &'a [String],
    /// The sender's connected client, when they are logged in.
    pub client: Option<Arc<dyn NetworkClient>>,
    /// The portal it was sent in, when it was sent in one.
    pub portal: Option<&'a PortalKey>,
    /// Where portals' rooms are, for commands that link to them.
    pub portals: Option<&'a dyn PortalDirectory>,
    /// The command prefix as the user typed it (empty for a bare command in the DM with
    /// the bot): answers that name a command write it this way, see [`CommandCall::cmd`].
    pub prefix: &'a str,
}

impl CommandCall<'_> {
    /// A command (with its arguments) as this user writes commands, in backticks:
    /// `` `!nick <new nick>` `` after `!nick`, `` `nick <new nick>` `` after `nick`.
    pub fn cmd(&self, command: &str) -> String {
        format!("`{}{command}`", self.prefix)
    }
}

/// Looks up the Matrix rooms of portals.
#[async_trait]
pub trait PortalDirectory: Send + Sync {
    /// The room of a portal, if it has one.
    async fn room_of(&self, portal: &PortalKey) -> Option<ruma::OwnedRoomId>;
}

/// A network command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The network does not know this command.
    #[error("unknown command")]
    Unknown,
    /// Wrong arguments: the message is the usage line.
    #[error("usage: {0}")]
    Usage(String),
    /// The command ran and failed.
    #[error("{0}")]
    Failed(String),
}

/// One network. Constructed by the binary; must do no I/O in construction, `info`,
/// `login_flows` or `commands`.
#[async_trait]
pub trait Network: Send + Sync + 'static {
    /// Static facts.
    fn info(&self) -> NetworkInfo;

    /// The login flows offered; the first is the default for `login`.
    fn login_flows(&self) -> Vec<LoginFlow>;

    /// Network-specific bot commands, listed in `help` under the network's name.
    fn commands(&self) -> Vec<CommandSpec> {
        Vec::new()
    }

    /// Called once before any login is loaded (an XMPP component opens its stream here).
    async fn start(&self, _ctx: NetworkContext) -> Result<(), NetworkError> {
        Ok(())
    }

    /// Something happened in a gateway room (see [`gateway`]).
    async fn gateway_event(&self, _room: &ruma::RoomId, _event: gateway::GatewayEvent) {}

    /// Called once at shutdown, after every client was disconnected: what `start` opened
    /// is closed here, after what the clients sent on their way out went out.
    async fn stop(&self) {}

    /// Starts a login flow for a Matrix user. No I/O here: it happens in `start`.
    fn create_login(&self, user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError>;

    /// Rebuilds a client from a stored login. Must not connect: the core calls
    /// [`NetworkClient::connect`] afterwards. Events go to `events`.
    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError>;

    /// For networks where every Matrix user simply gets a connection (IRC): the login to
    /// create, without any login step, the first time a user needs one for `chat` (or for
    /// the bridge in general when `None`). `display_name` is the user's Matrix display name,
    /// when they have one, for networks that name the account after it (an IRC nick from
    /// `{displayname}[m]`). No I/O here.
    fn auto_login(&self, _user: &UserId, _chat: Option<&RemoteChatId>, _display_name: Option<&str>) -> Option<login::NewLogin> {
        None
    }

    /// The login the bot itself uses to relay in the plumbed `chat` for Matrix users without
    /// a login of their own (IRC: the bot's own connection); `None` relays through the login
    /// of the admin who plumbed. No I/O here.
    fn relay_login(&self, _bot: &UserId, _chat: &RemoteChatId) -> Option<login::NewLogin> {
        None
    }

    /// Whether a login can speak in a chat. A bridge serving several remote networks at
    /// once (IRC's `networks:`) gives each user one login per network, and a shared chat
    /// belongs to one of them.
    fn login_serves(&self, _login: &LoginId, _chat: &RemoteChatId) -> bool {
        true
    }

    /// Whether a command argument names this network (`join libera #rust`), so commands
    /// written for bridges with several networks work here too.
    fn is_network_name(&self, _word: &str) -> bool {
        false
    }

    /// Runs a command declared in `commands`.
    async fn run_command(&self, _call: CommandCall<'_>) -> Result<String, CommandError> {
        Err(CommandError::Unknown)
    }

    /// The id of a chat named by a user (`plumb #Rust`), normalised the way the network's
    /// events name it; `None` if it names no chat that may be bridged.
    fn chat_id(&self, name: &str) -> Option<RemoteChatId> {
        Some(RemoteChatId::new(name))
    }

    /// Like [`Network::chat_id`], for a command that also named the network (`plumb
    /// !room:hs libera #rust`), which matters when the bridge serves several.
    fn chat_id_on(&self, _network: Option<&str>, name: &str) -> Option<RemoteChatId> {
        self.chat_id(name)
    }

    /// The DM chat with a remote user, for a Matrix user who invites that user's ghost;
    /// `None` when the network cannot start DMs that way.
    fn dm_chat_for(&self, user: &RemoteUserId) -> Option<RemoteChatId> {
        Some(RemoteChatId::new(user.as_str()))
    }

    /// Which remote chat an alias localpart suffix names (`#_net_<suffix>:domain`), for
    /// alias queries; `None` if the suffix names no chat. The suffix arrives unescaped.
    fn chat_for_alias(&self, _suffix: &str) -> Option<RemoteChatId> {
        None
    }

    /// How this network's chat ids begin when they may stand in an alias as written
    /// (IRC: `#`, so `#_irc_#rust:domain` names `#rust` as in matrix-appservice-irc, beside
    /// the escaped `#_irc_=23rust:domain`). An alias whose text after the template's prefix
    /// begins with one of these is handed to [`Network::chat_for_alias`] as written, not
    /// unescaped; the registration claims such aliases too, and a portal of a chat whose id
    /// begins so is created with that literal alias. Each must contain a character the escaping
    /// never produces (anything but `a-z 0-9 . _ = - +`), or it is ignored. No I/O here: the
    /// registration is generated from it.
    fn literal_alias_starts(&self) -> Vec<String> {
        Vec::new()
    }

    /// Looks up a chat named by an alias before its portal is made, for networks that can
    /// ask without a user's login (an XMPP component asks a MUC service): `Ok(Some)` with
    /// what it is, `Err(NotFound)` when there is no such chat (the alias then does not
    /// exist), `Ok(None)` when the network cannot tell.
    async fn lookup_chat(&self, _chat: &RemoteChatId) -> Result<Option<ChatInfo>, NetworkError> {
        Ok(None)
    }

    /// The display name of the ghost of `remote`, who is called `name`; by default the
    /// name followed by the network's name in parentheses (`Alice (XMPP)`).
    fn ghost_display_name(&self, _remote: &RemoteUserId, name: &str) -> String {
        format!("{name} ({})", self.info().display_name)
    }

    /// Name of the DM the bot opens to report the state of `login` when its user has no
    /// management room yet (the guide's "<network> IRC Bridge status").
    fn status_room_name(&self, _login: &LoginId) -> String {
        format!("{} Bridge status", self.info().display_name)
    }
}

/// One logged-in remote account.
#[async_trait]
pub trait NetworkClient: Send + Sync {
    /// Connects. Failures are reported as `RemoteEvent::LoginState`, not returned, and the
    /// client keeps retrying on its own where that makes sense.
    async fn connect(&self);

    /// Disconnects, keeping the login (bridge shutdown).
    async fn disconnect(&self);

    /// Whether the client is logged in; cached, no I/O.
    fn is_logged_in(&self) -> bool;

    /// Logs out remotely and forgets the session.
    async fn logout(&self);

    /// Information about a chat, to create its portal.
    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError>;

    /// A remote user's profile.
    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError>;

    /// Sends a message.
    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError>;

    /// Editing messages, if the network has it.
    fn edits(&self) -> Option<&dyn Edits> {
        None
    }

    /// Reactions, if the network has them.
    fn reactions(&self) -> Option<&dyn Reactions> {
        None
    }

    /// Deleting messages, if the network has it.
    fn redactions(&self) -> Option<&dyn Redactions> {
        None
    }

    /// Typing notifications, if the network has them.
    fn typing(&self) -> Option<&dyn Typing> {
        None
    }

    /// Read receipts, if the network has them.
    fn read_receipts(&self) -> Option<&dyn ReadReceipts> {
        None
    }

    /// Showing the Matrix user's presence remotely, if the network has presence.
    fn presence(&self) -> Option<&dyn PresenceUpdates> {
        None
    }

    /// Resolving `pm <identifier>` to a DM, if the network has it.
    fn start_dm(&self) -> Option<&dyn ResolveIdentifier> {
        None
    }

    /// Leaving chats when the Matrix user leaves their room, if the network has it.
    fn chat_membership(&self) -> Option<&dyn ChatMembership> {
        None
    }

    /// Topic changes, kicks and bans by Matrix moderators, if the network has them.
    fn moderation(&self) -> Option<&dyn Moderation> {
        None
    }

    /// Renaming chats when a Matrix user renames their portal room, if the network has it.
    fn chat_names(&self) -> Option<&dyn ChatNames> {
        None
    }

    /// Sharing locations (Matrix `m.location`), if the network has them; without it a
    /// location is refused with a notice to the sender.
    fn locations(&self) -> Option<&dyn Locations> {
        None
    }

    /// Following the user's Matrix display name on the network, if the remote name comes
    /// from it.
    fn display_names(&self) -> Option<&dyn DisplayNames> {
        None
    }

    /// A chat's recent messages for the history of a new portal, if the network can tell
    /// them (Telegram's history, WhatsApp's history sync); without it new portals start empty.
    fn backfill(&self) -> Option<&dyn Backfill> {
        None
    }

    /// The account's current name on the network when it can change after login (an IRC
    /// nick); `None` keeps the name stored at login.
    fn remote_name(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ghost_ids_map_both_ways() {
        let template = crate::matrix::ghost_id::Template::parse("whatsapp_{{.}}").unwrap();
        let ghosts = GhostIds::new(template, ruma::OwnedServerName::try_from("example.org").unwrap());
        let user = ghosts.user_id(&RemoteUserId::new("447700900001"));
        assert_eq!(user.as_str(), "@whatsapp_447700900001:example.org");
        assert_eq!(ghosts.remote_of(user.as_str()), Some(RemoteUserId::new("447700900001")));
        assert_eq!(ghosts.remote_of("@whatsapp_1:other.org"), None, "another server's user is no ghost");
        assert_eq!(ghosts.remote_of("@alice:example.org"), None);
        assert_eq!(ghosts.remote_of("not a user id"), None);
    }
}
