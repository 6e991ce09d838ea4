//! What a message says when its media could not be bridged: the caption stays, and a note
//! names the media and why it is missing, so that a photo that failed to download is never
//! an empty message nor silently dropped.

use crate::backend::FormattedText;

/// Why a message's media is not in the bridged message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unbridged {
    /// Larger than the bridge forwards (its size in bytes).
    TooLarge(usize),
    /// The download failed.
    DownloadFailed,
    /// A kind of media the bridge does not carry (polls, contacts, dice, …).
    Unsupported,
}

/// The caption with a note about the missing media (`what`: "photo", "poll", …) after it.
/// Appending keeps the caption's entity offsets valid.
pub(crate) fn with_note(mut text: FormattedText, what: &str, why: &Unbridged) -> FormattedText {
    let note = match why {
        Unbridged::TooLarge(bytes) => format!("[{what}: could not be bridged: too large ({})]", megabytes(*bytes)),
        Unbridged::DownloadFailed => {
            format!("[{what}: could not be bridged: the download from Telegram failed; open it in the Telegram app]")
        }
        Unbridged::Unsupported => format!("[{what}: not bridged; open it in the Telegram app]"),
    };
    if !text.text.is_empty() {
        text.text.push('\n');
    }
    text.text.push_str(&note);
    text
}

fn megabytes(bytes: usize) -> String {
    format!("{} MB", bytes.div_ceil(1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{Entity, EntityKind};

    #[test]
    fn test_a_photo_without_caption_says_why_it_is_missing() {
        let out = with_note(FormattedText::default(), "photo", &Unbridged::TooLarge(60 * 1024 * 1024));
        assert_eq!(out.text, "[photo: could not be bridged: too large (60 MB)]");
        let out = with_note(FormattedText::default(), "video", &Unbridged::DownloadFailed);
        assert!(out.text.starts_with("[video: could not be bridged: the download from Telegram failed"), "{}", out.text);
    }

    #[test]
    fn test_the_caption_and_its_formatting_stay_before_the_note() {
        let bold = Entity { offset: 0, length: 5, kind: EntityKind::Bold };
        let caption = FormattedText { text: "Look! the vote".into(), entities: vec![bold.clone()] };
        let out = with_note(caption, "poll", &Unbridged::Unsupported);
        assert_eq!(out.text, "Look! the vote\n[poll: not bridged; open it in the Telegram app]");
        assert_eq!(out.entities, vec![bold]);
    }
}
