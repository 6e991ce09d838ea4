//! Messages from Telegram as the bridge's: live ones from updates, and a chat's history
//! (`messages.getHistory`) for a new portal.

use grammers_client::Client;
use grammers_client::media::Media;
use grammers_client::message::Message;
use grammers_session::types::PeerRef;

use super::account::download;
use super::backend_error;
use super::convert::{peer_of, text_of, user_of, venue_description};
use super::unbridged::{Unbridged, with_note};
use super::updates::placeholder_user;
use crate::backend::{BackendError, FormattedText, TgMessage};

/// Telegram answers `messages.getHistory` with at most this many messages per call.
const PAGE: usize = 100;

/// A chat's last `limit` messages, oldest first. grammers reads them newest first with
/// `messages.getHistory`, a page at a time.
pub(super) async fn recent(client: &Client, peer: PeerRef, limit: usize) -> Result<Vec<TgMessage>, BackendError> {
    let mut iter = client.iter_messages(peer).limit(limit);
    let mut out = Vec::with_capacity(limit.min(PAGE));
    while let Some(m) = iter.next().await.map_err(backend_error)? {
        // Service messages (joins, title changes) have no text to show as history.
        if m.text().is_empty() && m.media().is_none() {
            continue;
        }
        out.push(message(client, &m).await);
    }
    out.reverse();
    Ok(out)
}

/// One message, its file downloaded (or a note why not).
pub(super) async fn message(client: &Client, m: &Message) -> TgMessage {
    let sender = m.sender().map(user_of).unwrap_or_else(|| placeholder_user(m.sender_id().map(|p| p.bare_id_unchecked()).unwrap_or(0)));
    let mut location = None;
    let mut media = None;
    let mut text = text_of(m);
    match m.media() {
        Some(Media::Geo(geo)) => location = Some((geo.latitue(), geo.longitude())),
        Some(Media::GeoLive(live)) => location = live.geo.map(|geo| (geo.latitue(), geo.longitude())),
        Some(Media::Venue(venue)) => {
            location = venue.geo.map(|geo| (geo.latitue(), geo.longitude()));
            // A venue has no text of its own: its name and address describe the point.
            text = FormattedText::plain(venue_description(&venue.raw_venue.title, &venue.raw_venue.address));
        }
        Some(other @ (Media::Photo(_) | Media::Document(_) | Media::Sticker(_))) => match download(client, other).await {
            Ok(file) => media = Some(file),
            Err((what, why)) => text = with_note(text, what, &why),
        },
        Some(Media::Poll(_)) => text = with_note(text, "poll", &Unbridged::Unsupported),
        Some(Media::Contact(_)) => text = with_note(text, "contact", &Unbridged::Unsupported),
        Some(Media::Dice(_)) => text = with_note(text, "dice", &Unbridged::Unsupported),
        // A link preview repeats a link the text already has.
        Some(Media::WebPage(_)) | None => {}
        Some(_) => text = with_note(text, "media", &Unbridged::Unsupported),
    }
    TgMessage {
        peer: peer_of(m.peer_id()),
        id: i64::from(m.id()),
        sender,
        outgoing: m.outgoing(),
        date: m.date().as_second(),
        text,
        reply_to: m.reply_to_message_id().map(i64::from),
        media,
        location,
    }
}
