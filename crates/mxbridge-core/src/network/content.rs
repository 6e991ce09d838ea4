//! Message content in a neutral form that every network converts to and from its own.
//!
//! Matrix HTML is converted to [`RichText`] by the core (see `format`); an IRC crate turns
//! the same tree into mIRC codes, an XMPP crate into plain text with XEP-0393 styling. A
//! network never sees HTML.

use serde::{Deserialize, Serialize};

/// A span style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Style {
    /// Bold / strong.
    Bold,
    /// Italic / emphasis.
    Italic,
    /// Underline.
    Underline,
    /// Strikethrough.
    Strike,
    /// Inline code.
    Code,
    /// Spoiler (hidden until clicked where supported).
    Spoiler,
    /// Text colour (IRC colour codes, Matrix `<font color>`); networks without colours
    /// keep the text and drop the colour.
    Color(Rgb),
}

/// A colour as red, green and blue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb` or `rrggbb`, as HTML writes colours.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let hex = text.trim().strip_prefix('#').unwrap_or(text.trim());
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Self(byte(0)?, byte(2)?, byte(4)?))
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// One node of a rich-text tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    /// Plain text; may contain newlines.
    Text(String),
    /// Styled children.
    Styled(Style, Vec<Node>),
    /// A hyperlink.
    Link {
        /// Target URL.
        url: String,
        /// What is shown.
        children: Vec<Node>,
    },
    /// A mention of a user. `user` is a Matrix user ID on the Matrix side; the core
    /// resolves ghost mentions to the remote user's display name for networks.
    Mention {
        /// Matrix user ID of the mentioned user.
        user: String,
        /// Text shown for the mention.
        display: String,
    },
    /// A preformatted block (code block).
    Pre(String),
    /// A quoted block.
    Quote(Vec<Node>),
    /// A line break.
    Break,
}

/// The text a link shows, when text-only networks should write it beside the URL: `None`
/// when it shows nothing or the URL itself (then the URL alone is written).
pub fn link_label(url: &str, children: &[Node]) -> Option<String> {
    let shown = RichText(children.to_vec()).to_plain();
    (!shown.is_empty() && shown != url).then_some(shown)
}

/// A message body as a tree of nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichText(pub Vec<Node>);

impl RichText {
    /// Unformatted text.
    pub fn plain(text: impl Into<String>) -> Self {
        Self(vec![Node::Text(text.into())])
    }

    /// Whether any node carries formatting, links or mentions.
    pub fn is_formatted(&self) -> bool {
        self.0.iter().any(|n| !matches!(n, Node::Text(_) | Node::Break))
    }

    /// The text without formatting, as a person would read it.
    pub fn to_plain(&self) -> String {
        let mut out = String::new();
        for node in &self.0 {
            push_plain(node, &mut out);
        }
        out
    }
}

fn push_plain(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) | Node::Pre(t) => out.push_str(t),
        Node::Styled(_, children) | Node::Link { children, .. } => {
            for c in children {
                push_plain(c, out);
            }
        }
        Node::Mention { display, .. } => out.push_str(display),
        Node::Quote(children) => {
            let mut inner = String::new();
            for c in children {
                push_plain(c, &mut inner);
            }
            for line in inner.lines() {
                out.push_str("> ");
                out.push_str(line);
                out.push('\n');
            }
        }
        Node::Break => out.push('\n'),
    }
}

/// What kind of message this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    /// An ordinary message.
    Text,
    /// An automated message (bots, server notices).
    Notice,
    /// An action: `/me waves`.
    Emote,
}

/// A file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// What sort of file it is.
    pub kind: MediaKind,
    /// File name.
    pub name: String,
    /// MIME type, when known.
    pub mime: Option<String>,
    /// The bytes.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// A public URL where the file can be fetched, when the network prefers links
    /// (IRC has no uploads).
    pub url: Option<String>,
}

/// Media categories that Matrix clients render differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaKind {
    /// A picture.
    Image,
    /// A video.
    Video,
    /// A sound or voice message.
    Audio,
    /// Any other file.
    File,
}

/// One message's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Text, notice or emote.
    pub kind: MessageKind,
    /// The text (the caption for media, what to show where a map cannot be for a location).
    pub body: RichText,
    /// An attached file.
    pub media: Option<Media>,
    /// A shared point on a map (Matrix `m.location`).
    #[serde(default)]
    pub location: Option<crate::network::Location>,
}

impl Content {
    /// A plain text message.
    pub fn text(body: impl Into<String>) -> Self {
        Self::rich(MessageKind::Text, RichText::plain(body))
    }

    /// A notice.
    pub fn notice(body: impl Into<String>) -> Self {
        Self::rich(MessageKind::Notice, RichText::plain(body))
    }

    /// An emote (`/me`).
    pub fn emote(body: impl Into<String>) -> Self {
        Self::rich(MessageKind::Emote, RichText::plain(body))
    }

    /// A message of this kind with formatted text.
    pub fn rich(kind: MessageKind, body: RichText) -> Self {
        Self { kind, body, media: None, location: None }
    }

    /// A file, with a caption (which may be empty).
    pub fn file(media: Media, caption: RichText) -> Self {
        Self { kind: MessageKind::Text, body: caption, media: Some(media), location: None }
    }

    /// A shared location; its caption is the text networks without maps show.
    pub fn location(at: crate::network::Location) -> Self {
        Self { kind: MessageKind::Text, body: RichText::plain(at.caption()), media: None, location: Some(at) }
    }
}
