//! Making text safe for IRC lines.
//!
//! IRC is line-based: a CR or LF inside a parameter ends the command and starts a new one
//! that the sender chose, which is how the CR/LF injection advisories against IRC bridges
//! worked. Everything that reaches a line from Matrix goes through here: message text,
//! nicks, topics, reasons, user names and passwords.

/// Longest IRC line, in bytes, including the trailing CR LF.
pub const MAX_LINE_BYTES: usize = 512;

/// Bytes the server adds when relaying our line: `:nick!user@host ` plus CR LF. The
/// hostmask of a puppet is not known in advance, so budget for a long one.
pub const RELAY_PREFIX_BUDGET: usize = 1 + 30 + 1 + 10 + 1 + 63 + 1 + 2;

/// Removes characters that must never reach an IRC line: CR, LF and NUL.
pub fn strip_line_breaks(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')).collect()
}

/// A single-word parameter (nick, user name, channel key): also no spaces, no leading `:`,
/// no other control characters.
pub fn word(text: &str) -> String {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect();
    cleaned.trim_start_matches(':').to_owned()
}

/// A trailing parameter on one line (topic, reason): line breaks become spaces, other
/// control characters except IRC formatting codes are dropped.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' | '\n' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if is_format_code(c) => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// mIRC formatting codes are control characters that IRC clients expect.
fn is_format_code(c: char) -> bool {
    matches!(c, '\x02' | '\x03' | '\x04' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f')
}

/// Splits a message into lines whose text fits `max_bytes` each: at line breaks first, then
/// at the last space that fits, and only mid-word when a word is longer than a line. Never
/// cuts inside a UTF-8 sequence. Empty lines are dropped (IRC cannot send them).
pub fn split_lines(text: &str, max_bytes: usize) -> Vec<String> {
    let max = max_bytes.max(4);
    let mut lines = Vec::new();
    for raw in text.split(['\n', '\r']) {
        let line = one_line(raw);
        let mut rest = line.as_str();
        while rest.len() > max {
            let cut = floor_char_boundary(rest, max);
            let at = match rest[..cut].rfind(' ') {
                Some(space) if space > 0 => space,
                _ => cut,
            };
            lines.push(rest[..at].trim_end().to_owned());
            rest = rest[at..].trim_start();
        }
        if !rest.is_empty() {
            lines.push(rest.to_owned());
        }
    }
    lines.retain(|l| !l.is_empty());
    lines
}

/// The largest index `<= max` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// How many bytes of text fit in `PRIVMSG <target> :<text>` once the server adds its prefix.
pub fn text_budget(command: &str, target: &str) -> usize {
    MAX_LINE_BYTES.saturating_sub(RELAY_PREFIX_BUDGET + command.len() + 1 + target.len() + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_line_breaks_never_survive() {
        let attacks = ["hi\r\nQUIT :pwned", "a\nPRIVMSG #x :b", "a\rb", "nul\0byte", "\u{2028}ok"];
        for a in attacks {
            for out in [strip_line_breaks(a), word(a), one_line(a)] {
                assert!(!out.contains(['\r', '\n', '\0']), "{a:?} -> {out:?}");
            }
            for line in split_lines(a, 100) {
                assert!(!line.contains(['\r', '\n', '\0']), "{a:?} -> {line:?}");
            }
        }
    }

    #[test]
    fn test_word_parameters() {
        assert_eq!(word("my nick"), "mynick");
        assert_eq!(word(":evil"), "evil");
        assert_eq!(word("pass\r\nword"), "password");
    }

    #[test]
    fn test_one_line_keeps_formatting_and_joins_lines() {
        assert_eq!(one_line("topic\nsecond line"), "topic second line");
        assert_eq!(one_line("\x02bold\x02 \x07bell"), "\x02bold\x02 bell");
    }

    #[test]
    fn test_split_prefers_spaces_and_keeps_utf8_whole() {
        assert_eq!(split_lines("one two three", 8), vec!["one two", "three"]);
        assert_eq!(split_lines("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        let text = "é".repeat(10); // 20 bytes, 2 per char
        let lines = split_lines(&text, 5);
        assert!(lines.iter().all(|l| l.len() <= 5 && l.chars().all(|c| c == 'é')));
        assert_eq!(lines.concat(), text);
        assert_eq!(split_lines("a\n\nb\r\n", 10), vec!["a", "b"]);
    }

    #[test]
    fn test_split_lines_fit_the_limit_for_any_input() {
        let inputs = ["x".repeat(2000), "word ".repeat(300), "😀".repeat(300), format!("{}\n{}", "a ".repeat(400), "b".repeat(900))];
        for input in inputs {
            let budget = text_budget("PRIVMSG", "#channel");
            for line in split_lines(&input, budget) {
                assert!(line.len() <= budget, "{} > {budget}", line.len());
                assert!(RELAY_PREFIX_BUDGET + "PRIVMSG #channel :".len() + line.len() <= MAX_LINE_BYTES);
            }
        }
    }
}
