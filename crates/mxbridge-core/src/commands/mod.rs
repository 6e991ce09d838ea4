//! The bot's command grammar, shared by every network.
//!
//! A message is split shell-style (quotes group words, backslash escapes), the first word
//! picks the command, and it is parsed once into the closed [`Command`] enum. Network
//! commands are declared by the network and passed through with their arguments; an
//! unknown word becomes [`Command::Unknown`], which answers with help.

pub mod spec;

use spec::{CommandSpec, HelpSection};

/// Splitting failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A quote was opened and never closed.
    #[error("a {0} quote is not closed: close it, or escape it with a backslash")]
    UnclosedQuote(char),
    /// Arguments do not fit the command.
    #[error("usage: `{0}`")]
    Usage(String),
}

/// Splits a line into words the way a shell would (without expansions).
pub fn tokenize(line: &str) -> Result<Vec<String>, ParseError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(ParseError::UnclosedQuote(if c == '"' { '"' } else { '\'' })),
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(e @ ('"' | '\\')) => current.push(e),
                            Some(other) => {
                                current.push('\\');
                                current.push(other);
                            }
                            None => return Err(ParseError::UnclosedQuote('"')),
                        },
                        Some(other) => current.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help`
    Help,
    /// `version`
    Version,
    /// `login [flow] [answer]`
    Login {
        /// Which flow; the network's first when absent.
        flow: Option<String>,
        /// The answer to the flow's first question, given at once (`login phone +4412345678`).
        answer: Option<String>,
    },
    /// `logout [login]`
    Logout {
        /// Which login, when the user has several.
        login: Option<String>,
    },
    /// `cancel`
    Cancel,
    /// `list-logins`
    ListLogins,
    /// `pm <identifier>`
    Pm {
        /// Phone number, user name, JID.
        identifier: String,
    },
    /// `plumb [!room:server] [network] <chat>` (admin): link an existing room (this one, or
    /// the one named, where the bot must be) to a remote chat.
    Plumb {
        /// The room to link, when not the room the command was sent in.
        room: Option<String>,
        /// The network named before the chat, checked against this bridge's network.
        network: Option<String>,
        /// The remote chat id.
        chat: String,
    },
    /// `unlink [!room:server] [network] [chat]` (admin or the room's moderator): unlink a
    /// room from its remote chat. A network or chat given must be what the room is linked
    /// to (`unlink !room:hs irc.example.net #foobar`, as matrix-appservice-irc has it).
    Unlink {
        /// The room to unlink, when not the room the command was sent in.
        room: Option<String>,
        /// The network named before the chat (with two words), checked.
        network: Option<String>,
        /// The chat the room should be linked to (one word: a chat, or a network's name), checked.
        chat: Option<String>,
    },
    /// `delete-portal`: remove this portal and its room (the owner's own portals; admins: any).
    DeletePortal,
    /// `delete-all-portals`: the portals of the user's logins; an admin's removes every portal.
    DeleteAllPortals,
    /// A command declared by the network.
    Network {
        /// The declared name (aliases resolved).
        name: &'static str,
        /// The remaining words.
        args: Vec<String>,
    },
    /// Anything else: answered with help.
    Unknown {
        /// What was typed.
        word: String,
    },
}

impl Command {
    /// The command's name as written in help, for logs (`unknown` for words that are none).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::Version => "version",
            Self::Login { .. } => "login",
            Self::Logout { .. } => "logout",
            Self::Cancel => "cancel",
            Self::ListLogins => "list-logins",
            Self::Pm { .. } => "pm",
            Self::Plumb { .. } => "plumb",
            Self::Unlink { .. } => "unlink",
            Self::DeletePortal => "delete-portal",
            Self::DeleteAllPortals => "delete-all-portals",
            Self::Network { name, .. } => name,
            Self::Unknown { .. } => "unknown",
        }
    }
}

/// The core's commands.
pub fn core_specs() -> Vec<CommandSpec> {
    vec![
        CommandSpec::new("help", "", "Show the commands you can use", HelpSection::General),
        CommandSpec::new("version", "", "Show the bridge version", HelpSection::General),
        CommandSpec::new("cancel", "", "Stop the login or other command in progress", HelpSection::General),
        CommandSpec::new("login", "[flow] [answer]", "Connect your account on the network", HelpSection::Auth),
        CommandSpec::new("logout", "[login]", "Disconnect and forget your account", HelpSection::Auth).login(),
        CommandSpec::new("list-logins", "", "Show your connected accounts", HelpSection::Auth).aliases(&["logins"]),
        CommandSpec::new("pm", "<identifier>", "Start a direct chat with someone on the network", HelpSection::Chats).login(),
        CommandSpec::new(
            "plumb",
            "[!room:server] [network] <chat>",
            "Link an existing room (I must be in it) to a remote chat",
            HelpSection::Admin,
        )
        .admin(),
        CommandSpec::new(
            "unlink",
            "[!room:server] [network] [chat]",
            "Unlink a room from its remote chat (admins and the room's moderators)",
            HelpSection::Chats,
        ),
        CommandSpec::new(
            "delete-portal",
            "",
            "Remove this portal: kick everyone and forget the room (shared ones: admins)",
            HelpSection::Chats,
        )
        .portal(),
        CommandSpec::new("delete-all-portals", "", "Remove the portals of your logins (admins: every portal)", HelpSection::Chats).login(),
    ]
}

/// Splits off a leading room ID (`!room:server`).
fn room_first(mut words: Vec<String>) -> (Option<String>, Vec<String>) {
    if words.first().is_some_and(|w| w.starts_with('!')) { (Some(words.remove(0)), words) } else { (None, words) }
}

/// Parses a line (without prefix). `specs` are the core's plus the network's; the first
/// matching spec wins, so the core's names cannot be taken over by a network.
pub fn parse(line: &str, specs: &[CommandSpec]) -> Result<(Command, Option<CommandSpec>), ParseError> {
    let mut words = tokenize(line)?;
    if words.is_empty() {
        return Ok((Command::Help, specs.iter().find(|s| s.name == "help").cloned()));
    }
    let word = words.remove(0);
    let Some(spec) = specs.iter().find(|s| s.is_named(&word)).cloned() else {
        return Ok((Command::Unknown { word }, None));
    };
    let usage = || ParseError::Usage(format!("{} {}", spec.name, spec.args).trim_end().to_owned());
    let one = |words: Vec<String>| -> Result<String, ParseError> {
        match <[String; 1]>::try_from(words) {
            Ok([w]) => Ok(w),
            Err(_) => Err(usage()),
        }
    };
    let none = |words: &[String]| if words.is_empty() { Ok(()) } else { Err(usage()) };
    let optional = |mut words: Vec<String>| -> Result<Option<String>, ParseError> {
        if words.len() > 1 {
            return Err(usage());
        }
        Ok(words.pop())
    };
    let command = match spec.name {
        "help" => Command::Help,
        "version" => none(&words).map(|_| Command::Version)?,
        "cancel" => none(&words).map(|_| Command::Cancel)?,
        "login" => {
            let mut words = words.into_iter();
            let flow = words.next();
            let answer: Vec<String> = words.collect();
            Command::Login { flow, answer: (!answer.is_empty()).then(|| answer.join(" ")) }
        }
        "logout" => Command::Logout { login: optional(words)? },
        "list-logins" => none(&words).map(|_| Command::ListLogins)?,
        "pm" => Command::Pm { identifier: if words.is_empty() { return Err(usage()) } else { words.join(" ") } },
        "plumb" => {
            let (room, rest) = room_first(words);
            match <[String; 2]>::try_from(rest) {
                Ok([network, chat]) => Command::Plumb { room, network: Some(network), chat },
                Err(rest) => Command::Plumb { room, network: None, chat: one(rest)? },
            }
        }
        "unlink" => {
            let (room, rest) = room_first(words);
            let mut rest = rest.into_iter();
            match (rest.next(), rest.next(), rest.next()) {
                (None, _, _) => Command::Unlink { room, network: None, chat: None },
                (Some(chat), None, _) => Command::Unlink { room, network: None, chat: Some(chat) },
                (Some(network), Some(chat), None) => Command::Unlink { room, network: Some(network), chat: Some(chat) },
                _ => return Err(usage()),
            }
        }
        "delete-portal" => none(&words).map(|_| Command::DeletePortal)?,
        "delete-all-portals" => none(&words).map(|_| Command::DeleteAllPortals)?,
        name => Command::Network { name, args: words },
    };
    Ok((command, Some(spec)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_tokenize() {
        let cases: &[(&str, &[&str])] = &[
            ("login", &["login"]),
            ("  pm   +44 123  ", &["pm", "+44", "123"]),
            (r##"join "#my chan" key"##, &["join", "#my chan", "key"]),
            ("say 'it''s'", &["say", "its"]),
            (r#"a "x \"y\" \\ \n""#, &["a", r#"x "y" \ \n"#]),
            (r"a\ b", &["a b"]),
            ("\"\"", &[""]),
        ];
        for (input, want) in cases {
            assert_eq!(tokenize(input).unwrap(), *want, "{input}");
        }
        assert_eq!(tokenize("say \"open"), Err(ParseError::UnclosedQuote('"')));
        assert_eq!(tokenize("say 'open"), Err(ParseError::UnclosedQuote('\'')));
    }

    fn with_network() -> Vec<CommandSpec> {
        let mut s = core_specs();
        s.push(CommandSpec::new("join", "<#channel>", "Join", HelpSection::Network).aliases(&["j"]).login());
        s.push(CommandSpec::new("help", "", "A network trying to take over help", HelpSection::Network));
        s
    }

    #[test]
    fn test_parse_core_and_network_commands() {
        let specs = with_network();
        assert_eq!(parse("login", &specs).unwrap().0, Command::Login { flow: None, answer: None });
        assert_eq!(parse("LOGIN qr", &specs).unwrap().0, Command::Login { flow: Some("qr".into()), answer: None });
        assert_eq!(
            parse("login phone +44 1234 5678", &specs).unwrap().0,
            Command::Login { flow: Some("phone".into()), answer: Some("+44 1234 5678".into()) }
        );
        assert_eq!(parse("pm +44 7700 900123", &specs).unwrap().0, Command::Pm { identifier: "+44 7700 900123".into() });
        assert_eq!(parse("j #rust", &specs).unwrap().0, Command::Network { name: "join", args: vec!["#rust".into()] });
        assert_eq!(parse("frobnicate", &specs).unwrap().0, Command::Unknown { word: "frobnicate".into() });
        assert_eq!(parse("", &specs).unwrap().0, Command::Help);
        assert_eq!(parse("logins", &specs).unwrap().0, Command::ListLogins);
        let (help, spec) = parse("help", &specs).unwrap();
        assert_eq!(help, Command::Help);
        assert_eq!(spec.unwrap().section, HelpSection::General, "the core's help wins");
    }

    /// Logs name the command (`command=join`), not its enum discriminant.
    #[test]
    fn test_command_names_are_the_words_of_help() {
        let specs = with_network();
        for (line, name) in [("help", "help"), ("logins", "list-logins"), ("j #rust", "join"), ("pm x", "pm"), ("nope", "unknown")] {
            assert_eq!(parse(line, &specs).unwrap().0.name(), name, "{line}");
        }
        for spec in core_specs() {
            let line = match spec.name {
                "pm" => "pm x".to_owned(),
                "plumb" => "plumb #x".to_owned(),
                name => name.to_owned(),
            };
            assert_eq!(parse(&line, &specs).unwrap().0.name(), spec.name, "{line}");
        }
    }

    #[test]
    fn test_parse_usage_errors() {
        let specs = core_specs();
        assert_eq!(parse("pm", &specs).unwrap_err(), ParseError::Usage("pm <identifier>".into()));
        assert_eq!(parse("cancel now", &specs).unwrap_err(), ParseError::Usage("cancel".into()));
        assert_eq!(parse("plumb", &specs).unwrap_err(), ParseError::Usage("plumb [!room:server] [network] <chat>".into()));
        assert_eq!(
            parse("plumb !r:hs libera #rust", &specs).unwrap().0,
            Command::Plumb { room: Some("!r:hs".into()), network: Some("libera".into()), chat: "#rust".into() }
        );
        assert_eq!(parse("plumb #rust", &specs).unwrap().0, Command::Plumb { room: None, network: None, chat: "#rust".into() });
        assert_eq!(
            parse("unlink !room:example.com irc.example.net #foobar", &specs).unwrap().0,
            Command::Unlink {
                room: Some("!room:example.com".into()),
                network: Some("irc.example.net".into()),
                chat: Some("#foobar".into())
            }
        );
        assert_eq!(parse("unlink #foobar", &specs).unwrap().0, Command::Unlink { room: None, network: None, chat: Some("#foobar".into()) });
        assert_eq!(parse("unlink", &specs).unwrap().0, Command::Unlink { room: None, network: None, chat: None });
        assert!(parse("unlink !r:hs a b c", &specs).is_err());
        assert_eq!(
            parse("plumb !room:example.com irc.network.net #channel", &specs).unwrap().0,
            Command::Plumb { room: Some("!room:example.com".into()), network: Some("irc.network.net".into()), chat: "#channel".into() }
        );
    }
}
