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
    let c = load(&with("  level: warn\n  format: json\n  filters: {mxbridge_irc: debug, \"mxbridge_core::appservice\": trace}\n")).unwrap();
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

#[test]
fn test_mappings_are_read_and_an_unquoted_channel_is_explained() {
    assert!(load(EXAMPLE).unwrap().mappings.is_empty(), "none by default");
    let with = |mappings: &str| EXAMPLE.replace("bridge:\n", &format!("bridge:\n  mappings:\n{mappings}"));
    let c = load(&with(
        "    - {chat: \"#welcome\", room: \"#welcome:example.org\"}\n    - {network: libera, chat: \"#b\", room: \"!r:example.org\"}\n",
    ))
    .unwrap();
    assert_eq!(c.mappings.len(), 2);
    assert_eq!((c.mappings[0].chat.as_str(), c.mappings[0].room.to_string()), ("#welcome", "#welcome:example.org".to_owned()));
    assert_eq!(c.mappings[1].network.as_deref(), Some("libera"));
    // Unquoted, `#welcome` is a YAML comment and the key reads as empty.
    let err = load(&with("    - chat: #welcome\n      room: \"#welcome:example.org\"\n")).unwrap_err().to_string();
    assert!(err.contains("`bridge.mappings[0].chat`") && err.contains("quote it"), "{err}");
    let err = load(&with("    - {chat: \"#welcome\", rooom: \"#welcome:example.org\"}\n")).unwrap_err().to_string();
    assert!(err.contains("rooom"), "a misspelt key is refused: {err}");
}
