//! Matrix message content ⇄ the network-neutral [`Content`].

use serde_json::{Value, json};

use crate::format::html;
use crate::matrix::intent::Matrix;
use crate::media_links::MediaLinks;
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
            return Ok(Content { kind: MessageKind::Text, body: caption, media: Some(media) });
        }
        other => return Err(format!("this kind of message ({other}) cannot be bridged; send it as text or a file.")),
    };
    Ok(Content { kind, body, media: None })
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
pub(crate) async fn content_to_matrix(matrix: &Matrix, content: &Content) -> Result<Value, String> {
    let plain = content.body.to_plain();
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
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reply_fallback_is_stripped() {
        assert_eq!(strip_reply_fallback("> <@a:hs> hello\n> more\n\nmy answer"), "my answer");
        assert_eq!(strip_reply_fallback("plain"), "plain");
        assert_eq!(strip_reply_fallback("> quote only"), "");
    }
}
