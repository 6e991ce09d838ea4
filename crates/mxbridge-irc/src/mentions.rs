//! Nicks ⇄ mentions. On IRC a mention is just the nick in the text; on Matrix it is a pill
//! that notifies. A Matrix user's puppet nick in an IRC line becomes a pill of that user
//! (unless they turned the `mentions` feature off), and a pill of a Matrix user in a Matrix
//! message becomes their puppet's nick, which is what IRC clients highlight.

use mxbridge_core::network::content::{Node, RichText};

/// Characters that may end a word without being part of a nick (`alice:` `alice,`).
const TRAILING: &[char] = &[':', ',', '.', '!', '?', ';', ')', '\''];

/// Turns words that are nicks of Matrix users into mentions. `target` maps a nick to the
/// Matrix user ID to mention.
pub fn pills(text: RichText, target: &dyn Fn(&str) -> Option<String>) -> RichText {
    RichText(text.0.into_iter().flat_map(|n| pill_node(n, target)).collect())
}

fn pill_node(node: Node, target: &dyn Fn(&str) -> Option<String>) -> Vec<Node> {
    match node {
        Node::Text(text) => pill_text(&text, target),
        Node::Styled(style, children) => vec![Node::Styled(style, children.into_iter().flat_map(|n| pill_node(n, target)).collect())],
        other => vec![other],
    }
}

fn pill_text(text: &str, target: &dyn Fn(&str) -> Option<String>) -> Vec<Node> {
    let mut out = Vec::new();
    let mut plain = String::new();
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let nick = word.trim_end_matches(TRAILING);
        match (!nick.is_empty()).then(|| target(nick)).flatten() {
            Some(user) => {
                if !plain.is_empty() {
                    out.push(Node::Text(std::mem::take(&mut plain)));
                }
                out.push(Node::Mention { user, display: nick.to_owned() });
                plain.push_str(&piece[nick.len()..]);
            }
            None => plain.push_str(piece),
        }
    }
    if !plain.is_empty() {
        out.push(Node::Text(plain));
    }
    out
}

/// Turns mentions of Matrix users who have a puppet into the puppet's nick; other mentions
/// keep their shown text.
pub fn nicks(text: &RichText, nick_of: &dyn Fn(&str) -> Option<String>) -> RichText {
    RichText(text.0.iter().map(|n| nick_node(n, nick_of)).collect())
}

fn nick_node(node: &Node, nick_of: &dyn Fn(&str) -> Option<String>) -> Node {
    match node {
        Node::Mention { user, display } => Node::Text(nick_of(user).unwrap_or_else(|| display.clone())),
        Node::Styled(style, children) => Node::Styled(*style, children.iter().map(|n| nick_node(n, nick_of)).collect()),
        Node::Link { url, children } => Node::Link { url: url.clone(), children: children.iter().map(|n| nick_node(n, nick_of)).collect() },
        Node::Quote(children) => Node::Quote(children.iter().map(|n| nick_node(n, nick_of)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use mxbridge_core::network::content::Style;

    use super::*;

    fn alice(nick: &str) -> Option<String> {
        (nick.eq_ignore_ascii_case("alice[m]")).then(|| "@alice:hs".to_owned())
    }

    #[test]
    fn test_puppet_nicks_become_pills_with_punctuation_kept() {
        let out = pills(RichText::plain("alice[m]: hi, and ALICE[m]! bob"), &alice);
        assert_eq!(
            out.0,
            vec![
                Node::Mention { user: "@alice:hs".into(), display: "alice[m]".into() },
                Node::Text(": hi, and ".into()),
                Node::Mention { user: "@alice:hs".into(), display: "ALICE[m]".into() },
                Node::Text("! bob".into()),
            ]
        );
        assert_eq!(out.to_plain(), "alice[m]: hi, and ALICE[m]! bob", "the text reads the same");
    }

    #[test]
    fn test_pills_inside_styles_and_none_without_a_match() {
        let styled = RichText(vec![Node::Styled(Style::Bold, vec![Node::Text("hey alice[m]".into())])]);
        let out = pills(styled, &alice);
        assert_eq!(
            out.0,
            vec![Node::Styled(
                Style::Bold,
                vec![Node::Text("hey ".into()), Node::Mention { user: "@alice:hs".into(), display: "alice[m]".into() }]
            )]
        );
        assert_eq!(pills(RichText::plain("nobody here"), &alice), RichText::plain("nobody here"));
    }

    #[test]
    fn test_matrix_pills_become_puppet_nicks() {
        let text = RichText(vec![
            Node::Mention { user: "@alice:hs".into(), display: "Alice Liddell".into() },
            Node::Text(": see ".into()),
            Node::Mention { user: "@carol:hs".into(), display: "Carol".into() },
        ]);
        let nick_of = |u: &str| (u == "@alice:hs").then(|| "alice[m]".to_owned());
        assert_eq!(nicks(&text, &nick_of).to_plain(), "alice[m]: see Carol");
    }
}
