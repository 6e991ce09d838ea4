//! A logged-in Telegram account: a supervised connection that streams updates and
//! reconnects with backoff, and the calls the bridge makes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use grammers_client::media::{Downloadable, Media};
use grammers_client::message::{InputMessage, InputReactions};
use grammers_client::peer::Peer as GrammersPeer;
use grammers_client::sender::UpdatesConfiguration;
use grammers_client::update::Update;
use grammers_client::{Client, SenderPool, tl};
use grammers_session::Session;
use grammers_session::types::{ChannelKind, PeerRef};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::convert::{
    ProfilePicture, ReadHistory, attributes_of, entities_to_tl, geo_media, peer_id, peer_info_of, peer_of, peer_of_tl, read_history,
    tl_user, user_of,
};
use super::reactions::{ReactionMemory, peer_reactions};
use super::session::{PersistedSession, StoredSession};
use super::unbridged::Unbridged;
use super::updates::{placeholder_user, raw_update};
use super::{backend_error, connection_params, reconnect_delay, rpc_name};
use crate::backend::{
    BackendError, Connection, FormattedText, Peer, TelegramAccount, TgChat, TgChatKind, TgDialog, TgFile, TgMediaKind, TgMember, TgMessage,
    TgOutgoing, TgUpdate, TgUser,
};
use crate::session::AccountStore;

/// Largest file the bridge downloads from Telegram.
const MAX_DOWNLOAD: usize = 50 * 1024 * 1024;
/// How many recent message ids are remembered to find the chat of a deletion (Telegram
/// names only the ids of deleted messages outside channels).
const REMEMBERED: usize = 10_000;

struct Live {
    client: Client,
    session: Arc<StoredSession>,
}

pub(crate) struct RealAccount {
    api_id: i32,
    device_model: String,
    persisted: PersistedSession,
    store: AccountStore,
    live: Arc<Mutex<Option<Live>>>,
    supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    recent: Arc<Mutex<RecentMessages>>,
}

/// What the bridge remembers of recent messages: their chats, and their reactions.
#[derive(Default)]
struct RecentMessages {
    order: VecDeque<i64>,
    peers: HashMap<i64, Peer>,
    reactions: ReactionMemory,
}

impl RecentMessages {
    fn remember(&mut self, id: i64, peer: Peer) {
        if self.peers.insert(id, peer).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.peers.remove(&old);
            }
        }
    }
}

impl RealAccount {
    /// The account itself as a member of a broadcast channel, an admin when it may post
    /// there (its portal is read-only for everyone else); nothing for other chats, whose
    /// members are listed elsewhere.
    fn own_channel_membership(&self, peer: &GrammersPeer) -> Vec<TgMember> {
        let GrammersPeer::Channel(c) = peer else { return Vec::new() };
        if c.kind() != Some(ChannelKind::Broadcast) {
            return Vec::new();
        }
        let may_post = c.raw.creator || c.admin_rights().is_some_and(|r| r.post_messages);
        vec![TgMember { user: self.persisted.me.to_user(), admin: may_post }]
    }

    pub(crate) fn new(api_id: i32, device_model: String, persisted: PersistedSession, store: AccountStore) -> Self {
        Self { api_id, device_model, persisted, store, live: Arc::default(), supervisor: Mutex::default(), recent: Arc::default() }
    }

    fn live(&self) -> Result<(Client, Arc<StoredSession>), BackendError> {
        let live = self.live.lock().expect("lock");
        let live = live.as_ref().ok_or_else(|| BackendError::Unreachable("the Telegram connection is not up".into()))?;
        Ok((live.client.clone(), live.session.clone()))
    }

    async fn peer_ref(&self, peer: Peer) -> Result<(Client, PeerRef), BackendError> {
        let (client, session) = self.live()?;
        let found = session.peer_ref(peer_id(peer)).await.map_err(|e| BackendError::Other(e.to_string()))?;
        let peer_ref = found.ok_or_else(|| {
            BackendError::NotFound(format!("{peer:?} is not known to this session yet; open the chat in Telegram or send `sync`"))
        })?;
        Ok((client, peer_ref))
    }
}

/// One connection attempt: connect, check the authorisation, stream updates until the
/// stream fails. `Ok(false)`: the session was revoked, stop for good.
async fn run_once(
    api_id: i32,
    device_model: &str,
    persisted: &PersistedSession,
    store: &AccountStore,
    live: &Mutex<Option<Live>>,
    recent: &Mutex<RecentMessages>,
    updates: &mpsc::UnboundedSender<TgUpdate>,
) -> Result<bool, String> {
    let session = Arc::new(StoredSession::restored(persisted, store.clone()));
    session.load_cache().await.map_err(|e| e.to_string())?;
    let pool = SenderPool::with_configuration(session.clone(), api_id, connection_params(device_model));
    let client = Client::new(pool.handle);
    let runner = tokio::spawn(pool.runner.run());
    let outcome = async {
        match client.is_authorized().await {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                return match backend_error(e) {
                    BackendError::Revoked(_) => Ok(false),
                    other => Err(other.to_string()),
                };
            }
        }
        *live.lock().expect("lock") = Some(Live { client: client.clone(), session: session.clone() });
        let _ = updates.send(TgUpdate::Connection(Connection::Connected));
        let mut stream = client.stream_updates(pool.updates, UpdatesConfiguration { catch_up: true }).await.map_err(|e| e.to_string())?;
        let mut flush = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                next = stream.next() => match next {
                    Ok(update) => {
                        for u in map_update(&client, update, recent).await {
                            let _ = updates.send(u);
                        }
                    }
                    Err(e) => {
                        return match backend_error(e) {
                            BackendError::Revoked(_) => Ok(false),
                            other => Err(other.to_string()),
                        };
                    }
                },
                _ = flush.tick() => {
                    if let Err(e) = session.flush().await {
                        warn!(error = %e, "could not save the Telegram session cache");
                    }
                }
            }
        }
    }
    .await;
    *live.lock().expect("lock") = None;
    let _ = session.flush().await;
    client.disconnect();
    runner.abort();
    outcome
}

/// Turns a grammers update into ours (none for kinds the bridge ignores).
async fn map_update(client: &Client, update: Update, recent: &Mutex<RecentMessages>) -> Vec<TgUpdate> {
    match update {
        Update::NewMessage(m) => {
            let msg = super::history::message(client, &m).await;
            recent.lock().expect("lock").remember(msg.id, msg.peer);
            vec![TgUpdate::NewMessage(msg)]
        }
        Update::MessageEdited(m) => vec![TgUpdate::Edited(super::history::message(client, &m).await)],
        Update::MessageDeleted(d) => {
            let ids: Vec<i64> = d.messages().iter().map(|&i| i64::from(i)).collect();
            if let Some(channel) = d.channel_id() {
                return vec![TgUpdate::Deleted { peer: Peer::Channel(channel), ids }];
            }
            // Outside channels only the ids are given: group them by the chats we saw them in.
            let recent = recent.lock().expect("lock");
            let mut by_peer: HashMap<Peer, Vec<i64>> = HashMap::new();
            for id in ids {
                if let Some(peer) = recent.peers.get(&id) {
                    by_peer.entry(*peer).or_default().push(id);
                }
            }
            by_peer.into_iter().map(|(peer, ids)| TgUpdate::Deleted { peer, ids }).collect()
        }
        Update::Raw(raw) => match raw.raw {
            tl::enums::Update::MessageReactions(r) => {
                let Some(now) = peer_reactions(&r.reactions) else { return Vec::new() };
                let (peer, id) = (peer_of_tl(&r.peer), i64::from(r.msg_id));
                let changes = recent.lock().expect("lock").reactions.update(peer, id, now);
                changes
                    .into_iter()
                    .map(|c| TgUpdate::Reaction { peer, id, user: placeholder_user(c.user), emoji: c.emoji, previous: c.previous })
                    .collect()
            }
            other => raw_update(other),
        },
        _ => Vec::new(),
    }
}

/// The file of a message, or what it is and why it is not bridged.
pub(super) async fn download(client: &Client, media: Media) -> Result<TgFile, (&'static str, Unbridged)> {
    let (kind, name, mime, size) = match &media {
        Media::Photo(p) => (TgMediaKind::Photo, "photo.jpg".to_owned(), "image/jpeg".to_owned(), p.size()),
        Media::Sticker(s) => {
            (TgMediaKind::Sticker, "sticker.webp".to_owned(), s.document.mime_type().unwrap_or("image/webp").to_owned(), s.document.size())
        }
        Media::Document(d) => {
            let mime = d.mime_type().unwrap_or("application/octet-stream").to_owned();
            let kind = if mime.starts_with("video/") {
                TgMediaKind::Video
            } else if mime.starts_with("audio/") {
                TgMediaKind::Voice
            } else {
                TgMediaKind::Document
            };
            (kind, d.name().filter(|n| !n.is_empty()).unwrap_or("file").to_owned(), mime, d.size())
        }
        _ => return Err(("media", Unbridged::Unsupported)),
    };
    let what = match kind {
        TgMediaKind::Photo => "photo",
        TgMediaKind::Video => "video",
        TgMediaKind::Voice => "audio",
        TgMediaKind::Sticker => "sticker",
        TgMediaKind::Document => "file",
    };
    // Telegram says how large a file is: a too large one is not downloaded at all.
    if let Some(size) = size.filter(|&s| s > MAX_DOWNLOAD) {
        return Err((what, Unbridged::TooLarge(size)));
    }
    match download_all(client, &media).await {
        Ok(data) => Ok(TgFile { kind, name, mime, data }),
        Err(DownloadError::TooLarge(size)) => Err((what, Unbridged::TooLarge(size))),
        Err(DownloadError::Backend(e)) => {
            warn!(error = %e, media = what, "could not download a Telegram file; the message says so");
            Err((what, Unbridged::DownloadFailed))
        }
    }
}

/// Remembers the access hashes of users from a raw answer.
async fn cache_users(session: &StoredSession, users: &[tl::enums::User]) {
    for info in users.iter().filter_map(peer_info_of) {
        if let Err(e) = session.cache_peer(info).await {
            warn!(error = %e, "could not cache a Telegram user");
        }
    }
}

/// Why a download stopped.
enum DownloadError {
    /// Past [`MAX_DOWNLOAD`] (the bytes read so far).
    TooLarge(usize),
    /// Telegram failed.
    Backend(BackendError),
}

impl From<DownloadError> for BackendError {
    fn from(e: DownloadError) -> Self {
        match e {
            DownloadError::TooLarge(_) => {
                BackendError::Refused(format!("the file is larger than the {MAX_DOWNLOAD} bytes the bridge forwards"))
            }
            DownloadError::Backend(e) => e,
        }
    }
}

/// The whole file, up to [`MAX_DOWNLOAD`] bytes.
async fn download_all<D: Downloadable>(client: &Client, file: &D) -> Result<Vec<u8>, DownloadError> {
    let mut chunks = client.iter_download(file);
    let mut data = Vec::new();
    while let Some(chunk) = chunks.next().await.map_err(|e| DownloadError::Backend(backend_error(e)))? {
        data.extend_from_slice(&chunk);
        if data.len() > MAX_DOWNLOAD {
            return Err(DownloadError::TooLarge(data.len()));
        }
    }
    Ok(data)
}

/// How long a logout waits for Telegram before telling the user to end the session there.
const SIGN_OUT_TIMEOUT: Duration = Duration::from_secs(30);

/// Ends the session on Telegram's side; one already revoked counts as ended.
async fn sign_out(client: &Client) -> Result<(), BackendError> {
    match tokio::time::timeout(SIGN_OUT_TIMEOUT, client.sign_out()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => match backend_error(e) {
            BackendError::Revoked(_) => Ok(()),
            other => Err(other),
        },
        Err(_) => Err(BackendError::Unreachable(format!("Telegram did not answer within {} s", SIGN_OUT_TIMEOUT.as_secs()))),
    }
}

fn members_of(peer: &GrammersPeer) -> (String, TgChatKind) {
    match peer {
        GrammersPeer::User(u) => (u.full_name(), TgChatKind::Private),
        GrammersPeer::Group(g) => (g.title().unwrap_or("Telegram group").to_owned(), TgChatKind::Group),
        GrammersPeer::Channel(c) => {
            let kind = if c.kind() == Some(ChannelKind::Broadcast) { TgChatKind::Channel } else { TgChatKind::Group };
            (c.title().to_owned(), kind)
        }
        other => (other.name().unwrap_or("Telegram chat").to_owned(), TgChatKind::Group),
    }
}

#[async_trait]
impl TelegramAccount for RealAccount {
    fn me(&self) -> TgUser {
        self.persisted.me.to_user()
    }

    async fn connect(&self, updates: mpsc::UnboundedSender<TgUpdate>) {
        let (api_id, device_model, persisted, store) = (self.api_id, self.device_model.clone(), self.persisted.clone(), self.store.clone());
        let (live, recent) = (self.live.clone(), self.recent.clone());
        let task = tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                match run_once(api_id, &device_model, &persisted, &store, &live, &recent, &updates).await {
                    Ok(true) => attempt = 0,
                    Ok(false) => {
                        let _ = updates.send(TgUpdate::Connection(Connection::Revoked("Telegram no longer accepts this session".into())));
                        return;
                    }
                    Err(why) => {
                        attempt += 1;
                        let _ = updates.send(TgUpdate::Connection(Connection::Reconnecting(why)));
                    }
                }
                let delay = reconnect_delay(attempt.max(1));
                info!(attempt, delay_s = delay.as_secs(), "reconnecting to Telegram");
                tokio::time::sleep(delay).await;
            }
        });
        if let Some(old) = self.supervisor.lock().expect("lock").replace(task) {
            old.abort();
        }
    }

    async fn disconnect(&self) {
        let live = self.live.lock().expect("lock").take();
        if let Some(live) = live {
            let _ = live.session.flush().await;
            live.client.disconnect();
        }
        if let Some(task) = self.supervisor.lock().expect("lock").take() {
            task.abort();
        }
    }

    async fn log_out(&self) -> Result<(), BackendError> {
        let signed_out = match self.live() {
            Ok((client, session)) => {
                let out = sign_out(&client).await;
                session.forget().await;
                out
            }
            // Disconnected (or reconnecting): connect once, only to end the session.
            Err(_) => {
                self.disconnect().await;
                let session = Arc::new(StoredSession::restored(&self.persisted, self.store.clone()));
                let pool = SenderPool::with_configuration(session.clone(), self.api_id, connection_params(&self.device_model));
                let client = Client::new(pool.handle);
                let runner = tokio::spawn(pool.runner.run());
                let out = sign_out(&client).await;
                session.forget().await;
                client.disconnect();
                runner.abort();
                out
            }
        };
        self.disconnect().await;
        if let Err(e) = &signed_out {
            warn!(error = %e, "Telegram did not confirm the logout");
        }
        signed_out
    }

    async fn dialogs(&self, limit: usize) -> Result<Vec<TgDialog>, BackendError> {
        let (client, _) = self.live()?;
        let mut iter = client.iter_dialogs();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(dialog) = iter.next().await.map_err(backend_error)? else { break };
            let (title, kind) = members_of(&dialog.peer);
            let peer = peer_of(dialog.peer.id());
            let members = match &dialog.peer {
                GrammersPeer::User(_) => vec![TgMember { user: user_of(&dialog.peer), admin: false }],
                other => self.own_channel_membership(other),
            };
            let last_message_at = dialog.last_message.as_ref().map(|m| m.date().as_second()).unwrap_or(0);
            out.push(TgDialog { chat: TgChat { peer, title, kind, members, about: None }, last_message_at });
        }
        Ok(out)
    }

    async fn chat(&self, peer: Peer) -> Result<TgChat, BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        let resolved = client.resolve_peer(peer_ref).await.map_err(backend_error)?;
        let (title, kind) = members_of(&resolved);
        let mut members = Vec::new();
        if let GrammersPeer::User(_) = &resolved {
            members.push(TgMember { user: user_of(&resolved), admin: false });
        } else if kind == TgChatKind::Channel {
            members = self.own_channel_membership(&resolved);
        } else if kind == TgChatKind::Group {
            let mut iter = client.iter_participants(peer_ref);
            while members.len() < 200 {
                let Some(p) = iter.next().await.map_err(backend_error)? else { break };
                let admin = matches!(p.role, grammers_client::peer::Role::Creator(_) | grammers_client::peer::Role::Admin(_));
                members.push(TgMember { user: user_of(&GrammersPeer::User(p.user)), admin });
            }
        }
        Ok(TgChat { peer, title, kind, members, about: None })
    }

    async fn history(&self, peer: Peer, limit: usize) -> Result<Vec<TgMessage>, BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        super::history::recent(&client, peer_ref, limit).await
    }

    async fn user(&self, id: i64) -> Result<TgUser, BackendError> {
        let (client, peer_ref) = self.peer_ref(Peer::User(id)).await?;
        Ok(user_of(&client.resolve_peer(peer_ref).await.map_err(backend_error)?))
    }

    async fn contacts(&self) -> Result<Vec<TgUser>, BackendError> {
        let (client, session) = self.live()?;
        let result = client.invoke(&tl::functions::contacts::GetContacts { hash: 0 }).await.map_err(backend_error)?;
        Ok(match result {
            tl::enums::contacts::Contacts::Contacts(c) => {
                cache_users(&session, &c.users).await;
                c.users.iter().filter_map(tl_user).collect()
            }
            tl::enums::contacts::Contacts::NotModified => Vec::new(),
        })
    }

    async fn profile_photo(&self, user: &TgUser) -> Result<Option<TgFile>, BackendError> {
        let Some(photo_id) = user.photo else { return Ok(None) };
        let (client, peer_ref) = self.peer_ref(Peer::User(user.id)).await?;
        let data = download_all(&client, &ProfilePicture { peer: peer_ref, photo_id }).await?;
        // Telegram serves profile pictures as JPEG.
        Ok(Some(TgFile { kind: TgMediaKind::Photo, name: format!("telegram-{}.jpg", user.id), mime: "image/jpeg".into(), data }))
    }

    async fn resolve_phone(&self, phone: &str) -> Result<Option<TgUser>, BackendError> {
        let (client, session) = self.live()?;
        let digits = phone.trim_start_matches('+').to_owned();
        match client.invoke(&tl::functions::contacts::ResolvePhone { phone: digits }).await {
            Ok(tl::enums::contacts::ResolvedPeer::Peer(r)) => {
                // `pm` then opens a chat with them: the session must know how to address them.
                cache_users(&session, &r.users).await;
                Ok(r.users.iter().find_map(tl_user))
            }
            Err(e) if matches!(rpc_name(&e), Some("PHONE_NOT_OCCUPIED" | "PHONE_NUMBER_INVALID")) => Ok(None),
            Err(e) => Err(backend_error(e)),
        }
    }

    async fn resolve_username(&self, username: &str) -> Result<Option<TgUser>, BackendError> {
        let (client, _) = self.live()?;
        match client.resolve_username(username).await.map_err(backend_error)? {
            Some(peer @ GrammersPeer::User(_)) => Ok(Some(user_of(&peer))),
            _ => Ok(None),
        }
    }

    async fn send(&self, peer: Peer, message: TgOutgoing) -> Result<i64, BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        let mut input = InputMessage::new()
            .text(message.text.text.clone())
            .fmt_entities(entities_to_tl(&message.text.entities))
            .reply_to(message.reply_to.and_then(|id| i32::try_from(id).ok()));
        if let Some(file) = &message.media {
            let size = file.data.len();
            let mut reader = std::io::Cursor::new(file.data.clone());
            let uploaded = client
                .upload_stream(&mut reader, size, file.name.clone())
                .await
                .map_err(|e| BackendError::Unreachable(format!("the upload failed: {e}")))?;
            input = match file.kind {
                TgMediaKind::Photo => input.photo(uploaded),
                _ => attributes_of(file).into_iter().fold(input.document(uploaded).mime_type(&file.mime), InputMessage::attribute),
            };
        }
        if let Some((latitude, longitude)) = message.location {
            input = input.media(geo_media(latitude, longitude));
        }
        let sent = client.send_message(peer_ref, input).await.map_err(backend_error)?;
        let id = i64::from(sent.id());
        self.recent.lock().expect("lock").remember(id, peer);
        Ok(id)
    }

    async fn edit(&self, peer: Peer, id: i64, text: FormattedText) -> Result<(), BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        let id = i32::try_from(id).map_err(|_| BackendError::NotFound(format!("message {id}")))?;
        let input = InputMessage::new().text(text.text).fmt_entities(entities_to_tl(&text.entities));
        client.edit_message(peer_ref, id, input).await.map_err(backend_error)
    }

    async fn delete(&self, peer: Peer, ids: &[i64]) -> Result<(), BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        let ids: Vec<i32> = ids.iter().filter_map(|&i| i32::try_from(i).ok()).collect();
        client.delete_messages(peer_ref, &ids).await.map(|_| ()).map_err(backend_error)
    }

    async fn react(&self, peer: Peer, id: i64, emoji: Option<&str>) -> Result<(), BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        let id = i32::try_from(id).map_err(|_| BackendError::NotFound(format!("message {id}")))?;
        let reactions = match emoji {
            Some(e) => InputReactions::emoticon(e),
            None => InputReactions::remove(),
        };
        client.send_reactions(peer_ref, id, reactions).await.map_err(backend_error)
    }

    async fn set_typing(&self, peer: Peer, typing: bool) -> Result<(), BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        let action = if typing {
            tl::enums::SendMessageAction::SendMessageTypingAction
        } else {
            tl::enums::SendMessageAction::SendMessageCancelAction
        };
        client.action(peer_ref).oneshot(action).await.map_err(backend_error)
    }

    async fn mark_read(&self, peer: Peer, up_to: i64) -> Result<(), BackendError> {
        let (client, peer_ref) = self.peer_ref(peer).await?;
        match read_history(peer_ref, up_to) {
            ReadHistory::Channel(request) => client.invoke(&request).await.map(drop),
            ReadHistory::Chat(request) => client.invoke(&request).await.map(drop),
        }
        .map_err(backend_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_recent_messages_remember_their_chats_up_to_a_bound() {
        let mut recent = RecentMessages::default();
        for id in 0..(REMEMBERED as i64 + 5) {
            recent.remember(id, Peer::User(id % 3));
        }
        assert_eq!(recent.peers.len(), REMEMBERED);
        assert_eq!(recent.peers.get(&0), None, "the oldest are forgotten");
        assert_eq!(recent.peers.get(&(REMEMBERED as i64 + 4)), Some(&Peer::User((REMEMBERED as i64 + 4) % 3)));
    }
}
