//! A chat's recent messages for its new portal (the core's `Backfill`), read from Telegram's
//! history and converted like live messages.

use async_trait::async_trait;
use mxbridge_core::ids::PortalKey;
use mxbridge_core::network::event::HistoryMessage;
use mxbridge_core::network::{Backfill, NetworkError};

use super::{TelegramClient, peer_of, sender, to_network_error};
use crate::convert::{MentionMap, to_content};
use crate::ids;

#[async_trait]
impl Backfill for TelegramClient {
    async fn recent_messages(&self, portal: &PortalKey, limit: usize) -> Result<Vec<HistoryMessage>, NetworkError> {
        let peer = peer_of(portal)?;
        let mut messages = self.inner.flood.run("history", || self.inner.account.history(peer, limit)).await.map_err(to_network_error)?;
        let mut history = Vec::with_capacity(messages.len());
        for m in &mut messages {
            self.inner.learn(&m.sender);
            self.inner.resolve_mentions(&mut m.text).await;
            let to_matrix = |id: i64| self.inner.matrix_id_of(id);
            let to_telegram = |u: &str| self.inner.telegram_id_of(u);
            let mentions = MentionMap { to_matrix: &to_matrix, to_telegram: &to_telegram };
            history.push(HistoryMessage {
                sender: sender(&m.sender, m.outgoing),
                id: ids::message_id(m.id),
                timestamp_ms: m.date * 1000,
                content: to_content(m, &mentions),
                reply_to: m.reply_to.map(ids::message_id),
            });
        }
        Ok(history)
    }
}
