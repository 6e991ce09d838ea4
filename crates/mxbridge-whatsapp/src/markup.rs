//! WhatsApp text markup ⇄ the core's [`RichText`].
//!
//! WhatsApp marks `*bold*`, `_italic_`, `~strike~`, `` `code` `` and ```` ```monospace``` ````
//! inline, quotes lines with `> `, and mentions people as `@<number>` with the mentioned
//! JIDs listed beside the text. A marker only counts at a word boundary with no space just
//! inside it (`2*3*4` is not bold), which is how the app reads them too. Pure functions:
//! the callers map numbers to ghosts and pills back to numbers.

use mxbridge_core::network::content::{Node, RichText, Style};

/// Text with the numbers it mentions, as WhatsApp sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaText {
    /// The text with markup.
    pub text: String,
    /// Numbers mentioned as `@<number>` in the text.
    pub mentions: Vec<String>,
}

/// Parses WhatsApp markup. `ghost_of(number)` gives the Matrix user ID and name of a
/// mentioned number; a `@<number>` that is not in `mentions` stays text.
pub fn from_whatsapp(text: &str, mentions: &[String], ghost_of: &dyn Fn(&str) -> Option<(String, String)>) -> RichText {
    let mut out = Vec::new();
    let mut quote: Vec<Node> = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    // Code blocks may span lines: ``` … ``` is found first, on the whole text.
    let parse_line = |line: &str| inline(line, mentions, ghost_of);
    while i < lines.len() {
        let line = lines[i];
        if let Some(quoted) = line.strip_prefix("> ").or_else(|| (line == ">").then_some("")) {
            if !quote.is_empty() {
                quote.push(Node::Break);
            }
            quote.extend(parse_line(quoted));
            i += 1;
            continue;
        }
        if !quote.is_empty() {
            out.push(Node::Quote(std::mem::take(&mut quote)));
        }
        if line.starts_with("```") {
            // A block: up to the line that ends it.
            let rest = lines[i..].join("\n");
            if let Some(end) = rest[3..].find("```") {
                let body = &rest[3..3 + end];
                out.push(Node::Pre(body.trim_matches('\n').to_owned()));
                let consumed = rest[..3 + end + 3].split('\n').count();
                let tail = rest[3 + end + 3..].split('\n').next().unwrap_or("");
                i += consumed;
                if !tail.is_empty() {
                    out.extend(parse_line(tail));
                }
                if i < lines.len() {
                    out.push(Node::Break);
                }
                continue;
            }
        }
        out.extend(parse_line(line));
        i += 1;
        if i < lines.len() && !lines[i].starts_with("> ") {
            out.push(Node::Break);
        }
    }
    if !quote.is_empty() {
        out.push(Node::Quote(quote));
    }
    RichText(merge_text(out))
}

fn style_of(marker: char) -> Option<Style> {
    match marker {
        '*' => Some(Style::Bold),
        '_' => Some(Style::Italic),
        '~' => Some(Style::Strike),
        '`' => Some(Style::Code),
        _ => None,
    }
}

fn is_boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| !c.is_alphanumeric())
}

/// One line of inline markup.
fn inline(line: &str, mentions: &[String], ghost_of: &dyn Fn(&str) -> Option<(String, String)>) -> Vec<Node> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let before = if i == 0 { None } else { Some(chars[i - 1]) };
        if c == '`' && chars[i..].starts_with(&['`', '`', '`']) {
            let inner_start = i + 3;
            if let Some(end) = find_seq(&chars, inner_start, &['`', '`', '`']) {
                flush(&mut text, &mut out);
                out.push(Node::Pre(chars[inner_start..end].iter().collect()));
                i = end + 3;
                continue;
            }
        }
        if let Some(style) = style_of(c)
            && is_boundary(before)
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace() && *n != c)
            && let Some(end) = closing(&chars, i + 1, c)
        {
            flush(&mut text, &mut out);
            let inner: String = chars[i + 1..end].iter().collect();
            let children = if style == Style::Code { vec![Node::Text(inner)] } else { inline(&inner, mentions, ghost_of) };
            out.push(Node::Styled(style, children));
            i = end + 1;
            continue;
        }
        if c == '@' && is_boundary(before) {
            let digits: String = chars[i + 1..].iter().take_while(|d| d.is_ascii_digit()).collect();
            if !digits.is_empty()
                && mentions.contains(&digits)
                && let Some((user, name)) = ghost_of(&digits)
            {
                flush(&mut text, &mut out);
                out.push(Node::Mention { user, display: name });
                i += 1 + digits.len();
                continue;
            }
        }
        text.push(c);
        i += 1;
    }
    flush(&mut text, &mut out);
    out
}

fn flush(text: &mut String, out: &mut Vec<Node>) {
    if !text.is_empty() {
        out.push(Node::Text(std::mem::take(text)));
    }
}

fn find_seq(chars: &[char], from: usize, seq: &[char]) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j..].starts_with(seq))
}

/// The closing marker for one opened at `from - 1`: not after a space, and followed by a
/// word boundary.
fn closing(chars: &[char], from: usize, marker: char) -> Option<usize> {
    (from + 1..chars.len()).find(|&j| chars[j] == marker && !chars[j - 1].is_whitespace() && is_boundary(chars.get(j + 1).copied()))
}

/// Joins neighbouring text nodes, so equal texts compare equal however they were split.
fn merge_text(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for n in nodes {
        match (out.last_mut(), n) {
            (Some(Node::Text(a)), Node::Text(b)) => a.push_str(&b),
            (_, n) => out.push(n),
        }
    }
    out
}

/// Renders rich text as WhatsApp markup. `number_of(matrix_user)` gives the number of a
/// mentioned ghost; other mentions become their display text.
pub fn to_whatsapp(text: &RichText, number_of: &dyn Fn(&str) -> Option<String>) -> WaText {
    let mut out = WaText::default();
    for node in &text.0 {
        render(node, number_of, &mut out);
    }
    out
}

fn render(node: &Node, number_of: &dyn Fn(&str) -> Option<String>, out: &mut WaText) {
    match node {
        Node::Text(t) => out.text.push_str(t),
        Node::Styled(style, children) => {
            let marker = match style {
                Style::Bold => "*",
                Style::Italic => "_",
                Style::Strike => "~",
                Style::Code => "`",
                // WhatsApp has no underline, spoiler or colour: the text stays.
                Style::Underline | Style::Spoiler | Style::Color(_) => "",
            };
            out.text.push_str(marker);
            for c in children {
                render(c, number_of, out);
            }
            out.text.push_str(marker);
        }
        Node::Link { url, children } => match mxbridge_core::network::content::link_label(url, children) {
            Some(shown) => out.text.push_str(&format!("{shown} ({url})")),
            None => out.text.push_str(url),
        },
        Node::Mention { user, display } => match number_of(user) {
            Some(number) => {
                out.text.push('@');
                out.text.push_str(&number);
                if !out.mentions.contains(&number) {
                    out.mentions.push(number);
                }
            }
            None => out.text.push_str(display),
        },
        Node::Pre(t) => {
            out.text.push_str("```");
            out.text.push_str(t);
            out.text.push_str("```");
        }
        Node::Quote(children) => {
            let mut inner = WaText::default();
            for c in children {
                render(c, number_of, &mut inner);
            }
            if !out.text.is_empty() && !out.text.ends_with('\n') {
                out.text.push('\n');
            }
            let quoted: Vec<String> = inner.text.trim_end_matches('\n').split('\n').map(|l| format!("> {l}")).collect();
            out.text.push_str(&quoted.join("\n"));
            out.text.push('\n');
            for m in inner.mentions {
                if !out.mentions.contains(&m) {
                    out.mentions.push(m);
                }
            }
        }
        Node::Break => out.text.push('\n'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ghost(number: &str) -> Option<(String, String)> {
        (number == "447700900002").then(|| ("@whatsapp_447700900002:hs".to_owned(), "Alice".to_owned()))
    }

    fn number(user: &str) -> Option<String> {
        user.strip_prefix("@whatsapp_").and_then(|r| r.split(':').next()).map(str::to_owned)
    }

    fn parse(text: &str) -> RichText {
        from_whatsapp(text, &["447700900002".to_owned()], &ghost)
    }

    fn styled(style: Style, text: &str) -> Node {
        Node::Styled(style, vec![Node::Text(text.into())])
    }

    #[test]
    fn test_inline_styles() {
        assert_eq!(
            parse("a *bold* _it_ ~gone~ `x`").0,
            vec![
                Node::Text("a ".into()),
                styled(Style::Bold, "bold"),
                Node::Text(" ".into()),
                styled(Style::Italic, "it"),
                Node::Text(" ".into()),
                styled(Style::Strike, "gone"),
                Node::Text(" ".into()),
                styled(Style::Code, "x"),
            ]
        );
        assert_eq!(parse("*_both_*").0, vec![Node::Styled(Style::Bold, vec![styled(Style::Italic, "both")])]);
    }

    #[test]
    fn test_markers_that_are_not_markup() {
        for text in ["2*3*4", "a * b * c", "snake_case_name", "* not bold*", "**", "an *unclosed marker", "mail@447700900002"] {
            assert_eq!(parse(text), RichText::plain(text), "{text}");
        }
    }

    #[test]
    fn test_monospace_and_quotes() {
        assert_eq!(parse("```let x = 1;```").0, vec![Node::Pre("let x = 1;".into())]);
        assert_eq!(
            parse("```\nline 1\nline 2\n```\nafter").0,
            vec![Node::Pre("line 1\nline 2".into()), Node::Break, Node::Text("after".into())]
        );
        assert_eq!(
            parse("> quoted *b*\n> two\nanswer").0,
            vec![
                Node::Quote(vec![Node::Text("quoted ".into()), styled(Style::Bold, "b"), Node::Break, Node::Text("two".into())]),
                Node::Text("answer".into()),
            ]
        );
    }

    #[test]
    fn test_mentions_become_pills_only_when_listed() {
        assert_eq!(
            parse("hi @447700900002!").0,
            vec![
                Node::Text("hi ".into()),
                Node::Mention { user: "@whatsapp_447700900002:hs".into(), display: "Alice".into() },
                Node::Text("!".into()),
            ]
        );
        assert_eq!(parse("hi @447700900003"), RichText::plain("hi @447700900003"), "not in the mention list");
    }

    #[test]
    fn test_render_to_whatsapp() {
        let text = RichText(vec![
            styled(Style::Bold, "b"),
            Node::Text(" ".into()),
            styled(Style::Underline, "u"),
            Node::Text(" ".into()),
            Node::Mention { user: "@whatsapp_447700900002:hs".into(), display: "Alice (WA)".into() },
            Node::Text(" ".into()),
            Node::Mention { user: "@bob:hs".into(), display: "Bob".into() },
            Node::Break,
            Node::Link { url: "https://example.org".into(), children: vec![Node::Text("site".into())] },
            Node::Break,
            Node::Pre("code".into()),
        ]);
        let wa = to_whatsapp(&text, &|u| number(u).filter(|n| n.chars().all(|c| c.is_ascii_digit())));
        assert_eq!(wa.text, "*b* u @447700900002 Bob\nsite (https://example.org)\n```code```");
        assert_eq!(wa.mentions, vec!["447700900002".to_owned()]);
    }

    #[test]
    fn test_round_trip() {
        for text in ["plain", "*bold* and _italic_ and ~strike~", "> quote\nanswer", "```mono```", "hi @447700900002", "`code` x"] {
            let rich = parse(text);
            let back = to_whatsapp(&rich, &|u| number(u));
            assert_eq!(back.text.trim_end(), text, "{rich:?}");
        }
    }
}
