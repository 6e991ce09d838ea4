//! `logging:`: the level, per-module levels and the format of the bridge's logs, checked
//! here and turned into one tracing filter for the binary.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// `logging:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogging {
    /// The level of everything `filters` does not name (`info`), or a whole tracing filter
    /// (`mxbridge_core=debug,info`).
    #[serde(default = "default_level")]
    pub level: String,
    /// Levels per module, added to `level`: `{mxbridge_irc: debug, sqlx: warn}`.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// `human` (one readable line per event, the default) or `json` (one JSON object per line).
    #[serde(default = "default_log_format")]
    pub format: String,
}

fn default_level() -> String {
    "info".to_owned()
}

fn default_log_format() -> String {
    "human".to_owned()
}

impl Default for RawLogging {
    fn default() -> Self {
        Self { level: default_level(), filters: BTreeMap::new(), format: default_log_format() }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines, for a terminal or `docker logs`.
    Human,
    /// One JSON object per line, for a log collector.
    Json,
}

const LEVELS: &str = "trace, debug, info, warn, error or off";

fn is_level(s: &str) -> bool {
    s.parse::<tracing::level_filters::LevelFilter>().is_ok()
}

/// A tracing target is a module path such as `mxbridge_irc` or `mxbridge_core::appservice`.
fn is_target(s: &str) -> bool {
    !s.is_empty() && s.split("::").all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

impl RawLogging {
    /// The whole tracing filter (`level`, then `filters`) and the format, each key checked.
    pub(super) fn validate(self) -> Result<(String, LogFormat), ConfigError> {
        let format = match self.format.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => return Err(invalid("logging.format", format!("`{other}` is not a log format"), "use human or json")),
        };
        // Directives with span filters (`target[span{field=value}]=level`) have a grammar of
        // their own: the binary checks them with tracing-subscriber's parser.
        for directive in self.level.split(',').map(str::trim).filter(|d| !d.contains('[')) {
            let ok = match directive.split_once('=') {
                Some((target, level)) => is_target(target) && is_level(level),
                // A bare module name would mean `module=trace` to tracing: more likely a
                // misspelt level, so it is refused.
                None => is_level(directive),
            };
            if !ok {
                return Err(invalid(
                    "logging.level",
                    format!("`{directive}` is neither a level nor `module=level`"),
                    format!("use one of {LEVELS}, or per module like `mxbridge_core=debug,info`"),
                ));
            }
        }
        let mut filter = self.level;
        for (target, level) in self.filters {
            let key = format!("logging.filters.{target}");
            if !is_target(&target) {
                return Err(invalid(&key, format!("`{target}` is not a module path"), "name a crate or module such as mxbridge_irc"));
            }
            if !is_level(&level) {
                return Err(invalid(&key, format!("`{level}` is not a level"), format!("use one of {LEVELS}")));
            }
            filter.push_str(&format!(",{target}={level}"));
        }
        Ok((filter, format))
    }
}
