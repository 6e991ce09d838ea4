//! Answers to the homeserver's user, alias and third-party queries.

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{RoomAliasId, UserId};
use serde_json::{Value, json};

use super::Bridge;
use crate::appservice::{AppserviceHandler, LookupKind, QueryError};
use crate::ids::{PortalKey, RemoteUserId};
use crate::matrix::ghost_id::Template;

pub(crate) struct Queries(pub(crate) Arc<Bridge>);

impl Bridge {
    /// The canonical alias localpart of a chat's portal, if aliases are configured: the
    /// network's literal form when it has one for this chat (IRC's `_irc_#rust`, the alias
    /// matrix-appservice-irc gives its portals), else the escaped id.
    pub(crate) fn alias_localpart(&self, chat: &str) -> Option<String> {
        let template = self.config.alias_template.as_ref()?;
        let domain = self.config.domain.as_str();
        let literal = template.literal_localpart(chat, domain, &self.network.literal_alias_starts());
        Some(literal.unwrap_or_else(|| template.localpart(chat, domain)))
    }

    /// The chat text an alias localpart names: written literally, or escaped.
    fn alias_suffix(&self, template: &Template, localpart: &str) -> Option<String> {
        template.literal_id(localpart, &self.network.literal_alias_starts()).or_else(|| template.remote_id(localpart))
    }
}

#[async_trait]
impl AppserviceHandler for Queries {
    async fn query_user(&self, user: &UserId) -> Result<bool, QueryError> {
        let b = &self.0;
        if user.server_name() != b.config.domain {
            return Ok(false);
        }
        let remote = match b.store.ghost_by_user_id(user).await {
            Ok(Some(g)) => g.remote_id,
            _ => match b.config.username_template.remote_id(user.localpart()) {
                Some(r) => r,
                None => return Ok(false),
            },
        };
        let remote = RemoteUserId::new(remote);
        if b.ghost_user_id(&remote) != user {
            // Not the canonical form of any remote id (e.g. a different escaping).
            return Ok(false);
        }
        b.ensure_ghost(&remote, None).await.map(|_| true).map_err(|e| QueryError(e.to_string()))
    }

    async fn query_alias(&self, alias: &RoomAliasId) -> Result<bool, QueryError> {
        let b = &self.0;
        let Some(template) = &b.config.alias_template else { return Ok(false) };
        if alias.server_name() != b.config.domain {
            return Ok(false);
        }
        let Some(suffix) = b.alias_suffix(template, alias.alias()) else { return Ok(false) };
        let Some(chat) = b.network.chat_for_alias(&suffix) else { return Ok(false) };
        let looked_up = match b.network.lookup_chat(&chat).await {
            Ok(found) => found,
            Err(e) => {
                tracing::info!(alias = %alias, error = %e, "an alias names no chat the network could find");
                return Ok(false);
            }
        };
        let key = PortalKey::shared(chat);
        let info = match looked_up {
            Some(info) => info,
            None => {
                let any_login = b.logins.lock().expect("lock").keys().next().cloned();
                b.chat_info_via(any_login.as_ref(), &key).await
            }
        };
        let canonical = b.alias_localpart(key.chat.as_str());
        let (row, created) = b.ensure_portal(&key, &info, None, true).await.map_err(|e| QueryError(e.to_string()))?;
        if created && let Some(room) = &row.room_id {
            // A network may accept more than one alias form for a chat (XMPP's `room_host`
            // beside the escaped JID, IRC's `#_irc_#rust` beside `#_irc_=23rust`): the new
            // portal has the canonical alias, and the one asked about must lead there too,
            // as must the escaped form when the canonical one is literal.
            let escaped = template.localpart(key.chat.as_str(), b.config.domain.as_str());
            let mut others = vec![alias.to_owned()];
            if let Ok(escaped) = RoomAliasId::parse(format!("#{escaped}:{}", b.config.domain)) {
                others.push(escaped);
            }
            others.dedup();
            for other in others.iter().filter(|a| canonical.as_deref() != Some(a.alias())) {
                b.matrix.set_alias(other, room).await.map_err(|e| QueryError(e.to_string()))?;
            }
        }
        // A plumbed or mapped room belongs to its admins, who chose who may join it: the alias
        // does not lead there, and the homeserver answers "not found" as for any other room.
        if !created && row.plumbed {
            return Ok(false);
        }
        if !created && let Some(room) = &row.room_id {
            // A portal made another way (a command, a message) has no alias yet and is
            // invite-only: publish the alias and let anyone join by it, as with new portals.
            b.matrix.set_alias(alias, room).await.map_err(|e| QueryError(e.to_string()))?;
            b.matrix
                .send_state(room, &b.config.bot_user_id, "m.room.join_rules", "", &json!({"join_rule": "public"}))
                .await
                .map_err(|e| QueryError(e.to_string()))?;
        }
        Ok(true)
    }

    fn protocol(&self, protocol: &str) -> Option<Value> {
        let b = &self.0;
        (protocol == b.info.id).then(|| {
            json!({
                "user_fields": ["user"],
                "location_fields": ["chat"],
                "icon": "",
                "field_types": {
                    "user": {"regexp": ".+", "placeholder": "remote user id"},
                    "chat": {"regexp": ".+", "placeholder": "remote chat id"},
                },
                "instances": [{"desc": b.info.display_name, "fields": {}, "network_id": b.info.id}],
            })
        })
    }

    async fn thirdparty_lookup(&self, kind: LookupKind, protocol: Option<&str>, fields: &[(String, String)]) -> Vec<Value> {
        let b = &self.0;
        if protocol.is_some_and(|p| p != b.info.id) {
            return Vec::new();
        }
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        match kind {
            LookupKind::User => {
                let remote = match (field("user"), field("userid")) {
                    (Some(u), _) => Some(u),
                    (None, Some(uid)) => UserId::parse(uid.as_str()).ok().and_then(|u| b.config.username_template.remote_id(u.localpart())),
                    _ => None,
                };
                remote
                    .map(|r| {
                        vec![
                            json!({"userid": b.ghost_user_id(&RemoteUserId::new(r.clone())), "protocol": b.info.id, "fields": {"user": r}}),
                        ]
                    })
                    .unwrap_or_default()
            }
            LookupKind::Location => {
                let chat = match (field("chat"), field("alias")) {
                    (Some(c), _) => Some(c),
                    (None, Some(a)) => {
                        RoomAliasId::parse(a.as_str()).ok().and_then(|a| b.alias_suffix(b.config.alias_template.as_ref()?, a.alias()))
                    }
                    _ => None,
                };
                chat.and_then(|c| b.alias_localpart(&c).map(|lp| (c, lp)))
                    .map(|(c, lp)| {
                        vec![json!({"alias": format!("#{lp}:{}", b.config.domain), "protocol": b.info.id, "fields": {"chat": c}})]
                    })
                    .unwrap_or_default()
            }
        }
    }
}
