//! The IRC network: every Matrix user gets their own IRC connection (a puppet), created on
//! demand without a login step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use mxbridge_core::commands::spec::{CommandSpec, HelpSection};
use mxbridge_core::ids::{LoginId, RemoteChatId};
use mxbridge_core::network::event::EventSink;
use mxbridge_core::network::login::{LoginError, LoginFlow, LoginProcess, NewLogin};
use mxbridge_core::network::{
    CommandCall, CommandError, Network, NetworkClient, NetworkContext, NetworkError, NetworkInfo, SessionStore, StoredLogin,
};
use mxbridge_core::secret::Secret;
use ruma::UserId;

use crate::client::{IrcClient, Puppets};
use crate::config::IrcConfig;
use crate::nick;

/// The IRC network.
pub struct IrcNetwork {
    config: IrcConfig,
    /// The client of each Matrix user, for network commands.
    clients: Mutex<HashMap<String, Arc<IrcClient>>>,
    /// Where stored passwords and account names live (encrypted by the core).
    sessions: OnceLock<SessionStore>,
    puppets: Puppets,
}

impl IrcNetwork {
    /// A network from its config section.
    pub fn new(config: IrcConfig) -> Arc<Self> {
        Arc::new(Self { config, clients: Mutex::new(HashMap::new()), sessions: OnceLock::new(), puppets: Puppets::default() })
    }
}

/// Session-store key of the stored password.
pub(crate) const PASSWORD_KEY: &str = "password";
/// Session-store key of the account name used with it.
pub(crate) const ACCOUNT_KEY: &str = "account";

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
            description: format!("the IRC network {} ({})", self.config.name, self.config.server),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        Vec::new()
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![
            CommandSpec::new("join", "<#channel>", "Join an IRC channel; you are invited to its room", HelpSection::Network).login(),
            CommandSpec::new("nick", "[new nick]", "Change your IRC nick, or show it", HelpSection::Network).login(),
            CommandSpec::new(
                "storepass",
                "<password>",
                "Store your NickServ/SASL password (encrypted); used from the next connection",
                HelpSection::Network,
            )
            .login()
            .secret(),
            CommandSpec::new("removepass", "", "Forget your stored password", HelpSection::Network).login(),
            CommandSpec::new(
                "username",
                "<account>",
                "Set the account name used with your password (default: your nick)",
                HelpSection::Network,
            )
            .login(),
            CommandSpec::new("reconnect", "", "Reconnect to IRC, e.g. to log in with a stored password", HelpSection::Network).login(),
        ]
    }

    async fn start(&self, ctx: NetworkContext) -> Result<(), NetworkError> {
        let _ = self.sessions.set(ctx.sessions);
        Ok(())
    }

    fn create_login(&self, _user: &UserId, flow: &str) -> Result<Box<dyn LoginProcess>, LoginError> {
        Err(LoginError::UnknownFlow(format!("{flow} (IRC connects you automatically when you join a channel)")))
    }

    fn auto_login(&self, user: &UserId) -> Option<NewLogin> {
        let wanted = nick::from_template(&self.config.nick_template, None, user.localpart(), nick::DEFAULT_NICKLEN);
        Some(NewLogin {
            id: LoginId::new(format!("{}:{user}", self.config.name)),
            remote_name: wanted.clone(),
            metadata: serde_json::json!({"nick": wanted}),
            secret: Secret::new(Vec::new()),
        })
    }

    fn load_login(&self, stored: StoredLogin, events: EventSink) -> Result<Arc<dyn NetworkClient>, NetworkError> {
        let nick = stored.metadata["nick"].as_str().map(str::to_owned).unwrap_or_else(|| stored.remote_name.clone());
        let client = Arc::new(IrcClient::new(self.config.clone(), nick, events, self.sessions.get().cloned(), self.puppets.clone()));
        self.clients.lock().expect("lock").insert(stored.user.to_string(), client.clone());
        Ok(client)
    }

    async fn run_command(&self, call: CommandCall<'_>) -> Result<String, CommandError> {
        match call.name {
            "join" => {
                let [channel] = call.args else { return Err(CommandError::Usage("join <#channel>".into())) };
                if !is_channel(channel) {
                    return Err(CommandError::Failed(format!("`{channel}` is not a channel name: channels start with #")));
                }
                let irc = self.clients.lock().expect("lock").get(call.user.as_str()).cloned();
                let irc = irc.ok_or_else(|| CommandError::Failed("you have no IRC connection yet; try again in a moment".into()))?;
                irc.join(channel);
                Ok(format!("Joining {channel} as {}; you will be invited to its room.", irc.nick()))
            }
            "nick" => {
                let irc = self.clients.lock().expect("lock").get(call.user.as_str()).cloned();
                let irc = irc.ok_or_else(|| CommandError::Failed("you have no IRC connection yet; try again in a moment".into()))?;
                match call.args {
                    [] => Ok(format!("Your nick on {} is {}.", self.config.name, irc.nick())),
                    [wanted] => {
                        let Some(valid) = nick::sanitize(wanted, nick::DEFAULT_NICKLEN).filter(|n| n == wanted) else {
                            return Err(CommandError::Failed(format!(
                                "`{wanted}` is not a valid IRC nick: use letters, digits and []\\`_^{{|}}-, not starting with a digit"
                            )));
                        };
                        irc.change_nick(&valid).map_err(|e| CommandError::Failed(e.user_message()))?;
                        Ok(format!("Asked {} for the nick {valid}.", self.config.name))
                    }
                    _ => Err(CommandError::Usage("nick [new nick]".into())),
                }
            }
            "storepass" | "removepass" | "username" | "reconnect" => {
                let irc = self.clients.lock().expect("lock").get(call.user.as_str()).cloned();
                let irc = irc.ok_or_else(|| CommandError::Failed("you have no IRC connection yet; try again in a moment".into()))?;
                let sessions =
                    self.sessions.get().ok_or_else(|| CommandError::Failed("the bridge has not finished starting; try again".into()))?;
                let login = irc.login();
                let store = |key: &'static str, value: Option<String>| async move {
                    match value {
                        Some(v) => sessions.set(&login, key, v.as_bytes()).await,
                        None => sessions.delete(&login, key).await,
                    }
                    .map_err(|e| CommandError::Failed(e.to_string()))
                };
                match (call.name, call.args) {
                    ("storepass", [password]) => {
                        store(PASSWORD_KEY, Some(crate::sanitize::word(password))).await?;
                        Ok("Password stored (encrypted). Send `reconnect` to log in with it now.".into())
                    }
                    ("removepass", []) => {
                        store(PASSWORD_KEY, None).await?;
                        Ok("Password removed.".into())
                    }
                    ("username", [account]) => {
                        store(ACCOUNT_KEY, Some(crate::sanitize::word(account))).await?;
                        Ok(format!("Account name set to {}.", crate::sanitize::word(account)))
                    }
                    ("reconnect", []) => {
                        irc.reconnect();
                        Ok(format!("Reconnecting to {}.", self.config.name))
                    }
                    ("storepass", _) => Err(CommandError::Usage("storepass <password>".into())),
                    ("username", _) => Err(CommandError::Usage("username <account>".into())),
                    (name, _) => Err(CommandError::Usage(name.to_owned())),
                }
            }
            _ => Err(CommandError::Unknown),
        }
    }

    fn chat_for_alias(&self, suffix: &str) -> Option<RemoteChatId> {
        is_channel(suffix).then(|| RemoteChatId::new(suffix))
    }
}
