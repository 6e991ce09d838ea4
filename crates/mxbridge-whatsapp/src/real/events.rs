//! whatsapp-rust's events → the backend's pairing updates and events (pure translation).
//!
//! Media arrive without their bytes: the session downloads them (with retries) before it
//! reports the message, so a slow download never reorders the events of one chat.

use std::collections::HashMap;
use std::sync::Arc;

use mxbridge_core::network::content::MediaKind;
use whatsapp_rust::types::events::{ContactUpdate, Event, GroupUpdate};
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore::stanza::groups::{GroupNotificationAction, GroupParticipantInfo};
use whatsapp_rust::wacore::types::call::{CallAction, IncomingCall};
use whatsapp_rust::wacore::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::wacore::types::presence::{ChatPresence, ReceiptType};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::backend::{BackendEvent, Contact, InboundKind, InboundMessage, PairingUpdate, RecentChat, WaMedia};
use crate::jid::{GROUP_SERVER, Jid, LID_SERVER, USER_SERVER};
use crate::markup::WaText;

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
        Event::PairError(e) => vec![Translated::Pairing(PairingUpdate::Failed(e.error.clone()))],
        Event::PairingCodeError(e) => vec![Translated::Pairing(PairingUpdate::Failed(format!("{e:?}")))],
        Event::PairSuccess(ok) => vec![Translated::Paired { number: ok.id.user.to_string() }],
        Event::Connected(_) => vec![Translated::Event(BackendEvent::Connected)],
        Event::Disconnected(d) => vec![Translated::Event(BackendEvent::Disconnected(format!("{:?}", d.reason)))],
        Event::LoggedOut(out) => {
            vec![Translated::Event(BackendEvent::LoggedOut(format!("WhatsApp unlinked this device ({:?})", out.reason)))]
        }
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
            let detail = failure.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            vec![Translated::Event(BackendEvent::Disconnected(format!("WhatsApp refused the connection ({:?}{detail})", failure.reason)))]
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
    Some(BackendEvent::Call { from: from.user.to_string() })
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
            Some(RecentChat { jid, last_activity_ms: i64::try_from(seconds).ok()?.saturating_mul(1000) })
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

fn text_of(text: &str, context: Option<&wa::ContextInfo>) -> WaText {
    let mentions =
        context.map(|c| c.mentioned_jid.iter().filter_map(|j| j.split('@').next()).map(str::to_owned).collect()).unwrap_or_default();
    WaText { text: text.to_owned(), mentions }
}

fn reply_of(context: Option<&wa::ContextInfo>) -> Option<String> {
    context.and_then(|c| c.stanza_id.clone())
}

/// One message, if it is a kind the bridge carries.
pub(crate) fn message(msg: &Arc<wa::Message>, info: &MessageInfo) -> Option<Translated> {
    let base = msg.get_base_message();
    let mut download = None;
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
        download = Some(msg.clone());
        InboundKind::Media { media, caption: text_of(caption.as_deref().unwrap_or_default(), context), reply_to: reply_of(context) }
    };
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
mod tests {
    use std::time::Duration;

    use whatsapp_rust::buffa::MessageField;
    use whatsapp_rust::wacore::chrono::{TimeZone, Utc};
    use whatsapp_rust::wacore::net::DisconnectReason;
    use whatsapp_rust::wacore::types::events::{
        Connected, Disconnected, PairSuccess, PairingQrCode, PairingQrCodesExhausted, PushNameUpdate,
    };
    use whatsapp_rust::wacore::types::message::MessageSource;

    use super::*;

    fn info(chat: whatsapp_rust::Jid, sender: whatsapp_rust::Jid, from_me: bool) -> MessageInfo {
        MessageInfo {
            source: MessageSource { chat, sender, is_from_me: from_me, ..Default::default() },
            id: "3EB0AA".into(),
            push_name: "Ally".into(),
            timestamp: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            ..Default::default()
        }
    }

    fn one(msg: wa::Message, info: &MessageInfo) -> (InboundMessage, bool) {
        match message(&Arc::new(msg), info) {
            Some(Translated::Message { message, download }) => (message, download.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_pairing_and_connection_events() {
        let qr = Event::PairingQrCode(PairingQrCode::builder().code("2@ref,noise,id,adv".into()).timeout(Duration::from_secs(60)).build());
        assert!(matches!(translate(&qr).as_slice(), [Translated::Pairing(PairingUpdate::Qr(c))] if c == "2@ref,noise,id,adv"));
        let gone = Event::PairingQrCodesExhausted(PairingQrCodesExhausted::builder().disconnected(true).build());
        assert!(matches!(translate(&gone).as_slice(), [Translated::Pairing(PairingUpdate::Expired)]));
        let ok = Event::PairSuccess(
            PairSuccess::builder()
                .id(whatsapp_rust::Jid::pn_device("447700900123", 7))
                .lid(whatsapp_rust::Jid::lid("1234"))
                .business_name(String::new())
                .platform("android".into())
                .build(),
        );
        assert!(matches!(translate(&ok).as_slice(), [Translated::Paired { number }] if number == "447700900123"));
        assert!(matches!(
            translate(&Event::Connected(Connected::builder().build())).as_slice(),
            [Translated::Event(BackendEvent::Connected)]
        ));
        let down = Event::Disconnected(Disconnected::builder().reason(DisconnectReason::StreamEnded).build());
        assert!(matches!(translate(&down).as_slice(), [Translated::Event(BackendEvent::Disconnected(why))] if why.contains("StreamEnded")));
    }

    #[test]
    fn test_text_with_reply_and_mentions() {
        let msg = wa::Message {
            extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
                text: Some("*hi* @447700900002".into()),
                context_info: MessageField::some(wa::ContextInfo {
                    stanza_id: Some("3EB0QUOTED".into()),
                    mentioned_jid: vec!["447700900002@s.whatsapp.net".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let group = whatsapp_rust::Jid::group("447818943525-1636277287");
        let (m, download) = one(msg, &info(group, whatsapp_rust::Jid::pn_device("447700900003", 2), false));
        assert!(!download);
        assert_eq!(m.chat, Jid::group("447818943525-1636277287"));
        assert_eq!((m.sender.as_str(), m.id.as_str(), m.timestamp_ms), ("447700900003", "3EB0AA", 1_700_000_000_000));
        assert_eq!(m.push_name.as_deref(), Some("Ally"));
        let InboundKind::Text { text, reply_to } = m.kind else { panic!("{:?}", m.kind) };
        assert_eq!(text, WaText { text: "*hi* @447700900002".into(), mentions: vec!["447700900002".into()] });
        assert_eq!(reply_to.as_deref(), Some("3EB0QUOTED"));
    }

    #[test]
    fn test_lid_dms_are_filed_under_the_phone_number() {
        let mut incoming = info(whatsapp_rust::Jid::lid("98765"), whatsapp_rust::Jid::lid("98765"), false);
        incoming.source.sender_alt = Some(whatsapp_rust::Jid::pn("447700900002"));
        let (m, _) = one(wa::Message { conversation: Some("hi".into()), ..Default::default() }, &incoming);
        assert_eq!((m.chat, m.sender.as_str()), (Jid::user("447700900002"), "447700900002"));
        let mut own = info(whatsapp_rust::Jid::lid("98765"), whatsapp_rust::Jid::pn("447700900123"), true);
        own.source.recipient_alt = Some(whatsapp_rust::Jid::pn("447700900002"));
        assert_eq!(message_chat(&own.source), Jid::user("447700900002"), "the account's own message names the recipient");
        let unknown = info(whatsapp_rust::Jid::lid("98765"), whatsapp_rust::Jid::lid("98765"), false);
        assert_eq!(message_chat(&unknown.source).to_string(), "98765@lid", "kept as a LID until its number is known");
        let group = info(whatsapp_rust::Jid::group("1-2"), whatsapp_rust::Jid::lid("98765"), false);
        assert_eq!(message_chat(&group.source), Jid::group("1-2"));
    }

    #[test]
    fn test_lid_senders_use_their_phone_number() {
        let mut i = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::lid("98765"), false);
        i.source.sender_alt = Some(whatsapp_rust::Jid::pn("447700900002"));
        let (m, _) = one(wa::Message { conversation: Some("hi".into()), ..Default::default() }, &i);
        assert_eq!(m.sender, "447700900002");
    }

    #[test]
    fn test_reactions_edits_revokes_media_and_unknown() {
        let dm = || info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn("447700900002"), false);
        let key = |id: &str| MessageField::some(wa::MessageKey { id: Some(id.into()), ..Default::default() });
        let reaction = wa::Message {
            reaction_message: MessageField::some(wa::message::ReactionMessage {
                key: key("T1"),
                text: Some("👍".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(one(reaction, &dm()).0.kind, InboundKind::Reaction { target: "T1".into(), emoji: "👍".into() });
        let revoke = wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage {
                key: key("T2"),
                r#type: Some(wa::message::protocol_message::Type::REVOKE),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(one(revoke, &dm()).0.kind, InboundKind::Revoke { target: "T2".into() });
        let edit = wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage {
                key: key("T3"),
                r#type: Some(wa::message::protocol_message::Type::MESSAGE_EDIT),
                edited_message: MessageField::some(wa::Message { conversation: Some("fixed".into()), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            one(edit, &dm()).0.kind,
            InboundKind::Edit { target: "T3".into(), text: WaText { text: "fixed".into(), mentions: vec![] } }
        );
        let voice = wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage {
                mimetype: Some("audio/ogg; codecs=opus".into()),
                ptt: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (m, download) = one(voice, &dm());
        assert!(download, "media is downloaded before it is reported");
        let InboundKind::Media { media, .. } = m.kind else { panic!() };
        assert!(media.voice && media.kind == MediaKind::Audio && media.data.is_empty());
        let image = wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                caption: Some("look".into()),
                mimetype: Some("image/jpeg".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let InboundKind::Media { media, caption, .. } = one(image, &dm()).0.kind else { panic!() };
        assert_eq!((media.kind, caption.text.as_str(), media.mime.as_str()), (MediaKind::Image, "look", "image/jpeg"));
        let card = wa::Message {
            contact_message: MessageField::some(wa::message::ContactMessage {
                display_name: Some("Bob".into()),
                vcard: Some("BEGIN:VCARD\nTEL;type=CELL;waid=447700900003:+44 7700 900003\nEND:VCARD".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            one(card, &dm()).0.kind,
            InboundKind::ContactCard {
                name: "Bob".into(),
                number: Some("447700900003".into()),
                vcard: Some("BEGIN:VCARD\nTEL;type=CELL;waid=447700900003:+44 7700 900003\nEND:VCARD".into())
            }
        );
        assert!(message(&Arc::new(wa::Message::default()), &dm()).is_none(), "kinds the bridge does not carry are skipped");
    }

    fn participant(number: &str) -> GroupParticipantInfo {
        GroupParticipantInfo {
            jid: whatsapp_rust::Jid::lid(format!("9{number}")),
            phone_number: Some(whatsapp_rust::Jid::pn(number)),
            display_name: None,
            r#type: None,
            lid: None,
            username: None,
            join_time: None,
            group_history_sent_state: None,
        }
    }

    fn group_event(action: GroupNotificationAction, by: Option<whatsapp_rust::Jid>) -> Event {
        Event::GroupUpdate(
            GroupUpdate::builder()
                .group_jid(whatsapp_rust::Jid::group("447818943525-1636277287"))
                .maybe_participant_pn(by)
                .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
                .is_lid_addressing_mode(true)
                .action(action)
                .build(),
        )
    }

    #[test]
    fn test_group_joins_leaves_and_subjects() {
        let group = Jid::group("447818943525-1636277287");
        let add = group_event(GroupNotificationAction::Add { participants: vec![participant("447700900004")], reason: None }, None);
        assert!(matches!(
            translate(&add).as_slice(),
            [Translated::Event(BackendEvent::GroupMembers { group: g, joined, left, by: None })]
                if *g == group && joined == &["447700900004".to_owned()] && left.is_empty()
        ));
        let remove = group_event(
            GroupNotificationAction::Remove { participants: vec![participant("447700900003"), participant("447700900005")], reason: None },
            None,
        );
        assert!(matches!(
            translate(&remove).as_slice(),
            [Translated::Event(BackendEvent::GroupMembers { joined, left, .. })]
                if joined.is_empty() && left == &["447700900003".to_owned(), "447700900005".to_owned()]
        ));
        let subject = group_event(
            GroupNotificationAction::Subject { subject: "Sim Pals".into(), subject_owner: None, subject_time: None },
            Some(whatsapp_rust::Jid::pn("447700900002")),
        );
        assert!(matches!(
            translate(&subject).as_slice(),
            [Translated::Event(BackendEvent::GroupSubject { group: g, subject, by })]
                if *g == group && subject == "Sim Pals" && by.as_deref() == Some("447700900002")
        ));
        let described = group_event(
            GroupNotificationAction::Description { id: "D1".into(), description: Some("Weekend plans".into()) },
            Some(whatsapp_rust::Jid::pn("447700900002")),
        );
        assert!(matches!(
            translate(&described).as_slice(),
            [Translated::Event(BackendEvent::GroupTopic { topic, by, .. })]
                if topic.as_deref() == Some("Weekend plans") && by.as_deref() == Some("447700900002")
        ));
        let cleared = group_event(GroupNotificationAction::Description { id: "D2".into(), description: None }, None);
        assert!(matches!(translate(&cleared).as_slice(), [Translated::Event(BackendEvent::GroupTopic { topic: None, by: None, .. })]));
        let settings = group_event(GroupNotificationAction::Announce, None);
        assert!(translate(&settings).is_empty(), "settings are not bridged");
    }

    fn conversation(id: &str, last_seconds: Option<u64>) -> wa::Conversation {
        wa::Conversation { id: id.into(), last_msg_timestamp: last_seconds, ..Default::default() }
    }

    #[test]
    fn test_history_sync_gives_recent_chats_and_push_names() {
        let sync = wa::HistorySync {
            conversations: vec![
                conversation("447700900002@s.whatsapp.net", Some(1_700_000_000)),
                conversation("447818943525-1636277287@g.us", Some(1_690_000_000)),
                wa::Conversation { conversation_timestamp: Some(1_650_000_000), ..conversation("555@lid", None) },
                conversation("777@lid", Some(1_700_000_000)),
                conversation("status@broadcast", Some(1_700_000_000)),
                conversation("120363000000000000@newsletter", Some(1_700_000_000)),
                conversation("447700900009@s.whatsapp.net", None),
            ],
            pushnames: vec![
                wa::Pushname { id: Some("447700900002@s.whatsapp.net".into()), pushname: Some("Ally".into()) },
                wa::Pushname { id: Some("555@lid".into()), pushname: Some(" Bobby ".into()) },
                wa::Pushname { id: Some("447700900008@s.whatsapp.net".into()), pushname: Some("  ".into()) },
            ],
            phone_number_to_lid_mappings: vec![wa::PhoneNumberToLIDMapping {
                pn_jid: Some("447700900003@s.whatsapp.net".into()),
                lid_jid: Some("555@lid".into()),
            }],
            ..Default::default()
        };
        let out = history(&sync);
        let [Translated::Names { contacts, address_book: false }, Translated::Event(BackendEvent::RecentChats(chats))] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            contacts,
            &[
                Contact { number: "447700900002".into(), name: "Ally".into() },
                Contact { number: "447700900003".into(), name: "Bobby".into() },
            ],
            "a LID's push name goes to its phone number; an empty one is skipped"
        );
        assert_eq!(
            chats,
            &[
                RecentChat { jid: Jid::user("447700900002"), last_activity_ms: 1_700_000_000_000 },
                RecentChat { jid: Jid::group("447818943525-1636277287"), last_activity_ms: 1_690_000_000_000 },
                RecentChat { jid: Jid::user("447700900003"), last_activity_ms: 1_650_000_000_000 },
            ],
            "broadcasts, newsletters, unmapped LIDs and chats without a time are left out"
        );
        assert!(history(&wa::HistorySync::default()).is_empty());
        let names_only = wa::HistorySync { sync_type: wa::history_sync::HistorySyncType::PUSH_NAME, ..sync.clone() };
        assert!(
            matches!(history(&names_only).as_slice(), [Translated::Names { .. }]),
            "only the syncs after a link bring chats (and portals)"
        );
    }

    #[test]
    fn test_address_book_and_push_name_updates_name_people() {
        let contact = |jid: whatsapp_rust::Jid, action: wa::sync_action_value::ContactAction| {
            Event::ContactUpdate(
                ContactUpdate::builder()
                    .jid(jid)
                    .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
                    .action(Box::new(action))
                    .from_full_sync(true)
                    .build(),
            )
        };
        let saved = contact(
            whatsapp_rust::Jid::pn("447700900003"),
            wa::sync_action_value::ContactAction {
                full_name: Some("Bob Builder".into()),
                first_name: Some("Bob".into()),
                ..Default::default()
            },
        );
        assert!(matches!(
            translate(&saved).as_slice(),
            [Translated::Names { contacts, address_book: true }] if contacts == &[Contact { number: "447700900003".into(), name: "Bob Builder".into() }]
        ));
        let by_lid = contact(
            whatsapp_rust::Jid::lid("555"),
            wa::sync_action_value::ContactAction {
                first_name: Some("Carol".into()),
                pn_jid: Some("447700900004@s.whatsapp.net".into()),
                ..Default::default()
            },
        );
        assert!(matches!(
            translate(&by_lid).as_slice(),
            [Translated::Names { contacts, .. }] if contacts == &[Contact { number: "447700900004".into(), name: "Carol".into() }]
        ));
        let unnamed = contact(whatsapp_rust::Jid::pn("447700900005"), wa::sync_action_value::ContactAction::default());
        assert!(translate(&unnamed).is_empty());
        let lid_only = contact(
            whatsapp_rust::Jid::lid("556"),
            wa::sync_action_value::ContactAction { full_name: Some("Dave".into()), ..Default::default() },
        );
        assert!(translate(&lid_only).is_empty(), "no phone number, no ghost to name");

        let push = |jid: whatsapp_rust::Jid, alt: Option<whatsapp_rust::Jid>, name: &str| {
            let mut message = info(jid.clone(), jid.clone(), false);
            message.source.sender_alt = alt;
            Event::PushNameUpdate(
                PushNameUpdate::builder()
                    .jid(jid)
                    .message(Box::new(message))
                    .old_push_name(String::new())
                    .new_push_name(name.into())
                    .build(),
            )
        };
        assert!(matches!(
            translate(&push(whatsapp_rust::Jid::pn("447700900002"), None, "Ally")).as_slice(),
            [Translated::Names { contacts, address_book: false }] if contacts == &[Contact { number: "447700900002".into(), name: "Ally".into() }]
        ));
        let via_lid = push(whatsapp_rust::Jid::lid("98765"), Some(whatsapp_rust::Jid::pn("447700900006")), "Erin");
        assert!(matches!(translate(&via_lid).as_slice(), [Translated::Names { contacts, .. }] if contacts[0].number == "447700900006"));
        assert!(translate(&push(whatsapp_rust::Jid::lid("98765"), None, "Erin")).is_empty(), "a LID alone names no number");
        assert!(translate(&push(whatsapp_rust::Jid::pn("447700900002"), None, " ")).is_empty());
    }

    #[test]
    fn test_a_failed_download_becomes_a_text_with_the_caption() {
        let doc = WaMedia {
            kind: MediaKind::File,
            sticker: false,
            voice: false,
            mime: "application/pdf".into(),
            name: "plan.pdf".into(),
            data: vec![],
        };
        let caption = WaText { text: "for @447700900002".into(), mentions: vec!["447700900002".into()] };
        let kind = undownloadable(InboundKind::Media { media: doc.clone(), caption, reply_to: Some("Q".into()) });
        let InboundKind::Text { text, reply_to } = kind else { panic!("{kind:?}") };
        assert_eq!(text.text, "⚠️ The file `plan.pdf` could not be downloaded from WhatsApp: open it on your phone.\nfor @447700900002");
        assert_eq!((text.mentions, reply_to.as_deref()), (vec!["447700900002".to_owned()], Some("Q")));
        let voice = WaMedia { kind: MediaKind::Audio, voice: true, ..doc };
        let InboundKind::Text { text, .. } =
            undownloadable(InboundKind::Media { media: voice, caption: WaText::default(), reply_to: None })
        else {
            panic!()
        };
        assert_eq!(text.text, "⚠️ A voice message could not be downloaded from WhatsApp: open it on your phone.");
        let plain = InboundKind::Revoke { target: "T".into() };
        assert_eq!(undownloadable(plain.clone()), plain, "only files change");
    }

    #[test]
    fn test_only_live_call_offers_are_calls() {
        let call = |action: CallAction, offline: bool| {
            IncomingCall::builder()
                .from(whatsapp_rust::Jid::lid("98765"))
                .stanza_id("S1".into())
                .timestamp(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
                .offline(offline)
                .action(action)
                .build()
        };
        let offer = |caller_pn: Option<whatsapp_rust::Jid>| CallAction::Offer {
            call_id: "C1".into(),
            call_creator: whatsapp_rust::Jid::lid("98765"),
            caller_pn,
            caller_country_code: None,
            device_class: None,
            joinable: false,
            is_video: false,
            audio: vec![],
            group_jid: None,
        };
        let live = call(offer(Some(whatsapp_rust::Jid::pn("447700900001"))), false);
        assert_eq!(call_offer(&live), Some(BackendEvent::Call { from: "447700900001".into() }), "the caller's number beside the LID");
        assert_eq!(call_offer(&call(offer(None), true)), None, "an offer replayed from the offline queue");
        let end = CallAction::Terminate {
            call_id: "C1".into(),
            call_creator: whatsapp_rust::Jid::pn("447700900001"),
            reason: None,
            duration: None,
            audio_duration: None,
        };
        assert_eq!(call_offer(&call(end, false)), None, "the end of a call is no new call");
    }

    #[test]
    fn test_messages_from_the_primary_phone_say_it_is_online() {
        use whatsapp_rust::wacore::types::events::{BatchOrigin, InboundMessage as WaInbound, MessageBatch};
        let mut from_phone = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn_device("447700900123", 0), true);
        from_phone.timestamp = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
        let from_laptop = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn_device("447700900123", 3), true);
        let from_alice = info(whatsapp_rust::Jid::pn("447700900002"), whatsapp_rust::Jid::pn("447700900002"), false);
        let batch = |infos: Vec<MessageInfo>| {
            let messages: Vec<WaInbound> = infos
                .into_iter()
                .map(|i| {
                    WaInbound::builder()
                        .message(Arc::new(wa::Message { conversation: Some("hi".into()), ..Default::default() }))
                        .info(Arc::new(i))
                        .build()
                })
                .collect();
            Event::Messages(MessageBatch::builder().messages(messages.into()).origin(BatchOrigin::Live).build())
        };
        let out = translate(&batch(vec![from_alice.clone(), from_phone]));
        assert!(matches!(out.first(), Some(Translated::Event(BackendEvent::PhoneSeen(1_700_000_100_000)))), "{out:?}");
        assert_eq!(out.iter().filter(|t| matches!(t, Translated::Message { .. })).count(), 2);
        let out = translate(&batch(vec![from_laptop, from_alice]));
        assert!(out.iter().all(|t| matches!(t, Translated::Message { .. })), "another linked device is not the phone: {out:?}");
    }
}
