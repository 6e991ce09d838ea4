//! The messages a history sync carries for a conversation → the backend's messages, for
//! the history of the chat's new portal (pure translation).
//!
//! Synced media come without a way to fetch them here (the sync is translated before the
//! session could download anything), so they become a note saying where to see them.

use whatsapp_rust::waproto::whatsapp as wa;

use super::events::{kind_of, undownloadable};
use crate::backend::InboundMessage;
use crate::jid::Jid;

/// The conversation's messages the bridge carries, oldest first. `jid_of` reads a JID of
/// the sync (a group participant, maybe a LID) as a phone number's or group's.
pub(crate) fn messages(synced: &[wa::HistorySyncMsg], chat: &Jid, jid_of: &dyn Fn(&str) -> Option<Jid>) -> Vec<InboundMessage> {
    let mut out: Vec<InboundMessage> = synced.iter().filter_map(|m| message(m.message.as_option()?, chat, jid_of)).collect();
    out.sort_by_key(|m| m.timestamp_ms);
    out
}

/// One synced message. The account's own messages get an empty sender: the client knows
/// its number.
fn message(web: &wa::WebMessageInfo, chat: &Jid, jid_of: &dyn Fn(&str) -> Option<Jid>) -> Option<InboundMessage> {
    let key = web.key.as_option()?;
    let id = key.id.clone().filter(|id| !id.is_empty())?;
    let from_me = key.from_me.unwrap_or(false);
    let (kind, needs_download) = kind_of(web.message.as_option()?)?;
    let kind = if needs_download { undownloadable(kind) } else { kind };
    let sender = if from_me {
        String::new()
    } else if chat.is_group() {
        let participant = key.participant.as_deref().or(web.participant.as_deref())?;
        jid_of(participant).filter(|j| !j.is_group())?.user
    } else {
        chat.user.clone()
    };
    let seconds = i64::try_from(web.message_timestamp?).ok()?;
    Some(InboundMessage {
        chat: chat.clone(),
        sender,
        push_name: web.push_name.clone().filter(|n| !n.trim().is_empty()),
        id,
        timestamp_ms: seconds.saturating_mul(1000),
        from_me,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::InboundKind;

    fn synced(id: &str, from_me: bool, participant: Option<&str>, at: u64, message: wa::Message) -> wa::HistorySyncMsg {
        let key = wa::MessageKey {
            remote_jid: Some("x".into()),
            from_me: Some(from_me),
            id: Some(id.into()),
            participant: participant.map(Into::into),
        };
        let web = wa::WebMessageInfo {
            key: key.into(),
            message: message.into(),
            message_timestamp: Some(at),
            push_name: Some("Alice".into()),
            ..Default::default()
        };
        wa::HistorySyncMsg { message: web.into(), ..Default::default() }
    }

    fn text(t: &str) -> wa::Message {
        wa::Message { conversation: Some(t.into()), ..Default::default() }
    }

    fn jid_of(id: &str) -> Option<Jid> {
        match id {
            "111@lid" => Some(Jid::user("447700900003")),
            other => Jid::parse(other),
        }
    }

    #[test]
    fn test_synced_messages_are_ordered_with_their_senders_and_times() {
        let dm = Jid::user("447700900002");
        let got = messages(
            &[synced("B", true, None, 1_700_000_060, text("second")), synced("A", false, None, 1_700_000_000, text("first"))],
            &dm,
            &jid_of,
        );
        assert_eq!(got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["A", "B"], "oldest first");
        assert_eq!((got[0].sender.as_str(), got[0].from_me, got[0].timestamp_ms), ("447700900002", false, 1_700_000_000_000));
        assert_eq!(got[0].push_name.as_deref(), Some("Alice"));
        assert!(matches!(&got[0].kind, InboundKind::Text { text, reply_to: None } if text.text == "first"));
        assert_eq!((got[1].sender.as_str(), got[1].from_me), ("", true), "the client fills in its own number");

        let group = Jid::group("447818943525-1636277287");
        let reply = wa::Message {
            extended_text_message: wa::message::ExtendedTextMessage {
                text: Some("yes".into()),
                context_info: wa::ContextInfo { stanza_id: Some("A".into()), ..Default::default() }.into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        let photo = wa::Message {
            image_message: wa::message::ImageMessage { mimetype: Some("image/jpeg".into()), ..Default::default() }.into(),
            ..Default::default()
        };
        let got = messages(
            &[
                synced("G1", false, Some("447700900002@s.whatsapp.net"), 10, reply),
                synced("G2", false, Some("111@lid"), 20, photo),
                synced("G3", false, None, 30, text("no participant")),
                synced("G4", false, Some("447700900002@s.whatsapp.net"), 40, wa::Message::default()),
            ],
            &group,
            &jid_of,
        );
        assert_eq!(got.len(), 2, "a group message without its sender, and empty ones, are left out: {got:?}");
        assert!(matches!(&got[0].kind, InboundKind::Text { reply_to: Some(r), .. } if r == "A"), "replies are kept");
        assert_eq!(got[1].sender, "447700900003", "a LID participant by its phone number");
        assert!(
            matches!(&got[1].kind, InboundKind::Text { text, .. } if text.text.contains("could not be downloaded")),
            "{:?}",
            got[1].kind
        );
    }
}
