//! The `network:` section for `type: whatsapp` (every key is commented in
//! `config/example-whatsapp.yaml`).

use std::path::PathBuf;

use serde::Deserialize;

/// The WhatsApp network's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// Which implementation talks to WhatsApp.
    #[serde(default)]
    pub backend: BackendKind,
    /// The simulated network's timing (with `backend: simulated`).
    #[serde(default)]
    pub simulated: SimConfig,
    /// Name of the bridge in the phone's list of linked devices.
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// Ghost display names; `{name}` is the contact's name (or push name, or number).
    #[serde(default = "default_displayname_template")]
    pub displayname_template: String,
    /// Chats with activity in this many days get portals right after login.
    #[serde(default = "default_initial_chat_days")]
    pub initial_chat_days: u32,
    /// Warn in the management room when the phone was not seen for this many days
    /// (WhatsApp unlinks the device after 14).
    #[serde(default = "default_phone_offline_warning_days")]
    pub phone_offline_warning_days: u32,
    /// `list contacts` shows this many per page.
    #[serde(default = "default_contacts_page_size")]
    pub contacts_page_size: usize,
    /// Where per-login session stores live (the real backend's SQLite files).
    #[serde(default = "default_data_directory")]
    pub data_directory: PathBuf,
}

fn default_device_name() -> String {
    "mxbridge".to_owned()
}
fn default_displayname_template() -> String {
    "{name} (WA)".to_owned()
}
fn default_initial_chat_days() -> u32 {
    7
}
fn default_phone_offline_warning_days() -> u32 {
    12
}
fn default_contacts_page_size() -> usize {
    20
}
fn default_data_directory() -> PathBuf {
    PathBuf::from("whatsapp-data")
}

impl Default for WhatsAppConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::default(),
            simulated: SimConfig::default(),
            device_name: default_device_name(),
            displayname_template: default_displayname_template(),
            initial_chat_days: default_initial_chat_days(),
            phone_offline_warning_days: default_phone_offline_warning_days(),
            contacts_page_size: default_contacts_page_size(),
            data_directory: default_data_directory(),
        }
    }
}

/// `backend:` — the real WhatsApp servers, or the simulated network.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// whatsapp-rust, WhatsApp's multi-device protocol.
    #[default]
    Real,
    /// The simulated network (tests and demos).
    Simulated,
}

/// The simulated network's timing.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seconds a QR code is valid before the next one is shown.
    #[serde(default = "default_qr_refresh")]
    pub qr_refresh_seconds: f64,
    /// How many QR codes are shown before the login times out.
    #[serde(default = "default_qr_codes")]
    pub qr_codes: u32,
    /// The QR code is "scanned" this many seconds after it is shown...
    #[serde(default = "default_scan_after")]
    pub qr_scan_after_seconds: f64,
    /// ...once this many codes were replaced by fresh ones (0: the first code is scanned).
    #[serde(default)]
    pub qr_scan_after_refreshes: u32,
    /// Seconds until a pairing code is "typed in" on the phone.
    #[serde(default = "default_scan_after")]
    pub pair_code_entered_after_seconds: f64,
    /// Messages per chat in the history sync after a login.
    #[serde(default = "default_history_messages")]
    pub history_messages: u32,
    /// More recent DMs in the history sync, with generated contacts `Sim Contact <n>`.
    #[serde(default)]
    pub extra_recent_chats: u32,
}

fn default_history_messages() -> u32 {
    6
}

fn default_qr_refresh() -> f64 {
    20.0
}
fn default_qr_codes() -> u32 {
    6
}
fn default_scan_after() -> f64 {
    5.0
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            qr_refresh_seconds: default_qr_refresh(),
            qr_codes: default_qr_codes(),
            qr_scan_after_seconds: default_scan_after(),
            qr_scan_after_refreshes: 0,
            pair_code_entered_after_seconds: default_scan_after(),
            history_messages: default_history_messages(),
            extra_recent_chats: 0,
        }
    }
}

/// A setting has a value the bridge cannot use.
#[derive(Debug, thiserror::Error)]
#[error("config key `network.{key}`: {problem} (fix: {fix})")]
pub struct ConfigError {
    key: &'static str,
    problem: String,
    fix: &'static str,
}

impl WhatsAppConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.displayname_template.contains("{name}") {
            return Err(ConfigError {
                key: "displayname_template",
                problem: format!("`{}` has no `{{name}}`", self.displayname_template),
                fix: "write it like `{name} (WA)`",
            });
        }
        if self.device_name.trim().is_empty() {
            return Err(ConfigError { key: "device_name", problem: "is empty".into(), fix: "name the bridge, e.g. `mxbridge`" });
        }
        if self.phone_offline_warning_days == 0 || self.phone_offline_warning_days >= 14 {
            return Err(ConfigError {
                key: "phone_offline_warning_days",
                problem: format!("{} is not between 1 and 13", self.phone_offline_warning_days),
                fix: "WhatsApp unlinks after 14 days; warn before, e.g. 12",
            });
        }
        if self.contacts_page_size == 0 {
            return Err(ConfigError { key: "contacts_page_size", problem: "is 0".into(), fix: "show at least 1, e.g. 20" });
        }
        let sim = &self.simulated;
        if sim.qr_codes == 0 || sim.qr_refresh_seconds <= 0.0 {
            return Err(ConfigError {
                key: "simulated.qr_codes",
                problem: "no QR code would be shown".into(),
                fix: "set qr_codes ≥ 1 and qr_refresh_seconds > 0",
            });
        }
        Ok(())
    }

    /// A ghost's display name.
    pub fn display_name(&self, name: &str) -> String {
        self.displayname_template.replace("{name}", name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_defaults_and_simulated_backend() {
        let c: WhatsAppConfig = serde_json::from_value(serde_json::json!({"backend": "simulated", "simulated": {"qr_codes": 2}})).unwrap();
        assert_eq!(c.backend, BackendKind::Simulated);
        assert_eq!(c.simulated.qr_codes, 2);
        assert_eq!(c.simulated.qr_refresh_seconds, 20.0);
        assert_eq!(c.display_name("Alice"), "Alice (WA)");
        c.validate().unwrap();
        let real: WhatsAppConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(real.backend, BackendKind::Real);
    }

    #[test]
    fn test_validation_names_the_key() {
        let mut c = WhatsAppConfig { displayname_template: "WA user".into(), ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("network.displayname_template"));
        c.displayname_template = "{name}".into();
        c.phone_offline_warning_days = 14;
        assert!(c.validate().unwrap_err().to_string().contains("network.phone_offline_warning_days"));
        assert!(serde_json::from_value::<WhatsAppConfig>(serde_json::json!({"bogus": 1})).is_err());
    }
}
