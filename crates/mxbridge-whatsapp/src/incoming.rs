//! WhatsApp events → the core's remote events (pure translation, no I/O).

use mxbridge_core::ids::{LoginId, RemoteMessageId};
use mxbridge_core::network::content::{Content, Media, MediaKind, MessageKind, RichText};
use mxbridge_core::network::event::{Membership, RemoteEvent, Sender};
use mxbridge_core::network::{GhostIds, UserInfo};

use crate::backend::{InboundKind, InboundMessage, WaMedia};
use crate::jid::{self, Jid};
use crate::markup::{self, WaText};

/// What translation needs to know about the login.
pub(crate) struct Translator<'a> {
    /// The login the events belong to.
    pub(crate) login: &'a LoginId,
    /// The linked account's number.
    pub(crate) own_number: &'a str,
    /// Ghost IDs, for pills; without them mentions stay text.
    pub(crate) ghosts: Option<&'a GhostIds>,
    /// A number's name (address book, then push name), when known.
    pub(crate) name_of: &'a dyn Fn(&str) -> Option<String>,
}

impl Translator<'_> {
    /// Who a number is, with the best name known.
    pub(crate) fn sender(&self, number: &str, push_name: Option<&str>) -> Sender {
        let name = (self.name_of)(number).or_else(|| push_name.map(str::to_owned)).unwrap_or_else(|| format!("+{number}"));
        Sender {
            id: jid::user_id(number),
            info: Some(UserInfo { display_name: Some(name), avatar: None }),
            is_self: number == self.own_number,
        }
    }

    /// Rich text from WhatsApp markup, with mentions as pills.
    pub(crate) fn rich(&self, text: &WaText) -> RichText {
        let ghost_of = |number: &str| {
            let ghosts = self.ghosts?;
            let name = (self.name_of)(number).unwrap_or_else(|| format!("+{number}"));
            Some((ghosts.user_id(&jid::user_id(number)).to_string(), name))
        };
        markup::from_whatsapp(&text.text, &text.mentions, &ghost_of)
    }

    /// One message, as the remote event it becomes.
    pub(crate) fn message(&self, m: InboundMessage) -> RemoteEvent {
        let chat = m.chat.portal(self.login);
        let mut sender = self.sender(&m.sender, m.push_name.as_deref());
        sender.is_self |= m.from_me;
        let id = RemoteMessageId::new(m.id);
        let timestamp_ms = Some(m.timestamp_ms);
        let text_content = |body: RichText| Content { kind: MessageKind::Text, body, media: None, location: None };
        match m.kind {
            InboundKind::Text { text, reply_to } => RemoteEvent::Message {
                chat,
                sender,
                id,
                timestamp_ms,
                content: text_content(self.rich(&text)),
                reply_to: reply_to.map(RemoteMessageId::new),
            },
            InboundKind::Media { media, caption, reply_to } => RemoteEvent::Message {
                chat,
                sender,
                id,
                timestamp_ms,
                content: Content { kind: MessageKind::Text, body: self.rich(&caption), media: Some(media_of(media)), location: None },
                reply_to: reply_to.map(RemoteMessageId::new),
            },
            InboundKind::Location { latitude, longitude, name } => {
                let place = name.map(|n| format!("{n} ")).unwrap_or_default();
                let text = format!(
                    "📍 Location: {place}({latitude:.5}, {longitude:.5}) https://www.openstreetmap.org/?mlat={latitude:.5}&mlon={longitude:.5}"
                );
                RemoteEvent::Message { chat, sender, id, timestamp_ms, content: Content::text(text), reply_to: None }
            }
            InboundKind::ContactCard { name, number } => {
                let text = match number {
                    Some(n) => format!("👤 Contact: {name} +{n}"),
                    None => format!("👤 Contact: {name}"),
                };
                RemoteEvent::Message { chat, sender, id, timestamp_ms, content: Content::text(text), reply_to: None }
            }
            InboundKind::Edit { target, text } => {
                RemoteEvent::Edit { chat, sender, target: RemoteMessageId::new(target), content: text_content(self.rich(&text)) }
            }
            InboundKind::Reaction { target, emoji } if emoji.is_empty() => {
                // WhatsApp does not say which emoji was taken back; the core removes the sender's reactions.
                RemoteEvent::ReactionRemoved { chat, sender, target: RemoteMessageId::new(target), key: String::new() }
            }
            InboundKind::Reaction { target, emoji } => {
                RemoteEvent::Reaction { chat, sender, target: RemoteMessageId::new(target), key: emoji }
            }
            InboundKind::Revoke { target } => RemoteEvent::Deleted { chat, sender, target: RemoteMessageId::new(target) },
        }
    }

    /// Someone read messages up to the newest in `ids`.
    pub(crate) fn receipt(&self, chat: &Jid, reader: &str, ids: &[String]) -> Option<RemoteEvent> {
        let last = ids.last()?;
        Some(RemoteEvent::Read {
            chat: chat.portal(self.login),
            sender: self.sender(reader, None),
            up_to: RemoteMessageId::new(last.clone()),
        })
    }

    /// Typing started or stopped.
    pub(crate) fn typing(&self, chat: &Jid, who: &str, typing: bool) -> RemoteEvent {
        RemoteEvent::Typing { chat: chat.portal(self.login), sender: self.sender(who, None), typing }
    }

    /// People joined or left a group.
    pub(crate) fn members(&self, group: &Jid, joined: &[String], left: &[String]) -> Vec<RemoteEvent> {
        let event = |number: &String, membership| RemoteEvent::Member {
            chat: group.portal(self.login),
            sender: self.sender(number, None),
            membership,
        };
        joined.iter().map(|n| event(n, Membership::Join)).chain(left.iter().map(|n| event(n, Membership::Leave))).collect()
    }
}

fn media_of(media: WaMedia) -> Media {
    let kind = if media.sticker { MediaKind::Image } else { media.kind };
    Media { kind, name: media.name, mime: Some(media.mime), data: media.data, url: None }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::network::content::Node;

    use super::*;

    fn translate(m: InboundMessage) -> RemoteEvent {
        let login = LoginId::new("+4479");
        let names = |n: &str| (n == "447700900002").then(|| "Alice".to_owned());
        Translator { login: &login, own_number: "4479", ghosts: None, name_of: &names }.message(m)
    }

    fn inbound(sender: &str, kind: InboundKind) -> InboundMessage {
        InboundMessage {
            chat: Jid::user("447700900002"),
            sender: sender.into(),
            push_name: Some("Ally".into()),
            id: "ID1".into(),
            timestamp_ms: 5,
            from_me: false,
            kind,
        }
    }

    #[test]
    fn test_text_reply_and_sender_names() {
        let text = WaText { text: "*hi*".into(), mentions: vec![] };
        let RemoteEvent::Message { chat, sender, content, reply_to, timestamp_ms, .. } =
            translate(inbound("447700900002", InboundKind::Text { text, reply_to: Some("ID0".into()) }))
        else {
            panic!()
        };
        assert_eq!(chat.chat.as_str(), "447700900002@s.whatsapp.net");
        assert_eq!(chat.receiver, "+4479");
        assert_eq!(sender.info.unwrap().display_name.as_deref(), Some("Alice"), "the address book wins over the push name");
        assert!(!sender.is_self);
        assert_eq!(content.body.0, vec![Node::Styled(mxbridge_core::network::content::Style::Bold, vec![Node::Text("hi".into())])]);
        assert_eq!(reply_to.unwrap().as_str(), "ID0");
        assert_eq!(timestamp_ms, Some(5));
        let RemoteEvent::Message { sender, .. } =
            translate(inbound("447700900009", InboundKind::Text { text: WaText::default(), reply_to: None }))
        else {
            panic!()
        };
        assert_eq!(sender.info.unwrap().display_name.as_deref(), Some("Ally"), "the push name when there is no contact");
    }

    #[test]
    fn test_edits_reactions_deletes_and_own_messages() {
        let e = translate(inbound(
            "447700900002",
            InboundKind::Edit { target: "ID0".into(), text: WaText { text: "new".into(), mentions: vec![] } },
        ));
        assert!(matches!(e, RemoteEvent::Edit { target, content, .. } if target.as_str() == "ID0" && content.body.to_plain() == "new"));
        let r = translate(inbound("447700900002", InboundKind::Reaction { target: "ID0".into(), emoji: "👍".into() }));
        assert!(matches!(r, RemoteEvent::Reaction { key, .. } if key == "👍"));
        let r = translate(inbound("447700900002", InboundKind::Reaction { target: "ID0".into(), emoji: String::new() }));
        assert!(matches!(r, RemoteEvent::ReactionRemoved { .. }));
        let d = translate(inbound("447700900002", InboundKind::Revoke { target: "ID0".into() }));
        assert!(matches!(d, RemoteEvent::Deleted { target, .. } if target.as_str() == "ID0"));
        let mut own = inbound("4479", InboundKind::Text { text: WaText::default(), reply_to: None });
        own.from_me = true;
        assert!(matches!(translate(own), RemoteEvent::Message { sender, .. } if sender.is_self));
    }

    #[test]
    fn test_media_location_and_contact_cards() {
        let media = WaMedia {
            kind: MediaKind::Audio,
            sticker: false,
            voice: true,
            mime: "audio/ogg".into(),
            name: "voice.ogg".into(),
            data: vec![1, 2],
        };
        let m = translate(inbound("447700900002", InboundKind::Media { media, caption: WaText::default(), reply_to: None }));
        let RemoteEvent::Message { content, .. } = m else { panic!() };
        let media = content.media.unwrap();
        assert_eq!((media.kind, media.data.len(), media.mime.as_deref()), (MediaKind::Audio, 2, Some("audio/ogg")));
        let sticker =
            WaMedia { kind: MediaKind::File, sticker: true, voice: false, mime: "image/webp".into(), name: "s.webp".into(), data: vec![] };
        let RemoteEvent::Message { content, .. } =
            translate(inbound("447700900002", InboundKind::Media { media: sticker, caption: WaText::default(), reply_to: None }))
        else {
            panic!()
        };
        assert_eq!(content.media.unwrap().kind, MediaKind::Image, "stickers show as images");
        let loc = translate(inbound("447700900002", InboundKind::Location { latitude: 51.5, longitude: -0.12, name: Some("Here".into()) }));
        assert!(
            matches!(loc, RemoteEvent::Message { content, .. } if content.body.to_plain().contains("Here (51.50000, -0.12000) https://www.openstreetmap.org/?mlat=51.50000&mlon=-0.12000"))
        );
        let card = translate(inbound("447700900002", InboundKind::ContactCard { name: "Bob".into(), number: Some("447700900003".into()) }));
        assert!(matches!(card, RemoteEvent::Message { content, .. } if content.body.to_plain() == "👤 Contact: Bob +447700900003"));
    }
}
