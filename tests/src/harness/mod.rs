//! Helpers for end-to-end tests: the stack's addresses, a Matrix test client, waiting.

pub(crate) mod env;
pub(crate) mod matrix_client;
pub(crate) mod wait;
