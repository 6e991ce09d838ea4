//! Several IRC networks behind one bridge and one bot, like matrix-appservice-irc's
//! `servers:`. Each network is an [`IrcNetwork`] of its own (its puppets, readers, flood
//! control); this routes the core's calls to the right one. Chats, users and logins say
//! which network they belong to: IDs start with `<network>.` ([`crate::ids`]) and login IDs
//! with `<network>:`. Commands take the network's name first (`join oftc #debian`); without
//! one they go to the network of the portal they were sent in, else to the first network.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use mxbridge_core::commands::spec::CommandSpec;
use mxbridge_core::ids::{LoginId, RemoteChatId, RemoteUserId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess, NewLogin};
use mxbridge_core::network::{
    AutoLogins, CommandCall, CommandError, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, StoredLogin,
};
use ruma::UserId;

use crate::config::{IrcConfigError, IrcSection};
use crate::ids::{IdScheme, network_of, network_of_login};
use crate::network::IrcNetwork;

/// Commands that, naming no network, act on every network the user is connected to
/// (`nick` only when it shows the nicks, without arguments).
const ON_EVERY_NETWORK: &[&str] = &["quit", "active", "feature", "listrooms", "nick"];

/// The IRC network(s) of a `network:` section: one [`IrcNetwork`] as before, or several
/// behind [`IrcNetworks`].
pub fn build(section: IrcSection) -> Result<Arc<dyn Network>, IrcConfigError> {
    let mut configs = section.networks()?;
    if configs.len() == 1 {
        return Ok(IrcNetwork::new(configs.remove(0)));
    }
    Ok(Arc::new(IrcNetworks::new(configs.into_iter().map(|c| (c.name.clone(), c)).collect())))
}

/// Several IRC networks as one [`Network`].
pub struct IrcNetworks {
    /// In config order; the first is the default.
    networks: Vec<Arc<IrcNetwork>>,
    auto_logins: OnceLock<Arc<dyn AutoLogins>>,
}

impl IrcNetworks {
    fn new(configs: Vec<(String, crate::IrcConfig)>) -> Self {
        let names: Vec<String> = configs.iter().map(|(name, _)| name.clone()).collect();
        let networks =
            configs.into_iter().map(|(name, config)| IrcNetwork::with_ids(config, IdScheme::named(&name), names.clone())).collect();
        Self { networks, auto_logins: OnceLock::new() }
    }

    /// The network a command, chat or login names.
    fn named(&self, name: &str) -> Option<&Arc<IrcNetwork>> {
        self.networks.iter().find(|n| n.config().name.eq_ignore_ascii_case(name))
    }

    /// The network a command's word names: its name, server or other address. A server
    /// that several networks share names none of them (an error asking for the name).
    fn called(&self, word: &str) -> Result<Option<&Arc<IrcNetwork>>, String> {
        if let Some(network) = self.named(word) {
            return Ok(Some(network));
        }
        let matching: Vec<&Arc<IrcNetwork>> = self.networks.iter().filter(|n| n.config().is_called(word)).collect();
        match matching.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            several => {
                let names: Vec<&str> = several.iter().map(|n| n.config().name.as_str()).collect();
                Err(format!("`{word}` is the address of several networks here ({}): name the one you mean", names.join(", ")))
            }
        }
    }

    fn default_network(&self) -> &Arc<IrcNetwork> {
        &self.networks[0]
    }

    fn of_chat(&self, chat: &RemoteChatId) -> Option<&Arc<IrcNetwork>> {
        network_of(chat.as_str()).and_then(|name| self.named(name))
    }

    fn of_login(&self, login: &LoginId) -> Option<&Arc<IrcNetwork>> {
        network_of_login(login).and_then(|name| self.named(name))
    }

    /// Makes sure the user has a connection to `network` before a command needs it.
    async fn connect_for_command(&self, user: &UserId, network: &IrcNetwork) {
        if network.client_of(user).is_none()
            && let Some(auto) = self.auto_logins.get()
        {
            auto.ensure(user, Some(&network.shared.ids.any_chat())).await;
        }
    }

    async fn run_on(&self, network: &IrcNetwork, call: &CommandCall<'_>, args: &[String]) -> Result<String, CommandError> {
        let call = CommandCall {
            user: call.user,
            name: call.name,
            args,
            client: None,
            portal: call.portal,
            portals: call.portals,
            prefix: call.prefix,
        };
        network.run_command(call).await
    }
}

#[async_trait]
impl Network for IrcNetworks {
    fn info(&self) -> NetworkInfo {
        let list: Vec<String> = self.networks.iter().map(|n| format!("{} ({})", n.config().name, n.config().server)).collect();
        NetworkInfo { id: "irc".into(), display_name: "IRC".into(), description: format!("the IRC networks {}", list.join(", ")) }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        Vec::new()
    }

    fn commands(&self) -> Vec<CommandSpec> {
        self.default_network().commands()
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        let _ = self.auto_logins.set(ctx.auto_logins.clone());
        for network in &self.networks {
            network.start(ctx.clone()).await?;
        }
        Ok(())
    }

    async fn stop(&self) {
        for network in &self.networks {
            network.stop().await;
        }
    }

    fn create_login(&self, user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        self.default_network().create_login(user, flow)
    }

    fn auto_login(&self, user: &UserId, chat: Option<&RemoteChatId>, display_name: Option<&str>) -> Option<NewLogin> {
        let network = match chat {
            Some(chat) => self.of_chat(chat)?,
            None => self.default_network(),
        };
        network.auto_login(user, chat, display_name)
    }

    fn relay_login(&self, bot: &UserId, chat: &RemoteChatId) -> Option<NewLogin> {
        self.of_chat(chat)?.relay_login(bot, chat)
    }

    fn login_serves(&self, login: &LoginId, chat: &RemoteChatId) -> bool {
        match (self.of_login(login), self.of_chat(chat)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn is_network_name(&self, word: &str) -> bool {
        self.called(word).is_ok_and(|n| n.is_some())
    }

    fn literal_alias_starts(&self) -> Vec<String> {
        self.networks.iter().flat_map(|n| n.literal_alias_starts()).collect()
    }

    fn status_room_name(&self, login: &LoginId) -> String {
        match self.of_login(login) {
            Some(network) => network.status_room_name(login),
            None => "IRC Bridge status".into(),
        }
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let Some(network) = self.of_login(&stored.id) else {
            return Err(NetworkError::NotFound(format!(
                "the IRC network of login {} is no longer configured (add it back under network.networks to restore it)",
                stored.id
            )));
        };
        network.load_login(stored, events)
    }

    async fn run_command(&self, call: CommandCall<'_>) -> Result<String, CommandError> {
        let called = match call.args.first() {
            Some(word) => self.called(word).map_err(CommandError::Failed)?,
            None => None,
        };
        if let Some(network) = called {
            self.connect_for_command(call.user, network).await;
            return self.run_on(network, &call, &call.args[1..]).await;
        }
        if ON_EVERY_NETWORK.contains(&call.name) && (call.name != "nick" || call.args.is_empty()) {
            let connected: Vec<&Arc<IrcNetwork>> = self.networks.iter().filter(|n| n.client_of(call.user).is_some()).collect();
            if connected.len() > 1 {
                let mut replies = Vec::new();
                for network in connected {
                    let reply = self.run_on(network, &call, call.args).await.unwrap_or_else(|e| e.to_string());
                    replies.push(format!("{}: {reply}", network.config().name));
                }
                return Ok(replies.join("\n"));
            }
        }
        let network = call.portal.and_then(|p| self.of_chat(&p.chat)).unwrap_or_else(|| self.default_network());
        self.connect_for_command(call.user, network).await;
        self.run_on(network, &call, call.args).await
    }

    fn chat_id(&self, name: &str) -> Option<RemoteChatId> {
        self.default_network().chat_id(name)
    }

    fn chat_id_on(&self, network: Option<&str>, name: &str) -> Option<RemoteChatId> {
        match network {
            Some(network) => self.called(network).ok()??.chat_id(name),
            None => self.chat_id(name),
        }
    }

    fn dm_chat_for(&self, user: &RemoteUserId) -> Option<RemoteChatId> {
        let network = network_of(user.as_str()).and_then(|name| self.named(name))?;
        network.dm_chat_for(user)
    }

    fn chat_for_alias(&self, suffix: &str) -> Option<RemoteChatId> {
        let (name, channel) = suffix.split_once('.')?;
        self.named(name)?.chat_for_alias(channel)
    }

    fn ghost_display_name(&self, remote: &RemoteUserId, name: &str) -> String {
        let network = network_of(remote.as_str()).and_then(|n| self.named(n)).unwrap_or_else(|| self.default_network());
        network.ghost_display_name(remote, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn networks() -> IrcNetworks {
        let config = |name: &str, extra: serde_json::Value| {
            let mut c = serde_json::json!({"name": name, "server": format!("irc.{name}.example")});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            (name.to_owned(), serde_json::from_value(c).unwrap())
        };
        IrcNetworks::new(vec![
            config("libera", serde_json::json!({})),
            config("oftc", serde_json::json!({"excluded_channels": ["#secret"], "dynamic_channels": false})),
        ])
    }

    fn user() -> ruma::OwnedUserId {
        "@alice:hs".try_into().unwrap()
    }

    /// The guide: the status DM is "called IRC Bridge status prepended with the IRC Network
    /// name", also when one bridge serves several networks.
    #[test]
    fn test_the_status_room_names_the_network_of_the_login() {
        let n = networks();
        let oftc = crate::ids::login_id("oftc", &user());
        assert_eq!(n.status_room_name(&oftc), "oftc IRC Bridge status");
        assert_eq!(n.status_room_name(&crate::ids::login_id("libera", &user())), "libera IRC Bridge status");
        assert_eq!(n.status_room_name(&LoginId::new("efnet:@alice:hs".to_owned())), "IRC Bridge status");
    }

    #[test]
    fn test_chats_aliases_and_dms_are_told_apart_by_network() {
        let n = networks();
        assert_eq!(n.chat_id("#Rust").unwrap().as_str(), "libera.#rust", "the first network is the default");
        assert_eq!(n.chat_id_on(Some("OFTC"), "#Debian").unwrap().as_str(), "oftc.#debian");
        assert!(n.chat_id_on(Some("oftc"), "#secret").is_none(), "each network keeps its own exclusions");
        assert!(n.chat_id_on(Some("efnet"), "#x").is_none());
        assert_eq!(n.chat_for_alias("libera.#rust").unwrap().as_str(), "libera.#rust");
        assert!(n.chat_for_alias("oftc.#debian").is_none(), "oftc has no dynamic channels");
        assert!(n.chat_for_alias("#rust").is_none() && n.chat_for_alias("efnet.#rust").is_none());
        assert_eq!(n.dm_chat_for(&RemoteUserId::new("oftc.bob")).unwrap().as_str(), "oftc.bob");
        assert!(n.dm_chat_for(&RemoteUserId::new("bob")).is_none(), "a user of no configured network");
        assert!(n.is_network_name("Libera") && n.is_network_name("oftc") && !n.is_network_name("efnet"));
    }

    #[test]
    fn test_networks_are_named_by_server_address_and_aliases_have_a_literal_form() {
        let n = networks();
        assert!(n.is_network_name("irc.oftc.example"), "by server");
        assert_eq!(n.chat_id_on(Some("IRC.OFTC.example"), "#Debian").unwrap().as_str(), "oftc.#debian");
        assert_eq!(n.literal_alias_starts(), ["libera.#", "libera.&", "oftc.#", "oftc.&"]);
        assert_eq!(n.chat_for_alias("libera.#Rust").unwrap().as_str(), "libera.#rust", "the literal form, as written");
        let shared = IrcNetworks::new(vec![
            ("a".into(), serde_json::from_value(serde_json::json!({"name": "a", "server": "127.0.0.1"})).unwrap()),
            (
                "b".into(),
                serde_json::from_value(serde_json::json!({"name": "b", "server": "127.0.0.1", "addresses": ["irc.b.example"]})).unwrap(),
            ),
        ]);
        assert!(shared.called("127.0.0.1").err().unwrap().contains("a, b"), "a shared server names no one network");
        assert!(!shared.is_network_name("127.0.0.1"));
        let b = shared.called("irc.b.example").unwrap().map(|n| n.config().name.clone());
        assert_eq!(b.as_deref(), Some("b"));
    }

    #[test]
    fn test_each_user_gets_one_login_per_network_and_a_login_serves_only_its_network() {
        let n = networks();
        let oftc_chat = RemoteChatId::new("oftc.#debian");
        let on_oftc = n.auto_login(&user(), Some(&oftc_chat), None).unwrap();
        let default = n.auto_login(&user(), None, None).unwrap();
        assert_eq!(on_oftc.id.as_str(), "oftc:@alice:hs");
        assert_eq!(default.id.as_str(), "libera:@alice:hs");
        assert!(n.login_serves(&on_oftc.id, &oftc_chat));
        assert!(!n.login_serves(&default.id, &oftc_chat));
        assert!(n.login_serves(&default.id, &RemoteChatId::new("libera.#rust")));
        assert!(!n.login_serves(&LoginId::new("efnet:@alice:hs"), &RemoteChatId::new("efnet.#x")));
        let bot: ruma::OwnedUserId = "@ircbot:hs".try_into().unwrap();
        assert_eq!(n.relay_login(&bot, &oftc_chat).unwrap().id.as_str(), "oftc:@ircbot:hs");
    }

    #[test]
    fn test_one_network_stays_a_plain_irc_network_with_bare_ids() {
        let one: IrcSection = serde_json::from_value(serde_json::json!({"name": "libera", "server": "x"})).unwrap();
        let network = build(one).unwrap();
        assert_eq!(network.chat_id("#Rust").unwrap().as_str(), "#rust", "existing bridges keep their portals");
        let two: IrcSection =
            serde_json::from_value(serde_json::json!({"networks": [{"name": "a", "server": "x"}, {"name": "b", "server": "y"}]})).unwrap();
        assert_eq!(build(two).unwrap().chat_id("#Rust").unwrap().as_str(), "a.#rust");
    }
}
