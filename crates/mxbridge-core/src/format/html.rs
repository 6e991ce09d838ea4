//! Matrix HTML ⇄ rich text.
//!
//! The parser is small and tolerant: it knows the tags Matrix clients send, keeps the text
//! of unknown tags, drops `<mx-reply>` fallbacks (replies are bridged as relations) and what is not text
//! (`<script>`, `<style>`), and
//! turns `https://matrix.to/#/@user:server` links into mentions. Output HTML escapes every
//! text node, so remote text can never inject markup.

use crate::network::content::{Node, Rgb, RichText, Style};

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug)]
enum Token {
    Text(String),
    Open { name: String, attrs: Vec<(String, String)>, self_closing: bool },
    Close(String),
}

fn tokenize(html: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let Some(end) = after.find('>') else {
                tokens.push(Token::Text(decode_entities(rest)));
                break;
            };
            let inner = &after[..end];
            rest = &after[end + 1..];
            if inner.starts_with('!') {
                continue;
            }
            if let Some(name) = inner.strip_prefix('/') {
                tokens.push(Token::Close(name.trim().to_ascii_lowercase()));
                continue;
            }
            let self_closing = inner.ends_with('/');
            let inner = inner.trim_end_matches('/');
            let (name, attr_text) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
            tokens.push(Token::Open { name: name.to_ascii_lowercase(), attrs: parse_attrs(attr_text), self_closing });
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            tokens.push(Token::Text(decode_entities(&rest[..end])));
            rest = &rest[end..];
        }
    }
    tokens
}

fn parse_attrs(text: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (v, remaining) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = after[1..].find(q).map(|i| i + 1).unwrap_or(after.len());
                    (&after[1..close], after.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let e = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..e], &after[e..])
                }
            };
            rest = remaining.trim_start();
            decode_entities(v)
        } else {
            String::new()
        };
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
    attrs
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A user ID from a matrix.to link, if it is one.
fn mention_target(href: &str) -> Option<String> {
    let rest = href.strip_prefix("https://matrix.to/#/")?;
    let id = percent_encoding::percent_decode_str(rest.split('?').next()?).decode_utf8().ok()?;
    id.starts_with('@').then(|| id.into_owned())
}

struct Parser {
    tokens: std::vec::IntoIter<Token>,
}

impl Parser {
    /// Parses nodes until `until` closes (or the end).
    fn nodes(&mut self, until: Option<&str>) -> Vec<Node> {
        let mut out = Vec::new();
        while let Some(token) = self.tokens.next() {
            match token {
                Token::Text(t) => {
                    if !t.is_empty() {
                        out.push(Node::Text(t));
                    }
                }
                Token::Close(name) => {
                    if Some(name.as_str()) == until {
                        break;
                    }
                }
                Token::Open { name, attrs, self_closing } => {
                    if name == "br" {
                        out.push(Node::Break);
                        continue;
                    }
                    if self_closing || matches!(name.as_str(), "img" | "hr") {
                        if name == "img"
                            && let Some(alt) = attr(&attrs, "alt")
                        {
                            out.push(Node::Text(alt.to_owned()));
                        }
                        continue;
                    }
                    let children = self.nodes(Some(&name));
                    let style = |s| Node::Styled(s, children.clone());
                    match name.as_str() {
                        // Not text: a reply fallback, and what browsers run or hide.
                        "mx-reply" | "script" | "style" | "head" | "title" | "template" => {}
                        "b" | "strong" => out.push(style(Style::Bold)),
                        "i" | "em" => out.push(style(Style::Italic)),
                        "u" => out.push(style(Style::Underline)),
                        "del" | "s" | "strike" => out.push(style(Style::Strike)),
                        "code" => out.push(Node::Styled(Style::Code, children)),
                        "pre" => out.push(Node::Pre(RichText(children).to_plain())),
                        "blockquote" => out.push(Node::Quote(children)),
                        "span" if attrs.iter().any(|(k, _)| k == "data-mx-spoiler") => out.push(style(Style::Spoiler)),
                        "font" | "span" if let Some(rgb) = text_color(&attrs) => out.push(style(Style::Color(rgb))),
                        "a" => {
                            let href = attr(&attrs, "href").unwrap_or("").to_owned();
                            if let Some(user) = mention_target(&href) {
                                out.push(Node::Mention { user, display: RichText(children).to_plain() });
                            } else if href.starts_with("http://") || href.starts_with("https://") || href.starts_with("mailto:") {
                                out.push(Node::Link { url: href, children });
                            } else {
                                out.extend(children);
                            }
                        }
                        "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "li" => {
                            if !out.is_empty() && !matches!(out.last(), Some(Node::Break)) {
                                out.push(Node::Break);
                            }
                            if name == "li" {
                                out.push(Node::Text("• ".into()));
                            }
                            if name.starts_with('h') {
                                out.push(Node::Styled(Style::Bold, children));
                            } else {
                                out.extend(children);
                            }
                            out.push(Node::Break);
                        }
                        _ => out.extend(children),
                    }
                }
            }
        }
        out
    }
}

/// The text colour of a `<font>` or `<span>`: `data-mx-color`, else `color`.
fn text_color(attrs: &[(String, String)]) -> Option<Rgb> {
    attr(attrs, "data-mx-color").or_else(|| attr(attrs, "color")).and_then(Rgb::parse_hex)
}

/// Parses Matrix HTML into rich text.
pub fn parse(html: &str) -> RichText {
    let mut parser = Parser { tokens: tokenize(html).into_iter() };
    let mut nodes = parser.nodes(None);
    while matches!(nodes.last(), Some(Node::Break)) {
        nodes.pop();
    }
    RichText(nodes)
}

/// Renders rich text as Matrix HTML.
pub fn render(text: &RichText) -> String {
    let mut out = String::new();
    for node in &text.0 {
        render_node(node, &mut out);
    }
    out
}

fn render_node(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => out.push_str(&escape(t).replace('\n', "<br>")),
        Node::Styled(style, children) => {
            let (open, close) = match style {
                Style::Bold => ("<strong>".into(), "</strong>"),
                Style::Italic => ("<em>".into(), "</em>"),
                Style::Underline => ("<u>".into(), "</u>"),
                Style::Strike => ("<del>".into(), "</del>"),
                Style::Code => ("<code>".into(), "</code>"),
                Style::Spoiler => ("<span data-mx-spoiler>".into(), "</span>"),
                // Both attributes: the spec's `data-mx-color`, and `color` for older clients.
                Style::Color(rgb) => (format!("<font data-mx-color=\"{0}\" color=\"{0}\">", rgb.hex()), "</font>"),
            };
            out.push_str(&open);
            for c in children {
                render_node(c, out);
            }
            out.push_str(close);
        }
        Node::Link { url, children } => {
            out.push_str(&format!("<a href=\"{}\">", escape(url)));
            for c in children {
                render_node(c, out);
            }
            out.push_str("</a>");
        }
        Node::Mention { user, display } => {
            out.push_str(&format!("<a href=\"https://matrix.to/#/{}\">{}</a>", escape(user), escape(display)));
        }
        Node::Pre(t) => out.push_str(&format!("<pre><code>{}</code></pre>", escape(t))),
        Node::Quote(children) => {
            out.push_str("<blockquote>");
            for c in children {
                render_node(c, out);
            }
            out.push_str("</blockquote>");
        }
        Node::Break => out.push_str("<br>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_styles_links_mentions() {
        let rt = parse(
            r#"<b>bold</b> <em>it</em> <a href="https://example.org/?a=1&amp;b=2">link</a> <a href="https://matrix.to/#/%40bob%3Ahs">Bob</a><br>x &lt;y&gt;"#,
        );
        assert_eq!(
            rt.0,
            vec![
                Node::Styled(Style::Bold, vec![Node::Text("bold".into())]),
                Node::Text(" ".into()),
                Node::Styled(Style::Italic, vec![Node::Text("it".into())]),
                Node::Text(" ".into()),
                Node::Link { url: "https://example.org/?a=1&b=2".into(), children: vec![Node::Text("link".into())] },
                Node::Text(" ".into()),
                Node::Mention { user: "@bob:hs".into(), display: "Bob".into() },
                Node::Break,
                Node::Text("x <y>".into()),
            ]
        );
        assert_eq!(rt.to_plain(), "bold it link Bob\nx <y>");
    }

    #[test]
    fn test_text_colours_both_ways() {
        let red = Style::Color(Rgb(0xff, 0, 0));
        let parsed = parse(r##"<font color="#FF0000">a</font> <span data-mx-color="#ff0000">b</span> <font color="red">c</font>"##);
        assert_eq!(
            parsed.0,
            vec![
                Node::Styled(red, vec![Node::Text("a".into())]),
                Node::Text(" ".into()),
                Node::Styled(red, vec![Node::Text("b".into())]),
                Node::Text(" ".into()),
                Node::Text("c".into()),
            ],
            "hex colours only; a colour name keeps its text"
        );
        let rendered = render(&RichText(vec![Node::Styled(red, vec![Node::Text("a".into())])]));
        assert_eq!(rendered, r##"<font data-mx-color="#ff0000" color="#ff0000">a</font>"##);
        assert_eq!(parse(&rendered), RichText(vec![Node::Styled(red, vec![Node::Text("a".into())])]));
        assert_eq!(Rgb::parse_hex("#12345"), None);
        assert_eq!(Rgb::parse_hex("12345g"), None);
    }

    #[test]
    fn test_reply_fallback_is_dropped() {
        let rt = parse("<mx-reply><blockquote>In reply to <b>x</b></blockquote></mx-reply>the answer");
        assert_eq!(rt.to_plain(), "the answer");
    }

    #[test]
    fn test_unsafe_links_and_unknown_tags_keep_text_only() {
        let rt = parse(r#"<a href="javascript:alert(1)">click</a> <marquee>hi</marquee><script>x</script><style>p{}</style>"#);
        assert_eq!(rt.0.iter().filter(|n| matches!(n, Node::Link { .. })).count(), 0);
        assert_eq!(rt.to_plain(), "click hi", "the text of unknown tags stays, scripts and styles go");
    }

    #[test]
    fn test_render_escapes_remote_text() {
        let rt = RichText(vec![
            Node::Text("<script>alert(1)</script> & \"q\"".into()),
            Node::Styled(Style::Bold, vec![Node::Text("b".into())]),
            Node::Link { url: "https://x.org/\"onmouseover=\"".into(), children: vec![Node::Text("l".into())] },
        ]);
        let html = render(&rt);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<strong>b</strong>"));
        assert!(html.contains("href=\"https://x.org/&quot;onmouseover=&quot;\""));
    }

    #[test]
    fn test_round_trip_of_rendered_html() {
        let rt = RichText(vec![
            Node::Styled(Style::Bold, vec![Node::Text("a & b".into())]),
            Node::Styled(Style::Code, vec![Node::Text("x<y".into())]),
            Node::Styled(Style::Strike, vec![Node::Text("gone".into())]),
            Node::Pre("fn main() {}\n".into()),
            Node::Mention { user: "@a:hs".into(), display: "A".into() },
        ]);
        assert_eq!(parse(&render(&rt)), rt);
    }

    #[test]
    fn test_paragraphs_and_lists_become_lines() {
        let rt = parse("<p>one</p><p>two</p><ul><li>a</li><li>b</li></ul>");
        assert_eq!(rt.to_plain(), "one\ntwo\n• a\n• b");
    }
}
