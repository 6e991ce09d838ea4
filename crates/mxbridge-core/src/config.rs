//! The bridge configuration: YAML parsed into [`RawConfig`], then validated into [`Config`].
//!
//! The layout follows the mautrix bridges, which homeserver admins already know. Every
//! validation error names the key and says how to fix it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ruma::{OwnedServerName, OwnedUserId, UserId};
use serde::Deserialize;

use crate::matrix::ghost_id::{self, Template};
use crate::secret::Secret;

mod logging;
mod metrics;

pub use logging::{LogFormat, RawLogging};
pub use metrics::RawMetrics;

/// A config problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML did not parse or did not fit the layout.
    #[error("config file {path} is not valid: {message}")]
    Parse {
        /// Which file.
        path: PathBuf,
        /// The parser's message, with the position.
        message: String,
    },
    /// A key has a bad value.
    #[error("config key `{key}`: {problem} (fix: {fix})")]
    Invalid {
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
}

fn invalid(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), problem: problem.into(), fix: fix.into() }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// How to reach the homeserver.
    pub homeserver: RawHomeserver,
    /// The appservice side.
    pub appservice: RawAppservice,
    /// Where state is kept.
    pub database: RawDatabase,
    /// Bridge behaviour.
    #[serde(default)]
    pub bridge: RawBridge,
    /// The network crate's own section, parsed by the network.
    #[serde(default)]
    pub network: serde_json::Value,
    /// Logging.
    #[serde(default)]
    pub logging: RawLogging,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: RawMetrics,
}

/// `homeserver:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHomeserver {
    /// Client-Server API base URL, e.g. `http://127.0.0.1:8008`.
    pub address: String,
    /// The server name in user IDs, e.g. `example.org`.
    pub domain: String,
}

/// `appservice:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAppservice {
    /// URL the homeserver uses to reach the bridge.
    pub address: String,
    /// Address to listen on.
    pub hostname: String,
    /// Port to listen on.
    pub port: u16,
    /// Registration id, unique on the homeserver.
    pub id: String,
    /// The bridge bot.
    pub bot: RawBot,
    /// Token the bridge uses towards the homeserver (`generate` to create one).
    pub as_token: Secret<String>,
    /// Token the homeserver uses towards the bridge (`generate` to create one).
    pub hs_token: Secret<String>,
    /// Localpart template of ghost users; `{{.}}` stands for the escaped remote id.
    pub username_template: String,
    /// Localpart template of portal aliases; `{{.}}` stands for the escaped chat id.
    #[serde(default)]
    pub alias_template: Option<String>,
    /// Whether to ask for typing notifications and receipts.
    #[serde(default = "yes")]
    pub ephemeral_events: bool,
}

fn yes() -> bool {
    true
}

/// `appservice.bot:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBot {
    /// Localpart of the bot.
    pub username: String,
    /// Display name of the bot.
    #[serde(default)]
    pub displayname: Option<String>,
    /// Avatar of the bot (`mxc://`).
    #[serde(default)]
    pub avatar: Option<String>,
}

/// `database:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// `sqlite3` or `postgres`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A file path for sqlite3, a `postgres://` URL for postgres.
    pub uri: String,
    /// Key for secrets at rest (base64, 32 bytes); when absent, `secret_key_file` is used.
    #[serde(default)]
    pub secret_key: Option<Secret<String>>,
    /// Where the generated key is kept; default `mxbridge.key` beside the config.
    #[serde(default)]
    pub secret_key_file: Option<String>,
}

/// `bridge:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBridge {
    /// Prefix of commands in portal rooms (management rooms need none).
    #[serde(default = "default_prefix")]
    pub command_prefix: String,
    /// Who may do what: keys are `*`, a server name or a user ID; values `relay`, `user`, `admin`.
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    /// Base URL where people on the remote network reach the bridge's HTTP listener, for
    /// signed links to Matrix media; unset means no links.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Seconds a login's connection must stay lost before its user is told (default 60):
    /// short drops that heal by themselves are not worth a message.
    #[serde(default = "default_disconnect_notice")]
    pub disconnect_notice_seconds: u64,
}

fn default_disconnect_notice() -> u64 {
    60
}

fn default_prefix() -> String {
    "!".to_owned()
}

impl Default for RawBridge {
    fn default() -> Self {
        Self {
            command_prefix: default_prefix(),
            permissions: BTreeMap::new(),
            public_url: None,
            disconnect_notice_seconds: default_disconnect_notice(),
        }
    }
}

/// What a Matrix user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Nothing: the bridge ignores them.
    None,
    /// Their messages may be relayed through a relay login, nothing more.
    Relay,
    /// May log in and use the bridge.
    User,
    /// May also manage portals and other users' rooms.
    Admin,
}

impl Permission {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "relay" => Self::Relay,
            "user" => Self::User,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

/// How the database is reached.
#[derive(Clone, Debug)]
pub enum DatabaseConfig {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(Secret<String>),
}

impl DatabaseConfig {
    /// The sqlx connection URL.
    pub fn url(&self) -> Secret<String> {
        match self {
            Self::Sqlite(path) => Secret::new(format!("sqlite://{}", path.display())),
            Self::Postgres(url) => url.clone(),
        }
    }
}

/// Where the key for secrets at rest comes from.
#[derive(Clone, Debug)]
pub enum SecretKeySource {
    /// Given inline in the config.
    Inline(Secret<String>),
    /// Kept in a file, generated on first start.
    File(PathBuf),
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client-Server API base URL, without trailing slash.
    pub homeserver_url: String,
    /// Server name.
    pub domain: OwnedServerName,
    /// URL the homeserver uses to reach the bridge.
    pub appservice_url: String,
    /// Listen address.
    pub listen: (String, u16),
    /// Registration id.
    pub registration_id: String,
    /// The bot's user ID.
    pub bot_user_id: OwnedUserId,
    /// The bot's display name.
    pub bot_displayname: Option<String>,
    /// The bot's avatar.
    pub bot_avatar: Option<String>,
    /// Token towards the homeserver.
    pub as_token: Secret<String>,
    /// Token from the homeserver.
    pub hs_token: Secret<String>,
    /// Ghost localpart template.
    pub username_template: Template,
    /// Alias localpart template.
    pub alias_template: Option<Template>,
    /// Ask for ephemeral events.
    pub ephemeral_events: bool,
    /// Database.
    pub database: DatabaseConfig,
    /// Key for secrets at rest.
    pub secret_key: SecretKeySource,
    /// Command prefix in portal rooms.
    pub command_prefix: String,
    /// Permissions by `*`, server name or user ID.
    pub permissions: BTreeMap<String, Permission>,
    /// Base URL of the bridge's HTTP listener as the remote network sees it, without
    /// trailing slash; `None` disables media links.
    pub public_url: Option<String>,
    /// How long a lost connection lasts before its user is told.
    pub disconnect_notice: std::time::Duration,
    /// The network's section.
    pub network: serde_json::Value,
    /// Tracing filter: `logging.level` with `logging.filters` added.
    pub log_level: String,
    /// `logging.format`.
    pub log_format: LogFormat,
    /// Where `/metrics` is served; `None` when metrics are off.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

const TOKEN_PLACEHOLDER: &str = "generate";

impl Config {
    /// Reads and validates a config file. Relative paths in it are taken relative to the
    /// file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let raw = RawConfig::parse(&text, path)?;
        Self::from_raw(raw, path.parent().unwrap_or(Path::new(".")))
    }

    /// Validates a parsed file.
    pub fn from_raw(raw: RawConfig, base_dir: &Path) -> Result<Self, ConfigError> {
        let hs = raw.homeserver;
        let address = hs.address.trim_end_matches('/').to_owned();
        check_http_url("homeserver.address", &address)?;
        let domain = OwnedServerName::try_from(hs.domain.as_str()).map_err(|e| {
            invalid(
                "homeserver.domain",
                format!("`{}` is not a server name ({e})", hs.domain),
                "use the part after `:` in your user IDs, e.g. example.org",
            )
        })?;

        let asv = raw.appservice;
        check_http_url("appservice.address", &asv.address)?;
        if asv.id.is_empty() {
            return Err(invalid("appservice.id", "is empty", "pick a name unique on this homeserver, e.g. `irc`"));
        }
        check_token("appservice.as_token", &asv.as_token)?;
        check_token("appservice.hs_token", &asv.hs_token)?;
        if asv.as_token.expose() == asv.hs_token.expose() {
            return Err(invalid("appservice.hs_token", "equals as_token", "set both to `generate` and run generate-registration"));
        }
        let bot_user_id = UserId::parse(format!("@{}:{}", asv.bot.username, domain)).map_err(|e| {
            invalid(
                "appservice.bot.username",
                format!("`{}` does not make a valid user ID ({e})", asv.bot.username),
                "use lowercase letters, digits and . _ = - /",
            )
        })?;
        if !ghost_id::is_valid_localpart(&asv.bot.username) {
            return Err(invalid(
                "appservice.bot.username",
                format!("`{}` has characters Matrix does not allow", asv.bot.username),
                "use only a-z 0-9 . _ = - / +",
            ));
        }
        let username_template = Template::parse(&asv.username_template)
            .map_err(|problem| invalid("appservice.username_template", problem, "write it like `_irc_{{.}}`"))?;
        if username_template.matches_localpart(&asv.bot.username) {
            return Err(invalid(
                "appservice.bot.username",
                "falls inside the ghost namespace",
                "choose a bot name that does not fit appservice.username_template",
            ));
        }
        let alias_template = asv
            .alias_template
            .as_deref()
            .map(Template::parse)
            .transpose()
            .map_err(|problem| invalid("appservice.alias_template", problem, "write it like `_irc_{{.}}`"))?;

        let database = match raw.database.kind.as_str() {
            "sqlite3" | "sqlite" => {
                if raw.database.uri.is_empty() {
                    return Err(invalid("database.uri", "is empty", "give a file path such as `mxbridge.db`"));
                }
                let p = raw.database.uri.trim_start_matches("sqlite://").trim_start_matches("file:");
                DatabaseConfig::Sqlite(base_dir.join(p))
            }
            "postgres" => {
                if !raw.database.uri.starts_with("postgres://") && !raw.database.uri.starts_with("postgresql://") {
                    return Err(invalid("database.uri", "is not a postgres:// URL", "write postgres://user:password@host/dbname"));
                }
                DatabaseConfig::Postgres(Secret::new(raw.database.uri.clone()))
            }
            other => return Err(invalid("database.type", format!("`{other}` is not a database type"), "use `sqlite3` or `postgres`")),
        };
        let secret_key = match (raw.database.secret_key, raw.database.secret_key_file) {
            (Some(key), _) => SecretKeySource::Inline(key),
            (None, Some(file)) => SecretKeySource::File(base_dir.join(file)),
            (None, None) => SecretKeySource::File(base_dir.join("mxbridge.key")),
        };

        if raw.bridge.command_prefix.is_empty() || raw.bridge.command_prefix.chars().any(char::is_whitespace) {
            return Err(invalid("bridge.command_prefix", "is empty or has spaces", "use a short prefix such as `!`"));
        }
        let mut permissions = BTreeMap::new();
        for (who, level) in raw.bridge.permissions {
            let key = format!("bridge.permissions.{who}");
            let Some(p) = Permission::parse(&level) else {
                return Err(invalid(&key, format!("`{level}` is not a permission level"), "use relay, user or admin"));
            };
            if who != "*" && who.starts_with('@') && UserId::parse(who.as_str()).is_err() {
                return Err(invalid(&key, format!("`{who}` is not a user ID"), "write @user:server, a server name, or *"));
            }
            permissions.insert(who, p);
        }
        let public_url = raw.bridge.public_url.as_deref().map(check_public_url).transpose()?;
        let (log_level, log_format) = raw.logging.validate()?;
        let metrics_listen = raw.metrics.validate(&asv.hostname, asv.port)?;

        Ok(Self {
            homeserver_url: address,
            domain,
            appservice_url: asv.address.trim_end_matches('/').to_owned(),
            listen: (asv.hostname, asv.port),
            registration_id: asv.id,
            bot_user_id,
            bot_displayname: asv.bot.displayname,
            bot_avatar: asv.bot.avatar,
            as_token: asv.as_token,
            hs_token: asv.hs_token,
            username_template,
            alias_template,
            ephemeral_events: asv.ephemeral_events,
            database,
            secret_key,
            command_prefix: raw.bridge.command_prefix,
            permissions,
            public_url,
            disconnect_notice: std::time::Duration::from_secs(raw.bridge.disconnect_notice_seconds),
            network: raw.network,
            log_level,
            log_format,
            metrics_listen,
        })
    }

    /// The permission of a user: an exact user entry beats a server entry beats `*`.
    pub fn permission_of(&self, user: &UserId) -> Permission {
        self.permissions
            .get(user.as_str())
            .or_else(|| self.permissions.get(user.server_name().as_str()))
            .or_else(|| self.permissions.get("*"))
            .copied()
            .unwrap_or(Permission::None)
    }
}

impl RawConfig {
    /// Parses YAML text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }
}

fn check_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(invalid(key, format!("`{value}` is not an http(s) URL"), "write it like http://127.0.0.1:8008")),
    }
}

/// Links are pasted into chats and opened by strangers' browsers, so the base must be a
/// plain http(s) address that a path can be appended to.
fn check_public_url(value: &str) -> Result<String, ConfigError> {
    const KEY: &str = "bridge.public_url";
    const FIX: &str = "write the address where people on the network reach this bridge's HTTP listener (appservice.port), e.g. \
                       https://bridge.example.com, or remove the key to send no media links";
    let trimmed = value.trim().trim_end_matches('/');
    let url = match url::Url::parse(trimmed) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.has_host() => u,
        _ => return Err(invalid(KEY, format!("`{value}` is not an http(s) URL"), FIX)),
    };
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(KEY, format!("`{value}` has a user name, password, query or fragment"), FIX));
    }
    Ok(trimmed.to_owned())
}

fn check_token(key: &str, token: &Secret<String>) -> Result<(), ConfigError> {
    let t = token.expose();
    if t == TOKEN_PLACEHOLDER {
        return Err(invalid(key, "is still `generate`", "run `mxbridge -c <config> generate-registration` to create the tokens"));
    }
    if t.len() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(key, "is shorter than 16 characters or has spaces", "set it to `generate` and run generate-registration"));
    }
    Ok(())
}

/// Whether a raw token value still asks to be generated.
pub fn is_token_placeholder(value: &str) -> bool {
    value == TOKEN_PLACEHOLDER
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = r#"
homeserver: {address: "http://127.0.0.1:8008", domain: example.org}
appservice:
  address: http://127.0.0.1:29331
  hostname: 127.0.0.1
  port: 29331
  id: test
  bot: {username: testbot, displayname: Test bot}
  as_token: aaaaaaaaaaaaaaaaaaaaaaaa
  hs_token: bbbbbbbbbbbbbbbbbbbbbbbb
  username_template: "_test_{{.}}"
  alias_template: "_test_{{.}}"
database: {type: sqlite3, uri: test.db}
bridge:
  permissions: {"*": relay, "example.org": user, "@boss:example.org": admin}
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_raw(RawConfig::parse(text, Path::new("t.yaml"))?, Path::new("/etc/mxbridge"))
    }

    #[test]
    fn test_valid_config_loads() {
        let c = load(EXAMPLE).unwrap();
        assert_eq!(c.bot_user_id.as_str(), "@testbot:example.org");
        assert!(matches!(&c.database, DatabaseConfig::Sqlite(p) if p == Path::new("/etc/mxbridge/test.db")));
        assert_eq!(c.command_prefix, "!");
    }

    #[test]
    fn test_permissions_pick_most_specific() {
        let c = load(EXAMPLE).unwrap();
        let boss = UserId::parse("@boss:example.org").unwrap();
        let local = UserId::parse("@alice:example.org").unwrap();
        let remote = UserId::parse("@eve:elsewhere.net").unwrap();
        assert_eq!(c.permission_of(&boss), Permission::Admin);
        assert_eq!(c.permission_of(&local), Permission::User);
        assert_eq!(c.permission_of(&remote), Permission::Relay);
    }

    #[test]
    fn test_errors_name_the_key() {
        let cases = [
            (EXAMPLE.replace("aaaaaaaaaaaaaaaaaaaaaaaa", "generate"), "appservice.as_token"),
            (EXAMPLE.replace("type: sqlite3", "type: mysql"), "database.type"),
            (EXAMPLE.replace("\"*\": relay", "\"*\": superuser"), "bridge.permissions.*"),
            (EXAMPLE.replace("http://127.0.0.1:8008", "localhost"), "homeserver.address"),
            (EXAMPLE.replace("\"_test_{{.}}\"\n  alias", "\"_test_\"\n  alias"), "appservice.username_template"),
            (EXAMPLE.replace("username: testbot", "username: _test_bot"), "appservice.bot.username"),
        ];
        for (text, key) in cases {
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{err} should name {key}");
            assert!(err.contains("fix:"), "{err} should say how to fix it");
        }
    }

    /// Every example config in `config/` must load (with its tokens filled in), so the
    /// documented layout cannot drift from the code.
    #[test]
    fn test_example_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let (filled, _) = crate::registration::fill_in_tokens(&text).unwrap();
            let raw = RawConfig::parse(&filled, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Config::from_raw(raw, &dir).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 1, "no example configs found in {}", dir.display());
    }

    #[test]
    fn test_public_url_is_optional_and_checked() {
        assert_eq!(load(EXAMPLE).unwrap().public_url, None, "no key, no links");
        let with = |url: &str| EXAMPLE.replace("bridge:\n", &format!("bridge:\n  public_url: \"{url}\"\n"));
        assert_eq!(load(&with("https://bridge.example.com/")).unwrap().public_url.as_deref(), Some("https://bridge.example.com"));
        assert_eq!(load(&with("http://example.com:8080/irc")).unwrap().public_url.as_deref(), Some("http://example.com:8080/irc"));
        for bad in ["", "bridge.example.com", "ftp://example.com", "https://u:p@example.com", "https://example.com/?a=1", "https://x/#f"] {
            let err = load(&with(bad)).unwrap_err().to_string();
            assert!(err.contains("`bridge.public_url`") && err.contains("fix:") && err.contains("remove the key"), "{bad}: {err}");
        }
    }

    #[test]
    fn test_logging_filters_join_the_level_and_bad_keys_are_named() {
        let c = load(EXAMPLE).unwrap();
        assert_eq!((c.log_level.as_str(), c.log_format), ("info", LogFormat::Human), "defaults");
        let with = |logging: &str| format!("{EXAMPLE}logging:\n{logging}");
        let c =
            load(&with("  level: warn\n  format: json\n  filters: {mxbridge_irc: debug, \"mxbridge_core::appservice\": trace}\n")).unwrap();
        assert_eq!(c.log_level, "warn,mxbridge_core::appservice=trace,mxbridge_irc=debug");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(load(&with("  level: \"mxbridge_core=debug,info\"\n")).unwrap().log_level, "mxbridge_core=debug,info");
        let cases = [
            ("  format: xml\n", "logging.format"),
            ("  level: loud\n", "logging.level"),
            ("  level: \"mxbridge_core=chatty,info\"\n", "logging.level"),
            ("  filters: {mxbridge_irc: verbose}\n", "logging.filters.mxbridge_irc"),
            ("  filters: {\"not a module\": debug}\n", "logging.filters.not a module"),
        ];
        for (logging, key) in cases {
            let err = load(&with(logging)).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")) && err.contains("fix:"), "{logging}: {err}");
        }
    }

    #[test]
    fn test_unknown_key_is_refused() {
        let text = EXAMPLE.replace("database:", "databse_typo: 1\ndatabase:");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("databse_typo"), "{err}");
    }
}
