//! Talking to the homeserver: ghost IDs and the Client-Server API.

pub mod ghost_id;
pub mod intent;
mod media;
mod rooms;
