//! The `network:` section for Telegram, validated at start with errors that name the key.

use std::time::Duration;

use serde::Deserialize;

use crate::flood::FloodPolicy;

/// Which Telegram to talk to.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Telegram's servers, through grammers (needs `api_id` and `api_hash`).
    #[default]
    Real,
    /// The simulated Telegram in this crate (tests and demos; see `sim`).
    Simulated,
}

/// `network:` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// `real` or `simulated`.
    #[serde(default)]
    pub backend: BackendKind,
    /// API id from https://my.telegram.org (real backend).
    #[serde(default)]
    pub api_id: Option<i32>,
    /// API hash from https://my.telegram.org (real backend).
    #[serde(default)]
    pub api_hash: Option<String>,
    /// How many recent chats get a portal right after login.
    #[serde(default = "default_recent_chats")]
    pub recent_chats: usize,
    /// Chats whose last message is older than this many days get no portal at login (0: no limit).
    #[serde(default = "default_max_chat_age_days")]
    pub max_chat_age_days: u64,
    /// Flood waits (Telegram asking the bridge to slow down) are always sat out and the
    /// messages sent after them, in order; a wait at least this long, in seconds, is also
    /// told to the user. (A call that meets more than a handful of waits in a row fails,
    /// as a guard against an endless loop.)
    #[serde(default = "default_flood_notice_after", alias = "flood_max_wait_seconds")]
    pub flood_notice_after_seconds: u64,
    /// Device model shown in Telegram's "Active sessions".
    #[serde(default = "default_device_model")]
    pub device_model: String,
}

fn default_recent_chats() -> usize {
    20
}

fn default_max_chat_age_days() -> u64 {
    30
}

fn default_flood_notice_after() -> u64 {
    60
}

fn default_device_model() -> String {
    "mxbridge".to_owned()
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::default(),
            api_id: None,
            api_hash: None,
            recent_chats: default_recent_chats(),
            max_chat_age_days: default_max_chat_age_days(),
            flood_notice_after_seconds: default_flood_notice_after(),
            device_model: default_device_model(),
        }
    }
}

/// A bad `network:` key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("config key `network.{key}`: {problem} (fix: {fix})")]
pub struct ConfigError {
    /// The key under `network`.
    pub key: &'static str,
    /// What is wrong.
    pub problem: String,
    /// What to do.
    pub fix: &'static str,
}

/// The API credentials of the real backend.
#[derive(Clone)]
pub struct ApiCredentials {
    /// API id.
    pub api_id: i32,
    /// API hash (a secret of the operator's Telegram app).
    pub api_hash: String,
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiCredentials {{ api_id: {}, api_hash: [redacted] }}", self.api_id)
    }
}

/// The validated section.
#[derive(Clone, Debug)]
pub struct ValidConfig {
    /// Which backend.
    pub backend: BackendKind,
    /// Set for the real backend.
    pub api: Option<ApiCredentials>,
    /// Recent chats to open at login.
    pub recent_chats: usize,
    /// Oldest chat activity to open at login; `None` for no limit.
    pub max_chat_age: Option<Duration>,
    /// Flood-wait handling.
    pub flood: FloodPolicy,
    /// Device model.
    pub device_model: String,
}

impl TelegramConfig {
    /// Checks the section.
    pub fn validate(self) -> Result<ValidConfig, ConfigError> {
        let api = match self.backend {
            BackendKind::Simulated => None,
            BackendKind::Real => {
                let api_id = self.api_id.ok_or(ConfigError {
                    key: "api_id",
                    problem: "missing; the real Telegram backend needs the API id of your Telegram app".into(),
                    fix: "create an app at https://my.telegram.org/apps and copy its api_id here, or set `backend: simulated` for a demo",
                })?;
                if api_id <= 0 {
                    return Err(ConfigError {
                        key: "api_id",
                        problem: format!("`{api_id}` is not an API id"),
                        fix: "copy the positive number shown as api_id at https://my.telegram.org/apps",
                    });
                }
                let api_hash = self.api_hash.filter(|h| !h.trim().is_empty()).ok_or(ConfigError {
                    key: "api_hash",
                    problem: "missing; the real Telegram backend needs the API hash of your Telegram app".into(),
                    fix: "copy api_hash from https://my.telegram.org/apps, or set `backend: simulated` for a demo",
                })?;
                if api_hash.len() != 32 || !api_hash.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(ConfigError {
                        key: "api_hash",
                        problem: "is not 32 hexadecimal characters".into(),
                        fix: "copy api_hash exactly as https://my.telegram.org/apps shows it",
                    });
                }
                Some(ApiCredentials { api_id, api_hash })
            }
        };
        if self.recent_chats > 500 {
            return Err(ConfigError {
                key: "recent_chats",
                problem: format!("{} is more portals than a login should open at once", self.recent_chats),
                fix: "use 500 or less; other chats get a portal when their next message arrives",
            });
        }
        if self.device_model.trim().is_empty() {
            return Err(ConfigError { key: "device_model", problem: "is empty".into(), fix: "name the device, e.g. `mxbridge`" });
        }
        Ok(ValidConfig {
            backend: self.backend,
            api,
            recent_chats: self.recent_chats,
            max_chat_age: (self.max_chat_age_days > 0).then(|| Duration::from_secs(self.max_chat_age_days * 86_400)),
            flood: FloodPolicy { notice_after: Duration::from_secs(self.flood_notice_after_seconds), ..FloodPolicy::default() },
            device_model: self.device_model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<ValidConfig, String> {
        let raw: TelegramConfig = serde_json::from_value(json).map_err(|e| e.to_string())?;
        raw.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn test_real_backend_needs_api_credentials_and_says_where_to_get_them() {
        let err = parse(serde_json::json!({})).unwrap_err();
        assert!(err.contains("network.api_id") && err.contains("my.telegram.org"), "{err}");
        let err = parse(serde_json::json!({"api_id": 123})).unwrap_err();
        assert!(err.contains("network.api_hash"), "{err}");
        let err = parse(serde_json::json!({"api_id": 123, "api_hash": "short"})).unwrap_err();
        assert!(err.contains("network.api_hash") && err.contains("32 hexadecimal"), "{err}");
        let err = parse(serde_json::json!({"api_id": -4, "api_hash": "0123456789abcdef0123456789abcdef"})).unwrap_err();
        assert!(err.contains("network.api_id"), "{err}");
        let ok = parse(serde_json::json!({"api_id": 123, "api_hash": "0123456789abcdef0123456789abcdef"})).unwrap();
        assert_eq!(ok.api.as_ref().map(|a| a.api_id), Some(123));
        assert!(!format!("{ok:?}").contains("0123456789abcdef"), "the hash never prints");
    }

    #[test]
    fn test_flood_notice_threshold_and_its_old_name() {
        let ok = parse(serde_json::json!({"backend": "simulated"})).unwrap();
        assert_eq!(ok.flood.notice_after, Duration::from_secs(60));
        let ok = parse(serde_json::json!({"backend": "simulated", "flood_notice_after_seconds": 10})).unwrap();
        assert_eq!(ok.flood.notice_after, Duration::from_secs(10));
        // Configs written for the old key keep working; its value is now only the notice threshold.
        let ok = parse(serde_json::json!({"backend": "simulated", "flood_max_wait_seconds": 300})).unwrap();
        assert_eq!(ok.flood.notice_after, Duration::from_secs(300));
    }

    #[test]
    fn test_simulated_backend_needs_nothing_and_limits_are_checked() {
        let ok = parse(serde_json::json!({"backend": "simulated"})).unwrap();
        assert_eq!(ok.backend, BackendKind::Simulated);
        assert_eq!(ok.recent_chats, 20);
        assert_eq!(ok.max_chat_age, Some(Duration::from_secs(30 * 86_400)));
        let ok = parse(serde_json::json!({"backend": "simulated", "max_chat_age_days": 0})).unwrap();
        assert_eq!(ok.max_chat_age, None);
        let err = parse(serde_json::json!({"backend": "simulated", "recent_chats": 10_000})).unwrap_err();
        assert!(err.contains("network.recent_chats"), "{err}");
        let err = parse(serde_json::json!({"backend": "carrier-pigeon"})).unwrap_err();
        assert!(err.contains("carrier-pigeon"), "{err}");
        let err = parse(serde_json::json!({"backend": "simulated", "api_idd": 1})).unwrap_err();
        assert!(err.contains("api_idd"), "unknown keys are named: {err}");
    }
}
