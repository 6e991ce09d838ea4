//! mIRC formatting codes ⇄ the core's rich text.
//!
//! IRC styles text with toggles: `\x02` bold, `\x1d` italic, `\x1f` underline, `\x1e`
//! strikethrough, `\x11` monospace, `\x03NN[,NN]` colours, `\x0f` resets all. The text
//! colour of the 16 standard colours (and `\x04RRGGBB`) becomes a coloured span; background
//! colours and reverse video are dropped. Matrix colours reach IRC as the nearest of the 16.
//! A spoiler is sent as black on black.

use mxbridge_core::network::content::{Node, Rgb, RichText, Style};

const BOLD: char = '\x02';
const COLOR: char = '\x03';
const HEX_COLOR: char = '\x04';
const RESET: char = '\x0f';
const MONO: char = '\x11';
const REVERSE: char = '\x16';
const ITALIC: char = '\x1d';
const STRIKE: char = '\x1e';
const UNDERLINE: char = '\x1f';

/// The 16 standard mIRC colours, as most clients show them.
const PALETTE: [Rgb; 16] = [
    Rgb(0xff, 0xff, 0xff),
    Rgb(0x00, 0x00, 0x00),
    Rgb(0x00, 0x00, 0x7f),
    Rgb(0x00, 0x93, 0x00),
    Rgb(0xff, 0x00, 0x00),
    Rgb(0x7f, 0x00, 0x00),
    Rgb(0x9c, 0x00, 0x9c),
    Rgb(0xfc, 0x7f, 0x00),
    Rgb(0xff, 0xff, 0x00),
    Rgb(0x00, 0xfc, 0x00),
    Rgb(0x00, 0x93, 0x93),
    Rgb(0x00, 0xff, 0xff),
    Rgb(0x00, 0x00, 0xfc),
    Rgb(0xff, 0x00, 0xff),
    Rgb(0x7f, 0x7f, 0x7f),
    Rgb(0xd2, 0xd2, 0xd2),
];

/// The palette index closest to a colour.
fn nearest_color(rgb: Rgb) -> usize {
    let distance = |p: &Rgb| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(p.0, rgb.0) + d(p.1, rgb.1) + d(p.2, rgb.2)
    };
    PALETTE.iter().enumerate().min_by_key(|(_, p)| distance(p)).map_or(1, |(i, _)| i)
}

fn code_of(style: Style) -> String {
    match style {
        Style::Bold => "\x02".into(),
        Style::Italic => "\x1d".into(),
        Style::Underline => "\x1f".into(),
        Style::Strike => "\x1e".into(),
        Style::Code => "\x11".into(),
        Style::Spoiler => "\x0301,01".into(),
        // Always two digits, so a digit at the start of the text is not read as colour.
        Style::Color(rgb) => format!("\x03{:02}", nearest_color(rgb)),
    }
}

fn closing_of(style: Style) -> String {
    match style {
        Style::Spoiler | Style::Color(_) => "\x03".into(),
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
            out.push_str(&code_of(*style));
            for c in children {
                push_node(c, out);
            }
            out.push_str(&closing_of(*style));
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
    color: Option<Rgb>,
    /// Same text and background colour: how IRC hides spoilers.
    spoiler: bool,
}

impl Active {
    fn wrap(self, text: String) -> Node {
        let mut node = Node::Text(text);
        if let Some(rgb) = self.color {
            node = Node::Styled(Style::Color(rgb), vec![node]);
        }
        if self.spoiler {
            node = Node::Styled(Style::Spoiler, vec![node]);
        }
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

/// IRC text with formatting codes as rich text. Background colours and reverse video are
/// dropped.
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
                // Up to two digits, optionally a comma and two more (the background).
                let mut digits = String::new();
                while digits.len() < 2 && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    digits.extend(chars.next());
                }
                let mut background = String::new();
                let mut lookahead = chars.clone();
                if !digits.is_empty() && lookahead.next() == Some(',') && lookahead.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                    while background.len() < 2 && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        background.extend(chars.next());
                    }
                }
                // No digits ends the colour; 99 is the client's default; 16-98 are rarely
                // supported extended colours, shown without colour.
                let index = |digits: &str| digits.parse::<usize>().ok();
                let color = index(&digits).and_then(|n| PALETTE.get(n).copied());
                flush(&mut run, active, &mut nodes);
                active.spoiler = !background.is_empty() && index(&digits) == index(&background);
                active.color = if active.spoiler { None } else { color };
            }
            HEX_COLOR => {
                let mut hex = String::new();
                while hex.len() < 6 && chars.peek().is_some_and(|d| d.is_ascii_hexdigit()) {
                    hex.extend(chars.next());
                }
                flush(&mut run, active, &mut nodes);
                active.color = Rgb::parse_hex(&hex);
                active.spoiler = false;
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
                text(" "),
                Node::Styled(Style::Color(Rgb(0xff, 0, 0)), vec![text("red")]),
                text(" "),
                Node::Styled(Style::Underline, vec![text("under")]),
            ]
        );
        assert_eq!(from_irc("3\x035,6text 2,3").to_plain(), "3text 2,3", "colour digits are eaten, text digits kept");
        assert_eq!(from_irc("a\x07b\x16c").to_plain(), "abc");
    }

    #[test]
    fn test_colours_both_ways() {
        let red = Style::Color(Rgb(0xff, 0, 0));
        assert_eq!(from_irc("\x034red\x0399default").0, vec![Node::Styled(red, vec![text("red")]), text("default")]);
        assert_eq!(from_irc("\x04336699hex\x04").0, vec![Node::Styled(Style::Color(Rgb(0x33, 0x66, 0x99)), vec![text("hex")])]);
        assert_eq!(from_irc("\x0342extended").0, vec![text("extended")], "extended colours are shown plain");
        assert_eq!(from_irc("\x0301,01hidden\x03 seen").0, vec![Node::Styled(Style::Spoiler, vec![text("hidden")]), text(" seen")]);
        let bold_red = from_irc("\x02\x0304both\x0f");
        assert_eq!(bold_red.0, vec![Node::Styled(Style::Bold, vec![Node::Styled(red, vec![text("both")])])]);

        // Matrix colours become the nearest standard colour, with two digits so that text
        // starting with a digit is not taken for part of the code.
        let orange_ish = RichText(vec![Node::Styled(Style::Color(Rgb(0xf0, 0x80, 0x10)), vec![text("1st")])]);
        assert_eq!(to_irc(&orange_ish), "\x03071st\x03");
        assert_eq!(from_irc(&to_irc(&orange_ish)).to_plain(), "1st", "the digit stays text");
    }

    #[test]
    fn test_round_trip_of_styles() {
        for style in
            [Style::Bold, Style::Italic, Style::Underline, Style::Strike, Style::Code, Style::Spoiler, Style::Color(Rgb(0, 0, 0x7f))]
        {
            let rt = RichText(vec![text("a "), Node::Styled(style, vec![text("styled")]), text(" b")]);
            assert_eq!(from_irc(&to_irc(&rt)), rt, "{style:?}");
        }
    }
}
