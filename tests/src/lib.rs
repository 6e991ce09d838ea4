#![cfg(test)]
//! End-to-end tests against the real servers `scripts/test.sh` starts.

mod admin_media_e2e;
mod core_e2e;
mod demo_bridge;
mod dm_invites_e2e;
mod harness;
mod irc_connection;
mod irc_e2e;
mod irc_flows_e2e;
mod irc_guide_e2e;
mod irc_mappings_e2e;
mod irc_networks_e2e;
mod irc_nicks_e2e;
mod irc_server_restart;
mod irc_stack_smoke;
mod media_links_e2e;
mod metrics_e2e;
mod restart_e2e;
mod stack_smoke;
mod telegram_sim_e2e;
mod whatsapp_sim_e2e;
mod xmpp_e2e;
mod xmpp_guide_e2e;
mod xmpp_mappings_e2e;
mod xmpp_profiles;
mod xmpp_restarts;
mod xmpp_stack_smoke;
