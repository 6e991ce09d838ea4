//! Matrix message content ⇄ the network-neutral [`Content`].

use serde_json::{Value, json};

use crate::format::html;
use crate::matrix::intent::Matrix;
use crate::media_links::MediaLinks;
use crate::network::Location;
use crate::network::content::{Content, Media, MediaKind, MessageKind, RichText};

/// Largest file the bridge downloads from Matrix to forward.
const MAX_MEDIA_BYTES: usize = 50 * 1024 * 1024;

/// Converts a Matrix message to content for the network. Files come with their bytes and,
/// when media links are on, a public link for networks that prefer links. The error is
/// what the sender is told when it cannot be bridged.
pub(crate) async fn matrix_to_content(matrix: &Matrix, links: &MediaLinks, content: &Value, event_type: &str) -> Result<Content, String> {
    let msgtype = if event_type == "m.sticker" { "m.image" } else { content["msgtype"].as_str().unwrap_or("m.text") };
    let body_text = content["body"].as_str().unwrap_or("").to_owned();
    let body = if content["format"] == "org.matrix.custom.html" {
        content["formatted_body"].as_str().map(html::parse).unwrap_or_else(|| RichText::plain(strip_reply_fallback(&body_text)))
    } else {
        RichText::plain(strip_reply_fallback(&body_text))
    };
    let kind = match msgtype {
        "m.text" => MessageKind::Text,
        "m.notice" => MessageKind::Notice,
        "m.emote" => MessageKind::Emote,
        "m.image" | "m.video" | "m.audio" | "m.file" => {
            let media_kind = match msgtype {
                "m.image" => MediaKind::Image,
                "m.video" => MediaKind::Video,
                "m.audio" => MediaKind::Audio,
                _ => MediaKind::File,
            };
            let Some(url) = content["url"].as_str() else {
                return Err("the file is encrypted, which the bridge cannot forward yet.".to_owned());
            };
            let data = matrix
                .download(url, MAX_MEDIA_BYTES)
                .await
                .map_err(|e| format!("the file could not be fetched from your homeserver ({e})."))?;
            let name = content["filename"].as_str().unwrap_or(&body_text).to_owned();
            let caption =
                if content["filename"].is_string() && body_text != name { RichText::plain(body_text.clone()) } else { RichText::default() };
            let url = links.link_for(url, &name);
            let media = Media { kind: media_kind, name, mime: content["info"]["mimetype"].as_str().map(str::to_owned), data, url };
            return Ok(Content::file(media, caption));
        }
        other => return Err(format!("this kind of message ({other}) cannot be bridged; send it as text or a file.")),
    };
    Ok(Content::rich(kind, body))
}

/// Drops the `> <@user> quoted` lines clients put in front of reply bodies.
fn strip_reply_fallback(body: &str) -> String {
    if !body.starts_with("> ") {
        return body.to_owned();
    }
    let mut lines = body.lines().skip_while(|l| l.starts_with("> ") || *l == ">");
    let mut out: Vec<&str> = Vec::new();
    if let Some(first) = lines.next()
        && !first.is_empty()
    {
        out.push(first);
    }
    out.extend(lines);
    out.join("\n")
}

/// Converts network content to a Matrix message body. Media is uploaded first.
/// Most text a message event carries: a Matrix event is at most 64 KiB, and an edit holds
/// the text twice.
const MAX_TEXT_BYTES: usize = 30_000;

/// Keeps a remote message within what a Matrix event can hold: the formatted copy goes
/// first, then the text is cut, saying so, rather than the homeserver refusing it all.
fn fit_event_size(v: &mut Value) {
    let body_len = v["body"].as_str().map_or(0, str::len);
    let formatted_len = v["formatted_body"].as_str().map_or(0, str::len);
    if body_len + formatted_len <= MAX_TEXT_BYTES {
        return;
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("format");
        obj.remove("formatted_body");
    }
    if body_len <= MAX_TEXT_BYTES {
        return;
    }
    let body = v["body"].as_str().unwrap_or_default();
    let mut cut = MAX_TEXT_BYTES - 200;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = body[cut..].chars().count();
    v["body"] = json!(format!("{}… ({dropped} more characters not shown: the message is longer than Matrix allows)", &body[..cut]));
}

pub(crate) async fn content_to_matrix(matrix: &Matrix, content: &Content) -> Result<Value, String> {
    let plain = content.body.to_plain();
    if let Some(at) = &content.location {
        return Ok(location_to_matrix(at, &plain));
    }
    if let Some(media) = &content.media {
        let msgtype = match media.kind {
            MediaKind::Image => "m.image",
            MediaKind::Video => "m.video",
            MediaKind::Audio => "m.audio",
            MediaKind::File => "m.file",
        };
        if media.data.is_empty()
            && let Some(url) = &media.url
        {
            let text = if plain.is_empty() { url.clone() } else { format!("{plain} {url}") };
            return Ok(json!({"msgtype": "m.text", "body": text}));
        }
        let mime = media.mime.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
        let mxc = matrix.upload(media.data.clone(), &mime, &media.name).await.map_err(|e| e.to_string())?;
        let mut v = json!({
            "msgtype": msgtype,
            "body": if plain.is_empty() { media.name.clone() } else { plain.clone() },
            "filename": media.name,
            "url": mxc,
            "info": {"mimetype": mime, "size": media.data.len()},
        });
        if content.body.is_formatted() {
            v["format"] = json!("org.matrix.custom.html");
            v["formatted_body"] = json!(html::render(&content.body));
        }
        return Ok(v);
    }
    let msgtype = match content.kind {
        MessageKind::Text => "m.text",
        MessageKind::Notice => "m.notice",
        MessageKind::Emote => "m.emote",
    };
    let mut v = json!({"msgtype": msgtype, "body": plain});
    if content.body.is_formatted() {
        v["format"] = json!("org.matrix.custom.html");
        v["formatted_body"] = json!(html::render(&content.body));
    }
    fit_event_size(&mut v);
    Ok(v)
}

/// An `m.location` event, with the MSC3488 form beside the spec's `geo_uri` for clients that
/// read only the newer one.
fn location_to_matrix(at: &Location, caption: &str) -> Value {
    let body = if caption.trim().is_empty() { at.caption() } else { caption.to_owned() };
    let uri = at.geo_uri();
    json!({
        "msgtype": "m.location",
        "body": body,
        "geo_uri": uri,
        "org.matrix.msc3488.location": {"uri": uri, "description": body},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_locations_become_m_location_events_that_read_back_as_the_same_point() {
        let at = Location { latitude: 51.5007, longitude: -0.1246, description: Some("Big Ben".into()) };
        let v = location_to_matrix(&at, &Content::location(at.clone()).body.to_plain());
        assert_eq!(v["msgtype"], "m.location");
        assert_eq!(v["body"], "Big Ben");
        assert_eq!(v["geo_uri"], "geo:51.5007,-0.1246");
        assert_eq!(v["org.matrix.msc3488.location"]["uri"], "geo:51.5007,-0.1246");
        assert_eq!(Location::from_matrix(&v), Some(at));

        let bare = Location { latitude: -33.9, longitude: 151.2, description: None };
        assert_eq!(location_to_matrix(&bare, "")["body"], "Location: -33.9, 151.2", "never an empty body");
    }

    #[test]
    fn test_reply_fallback_is_stripped() {
        assert_eq!(strip_reply_fallback("> <@a:hs> hello\n> more\n\nmy answer"), "my answer");
        assert_eq!(strip_reply_fallback("plain"), "plain");
        assert_eq!(strip_reply_fallback("> quote only"), "");
    }

    #[test]
    fn test_oversized_messages_fit_in_an_event_and_say_so() {
        let mut small = json!({"msgtype": "m.text", "body": "hi", "format": "org.matrix.custom.html", "formatted_body": "<b>hi</b>"});
        fit_event_size(&mut small);
        assert_eq!(small["formatted_body"], "<b>hi</b>", "small messages are untouched");

        let long = "é".repeat(40_000); // 80,000 bytes
        let mut big = json!({"msgtype": "m.text", "body": long, "format": "org.matrix.custom.html", "formatted_body": "x"});
        fit_event_size(&mut big);
        let body = big["body"].as_str().unwrap();
        assert!(big.get("formatted_body").is_none());
        assert!(body.len() <= MAX_TEXT_BYTES && body.ends_with("longer than Matrix allows)"), "{}", body.len());
        assert!(body.contains("more characters not shown"));
        assert!(serde_json::to_vec(&big).unwrap().len() < 64 * 1024);
    }
}
