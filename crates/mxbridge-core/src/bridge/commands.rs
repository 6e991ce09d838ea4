//! Running bot commands: requirement checks, the core's commands, and the network's.

use std::sync::Arc;

use ruma::{EventId, RoomId, UserId};
use tracing::info;

use super::Bridge;
use crate::commands::spec::{Caller, render_help};
use crate::commands::{Command, parse};
use crate::config::Permission;
use crate::ids::PortalKey;
use crate::network::{CommandCall, CommandError};
use crate::store::PortalRow;

impl Bridge {
    /// Runs one command line. `portal` is set when it came from a portal room with the prefix.
    pub(crate) async fn run_command_line(
        self: &Arc<Self>,
        room: &RoomId,
        sender: &UserId,
        event: &EventId,
        line: &str,
        portal: Option<PortalKey>,
    ) {
        let is_management = matches!(self.store.management_room_owner(room).await, Ok(Some(ref o)) if o == sender);
        // In the management room the prefix is optional (the guides type `!join #channel`,
        // our README `join #channel`); elsewhere the caller has already stripped it.
        let in_dm = is_management && portal.is_none();
        let typed = match line.trim_start().strip_prefix(self.config.command_prefix.as_str()) {
            Some(rest) if in_dm => Typed { line: rest, prefix: &self.config.command_prefix },
            _ if in_dm => Typed { line, prefix: "" },
            _ => Typed { line, prefix: &self.config.command_prefix },
        };
        if in_dm {
            // A login waiting for an answer takes the line as typed (a password may start
            // with the prefix); only `cancel` stops it.
            let word = typed.line.trim().to_ascii_lowercase();
            if word != "cancel" && self.login_input(room, sender, event, line).await {
                return;
            }
        }
        let line = typed.line;
        let permission = self.permission(sender);
        if permission < Permission::User {
            self.notice(room, "You do not have permission to use this bridge. Ask the bridge admin to add you to bridge.permissions.")
                .await;
            return;
        }
        let (command, spec) = match parse(line, &self.specs) {
            Ok(c) => c,
            Err(e) => {
                return self.notice(room, &format!("{}. Send {} for the list of commands.", typed.error(&e), typed.cmd("help"))).await;
            }
        };
        // Networks that connect every user on demand (IRC) do it for the first command that
        // needs a login, not for `help`: asking what the bridge can do connects nobody.
        let can_auto_login = self.network.auto_login(sender, None, None).is_some();
        if can_auto_login && spec.as_ref().is_some_and(|s| s.requires_login) {
            let _ = self.ensure_auto_login(sender, None).await;
        }
        if spec.as_ref().is_some_and(|s| s.secret_args) {
            // Whatever happens next, the secret should not stay in the room.
            if let Err(e) = self.matrix.redact(room, &self.config.bot_user_id, event, Some("contained a password")).await {
                tracing::warn!(error = %e, "could not redact a message with a secret");
                self.notice(room, "I could not remove your message with the password: please delete it yourself.").await;
            }
        }
        let caller = Caller {
            is_admin: permission >= Permission::Admin,
            logged_in: can_auto_login || !self.logins_of(sender).is_empty(),
            in_portal: portal.is_some(),
        };
        // Outside the management room and portals only admin room commands make sense.
        if !is_management && portal.is_none() && !matches!(command, Command::Plumb { .. } | Command::Unlink { .. }) {
            self.notice(room, "This needs a direct message: start one with me and send the command there (with or without the prefix).")
                .await;
            return;
        }
        if let Some(reason) = spec.as_ref().and_then(|s| s.refusal_as(&caller, typed.prefix)) {
            return self.notice(room, &reason).await;
        }
        let prefix = Some(typed.prefix).filter(|p| !p.is_empty());
        info!(sender = %sender, command = command.name(), "running a command");
        match command {
            Command::Help => self.notice(room, &self.help_text(&caller, prefix)).await,
            Command::Unknown { word } => {
                let text = format!(
                    "Unknown command `{}{word}`. These are the commands you can use:\n\n{}",
                    typed.prefix,
                    self.help_text(&caller, prefix)
                );
                self.notice(room, &text).await
            }
            Command::Version => {
                self.notice(
                    room,
                    &format!("mxbridge {} ({}: {})", env!("CARGO_PKG_VERSION"), self.info.display_name, self.info.description),
                )
                .await
            }
            Command::Login { flow, answer } => self.start_login(room, sender, flow, answer).await,
            Command::Cancel => self.cancel_login(room, sender).await,
            Command::ListLogins => {
                let logins = self.logins_of(sender);
                let text = if logins.is_empty() && can_auto_login {
                    format!(
                        "You are not connected yet: the first command that needs a connection connects you (see {}).",
                        typed.cmd("help")
                    )
                } else if logins.is_empty() {
                    format!("You have no logins. Send {} to connect your account.", typed.cmd("login"))
                } else {
                    let lines: Vec<String> = logins
                        .iter()
                        .map(|(id, l)| {
                            format!("- `{id}` ({}, {})", l.remote_name, if l.client.is_logged_in() { "connected" } else { "not connected" })
                        })
                        .collect();
                    format!("Your logins:\n{}", lines.join("\n"))
                };
                self.notice(room, &text).await
            }
            Command::Logout { login } => self.logout(room, sender, login, &typed).await,
            Command::Pm { identifier } => self.pm(room, sender, &identifier, &typed).await,
            Command::Plumb { room: target, network, chat } => {
                self.plumb(room, sender, (target.as_deref(), network.as_deref(), &chat), typed.prefix).await
            }
            Command::Unlink { room: target, network, chat } => {
                self.unlink(room, sender, (target.as_deref(), network.as_deref(), chat.as_deref()), typed.prefix).await
            }
            Command::DeletePortal => {
                let Some(row) = self.portal_row(portal.as_ref()).await else { return };
                // A portal of one login (a DM, a group seen through that account) is its
                // owner's to delete; one shared by everybody (an IRC channel) only an admin's.
                if permission < Permission::Admin && !self.login_ids_of(sender).contains(&row.receiver) {
                    return self
                        .notice(room, "Only a bridge admin can delete this portal, as it is shared with others: leave the room instead.")
                        .await;
                }
                self.notice(room, "Deleting this portal.").await;
                self.delete_portal(&row, true).await;
            }
            Command::DeleteAllPortals => {
                let mut rows = self.store.portals().await.unwrap_or_default();
                if permission < Permission::Admin {
                    let mine = self.login_ids_of(sender);
                    rows.retain(|row| mine.contains(&row.receiver));
                }
                let n = rows.len();
                for row in rows {
                    self.delete_portal(&row, true).await;
                }
                self.notice(room, &format!("Deleted {n} portals.")).await
            }
            Command::Network { name, args } => {
                let client = self.logins_of(sender).into_iter().next().map(|(_, l)| l.client);
                let directory = Directory(self);
                let call = CommandCall {
                    user: sender,
                    name,
                    args: &args,
                    client,
                    portal: portal.as_ref(),
                    portals: Some(&directory),
                    prefix: typed.prefix,
                };
                let text = match self.network.run_command(call).await {
                    Ok(reply) => reply,
                    Err(CommandError::Unknown) => {
                        format!("{} is not available right now. Send {} for the list of commands.", typed.cmd(name), typed.cmd("help"))
                    }
                    Err(CommandError::Usage(usage)) => format!("usage: {}", typed.cmd(&usage)),
                    Err(CommandError::Failed(why)) => format!("{} failed: {why}", typed.cmd(name)),
                };
                // Some commands answer only when they fail (IRC's raw `cmd`).
                if !text.is_empty() {
                    self.notice(room, &text).await
                }
            }
        }
    }

    fn help_text(&self, caller: &Caller, prefix: Option<&str>) -> String {
        render_help(&self.specs, caller, &self.info.display_name, prefix)
    }

    /// The ids of a user's logins, as portals name their receiver (a shared portal's empty
    /// receiver is none of them).
    fn login_ids_of(&self, user: &UserId) -> Vec<String> {
        self.logins_of(user).into_iter().map(|(id, _)| id.as_str().to_owned()).collect()
    }

    async fn portal_row(&self, key: Option<&PortalKey>) -> Option<PortalRow> {
        let key = key?;
        self.store.portal(key.chat.as_str(), &key.receiver).await.ok().flatten()
    }

    async fn logout(&self, room: &RoomId, user: &UserId, which: Option<String>, typed: &Typed<'_>) {
        let logins = self.logins_of(user);
        let target = match which {
            Some(w) => logins.into_iter().find(|(id, l)| id.as_str() == w || l.remote_name == w),
            None if logins.len() == 1 => logins.into_iter().next(),
            None => {
                let text =
                    format!("You have several logins: say which, e.g. {} (see {}).", typed.cmd("logout <login>"), typed.cmd("list-logins"));
                return self.notice(room, &text).await;
            }
        };
        let Some((id, login)) = target else {
            return self.notice(room, &format!("No such login. Send {} to see yours.", typed.cmd("list-logins"))).await;
        };
        self.logged_out.lock().expect("lock").insert(id.clone(), user.to_owned());
        login.client.logout().await;
        self.logins.lock().expect("lock").remove(&id);
        self.metrics.login_gone(&id);
        if let Err(e) = self.store.delete_login(id.as_str()).await {
            return self.notice(room, &format!("Logged out, but the stored login could not be deleted ({e}).")).await;
        }
        self.notice(room, &format!("Logged out of `{}`.", login.remote_name)).await;
    }

    async fn pm(self: &Arc<Self>, room: &RoomId, user: &UserId, identifier: &str, typed: &Typed<'_>) {
        let Some((login, l)) = self.logins_of(user).into_iter().next() else {
            return self.notice(room, &format!("Send {} first.", typed.cmd("login"))).await;
        };
        let Some(resolver) = l.client.start_dm() else {
            return self.notice(room, &format!("{} cannot start chats from an identifier.", self.info.display_name)).await;
        };
        let (key, info) = match resolver.resolve(identifier).await {
            Ok(r) => r,
            Err(e) => return self.notice(room, &e.user_message()).await,
        };
        match self.ensure_portal(&key, &info, Some(user), false).await {
            Ok((row, true)) => {
                // An existing chat's history fills the new room after the answer.
                if let Some(portal_room) = row.room_id {
                    self.backfill_in_background(login, key, portal_room).await;
                }
                self.notice(room, &format!("Created a chat with `{identifier}`: accept the invite.")).await
            }
            Ok((_, false)) => self.notice(room, &format!("You already have a chat with `{identifier}`: I invited you again.")).await,
            Err(e) => self.notice(room, &format!("Could not create the chat: {e}. Try again later.")).await,
        }
    }
}

/// A command line as the user typed it: the words after the prefix, and the prefix they
/// used (empty in the management room when they typed none), so that answers name
/// commands the way the user writes them.
struct Typed<'a> {
    line: &'a str,
    prefix: &'a str,
}

impl Typed<'_> {
    /// A command (with its arguments) written as this user writes commands, in backticks.
    fn cmd(&self, command: &str) -> String {
        format!("`{}{command}`", self.prefix)
    }

    /// A grammar error, its usage line written with the user's prefix.
    fn error(&self, e: &crate::commands::ParseError) -> String {
        match e {
            crate::commands::ParseError::Usage(usage) => format!("usage: {}", self.cmd(usage)),
            other => other.to_string(),
        }
    }
}

/// Portal rooms for network commands (`listrooms`).
struct Directory<'a>(&'a Bridge);

#[async_trait::async_trait]
impl crate::network::PortalDirectory for Directory<'_> {
    async fn room_of(&self, portal: &PortalKey) -> Option<ruma::OwnedRoomId> {
        self.0.portal_room(portal).await
    }
}
