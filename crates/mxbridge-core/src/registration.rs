//! The appservice registration file, generated from the config.
//!
//! `generate-registration` fills in missing tokens in the config file (keeping its
//! comments: only the `generate` values are replaced) and writes the registration the
//! homeserver admin adds to `app_service_config_files`.

use std::path::Path;

use rand::Rng;
use serde::Serialize;

use crate::config::{Config, ConfigError, is_token_placeholder};

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
    #[error("config key `appservice.{0}` is missing (fix: add `{0}: generate` under `appservice:`)")]
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
        let aliases = config
            .alias_template
            .iter()
            .map(|t| Namespace { exclusive: true, regex: t.namespace_regex_with_literals('#', domain, literal_alias_starts) })
            .collect();
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

/// Replaces `as_token: generate` / `hs_token: generate` in the config text with fresh
/// random tokens. Returns the new text and whether anything changed.
pub fn fill_in_tokens(config_text: &str) -> Result<(String, bool), RegistrationError> {
    let mut changed = false;
    let mut seen = [false, false];
    let mut out = String::with_capacity(config_text.len() + 128);
    for line in config_text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let mut replaced = false;
        for (i, key) in ["as_token", "hs_token"].into_iter().enumerate() {
            let Some(rest) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else { continue };
            seen[i] = true;
            let value = rest.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']);
            if is_token_placeholder(value) {
                out.push_str(&format!("{indent}{key}: \"{}\"\n", random_token()));
                changed = true;
                replaced = true;
            }
        }
        if !replaced {
            out.push_str(line);
        }
    }
    if !seen[0] {
        return Err(RegistrationError::MissingToken("as_token"));
    }
    if !seen[1] {
        return Err(RegistrationError::MissingToken("hs_token"));
    }
    Ok((out, changed))
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
    fn test_missing_token_key_is_named() {
        let err = fill_in_tokens("appservice:\n  as_token: generate\n").unwrap_err();
        assert!(err.to_string().contains("appservice.hs_token"));
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
