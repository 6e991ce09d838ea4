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

mod backfill;
mod logging;
mod mappings;
mod metrics;

pub use backfill::RawBackfill;
pub use logging::{LogFormat, RawLogging};
pub use mappings::{MappedRoom, Mapping, RawMapping};
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
    /// Token the bridge uses towards the homeserver (`generate`, or left out, to create one).
    #[serde(default = "token_placeholder")]
    pub as_token: Secret<String>,
    /// Token the homeserver uses towards the bridge (`generate`, or left out, to create one).
    #[serde(default = "token_placeholder")]
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
    /// Remote chats bridged to given Matrix rooms from the start (`{chat: "#welcome",
    /// room: "#welcome:example.org"}`).
    #[serde(default)]
    pub mappings: Vec<RawMapping>,
    /// `bridge.backfill`: the history new portals show.
    #[serde(default)]
    pub backfill: RawBackfill,
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
            mappings: Vec::new(),
            backfill: RawBackfill::default(),
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
    /// Chats linked to given rooms at start.
    pub mappings: Vec<Mapping>,
    /// How many of a chat's last messages a new portal shows (0: none).
    pub backfill_initial_messages: usize,
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
        let mappings = mappings::validate(raw.bridge.mappings)?;
        let (log_level, log_format) = raw.logging.validate()?;
        let metrics_listen = raw.metrics.validate(&asv.hostname, asv.port)?;
        let backfill_initial_messages = raw.bridge.backfill.validate()?;

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
            mappings,
            backfill_initial_messages,
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

/// A token left out of the config is one still to be generated, so that
/// `generate-registration` can read the config before it has filled the tokens in.
fn token_placeholder() -> Secret<String> {
    Secret::new(TOKEN_PLACEHOLDER.to_owned())
}

#[cfg(test)]
mod tests;
