//! whatsapp-rust's events → the backend's pairing updates and events (pure translation).
//!
//! Media arrive without their bytes: the session downloads them (with retries) before it
//! reports the message, so a slow download never reorders the events of one chat.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use mxbridge_core::network::content::MediaKind;
use whatsapp_rust::types::events::{ContactUpdate, Event, GroupUpdate};
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore::stanza::groups::{GroupNotificationAction, GroupParticipantInfo};
use whatsapp_rust::wacore::types::call::{CallAction, IncomingCall, MissedReason};
use whatsapp_rust::wacore::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::wacore::types::presence::{ChatPresence, ReceiptType};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::backend::{BackendEvent, Contact, InboundKind, InboundMessage, PairingUpdate, RecentChat, WaMedia};
use crate::jid::{GROUP_SERVER, Jid, LID_SERVER, USER_SERVER};
use crate::markup::WaText;
use crate::real::reasons;

/// What one whatsapp-rust event means to the bridge.
#[derive(Debug)]
pub(crate) enum Translated {
    /// Progress of a device link.
    Pairing(PairingUpdate),
    /// The device was linked to this number.
    Paired {
        /// The account's number.
        number: String,
    },
    /// Something to report as it is.
    Event(BackendEvent),
    /// Names of people: from the phone's address book (app-state contact updates), or the
    /// push names they set themselves.
    Names {
        /// Number and name.
        contacts: Vec<Contact>,
        /// Address-book names win over push names.
        address_book: bool,
    },
    /// A message; `download` holds the media message to fetch first.
    Message {
        /// The message, media bytes still empty.
        message: InboundMessage,
        /// The original, for downloading its media.
        download: Option<Arc<wa::Message>>,
    },
}

/// The number of a whatsapp-rust JID, preferring the phone-number form of a LID.
fn number_of(jid: &whatsapp_rust::Jid, alt: Option<&whatsapp_rust::Jid>) -> String {
    match alt {
        Some(alt) if jid.is_lid() && alt.is_pn() => alt.user.to_string(),
        _ => jid.user.to_string(),
    }
}

/// Our JID for a whatsapp-rust chat JID.
pub(crate) fn chat_of(jid: &whatsapp_rust::Jid) -> Jid {
    Jid::parse(&jid.to_non_ad_string()).unwrap_or_else(|| Jid::user(&jid.user))
}

/// The chat of a message. A DM addressed by the other person's LID is filed under their
/// phone number when the message carries it, so it lands in the same portal as `pm +number`.
pub(crate) fn message_chat(source: &MessageSource) -> Jid {
    if source.chat.is_lid() {
        let alt = if source.is_from_me { source.recipient_alt.as_ref() } else { source.sender_alt.as_ref() };
        if let Some(pn) = alt.filter(|a| a.is_pn()) {
            return Jid::user(&pn.user);
        }
    }
    chat_of(&source.chat)
}

/// Translates one event; most kinds mean nothing to the bridge.
pub(crate) fn translate(event: &Event) -> Vec<Translated> {
    match event {
        Event::PairingQrCode(qr) => vec![Translated::Pairing(PairingUpdate::Qr(qr.code.clone()))],
        Event::PairingCode(code) => vec![Translated::Pairing(PairingUpdate::Code(code.code.clone()))],
        Event::PairingQrCodesExhausted(_) => vec![Translated::Pairing(PairingUpdate::Expired)],
        Event::PairError(e) => {
            tracing::warn!(error = %e.error, "WhatsApp refused the device link");
            vec![Translated::Pairing(PairingUpdate::Failed(
                "WhatsApp refused to link the bridge: send `login` to try again with a new code".into(),
            ))]
        }
        Event::PairingCodeError(e) => {
            tracing::warn!(error = %e.error, "no pairing code");
            vec![Translated::Pairing(PairingUpdate::Failed(reasons::pairing_code_refused(e.rejection.as_ref())))]
        }
        Event::PairSuccess(ok) => vec![Translated::Paired { number: ok.id.user.to_string() }],
        Event::Connected(_) => vec![Translated::Event(BackendEvent::Connected)],
        Event::Disconnected(d) => vec![Translated::Event(BackendEvent::Disconnected(reasons::connection_lost(&d.reason)))],
        Event::LoggedOut(out) => vec![Translated::Event(BackendEvent::LoggedOut(reasons::unlinked(&out.reason)))],
        Event::Messages(batch) => {
            let phone_seen =
                batch.messages.iter().filter(|m| from_primary_phone(&m.info)).map(|m| m.info.timestamp.timestamp_millis()).max();
            let messages = batch.messages.iter().filter_map(|m| message(&m.message, &m.info));
            phone_seen.map(|at| Translated::Event(BackendEvent::PhoneSeen(at))).into_iter().chain(messages).collect()
        }
        Event::Receipt(r) if r.r#type == ReceiptType::Read => vec![Translated::Event(BackendEvent::Receipt {
            chat: chat_of(&r.source.chat),
            reader: number_of(&r.source.sender, r.source.sender_alt.as_ref()),
            ids: r.message_ids.iter().map(|id| id.to_string()).collect(),
        })],
        Event::ChatPresence(p) => vec![Translated::Event(BackendEvent::Typing {
            chat: chat_of(&p.source.chat),
            sender: number_of(&p.source.sender, p.source.sender_alt.as_ref()),
            typing: p.state == ChatPresence::Composing,
        })],
        Event::IncomingCall(call) => call_offer(call).map(|e| vec![Translated::Event(e)]).unwrap_or_default(),
        // Offers replayed after the bridge was offline; a call that rang here and went
        // unanswered was told about when it rang.
        Event::MissedCall(call) if matches!(call.reason, MissedReason::Offline) && call.from.is_pn() => {
            vec![Translated::Event(BackendEvent::Call { from: call.from.user.to_string(), missed: true })]
        }
        // Reasons the connection stops that the user can act on; the core shows them when
        // the connection stays down.
        Event::StreamReplaced(_) => vec![Translated::Event(BackendEvent::Disconnected(
            "another client took over this device's connection to WhatsApp: make sure the bridge runs only once with this session".into(),
        ))],
        Event::TemporaryBan(ban) => vec![Translated::Event(BackendEvent::Disconnected(format!(
            "WhatsApp banned the account for {} hours ({}); it can connect again after that",
            (ban.expire.num_seconds().max(0) as u64).div_ceil(3600),
            ban.code
        )))],
        Event::ClientOutdated(_) => vec![Translated::Event(BackendEvent::Disconnected(
            "WhatsApp refused this bridge's client version as outdated: update the bridge".into(),
        ))],
        Event::ConnectFailure(failure) => {
            tracing::warn!(reason = ?failure.reason, message = ?failure.message, "WhatsApp refused the connection");
            vec![Translated::Event(BackendEvent::Disconnected(reasons::connect_refused(&failure.reason)))]
        }
        Event::GroupUpdate(update) => group_update(update).into_iter().map(Translated::Event).collect(),
        // Decoding inflates the blob (up to a few MB, once per chunk after a link).
        Event::HistorySync(sync) => sync.get().map(history).unwrap_or_default(),
        Event::ContactUpdate(update) => {
            address_book_entry(update).map(|c| vec![Translated::Names { contacts: vec![c], address_book: true }]).unwrap_or_default()
        }
        Event::PushNameUpdate(update) => {
            let number = number_of(&update.jid, update.message.source.sender_alt.as_ref());
            let name = update.new_push_name.trim();
            if name.is_empty() || !update.jid.is_pn() && number == update.jid.user.as_str() {
                return Vec::new(); // no name, or a LID without its phone number
            }
            vec![Translated::Names { contacts: vec![Contact { number, name: name.to_owned() }], address_book: false }]
        }
        _ => Vec::new(),
    }
}

/// Whether the account's own phone (device 0, the primary) sent a message: WhatsApp unlinks
/// the bridge when the phone stays offline for 14 days, so this is the clock the warning
/// runs on.
fn from_primary_phone(info: &MessageInfo) -> bool {
    info.source.is_from_me && info.source.sender.device == 0
}

/// How many call ids are remembered to tell each call once.
const REMEMBERED_CALLS: usize = 64;

/// The calls already told about: WhatsApp may deliver a call's offer more than once (again
/// after a reconnect, or as an offer notice), and a missed-call report for an offer seen live.
#[derive(Default)]
pub(crate) struct SeenCalls {
    ids: VecDeque<String>,
}

impl SeenCalls {
    /// Translates an event like [`translate`], leaving out calls already told about.
    pub(crate) fn translate(&mut self, event: &Event) -> Vec<Translated> {
        let translated = translate(event);
        let told = translated.iter().any(|t| matches!(t, Translated::Event(BackendEvent::Call { .. })));
        match call_id(event) {
            Some(id) if told && !self.first_time(id) => Vec::new(),
            _ => translated,
        }
    }

    fn first_time(&mut self, id: &str) -> bool {
        if self.ids.iter().any(|seen| seen == id) {
            return false;
        }
        if self.ids.len() == REMEMBERED_CALLS {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
        true
    }
}

/// The id of the call an event is about, for the events that can tell a call.
fn call_id(event: &Event) -> Option<&str> {
    match event {
        Event::IncomingCall(call) => match &call.action {
            CallAction::Offer { call_id, .. } | CallAction::OfferNotice { call_id, .. } => Some(call_id),
            _ => None,
        },
        Event::MissedCall(call) => Some(&call.call_id),
        _ => None,
    }
}

/// A call being offered (one notice per call): the other stanzas of a call (accept,
/// terminate, transport...) and offers replayed from the offline queue are not new calls.
pub(crate) fn call_offer(call: &IncomingCall) -> Option<BackendEvent> {
    let (creator, caller_pn) = match &call.action {
        CallAction::Offer { call_creator, caller_pn, .. } => (call_creator, caller_pn.as_ref()),
        CallAction::OfferNotice { call_creator, .. } => (call_creator, None),
        _ => return None,
    };
    if call.offline {
        return None;
    }
    // The caller's phone number: given beside a LID, else the creator or the sender.
    let from = caller_pn.or(Some(creator).filter(|j| j.is_pn())).unwrap_or(&call.from);
    Some(BackendEvent::Call { from: from.user.to_string(), missed: false })
}

/// The number of a participant in a group notification.
fn participant_number(p: &GroupParticipantInfo) -> String {
    p.phone_number.as_ref().unwrap_or(&p.jid).user.to_string()
}

/// A group notification: people added or removed, the subject changed. Other actions
/// (settings, invites, admins) mean nothing to the bridge yet.
pub(crate) fn group_update(update: &GroupUpdate) -> Option<BackendEvent> {
    let group = chat_of(&update.group_jid);
    let numbers = |ps: &[GroupParticipantInfo]| ps.iter().map(participant_number).collect::<Vec<_>>();
    match &update.action {
        GroupNotificationAction::Add { participants, .. } => {
            Some(BackendEvent::GroupMembers { group, joined: numbers(participants), left: Vec::new(), by: changed_by(update, None) })
        }
        GroupNotificationAction::Remove { participants, .. } => {
            Some(BackendEvent::GroupMembers { group, joined: Vec::new(), left: numbers(participants), by: changed_by(update, None) })
        }
        GroupNotificationAction::Promote { participants } => {
            Some(BackendEvent::GroupAdmins { group, promoted: numbers(participants), demoted: Vec::new() })
        }
        GroupNotificationAction::Demote { participants } => {
            Some(BackendEvent::GroupAdmins { group, promoted: Vec::new(), demoted: numbers(participants) })
        }
        GroupNotificationAction::Description { description, .. } => {
            Some(BackendEvent::GroupTopic { group, topic: description.clone(), by: changed_by(update, None) })
        }
        GroupNotificationAction::Subject { subject, subject_owner, .. } => {
            Some(BackendEvent::GroupSubject { group, subject: subject.clone(), by: changed_by(update, subject_owner.as_ref()) })
        }
        _ => None,
    }
}

/// The number of who made a group change, when the notification gives one.
fn changed_by(update: &GroupUpdate, owner: Option<&whatsapp_rust::Jid>) -> Option<String> {
    let pn = |j: &&whatsapp_rust::Jid| j.is_pn();
    update.participant_pn.as_ref().or(update.participant.as_ref().filter(pn)).or(owner.filter(pn)).map(|p| p.user.to_string())
}

/// A JID from a history sync as a phone number or group JID; LIDs through the sync's own
/// phone-number mappings. Broadcasts, newsletters and unmapped LIDs give `None`.
fn synced_jid(id: &str, lid_to_pn: &HashMap<&str, &str>) -> Option<Jid> {
    let jid = Jid::parse(id)?;
    match jid.server.as_str() {
        USER_SERVER | GROUP_SERVER => Some(jid),
        LID_SERVER => lid_to_pn.get(jid.user.as_str()).and_then(|pn| Jid::parse(pn)).filter(|j| j.server == USER_SERVER),
        _ => None,
    }
}

/// What a history sync chunk tells the bridge: the chats with their last activity (which
/// get portals when recent enough), and people's push names.
pub(crate) fn history(sync: &wa::HistorySync) -> Vec<Translated> {
    use wa::history_sync::HistorySyncType;
    // Chats get portals from the syncs the phone sends after a link; other kinds (push
    // names, statuses, answers to on-demand requests) must not bring back deleted portals.
    let after_link = matches!(sync.sync_type, HistorySyncType::INITIAL_BOOTSTRAP | HistorySyncType::RECENT | HistorySyncType::FULL);
    let lid_to_pn: HashMap<&str, &str> = sync
        .phone_number_to_lid_mappings
        .iter()
        .filter_map(|m| {
            let lid = m.lid_jid.as_deref()?.split('@').next()?;
            Some((lid, m.pn_jid.as_deref()?))
        })
        .collect();
    let chats: Vec<RecentChat> = sync
        .conversations
        .iter()
        .filter(|_| after_link)
        .filter_map(|c| {
            let seconds = c.last_msg_timestamp.or(c.conversation_timestamp).filter(|t| *t > 0)?;
            let jid = synced_jid(&c.id, &lid_to_pn)?;
            let messages = super::synced::messages(&c.messages, &jid, &|id| synced_jid(id, &lid_to_pn));
            Some(RecentChat { jid, last_activity_ms: i64::try_from(seconds).ok()?.saturating_mul(1000), messages })
        })
        .collect();
    let contacts: Vec<Contact> = sync
        .pushnames
        .iter()
        .filter_map(|p| {
            let jid = synced_jid(p.id.as_deref()?, &lid_to_pn).filter(|j| !j.is_group())?;
            let name = p.pushname.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
            Some(Contact { number: jid.user, name: name.to_owned() })
        })
        .collect();
    let mut out = Vec::new();
    if !contacts.is_empty() {
        out.push(Translated::Names { contacts, address_book: false });
    }
    if !chats.is_empty() {
        out.push(Translated::Event(BackendEvent::RecentChats(chats)));
    }
    out
}

/// A contact saved in the phone's address book (app-state sync), by phone number.
pub(crate) fn address_book_entry(update: &ContactUpdate) -> Option<Contact> {
    let action = &update.action;
    let name = action.full_name.as_deref().or(action.first_name.as_deref()).map(str::trim).filter(|n| !n.is_empty())?;
    let number = if update.jid.is_pn() {
        update.jid.user.to_string()
    } else {
        Jid::parse(action.pn_jid.as_deref()?).filter(|j| j.server == USER_SERVER)?.user
    };
    Some(Contact { number, name: name.to_owned() })
}

pub(crate) fn text_of(text: &str, context: Option<&wa::ContextInfo>) -> WaText {
    let mentions =
        context.map(|c| c.mentioned_jid.iter().filter_map(|j| j.split('@').next()).map(str::to_owned).collect()).unwrap_or_default();
    WaText { text: text.to_owned(), mentions }
}

fn reply_of(context: Option<&wa::ContextInfo>) -> Option<String> {
    context.and_then(|c| c.stanza_id.clone())
}

/// What a message carries, if it is a kind the bridge carries, and whether its media must
/// be downloaded first.
pub(crate) fn kind_of(msg: &wa::Message) -> Option<(InboundKind, bool)> {
    let base = msg.get_base_message();
    let kind = if let Some(p) = base.protocol_message.as_option() {
        let target = p.key.as_option()?.id.clone()?;
        match p.r#type {
            Some(wa::message::protocol_message::Type::REVOKE) => InboundKind::Revoke { target },
            Some(wa::message::protocol_message::Type::MESSAGE_EDIT) => {
                let edited = p.edited_message.as_option()?;
                InboundKind::Edit { target, text: text_of(edited.text_content().unwrap_or_default(), None) }
            }
            _ => return None,
        }
    } else if let Some(r) = base.reaction_message.as_option() {
        InboundKind::Reaction { target: r.key.as_option()?.id.clone()?, emoji: r.text.clone().unwrap_or_default() }
    } else if let Some(text) = &base.conversation {
        InboundKind::Text { text: text_of(text, None), reply_to: None }
    } else if let Some(ext) = base.extended_text_message.as_option() {
        let context = ext.context_info.as_option();
        InboundKind::Text { text: text_of(ext.text.as_deref().unwrap_or_default(), context), reply_to: reply_of(context) }
    } else if let Some(loc) = base.location_message.as_option() {
        InboundKind::Location { latitude: loc.degrees_latitude?, longitude: loc.degrees_longitude?, name: loc.name.clone() }
    } else if let Some(card) = base.contact_message.as_option() {
        let number = card.vcard.as_deref().and_then(|v| crate::vcard::parse(v.as_bytes())).and_then(|v| v.number);
        InboundKind::ContactCard { name: card.display_name.clone().unwrap_or_default(), number, vcard: card.vcard.clone() }
    } else {
        let (media, caption, context) = media_of(base)?;
        let kind =
            InboundKind::Media { media, caption: text_of(caption.as_deref().unwrap_or_default(), context), reply_to: reply_of(context) };
        return Some((kind, true));
    };
    Some((kind, false))
}

/// One message, if it is a kind the bridge carries.
pub(crate) fn message(msg: &Arc<wa::Message>, info: &MessageInfo) -> Option<Translated> {
    let (kind, needs_download) = kind_of(msg)?;
    let download = needs_download.then(|| msg.clone());
    let source = &info.source;
    Some(Translated::Message {
        message: InboundMessage {
            chat: message_chat(source),
            sender: number_of(&source.sender, source.sender_alt.as_ref()),
            push_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
            id: info.id.to_string(),
            timestamp_ms: info.timestamp.timestamp_millis(),
            from_me: source.is_from_me,
            kind,
        },
        download,
    })
}

/// A file that could not be downloaded, as a text saying so (with its caption), rather
/// than an empty file.
pub(crate) fn undownloadable(kind: InboundKind) -> InboundKind {
    let InboundKind::Media { media, caption, reply_to } = kind else { return kind };
    let what = match media.kind {
        _ if media.sticker => "A sticker".to_owned(),
        MediaKind::Image => "A photo".to_owned(),
        MediaKind::Video => "A video".to_owned(),
        MediaKind::Audio if media.voice => "A voice message".to_owned(),
        MediaKind::Audio => "An audio file".to_owned(),
        MediaKind::File => format!("The file `{}`", media.name),
    };
    let mut text = format!("⚠️ {what} could not be downloaded from WhatsApp: open it on your phone.");
    if !caption.text.is_empty() {
        text = format!("{text}\n{}", caption.text);
    }
    InboundKind::Text { text: WaText { text, mentions: caption.mentions }, reply_to }
}

type MediaParts<'a> = (WaMedia, Option<String>, Option<&'a wa::ContextInfo>);

/// The file in a media message, without its bytes.
fn media_of(base: &wa::Message) -> Option<MediaParts<'_>> {
    let file = |kind, mime: &Option<String>, name: String| WaMedia {
        kind,
        sticker: false,
        voice: false,
        mime: mime.clone().unwrap_or_else(|| "application/octet-stream".to_owned()),
        name,
        data: Vec::new(),
    };
    if let Some(m) = base.image_message.as_option() {
        return Some((file(MediaKind::Image, &m.mimetype, "image.jpg".into()), m.caption.clone(), m.context_info.as_option()));
    }
    if let Some(m) = base.video_message.as_option() {
        return Some((file(MediaKind::Video, &m.mimetype, "video.mp4".into()), m.caption.clone(), m.context_info.as_option()));
    }
    if let Some(m) = base.audio_message.as_option() {
        let mut f = file(MediaKind::Audio, &m.mimetype, "audio.ogg".into());
        f.voice = m.ptt.unwrap_or(false);
        return Some((f, None, m.context_info.as_option()));
    }
    if let Some(m) = base.document_message.as_option() {
        let name = m.file_name.clone().unwrap_or_else(|| "file".into());
        return Some((file(MediaKind::File, &m.mimetype, name), m.caption.clone(), m.context_info.as_option()));
    }
    if let Some(m) = base.sticker_message.as_option() {
        let mut f = file(MediaKind::Image, &m.mimetype, "sticker.webp".into());
        f.sticker = true;
        return Some((f, None, m.context_info.as_option()));
    }
    None
}

#[cfg(test)]
mod tests;
