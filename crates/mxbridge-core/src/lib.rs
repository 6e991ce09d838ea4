//! mxbridge-core: the Matrix application service that every mxbridge network plugs into.
//!
//! A network crate implements [`network::Network`] and [`network::NetworkClient`]; the
//! binary hands it to [`run`] with a validated [`config::Config`]. Everything
//! Matrix-facing (the Appservice API, ghosts, portals, commands, login flows, formatting,
//! the database) lives here and knows nothing about any one network.

pub mod appservice;
mod bridge;
pub mod clock;
pub mod commands;
pub mod config;
pub mod format;
pub mod ids;
pub mod matrix;
pub mod media_links;
pub mod metrics;
pub mod network;
pub mod qr;
pub mod registration;
pub mod secret;
pub mod store;

pub use bridge::{BridgeError, run};
