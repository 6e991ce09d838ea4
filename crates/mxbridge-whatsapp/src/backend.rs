//! The seam between the bridge logic and a WhatsApp implementation.
//!
//! Everything the bridge does (ids, portals, message conversion, commands, the phone-offline
//! warning) is written once against [`WhatsAppBackend`] and [`WhatsAppSession`]. Two
//! implementations exist: `sim` (a deterministic simulated network) and `real`
//! (whatsapp-rust). A session reports what happens as [`BackendEvent`]s on a channel, in
//! order, never through callbacks into the bridge.

use std::sync::Arc;

use async_trait::async_trait;
use mxbridge_core::network::content::MediaKind;
use tokio::sync::mpsc;

use crate::jid::Jid;
use crate::markup::WaText;

/// A backend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Not connected to WhatsApp right now.
    #[error("not connected to WhatsApp")]
    NotConnected,
    /// The chat, user or message does not exist.
    #[error("{0}")]
    NotFound(String),
    /// WhatsApp refused.
    #[error("WhatsApp refused: {0}")]
    Refused(String),
    /// The local session store failed.
    #[error("the session store failed: {0}")]
    Store(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The linked account.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// Phone number, digits only.
    pub number: String,
    /// The name the user set in the app.
    pub push_name: String,
}

/// A contact in the address book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Phone number, digits only.
    pub number: String,
    /// Name in the address book, or their push name.
    pub name: String,
}

/// A group member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Phone number, digits only.
    pub number: String,
    /// Whether they administer the group.
    pub admin: bool,
}

/// A group the account is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Its JID.
    pub jid: Jid,
    /// Its name.
    pub subject: String,
    /// Its description.
    pub topic: Option<String>,
    /// Its members, the account included.
    pub participants: Vec<Participant>,
}

/// A chat with recent activity, reported after a login (history sync).
#[derive(Clone, Debug, PartialEq)]
pub struct RecentChat {
    /// The chat.
    pub jid: Jid,
    /// Its last message, in milliseconds since the epoch.
    pub last_activity_ms: i64,
    /// Its last messages as the history sync carries them, oldest first: the history its
    /// portal shows (backfill).
    pub messages: Vec<InboundMessage>,
}

/// How to link the bridge as a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairMethod {
    /// Show QR codes to scan.
    Qr,
    /// Show a pairing code to type in the app of this number (digits only).
    Phone(String),
}

/// A request to link a device.
#[derive(Clone, Debug)]
pub struct PairRequest {
    /// QR or pairing code.
    pub method: PairMethod,
    /// Shown in the phone's list of linked devices.
    pub device_name: String,
    /// The Matrix user linking (the simulated network derives its fake account from it, so
    /// users get distinct accounts; the real backend ignores it).
    pub requester: String,
}

/// Progress of a device link. Its `Debug` leaves the session's bytes out.
#[derive(Clone)]
pub enum PairingUpdate {
    /// A (new) QR code to show.
    Qr(String),
    /// The pairing code to type in the app.
    Code(String),
    /// Linked; `session` is what [`WhatsAppBackend::open`] needs later (kept secret).
    Paired {
        /// The linked account.
        account: Account,
        /// Opaque data the backend needs to reopen the session.
        session: Vec<u8>,
    },
    /// All codes expired without a scan.
    Expired,
    /// WhatsApp refused the link.
    Failed(String),
}

impl std::fmt::Debug for PairingUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Qr(code) => f.debug_tuple("Qr").field(code).finish(),
            Self::Code(code) => f.debug_tuple("Code").field(code).finish(),
            // The session opens the account: it must never reach a log.
            Self::Paired { account, session } => {
                f.debug_struct("Paired").field("account", account).field("session", &format_args!("<{} bytes>", session.len())).finish()
            }
            Self::Expired => f.write_str("Expired"),
            Self::Failed(why) => f.debug_tuple("Failed").field(why).finish(),
        }
    }
}

/// A file in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaMedia {
    /// Image, video, audio or document.
    pub kind: MediaKind,
    /// Sticker (an image without caption, shown small).
    pub sticker: bool,
    /// Voice note (audio recorded in the app).
    pub voice: bool,
    /// MIME type.
    pub mime: String,
    /// File name.
    pub name: String,
    /// The bytes (downloaded and decrypted).
    pub data: Vec<u8>,
}

/// What an incoming message carries.
#[derive(Clone, Debug, PartialEq)]
pub enum InboundKind {
    /// Text, possibly replying to another message.
    Text {
        /// The text.
        text: WaText,
        /// The message it quotes.
        reply_to: Option<String>,
    },
    /// A file with an optional caption.
    Media {
        /// The file.
        media: WaMedia,
        /// Its caption.
        caption: WaText,
        /// The message it quotes.
        reply_to: Option<String>,
    },
    /// A shared location.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// Place name, when given.
        name: Option<String>,
    },
    /// A shared contact card.
    ContactCard {
        /// Name on the card.
        name: String,
        /// Number on the card.
        number: Option<String>,
        /// The card itself (vCard text), which reaches Matrix as a `.vcf` file to import.
        vcard: Option<String>,
    },
    /// An edit of an earlier message.
    Edit {
        /// The edited message.
        target: String,
        /// Its new text.
        text: WaText,
    },
    /// A reaction; an empty emoji removes the sender's reaction.
    Reaction {
        /// The message reacted to.
        target: String,
        /// The emoji.
        emoji: String,
    },
    /// The sender deleted a message for everyone.
    Revoke {
        /// The deleted message.
        target: String,
    },
}

/// One incoming message.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundMessage {
    /// The chat.
    pub chat: Jid,
    /// Who sent it (number).
    pub sender: String,
    /// Their push name, when the message carries it.
    pub push_name: Option<String>,
    /// Message id.
    pub id: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Sent by the account itself from another device.
    pub from_me: bool,
    /// What it carries.
    pub kind: InboundKind,
}

/// Something that happened on WhatsApp.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendEvent {
    /// Connected (again).
    Connected,
    /// Lost the connection; the session reconnects with backoff by itself.
    Disconnected(String),
    /// WhatsApp unlinked the device (logged out from the phone, 14 days offline).
    LoggedOut(String),
    /// The primary phone was seen online at this time (milliseconds since the epoch).
    PhoneSeen(i64),
    /// Chats with recent activity, after a new login.
    RecentChats(Vec<RecentChat>),
    /// Names learnt while connected (the phone's address book, push names), the best known
    /// per number.
    Contacts(Vec<Contact>),
    /// A message.
    Message(InboundMessage),
    /// Someone read messages.
    Receipt {
        /// The chat.
        chat: Jid,
        /// Who read (number).
        reader: String,
        /// The messages read; the last is the newest.
        ids: Vec<String>,
    },
    /// Someone started or stopped typing.
    Typing {
        /// The chat.
        chat: Jid,
        /// Who (number).
        sender: String,
        /// Typing or stopped.
        typing: bool,
    },
    /// People joined or left a group.
    GroupMembers {
        /// The group.
        group: Jid,
        /// Numbers that joined.
        joined: Vec<String>,
        /// Numbers that left or were removed.
        left: Vec<String>,
        /// Who added or removed them (number), when WhatsApp says.
        by: Option<String>,
    },
    /// People were made admins of a group, or stopped being admins.
    GroupAdmins {
        /// The group.
        group: Jid,
        /// Numbers made admins.
        promoted: Vec<String>,
        /// Numbers no longer admins.
        demoted: Vec<String>,
    },
    /// A group's description changed (`None`: removed).
    GroupTopic {
        /// The group.
        group: Jid,
        /// The new description.
        topic: Option<String>,
        /// Who changed it (number).
        by: Option<String>,
    },
    /// A group's name changed.
    GroupSubject {
        /// The group.
        group: Jid,
        /// The new name.
        subject: String,
        /// Who changed it (number).
        by: Option<String>,
    },
    /// A call came in (calls are not bridged).
    Call {
        /// Who calls (number).
        from: String,
        /// The call rang while the bridge was offline, and is over.
        missed: bool,
    },
}

/// An outgoing message.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingWa {
    /// The text (the caption for media).
    pub text: WaText,
    /// The message it replies to.
    pub reply_to: Option<String>,
    /// A file to send.
    pub media: Option<WaMedia>,
    /// A location to share instead of text or a file.
    pub location: Option<WaLocation>,
    /// A contact card to share instead of text or a file.
    pub contact: Option<WaContactCard>,
}

impl OutgoingWa {
    /// A text message (possibly empty, for a location or a card), replying when `reply_to` is set.
    pub fn new(text: WaText, reply_to: Option<String>) -> Self {
        Self { text, reply_to, media: None, location: None, contact: None }
    }
}

/// A shared contact card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaContactCard {
    /// The name WhatsApp shows on the card.
    pub display_name: String,
    /// The card itself (vCard text).
    pub vcard: String,
}

/// A shared location.
#[derive(Clone, Debug, PartialEq)]
pub struct WaLocation {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Place name, when given.
    pub name: Option<String>,
}

/// What the network says about a sent message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// Its server timestamp in milliseconds.
    pub timestamp_ms: i64,
}

/// Creates and reopens linked-device sessions.
#[async_trait]
pub trait WhatsAppBackend: Send + Sync + 'static {
    /// Starts linking a new device. Updates arrive on the receiver until `Paired`, `Expired`
    /// or `Failed`; dropping the receiver cancels the link.
    async fn pair(&self, request: PairRequest) -> Result<mpsc::Receiver<PairingUpdate>, BackendError>;

    /// Reopens a linked device from what `Paired` returned. No I/O: the bridge calls
    /// [`WhatsAppSession::connect`] next.
    fn open(&self, account: &Account, session: &[u8]) -> Result<Arc<dyn WhatsAppSession>, BackendError>;
}

/// One linked device.
#[async_trait]
pub trait WhatsAppSession: Send + Sync {
    /// Connects and stays connected (reconnecting with backoff); everything that happens
    /// goes to `events`, in order. Returns once the connection is under way.
    async fn connect(&self, events: mpsc::UnboundedSender<BackendEvent>);
    /// Disconnects, keeping the session (bridge shutdown).
    async fn disconnect(&self);
    /// Unlinks the device from WhatsApp and deletes the local session. The local session is
    /// deleted either way; `Err` says WhatsApp could not be told, so the phone still lists
    /// the device.
    async fn logout(&self) -> Result<(), BackendError>;
    /// Deletes the local session without telling WhatsApp.
    async fn delete_session(&self);
    /// Sends a message.
    async fn send(&self, chat: &Jid, message: OutgoingWa) -> Result<Sent, BackendError>;
    /// Edits a message the account sent.
    async fn edit(&self, chat: &Jid, target: &str, text: WaText) -> Result<(), BackendError>;
    /// Reacts to a message; an empty emoji removes the account's reaction.
    async fn react(&self, chat: &Jid, target: &str, emoji: &str) -> Result<(), BackendError>;
    /// Deletes a message the account sent, for everyone.
    async fn revoke(&self, chat: &Jid, target: &str) -> Result<(), BackendError>;
    /// Shows or stops the typing indicator.
    async fn set_typing(&self, chat: &Jid, typing: bool) -> Result<(), BackendError>;
    /// Renames a group (sets its subject).
    async fn set_subject(&self, group: &Jid, subject: &str) -> Result<(), BackendError>;
    /// Sets a group's description; `None` removes it.
    async fn set_description(&self, group: &Jid, description: Option<&str>) -> Result<(), BackendError>;
    /// Removes someone (a number) from a group.
    async fn remove_participant(&self, group: &Jid, number: &str) -> Result<(), BackendError>;
    /// Marks messages as read; `sender` (a number) is who sent them, which WhatsApp needs
    /// in groups.
    async fn mark_read(&self, chat: &Jid, sender: Option<&str>, ids: &[String]) -> Result<(), BackendError>;
    /// The address book.
    async fn contacts(&self) -> Result<Vec<Contact>, BackendError>;
    /// The groups the account is in.
    async fn groups(&self) -> Result<Vec<Group>, BackendError>;
    /// One group.
    async fn group(&self, jid: &Jid) -> Result<Group, BackendError>;
    /// Whether a number is on WhatsApp, with its name when known.
    async fn lookup(&self, number: &str) -> Result<Option<Contact>, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pairing_debug_leaves_the_session_out() {
        let session = br#"{"path":"/data/wa/device-secret.db"}"#.to_vec();
        let paired = PairingUpdate::Paired { account: Account { number: "447700900123".into(), push_name: "Ally".into() }, session };
        let shown = format!("{paired:?}");
        assert!(!shown.contains("device-secret") && !shown.contains("112, 97, 116, 104"), "session bytes in {shown}");
        assert!(shown.contains("447700900123") && shown.contains("36 bytes"), "{shown}");
        assert_eq!(format!("{:?}", PairingUpdate::Expired), "Expired");
    }
}
