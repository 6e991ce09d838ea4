//! vCards (RFC 6350, and the 2.1/3.0 cards phones export): Matrix has no contact message,
//! so a contact shared from Matrix is a `.vcf` file, which WhatsApp shows as a contact card
//! when it is sent as one. Only what a card needs on WhatsApp is read: the name it shows and
//! the number it calls.

/// What a contact card shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VCard {
    /// The formatted name (`FN`), else the structured name (`N`), else the number.
    pub(crate) display_name: String,
    /// The first phone number, digits only; the one marked as a WhatsApp ID (`waid=`) wins.
    pub(crate) number: Option<String>,
    /// The card's text, as WhatsApp sends it on.
    pub(crate) text: String,
}

/// Whether a Matrix file is a vCard, by its MIME type or else its name.
pub(crate) fn is_vcard_file(mime: Option<&str>, name: &str) -> bool {
    let essence = mime.and_then(|m| m.split(';').next()).map(|m| m.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/vcard" | "text/x-vcard" | "text/directory") => true,
        // Clients that do not know the type send a generic one; the name decides then.
        None | Some("application/octet-stream" | "text/plain") => name.to_ascii_lowercase().ends_with(".vcf"),
        Some(_) => false,
    }
}

/// Reads one card. `None` when the bytes are not a single vCard (not text, no
/// `BEGIN:VCARD`, several cards, or nothing to name it by).
pub(crate) fn parse(data: &[u8]) -> Option<VCard> {
    let text = std::str::from_utf8(data).ok()?.trim_start_matches('\u{feff}');
    let lines = unfold(text);
    let begins = lines.iter().filter(|l| l.eq_ignore_ascii_case("BEGIN:VCARD")).count();
    if begins != 1 {
        return None;
    }
    let mut formatted = None;
    let mut structured = None;
    let mut numbers = Vec::new();
    for line in &lines {
        let Some((head, value)) = line.split_once(':') else { continue };
        let mut parts = head.split(';');
        let name = parts.next().unwrap_or_default();
        // A property may carry a group prefix (`item1.TEL`).
        let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
        let params: Vec<&str> = parts.collect();
        match name.as_str() {
            "FN" if formatted.is_none() => formatted = Some(unescape(value)).filter(|n| !n.trim().is_empty()),
            "N" if structured.is_none() => structured = structured_name(value),
            "TEL" => {
                let waid = params.iter().find_map(|p| p.to_ascii_lowercase().strip_prefix("waid=").map(digits));
                let number = waid.or_else(|| Some(digits(value.trim_start_matches("tel:")))).filter(|n| !n.is_empty());
                if let Some(n) = number {
                    let is_waid = params.iter().any(|p| p.to_ascii_lowercase().starts_with("waid="));
                    numbers.push((is_waid, n));
                }
            }
            _ => {}
        }
    }
    let number = numbers.iter().find(|(waid, _)| *waid).or(numbers.first()).map(|(_, n)| n.clone());
    let display_name = formatted.or(structured).or_else(|| number.as_ref().map(|n| format!("+{n}")))?;
    Some(VCard { display_name: display_name.trim().to_owned(), number, text: text.trim().to_owned() })
}

/// A minimal vCard 3.0 for a WhatsApp contact, as WhatsApp's own cards name the number
/// (`waid=`).
pub(crate) fn card_for(name: &str, number: &str) -> String {
    let escaped = name.replace('\\', "\\\\").replace(',', "\\,").replace(';', "\\;");
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{escaped}\r\nTEL;type=CELL;waid={number}:+{number}\r\nEND:VCARD")
}

/// A safe file name for a contact's card: `<name>.vcf`, without dots, path separators or
/// control characters.
pub(crate) fn file_name(display_name: &str) -> String {
    let cleaned: String = display_name.chars().map(|c| if c.is_alphanumeric() || " -_'".contains(c) { c } else { ' ' }).collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{}.vcf", if cleaned.is_empty() { "contact" } else { &cleaned })
}

/// Lines with folding undone: a line starting with a space or tab continues the one before.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ if raw.trim().is_empty() => {}
            _ => lines.push(raw.to_owned()),
        }
    }
    lines
}

/// A text value with vCard escapes undone (`\,` `\;` `\\` `\n`). A name is one line, so
/// an escaped newline becomes a space.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push(' '),
            Some(escaped) => out.push(escaped),
            None => {}
        }
    }
    out
}

/// "Given Family" from `N:Family;Given;Additional;Prefix;Suffix`.
fn structured_name(value: &str) -> Option<String> {
    let mut fields = value.split(';').map(unescape);
    let family = fields.next().unwrap_or_default();
    let given = fields.next().unwrap_or_default();
    let name = [given.trim(), family.trim()].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

fn digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_display_name_comes_from_fn_with_escapes_and_folding() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Smith;Jane;;;\r\nFN;CHARSET=UTF-8:Jane \\, the\r\n  Builder\r\nitem1.TEL;type=CELL;waid=447700900002:+44 7700 900002\r\nEND:VCARD\r\n";
        let v = parse(card.as_bytes()).unwrap();
        assert_eq!(v.display_name, "Jane , the Builder");
        assert_eq!(v.number.as_deref(), Some("447700900002"));
        assert!(v.text.starts_with("BEGIN:VCARD") && v.text.ends_with("END:VCARD"));
    }

    #[test]
    fn test_without_fn_the_structured_name_then_the_number_names_the_card() {
        let n_only = "BEGIN:VCARD\nVERSION:2.1\nN:Doe;John\nTEL;CELL:+1 (555) 010-9999\nEND:VCARD";
        let v = parse(n_only.as_bytes()).unwrap();
        assert_eq!((v.display_name.as_str(), v.number.as_deref()), ("John Doe", Some("15550109999")));
        let number_only = "BEGIN:VCARD\nVERSION:4.0\nFN:\nTEL;VALUE=uri:tel:+44-7700-900003\nEND:VCARD";
        assert_eq!(parse(number_only.as_bytes()).unwrap().display_name, "+447700900003");
        let nameless = "BEGIN:VCARD\nVERSION:4.0\nEND:VCARD";
        assert_eq!(parse(nameless.as_bytes()), None, "nothing to show on the card");
    }

    #[test]
    fn test_the_whatsapp_id_wins_over_the_first_number() {
        let card = "BEGIN:VCARD\nFN:Bob\nTEL;TYPE=HOME:+44 20 7946 0000\nTEL;type=CELL;waid=447700900003:+44 7700 900003\nEND:VCARD";
        assert_eq!(parse(card.as_bytes()).unwrap().number.as_deref(), Some("447700900003"));
    }

    #[test]
    fn test_only_single_vcards_are_cards() {
        assert_eq!(parse(b"just text"), None);
        assert_eq!(parse(&[0xff, 0xfe, 0x00]), None, "not UTF-8");
        let two = "BEGIN:VCARD\nFN:A\nEND:VCARD\nBEGIN:VCARD\nFN:B\nEND:VCARD";
        assert_eq!(parse(two.as_bytes()), None, "several cards stay a file");
        let bom = "\u{feff}begin:vcard\nfn:Lower Case\nend:vcard";
        assert_eq!(parse(bom.as_bytes()).unwrap().display_name, "Lower Case");
    }

    #[test]
    fn test_generated_cards_read_back_and_file_names_are_safe() {
        let card = card_for("Smith, Jane; Dr", "447700900002");
        let v = parse(card.as_bytes()).unwrap();
        assert_eq!((v.display_name.as_str(), v.number.as_deref()), ("Smith, Jane; Dr", Some("447700900002")));
        assert_eq!(file_name("Bob/../Builder"), "Bob Builder.vcf");
        assert_eq!(file_name("Zoë O'Neil"), "Zoë O'Neil.vcf");
        assert_eq!(file_name("../.."), "contact.vcf");
        assert_eq!(file_name(""), "contact.vcf");
    }

    #[test]
    fn test_vcard_files_are_known_by_type_or_name() {
        assert!(is_vcard_file(Some("text/vcard"), "x"));
        assert!(is_vcard_file(Some("text/x-vcard; charset=utf-8"), "x"));
        assert!(is_vcard_file(Some("TEXT/VCARD"), "x"));
        assert!(is_vcard_file(None, "Bob.VCF"));
        assert!(is_vcard_file(Some("application/octet-stream"), "bob.vcf"));
        assert!(!is_vcard_file(Some("application/pdf"), "bob.vcf"), "a declared type wins over the name");
        assert!(!is_vcard_file(None, "notes.txt"));
    }
}
