//! `registration/example-registration.yaml` is what `generate-registration` writes, and every
//! example config in `config/` gives a registration of the same shape: the documented file
//! cannot drift from the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxbridge-regex-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies `example` into `dir`, runs generate-registration on the copy, and returns the
/// config (tokens filled in) and the registration, both parsed.
fn generate(dir: &Path, example: &Path) -> (Value, Value) {
    let config = dir.join(example.file_name().unwrap());
    std::fs::copy(example, &config).unwrap();
    let out = dir.join("registration.yaml");
    let run = Command::new(env!("CARGO_BIN_EXE_mxbridge"))
        .args(["-c", config.to_str().unwrap(), "generate-registration", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}: {}", example.display(), String::from_utf8_lossy(&run.stderr));
    (yaml(&config), yaml(&out))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("a mapping").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn test_example_registration_is_what_generate_registration_writes_for_the_demo_example() {
    let documented_path = repo().join("registration/example-registration.yaml");
    let header = std::fs::read_to_string(&documented_path).unwrap();
    assert!(header.contains("config/example-demo.yaml"), "the example says which config it comes from");
    let documented = yaml(&documented_path);
    let (config, mut generated) = generate(&temp_dir("demo"), &repo().join("config/example-demo.yaml"));

    // The tokens are the config's, freshly generated; the example shows placeholders.
    for key in ["as_token", "hs_token"] {
        let token = generated[key].as_str().unwrap().to_owned();
        assert_eq!(token, config["appservice"][key].as_str().unwrap(), "{key} is the config's");
        assert!(token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric()), "{key} looks random: {token}");
        generated[key] = documented[key].clone();
    }
    assert_eq!(keys(&generated), keys(&documented), "same keys");
    assert_eq!(generated, documented, "registration/example-registration.yaml differs from generate-registration's output");
}

#[test]
fn test_every_example_config_generates_a_registration_of_the_documented_shape() {
    let documented = yaml(&repo().join("registration/example-registration.yaml"));
    let dir = temp_dir("all");
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let (config, reg) = generate(&dir, &path);
        let name = path.display();
        assert_eq!(keys(&reg), keys(&documented), "{name}: keys");
        assert_eq!(keys(&reg["namespaces"]), keys(&documented["namespaces"]), "{name}: namespace kinds");
        assert_eq!(reg["id"], config["appservice"]["id"], "{name}: id");
        assert_eq!(reg["url"], config["appservice"]["address"], "{name}: url");
        assert_eq!(reg["sender_localpart"], config["appservice"]["bot"]["username"], "{name}: sender_localpart");
        assert_eq!(reg["protocols"], serde_json::json!([config["network"]["type"]]), "{name}: protocols");

        // Users: the bot, then the ghosts; aliases only with an alias template. Every
        // namespace is exclusive and anchored at both ends for the config's server name.
        let domain = config["homeserver"]["domain"].as_str().unwrap().replace('.', "\\.");
        let users = reg["namespaces"]["users"].as_array().unwrap();
        assert_eq!(users.len(), 2, "{name}: bot and ghosts");
        let bot = format!("^@{}:{domain}$", config["appservice"]["bot"]["username"].as_str().unwrap());
        assert_eq!(users[0]["regex"], bot.as_str(), "{name}: the bot's namespace");
        let aliases = reg["namespaces"]["aliases"].as_array().unwrap();
        assert_eq!(aliases.len(), usize::from(config["appservice"].get("alias_template").is_some_and(|t| !t.is_null())), "{name}: aliases");
        for ns in users.iter().chain(aliases) {
            let regex = ns["regex"].as_str().unwrap();
            assert_eq!(keys(ns), ["exclusive", "regex"], "{name}");
            assert_eq!(ns["exclusive"], true, "{name}: {regex} is exclusive");
            assert!(regex.starts_with("^@") || regex.starts_with("^\\#"), "{name}: {regex} is anchored at the start");
            assert!(regex.ends_with(&format!(":{domain}$")), "{name}: {regex} is anchored at the end, on {domain}");
        }
        assert_eq!(reg["namespaces"]["rooms"], serde_json::json!([]), "{name}: no room namespace");
        seen += 1;
    }
    assert!(seen >= 5, "demo, IRC, XMPP, Telegram and WhatsApp examples");
}
