//! Telegram messages ⇄ the core's [`Content`]: text with entities, media and locations.

use mxbridge_core::network::Location;
use mxbridge_core::network::content::{Content, Media, MediaKind, MessageKind, Node, RichText};

use crate::backend::{FormattedText, TgFile, TgMediaKind, TgMessage, TgOutgoing};
use crate::entities;

/// Who a mention entity points at, in both directions.
pub(crate) struct MentionMap<'a> {
    /// Telegram user id → Matrix ID to pill.
    pub(crate) to_matrix: &'a dyn Fn(i64) -> Option<String>,
    /// Matrix ID → Telegram user id.
    pub(crate) to_telegram: &'a dyn Fn(&str) -> Option<i64>,
}

/// A Telegram message as content for Matrix.
pub(crate) fn to_content(msg: &TgMessage, mentions: &MentionMap<'_>) -> Content {
    let body = entities::to_rich(&msg.text, mentions.to_matrix);
    if let Some((latitude, longitude)) = msg.location {
        // A map pin carries no text; a venue's name and address come as its text.
        let description = Some(body.to_plain()).filter(|t| !t.trim().is_empty());
        return Content::location(Location { latitude, longitude, description });
    }
    let media = msg.media.as_ref().map(|f| Media {
        kind: match f.kind {
            TgMediaKind::Photo | TgMediaKind::Sticker => MediaKind::Image,
            TgMediaKind::Video => MediaKind::Video,
            TgMediaKind::Voice => MediaKind::Audio,
            TgMediaKind::Document => MediaKind::File,
        },
        name: f.name.clone(),
        mime: Some(f.mime.clone()),
        data: f.data.clone(),
        url: None,
    });
    match media {
        Some(media) => Content::file(media, body),
        None => Content::rich(MessageKind::Text, body),
    }
}

/// Content from Matrix as a Telegram message. Emotes are sent as `* text` in italics,
/// as Telegram has no emotes; a relayed message starts with the sender's name in bold.
pub(crate) fn to_outgoing(content: &Content, relayed_for: Option<&str>, mentions: &MentionMap<'_>) -> TgOutgoing {
    let mut nodes = Vec::new();
    if let Some(name) = relayed_for {
        nodes.push(Node::Styled(mxbridge_core::network::content::Style::Bold, vec![Node::Text(format!("{name}:"))]));
        nodes.push(Node::Text(" ".into()));
    }
    match content.kind {
        MessageKind::Emote => {
            nodes.push(Node::Styled(
                mxbridge_core::network::content::Style::Italic,
                std::iter::once(Node::Text("* ".into())).chain(content.body.0.iter().cloned()).collect(),
            ));
        }
        MessageKind::Text | MessageKind::Notice => nodes.extend(content.body.0.iter().cloned()),
    }
    let text: FormattedText = entities::from_rich(&RichText(nodes), mentions.to_telegram);
    let media = content.media.as_ref().map(|m| TgFile {
        kind: match m.kind {
            MediaKind::Image => {
                if m.mime.as_deref().is_some_and(|t| t == "image/webp") {
                    TgMediaKind::Sticker
                } else {
                    TgMediaKind::Photo
                }
            }
            MediaKind::Video => TgMediaKind::Video,
            MediaKind::Audio => TgMediaKind::Voice,
            MediaKind::File => TgMediaKind::Document,
        },
        name: m.name.clone(),
        mime: m.mime.clone().unwrap_or_else(|| "application/octet-stream".into()),
        data: m.data.clone(),
    });
    TgOutgoing { text, reply_to: None, media, location: None }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::network::content::Style;

    use super::*;
    use crate::backend::{Peer, TgUser};
    use crate::entities::{Entity, EntityKind};

    fn map() -> (impl Fn(i64) -> Option<String>, impl Fn(&str) -> Option<i64>) {
        (|id: i64| Some(format!("@telegram_{id}:hs")), |u: &str| u.strip_prefix("@telegram_")?.strip_suffix(":hs")?.parse().ok())
    }

    fn message(text: FormattedText) -> TgMessage {
        TgMessage {
            peer: Peer::User(1),
            id: 5,
            sender: TgUser { id: 1, name: "A".into(), username: None, phone: None, photo: None },
            outgoing: false,
            date: 0,
            text,
            reply_to: None,
            media: None,
            location: None,
        }
    }

    #[test]
    fn test_media_location_and_emotes() {
        let (to_matrix, to_telegram) = map();
        let mentions = MentionMap { to_matrix: &to_matrix, to_telegram: &to_telegram };
        let mut m = message(FormattedText::plain("a cat"));
        m.media = Some(TgFile { kind: TgMediaKind::Sticker, name: "sticker.webp".into(), mime: "image/webp".into(), data: vec![1, 2] });
        let c = to_content(&m, &mentions);
        assert_eq!(c.media.as_ref().map(|m| m.kind), Some(MediaKind::Image), "stickers show as images");
        assert_eq!(c.body.to_plain(), "a cat");
        let back = to_outgoing(&c, None, &mentions);
        assert_eq!(back.media.map(|f| f.kind), Some(TgMediaKind::Sticker));

        let mut m = message(FormattedText::default());
        m.location = Some((51.5, -0.12));
        let c = to_content(&m, &mentions);
        assert_eq!(c.location, Some(Location { latitude: 51.5, longitude: -0.12, description: None }), "a real location");
        assert_eq!(c.body.to_plain(), "Location: 51.5, -0.12", "the text for networks without maps");
        m.text = FormattedText::plain("Trafalgar Square, London");
        let venue = to_content(&m, &mentions).location.expect("a location");
        assert_eq!(venue.description.as_deref(), Some("Trafalgar Square, London"), "a venue's name describes it");

        let emote = Content::emote("waves");
        let out = to_outgoing(&emote, Some("Bob"), &mentions);
        assert_eq!(out.text.text, "Bob: * waves");
        assert_eq!(
            out.text.entities,
            vec![Entity { kind: EntityKind::Bold, offset: 0, length: 4 }, Entity { kind: EntityKind::Italic, offset: 5, length: 7 }]
        );
        let styled = to_content(&message(out.text), &mentions);
        assert!(matches!(&styled.body.0[0], Node::Styled(Style::Bold, _)));
    }
}
