//! The appservice registration file, generated from the config.
//!
//! `generate-registration` fills in missing tokens in the config file (keeping its
//! comments: only the `generate` values are replaced) and writes the registration the
//! homeserver admin adds to `app_service_config_files`.

use std::path::Path;

use rand::Rng;
use serde::Serialize;

use crate::config::{Config, ConfigError, MappedRoom, is_token_placeholder};

/// Writing the registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The config is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be read or written.
    #[error("cannot write {path}: {source} (check the folder exists and is writable)")]
    Io {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The network section could not be read to learn its alias forms.
    #[error("{0}")]
    Network(String),
    /// The config has no line to put a generated token on.
    #[error(
        "config key `appservice.{0}` is missing and there is no block-style `appservice:` section to add it to (fix: add `{0}: generate` to the `appservice` section)"
    )]
    MissingToken(&'static str),
}

/// The registration as the homeserver reads it.
#[derive(Debug, Serialize)]
pub struct Registration {
    /// Unique id.
    pub id: String,
    /// Where the homeserver reaches the bridge.
    pub url: String,
    /// Token of the bridge.
    pub as_token: String,
    /// Token of the homeserver.
    pub hs_token: String,
    /// The bot's localpart.
    pub sender_localpart: String,
    /// Claimed IDs.
    pub namespaces: Namespaces,
    /// Ghosts are not rate limited.
    pub rate_limited: bool,
    /// Typing notifications and receipts.
    pub receive_ephemeral: bool,
    /// The unstable name of `receive_ephemeral`, for older homeservers.
    #[serde(rename = "de.sorunome.msc2409.push_ephemeral")]
    pub push_ephemeral_unstable: bool,
    /// Third-party protocols served.
    pub protocols: Vec<String>,
}

/// `namespaces:`
#[derive(Debug, Serialize)]
pub struct Namespaces {
    /// User IDs.
    pub users: Vec<Namespace>,
    /// Room aliases.
    pub aliases: Vec<Namespace>,
    /// Room IDs (none).
    pub rooms: Vec<Namespace>,
}

/// One namespace.
#[derive(Debug, Serialize)]
pub struct Namespace {
    /// Exclusive claim.
    pub exclusive: bool,
    /// Anchored regex.
    pub regex: String,
}

impl Registration {
    /// The registration for a validated config and a network's protocol id.
    /// `literal_alias_starts` is the network's [`crate::network::Network::literal_alias_starts`]:
    /// the alias namespace then claims those literal aliases too.
    pub fn from_config(config: &Config, protocol: &str, literal_alias_starts: &[String]) -> Self {
        let domain = config.domain.as_str();
        let bot = config.bot_user_id.localpart();
        let mut users = vec![Namespace { exclusive: true, regex: format!("^@{}:{}$", regex::escape(bot), regex::escape(domain)) }];
        users.push(Namespace { exclusive: true, regex: config.username_template.namespace_regex('@', domain) });
        let mut aliases: Vec<Namespace> = config
            .alias_template
            .iter()
            .map(|t| Namespace { exclusive: true, regex: t.namespace_regex_with_literals('#', domain, literal_alias_starts) })
            .collect();
        // Homeservers let an appservice create only aliases it claims: the rooms it makes for
        // `bridge.mappings` get theirs through these claims, which leave them to anyone else too.
        aliases.extend(mapped_aliases(config).map(|alias| Namespace { exclusive: false, regex: format!("^{}$", regex::escape(alias)) }));
        Self {
            id: config.registration_id.clone(),
            url: config.appservice_url.clone(),
            as_token: config.as_token.expose().clone(),
            hs_token: config.hs_token.expose().clone(),
            sender_localpart: bot.to_owned(),
            namespaces: Namespaces { users, aliases, rooms: Vec::new() },
            rate_limited: false,
            receive_ephemeral: config.ephemeral_events,
            push_ephemeral_unstable: config.ephemeral_events,
            protocols: vec![protocol.to_owned()],
        }
    }

    /// As YAML.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("a registration always serializes")
    }
}

/// The aliases of `bridge.mappings` on the bridge's own server, which the bridge creates
/// when no room has them.
fn mapped_aliases(config: &Config) -> impl Iterator<Item = &str> {
    config.mappings.iter().filter_map(|m| match &m.room {
        MappedRoom::Alias(alias) if alias.server_name() == config.domain => Some(alias.as_str()),
        _ => None,
    })
}

/// The two token keys of the `appservice` section.
const TOKEN_KEYS: [&str; 2] = ["as_token", "hs_token"];

/// Replaces `as_token: generate` / `hs_token: generate` in the config text with fresh
/// random tokens, in block (`as_token: generate`) and flow style
/// (`appservice: {…, as_token: generate}`), and adds a token that is left out under the
/// `appservice:` line. Returns the new text and whether anything changed.
pub fn fill_in_tokens(config_text: &str) -> Result<(String, bool), RegistrationError> {
    let mut changed = false;
    let mut seen = [false, false];
    let mut out = String::with_capacity(config_text.len() + 160);
    for line in config_text.split_inclusive('\n') {
        let (code, comment) = split_comment(line);
        let mut code = code.to_owned();
        for (i, key) in TOKEN_KEYS.into_iter().enumerate() {
            let Some((value_start, value_end)) = find_value(&code, key) else { continue };
            seen[i] = true;
            let value = code[value_start..value_end].trim().trim_matches(['"', '\'']);
            if is_token_placeholder(value) {
                code.replace_range(value_start..value_end, &format!(" \"{}\"", random_token()));
                changed = true;
            }
        }
        out.push_str(&code);
        out.push_str(comment);
    }
    for (i, key) in TOKEN_KEYS.into_iter().enumerate() {
        if !seen[i] {
            out = add_under_appservice(&out, key).ok_or(RegistrationError::MissingToken(key))?;
            changed = true;
        }
    }
    Ok((out, changed))
}

/// A line split before its comment (a `#` at the start or after a space, outside quotes).
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return line.split_at(i),
            _ => {}
        }
        prev = c;
    }
    match line.strip_suffix('\n') {
        Some(code) => (code, "\n"),
        None => (line, ""),
    }
}

/// Where the value of `key:` lies in a line's code: after the colon, up to the next `,` or
/// `}` (flow style) or the end. `None` when the line has no such key.
fn find_value(code: &str, key: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(found) = code[from..].find(key) {
        let at = from + found;
        from = at + key.len();
        let before = code[..at].chars().next_back();
        if !before.is_none_or(|c| c.is_whitespace() || c == '{' || c == ',') {
            continue;
        }
        let Some(after) = code[from..].strip_prefix(':') else { continue };
        let start = code.len() - after.len();
        let len = after.find([',', '}']).unwrap_or(after.len());
        return Some((start, start + len));
    }
    None
}

/// The text with `key: "<new token>"` added as the first entry of a block-style
/// `appservice:` section, indented like the section's next entry.
fn add_under_appservice(text: &str, key: &str) -> Option<String> {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = lines.iter().position(|l| split_comment(l).0.trim_end() == "appservice:")?;
    let indent: String = lines[at + 1..]
        .iter()
        .find(|l| !split_comment(l).0.trim().is_empty())
        .map(|l| l.chars().take_while(|c| *c == ' ').collect())
        .filter(|i: &String| !i.is_empty())
        .unwrap_or_else(|| "    ".to_owned());
    let added = format!("{indent}{key}: \"{}\"\n", random_token());
    lines.insert(at + 1, &added);
    Some(lines.concat())
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..64).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The whole `generate-registration` command: fills in tokens in the config file, validates
/// it, and writes the registration to `out`. `literal_alias_starts` asks the network built
/// from the validated config for its literal alias forms (an error says what to fix).
pub fn generate(
    config_path: &Path,
    out: &Path,
    protocol: &str,
    literal_alias_starts: impl FnOnce(&Config) -> Result<Vec<String>, String>,
) -> Result<Registration, RegistrationError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| RegistrationError::Io { path, source }
    };
    let text = std::fs::read_to_string(config_path).map_err(io(config_path))?;
    let (text, changed) = fill_in_tokens(&text)?;
    if changed {
        std::fs::write(config_path, &text).map_err(io(config_path))?;
    }
    let config = Config::load(config_path)?;
    let starts = literal_alias_starts(&config).map_err(RegistrationError::Network)?;
    let registration = Registration::from_config(&config, protocol, &starts);
    std::fs::write(out, registration.to_yaml()).map_err(io(out))?;
    Ok(registration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn test_fill_in_tokens_keeps_comments() {
        let text = "appservice:\n  # the bridge's token\n  as_token: generate  # keep secret\n  hs_token: \"generate\"\n  id: x\n";
        let (out, changed) = fill_in_tokens(text).unwrap();
        assert!(changed);
        assert!(out.contains("# the bridge's token"));
        assert!(!out.contains("generate"));
        let (again, changed_again) = fill_in_tokens(&out).unwrap();
        assert!(!changed_again);
        assert_eq!(again, out);
    }

    #[test]
    fn test_mapped_aliases_on_our_server_are_claimed_but_not_exclusively() {
        let text = "homeserver: {address: 'http://hs:8008', domain: example.org}\nappservice: {address: 'http://br:1', hostname: 0.0.0.0, port: 1, id: net, bot: {username: netbot}, as_token: aaaaaaaaaaaaaaaaaaaa, hs_token: bbbbbbbbbbbbbbbbbbbb, username_template: '_net_{{.}}'}\ndatabase: {type: sqlite3, uri: x.db}\nbridge: {mappings: [{chat: '#a', room: '#welcome:example.org'}, {chat: '#b', room: '#far:other.org'}, {chat: '#c', room: '!r:example.org'}]}\n";
        let config = Config::from_raw(RawConfig::parse(text, Path::new("x")).unwrap(), Path::new(".")).unwrap();
        let aliases = Registration::from_config(&config, "net", &[]).namespaces.aliases;
        assert_eq!(aliases.len(), 1, "only an alias the bridge may have to create on its own server");
        assert_eq!((aliases[0].exclusive, aliases[0].regex.as_str()), (false, "^\\#welcome:example\\.org$"));
    }

    #[test]
    fn test_missing_token_key_is_added_under_appservice() {
        let (out, changed) = fill_in_tokens("homeserver: {}\nappservice:  # the section\n  id: x\n  as_token: generate\n").unwrap();
        assert!(changed);
        let raw: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        for key in TOKEN_KEYS {
            let token = raw["appservice"][key].as_str().unwrap_or_else(|| panic!("{key} in {out}"));
            assert_eq!(token.len(), 64, "{out}");
        }
        assert_eq!(raw["appservice"]["id"], "x", "{out}");
        let err = fill_in_tokens("appservice: {id: x, as_token: generate}\n").unwrap_err();
        assert!(err.to_string().contains("appservice.hs_token"), "{err}");
        assert!(fill_in_tokens("id: x\n").unwrap_err().to_string().contains("appservice.as_token"));
    }

    #[test]
    fn test_flow_style_tokens_are_filled_in() {
        let text = "appservice: {id: x, as_token: generate, hs_token: 'generate'}  # as_token: generate\n";
        let (out, changed) = fill_in_tokens(text).unwrap();
        assert!(changed);
        let (code, comment) = out.split_once("  #").unwrap();
        assert!(!code.contains("generate"), "{out}");
        assert_eq!(comment, " as_token: generate\n", "comments are kept as written");
        let raw: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(raw["appservice"]["hs_token"].as_str().map(str::len), Some(64), "{out}");
        let quoted = "appservice:\n  as_token: \"a#b-not-a-comment-token\"\n  hs_token: generate\n";
        let (out, _) = fill_in_tokens(quoted).unwrap();
        assert!(out.contains("\"a#b-not-a-comment-token\""), "{out}");
    }

    #[test]
    fn test_registration_namespaces_are_exclusive_and_anchored() {
        let text = "homeserver: {address: 'http://hs:8008', domain: example.org}\nappservice: {address: 'http://br:1', hostname: 0.0.0.0, port: 1, id: net, bot: {username: netbot}, as_token: aaaaaaaaaaaaaaaaaaaa, hs_token: bbbbbbbbbbbbbbbbbbbb, username_template: '_net_{{.}}', alias_template: '_net_{{.}}'}\ndatabase: {type: sqlite3, uri: x.db}\n";
        let config = Config::from_raw(RawConfig::parse(text, Path::new("x")).unwrap(), Path::new(".")).unwrap();
        let reg = Registration::from_config(&config, "net", &["#".to_owned()]);
        assert!(!reg.rate_limited);
        assert!(reg.receive_ephemeral);
        assert_eq!(reg.sender_localpart, "netbot");
        for ns in reg.namespaces.users.iter().chain(&reg.namespaces.aliases) {
            assert!(ns.exclusive);
            assert!(ns.regex.starts_with('^') && ns.regex.ends_with('$'), "{}", ns.regex);
        }
        let aliases = regex::Regex::new(&reg.namespaces.aliases[0].regex).unwrap();
        assert!(aliases.is_match("#_net_=23x:example.org") && aliases.is_match("#_net_#x:example.org"), "both alias forms are claimed");
        let yaml = reg.to_yaml();
        assert!(yaml.contains("sender_localpart: netbot"), "{yaml}");
        assert!(yaml.contains("rate_limited: false"), "{yaml}");
    }
}
