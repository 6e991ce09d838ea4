//! The IRC network for mxbridge.
//!
//! This first part holds what keeps IRC safe and readable whatever the connection code
//! does: [`sanitize`] (no CR, LF or NUL ever reaches a line; lines split to fit the 512-byte
//! limit, never inside a UTF-8 sequence), [`nick`] (Matrix names to valid, unique IRC nicks)
//! and [`format`] (mIRC formatting codes ⇄ the core's rich text). The connector that runs
//! one IRC connection per Matrix user builds on these.

pub mod connection;
pub mod format;
pub mod nick;
pub mod sanitize;
