//! mIRC formatting codes ⇄ the core's rich text.
//!
//! IRC styles text with toggles: `\x02` bold, `\x1d` italic, `\x1f` underline, `\x1e`
//! strikethrough, `\x11` monospace, `\x03NN[,NN]` colours, `\x0f` resets all. Colours have
//! no place in the neutral form and are dropped; a spoiler is sent as black on black.

use mxbridge_core::network::content::{Node, RichText, Style};

const BOLD: char = '\x02';
const COLOR: char = '\x03';
const HEX_COLOR: char = '\x04';
const RESET: char = '\x0f';
const MONO: char = '\x11';
const REVERSE: char = '\x16';
const ITALIC: char = '\x1d';
const STRIKE: char = '\x1e';
const UNDERLINE: char = '\x1f';

fn code_of(style: Style) -> &'static str {
    match style {
        Style::Bold => "\x02",
        Style::Italic => "\x1d",
        Style::Underline => "\x1f",
        Style::Strike => "\x1e",
        Style::Code => "\x11",
        Style::Spoiler => "\x0301,01",
    }
}

fn closing_of(style: Style) -> &'static str {
    match style {
        Style::Spoiler => "\x03",
        other => code_of(other),
    }
}

/// Rich text as IRC text with formatting codes. Newlines separate lines; the caller splits.
pub fn to_irc(text: &RichText) -> String {
    let mut out = String::new();
    for node in &text.0 {
        push_node(node, &mut out);
    }
    out
}

fn push_node(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => out.push_str(t),
        Node::Styled(style, children) => {
            out.push_str(code_of(*style));
            for c in children {
                push_node(c, out);
            }
            out.push_str(closing_of(*style));
        }
        Node::Link { url, children } => match mxbridge_core::network::content::link_label(url, children) {
            Some(shown) => out.push_str(&format!("{shown} <{url}>")),
            None => out.push_str(url),
        },
        Node::Mention { display, .. } => out.push_str(display),
        Node::Pre(code) => {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(code.trim_end_matches('\n'));
            out.push('\n');
        }
        Node::Quote(children) => {
            let mut inner = String::new();
            for c in children {
                push_node(c, &mut inner);
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

#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Active {
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    mono: bool,
}

impl Active {
    fn wrap(self, text: String) -> Node {
        let mut node = Node::Text(text);
        for (on, style) in [
            (self.mono, Style::Code),
            (self.strike, Style::Strike),
            (self.underline, Style::Underline),
            (self.italic, Style::Italic),
            (self.bold, Style::Bold),
        ] {
            if on {
                node = Node::Styled(style, vec![node]);
            }
        }
        node
    }
}

/// IRC text with formatting codes as rich text. Colours and reverse video are dropped.
pub fn from_irc(text: &str) -> RichText {
    let mut nodes = Vec::new();
    let mut active = Active::default();
    let mut run = String::new();
    let mut chars = text.chars().peekable();
    let flush = |run: &mut String, active: Active, nodes: &mut Vec<Node>| {
        if !run.is_empty() {
            nodes.push(active.wrap(std::mem::take(run)));
        }
    };
    while let Some(c) = chars.next() {
        let toggled = match c {
            BOLD => Some(Active { bold: !active.bold, ..active }),
            ITALIC => Some(Active { italic: !active.italic, ..active }),
            UNDERLINE => Some(Active { underline: !active.underline, ..active }),
            STRIKE => Some(Active { strike: !active.strike, ..active }),
            MONO => Some(Active { mono: !active.mono, ..active }),
            RESET => Some(Active::default()),
            _ => None,
        };
        if let Some(next) = toggled {
            flush(&mut run, active, &mut nodes);
            active = next;
            continue;
        }
        match c {
            COLOR => {
                // Up to two digits, optionally a comma and two more.
                for _ in 0..2 {
                    if chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        chars.next();
                    }
                }
                let mut lookahead = chars.clone();
                if lookahead.next() == Some(',') && lookahead.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                    for _ in 0..2 {
                        if chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                            chars.next();
                        }
                    }
                }
            }
            HEX_COLOR => {
                for _ in 0..6 {
                    if chars.peek().is_some_and(|d| d.is_ascii_hexdigit()) {
                        chars.next();
                    }
                }
            }
            REVERSE => {}
            c if c.is_control() && c != '\t' => {}
            c => run.push(c),
        }
    }
    flush(&mut run, active, &mut nodes);
    RichText(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Node {
        Node::Text(t.into())
    }

    #[test]
    fn test_rich_text_to_irc() {
        let rt = RichText(vec![
            Node::Styled(Style::Bold, vec![text("bold")]),
            text(" "),
            Node::Styled(Style::Italic, vec![text("it")]),
            text(" "),
            Node::Link { url: "https://x.org".into(), children: vec![text("site")] },
            text(" "),
            Node::Link { url: "https://y.org".into(), children: vec![text("https://y.org")] },
            text(" "),
            Node::Mention { user: "@_irc_bob:hs".into(), display: "bob".into() },
        ]);
        assert_eq!(to_irc(&rt), "\x02bold\x02 \x1dit\x1d site <https://x.org> https://y.org bob");
    }

    #[test]
    fn test_blocks_become_lines() {
        let rt = RichText(vec![text("see:"), Node::Pre("let x = 1;\nlet y = 2;\n".into()), Node::Quote(vec![text("quoted")])]);
        assert_eq!(to_irc(&rt), "see:\nlet x = 1;\nlet y = 2;\n> quoted\n");
    }

    #[test]
    fn test_irc_to_rich_text() {
        let rt = from_irc("\x02bold\x02 plain \x1d\x02both\x0f \x0304,12red\x03 \x1funder");
        assert_eq!(
            rt.0,
            vec![
                Node::Styled(Style::Bold, vec![text("bold")]),
                text(" plain "),
                Node::Styled(Style::Bold, vec![Node::Styled(Style::Italic, vec![text("both")])]),
                text(" red "),
                Node::Styled(Style::Underline, vec![text("under")]),
            ]
        );
        assert_eq!(from_irc("3\x035,6text 2,3").to_plain(), "3text 2,3", "colour digits are eaten, text digits kept");
        assert_eq!(from_irc("a\x07b\x16c").to_plain(), "abc");
    }

    #[test]
    fn test_round_trip_of_styles() {
        for style in [Style::Bold, Style::Italic, Style::Underline, Style::Strike, Style::Code] {
            let rt = RichText(vec![text("a "), Node::Styled(style, vec![text("styled")]), text(" b")]);
            assert_eq!(from_irc(&to_irc(&rt)), rt, "{style:?}");
        }
    }
}
