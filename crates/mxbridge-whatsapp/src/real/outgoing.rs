//! The bridge's outgoing messages → whatsapp-rust protobuf messages (pure).

use mxbridge_core::network::content::MediaKind;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::upload::UploadResponse;
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::backend::{WaContactCard, WaLocation, WaMedia};
use crate::jid::{GROUP_SERVER, Jid, LID_SERVER};
use crate::markup::WaText;

/// The JID whatsapp-rust addresses for one of ours (a DM whose phone number is unknown
/// stays addressed by the LID it came from).
pub(crate) fn wa_jid(jid: &Jid) -> whatsapp_rust::Jid {
    match jid.server.as_str() {
        GROUP_SERVER => whatsapp_rust::Jid::group(jid.user.as_str()),
        LID_SERVER => whatsapp_rust::Jid::lid(jid.user.as_str()),
        _ => whatsapp_rust::Jid::pn(jid.user.as_str()),
    }
}

/// Context for replies and mentions, when there is any.
fn context(text: &WaText, reply_to: Option<&str>) -> MessageField<wa::ContextInfo> {
    if text.mentions.is_empty() && reply_to.is_none() {
        return MessageField::none();
    }
    MessageField::some(wa::ContextInfo {
        stanza_id: reply_to.map(str::to_owned),
        mentioned_jid: text.mentions.iter().map(|n| format!("{n}@s.whatsapp.net")).collect(),
        ..Default::default()
    })
}

/// A text message: plain `conversation` when it needs no context, as WhatsApp's own
/// clients send it, else an extended text with the reply and mentions.
pub(crate) fn text_message(text: &WaText, reply_to: Option<&str>) -> wa::Message {
    let context_info = context(text, reply_to);
    if context_info.is_unset() {
        return wa::Message { conversation: Some(text.text.clone()), ..Default::default() };
    }
    wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some(text.text.clone()),
            context_info,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A shared location, replying to `reply_to` when set.
pub(crate) fn location_message(location: &WaLocation, reply_to: Option<&str>) -> wa::Message {
    wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(location.latitude),
            degrees_longitude: Some(location.longitude),
            name: location.name.clone(),
            context_info: context(&WaText::default(), reply_to),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A shared contact card (a Matrix `.vcf` file), replying to `reply_to` when set.
pub(crate) fn contact_message(card: &WaContactCard, reply_to: Option<&str>) -> wa::Message {
    wa::Message {
        contact_message: MessageField::some(wa::message::ContactMessage {
            display_name: Some(card.display_name.clone()),
            vcard: Some(card.vcard.clone()),
            context_info: context(&WaText::default(), reply_to),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What whatsapp-rust uploads a file as.
pub(crate) fn media_type(media: &WaMedia) -> MediaType {
    match media.kind {
        _ if media.sticker => MediaType::Sticker,
        MediaKind::Image => MediaType::Image,
        MediaKind::Video => MediaType::Video,
        MediaKind::Audio => MediaType::Audio,
        MediaKind::File => MediaType::Document,
    }
}

/// Where an uploaded file is (whatsapp-rust's `UploadResponse` cannot be built outside it).
#[derive(Clone, Debug)]
pub(crate) struct Uploaded {
    pub(crate) url: String,
    pub(crate) direct_path: String,
    pub(crate) media_key: [u8; 32],
    pub(crate) file_enc_sha256: [u8; 32],
    pub(crate) file_sha256: [u8; 32],
    pub(crate) file_length: u64,
    pub(crate) media_key_timestamp: i64,
    pub(crate) streaming_sidecar: Option<Vec<u8>>,
}

impl From<UploadResponse> for Uploaded {
    fn from(up: UploadResponse) -> Self {
        Self {
            url: up.url,
            direct_path: up.direct_path,
            media_key: up.media_key,
            file_enc_sha256: up.file_enc_sha256,
            file_sha256: up.file_sha256,
            file_length: up.file_length,
            media_key_timestamp: up.media_key_timestamp,
            streaming_sidecar: up.streaming_sidecar,
        }
    }
}

/// A media message pointing at an uploaded file.
pub(crate) fn media_message(media: &WaMedia, up: &Uploaded, caption: &WaText, reply_to: Option<&str>) -> wa::Message {
    let caption_text = Some(caption.text.clone()).filter(|c| !c.is_empty());
    let context_info = context(caption, reply_to);
    let mime = Some(media.mime.clone());
    let (url, direct_path) = (Some(up.url.clone()), Some(up.direct_path.clone()));
    let (media_key, sha, enc_sha) = (Some(up.media_key.to_vec()), Some(up.file_sha256.to_vec()), Some(up.file_enc_sha256.to_vec()));
    let (length, key_ts) = (Some(up.file_length), Some(up.media_key_timestamp));
    match media_type(media) {
        MediaType::Image => wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                url,
                direct_path,
                media_key,
                file_sha256: sha,
                file_enc_sha256: enc_sha,
                file_length: length,
                media_key_timestamp: key_ts,
                mimetype: mime,
                caption: caption_text,
                context_info,
                ..Default::default()
            }),
            ..Default::default()
        },
        MediaType::Video => wa::Message {
            video_message: MessageField::some(wa::message::VideoMessage {
                url,
                direct_path,
                media_key,
                file_sha256: sha,
                file_enc_sha256: enc_sha,
                file_length: length,
                media_key_timestamp: key_ts,
                mimetype: mime,
                caption: caption_text,
                context_info,
                streaming_sidecar: up.streaming_sidecar.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
        MediaType::Audio => wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage {
                url,
                direct_path,
                media_key,
                file_sha256: sha,
                file_enc_sha256: enc_sha,
                file_length: length,
                media_key_timestamp: key_ts,
                mimetype: mime,
                ptt: Some(media.voice),
                context_info,
                streaming_sidecar: up.streaming_sidecar.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
        MediaType::Sticker => wa::Message {
            sticker_message: MessageField::some(wa::message::StickerMessage {
                url,
                direct_path,
                media_key,
                file_sha256: sha,
                file_enc_sha256: enc_sha,
                file_length: length,
                media_key_timestamp: key_ts,
                mimetype: mime,
                context_info,
                ..Default::default()
            }),
            ..Default::default()
        },
        _ => wa::Message {
            document_message: MessageField::some(wa::message::DocumentMessage {
                url,
                direct_path,
                media_key,
                file_sha256: sha,
                file_enc_sha256: enc_sha,
                file_length: length,
                media_key_timestamp: key_ts,
                mimetype: mime,
                caption: caption_text,
                file_name: Some(media.name.clone()),
                title: Some(media.name.clone()),
                context_info,
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_locations_are_sent_as_location_messages_with_their_reply() {
        let at = WaLocation { latitude: 48.8584, longitude: 2.2945, name: Some("Eiffel Tower".into()) };
        let m = location_message(&at, Some("ABC"));
        let loc = m.location_message.as_option().expect("a location message");
        assert_eq!((loc.degrees_latitude, loc.degrees_longitude, loc.name.as_deref()), (Some(48.8584), Some(2.2945), Some("Eiffel Tower")));
        assert_eq!(loc.context_info.as_option().and_then(|c| c.stanza_id.as_deref()), Some("ABC"));
        assert!(location_message(&at, None).location_message.as_option().unwrap().context_info.is_unset());
    }

    #[test]
    fn test_contact_cards_are_sent_as_contact_messages() {
        let card = WaContactCard { display_name: "Bob".into(), vcard: "BEGIN:VCARD\nFN:Bob\nEND:VCARD".into() };
        let m = contact_message(&card, Some("3EB0Q"));
        let c = m.contact_message.as_option().expect("a contact message");
        assert_eq!((c.display_name.as_deref(), c.vcard.as_deref()), (Some("Bob"), Some("BEGIN:VCARD\nFN:Bob\nEND:VCARD")));
        assert_eq!(c.context_info.as_option().and_then(|c| c.stanza_id.as_deref()), Some("3EB0Q"));
        assert!(m.conversation.is_none() && m.document_message.is_unset(), "a card, not a file");
    }

    fn upload() -> Uploaded {
        Uploaded {
            url: "https://mmg.whatsapp.net/x".into(),
            direct_path: "/v/x".into(),
            media_key: [1; 32],
            file_enc_sha256: [2; 32],
            file_sha256: [3; 32],
            file_length: 4,
            media_key_timestamp: 5,
            streaming_sidecar: None,
        }
    }

    #[test]
    fn test_text_messages() {
        let plain = text_message(&WaText { text: "hi".into(), mentions: vec![] }, None);
        assert_eq!(plain.conversation.as_deref(), Some("hi"));
        assert!(plain.extended_text_message.is_unset());
        let rich = text_message(&WaText { text: "@447700900002 hi".into(), mentions: vec!["447700900002".into()] }, Some("3EB0Q"));
        let ext = rich.extended_text_message.as_option().unwrap();
        assert_eq!(ext.text.as_deref(), Some("@447700900002 hi"));
        let ctx = ext.context_info.as_option().unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("3EB0Q"));
        assert_eq!(ctx.mentioned_jid, vec!["447700900002@s.whatsapp.net".to_owned()]);
        assert!(rich.conversation.is_none());
    }

    #[test]
    fn test_media_messages_point_at_the_upload() {
        let voice = WaMedia {
            kind: MediaKind::Audio,
            sticker: false,
            voice: true,
            mime: "audio/ogg".into(),
            name: "v.ogg".into(),
            data: vec![0; 4],
        };
        assert_eq!(media_type(&voice), MediaType::Audio);
        let m = media_message(&voice, &upload(), &WaText::default(), None);
        let audio = m.audio_message.as_option().unwrap();
        assert_eq!((audio.ptt, audio.url.as_deref(), audio.file_length), (Some(true), Some("https://mmg.whatsapp.net/x"), Some(4)));
        assert_eq!(audio.media_key.as_deref(), Some(&[1u8; 32][..]));
        let doc = WaMedia {
            kind: MediaKind::File,
            sticker: false,
            voice: false,
            mime: "application/pdf".into(),
            name: "a.pdf".into(),
            data: vec![],
        };
        let m = media_message(&doc, &upload(), &WaText { text: "the report".into(), mentions: vec![] }, Some("3EB0Q"));
        let d = m.document_message.as_option().unwrap();
        assert_eq!(
            (d.file_name.as_deref(), d.caption.as_deref(), d.mimetype.as_deref()),
            (Some("a.pdf"), Some("the report"), Some("application/pdf"))
        );
        assert_eq!(d.context_info.as_option().unwrap().stanza_id.as_deref(), Some("3EB0Q"));
        let sticker = WaMedia { sticker: true, kind: MediaKind::Image, ..doc };
        assert!(media_message(&sticker, &upload(), &WaText::default(), None).sticker_message.is_set());
        assert_eq!(wa_jid(&Jid::group("1-2")).to_string(), "1-2@g.us");
        assert_eq!(wa_jid(&Jid::user("4412")).to_string(), "4412@s.whatsapp.net");
        assert_eq!(wa_jid(&Jid::parse("98765@lid").unwrap()).to_string(), "98765@lid");
    }
}
