//! The XMPP network for mxbridge, as an XEP-0114 component.
//!
//! - [`jid`]: XEP-0106 escaping, and the mapping of Matrix users to component JIDs
//!   (`@alice:example.com` ⇄ `alice_example.com@matrix.example.com`) and back.
//! - [`link`]: the component connection with the reconnect loop tokio-xmpp lacks.
//! - [`network`], [`client`], `incoming`: Matrix users as JIDs on the component, MUCs and
//!   direct chats, text both ways.
//! - `gateway`: XMPP users join the homeserver's public rooms as MUCs.
//! - [`styling`]: XEP-0393 styling and XHTML-IM ⇄ the core's rich text.
//! - `mam`, `self_ping`: MUC history (XEP-0313) and membership checks (XEP-0410).
//! - `vcard`, `presence`, `caps`: XMPP users' vCards as ghost profiles (XEP-0054/0153),
//!   Matrix users' presence in MUCs, and entity capabilities on it (XEP-0115).

mod caps;
pub mod client;
pub mod config;
pub mod files;
mod gateway;
mod incoming;
mod iq;
pub mod jid;
pub mod link;
mod mam;
pub mod network;
mod nick_change;
mod presence;
mod replies;
mod rsm;
mod search;
mod self_ping;
pub mod styling;
mod vcard;
pub mod xep;

pub use config::XmppConfig;
pub use network::XmppNetwork;
