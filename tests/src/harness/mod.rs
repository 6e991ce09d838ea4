//! Helpers for end-to-end tests: the stack's addresses, a Matrix test client, real XMPP users,
//! waiting.

pub(crate) mod env;
pub(crate) mod invites;
pub(crate) mod matrix_client;
pub(crate) mod wait;
pub(crate) mod xmpp_user;

/// Process-wide setup every test needs before it makes an HTTP client: one rustls
/// provider (reqwest is built without a default one), and bridge logs in test output.
pub(crate) fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
}
