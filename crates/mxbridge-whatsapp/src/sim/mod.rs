//! A simulated WhatsApp network, in-process and deterministic, for the `*_sim` tests and
//! for demos (`network: {type: whatsapp, backend: simulated}`).
//!
//! It implements the same [`WhatsAppBackend`] trait as the real backend, so everything
//! above that trait (portals, ghosts, conversion, commands) runs the same code. Nothing here
//! talks to WhatsApp: a test that passes on it proves the bridge logic, not the protocol.
//!
//! How it behaves:
//! - **QR login**: a new code every `simulated.qr_refresh_seconds`, at most
//!   `simulated.qr_codes` codes, then the login expires. The code is "scanned"
//!   `qr_scan_after_seconds` after the code numbered `qr_scan_after_refreshes + 1` is shown
//!   (if that comes before the code expires). [`SimHandle::set_qr_scan`] changes that for
//!   one Matrix user (`None`: never scanned, to test expiry).
//! - **Pairing code** (`login phone <number>`): shows an 8-character code derived from the
//!   number, "typed in" after `pair_code_entered_after_seconds`; the account is that
//!   number. A QR login links the account `+4479…` derived from the Matrix user ID.
//!   Every linked account's push name is `Sim User`.
//! - **People** (fixed numbers, see [`world`]): Echo `+447700900001`, Alice
//!   `+447700900002`, Bob `+447700900003`, Carol `+447700900004`, Dave `+447700900005`.
//!   Groups: "Sim Friends" `447818943525-1636277287` (Alice, Bob; active today; the
//!   account and Alice administer it) and "Sim Family" `447700900004-1600000000` (Carol,
//!   Dave; last active 10 days ago). A number is on WhatsApp unless it ends in `000`.
//! - **Right after a login**: history sync reports Alice's DM and both groups with their
//!   last activity and `simulated.history_messages` messages each (see [`history`]; the
//!   people take turns with the account, the second message replies to the first), plus
//!   `simulated.extra_recent_chats` DMs with generated contacts; then Alice writes
//!   [`world::ALICE_GREETING`].
//! - **Echo** answers every message with `echo: <text>` (markup and mentions kept, media
//!   sent back) as a reply, and marks it read. Request words in the message: `react` (Echo
//!   reacts 👍 to it), `edit` (Echo edits its answer), `delete` (Echo deletes its answer),
//!   `typing` (Echo types first), `call` (Echo calls), `location`, `contact` (Echo shares
//!   one). A location sent to Echo comes back as the same location, a contact card as a
//!   card with the same name and number. While the account types in Echo's chat, Echo
//!   types too.
//! - **Groups**: request words in a message the account sends to a group: `rename` (the
//!   group's first admin other than the account renames it to `<subject> (renamed)`),
//!   `describe` (that admin sets its description to `Set by <name>`), `promote` (the first
//!   member who is neither the account nor an admin becomes one), `join` (the first of
//!   Alice, Bob, Carol, Dave who is not a member joins), `leave` (the first member who is
//!   neither the account nor an admin leaves). From Matrix, renaming a group's room sets
//!   its subject ([`SimAction::SubjectSet`]), a topic its description
//!   ([`SimAction::DescriptionSet`]), and kicking a ghost removes that member if the account
//!   administers the group ([`SimAction::Removed`]); the simulated WhatsApp does not echo
//!   these back. Changes last as long as the simulated network (one bridge process) and
//!   show in `list groups` and in the portals' members.
//! - **Phone and connection**: [`SimHandle::phone_offline_for_days`] reports the phone last
//!   seen that many days ago, [`SimHandle::unlink`] is WhatsApp unlinking the device,
//!   [`SimHandle::drop_connection`] loses the connection for a while,
//!   [`SimHandle::cut_off`] for good (a logout then cannot unlink the device, and says so).
//!   The phone is seen online on every connection.

pub mod history;
mod session;
pub mod world;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::backend::{
    Account, BackendError, BackendEvent, Group, OutgoingWa, PairMethod, PairRequest, PairingUpdate, WhatsAppBackend, WhatsAppSession,
};
use crate::config::SimConfig;
use crate::jid::Jid;
use crate::markup::WaText;
use session::SimSession;

/// Something the bridge did on the simulated network, for tests to check.
#[derive(Clone, Debug, PartialEq)]
pub enum SimAction {
    /// A message was sent.
    Sent {
        /// By which account (number).
        account: String,
        /// To which chat.
        chat: Jid,
        /// Its id.
        id: String,
        /// What (boxed: it is by far the largest action).
        message: Box<OutgoingWa>,
    },
    /// A message was edited.
    Edited {
        /// Which.
        target: String,
        /// New text.
        text: WaText,
    },
    /// A reaction was set (empty: removed).
    Reacted {
        /// To which message.
        target: String,
        /// The emoji.
        emoji: String,
    },
    /// A message was deleted.
    Revoked {
        /// Which.
        target: String,
    },
    /// Typing was shown or stopped.
    Typing {
        /// Where.
        chat: Jid,
        /// On or off.
        typing: bool,
    },
    /// A group was renamed.
    SubjectSet {
        /// Which group.
        group: Jid,
        /// Its new name.
        subject: String,
    },
    /// A group's description was set (`None`: removed).
    DescriptionSet {
        /// Which group.
        group: Jid,
        /// Its new description.
        description: Option<String>,
    },
    /// Someone was removed from a group.
    Removed {
        /// Which group.
        group: Jid,
        /// Who (number).
        number: String,
    },
    /// Messages were marked read.
    Read {
        /// In which chat.
        chat: Jid,
        /// Who sent them (number), given in groups.
        sender: Option<String>,
        /// Which.
        ids: Vec<String>,
    },
    /// The device was unlinked by `logout`.
    LoggedOut {
        /// Which account.
        account: String,
    },
    /// The local session was deleted (`delete-session`).
    SessionDeleted {
        /// Which account.
        account: String,
    },
}

pub(crate) struct SimState {
    config: SimConfig,
    /// Message ids are unique across restarts of the bridge (a stored id must not repeat).
    id_prefix: String,
    next_id: AtomicU64,
    pub(crate) actions: Mutex<Vec<SimAction>>,
    /// Every message the simulated people sent, oldest first.
    pub(crate) said: Mutex<Vec<crate::backend::InboundMessage>>,
    /// Connected sessions' event channels, by account number.
    pub(crate) connections: Mutex<HashMap<String, mpsc::UnboundedSender<BackendEvent>>>,
    /// Accounts linked in this process and not yet connected: they get the history sync
    /// and Alice's greeting on their first connection.
    pub(crate) fresh: Mutex<HashSet<String>>,
    /// Devices shown in each account's "Linked devices".
    pub(crate) linked_devices: Mutex<HashMap<String, Vec<String>>>,
    /// Accounts for which WhatsApp cannot be reached (see [`SimHandle::cut_off`]).
    pub(crate) unreachable: Mutex<HashSet<String>>,
    /// Per-Matrix-user overrides of `qr_scan_after_refreshes` (`None`: never scanned).
    qr_scan: Mutex<HashMap<String, Option<u32>>>,
    /// Each account's groups once something changed them (names, members); until then the
    /// fixed ones of [`world::groups`].
    groups: Mutex<HashMap<String, Vec<Group>>>,
    /// The history sync each account got, by chat (for tests to compare with).
    pub(crate) history: Mutex<HashMap<(String, Jid), Vec<crate::backend::InboundMessage>>>,
}

impl SimState {
    pub(crate) fn next_id(&self) -> String {
        format!("{}{:04X}", self.id_prefix, self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    pub(crate) fn record(&self, action: SimAction) {
        self.actions.lock().expect("lock").push(action);
    }

    /// The account's groups as they are now.
    pub(crate) fn groups_of(&self, account: &str) -> Vec<Group> {
        self.groups.lock().expect("lock").entry(account.to_owned()).or_insert_with(|| world::groups(account)).clone()
    }

    /// Changes one of the account's groups; `None` when the account is not in it.
    pub(crate) fn change_group<R>(&self, account: &str, group: &Jid, change: impl FnOnce(&mut Group) -> R) -> Option<R> {
        let mut groups = self.groups.lock().expect("lock");
        let groups = groups.entry(account.to_owned()).or_insert_with(|| world::groups(account));
        groups.iter_mut().find(|g| g.jid == *group).map(change)
    }
}

/// The simulated backend.
pub struct SimBackend {
    state: Arc<SimState>,
}

/// The simulated network's remote side, for tests and demos.
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<SimState>,
}

impl SimBackend {
    /// The backend and a handle on the simulated world.
    pub fn new(config: SimConfig) -> (Self, SimHandle) {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
        let state = Arc::new(SimState {
            config,
            id_prefix: format!("3EB0{:X}", started % 0xFFFF_FFFF),
            next_id: AtomicU64::new(1),
            actions: Mutex::default(),
            said: Mutex::default(),
            connections: Mutex::default(),
            fresh: Mutex::default(),
            linked_devices: Mutex::default(),
            unreachable: Mutex::default(),
            qr_scan: Mutex::default(),
            groups: Mutex::default(),
            history: Mutex::default(),
        });
        (Self { state: state.clone() }, SimHandle { state })
    }
}

fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[async_trait]
impl WhatsAppBackend for SimBackend {
    async fn pair(&self, request: PairRequest) -> Result<mpsc::Receiver<PairingUpdate>, BackendError> {
        let (tx, rx) = mpsc::channel(8);
        let state = self.state.clone();
        let config = state.config.clone();
        let link = move |number: String| {
            state.fresh.lock().expect("lock").insert(number.clone());
            state.linked_devices.lock().expect("lock").entry(number.clone()).or_default().push(request.device_name.clone());
            let account = Account { number, push_name: "Sim User".to_owned() };
            let session = serde_json::to_vec(&account).expect("an account serializes");
            PairingUpdate::Paired { account, session }
        };
        match request.method.clone() {
            PairMethod::Phone(number) => {
                tokio::spawn(async move {
                    if tx.send(PairingUpdate::Code(world::pair_code_for(&number))).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(seconds(config.pair_code_entered_after_seconds)).await;
                    let _ = tx.send(link(number)).await;
                });
            }
            PairMethod::Qr => {
                let scan_after = self
                    .state
                    .qr_scan
                    .lock()
                    .expect("lock")
                    .get(&request.requester)
                    .copied()
                    .unwrap_or(Some(config.qr_scan_after_refreshes));
                let number = world::account_number_for(&request.requester);
                tokio::spawn(async move {
                    for shown in 0..config.qr_codes {
                        let code = format!("2@sim{shown},{number},{}", world::pair_code_for(&format!("{number}{shown}")));
                        if tx.send(PairingUpdate::Qr(code)).await.is_err() {
                            return; // cancelled
                        }
                        if scan_after == Some(shown) && config.qr_scan_after_seconds < config.qr_refresh_seconds {
                            tokio::time::sleep(seconds(config.qr_scan_after_seconds)).await;
                            let _ = tx.send(link(number)).await;
                            return;
                        }
                        tokio::time::sleep(seconds(config.qr_refresh_seconds)).await;
                    }
                    let _ = tx.send(PairingUpdate::Expired).await;
                });
            }
        }
        Ok(rx)
    }

    fn open(&self, account: &Account, session: &[u8]) -> Result<Arc<dyn WhatsAppSession>, BackendError> {
        let stored: Account =
            serde_json::from_slice(session).map_err(|e| BackendError::Store(format!("the stored simulated session is not valid: {e}")))?;
        if stored.number != account.number {
            return Err(BackendError::Store("the stored session belongs to another account".into()));
        }
        Ok(Arc::new(SimSession::new(stored, self.state.clone())))
    }
}

impl SimHandle {
    /// Everything the bridge did on the network so far.
    pub fn actions(&self) -> Vec<SimAction> {
        self.state.actions.lock().expect("lock").clone()
    }

    /// The messages a simulated person (by number) sent so far, oldest first.
    pub fn said_by(&self, number: &str) -> Vec<crate::backend::InboundMessage> {
        self.state.said.lock().expect("lock").iter().filter(|m| m.sender == number).cloned().collect()
    }

    /// The messages of a chat in the history sync the account got at its first connection,
    /// oldest first (empty before that).
    pub fn history_of(&self, account: &str, chat: &Jid) -> Vec<crate::backend::InboundMessage> {
        self.state.history.lock().expect("lock").get(&(account.to_owned(), chat.clone())).cloned().unwrap_or_default()
    }

    /// Overrides when one Matrix user's QR code gets scanned: after this many refreshes, or
    /// never (`None`). Applies to logins started afterwards.
    pub fn set_qr_scan(&self, matrix_user: &str, after_refreshes: Option<u32>) {
        self.state.qr_scan.lock().expect("lock").insert(matrix_user.to_owned(), after_refreshes);
    }

    /// The account a QR login of this Matrix user links (digits).
    pub fn qr_account_of(&self, matrix_user: &str) -> String {
        world::account_number_for(matrix_user)
    }

    /// Reports an event on an account's connection. False when it is not connected.
    pub fn inject(&self, account: &str, event: BackendEvent) -> bool {
        let tx = self.state.connections.lock().expect("lock").get(account).cloned();
        tx.is_some_and(|tx| tx.send(event).is_ok())
    }

    /// Whether the account is connected.
    pub fn is_connected(&self, account: &str) -> bool {
        self.state.connections.lock().expect("lock").contains_key(account)
    }

    /// The devices the account's phone lists as linked.
    pub fn linked_devices(&self, account: &str) -> Vec<String> {
        self.state.linked_devices.lock().expect("lock").get(account).cloned().unwrap_or_default()
    }

    /// The phone was last online `days` days ago.
    pub fn phone_offline_for_days(&self, account: &str, days: u32) -> bool {
        let at = crate::now_ms() - i64::from(days) * 24 * 3600 * 1000;
        self.inject(account, BackendEvent::PhoneSeen(at))
    }

    /// WhatsApp unlinks the device because the phone was offline for 14 days.
    pub fn unlink(&self, account: &str) -> bool {
        self.state.linked_devices.lock().expect("lock").remove(account);
        let sent = self.inject(account, BackendEvent::LoggedOut("WhatsApp unlinked this device: the phone was offline for 14 days".into()));
        self.state.connections.lock().expect("lock").remove(account);
        sent
    }

    /// WhatsApp cannot be reached for this account any more: the connection drops and does
    /// not come back, and a logout cannot unlink the device (the phone keeps listing it).
    pub fn cut_off(&self, account: &str) -> bool {
        self.state.unreachable.lock().expect("lock").insert(account.to_owned());
        let tx = self.state.connections.lock().expect("lock").remove(account);
        tx.is_some_and(|tx| tx.send(BackendEvent::Disconnected("the simulated network cannot be reached".into())).is_ok())
    }

    /// Loses the connection, and gets it back after `down_for`.
    pub fn drop_connection(&self, account: &str, down_for: Duration) -> bool {
        let Some(tx) = self.state.connections.lock().expect("lock").get(account).cloned() else { return false };
        let _ = tx.send(BackendEvent::Disconnected("the simulated connection was dropped".into()));
        tokio::spawn(async move {
            tokio::time::sleep(down_for).await;
            let _ = tx.send(BackendEvent::Connected);
        });
        true
    }
}
