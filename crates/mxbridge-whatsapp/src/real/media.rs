//! Downloading a message's file: a few attempts for passing failures, then, for media
//! whose link expired on WhatsApp's servers, a request that the sender's phone upload it
//! again (WhatsApp's media re-upload), and one more round of attempts from the new path.

use std::time::Duration;

use tracing::{info, warn};
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, MediaRetryResult, MediaReuploadRequest};

use super::outgoing::wa_jid;
use crate::backend::{BackendError, InboundMessage};
use crate::jid::Jid;

/// Attempts for a media upload or download before the message fails.
pub(crate) const MEDIA_ATTEMPTS: u32 = 3;

/// Downloads and decrypts a message's file; `message` is the bridge's view of it, which
/// names the message for a re-upload request.
pub(crate) async fn download(client: &Client, original: &wa::Message, message: &InboundMessage) -> Result<Vec<u8>, BackendError> {
    let base = original.get_base_message();
    let failed = match attempts(client, base).await {
        Ok(data) => return Ok(data),
        Err(e) => e,
    };
    let Some(key) = media_key(base) else { return Err(failed) };
    let chat = wa_jid(&message.chat);
    let participant = (message.chat.is_group() && !message.from_me).then(|| wa_jid(&Jid::user(&message.sender)));
    let request = MediaReuploadRequest {
        msg_id: &message.id,
        chat_jid: &chat,
        media_key: &key,
        is_from_me: message.from_me,
        participant: participant.as_ref(),
    };
    match client.media_reupload().request(&request).await {
        Ok(MediaRetryResult::Success { direct_path }) => {
            info!(id = %message.id, "WhatsApp uploaded an expired file again");
            attempts(client, &with_direct_path(base, &direct_path)).await
        }
        Ok(other) => {
            warn!(id = %message.id, result = ?other, "WhatsApp could not upload an expired file again");
            Err(failed)
        }
        Err(e) => {
            warn!(id = %message.id, error = %e, "could not ask WhatsApp to upload an expired file again");
            Err(failed)
        }
    }
}

/// Up to [`MEDIA_ATTEMPTS`] downloads with growing pauses.
async fn attempts(client: &Client, base: &wa::Message) -> Result<Vec<u8>, BackendError> {
    let mut last = String::new();
    for attempt in 0..MEDIA_ATTEMPTS {
        let result = if let Some(m) = base.image_message.as_option() {
            client.download(m).await
        } else if let Some(m) = base.video_message.as_option() {
            client.download(m).await
        } else if let Some(m) = base.audio_message.as_option() {
            client.download(m).await
        } else if let Some(m) = base.document_message.as_option() {
            client.download(m).await
        } else if let Some(m) = base.sticker_message.as_option() {
            client.download(m).await
        } else {
            return Err(BackendError::NotFound("the message has no file".into()));
        };
        match result {
            Ok(data) => return Ok(data),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
    }
    Err(BackendError::Other(format!("the download failed {MEDIA_ATTEMPTS} times: {last}")))
}

/// The key the file is encrypted with, which also seals a re-upload request.
fn media_key(base: &wa::Message) -> Option<Vec<u8>> {
    let key = if let Some(m) = base.image_message.as_option() {
        &m.media_key
    } else if let Some(m) = base.video_message.as_option() {
        &m.media_key
    } else if let Some(m) = base.audio_message.as_option() {
        &m.media_key
    } else if let Some(m) = base.document_message.as_option() {
        &m.media_key
    } else if let Some(m) = base.sticker_message.as_option() {
        &m.media_key
    } else {
        return None;
    };
    key.clone().filter(|k| !k.is_empty())
}

/// The media message pointing at the path of a fresh upload (the old URL is dropped, so
/// the download goes to the new path).
fn with_direct_path(base: &wa::Message, path: &str) -> wa::Message {
    let mut m = base.clone();
    let (direct_path, url) = if let Some(x) = m.image_message.as_option_mut() {
        (&mut x.direct_path, &mut x.url)
    } else if let Some(x) = m.video_message.as_option_mut() {
        (&mut x.direct_path, &mut x.url)
    } else if let Some(x) = m.audio_message.as_option_mut() {
        (&mut x.direct_path, &mut x.url)
    } else if let Some(x) = m.document_message.as_option_mut() {
        (&mut x.direct_path, &mut x.url)
    } else if let Some(x) = m.sticker_message.as_option_mut() {
        (&mut x.direct_path, &mut x.url)
    } else {
        return m;
    };
    *direct_path = Some(path.to_owned());
    *url = None;
    m
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::buffa::MessageField;

    use super::*;

    #[test]
    fn test_a_reuploaded_file_is_fetched_from_its_new_path() {
        let old = wa::Message {
            document_message: MessageField::some(wa::message::DocumentMessage {
                url: Some("https://mmg.whatsapp.net/old".into()),
                direct_path: Some("/v/old".into()),
                media_key: Some(vec![7; 32]),
                file_name: Some("plan.pdf".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(media_key(&old), Some(vec![7; 32]));
        let new = with_direct_path(&old, "/v/new");
        let doc = new.document_message.as_option().unwrap();
        assert_eq!((doc.direct_path.as_deref(), doc.url.as_deref()), (Some("/v/new"), None));
        assert_eq!((doc.media_key.as_deref(), doc.file_name.as_deref()), (Some(&[7u8; 32][..]), Some("plan.pdf")), "the rest is kept");
        let text = wa::Message { conversation: Some("hi".into()), ..Default::default() };
        assert_eq!(media_key(&text), None, "no file, nothing to upload again");
        let keyless = wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage { media_key: Some(vec![]), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(media_key(&keyless), None);
    }
}
