//! What a command is: name, syntax, one-line summary, help section and requirements.
//! Help lists only the commands whose requirements the asking user meets.

/// Help sections, in the order help shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HelpSection {
    /// Help, version, cancel.
    General,
    /// Logging in and out.
    Auth,
    /// Starting and managing chats.
    Chats,
    /// Commands of the network (shown under its name).
    Network,
    /// Bridge administration.
    Admin,
}

impl HelpSection {
    fn title(self, network: &str) -> String {
        match self {
            Self::General => "General".to_owned(),
            Self::Auth => "Logging in".to_owned(),
            Self::Chats => "Chats".to_owned(),
            Self::Network => network.to_owned(),
            Self::Admin => "Administration".to_owned(),
        }
    }
}

/// A command's declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// The name typed.
    pub name: &'static str,
    /// Other names that run it.
    pub aliases: &'static [&'static str],
    /// Argument syntax, e.g. `<#channel> [key]`.
    pub args: &'static str,
    /// One line about what it does.
    pub summary: &'static str,
    /// Where help lists it.
    pub section: HelpSection,
    /// Needs a logged-in account.
    pub requires_login: bool,
    /// Needs admin permission.
    pub requires_admin: bool,
    /// Only makes sense inside a portal room.
    pub requires_portal: bool,
    /// Its arguments are secret (a password): the bot redacts the message that carried them.
    pub secret_args: bool,
}

impl CommandSpec {
    /// A command anyone with `user` permission may run anywhere.
    pub const fn new(name: &'static str, args: &'static str, summary: &'static str, section: HelpSection) -> Self {
        Self {
            name,
            aliases: &[],
            args,
            summary,
            section,
            requires_login: false,
            requires_admin: false,
            requires_portal: false,
            secret_args: false,
        }
    }

    /// Also runs under these names.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Needs a login.
    pub const fn login(mut self) -> Self {
        self.requires_login = true;
        self
    }

    /// Needs admin permission.
    pub const fn admin(mut self) -> Self {
        self.requires_admin = true;
        self
    }

    /// Only in portal rooms.
    pub const fn portal(mut self) -> Self {
        self.requires_portal = true;
        self
    }

    /// Its arguments are secret.
    pub const fn secret(mut self) -> Self {
        self.secret_args = true;
        self
    }

    /// Whether `word` names this command.
    pub fn is_named(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }

    /// Why this user cannot run it here, if they cannot.
    pub fn refusal(&self, who: &Caller) -> Option<String> {
        self.refusal_as(who, "")
    }

    /// [`Self::refusal`], naming commands with the prefix the user typed (`!login`).
    pub fn refusal_as(&self, who: &Caller, prefix: &str) -> Option<String> {
        let name = self.name;
        if self.requires_admin && !who.is_admin {
            return Some(format!("`{prefix}{name}` is for bridge admins only."));
        }
        if self.requires_login && !who.logged_in {
            return Some(format!("`{prefix}{name}` needs you to be logged in: send `{prefix}login` first."));
        }
        if self.requires_portal && !who.in_portal {
            return Some(format!("`{prefix}{name}` only works in a bridged room: send it there with the command prefix."));
        }
        None
    }
}

/// Who is asking, for requirement checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Has admin permission.
    pub is_admin: bool,
    /// Has a login.
    pub logged_in: bool,
    /// Is in a portal room.
    pub in_portal: bool,
}

/// Renders help for `caller`: the commands they may run, grouped, with syntax.
pub fn render_help(specs: &[CommandSpec], caller: &Caller, network: &str, prefix: Option<&str>) -> String {
    let mut visible: Vec<&CommandSpec> = specs.iter().filter(|s| s.refusal(caller).is_none()).collect();
    visible.sort_by_key(|s| s.section);
    let mut out = String::new();
    let mut section = None;
    for spec in visible {
        if section != Some(spec.section) {
            if section.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("**{}**\n", spec.section.title(network)));
            section = Some(spec.section);
        }
        let p = prefix.unwrap_or("");
        let args = if spec.args.is_empty() { String::new() } else { format!(" {}", spec.args) };
        out.push_str(&format!("- `{p}{}{args}`: {}\n", spec.name, spec.summary));
    }
    if !caller.logged_in {
        out.push_str("\nMore commands are listed once you are logged in.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<CommandSpec> {
        vec![
            CommandSpec::new("help", "", "Show this help", HelpSection::General),
            CommandSpec::new("pm", "<identifier>", "Start a DM", HelpSection::Chats).login(),
            CommandSpec::new("plumb", "<chat>", "Link this room", HelpSection::Admin).admin().portal(),
            CommandSpec::new("join", "<#channel>", "Join a channel", HelpSection::Network).login(),
        ]
    }

    #[test]
    fn test_help_shows_only_runnable_commands() {
        let guest = Caller { is_admin: false, logged_in: false, in_portal: false };
        let text = render_help(&specs(), &guest, "IRC", None);
        assert!(text.contains("`help`"));
        assert!(!text.contains("`pm"), "{text}");
        assert!(!text.contains("plumb"));
        assert!(text.contains("once you are logged in"));

        let user = Caller { is_admin: false, logged_in: true, in_portal: false };
        let text = render_help(&specs(), &user, "IRC", None);
        assert!(text.contains("`pm <identifier>`: Start a DM"));
        assert!(text.contains("**IRC**\n- `join <#channel>`"), "{text}");
        assert!(!text.contains("plumb"));

        let admin = Caller { is_admin: true, logged_in: true, in_portal: true };
        let text = render_help(&specs(), &admin, "IRC", Some("!"));
        assert!(text.contains("`!plumb <chat>`"));
        let general = text.find("**General**").unwrap();
        let admin_pos = text.find("**Administration**").unwrap();
        assert!(general < admin_pos, "sections in order");
    }

    #[test]
    fn test_refusal_says_why() {
        let s = CommandSpec::new("pm", "", "", HelpSection::Chats).login();
        let guest = Caller { is_admin: false, logged_in: false, in_portal: false };
        assert!(s.refusal(&guest).unwrap().contains("send `login` first"));
        assert!(s.refusal_as(&guest, "!").unwrap().contains("send `!login` first"), "a refusal names commands as the user typed them");
        assert!(s.is_named("PM"));
    }
}
