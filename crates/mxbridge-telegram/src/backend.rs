//! The crate's own view of Telegram: what the bridge logic needs from an account, written
//! once and implemented twice (the simulated network in `sim`, MTProto through grammers in
//! `real`). Everything above this trait (chat mapping, entities, commands, retries) is the
//! same for both, so the `*_sim` end-to-end tests exercise the logic the real backend runs.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::entities::Entity;

/// A Telegram chat as the bridge addresses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// A one-to-one chat with a user (their user id).
    User(i64),
    /// A basic group.
    Group(i64),
    /// A supergroup or broadcast channel.
    Channel(i64),
}

/// A Telegram user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgUser {
    /// Stable user id.
    pub id: i64,
    /// First and last name as shown in Telegram; empty when an update names the user only
    /// by id (the ghost then keeps its name).
    pub name: String,
    /// `@username`, without the `@`.
    pub username: Option<String>,
    /// International phone number, when visible.
    pub phone: Option<String>,
    /// The id of the user's current profile picture (`None`: no picture). Known without a
    /// download, so the bridge fetches a picture only when it changed.
    pub photo: Option<i64>,
}

/// What sort of chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TgChatKind {
    /// One-to-one.
    Private,
    /// Group or supergroup: everyone may write.
    Group,
    /// Broadcast channel: only admins write; bridged read-only.
    Channel,
}

/// A chat with what the bridge shows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgChat {
    /// Which chat.
    pub peer: Peer,
    /// Title (the other person's name for private chats).
    pub title: String,
    /// Private, group or channel.
    pub kind: TgChatKind,
    /// Members known to the account (for private chats: the other person).
    pub members: Vec<TgMember>,
    /// Description.
    pub about: Option<String>,
}

/// A chat member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgMember {
    /// Who.
    pub user: TgUser,
    /// Creator or admin.
    pub admin: bool,
}

/// A chat in the account's chat list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgDialog {
    /// The chat. As in Telegram's chat list, a group's members are not listed (ask
    /// [`TelegramAccount::chat`] for them); a channel lists the account itself.
    pub chat: TgChat,
    /// Unix seconds of its last message.
    pub last_message_at: i64,
}

/// Media categories Telegram distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TgMediaKind {
    /// A photo.
    Photo,
    /// A video.
    Video,
    /// A voice note.
    Voice,
    /// A sticker (bridged as an image).
    Sticker,
    /// Any other document.
    Document,
}

/// A file with its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TgFile {
    /// Category.
    pub kind: TgMediaKind,
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for TgFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TgFile({:?}, {}, {} bytes)", self.kind, self.mime, self.data.len())
    }
}

/// Text with Telegram's formatting entities (offsets in UTF-16 code units).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormattedText {
    /// The text.
    pub text: String,
    /// Formatting over ranges of it.
    pub entities: Vec<Entity>,
}

impl FormattedText {
    /// Text without formatting.
    pub fn plain(text: impl Into<String>) -> Self {
        Self { text: text.into(), entities: Vec::new() }
    }
}

/// A message in a chat.
#[derive(Clone, Debug, PartialEq)]
pub struct TgMessage {
    /// The chat.
    pub peer: Peer,
    /// Message id, unique within the chat.
    pub id: i64,
    /// Who sent it.
    pub sender: TgUser,
    /// Sent by the logged-in account (from another device, or an echo of a bridge send).
    pub outgoing: bool,
    /// Unix seconds.
    pub date: i64,
    /// Text or caption.
    pub text: FormattedText,
    /// The message it replies to.
    pub reply_to: Option<i64>,
    /// An attached file.
    pub media: Option<TgFile>,
    /// A shared location (latitude, longitude).
    pub location: Option<(f64, f64)>,
}

/// What the bridge sends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TgOutgoing {
    /// Text or caption.
    pub text: FormattedText,
    /// Replying to.
    pub reply_to: Option<i64>,
    /// An attached file.
    pub media: Option<TgFile>,
    /// A location to share instead (latitude, longitude).
    pub location: Option<(f64, f64)>,
}

/// The connection of an account as the backend sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Connected and receiving updates.
    Connected,
    /// Lost; the backend is reconnecting with backoff.
    Reconnecting(String),
    /// The session was revoked (logged out from another device): a new login is needed.
    Revoked(String),
}

/// Something that happened to the account.
#[derive(Clone, Debug, PartialEq)]
pub enum TgUpdate {
    /// A new message.
    NewMessage(TgMessage),
    /// A message was edited (its new text).
    Edited(TgMessage),
    /// Messages were deleted.
    Deleted {
        /// Where.
        peer: Peer,
        /// Which.
        ids: Vec<i64>,
    },
    /// A user's reaction to a message changed (`None`: removed).
    Reaction {
        /// Where.
        peer: Peer,
        /// Which message.
        id: i64,
        /// Who.
        user: TgUser,
        /// The emoji now set, or `None` when removed.
        emoji: Option<String>,
        /// The emoji that was set before, when it was replaced or removed.
        previous: Option<String>,
    },
    /// Someone is typing.
    Typing {
        /// Where.
        peer: Peer,
        /// Who.
        user: TgUser,
        /// Typing or stopped.
        typing: bool,
    },
    /// Someone read the chat up to a message.
    Read {
        /// Where.
        peer: Peer,
        /// Who.
        user: TgUser,
        /// Up to which message.
        up_to: i64,
    },
    /// Someone calls (calls are not bridged).
    IncomingCall {
        /// The call's id, to tell the user once per call.
        call_id: i64,
        /// Who calls.
        from: TgUser,
        /// Video or voice.
        video: bool,
    },
    /// The connection changed.
    Connection(Connection),
}

/// Why a Telegram call failed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// Telegram asks to wait before the next call (FLOOD_WAIT_X).
    #[error("Telegram asks to wait {0} s (flood control)")]
    FloodWait(u64),
    /// Not connected right now.
    #[error("not connected to Telegram: {0}")]
    Unreachable(String),
    /// The session is no longer valid.
    #[error("the Telegram session is no longer valid: {0}")]
    Revoked(String),
    /// No such user, chat or message.
    #[error("not found: {0}")]
    NotFound(String),
    /// Telegram refused (no rights, channel is read-only).
    #[error("Telegram refused: {0}")]
    Refused(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Why a phone number was not accepted.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeRequestError {
    /// The number is malformed or unknown to Telegram.
    #[error("Telegram does not accept this phone number")]
    InvalidPhone,
    /// The number has no account (sign-up is done in the official app).
    #[error("this number has no Telegram account: sign up in the Telegram app first")]
    NotRegistered,
    /// Anything else (unreachable, flood wait).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// How signing in went wrong.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignInError {
    /// The code is wrong.
    #[error("the code is wrong")]
    InvalidCode,
    /// The code expired: a new one must be requested.
    #[error("the code expired")]
    CodeExpired,
    /// The account has a 2FA password; `hint` is its hint.
    #[error("the account has a two-step verification password")]
    PasswordRequired {
        /// The password hint the user set, if any.
        hint: Option<String>,
    },
    /// The 2FA password is wrong.
    #[error("the password is wrong")]
    InvalidPassword,
    /// Anything else.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A finished sign-in.
pub struct Authorized {
    /// The account's own user.
    pub me: TgUser,
    /// The serialised session; the core stores it encrypted.
    pub session: Vec<u8>,
}

/// One phone login in progress (state such as Telegram's login token lives inside).
#[async_trait]
pub trait LoginAttempt: Send {
    /// Asks Telegram to send a login code to `phone` (international format).
    async fn request_code(&mut self, phone: &str) -> Result<(), CodeRequestError>;
    /// Signs in with the code.
    async fn sign_in(&mut self, code: &str) -> Result<Authorized, SignInError>;
    /// Finishes a sign-in that needs the 2FA password.
    async fn check_password(&mut self, password: &str) -> Result<Authorized, SignInError>;
    /// Gives up, releasing the connection.
    async fn cancel(&mut self);
}

/// A QR login in progress: Telegram shows the token as a `tg://login?token=` link.
#[async_trait]
pub trait QrAttempt: Send {
    /// The current link to show as a QR code.
    async fn token_link(&mut self) -> Result<String, BackendError>;
    /// Waits until the code is scanned (`Some`) or the link expires (`None`: show a new one).
    async fn wait_scan(&mut self) -> Result<Option<Authorized>, SignInError>;
    /// Finishes a scanned login that needs the 2FA password.
    async fn check_password(&mut self, password: &str) -> Result<Authorized, SignInError>;
    /// Gives up.
    async fn cancel(&mut self);
}

/// A Telegram implementation the bridge logic runs on.
pub trait TelegramBackend: Send + Sync {
    /// Starts a phone login. No I/O until the first step.
    fn phone_login(&self) -> Box<dyn LoginAttempt>;
    /// Starts a QR login, where the backend can do it.
    fn qr_login(&self, matrix_user: &str) -> Option<Box<dyn QrAttempt>>;
    /// Rebuilds an account from a stored session. Must not connect.
    fn restore(&self, session: &[u8], store: crate::session::AccountStore) -> Result<std::sync::Arc<dyn TelegramAccount>, BackendError>;
}

/// One logged-in Telegram account.
#[async_trait]
pub trait TelegramAccount: Send + Sync {
    /// The account's own user (known from the session, no I/O).
    fn me(&self) -> TgUser;
    /// Connects and sends updates to `updates` until `disconnect` or `log_out`, reconnecting
    /// with backoff by itself; connection changes arrive as [`TgUpdate::Connection`].
    async fn connect(&self, updates: mpsc::UnboundedSender<TgUpdate>);
    /// Disconnects, keeping the session.
    async fn disconnect(&self);
    /// Ends the session on Telegram's side (connecting once if needed) and disconnects; an
    /// error when Telegram did not confirm, so the user can end it in the Telegram app.
    async fn log_out(&self) -> Result<(), BackendError>;
    /// The most recent chats, newest first.
    async fn dialogs(&self, limit: usize) -> Result<Vec<TgDialog>, BackendError>;
    /// One chat with its members.
    async fn chat(&self, peer: Peer) -> Result<TgChat, BackendError>;
    /// The chat's last `limit` messages (at most), oldest first (`messages.getHistory`).
    async fn history(&self, peer: Peer, limit: usize) -> Result<Vec<TgMessage>, BackendError>;
    /// One user.
    async fn user(&self, id: i64) -> Result<TgUser, BackendError>;
    /// The account's contacts.
    async fn contacts(&self) -> Result<Vec<TgUser>, BackendError>;
    /// Downloads the user's current profile picture; `None` when they have none.
    async fn profile_photo(&self, user: &TgUser) -> Result<Option<TgFile>, BackendError>;
    /// The user with this phone number (international format); `None` when not on Telegram.
    async fn resolve_phone(&self, phone: &str) -> Result<Option<TgUser>, BackendError>;
    /// The user with this `@username`; `None` when there is none.
    async fn resolve_username(&self, username: &str) -> Result<Option<TgUser>, BackendError>;
    /// Sends a message; returns its id.
    async fn send(&self, peer: Peer, message: TgOutgoing) -> Result<i64, BackendError>;
    /// Edits a sent message.
    async fn edit(&self, peer: Peer, id: i64, text: FormattedText) -> Result<(), BackendError>;
    /// Deletes messages for everyone.
    async fn delete(&self, peer: Peer, ids: &[i64]) -> Result<(), BackendError>;
    /// Sets (or with `None` removes) the account's reaction to a message.
    async fn react(&self, peer: Peer, id: i64, emoji: Option<&str>) -> Result<(), BackendError>;
    /// Shows or stops "typing…".
    async fn set_typing(&self, peer: Peer, typing: bool) -> Result<(), BackendError>;
    /// Marks the chat read up to a message.
    async fn mark_read(&self, peer: Peer, up_to: i64) -> Result<(), BackendError>;
}
