//! Where the servers started by `scripts/test.sh` are.

/// Base URL of the test homeserver.
pub(crate) fn homeserver() -> String {
    std::env::var("MXBRIDGE_TEST_HOMESERVER")
        .expect("MXBRIDGE_TEST_HOMESERVER is not set: run the tests with `bash scripts/test.sh`, which starts Synapse")
}
