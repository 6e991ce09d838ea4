//! The compiled binary's config commands, run as an admin would run them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example_config() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example-demo.yaml")).unwrap()
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxbridge-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mxbridge(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mxbridge")).args(args).output().unwrap()
}

#[test]
fn test_generate_registration_fills_tokens_and_writes_the_file() {
    let dir = temp_dir("reg");
    let config = dir.join("config.yaml");
    std::fs::write(&config, example_config()).unwrap();
    let out = dir.join("registration.yaml");

    let before = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(!before.status.success(), "tokens still say generate");
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(stderr.contains("appservice.as_token") && stderr.contains("generate-registration"), "{stderr}");

    let generated = mxbridge(&["-c", config.to_str().unwrap(), "generate-registration", "-o", out.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let reg = std::fs::read_to_string(&out).unwrap();
    let config_text = std::fs::read_to_string(&config).unwrap();
    assert!(!config_text.contains("as_token: generate"));
    assert!(config_text.contains("# Which network this bridge connects to."), "comments are kept");
    let as_token = config_text.lines().find_map(|l| l.trim().strip_prefix("as_token: ")).unwrap().trim_matches('"');
    assert!(reg.contains(as_token), "the registration carries the config's token");
    for needle in ["id: demo", "sender_localpart: demobot", "rate_limited: false", "receive_ephemeral: true", "exclusive: true", "- demo"] {
        assert!(reg.contains(needle), "{needle} missing in\n{reg}");
    }

    let again = mxbridge(&["-c", config.to_str().unwrap(), "generate-registration", "-o", out.to_str().unwrap()]);
    assert!(again.status.success());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_text, "a second run keeps the tokens");

    let check = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn test_check_config_names_the_bad_key() {
    let dir = temp_dir("bad");
    let config = dir.join("config.yaml");
    let text = example_config()
        .replace("as_token: generate", "as_token: aaaaaaaaaaaaaaaaaaaaaaaa")
        .replace("hs_token: generate", "hs_token: bbbbbbbbbbbbbbbbbbbbbbbbb");
    std::fs::write(&config, text.replace("type: demo", "type: carrier-pigeon")).unwrap();
    let out = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("network.type") && stderr.contains("fix:"), "{stderr}");

    std::fs::write(&config, text.replace("port: 29340", "port: seventy")).unwrap();
    let out = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("port"), "{stderr}");
}

#[test]
fn test_every_example_config_passes_check_config_once_tokens_exist() {
    let dir = temp_dir("examples");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut checked = 0;
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let config = dir.join(path.file_name().unwrap());
        std::fs::copy(&path, &config).unwrap();
        let reg = dir.join("registration.yaml");
        let generated = mxbridge(&["-c", config.to_str().unwrap(), "generate-registration", "-o", reg.to_str().unwrap()]);
        assert!(generated.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&generated.stderr));
        let check = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
        assert!(check.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&check.stderr));
        checked += 1;
    }
    assert!(checked >= 2, "the demo and IRC examples");
}

#[test]
fn test_real_telegram_backend_without_api_credentials_is_refused_by_name() {
    let dir = temp_dir("telegram");
    let config = dir.join("config.yaml");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example-telegram.yaml"))
        .unwrap()
        .replace("as_token: generate", "as_token: aaaaaaaaaaaaaaaaaaaaaaaa")
        .replace("hs_token: generate", "hs_token: bbbbbbbbbbbbbbbbbbbbbbbbb");
    std::fs::write(&config, text.replace("backend: simulated", "backend: real")).unwrap();
    let out = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("network.api_id") && stderr.contains("my.telegram.org"), "{stderr}");
}

#[test]
fn test_healthcheck_fails_and_says_what_to_check_when_no_bridge_runs() {
    let dir = temp_dir("health");
    let config = dir.join("config.yaml");
    let free_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = example_config()
        .replace("as_token: generate", "as_token: aaaaaaaaaaaaaaaaaaaaaaaa")
        .replace("hs_token: generate", "hs_token: bbbbbbbbbbbbbbbbbbbbbbbbb")
        .replace("port: 29340", &format!("port: {free_port}"));
    std::fs::write(&config, text).unwrap();
    let out = mxbridge(&["-c", config.to_str().unwrap(), "healthcheck"]);
    assert_eq!(out.status.code(), Some(1), "a container healthcheck needs exit 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{free_port}")) && stderr.contains("appservice.port"), "{stderr}");
}

/// A newcomer's config: the example with the token lines left out, or written in flow style.
#[test]
fn test_generate_registration_adds_left_out_tokens() {
    let dir = temp_dir("notokens");
    let config = dir.join("config.yaml");
    let text: String = example_config().lines().filter(|l| !l.contains("_token: generate")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&config, text).unwrap();
    let out = dir.join("registration.yaml");
    let generated = mxbridge(&["-c", config.to_str().unwrap(), "generate-registration", "-o", out.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let check = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    let flow = dir.join("flow.yaml");
    let flow_text = "homeserver: {address: \"http://127.0.0.1:8008\", domain: example.org}\n\
        appservice: {address: \"http://127.0.0.1:29999\", hostname: 127.0.0.1, port: 29999, id: flow, bot: {username: flowbot}, \
        as_token: generate, hs_token: generate, username_template: \"_flow_{{.}}\"}\n\
        database: {type: sqlite3, uri: flow.db}\nnetwork: {type: demo}\n";
    std::fs::write(&flow, flow_text).unwrap();
    let generated = mxbridge(&["-c", flow.to_str().unwrap(), "generate-registration", "-o", out.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    assert!(!std::fs::read_to_string(&flow).unwrap().contains("generate"));
}

/// An XMPP server address without its port is named by check-config, not retried forever.
#[test]
fn test_check_config_refuses_an_xmpp_server_without_port() {
    let dir = temp_dir("xmppport");
    let config = dir.join("config.yaml");
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example-xmpp.yaml")).unwrap();
    let text = example
        .replace("as_token: generate", "as_token: aaaaaaaaaaaaaaaaaaaaaaaa")
        .replace("hs_token: generate", "hs_token: bbbbbbbbbbbbbbbbbbbbbbbbb");
    assert!(text.contains("server: 127.0.0.1:5347"), "the example's server line changed");
    std::fs::write(&config, &text).unwrap();
    let check = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    std::fs::write(&config, text.replace("server: 127.0.0.1:5347", "server: 127.0.0.1")).unwrap();
    let check = mxbridge(&["-c", config.to_str().unwrap(), "check-config"]);
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("`network.server`") && stderr.contains("127.0.0.1:5347"), "{stderr}");
}

/// A user error prints its message and causes, never a backtrace, even with
/// RUST_BACKTRACE set (as it is on many admins' machines).
#[test]
fn test_a_bad_config_prints_no_backtrace() {
    let dir = temp_dir("backtrace");
    let config = dir.join("config.yaml");
    std::fs::write(&config, "homeserver: [not, a, map]\n").unwrap();
    for setting in ["1", "full"] {
        let out = Command::new(env!("CARGO_BIN_EXE_mxbridge"))
            .args(["-c", config.to_str().unwrap(), "check-config"])
            .env("RUST_BACKTRACE", setting)
            .env("RUST_LIB_BACKTRACE", setting)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("Error: ") && stderr.contains("config.yaml"), "{stderr}");
        assert!(!stderr.contains("Stack backtrace") && !stderr.contains("stack backtrace") && !stderr.contains("main.rs"), "{stderr}");
    }
}
