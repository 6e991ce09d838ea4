//! The IRC network for mxbridge: every Matrix user gets their own IRC connection.
//!
//! - [`sanitize`]: no CR, LF or NUL ever reaches a line; lines split to fit the 512-byte
//!   limit, never inside a UTF-8 sequence.
//! - [`nick`]: Matrix names to valid, unique IRC nicks.
//! - [`format`]: mIRC formatting codes ⇄ the core's rich text.
//! - [`connection`]: one connection: IRCv3 capabilities, SASL, typed commands.
//! - [`pacing`]: flood control, a token bucket in front of every connection.
//! - [`client`]: a Matrix user's puppet connection: state, reconnects, persistence; what
//!   it hears and says is in `incoming` and `outgoing`.
//! - [`mentions`], [`recent`]: nicks ⇄ pills, and quoting the line a reply answers.
//! - [`network`]: the `Network`: puppets on demand, `join`, alias queries for channels.
//! - [`networks`]: several IRC networks behind one bridge (`networks:`), each with its own
//!   puppets, its IDs told apart by the network's name (`ids`).

pub mod client;
mod commands;
pub mod config;
pub mod connection;
mod display_name;
pub mod format;
mod ids;
mod incoming;
pub mod mentions;
pub mod network;
pub mod networks;
pub mod nick;
mod outgoing;
pub mod pacing;
pub mod recent;
pub mod sanitize;
pub mod time;

pub use config::{IrcConfig, IrcSection};
pub use network::IrcNetwork;
pub use networks::build;
