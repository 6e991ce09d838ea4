//! The IRC network: every Matrix user gets their own IRC connection (a puppet), created on
//! demand without a login step; the bot has one too, to relay in plumbed rooms.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mxbridge_core::clock::now_ms;
use mxbridge_core::commands::spec::CommandSpec;
use mxbridge_core::ids::{LoginId, RemoteChatId, RemoteUserId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess, NewLogin};
use mxbridge_core::network::{CommandCall, CommandError, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, StoredLogin};
use mxbridge_core::secret::Secret;
use ruma::UserId;

use crate::client::{IrcClient, Shared};
use crate::config::IrcConfig;
use crate::ids::IdScheme;
use crate::nick;

/// How often idle puppets are looked for.
const IDLE_SWEEP: Duration = Duration::from_secs(60);

/// The IRC network.
pub struct IrcNetwork {
    pub(crate) shared: Arc<Shared>,
}

impl IrcNetwork {
    /// A network from its config section.
    pub fn new(config: IrcConfig) -> Arc<Self> {
        let names = vec![config.name.clone()];
        Self::with_ids(config, IdScheme::bare(), names)
    }

    /// One of several networks of a bridge (all named in `names`): its IDs start with its
    /// name.
    pub(crate) fn with_ids(config: IrcConfig, ids: IdScheme, names: Vec<String>) -> Arc<Self> {
        Arc::new(Self { shared: Shared::new(config, ids, names) })
    }

    pub(crate) fn config(&self) -> &IrcConfig {
        &self.shared.config
    }

    /// The connection of a Matrix user, if they have one.
    pub fn client_of(&self, user: &UserId) -> Option<IrcClient> {
        self.shared.client_of(user.as_str())
    }
}

/// Whether a name is an IRC channel.
pub fn is_channel(name: &str) -> bool {
    name.starts_with(['#', '&']) && name.len() > 1 && !name.contains([' ', ',', '\x07', '\r', '\n', '\0'])
}

#[async_trait]
impl Network for IrcNetwork {
    fn info(&self) -> NetworkInfo {
        NetworkInfo {
            id: "irc".into(),
            display_name: "IRC".into(),
            description: format!("the IRC network {} ({})", self.config().name, self.config().server),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        Vec::new()
    }

    fn commands(&self) -> Vec<CommandSpec> {
        crate::commands::specs(self.config())
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        let _ = self.shared.sessions.set(ctx.sessions);
        let _ = self.shared.links.set(ctx.links);
        if self.config().idle_timeout_secs > 0 {
            let shared = Arc::downgrade(&self.shared);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(IDLE_SWEEP).await;
                    let Some(shared) = shared.upgrade() else { return };
                    let now = now_ms();
                    let idle: Vec<IrcClient> = shared.clients.lock().expect("lock").values().filter(|c| c.is_idle(now)).cloned().collect();
                    for client in idle {
                        tracing::info!(login = %client.login(), "disconnecting an idle puppet");
                        client.stop("Idle for too long").await;
                    }
                }
            });
        }
        Ok(())
    }

    fn create_login(&self, _user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        Err(LoginError::UnknownFlow(format!("{flow} (IRC connects you automatically when you join a channel)")))
    }

    fn auto_login(&self, user: &UserId, _chat: Option<&RemoteChatId>, display_name: Option<&str>) -> Option<NewLogin> {
        let wanted = nick::from_template(&self.config().nick_template, display_name, user.localpart(), nick::DEFAULT_NICKLEN);
        Some(NewLogin {
            id: crate::ids::login_id(&self.config().name, user),
            remote_name: wanted.clone(),
            metadata: serde_json::json!({"nick": wanted}),
            secret: Secret::new(Vec::new()),
        })
    }

    fn relay_login(&self, bot: &UserId, _chat: &RemoteChatId) -> Option<NewLogin> {
        let nick = nick::sanitize(&self.config().bot_nick, nick::DEFAULT_NICKLEN).unwrap_or_else(|| "MatrixBridge".into());
        Some(NewLogin {
            id: crate::ids::login_id(&self.config().name, bot),
            remote_name: nick.clone(),
            metadata: serde_json::json!({"nick": nick}),
            secret: Secret::new(Vec::new()),
        })
    }

    fn is_network_name(&self, word: &str) -> bool {
        self.config().is_called(word)
    }

    fn literal_alias_starts(&self) -> Vec<String> {
        // Channels as written, as matrix-appservice-irc's aliases have them (`#_irc_#rust`).
        ["#", "&"].iter().map(|sigil| self.shared.ids.channel(sigil).as_str().to_owned()).collect()
    }

    fn ghost_display_name(&self, _remote: &RemoteUserId, name: &str) -> String {
        self.config().display_name(name)
    }

    fn status_room_name(&self, _login: &LoginId) -> String {
        format!("{} IRC Bridge status", self.config().name)
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let nick = stored.metadata["nick"].as_str().map(str::to_owned).unwrap_or_else(|| stored.remote_name.clone());
        let user = stored.user.to_string();
        self.shared.puppets.rename(&nick, &nick, &user);
        let client = IrcClient::new(self.shared.clone(), user.clone(), nick, events);
        self.shared.clients.lock().expect("lock").insert(user, client.clone());
        Ok(Arc::new(client))
    }

    async fn run_command(&self, call: CommandCall<'_>) -> Result<String, CommandError> {
        crate::commands::run(self, call).await
    }

    fn chat_for_alias(&self, suffix: &str) -> Option<RemoteChatId> {
        self.chat_id(suffix).filter(|_| self.config().dynamic_channels)
    }

    fn chat_id(&self, name: &str) -> Option<RemoteChatId> {
        (is_channel(name) && !self.config().is_excluded(name)).then(|| self.shared.ids.channel(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(extra: serde_json::Value) -> Arc<IrcNetwork> {
        let mut config = serde_json::json!({"name": "libera", "server": "irc.example", "excluded_channels": ["#Staff"]});
        config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        IrcNetwork::new(serde_json::from_value(config).unwrap())
    }

    #[test]
    fn test_channel_ids_are_casefolded_and_excluded_channels_are_never_bridged() {
        let n = network(serde_json::json!({}));
        assert_eq!(n.chat_id("#Rust[]").unwrap().as_str(), "#rust{}", "one portal however the channel is spelled");
        assert!(n.chat_id("#staff").is_none() && n.chat_for_alias("#STAFF").is_none(), "excluded, in any case");
        assert!(n.chat_id("rust").is_none(), "not a channel");
        assert_eq!(n.chat_for_alias("#rust").unwrap().as_str(), "#rust");
    }

    #[test]
    fn test_the_first_nick_is_the_display_name_with_the_marker() {
        let n = network(serde_json::json!({}));
        let user = UserId::parse("@alice:example.org").unwrap();
        let named = n.auto_login(&user, None, Some("Alice Smith")).unwrap();
        assert_eq!((named.remote_name.as_str(), &named.metadata["nick"]), ("AliceSmith[m]", &serde_json::json!("AliceSmith[m]")));
        assert_eq!(n.auto_login(&user, None, None).unwrap().remote_name, "alice[m]", "without a display name, the localpart");
        let by_localpart = network(serde_json::json!({"nick_template": "{localpart}-m"}));
        assert_eq!(by_localpart.auto_login(&user, None, Some("Alice Smith")).unwrap().remote_name, "alice-m");
    }

    #[test]
    fn test_without_dynamic_channels_aliases_create_nothing_but_plumbing_still_works() {
        let n = network(serde_json::json!({"dynamic_channels": false}));
        assert!(n.chat_for_alias("#rust").is_none());
        assert!(n.chat_id("#rust").is_some(), "an admin may still plumb it");
        assert!(n.is_network_name("LIBERA") && n.is_network_name("irc.example") && !n.is_network_name("oftc"));
        assert_eq!(n.literal_alias_starts(), ["#", "&"], "a bridge of one network has its channels as written in aliases");
        assert_eq!(n.status_room_name(&LoginId::new("libera:@a:hs".to_owned())), "libera IRC Bridge status");
    }
}
