//! Message text between XMPP and the core's rich text: XEP-0393 message styling both ways
//! (`*strong*`, `_emphasis_`, `~strike~`, `` `code` ``, ```` ``` ```` blocks, `>` quotes),
//! XEP-0071 XHTML-IM from XMPP where a client sends it (through the core's HTML reader,
//! which keeps only what Matrix allows), and XEP-0245 `/me` actions.

use mxbridge_core::network::content::{Content, MessageKind, Node, RichText, Style};
use tokio_xmpp::minidom::{Element, Node as XmlNode};

const NS_XHTML_IM: &str = "http://jabber.org/protocol/xhtml-im";
const NS_XHTML: &str = "http://www.w3.org/1999/xhtml";

/// The content of a message from XMPP: its XHTML-IM body where it has one, else its plain
/// body read as XEP-0393 styling.
pub(crate) fn incoming(body: &str, payloads: &[Element]) -> Content {
    let (kind, body) = match body.strip_prefix("/me ") {
        Some(action) => (MessageKind::Emote, action),
        None => (MessageKind::Text, body),
    };
    let rich = match (kind, xhtml_body(payloads)) {
        (MessageKind::Text, Some(html)) => mxbridge_core::format::html::parse(&html),
        _ => parse(body),
    };
    // The plain text of what came is kept as it was when it carries no formatting.
    let rich = if rich.is_formatted() { rich } else { RichText::plain(body) };
    Content::rich(kind, rich)
}

/// The body of a message to XMPP: styled text, and `/me` for actions.
pub(crate) fn outgoing(content: &Content) -> String {
    let text = render(&content.body);
    match content.kind {
        MessageKind::Emote => format!("/me {text}"),
        MessageKind::Text | MessageKind::Notice => text,
    }
}

/// The XHTML-IM body as HTML, if the message has one.
fn xhtml_body(payloads: &[Element]) -> Option<String> {
    let html = payloads.iter().find(|p| p.is("html", NS_XHTML_IM))?;
    let body = html.get_child("body", NS_XHTML)?;
    let mut out = String::new();
    for node in body.nodes() {
        match node {
            XmlNode::Element(el) => out.push_str(&String::from(el)),
            XmlNode::Text(text) => out.push_str(&mxbridge_core::format::html::escape(text)),
        }
    }
    Some(out)
}

/// Reads XEP-0393 styling.
pub fn parse(body: &str) -> RichText {
    let lines: Vec<&str> = body.split('\n').collect();
    let mut nodes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("```") {
            // A preformatted block runs to a closing fence or the end of the message.
            let end = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == "```");
            let last = end.unwrap_or(lines.len());
            push_line_break(&mut nodes);
            nodes.push(Node::Pre(lines[i + 1..last].join("\n")));
            i = end.map_or(lines.len(), |e| e + 1);
            continue;
        }
        if line.starts_with('>') {
            let mut quoted = Vec::new();
            while i < lines.len() && lines[i].starts_with('>') {
                let inner = &lines[i][1..];
                quoted.push(inner.strip_prefix(' ').unwrap_or(inner));
                i += 1;
            }
            push_line_break(&mut nodes);
            nodes.push(Node::Quote(parse(&quoted.join("\n")).0));
            continue;
        }
        push_line_break(&mut nodes);
        nodes.extend(spans(line));
        i += 1;
    }
    RichText(nodes)
}

/// A line break between lines (blocks end their own lines).
fn push_line_break(nodes: &mut Vec<Node>) {
    if nodes.last().is_some_and(|n| !matches!(n, Node::Pre(_) | Node::Quote(_))) {
        nodes.push(Node::Break);
    }
}

fn span_style(c: char) -> Option<Style> {
    match c {
        '*' => Some(Style::Bold),
        '_' => Some(Style::Italic),
        '~' => Some(Style::Strike),
        '`' => Some(Style::Code),
        _ => None,
    }
}

/// The styled spans of one line: a directive opens at the start or after whitespace (or
/// another directive) before a non-space, and closes after a non-space; `code` holds no
/// further styling. An unmatched directive is text.
fn spans(line: &str) -> Vec<Node> {
    let chars: Vec<char> = line.chars().collect();
    let mut nodes = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(style) = span_style(c) {
            let opens = (i == 0 || chars[i - 1].is_whitespace() || span_style(chars[i - 1]).is_some())
                && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
            let close = (i + 2..chars.len()).find(|&j| chars[j] == c && !chars[j - 1].is_whitespace());
            if let (true, Some(j)) = (opens, close) {
                if !text.is_empty() {
                    nodes.push(Node::Text(std::mem::take(&mut text)));
                }
                let inner: String = chars[i + 1..j].iter().collect();
                let children = if style == Style::Code { vec![Node::Text(inner)] } else { spans(&inner) };
                nodes.push(Node::Styled(style, children));
                i = j + 1;
                continue;
            }
        }
        text.push(c);
        i += 1;
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    nodes
}

/// Writes rich text as XEP-0393 styling (what styling lacks, like underline, stays plain).
pub fn render(text: &RichText) -> String {
    let mut out = String::new();
    for node in &text.0 {
        render_node(node, &mut out);
    }
    out.trim_end_matches('\n').to_owned()
}

fn render_node(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => out.push_str(t),
        Node::Styled(style, children) => {
            let marker = match style {
                Style::Bold => "*",
                Style::Italic => "_",
                Style::Strike => "~",
                Style::Code => "`",
                Style::Underline | Style::Spoiler | Style::Color(_) => "",
            };
            out.push_str(marker);
            children.iter().for_each(|c| render_node(c, out));
            out.push_str(marker);
        }
        Node::Link { url, children } => match mxbridge_core::network::content::link_label(url, children) {
            Some(shown) => out.push_str(&format!("{shown} <{url}>")),
            None => out.push_str(url),
        },
        Node::Mention { display, .. } => out.push_str(display),
        Node::Pre(code) => {
            start_block(out);
            out.push_str("```\n");
            out.push_str(code.trim_end_matches('\n'));
            out.push_str("\n```\n");
        }
        Node::Quote(children) => {
            start_block(out);
            let inner = render(&RichText(children.clone()));
            for line in inner.lines() {
                out.push_str("> ");
                out.push_str(line);
                out.push('\n');
            }
        }
        Node::Break => out.push('\n'),
    }
}

/// Blocks start on a line of their own.
fn start_block(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styled(style: Style, text: &str) -> Node {
        Node::Styled(style, vec![Node::Text(text.into())])
    }

    #[test]
    fn test_spans_follow_the_xep_rules() {
        assert_eq!(parse("a *bold* move").0, vec![Node::Text("a ".into()), styled(Style::Bold, "bold"), Node::Text(" move".into())]);
        assert_eq!(parse("_it_ ~gone~ `x*y*`").0[0], styled(Style::Italic, "it"));
        assert_eq!(parse("`x*y*`").0, vec![styled(Style::Code, "x*y*")], "code holds no styling");
        assert_eq!(parse("*_both_*").0, vec![Node::Styled(Style::Bold, vec![styled(Style::Italic, "both")])]);
        // Not styling: snake_case, a lone star, spaces inside the directives, empty spans.
        for plain in ["snake_case_name", "2 * 3 * 4", "* not *", "**", "a*b*c"] {
            assert!(!parse(plain).is_formatted(), "{plain}");
            assert_eq!(parse(plain).to_plain(), plain);
        }
    }

    #[test]
    fn test_blocks_quotes_and_lines() {
        let rich = parse("look:\n```\nlet *x* = 1;\n```\n> quoted *bold*\n>plain\nafter");
        assert_eq!(rich.0[0], Node::Text("look:".into()));
        assert!(rich.0.contains(&Node::Pre("let *x* = 1;".into())), "{rich:?}");
        assert!(rich.0.iter().any(|n| matches!(n, Node::Quote(q) if q.contains(&styled(Style::Bold, "bold")))), "{rich:?}");
        assert_eq!(rich.0.last(), Some(&Node::Text("after".into())));
        assert_eq!(parse("one\ntwo").0, vec![Node::Text("one".into()), Node::Break, Node::Text("two".into())]);
    }

    #[test]
    fn test_rendering_round_trips() {
        for text in ["a *bold* _it_ ~s~ `c`", "look:\n```\ncode\n```\nafter", "> quoted\nafter", "one\ntwo"] {
            assert_eq!(render(&parse(text)), text);
        }
        let link = RichText(vec![Node::Link { url: "https://x.test".into(), children: vec![Node::Text("site".into())] }]);
        assert_eq!(render(&link), "site <https://x.test>");
        let emote = Content::emote("waves");
        assert_eq!(outgoing(&emote), "/me waves");
    }

    #[test]
    fn test_incoming_prefers_xhtml_im_and_reads_actions() {
        let html: Element = "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>a <strong>b</strong> &amp; <em>c</em></body></html>".parse().unwrap();
        let content = incoming("a b & c", &[html]);
        assert_eq!(mxbridge_core::format::html::render(&content.body), "a <strong>b</strong> &amp; <em>c</em>");
        let action = incoming("/me waves *hard*", &[]);
        assert_eq!(action.kind, MessageKind::Emote);
        assert_eq!(action.body.to_plain(), "waves hard");
        assert_eq!(incoming("plain", &[]), Content::text("plain"));
    }
}
