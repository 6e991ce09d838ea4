//! The IRC bot commands (matrix-appservice-irc's set): `join`, `nick`, `quit`, `active`,
//! `cmd`, `feature`, `storepass`, `removepass`, `username`, `reconnect`, `bridgeversion`,
//! `listrooms`, `whois`. Every command takes an optional network name first, like bridges
//! that serve several networks.

use std::time::Duration;

use irc::proto::Command;
use mxbridge_core::commands::spec::{CommandSpec, HelpSection};
use mxbridge_core::ids::PortalKey;
use mxbridge_core::network::event::RemoteEvent;
use mxbridge_core::network::{CommandCall, CommandError};
use tokio::sync::oneshot;

use crate::client::{IrcClient, PendingWhois, keys};
use crate::config::IrcConfig;
use crate::network::{IrcNetwork, is_channel};
use crate::nick;
use crate::sanitize;

/// Registration and connection-state commands `cmd` refuses: they would break the
/// puppet's connection behind the bridge's back.
const REFUSED_RAW: &[&str] = &["CAP", "USER", "PASS", "AUTHENTICATE", "SERVER", "SERVICE", "QUIT", "NICK", "JOIN", "PART"];

/// How long `whois` and `reconnect` wait for the server.
const SERVER_WAIT: Duration = Duration::from_secs(20);

pub(crate) fn specs(config: &IrcConfig) -> Vec<CommandSpec> {
    let net = HelpSection::Network;
    let mut specs = vec![
        CommandSpec::new("join", "[net] <#channel> [key]", "Join an IRC channel; you are invited to its room", net).login(),
        CommandSpec::new("nick", "[net] [new nick]", "Change your IRC nick, or show it", net).login(),
        CommandSpec::new("quit", "", "Leave all bridged channels and disconnect from IRC", net).login(),
        CommandSpec::new("active", "[on|off]", "Keep your connection even when you are idle (or stop keeping it)", net).login(),
        CommandSpec::new("feature", "<mentions> [true|false|default]", "Turn a feature on or off for you; no value shows it", net).login(),
        CommandSpec::new(
            "storepass",
            "[net] <password>",
            "Store your NickServ/SASL password (encrypted); used from the next connection",
            net,
        )
        .login()
        .secret(),
        CommandSpec::new("removepass", "[net]", "Forget your stored password", net).login(),
        CommandSpec::new("username", "[net] <account>", "Set the account name used with your password (default: your nick)", net).login(),
        CommandSpec::new("reconnect", "[net]", "Reconnect to IRC, e.g. to log in with a stored password", net).login(),
        CommandSpec::new("listrooms", "[net]", "List your channels and their rooms", net).login(),
        CommandSpec::new("whois", "[net] <nick|@user:server>", "Who is behind an IRC nick or a Matrix user's puppet", net).login(),
        CommandSpec::new("bridgeversion", "", "Show the bridge's version", HelpSection::General),
    ];
    if config.allow_raw_commands {
        specs.push(CommandSpec::new("cmd", "[net] <COMMAND> [args...]", "Send a raw IRC command (answers only on failure)", net).login());
    }
    specs
}

pub(crate) async fn run(network: &IrcNetwork, call: CommandCall<'_>) -> Result<String, CommandError> {
    let config = network.config();
    let args = strip_network(config, &network.shared.network_names, call.name, call.args)?;
    if call.name == "bridgeversion" {
        return Ok(format!("mxbridge {} (IRC: {} at {})", env!("CARGO_PKG_VERSION"), config.name, config.server));
    }
    let irc =
        network.client_of(call.user).ok_or_else(|| CommandError::Failed("you have no IRC connection yet; try again in a moment".into()))?;
    irc.touch();
    match (call.name, args) {
        ("join", [channel] | [channel, _]) => join(network, &irc, channel, args.get(1)),
        ("join", _) => Err(CommandError::Usage("join [net] <#channel> [key]".into())),
        // The nick comes last: people and tests read it from the end of the line.
        ("nick", []) => Ok(format!("To change it, send {}. Your nick on {} is {}.", call.cmd("nick <new nick>"), config.name, irc.nick())),
        ("nick", [wanted]) => {
            let Some(valid) = nick::sanitize(wanted, nick::DEFAULT_NICKLEN).filter(|n| n == wanted) else {
                return Err(CommandError::Failed(format!(
                    "`{wanted}` is not a valid IRC nick: use letters, digits and []\\`_^{{|}}-, not starting with a digit"
                )));
            };
            irc.choose_nick(&valid).await.map_err(|e| CommandError::Failed(e.user_message()))?;
            Ok(format!("Asked {} for the nick {valid}.", config.name))
        }
        ("nick", _) => Err(CommandError::Usage("nick [net] [new nick]".into())),
        ("quit", []) => {
            let channels = irc.quit().await;
            for channel in &channels {
                let chat = PortalKey::shared(irc.inner.shared.ids.channel(channel));
                irc.inner.events.send(RemoteEvent::Removed { chat, by: None, reason: "you sent `quit`".into() });
            }
            Ok(format!(
                "Disconnected from {} and left {} channel(s). Send {} to come back.",
                config.name,
                channels.len(),
                call.cmd("join <#channel>")
            ))
        }
        ("active", [] | [_]) => {
            let on = match args.first().map(|a| a.to_ascii_lowercase()) {
                None => true,
                Some(a) if a == "on" || a == "true" => true,
                Some(a) if a == "off" || a == "false" => false,
                Some(_) => return Err(CommandError::Usage("active [on|off]".into())),
            };
            irc.inner.always_active.store(on, std::sync::atomic::Ordering::Relaxed);
            irc.inner.set_flag(keys::ALWAYS_ACTIVE, on).await;
            irc.ensure_running();
            Ok(if on {
                format!("Your IRC connection stays up even when you are idle. Send {} to undo.", call.cmd("active off"))
            } else if config.idle_timeout_secs > 0 {
                format!("Your IRC connection will be closed after {} minutes without activity.", config.idle_timeout_secs / 60)
            } else {
                "This bridge never disconnects idle users anyway.".to_owned()
            })
        }
        ("feature", [name, rest @ ..]) if name.eq_ignore_ascii_case("mentions") && rest.len() <= 1 => {
            feature_mentions(network, &irc, rest).await
        }
        ("feature", _) => Err(CommandError::Usage("feature mentions [true|false|default]".into())),
        ("storepass", [password]) => {
            store(&irc, keys::PASSWORD, Some(sanitize::word(password))).await?;
            Ok(format!("Password stored (encrypted). Send {} to log in with it now.", call.cmd("reconnect")))
        }
        ("storepass", _) => Err(CommandError::Usage("storepass [net] <password>".into())),
        ("removepass", []) => {
            store(&irc, keys::PASSWORD, None).await?;
            Ok("Password removed.".into())
        }
        ("username", [account]) => {
            store(&irc, keys::ACCOUNT, Some(sanitize::word(account))).await?;
            Ok(format!("Account name set to {}.", sanitize::word(account)))
        }
        ("username", _) => Err(CommandError::Usage("username [net] <account>".into())),
        ("reconnect", []) => match irc.reconnect(SERVER_WAIT).await {
            Some(link) => {
                let auth = match link.sasl {
                    crate::connection::SaslOutcome::Succeeded => " and logged in with SASL",
                    crate::connection::SaslOutcome::Failed => {
                        ", but the server refused your stored password (check `username` and `storepass`)"
                    }
                    crate::connection::SaslOutcome::NotTried => "",
                };
                Ok(format!("Reconnected to {} as {}{auth}.", config.name, irc.nick()))
            }
            None => Ok(format!("Reconnecting to {}; it is taking a while, I will tell you when it is back.", config.name)),
        },
        ("listrooms", []) => list_rooms(&irc, &call).await,
        ("whois", [who]) => whois(network, &irc, who).await,
        ("whois", _) => Err(CommandError::Usage("whois [net] <nick|@user:server>".into())),
        ("cmd", [verb, params @ ..]) if config.allow_raw_commands => raw(&irc, verb, params),
        ("cmd", _) => Err(CommandError::Usage("cmd [net] <COMMAND> [args...]".into())),
        (name, _) if matches!(name, "removepass" | "reconnect" | "listrooms" | "quit") => Err(CommandError::Usage(name.to_owned())),
        _ => Err(CommandError::Unknown),
    }
}

/// The arguments without a leading word naming this network (its name, server or other
/// address: `join irc.example.net #rust`); a leading word that names another network
/// (`known` lists all of this bridge's) is an error, not a channel.
fn strip_network<'a>(own: &IrcConfig, known: &[String], command: &str, args: &'a [String]) -> Result<&'a [String], CommandError> {
    let Some(first) = args.first() else { return Ok(args) };
    if own.is_called(first) {
        return Ok(&args[1..]);
    }
    // `join othernet #chan`, `nick othernet Name`: a word before the real arguments that is
    // not a channel names a network this bridge does not have.
    let names_a_network = match command {
        "join" => !is_channel(first) && args.len() >= 2,
        "nick" | "storepass" | "username" | "whois" => args.len() >= 2,
        "removepass" | "reconnect" | "listrooms" => args.len() == 1,
        _ => false,
    };
    if names_a_network {
        return Err(CommandError::Failed(format!(
            "this bridge has no network called `{first}`; name one of: {} (by name or server address), or none for {}",
            known.join(", "),
            own.name
        )));
    }
    Ok(args)
}

fn join(network: &IrcNetwork, irc: &IrcClient, channel: &str, key: Option<&String>) -> Result<String, CommandError> {
    let config = network.config();
    if !is_channel(channel) {
        return Err(CommandError::Failed(format!("`{channel}` is not a channel name: channels start with #")));
    }
    if config.is_excluded(channel) {
        return Err(CommandError::Failed(format!("{channel} is not bridged: the bridge admin excluded it")));
    }
    if !config.dynamic_channels {
        return Err(CommandError::Failed(
            "this bridge only bridges channels its admin linked; ask them to plumb the channel into a room".into(),
        ));
    }
    // With a key the JOIN waits for the connection like any other: the guide's first
    // command may well be `join irc.example.com #locked password`.
    irc.join_with_key(channel, key.map(String::as_str));
    let on = if network.shared.network_names.len() > 1 { format!(" on {}", config.name) } else { String::new() };
    Ok(format!("Joining {channel}{on} as {}; you will be invited to its room.", irc.nick()))
}

async fn store(irc: &IrcClient, key: &'static str, value: Option<String>) -> Result<(), CommandError> {
    irc.inner.store(key, value.as_deref()).await.map_err(|e| CommandError::Failed(e.to_string()))
}

async fn feature_mentions(network: &IrcNetwork, irc: &IrcClient, value: &[String]) -> Result<String, CommandError> {
    let user = irc.inner.user.clone();
    let off = match value.first().map(|v| v.to_ascii_lowercase()) {
        None => {
            let off = network.shared.no_mentions.lock().expect("lock").contains(&user);
            return Ok(format!("mentions is {} for you.", if off { "off" } else { "on (the default)" }));
        }
        Some(v) if v == "true" => false,
        Some(v) if v == "false" => true,
        Some(v) if v == "default" => false,
        Some(_) => return Err(CommandError::Usage("feature mentions [true|false|default]".into())),
    };
    if off {
        network.shared.no_mentions.lock().expect("lock").insert(user);
    } else {
        network.shared.no_mentions.lock().expect("lock").remove(&user);
    }
    irc.inner.set_flag(keys::NO_MENTIONS, off).await;
    Ok(if off {
        "Your IRC nick in messages no longer becomes a mention of you.".into()
    } else {
        "Your IRC nick in messages becomes a mention of you.".into()
    })
}

async fn list_rooms(irc: &IrcClient, call: &CommandCall<'_>) -> Result<String, CommandError> {
    let channels = irc.channels();
    if channels.is_empty() {
        return Ok(format!("You are in no IRC channels. Send {} to join one.", call.cmd("join <#channel>")));
    }
    let mut lines = Vec::new();
    for channel in channels {
        let key = PortalKey::shared(irc.inner.shared.ids.channel(&channel));
        let room = match call.portals {
            Some(dir) => dir.room_of(&key).await,
            None => None,
        };
        lines.push(match room {
            Some(room) => format!("- {channel}: https://matrix.to/#/{room}"),
            None => format!("- {channel} (no room yet)"),
        });
    }
    Ok(format!("Your channels on {}:\n{}", irc.inner.shared.config.name, lines.join("\n")))
}

async fn whois(network: &IrcNetwork, irc: &IrcClient, who: &str) -> Result<String, CommandError> {
    let nick = if who.starts_with('@') {
        let user = ruma::UserId::parse(who).map_err(|_| CommandError::Failed(format!("`{who}` is not a Matrix user ID")))?;
        let other = network.client_of(&user).ok_or_else(|| CommandError::Failed(format!("{who} has no IRC connection")))?;
        return Ok(format!("{who} is {} on {}.", other.nick(), network.config().name));
    } else {
        sanitize::word(who)
    };
    if let Some(user) = network.shared.puppets.user_of(&nick) {
        return Ok(format!("{nick} is the Matrix user {user}."));
    }
    let link = irc.live_link().map_err(|e| CommandError::Failed(e.user_message()))?;
    let (tx, rx) = oneshot::channel();
    irc.inner.pending_whois.lock().expect("lock").push(PendingWhois { nick: nick.clone(), lines: Vec::new(), done: Some(tx) });
    link.sender.send(Command::WHOIS(None, nick.clone())).map_err(|e| CommandError::Failed(e.to_string()))?;
    match tokio::time::timeout(SERVER_WAIT, rx).await {
        Ok(Ok(lines)) if !lines.is_empty() => Ok(lines.join("\n")),
        Ok(Ok(_)) => Ok(format!("The server knows nothing about {nick}.")),
        _ => Err(CommandError::Failed("the IRC server did not answer; try again".into())),
    }
}

fn raw(irc: &IrcClient, verb: &str, params: &[String]) -> Result<String, CommandError> {
    if verb.is_empty() || !verb.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(CommandError::Failed(format!(
            "`{verb}` is not an IRC command: commands are upper case, e.g. `cmd PRIVMSG NickServ :INFO`"
        )));
    }
    if REFUSED_RAW.contains(&verb) {
        return Err(CommandError::Failed(format!("{verb} would break your bridged connection; use the bridge's own commands instead")));
    }
    // `cmd PRIVMSG nick some words` (the guide's `!cmd PRIVMSG USERNAME MESSAGE`): the whole
    // message after the target is the text, as a user means it, not just its first word.
    let joined;
    let params = if matches!(verb, "PRIVMSG" | "NOTICE") && params.len() > 2 {
        joined = [params[0].clone(), params[1..].join(" ")];
        &joined[..]
    } else {
        params
    };
    // Every parameter is one line; only the last may hold spaces (it is sent as trailing).
    let mut clean: Vec<String> = params.iter().map(|p| sanitize::one_line(p)).collect();
    let last = clean.pop();
    let mut clean: Vec<String> = clean.iter().map(|p| sanitize::word(p)).filter(|p| !p.is_empty()).collect();
    if let Some(last) = last.map(|l| l.trim_start_matches(':').to_owned()) {
        clean.push(last);
    }
    let link = irc.live_link().map_err(|e| CommandError::Failed(e.user_message()))?;
    link.sender.send(Command::Raw(verb.to_owned(), clean)).map_err(|e| CommandError::Failed(e.to_string()))?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> IrcConfig {
        serde_json::from_value(serde_json::json!({"name": "libera", "server": "irc.example"})).unwrap()
    }

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn test_a_leading_network_name_or_address_is_dropped_and_another_is_an_error() {
        let c = config();
        let known = std::slice::from_ref(&c.name);
        assert_eq!(strip_network(&c, known, "join", &args(&["LIBERA", "#rust"])).unwrap(), &args(&["#rust"])[..]);
        assert_eq!(strip_network(&c, known, "join", &args(&["irc.example", "#rust", "key"])).unwrap(), &args(&["#rust", "key"])[..]);
        assert_eq!(strip_network(&c, known, "join", &args(&["#rust", "key"])).unwrap(), &args(&["#rust", "key"])[..]);
        assert!(strip_network(&c, known, "join", &args(&["oftc", "#rust"])).is_err());
        assert!(strip_network(&c, known, "reconnect", &args(&["oftc"])).is_err());
        assert_eq!(strip_network(&c, known, "reconnect", &args(&["libera"])).unwrap().len(), 0);
        assert_eq!(strip_network(&c, known, "nick", &args(&["NewNick"])).unwrap(), &args(&["NewNick"])[..]);
        for command in ["nick", "storepass", "removepass", "username", "reconnect", "listrooms", "whois", "cmd"] {
            let words = args(&["irc.example", "x"]);
            let rest = strip_network(&c, known, command, &words).unwrap();
            assert_eq!(rest, &args(&["x"])[..], "{command} takes the server address first");
        }
    }
}
