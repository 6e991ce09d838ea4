//! The client as the core sees it: [`NetworkClient`] and the optional capabilities, each
//! turned into calls on the login's WhatsApp session.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use mxbridge_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use mxbridge_core::network::content::Content;
use mxbridge_core::network::event::HistoryMessage;
use mxbridge_core::network::{
    Backfill, ChatInfo, ChatNames, Edits, Location, Locations, Moderation, NetworkClient, NetworkError, OutgoingMessage, Reactions,
    ReadReceipts, Redactions, ResolveIdentifier, SentMessage, Typing, UserInfo,
};
use tokio::sync::mpsc;

use crate::backend::{BackendError, OutgoingWa, WaContactCard, WaLocation, WaMedia};
use crate::client::{PHONE_SEEN_KEY, WhatsAppClient};
use crate::jid::{self, Jid};
use crate::markup::WaText;
use crate::vcard;

/// What the user must do when WhatsApp could not be told about a logout: the phone still
/// lists the bridge as a linked device.
fn unlink_failed_notice(unlinked: &Result<(), BackendError>) -> Option<String> {
    let e = unlinked.as_ref().err()?;
    Some(format!(
        "The bridge forgot your WhatsApp session, but could not tell WhatsApp ({e}), so your phone still lists the bridge: \
         remove it in WhatsApp → ⋮ → Linked devices."
    ))
}

/// A Matrix file as WhatsApp sends it: a WebP picture goes as a sticker (what Matrix
/// stickers are) and OGG/Opus audio as a voice note (what WhatsApp records).
fn outgoing_media(m: &mxbridge_core::network::content::Media) -> WaMedia {
    use mxbridge_core::network::content::MediaKind;
    let mime = m.mime.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
    WaMedia {
        kind: m.kind,
        sticker: m.kind == MediaKind::Image && mime == "image/webp",
        voice: m.kind == MediaKind::Audio && mime.starts_with("audio/ogg"),
        mime,
        name: m.name.clone(),
        data: m.data.clone(),
    }
}

/// A Matrix file that is a single vCard, as the contact card WhatsApp shows for it (Matrix
/// has no contact message; clients share contacts as `.vcf` files).
fn contact_card(m: &mxbridge_core::network::content::Media) -> Option<WaContactCard> {
    if !vcard::is_vcard_file(m.mime.as_deref(), &m.name) {
        return None;
    }
    let card = vcard::parse(&m.data)?;
    Some(WaContactCard { display_name: card.display_name, vcard: card.text })
}

fn to_network_error(e: BackendError) -> NetworkError {
    match e {
        BackendError::NotConnected => NetworkError::NotConnected("WhatsApp is not connected".into()),
        BackendError::NotFound(m) => NetworkError::NotFound(m),
        BackendError::Refused(m) => NetworkError::Refused(m),
        other => NetworkError::Other(other.to_string()),
    }
}

/// The client as the core sees it: a thin wrapper, because the pump needs an `Arc` of the
/// client itself.
pub(crate) struct ClientHandle(pub(crate) Arc<WhatsAppClient>);

#[async_trait]
impl NetworkClient for ClientHandle {
    async fn connect(&self) {
        if let Some(sessions) = self.0.shared.sessions.get()
            && let Ok(Some(v)) = sessions.get(&self.0.login, PHONE_SEEN_KEY).await
            && let Some(at) = std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok())
        {
            self.0.phone_seen_ms.fetch_max(at, Ordering::SeqCst);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.spawn_tasks(rx);
        self.0.session.connect(tx).await;
    }

    async fn disconnect(&self) {
        self.0.session.disconnect().await;
        self.0.stop_tasks();
    }

    fn is_logged_in(&self) -> bool {
        self.0.logged_in.load(Ordering::SeqCst)
    }

    async fn logout(&self) {
        self.0.logged_in.store(false, Ordering::SeqCst);
        let unlinked = self.0.session.logout().await;
        self.0.stop_tasks();
        if let Some(text) = unlink_failed_notice(&unlinked) {
            // The core still tells the owner after it forgot a login it logged out.
            self.0.events.send(mxbridge_core::network::event::RemoteEvent::Notice { text });
        }
    }

    async fn chat_info(&self, chat: &PortalKey) -> Result<ChatInfo, NetworkError> {
        self.0.info_of(&WhatsAppClient::chat(chat)?).await.map_err(to_network_error)
    }

    async fn user_info(&self, user: &RemoteUserId) -> Result<UserInfo, NetworkError> {
        let name = self.0.name_of(user.as_str()).unwrap_or_else(|| format!("+{user}"));
        Ok(UserInfo { display_name: Some(name), avatar: None })
    }

    async fn send(&self, msg: OutgoingMessage) -> Result<SentMessage, NetworkError> {
        let chat = WhatsAppClient::chat(&msg.portal)?;
        let mut text = self.0.wa_text(&msg.content);
        if let Some(name) = &msg.relayed_for {
            text.text = format!("*{name}*: {}", text.text);
        }
        let contact = msg.content.media.as_ref().and_then(contact_card);
        let media = msg.content.media.as_ref().filter(|_| contact.is_none()).map(outgoing_media);
        let outgoing = OutgoingWa { text, reply_to: msg.reply_to.map(|r| r.as_str().to_owned()), media, location: None, contact };
        let sent = self.0.session.send(&chat, outgoing).await.map_err(to_network_error)?;
        Ok(SentMessage { id: RemoteMessageId::new(sent.id), timestamp_ms: Some(sent.timestamp_ms), note: None })
    }

    mxbridge_core::supports!(edits: Edits, reactions: Reactions, redactions: Redactions, typing: Typing, read_receipts: ReadReceipts, locations: Locations, start_dm: ResolveIdentifier, chat_names: ChatNames, moderation: Moderation, backfill: Backfill);

    fn remote_name(&self) -> Option<String> {
        Some(format!("+{} ({})", self.0.account.number, self.0.account.push_name))
    }
}

#[async_trait]
impl Edits for ClientHandle {
    async fn edit(&self, portal: &PortalKey, target: &RemoteMessageId, content: Content) -> Result<Option<String>, NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.edit(&chat, target.as_str(), self.0.wa_text(&content)).await.map_err(to_network_error)?;
        Ok(None)
    }
}

#[async_trait]
impl Reactions for ClientHandle {
    async fn react(&self, portal: &PortalKey, target: &RemoteMessageId, key: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.react(&chat, target.as_str(), key).await.map_err(to_network_error)
    }

    async fn unreact(&self, portal: &PortalKey, target: &RemoteMessageId, _key: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.react(&chat, target.as_str(), "").await.map_err(to_network_error)
    }
}

#[async_trait]
impl Redactions for ClientHandle {
    async fn delete(&self, portal: &PortalKey, target: &RemoteMessageId) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.revoke(&chat, target.as_str()).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Typing for ClientHandle {
    async fn set_typing(&self, portal: &PortalKey, typing: bool) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        self.0.session.set_typing(&chat, typing).await.map_err(to_network_error)
    }
}

#[async_trait]
impl Locations for ClientHandle {
    async fn send_location(
        &self,
        portal: &PortalKey,
        location: &Location,
        reply_to: Option<&RemoteMessageId>,
    ) -> Result<SentMessage, NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        let shared = WaLocation { latitude: location.latitude, longitude: location.longitude, name: location.description.clone() };
        let outgoing = OutgoingWa { location: Some(shared), ..OutgoingWa::new(WaText::default(), reply_to.map(|r| r.as_str().to_owned())) };
        let sent = self.0.session.send(&chat, outgoing).await.map_err(to_network_error)?;
        Ok(SentMessage { id: RemoteMessageId::new(sent.id), timestamp_ms: Some(sent.timestamp_ms), note: None })
    }
}

#[async_trait]
impl ChatNames for ClientHandle {
    async fn set_chat_name(&self, portal: &PortalKey, name: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        if !chat.is_group() {
            return Err(NetworkError::Unsupported("renaming a chat with one person (only the Matrix room has the new name)".into()));
        }
        self.0.session.set_subject(&chat, name).await.map_err(to_network_error)
    }
}

/// What Matrix moderators do in a group portal, done by the user's WhatsApp account (which
/// must administer the group for WhatsApp to accept it).
#[async_trait]
impl Moderation for ClientHandle {
    async fn set_topic(&self, portal: &PortalKey, topic: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::group(portal, "a chat with one person has no description")?;
        let description = Some(topic.trim()).filter(|t| !t.is_empty());
        self.0.session.set_description(&chat, description).await.map_err(to_network_error)
    }

    async fn kick(&self, portal: &PortalKey, user: &RemoteUserId, _reason: &str) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::group(portal, "nobody can be removed from a chat with one person")?;
        self.0.session.remove_participant(&chat, user.as_str()).await.map_err(to_network_error)
    }

    async fn ban(&self, _portal: &PortalKey, _user: &RemoteUserId, _reason: &str) -> Result<(), NetworkError> {
        Err(NetworkError::Unsupported("bans (WhatsApp only removes people from groups: kick them instead)".into()))
    }
}

#[async_trait]
impl ReadReceipts for ClientHandle {
    async fn mark_read(&self, portal: &PortalKey, up_to: &RemoteMessageId) -> Result<(), NetworkError> {
        let chat = WhatsAppClient::chat(portal)?;
        let sender = if chat.is_group() { self.0.group_senders.lock().expect("lock").sender_of(up_to.as_str()) } else { None };
        self.0.session.mark_read(&chat, sender.as_deref(), &[up_to.as_str().to_owned()]).await.map_err(to_network_error)
    }
}

#[async_trait]
impl ResolveIdentifier for ClientHandle {
    async fn resolve(&self, identifier: &str) -> Result<(PortalKey, ChatInfo), NetworkError> {
        let number = jid::normalize_number(identifier).map_err(|e| NetworkError::NotFound(e.to_string()))?;
        let contact = self.0.session.lookup(&number).await.map_err(to_network_error)?;
        let Some(contact) = contact else {
            return Err(NetworkError::NotFound(format!("+{number} is not on WhatsApp; check the number, with its country code")));
        };
        self.0.names.lock().expect("lock").entry(number.clone()).or_insert(contact.name.clone());
        let chat = Jid::user(&number);
        let info = ChatInfo::direct(jid::user_id(&number), Some(UserInfo { display_name: Some(contact.name), avatar: None }));
        Ok((chat.portal(&self.0.login), info))
    }
}

#[async_trait]
impl Backfill for ClientHandle {
    async fn recent_messages(&self, portal: &PortalKey, limit: usize) -> Result<Vec<HistoryMessage>, NetworkError> {
        // WhatsApp sends history once, in the history sync after a link: what it brought for
        // this chat is all there is (the phone is not asked for more).
        Ok(self.0.take_history(&WhatsAppClient::chat(portal)?, limit))
    }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::network::content::{Media, MediaKind};

    use super::*;

    #[test]
    fn test_a_failed_unlink_tells_the_user_to_remove_the_device_on_the_phone() {
        assert_eq!(unlink_failed_notice(&Ok(())), None, "a confirmed unlink needs no extra word");
        let text = unlink_failed_notice(&Err(BackendError::NotConnected)).expect("a failed unlink is reported");
        assert!(text.contains("Linked devices") && text.contains("not connected to WhatsApp"), "{text}");
    }

    #[test]
    fn test_webp_pictures_go_as_stickers_and_ogg_audio_as_voice_notes() {
        let media = |kind, mime: &str| Media { kind, name: "f".into(), mime: Some(mime.into()), data: vec![1], url: None };
        let sticker = outgoing_media(&media(MediaKind::Image, "image/webp"));
        assert!(sticker.sticker && !sticker.voice);
        assert!(!outgoing_media(&media(MediaKind::Image, "image/png")).sticker);
        let voice = outgoing_media(&media(MediaKind::Audio, "audio/ogg; codecs=opus"));
        assert!(voice.voice && !voice.sticker);
        assert!(!outgoing_media(&media(MediaKind::Audio, "audio/mpeg")).voice, "music stays a music file");
        let unknown = outgoing_media(&Media { mime: None, ..media(MediaKind::File, "") });
        assert_eq!(unknown.mime, "application/octet-stream");
    }
}
