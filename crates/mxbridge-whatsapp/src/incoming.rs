//! WhatsApp events → the core's remote events (pure translation, no I/O).

use mxbridge_core::ids::{LoginId, RemoteMessageId};
use mxbridge_core::network::content::{Content, Media, MediaKind, MessageKind, RichText};
use mxbridge_core::network::event::{Membership, RemoteEvent, Sender};
use mxbridge_core::network::{GhostIds, Location, Role, UserInfo};

use crate::backend::{InboundKind, InboundMessage, WaMedia};
use crate::jid::{self, Jid};
use crate::markup::{self, WaText};
use crate::vcard;

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
                let at = Location { latitude, longitude, description: name };
                RemoteEvent::Message { chat, sender, id, timestamp_ms, content: Content::location(at), reply_to: None }
            }
            InboundKind::ContactCard { name, number, vcard } => {
                let text = match number {
                    Some(n) => format!("👤 Contact: {name} +{n}"),
                    None => format!("👤 Contact: {name}"),
                };
                // Matrix has no contact message: the card goes as a vCard file, which
                // clients can import, captioned with the name and number.
                let content = match vcard {
                    Some(card) => Content::file(
                        Media {
                            kind: MediaKind::File,
                            name: vcard::file_name(&name),
                            mime: Some("text/vcard".to_owned()),
                            data: card.into_bytes(),
                            url: None,
                        },
                        RichText::plain(text),
                    ),
                    None => Content::text(text),
                };
                RemoteEvent::Message { chat, sender, id, timestamp_ms, content, reply_to: None }
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

    /// Admins made or unmade: the ghosts' power levels follow, and the user's own when it is
    /// the account.
    pub(crate) fn admins(&self, group: &Jid, promoted: &[String], demoted: &[String]) -> Vec<RemoteEvent> {
        let chat = group.portal(self.login);
        let event = |number: &String, role| RemoteEvent::RoleChanged {
            chat: chat.clone(),
            sender: (number != self.own_number).then(|| self.sender(number, None)),
            role,
        };
        promoted.iter().map(|n| event(n, Role::Admin)).chain(demoted.iter().map(|n| event(n, Role::Member))).collect()
    }

    /// People joined or left a group. The account's own leaving takes the user out of the
    /// portal room; its own joining is not a ghost's (the caller announces the chat).
    pub(crate) fn members(&self, group: &Jid, joined: &[String], left: &[String], by: Option<&str>) -> Vec<RemoteEvent> {
        let chat = group.portal(self.login);
        let event = |number: &String, membership| RemoteEvent::Member { chat: chat.clone(), sender: self.sender(number, None), membership };
        let others = |numbers: &[String]| numbers.iter().filter(|n| *n != self.own_number).cloned().collect::<Vec<_>>();
        let mut events: Vec<RemoteEvent> = others(joined)
            .iter()
            .map(|n| event(n, Membership::Join))
            .chain(others(left).iter().map(|n| event(n, Membership::Leave)))
            .collect();
        if left.iter().any(|n| n == self.own_number) {
            let remover = by.filter(|b| *b != self.own_number);
            let reason = if remover.is_some() { "removed from the WhatsApp group" } else { "you left the WhatsApp group" };
            events.push(RemoteEvent::Removed { chat, by: remover.map(|b| self.sender(b, None)), reason: reason.to_owned() });
        }
        events
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
    fn test_group_admins_become_power_levels() {
        let login = LoginId::new("+4479");
        let names = |_: &str| None;
        let t = Translator { login: &login, own_number: "4479", ghosts: None, name_of: &names };
        let events = t.admins(&Jid::group("1-2"), &["447700900003".into()], &["4479".into()]);
        let roles: Vec<(Option<String>, Role)> = events
            .iter()
            .map(|e| match e {
                RemoteEvent::RoleChanged { sender, role, .. } => (sender.as_ref().map(|s| s.id.as_str().to_owned()), *role),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(roles, vec![(Some("447700900003".into()), Role::Admin), (None, Role::Member)], "the account's own role is the user's");
    }

    #[test]
    fn test_group_members_and_the_account_leaving() {
        let login = LoginId::new("+4479");
        let names = |n: &str| (n == "447700900002").then(|| "Alice".to_owned());
        let t = Translator { login: &login, own_number: "4479", ghosts: None, name_of: &names };
        let group = Jid::group("1-2");
        let events = t.members(&group, &["447700900004".into(), "4479".into()], &["447700900003".into()], Some("447700900002"));
        let summary: Vec<(String, Membership)> = events
            .iter()
            .map(|e| match e {
                RemoteEvent::Member { sender, membership, .. } => (sender.id.as_str().to_owned(), *membership),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![("447700900004".into(), Membership::Join), ("447700900003".into(), Membership::Leave)],
            "the account's own joining is no ghost's"
        );
        let kicked = t.members(&group, &[], &["4479".into()], Some("447700900002"));
        assert!(matches!(
            kicked.as_slice(),
            [RemoteEvent::Removed { by: Some(by), reason, .. }] if by.id.as_str() == "447700900002" && reason.contains("removed")
        ));
        let left = t.members(&group, &[], &["4479".into()], Some("4479"));
        assert!(matches!(left.as_slice(), [RemoteEvent::Removed { by: None, reason, .. }] if reason == "you left the WhatsApp group"));
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
        let RemoteEvent::Message { content, .. } = loc else { panic!() };
        assert_eq!(content.location, Some(Location { latitude: 51.5, longitude: -0.12, description: Some("Here".into()) }));
        assert_eq!(content.body.to_plain(), "Here", "the text for clients without maps");
        let unnamed = translate(inbound("447700900002", InboundKind::Location { latitude: 1.0, longitude: 2.0, name: None }));
        assert!(
            matches!(unnamed, RemoteEvent::Message { content, .. } if content.location.as_ref().is_some_and(|l| l.description.is_none()))
        );
        let card = translate(inbound(
            "447700900002",
            InboundKind::ContactCard { name: "Bob".into(), number: Some("447700900003".into()), vcard: None },
        ));
        assert!(matches!(card, RemoteEvent::Message { content, .. } if content.body.to_plain() == "👤 Contact: Bob +447700900003"));
        let vcard = "BEGIN:VCARD\nFN:Bob/Builder\nEND:VCARD".to_owned();
        let RemoteEvent::Message { content, .. } = translate(inbound(
            "447700900002",
            InboundKind::ContactCard { name: "Bob/Builder".into(), number: None, vcard: Some(vcard.clone()) },
        )) else {
            panic!()
        };
        let file = content.media.expect("the card as a file");
        assert_eq!((file.kind, file.name.as_str(), file.mime.as_deref()), (MediaKind::File, "Bob Builder.vcf", Some("text/vcard")));
        assert_eq!(file.data, vcard.into_bytes());
        assert_eq!(content.body.to_plain(), "👤 Contact: Bob/Builder", "captioned with the name");
    }
}
