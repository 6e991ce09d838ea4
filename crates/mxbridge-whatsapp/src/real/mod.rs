//! The real backend: WhatsApp's multi-device protocol through whatsapp-rust.
//!
//! Each login is a linked device with its own whatsapp-rust SQLite store ([`store`]).
//! whatsapp-rust's events arrive on a channel (`Forward`) and are translated
//! in order ([`events`]); outgoing messages are built in [`outgoing`]; files are downloaded
//! with retries and, once expired, uploaded again by the phone ([`media`]). whatsapp-rust
//! reconnects a dropped socket by itself; when its client stops altogether, the session
//! starts it again with backoff. A logout while disconnected connects once to unlink the
//! device, and says when it could not. None of this can be exercised without WhatsApp's
//! servers: the unit tests cover the store files, the translation (and the user-facing
//! reasons, in `reasons`), the message building, the backoff and a logout that cannot connect.

mod events;
mod media;
mod names;
mod outgoing;
mod reasons;
mod store;
mod synced;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tracing::{info, warn};
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::store::SqliteStore;
use whatsapp_rust::types::events::{Event, EventHandler};
use whatsapp_rust::wacore::iq::devices::RemoveCompanionDeviceSpec;
use whatsapp_rust::wacore::store::DevicePropsOverride;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, GroupDescription, GroupSubject, PreviousDescription, RevokeType, UploadOptions};

use crate::backend::{
    Account, BackendError, BackendEvent, Contact, Group, InboundKind, InboundMessage, OutgoingWa, PairMethod, PairRequest, PairingUpdate,
    Participant, Sent, WhatsAppBackend, WhatsAppSession,
};
use crate::jid::{Jid, LID_SERVER};
use crate::markup::WaText;
use events::{SeenCalls, Translated, translate};
use media::MEDIA_ATTEMPTS;
use names::KnownNames;
use outgoing::{media_message, media_type, text_message, wa_jid};
use store::StoreFile;

/// How long a logout while disconnected waits to connect, to unlink the device.
const UNLINK_TIMEOUT: Duration = Duration::from_secs(20);

/// First wait before starting a stopped client again.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two attempts to start a stopped client.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wait after `current` when the next attempt fails too: doubled, up to [`MAX_BACKOFF`].
fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

fn other(e: impl std::fmt::Display) -> BackendError {
    BackendError::Other(e.to_string())
}

/// Links and reopens devices, with one store file per login under `data_dir`.
pub struct RealBackend {
    data_dir: PathBuf,
    device_name: String,
}

impl RealBackend {
    /// A backend keeping stores in `data_dir` and naming the device `device_name`.
    pub fn new(data_dir: PathBuf, device_name: String) -> Self {
        Self { data_dir, device_name }
    }
}

/// Puts every event on a channel, in the order whatsapp-rust dispatches them.
struct Forward(whatsapp_rust::async_channel::Sender<Arc<Event>>);

impl EventHandler for Forward {
    fn handle_event(&self, event: Arc<Event>) {
        // Unbounded: this never blocks whatsapp-rust's dispatch; it fails only once the
        // session stopped reading.
        let _ = self.0.try_send(event);
    }
}

/// Starts a whatsapp-rust client on a store; its events go to the returned channel.
async fn start_bot(
    store: &StoreFile,
    device_name: &str,
    pair_phone: Option<String>,
) -> Result<(BotHandle, whatsapp_rust::async_channel::Receiver<Arc<Event>>), BackendError> {
    let backend = SqliteStore::new(&store.url()).await.map_err(|e| BackendError::Store(e.to_string()))?;
    store.restrict().map_err(|e| BackendError::Store(e.to_string()))?;
    let (tx, rx) = whatsapp_rust::async_channel::unbounded();
    let mut builder = Bot::builder()
        .with_backend(backend)
        .with_event_handler(Forward(tx))
        .with_device_props(DevicePropsOverride::new().with_os(device_name));
    if let Some(phone_number) = pair_phone {
        builder = builder.with_pair_code(PairCodeOptions { phone_number, ..Default::default() });
    }
    let bot = builder.build().await.map_err(other)?;
    Ok((bot.spawn(), rx))
}

#[async_trait]
impl WhatsAppBackend for RealBackend {
    async fn pair(&self, request: PairRequest) -> Result<mpsc::Receiver<PairingUpdate>, BackendError> {
        let store = StoreFile::create(&self.data_dir).map_err(|e| BackendError::Store(format!("cannot create the session store: {e}")))?;
        let phone = match request.method {
            PairMethod::Qr => None,
            PairMethod::Phone(number) => Some(number),
        };
        let (handle, events) = match start_bot(&store, &request.device_name, phone).await {
            Ok(started) => started,
            Err(e) => {
                let _ = store.delete();
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let outcome = loop {
                let event = tokio::select! {
                    _ = tx.closed() => break None,
                    event = events.recv() => event,
                };
                let Ok(event) = event else { break Some(PairingUpdate::Failed("the connection to WhatsApp ended".into())) };
                let mut done = None;
                for t in translate(&event) {
                    match t {
                        Translated::Pairing(update @ (PairingUpdate::Expired | PairingUpdate::Failed(_))) => done = Some(update),
                        Translated::Pairing(update) => {
                            let _ = tx.send(update).await;
                        }
                        Translated::Paired { number } => {
                            let push_name =
                                Some(handle.client().push_name()).filter(|n| !n.is_empty()).unwrap_or_else(|| format!("+{number}"));
                            let session = serde_json::to_vec(&store).expect("a path serializes");
                            done = Some(PairingUpdate::Paired { account: Account { number, push_name }, session });
                        }
                        _ => {}
                    }
                }
                if done.is_some() {
                    break done;
                }
            };
            handle.shutdown().await;
            let paired = matches!(outcome, Some(PairingUpdate::Paired { .. }));
            if !paired {
                let _ = store.delete();
            }
            if let Some(update) = outcome {
                let _ = tx.send(update).await;
            }
        });
        Ok(rx)
    }

    fn open(&self, account: &Account, session: &[u8]) -> Result<Arc<dyn WhatsAppSession>, BackendError> {
        let store: StoreFile =
            serde_json::from_slice(session).map_err(|e| BackendError::Store(format!("the stored session is not readable: {e}")))?;
        if !store.path.exists() {
            return Err(BackendError::Store(format!("the session store {} is gone", store.path.display())));
        }
        let names = KnownNames::load(&store.names_path());
        Ok(Arc::new(Arc::new(RealSession {
            store,
            device_name: self.device_name.clone(),
            account: account.clone(),
            client: Mutex::default(),
            handle: tokio::sync::Mutex::default(),
            runner: Mutex::default(),
            keys: Mutex::default(),
            names: Mutex::new(names),
            unlink_timeout: UNLINK_TIMEOUT,
            seen_calls: Mutex::default(),
        })))
    }
}

/// Who sent a message, for reactions (WhatsApp addresses a message by chat, id, sender).
#[derive(Clone)]
struct KeyInfo {
    from_me: bool,
    sender: String,
}

/// One linked device.
struct RealSession {
    store: StoreFile,
    device_name: String,
    account: Account,
    client: Mutex<Option<Arc<Client>>>,
    handle: tokio::sync::Mutex<Option<BotHandle>>,
    runner: Mutex<Option<tokio::task::JoinHandle<()>>>,
    keys: Mutex<HashMap<String, KeyInfo>>,
    /// People's names by number: the phone's address book and the push names they set.
    names: Mutex<KnownNames>,
    /// How long a logout waits for a connection to unlink the device.
    unlink_timeout: Duration,
    /// Calls already told about, across reconnects.
    seen_calls: Mutex<SeenCalls>,
}

impl RealSession {
    fn client(&self) -> Result<Arc<Client>, BackendError> {
        self.client.lock().expect("lock").clone().ok_or(BackendError::NotConnected)
    }

    async fn stop(&self) {
        if let Some(runner) = self.runner.lock().expect("lock").take() {
            runner.abort();
        }
        self.client.lock().expect("lock").take();
        if let Some(handle) = self.handle.lock().await.take() {
            handle.shutdown().await;
        }
    }

    /// Tells WhatsApp to remove this linked device, connecting once when the session is not
    /// connected right now (whatsapp-rust's own logout only sends the request when connected,
    /// and does not say whether it went through).
    async fn unlink(&self) -> Result<(), BackendError> {
        // The reconnect loop must not start a second client on the same store meanwhile.
        if let Some(runner) = self.runner.lock().expect("lock").take() {
            runner.abort();
        }
        let client = match self.client() {
            Ok(client) => client,
            Err(_) => {
                let (handle, _events) = start_bot(&self.store, &self.device_name, None).await?;
                let client = handle.client();
                *self.handle.lock().await = Some(handle);
                client.wait_for_connected(self.unlink_timeout).await.map_err(|e| BackendError::Other(format!("could not connect: {e}")))?;
                client
            }
        };
        let own = client.pn().ok_or(BackendError::NotConnected)?;
        client.execute(RemoveCompanionDeviceSpec::new(&own)).await.map_err(other)
    }

    /// Runs the client until it is logged out, starting it again with backoff when it stops.
    async fn run(self: Arc<Self>, events: mpsc::UnboundedSender<BackendEvent>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match start_bot(&self.store, &self.device_name, None).await {
                Ok((handle, rx)) => {
                    *self.client.lock().expect("lock") = Some(handle.client());
                    *self.handle.lock().await = Some(handle);
                    backoff = FIRST_BACKOFF;
                    if self.pump(&rx, &events).await {
                        return; // logged out
                    }
                    self.client.lock().expect("lock").take();
                    let _ = events.send(BackendEvent::Disconnected("the WhatsApp client stopped".into()));
                }
                Err(e) => {
                    warn!(error = %e, "could not start the WhatsApp client");
                    let _ = events.send(BackendEvent::Disconnected(e.to_string()));
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = next_backoff(backoff);
        }
    }

    /// Translates events until the client's channel ends; true when it ended by a logout.
    async fn pump(&self, rx: &whatsapp_rust::async_channel::Receiver<Arc<Event>>, events: &mpsc::UnboundedSender<BackendEvent>) -> bool {
        while let Ok(event) = rx.recv().await {
            let translated = self.seen_calls.lock().expect("lock").translate(&event);
            for t in translated {
                match t {
                    Translated::Event(e @ BackendEvent::LoggedOut(_)) => {
                        let _ = events.send(e);
                        return true;
                    }
                    Translated::Event(e) => {
                        let _ = events.send(e);
                    }
                    Translated::Message { mut message, download } => {
                        if message.chat.server == LID_SERVER {
                            self.file_under_phone_number(&mut message).await;
                        }
                        self.keys
                            .lock()
                            .expect("lock")
                            .insert(message.id.clone(), KeyInfo { from_me: message.from_me, sender: message.sender.clone() });
                        if let Some(name) = message.push_name.clone().filter(|_| !message.from_me) {
                            self.learn(vec![Contact { number: message.sender.clone(), name }], false);
                        }
                        if let Some(original) = download {
                            let downloaded = match self.client() {
                                Ok(client) => media::download(&client, &original, &message).await,
                                Err(e) => Err(e),
                            };
                            match (downloaded, &mut message.kind) {
                                (Ok(data), InboundKind::Media { media, .. }) => media.data = data,
                                (Ok(_), _) => {}
                                (Err(e), _) => {
                                    warn!(error = %e, "a WhatsApp file could not be downloaded");
                                    message.kind = events::undownloadable(message.kind.clone());
                                }
                            }
                        }
                        let _ = events.send(BackendEvent::Message(message));
                    }
                    Translated::Names { contacts, address_book } => {
                        let changed = self.learn(contacts, address_book);
                        if !changed.is_empty() {
                            let _ = events.send(BackendEvent::Contacts(changed));
                        }
                    }
                    Translated::Pairing(_) | Translated::Paired { .. } => {}
                }
            }
        }
        false
    }

    /// Learns names and keeps them beside the store when any changed (WhatsApp sends the
    /// address book and push names once, not on every connection).
    fn learn(&self, contacts: Vec<Contact>, address_book: bool) -> Vec<Contact> {
        let mut names = self.names.lock().expect("lock");
        let changed = names.learn(contacts, address_book);
        if !changed.is_empty()
            && let Err(e) = names.save(&self.store.names_path())
        {
            warn!(error = %e, "could not keep WhatsApp contact names");
        }
        changed
    }

    /// A DM that came addressed by a LID alone: filed under the phone number when
    /// whatsapp-rust knows the mapping (learnt from earlier messages, contacts or history).
    async fn file_under_phone_number(&self, message: &mut InboundMessage) {
        let Ok(client) = self.client() else { return };
        let lid = whatsapp_rust::Jid::lid(message.chat.user.as_str());
        match client.get_lid_pn_entry(&lid).await {
            Ok(Some(entry)) => {
                let number = entry.phone_number.to_string();
                if message.sender == message.chat.user {
                    message.sender = number.clone();
                }
                message.chat = Jid::user(&number);
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "could not look up a LID's phone number"),
        }
    }

    fn key(&self, chat: &Jid, target: &str) -> wa::MessageKey {
        let info = self.keys.lock().expect("lock").get(target).cloned();
        let from_me = info.as_ref().is_none_or(|i| i.from_me);
        let participant = info.filter(|i| chat.is_group() && !i.from_me).map(|i| format!("{}@s.whatsapp.net", i.sender));
        wa::MessageKey { remote_jid: Some(chat.to_string()), from_me: Some(from_me), id: Some(target.to_owned()), participant }
    }
}

#[async_trait]
impl WhatsAppSession for Arc<RealSession> {
    async fn connect(&self, events: mpsc::UnboundedSender<BackendEvent>) {
        let runner = tokio::spawn(self.clone().run(events));
        if let Some(old) = self.runner.lock().expect("lock").replace(runner) {
            old.abort();
        }
        info!(store = %self.store.path.display(), "connecting to WhatsApp");
    }

    async fn disconnect(&self) {
        self.stop().await;
    }

    async fn logout(&self) -> Result<(), BackendError> {
        let unlinked = self.unlink().await;
        if let Err(e) = &unlinked {
            warn!(error = %e, "could not unlink the device from WhatsApp");
        }
        self.stop().await;
        if let Err(e) = self.store.delete() {
            warn!(error = %e, "could not delete a WhatsApp session store");
        }
        unlinked
    }

    async fn delete_session(&self) {
        self.stop().await;
        if let Err(e) = self.store.delete() {
            warn!(error = %e, "could not delete a WhatsApp session store");
        }
    }

    async fn send(&self, chat: &Jid, message: OutgoingWa) -> Result<Sent, BackendError> {
        let client = self.client()?;
        let reply_to = message.reply_to.as_deref();
        let wa_message = match (&message.location, &message.contact, &message.media) {
            (Some(location), _, _) => outgoing::location_message(location, reply_to),
            (None, Some(card), _) => outgoing::contact_message(card, reply_to),
            (None, None, None) => text_message(&message.text, reply_to),
            (None, None, Some(media)) => {
                let mut last = String::new();
                let mut uploaded = None;
                for attempt in 0..MEDIA_ATTEMPTS {
                    match client.upload(media.data.clone(), media_type(media), UploadOptions::default()).await {
                        Ok(up) => {
                            uploaded = Some(outgoing::Uploaded::from(up));
                            break;
                        }
                        Err(e) => last = e.to_string(),
                    }
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
                let up = uploaded.ok_or_else(|| BackendError::Other(format!("the upload failed {MEDIA_ATTEMPTS} times: {last}")))?;
                media_message(media, &up, &message.text, reply_to)
            }
        };
        let sent = client.send_message(wa_jid(chat), wa_message).await.map_err(other)?;
        self.keys.lock().expect("lock").insert(sent.message_id.clone(), KeyInfo { from_me: true, sender: self.account.number.clone() });
        Ok(Sent { id: sent.message_id, timestamp_ms: crate::now_ms() })
    }

    async fn edit(&self, chat: &Jid, target: &str, text: WaText) -> Result<(), BackendError> {
        self.client()?.edit_message(wa_jid(chat), target, text_message(&text, None)).await.map(|_| ()).map_err(other)
    }

    async fn react(&self, chat: &Jid, target: &str, emoji: &str) -> Result<(), BackendError> {
        let key = self.key(chat, target);
        self.client()?.send_reaction(wa_jid(chat), key, emoji).await.map(|_| ()).map_err(other)
    }

    async fn revoke(&self, chat: &Jid, target: &str) -> Result<(), BackendError> {
        self.client()?.revoke_message(wa_jid(chat), target, RevokeType::Sender).await.map_err(other)
    }

    async fn set_typing(&self, chat: &Jid, typing: bool) -> Result<(), BackendError> {
        let client = self.client()?;
        let to = wa_jid(chat);
        if typing { client.chatstate().send_composing(&to).await } else { client.chatstate().send_paused(&to).await }.map_err(other)
    }

    async fn set_subject(&self, group: &Jid, subject: &str) -> Result<(), BackendError> {
        let subject = GroupSubject::new(subject).map_err(|e| BackendError::Refused(e.to_string()))?;
        self.client()?.groups().set_subject(wa_jid(group), subject).await.map_err(other)
    }

    async fn set_description(&self, group: &Jid, description: Option<&str>) -> Result<(), BackendError> {
        let description = description.map(GroupDescription::new).transpose().map_err(|e| BackendError::Refused(e.to_string()))?;
        // The server wants the id of the description being replaced; it is read first.
        self.client()?.groups().set_description(wa_jid(group), description, PreviousDescription::Resolve).await.map_err(other)
    }

    async fn remove_participant(&self, group: &Jid, number: &str) -> Result<(), BackendError> {
        let changed = self.client()?.groups().remove_participants(wa_jid(group), &[wa_jid(&Jid::user(number))]).await.map_err(other)?;
        match changed.iter().find(|r| !r.is_ok()) {
            Some(refused) => Err(BackendError::Refused(refused.error.clone().unwrap_or_else(|| format!("+{number} could not be removed")))),
            None => Ok(()),
        }
    }

    async fn mark_read(&self, chat: &Jid, sender: Option<&str>, ids: &[String]) -> Result<(), BackendError> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // In groups WhatsApp wants the receipt addressed to the message's sender too.
        let sender = sender.map(|number| wa_jid(&Jid::user(number)));
        self.client()?.mark_as_read(&wa_jid(chat), sender.as_ref(), &ids).await.map_err(other)
    }

    async fn contacts(&self) -> Result<Vec<Contact>, BackendError> {
        self.client()?;
        Ok(self.names.lock().expect("lock").all())
    }

    async fn groups(&self) -> Result<Vec<Group>, BackendError> {
        let groups = self.client()?.groups().get_participating().await.map_err(other)?;
        Ok(groups
            .into_values()
            .map(|g| Group {
                jid: events::chat_of(&g.id),
                subject: g.subject,
                topic: g.description,
                participants: g
                    .participants
                    .into_iter()
                    .map(|p| Participant {
                        number: p.phone_number.as_ref().unwrap_or(&p.jid).user.to_string(),
                        admin: !matches!(p.participant_type, whatsapp_rust::wacore::iq::groups::ParticipantType::Member),
                    })
                    .collect(),
            })
            .collect())
    }

    async fn group(&self, jid: &Jid) -> Result<Group, BackendError> {
        self.groups()
            .await?
            .into_iter()
            .find(|g| g.jid == *jid)
            .ok_or_else(|| BackendError::NotFound(format!("you are not in a group `{}`", jid.user)))
    }

    async fn lookup(&self, number: &str) -> Result<Option<Contact>, BackendError> {
        let found = self.client()?.contacts().is_on_whatsapp(&[whatsapp_rust::Jid::pn(number)]).await.map_err(other)?;
        let registered = found.iter().any(|r| r.is_registered);
        let name = self.names.lock().expect("lock").best(number).unwrap_or_else(|| format!("+{number}"));
        Ok(registered.then(|| Contact { number: number.to_owned(), name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reconnect_waits_double_up_to_five_minutes() {
        let mut waits = vec![FIRST_BACKOFF];
        while waits.len() < 12 {
            waits.push(next_backoff(*waits.last().unwrap()));
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[tokio::test]
    async fn test_logout_while_disconnected_tries_to_unlink_and_says_when_it_could_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreFile::create(dir.path()).unwrap();
        let account = Account { number: "4412345678".into(), push_name: "Me".into() };
        let session = RealSession {
            store: store.clone(),
            device_name: "Bridge".into(),
            account,
            client: Mutex::default(),
            handle: tokio::sync::Mutex::default(),
            runner: Mutex::default(),
            keys: Mutex::default(),
            names: Mutex::default(),
            unlink_timeout: Duration::from_secs(2),
            seen_calls: Mutex::default(),
        };
        // Never connected, and WhatsApp's servers cannot be reached here: the logout must
        // try, fail and say so rather than claim the device was unlinked.
        let outcome = Arc::new(session).logout().await;
        assert!(outcome.is_err(), "a logout that could not reach WhatsApp reported success");
        assert!(!store.path.exists(), "the local session is deleted all the same");
    }
}
