//! Telegram message entities ⇄ the core's [`RichText`].
//!
//! Telegram formats text with a flat list of entities, each a kind over a range given in
//! UTF-16 code units (so an emoji outside the BMP counts 2). The core uses a tree. Going to
//! the tree, entities nest by their ranges; one that crosses its parent's end is cut there.
//! Mentions by id (`MentionName`) become pills of the user's ghost and back; a pill of
//! anyone without a Telegram id stays as its shown text. `@username` mentions become pills
//! once [`resolve_mentions`] knows the user.

use mxbridge_core::network::content::{Node, RichText, Style};

use crate::backend::FormattedText;

/// One formatting entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// What it does.
    pub kind: EntityKind,
    /// Start, in UTF-16 code units.
    pub offset: u32,
    /// Length, in UTF-16 code units.
    pub length: u32,
}

/// The entity kinds the bridge converts (others are dropped, keeping their text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityKind {
    /// Bold.
    Bold,
    /// Italic.
    Italic,
    /// Underline.
    Underline,
    /// Strikethrough.
    Strike,
    /// Spoiler.
    Spoiler,
    /// Inline code.
    Code,
    /// Code block, with its language.
    Pre(String),
    /// A link with other text.
    TextUrl(String),
    /// A bare URL in the text.
    Url,
    /// A mention of a user by id (shown as their name).
    MentionName(i64),
    /// A mention by `@username` (the entity's text); [`resolve_mentions`] turns it into a
    /// [`EntityKind::MentionName`] when the user is known, else it stays text.
    Mention,
    /// A block quote.
    Blockquote,
}

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// Converts text with entities to rich text. `ghost_of` gives the Matrix ID to pill for a
/// Telegram user id.
pub fn to_rich(text: &FormattedText, ghost_of: &dyn Fn(i64) -> Option<String>) -> RichText {
    let units: Vec<u16> = text.text.encode_utf16().collect();
    let total = units.len() as u32;
    let mut entities: Vec<Entity> = text
        .entities
        .iter()
        .filter(|e| e.length > 0 && e.offset < total)
        .map(|e| Entity { length: e.length.min(total - e.offset), ..e.clone() })
        .collect();
    // Outer entities first: by start, then the longer one.
    entities.sort_by(|a, b| a.offset.cmp(&b.offset).then(b.length.cmp(&a.length)));
    RichText(build(&units, 0, total, &entities, ghost_of))
}

fn slice(units: &[u16], start: u32, end: u32) -> String {
    String::from_utf16_lossy(&units[start as usize..end as usize])
}

fn build(units: &[u16], start: u32, end: u32, entities: &[Entity], ghost_of: &dyn Fn(i64) -> Option<String>) -> Vec<Node> {
    let mut out = Vec::new();
    let mut pos = start;
    let mut i = 0;
    while i < entities.len() {
        let e = &entities[i];
        if e.offset < pos {
            // Starts inside a sibling already emitted (overlap): drop it.
            i += 1;
            continue;
        }
        let e_end = (e.offset + e.length).min(end);
        if e.offset > pos {
            out.push(Node::Text(slice(units, pos, e.offset)));
        }
        // Everything after `e` that starts inside it is nested in it.
        let mut j = i + 1;
        while j < entities.len() && entities[j].offset < e_end {
            j += 1;
        }
        let inner: Vec<Entity> = entities[i + 1..j]
            .iter()
            .map(|n| Entity { length: n.length.min(e_end - n.offset), ..n.clone() })
            .filter(|n| n.length > 0)
            .collect();
        let children = || build(units, e.offset, e_end, &inner, ghost_of);
        let inner_text = slice(units, e.offset, e_end);
        out.push(match &e.kind {
            EntityKind::Bold => Node::Styled(Style::Bold, children()),
            EntityKind::Italic => Node::Styled(Style::Italic, children()),
            EntityKind::Underline => Node::Styled(Style::Underline, children()),
            EntityKind::Strike => Node::Styled(Style::Strike, children()),
            EntityKind::Spoiler => Node::Styled(Style::Spoiler, children()),
            EntityKind::Code => Node::Styled(Style::Code, vec![Node::Text(inner_text)]),
            EntityKind::Pre(_) => Node::Pre(inner_text),
            EntityKind::TextUrl(url) => Node::Link { url: url.clone(), children: children() },
            EntityKind::Url => Node::Link { url: inner_text.clone(), children: vec![Node::Text(inner_text)] },
            EntityKind::MentionName(id) => match ghost_of(*id) {
                Some(user) => Node::Mention { user, display: inner_text },
                None => Node::Text(inner_text),
            },
            EntityKind::Mention => Node::Text(inner_text),
            EntityKind::Blockquote => Node::Quote(children()),
        });
        pos = e_end;
        i = j;
    }
    if pos < end {
        out.push(Node::Text(slice(units, pos, end)));
    }
    out
}

/// The usernames (without `@`, lowercased) of the `@username` mentions in a text.
pub fn mentioned_usernames(text: &FormattedText) -> Vec<String> {
    let units: Vec<u16> = text.text.encode_utf16().collect();
    text.entities
        .iter()
        .filter(|e| e.kind == EntityKind::Mention)
        .filter_map(|e| units.get(e.offset as usize..(e.offset + e.length) as usize))
        .map(|u| String::from_utf16_lossy(u).trim_start_matches('@').to_lowercase())
        .collect()
}

/// Turns `@username` mentions into mentions by id where `id_of` knows the (lowercased)
/// username, so that they become pills.
pub fn resolve_mentions(text: &mut FormattedText, id_of: &dyn Fn(&str) -> Option<i64>) {
    let units: Vec<u16> = text.text.encode_utf16().collect();
    for e in text.entities.iter_mut().filter(|e| e.kind == EntityKind::Mention) {
        let Some(shown) = units.get(e.offset as usize..(e.offset + e.length) as usize) else { continue };
        if let Some(id) = id_of(&String::from_utf16_lossy(shown).trim_start_matches('@').to_lowercase()) {
            e.kind = EntityKind::MentionName(id);
        }
    }
}

/// Converts rich text to text with entities. `telegram_id_of` gives the Telegram user id
/// of a mentioned Matrix ID (ghosts, and the account's own user).
pub fn from_rich(rich: &RichText, telegram_id_of: &dyn Fn(&str) -> Option<i64>) -> FormattedText {
    let mut out = FormattedText::default();
    for node in &rich.0 {
        push(node, &mut out, telegram_id_of);
    }
    out
}

fn push(node: &Node, out: &mut FormattedText, telegram_id_of: &dyn Fn(&str) -> Option<i64>) {
    let start = utf16_len(&out.text);
    let wrap = |kind: EntityKind, out: &mut FormattedText, start: u32| {
        let length = utf16_len(&out.text) - start;
        if length > 0 {
            out.entities.push(Entity { kind, offset: start, length });
        }
    };
    match node {
        Node::Text(t) => out.text.push_str(t),
        Node::Break => out.text.push('\n'),
        Node::Styled(style, children) => {
            // The outer entity goes first, as Telegram clients send them.
            let index = out.entities.len();
            for c in children {
                push(c, out, telegram_id_of);
            }
            let kind = match style {
                Style::Bold => EntityKind::Bold,
                Style::Italic => EntityKind::Italic,
                Style::Underline => EntityKind::Underline,
                Style::Strike => EntityKind::Strike,
                Style::Code => EntityKind::Code,
                Style::Spoiler => EntityKind::Spoiler,
                // Telegram has no coloured text: the text stays.
                Style::Color(_) => return,
            };
            insert_outer(out, index, kind, start);
        }
        Node::Link { url, children } => {
            let index = out.entities.len();
            for c in children {
                push(c, out, telegram_id_of);
            }
            let shown = &out.text[byte_offset(&out.text, start)..];
            let kind = if shown == url { EntityKind::Url } else { EntityKind::TextUrl(url.clone()) };
            insert_outer(out, index, kind, start);
        }
        Node::Mention { user, display } => {
            out.text.push_str(display);
            if let Some(id) = telegram_id_of(user) {
                wrap(EntityKind::MentionName(id), out, start);
            }
        }
        Node::Pre(text) => {
            out.text.push_str(text);
            wrap(EntityKind::Pre(String::new()), out, start);
        }
        Node::Quote(children) => {
            let index = out.entities.len();
            for c in children {
                push(c, out, telegram_id_of);
            }
            insert_outer(out, index, EntityKind::Blockquote, start);
        }
    }
}

/// Puts an entity covering `start..` before the entities its children added.
fn insert_outer(out: &mut FormattedText, index: usize, kind: EntityKind, start: u32) {
    let length = utf16_len(&out.text) - start;
    if length > 0 {
        out.entities.insert(index, Entity { kind, offset: start, length });
    }
}

/// The byte offset of a UTF-16 offset in `s`.
fn byte_offset(s: &str, utf16: u32) -> usize {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    s.len()
}

/// Shifts every entity by `by` UTF-16 units (text was put in front).
pub fn shifted(entities: &[Entity], by: u32) -> Vec<Entity> {
    entities.iter().map(|e| Entity { offset: e.offset + by, ..e.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ghost(id: i64) -> Option<String> {
        (id > 0).then(|| format!("@telegram_{id}:hs"))
    }

    fn telegram(user: &str) -> Option<i64> {
        user.strip_prefix("@telegram_")?.strip_suffix(":hs")?.parse().ok()
    }

    fn e(kind: EntityKind, offset: u32, length: u32) -> Entity {
        Entity { kind, offset, length }
    }

    #[test]
    fn test_offsets_count_utf16_units_around_emoji() {
        // "😀" is 2 UTF-16 units: "bold" starts at unit 3, not char 2 or byte 5.
        let text = FormattedText { text: "😀 bold end".into(), entities: vec![e(EntityKind::Bold, 3, 4)] };
        let rich = to_rich(&text, &ghost);
        assert_eq!(
            rich.0,
            vec![Node::Text("😀 ".into()), Node::Styled(Style::Bold, vec![Node::Text("bold".into())]), Node::Text(" end".into())]
        );
        assert_eq!(from_rich(&rich, &telegram), text, "and back to the same offsets");
    }

    #[test]
    fn test_nested_entities_mentions_and_links_round_trip() {
        let text = FormattedText {
            text: "hi Ünïcode Alice see docs 👍🏽 ok".into(),
            entities: vec![
                e(EntityKind::Bold, 3, 13),
                e(EntityKind::Italic, 11, 5),
                e(EntityKind::MentionName(1002), 11, 5),
                e(EntityKind::TextUrl("https://example.org/docs".into()), 21, 4),
                e(EntityKind::Strike, 26, 4),
            ],
        };
        let rich = to_rich(&text, &ghost);
        assert_eq!(
            rich.0,
            vec![
                Node::Text("hi ".into()),
                Node::Styled(
                    Style::Bold,
                    vec![
                        Node::Text("Ünïcode ".into()),
                        Node::Styled(Style::Italic, vec![Node::Mention { user: "@telegram_1002:hs".into(), display: "Alice".into() }]),
                    ]
                ),
                Node::Text(" see ".into()),
                Node::Link { url: "https://example.org/docs".into(), children: vec![Node::Text("docs".into())] },
                Node::Text(" ".into()),
                Node::Styled(Style::Strike, vec![Node::Text("👍🏽".into())]),
                Node::Text(" ok".into()),
            ]
        );
        assert_eq!(from_rich(&rich, &telegram), text);
    }

    #[test]
    fn test_code_pre_quote_and_bare_urls() {
        let text = FormattedText {
            text: "run x()\nfn main() {}\nquoted https://a.example".into(),
            entities: vec![
                e(EntityKind::Code, 4, 3),
                e(EntityKind::Pre(String::new()), 8, 12),
                e(EntityKind::Blockquote, 21, 6),
                e(EntityKind::Url, 28, 17),
            ],
        };
        let rich = to_rich(&text, &ghost);
        assert_eq!(
            rich.0,
            vec![
                Node::Text("run ".into()),
                Node::Styled(Style::Code, vec![Node::Text("x()".into())]),
                Node::Text("\n".into()),
                Node::Pre("fn main() {}".into()),
                Node::Text("\n".into()),
                Node::Quote(vec![Node::Text("quoted".into())]),
                Node::Text(" ".into()),
                Node::Link { url: "https://a.example".into(), children: vec![Node::Text("https://a.example".into())] },
            ]
        );
        assert_eq!(from_rich(&rich, &telegram), text);
    }

    #[test]
    fn test_broken_entities_are_clipped_not_panicking() {
        let text = FormattedText {
            text: "abc😀".into(),
            entities: vec![
                e(EntityKind::Bold, 1, 100),    // runs past the end
                e(EntityKind::Italic, 2, 1),    // nested
                e(EntityKind::Underline, 1, 2), // starts where bold starts, shorter: nested
                e(EntityKind::Strike, 50, 3),   // outside the text
                e(EntityKind::Code, 0, 0),      // empty
            ],
        };
        let rich = to_rich(&text, &ghost);
        assert_eq!(rich.to_plain(), "abc😀");
        assert!(matches!(&rich.0[1], Node::Styled(Style::Bold, _)));
    }

    #[test]
    fn test_pills_of_people_without_telegram_ids_keep_their_text() {
        let rich = RichText(vec![
            Node::Mention { user: "@alice:hs".into(), display: "Alice".into() },
            Node::Text(" and ".into()),
            Node::Mention { user: "@telegram_7:hs".into(), display: "Bob".into() },
        ]);
        let out = from_rich(&rich, &telegram);
        assert_eq!(out.text, "Alice and Bob");
        assert_eq!(out.entities, vec![e(EntityKind::MentionName(7), 10, 3)]);
        // A mention of someone the bridge has no ghost for becomes text.
        let back = to_rich(&FormattedText { text: "x".into(), entities: vec![e(EntityKind::MentionName(-1), 0, 1)] }, &ghost);
        assert_eq!(back.0, vec![Node::Text("x".into())]);
    }

    #[test]
    fn test_username_mentions_become_pills_when_the_user_is_known() {
        let mut text = FormattedText {
            text: "😀 hi @Sim_Bob and @nobody".into(),
            entities: vec![e(EntityKind::Mention, 6, 8), e(EntityKind::Mention, 19, 7)],
        };
        assert_eq!(mentioned_usernames(&text), vec!["sim_bob", "nobody"]);
        resolve_mentions(&mut text, &|name| (name == "sim_bob").then_some(1003));
        assert_eq!(text.entities, vec![e(EntityKind::MentionName(1003), 6, 8), e(EntityKind::Mention, 19, 7)]);
        let ghost = |id: i64| Some(format!("@telegram_{id}:hs"));
        let rich = to_rich(&text, &ghost);
        assert!(rich.0.contains(&Node::Mention { user: "@telegram_1003:hs".into(), display: "@Sim_Bob".into() }), "{rich:?}");
        assert!(rich.to_plain().ends_with("and @nobody"), "an unknown one stays text: {rich:?}");
    }
}
