//! Where the servers started by `scripts/test.sh` are.
//!
//! The script exports these variables; a plain `cargo test` has none of them, and the
//! end-to-end tests then fail at once with a message saying how to run them.

use std::path::PathBuf;

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set. The end-to-end tests need the real Synapse and PostgreSQL that \
             `bash scripts/test.sh` installs and starts: run the tests with that script"
        ),
    }
}

/// Base URL of the test homeserver, e.g. `http://127.0.0.1:18008`.
pub(crate) fn homeserver() -> String {
    var("MXBRIDGE_TEST_HOMESERVER").trim_end_matches('/').to_owned()
}

/// The homeserver's server name (the part after `:` in user ids), e.g. `localhost`.
pub(crate) fn server_name() -> String {
    var("MXBRIDGE_TEST_SERVER_NAME")
}

/// URL of the throwaway PostgreSQL database, e.g. `postgres://postgres@127.0.0.1:5433/mxbridge_test`.
pub(crate) fn postgres_url() -> String {
    var("MXBRIDGE_TEST_POSTGRES_URL")
}

/// The directory holding the stack's state (servers' data, logs, registrations).
pub(crate) fn stack_dir() -> PathBuf {
    PathBuf::from(var("MXBRIDGE_STACK_DIR"))
}

/// Address of the test IRC server (InspIRCd with Atheme services linked), e.g. `127.0.0.1:16667`.
/// Plain text; NickServ, ChanServ and SASL PLAIN (via SaslServ) are available.
pub(crate) fn irc_server() -> String {
    var("MXBRIDGE_TEST_IRC")
}

/// Client address of the test XMPP server (Prosody, virtual host `localhost`), e.g. `127.0.0.1:15222`.
/// Plain text; users register themselves in-band (XEP-0077). MUC service: `conference.localhost`.
pub(crate) fn xmpp_c2s() -> String {
    var("MXBRIDGE_TEST_XMPP_C2S")
}

/// Address where Prosody accepts XEP-0114 components, e.g. `127.0.0.1:15347`. The component
/// `matrix.localhost` logs in there with [`xmpp_component_secret`].
pub(crate) fn xmpp_component() -> String {
    var("MXBRIDGE_TEST_XMPP_COMPONENT")
}

/// The XEP-0114 secret of the component `matrix.localhost`.
pub(crate) fn xmpp_component_secret() -> String {
    var("MXBRIDGE_TEST_XMPP_SECRET")
}

/// The command that runs the XMPP user driver (`tests/xmpp/driver.py`): the venv's Python
/// and the script, separated by a space (neither path may hold one).
pub(crate) fn xmpp_driver() -> Vec<String> {
    var("MXBRIDGE_TEST_XMPP_DRIVER").split_whitespace().map(str::to_owned).collect()
}
