//! The simulated Telegram network: in-process, deterministic, for tests and demos
//! (`network: {type: telegram, backend: simulated}`). Nothing here talks to Telegram, so a
//! test that passes on it proves the bridge logic above [`TelegramBackend`], not Telegram.
//!
//! What it does:
//! - **Login.** Any phone number in international format is accepted; the login code is
//!   always [`LOGIN_CODE`] (`12345`). The account [`TWO_FA_PHONE`] (`+15550002222`) also has
//!   a two-step verification password, [`TWO_FA_PASSWORD`] (`correct horse`). An account's
//!   user id is its phone number's digits. QR login works too: [`SimHandle::scan_qr`] plays
//!   the phone that scans.
//! - **People** ([`directory`]): Echo `+15550001001` (`@sim_echo`), Alice `+15550001002`,
//!   Bob `+4412345678` (the number the guides use), Carol `+15550001004`, Greeter `+15550001005`. Any other number is
//!   "not on Telegram" for `pm`.
//! - **Echo** answers every message with `echo: <text>` (same formatting, same file) as a
//!   reply, after marking it read and typing. While the account types in Echo's chat, Echo
//!   types too (and stops when the account stops). Request words: `please edit` makes Echo edit
//!   its answer to `echo (edited): <text>`; `please react` makes Echo react 👍 to your
//!   message; `please delete` makes Echo delete its answer; `please share location` makes Echo
//!   share [`directory::ECHO_LOCATION`]. Files come back as the kind they went (a voice note
//!   as a voice note, a `image/webp` picture as a sticker), and a shared location comes
//!   back as the same location (a map pin, without text).
//! - **Chats at login**: Echo's DM, "Sim Group" (Alice admin, Bob, Carol: Bob answers every
//!   message there with `Bob got: <text>`), the read-only channel "Sim News" (posting is
//!   refused), the channel "Sim Notes" that the account owns (so it may post there), and a
//!   DM with Carol whose last message is 90 days old (left out by the default 30-day age
//!   limit). As on Telegram, the chat list names no group members: the bridge asks for the
//!   group (`chat`) to get them. [`SimHandle::add_recent_groups`] adds more groups.
//! - **History** ([`history`]): every chat in the list has a past of eight messages (people
//!   take turns with the account, the second replies to the first); what is said since, both
//!   ways, follows it, as `messages.getHistory` would return.
//! - **Channels not in the chat list**, whose portals their first post creates (send one
//!   with [`SimHandle::say`]): "Sim Alerts" ([`directory::LATE_CHANNEL`], read-only, Carol
//!   is its admin) and "Sim Drafts" ([`directory::LATE_OWN_CHANNEL`], the account and Alice
//!   are its admins, so the account may post).
//! - **Profile pictures**: every person has one, [`directory::avatar_png`] (a 32×32 PNG in
//!   a colour of their own with a white square in the middle); its picture id is the
//!   person's user id. Accounts have none.
//! - **Greeter** writes right after an account's first connection (message id 1), from a
//!   chat that is not in the list above, so its portal is created by the message.
//! - **Faults** for tests: [`SimHandle::drop_connection`] (a disconnect, reconnected after a
//!   delay), [`SimHandle::revoke`] (the session is terminated from another device),
//!   [`SimHandle::flood_next`] (the next call gets FLOOD_WAIT), [`SimHandle::demote`] (the
//!   account loses its admin rights in a channel), [`SimHandle::call`] (an
//!   incoming call). Sessions are self-describing, so a restarted bridge restores them.

mod account;
pub mod directory;
pub mod history;
mod login;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use directory::{LOGIN_CODE, TWO_FA_PASSWORD, TWO_FA_PHONE};

use crate::backend::{
    BackendError, Connection, FormattedText, LoginAttempt, Peer, QrAttempt, TelegramAccount, TelegramBackend, TgMessage, TgOutgoing,
    TgUpdate, TgUser,
};
use crate::session::AccountStore;

/// Something an account did on the simulated network.
#[derive(Clone, Debug, PartialEq)]
pub enum SimAction {
    /// Sent a message.
    Sent {
        /// The account's user id.
        account: i64,
        /// Where.
        peer: Peer,
        /// Its id.
        id: i64,
        /// What.
        message: TgOutgoing,
    },
    /// Edited a message.
    Edited {
        /// Where.
        peer: Peer,
        /// Which.
        id: i64,
        /// The new text.
        text: FormattedText,
    },
    /// Deleted messages.
    Deleted {
        /// Where.
        peer: Peer,
        /// Which.
        ids: Vec<i64>,
    },
    /// Set or removed a reaction.
    Reacted {
        /// Where.
        peer: Peer,
        /// To which message.
        id: i64,
        /// The emoji, `None` when removed.
        emoji: Option<String>,
    },
    /// Typing changed.
    Typing {
        /// Where.
        peer: Peer,
        /// Typing or stopped.
        typing: bool,
    },
    /// Marked a chat read.
    Read {
        /// Where.
        peer: Peer,
        /// Up to which message.
        up_to: i64,
    },
    /// Logged out.
    LoggedOut {
        /// The account's user id.
        account: i64,
    },
}

/// The stored session of a simulated account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SimSession {
    pub(crate) phone: String,
    /// A random key: revoking a session revokes this key.
    pub(crate) key: String,
}

#[derive(Default)]
pub(crate) struct World {
    pub(crate) actions: Vec<SimAction>,
    /// Every message the simulated people sent to accounts, oldest first.
    pub(crate) said: Vec<TgMessage>,
    /// Connected accounts' update streams, by user id.
    pub(crate) connections: HashMap<i64, mpsc::UnboundedSender<TgUpdate>>,
    pub(crate) revoked: HashSet<String>,
    /// The session key each connected account uses.
    pub(crate) keys: HashMap<i64, String>,
    pub(crate) greeted: HashSet<i64>,
    /// Pending flood waits, by account.
    pub(crate) floods: HashMap<i64, u64>,
    /// QR logins waiting to be scanned, by Matrix user.
    pub(crate) qr_scans: HashMap<String, oneshot::Sender<String>>,
    /// Channels whose admin rights an account lost.
    pub(crate) demoted: HashSet<(i64, Peer)>,
    /// Accounts whose next logout Telegram does not confirm.
    pub(crate) failing_logouts: HashSet<i64>,
    /// What was said in each chat of each account since the simulation started, both ways,
    /// oldest first (after the chat's seeded past, see [`history`]).
    pub(crate) history: HashMap<(i64, Peer), Vec<TgMessage>>,
    /// How many extra groups the chat list has (`SimHandle::add_recent_groups`).
    pub(crate) extra_groups: usize,
}

/// The shared state of one simulated Telegram.
pub(crate) struct Sim {
    pub(crate) world: Mutex<World>,
    next_id: AtomicI64,
    /// Unix seconds the simulation started: the chats' pasts end just before.
    pub(crate) started: i64,
}

impl Sim {
    /// A fresh message id. Ids start at the clock, so a restarted simulation does not reuse
    /// ids the bridge stored before the restart (real Telegram ids only grow too).
    pub(crate) fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn record(&self, action: SimAction) {
        self.world.lock().expect("lock").actions.push(action);
    }

    /// Delivers an update to an account, if it is connected.
    pub(crate) fn deliver(&self, account: i64, update: TgUpdate) -> bool {
        let tx = {
            let mut world = self.world.lock().expect("lock");
            if let TgUpdate::NewMessage(m) = &update {
                world.said.push(m.clone());
                world.history.entry((account, m.peer)).or_default().push(m.clone());
            }
            world.connections.get(&account).cloned()
        };
        tx.is_some_and(|tx| tx.send(update).is_ok())
    }

    /// A pending flood wait of the account, used up by this call.
    pub(crate) fn take_flood(&self, account: i64) -> Result<(), BackendError> {
        match self.world.lock().expect("lock").floods.remove(&account) {
            Some(seconds) => Err(BackendError::FloodWait(seconds)),
            None => Ok(()),
        }
    }

    pub(crate) fn message(&self, peer: Peer, from: TgUser, text: FormattedText, reply_to: Option<i64>) -> TgMessage {
        TgMessage { peer, id: self.next_id(), sender: from, outgoing: false, date: now_secs(), text, reply_to, media: None, location: None }
    }
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

/// The simulated backend.
pub struct SimBackend {
    sim: Arc<Sim>,
}

/// The remote side of the simulation, for tests and demos.
#[derive(Clone)]
pub struct SimHandle {
    sim: Arc<Sim>,
}

impl SimBackend {
    /// A fresh simulated Telegram and a handle on it.
    pub fn new() -> (Arc<Self>, SimHandle) {
        let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
        let sim = Arc::new(Sim { world: Mutex::default(), next_id: AtomicI64::new(start), started: start / 1000 });
        (Arc::new(Self { sim: sim.clone() }), SimHandle { sim })
    }
}

impl TelegramBackend for SimBackend {
    fn phone_login(&self) -> Box<dyn LoginAttempt> {
        Box::new(login::SimPhoneLogin::new())
    }

    fn qr_login(&self, matrix_user: &str) -> Option<Box<dyn QrAttempt>> {
        Some(Box::new(login::SimQrLogin::new(self.sim.clone(), matrix_user.to_owned())))
    }

    fn restore(&self, session: &[u8], _store: AccountStore) -> Result<Arc<dyn TelegramAccount>, BackendError> {
        let session: SimSession = serde_json::from_slice(session)
            .map_err(|e| BackendError::Revoked(format!("the stored session is not a simulated one ({e})")))?;
        Ok(Arc::new(account::SimAccount::new(self.sim.clone(), session)))
    }
}

impl SimHandle {
    /// Everything the accounts did so far.
    pub fn actions(&self) -> Vec<SimAction> {
        self.sim.world.lock().expect("lock").actions.clone()
    }

    /// The user id of the account with this phone number.
    pub fn account_id(phone: &str) -> i64 {
        directory::own_user(phone).id
    }

    /// Whether the account is connected.
    pub fn is_connected(&self, account: i64) -> bool {
        self.sim.world.lock().expect("lock").connections.contains_key(&account)
    }

    /// A contact writes to the account (in a DM with them, the group or the channel).
    pub fn say(&self, account: i64, from: i64, peer: Peer, text: FormattedText) -> Option<i64> {
        let from = directory::person(from)?;
        let msg = self.sim.message(peer, from, text, None);
        let id = msg.id;
        self.sim.deliver(account, TgUpdate::NewMessage(msg)).then_some(id)
    }

    /// The messages a simulated person sent (to any account) so far, oldest first.
    pub fn said_by(&self, person: i64) -> Vec<TgMessage> {
        self.sim.world.lock().expect("lock").said.iter().filter(|m| m.sender.id == person).cloned().collect()
    }

    /// Delivers any update to the account.
    pub fn deliver(&self, account: i64, update: TgUpdate) -> bool {
        self.sim.deliver(account, update)
    }

    /// A contact calls the account.
    pub fn call(&self, account: i64, from: i64, call_id: i64) -> bool {
        let Some(from) = directory::person(from) else { return false };
        self.sim.deliver(account, TgUpdate::IncomingCall { call_id, from, video: false })
    }

    /// The account's connection drops, and comes back after `down_for`.
    pub fn drop_connection(&self, account: i64, down_for: Duration) -> bool {
        let tx = self.sim.world.lock().expect("lock").connections.remove(&account);
        let Some(tx) = tx else { return false };
        let _ = tx.send(TgUpdate::Connection(Connection::Reconnecting("the simulated network dropped the connection".into())));
        let sim = self.sim.clone();
        tokio::spawn(async move {
            tokio::time::sleep(down_for).await;
            sim.world.lock().expect("lock").connections.insert(account, tx.clone());
            let _ = tx.send(TgUpdate::Connection(Connection::Connected));
        });
        true
    }

    /// The account's session is terminated (as from Telegram's "Active sessions").
    pub fn revoke(&self, account: i64) -> bool {
        let tx = self.sim.world.lock().expect("lock").connections.remove(&account);
        let Some(tx) = tx else { return false };
        account::revoke_all(&self.sim, account);
        tx.send(TgUpdate::Connection(Connection::Revoked("the session was terminated from another device".into()))).is_ok()
    }

    /// The account is no longer an admin of a channel it administers (it may not post there).
    pub fn demote(&self, account: i64, channel: Peer) {
        self.sim.world.lock().expect("lock").demoted.insert((account, channel));
    }

    /// Adds `count` groups ("Sim Group 1"…, with Alice, Bob and the account, each with a
    /// seeded past) to every account's chat list, after "Sim Group": a login then has that
    /// many more portals to make. Set it before the login.
    pub fn add_recent_groups(&self, count: usize) {
        self.sim.world.lock().expect("lock").extra_groups += count;
    }

    /// A chat's history as the account would read it now, oldest first.
    pub fn history_of(&self, account: i64, peer: Peer) -> Vec<TgMessage> {
        account::history_of(&self.sim, account, peer)
    }

    /// The account's next logout is not confirmed (Telegram unreachable): its session stays.
    pub fn fail_next_logout(&self, account: i64) {
        self.sim.world.lock().expect("lock").failing_logouts.insert(account);
    }

    /// The account's next call gets a FLOOD_WAIT of `seconds`.
    pub fn flood_next(&self, account: i64, seconds: u64) {
        self.sim.world.lock().expect("lock").floods.insert(account, seconds);
    }

    /// Scans the QR code shown to a Matrix user with the phone of `phone`. False if no QR
    /// login of that user is waiting.
    pub fn scan_qr(&self, matrix_user: &str, phone: &str) -> bool {
        let tx = self.sim.world.lock().expect("lock").qr_scans.remove(matrix_user);
        tx.is_some_and(|tx| tx.send(phone.to_owned()).is_ok())
    }

    /// Whether a QR login of this Matrix user waits for a scan.
    pub fn qr_waiting(&self, matrix_user: &str) -> bool {
        self.sim.world.lock().expect("lock").qr_scans.contains_key(matrix_user)
    }
}
