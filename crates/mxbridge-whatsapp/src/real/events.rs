//! whatsapp-rust's events → the backend's pairing updates and events (pure translation).
//!
//! Media arrive without their bytes: the session downloads them (with retries) before it
//! reports the message, so a slow download never reorders the events of one chat.

use std::sync::Arc;

use mxbridge_core::network::content::MediaKind;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore::types::message::MessageInfo;
use whatsapp_rust::wacore::types::presence::{ChatPresence, ReceiptType};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::backend::{BackendEvent, InboundKind, InboundMessage, PairingUpdate, WaMedia};
use crate::jid::Jid;
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
        Event::Messages(batch) => batch.messages.iter().filter_map(|m| message(&m.message, &m.info)).collect(),
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
        Event::IncomingCall(call) => vec![Translated::Event(BackendEvent::Call { from: call.from.user.to_string() })],
        _ => Vec::new(),
    }
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
        let number =
            card.vcard.as_deref().and_then(|v| v.split("waid=").nth(1)).map(|rest| rest.chars().take_while(char::is_ascii_digit).collect());
        InboundKind::ContactCard { name: card.display_name.clone().unwrap_or_default(), number }
    } else {
        let (media, caption, context) = media_of(base)?;
        download = Some(msg.clone());
        InboundKind::Media { media, caption: text_of(caption.as_deref().unwrap_or_default(), context), reply_to: reply_of(context) }
    };
    let source = &info.source;
    Some(Translated::Message {
        message: InboundMessage {
            chat: chat_of(&source.chat),
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
    use whatsapp_rust::wacore::types::events::{Connected, Disconnected, PairSuccess, PairingQrCode, PairingQrCodesExhausted};
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
        assert_eq!(one(card, &dm()).0.kind, InboundKind::ContactCard { name: "Bob".into(), number: Some("447700900003".into()) });
        assert!(message(&Arc::new(wa::Message::default()), &dm()).is_none(), "kinds the bridge does not carry are skipped");
    }
}
