//! The WhatsApp bot commands: `list contacts [page]`, `list groups`, `open <group id>`,
//! `delete-session`. (`login`, `logout`, `pm` and `delete-all-portals` are the core's.)

use mxbridge_core::commands::spec::{CommandSpec, HelpSection};
use mxbridge_core::network::{CommandCall, CommandError};

use crate::backend::{BackendError, Contact};
use crate::client::WhatsAppClient;
use crate::jid;

/// The commands, for `help`.
pub(crate) fn specs() -> Vec<CommandSpec> {
    vec![
        CommandSpec::new(
            "list",
            "contacts [page] | groups",
            "List your WhatsApp contacts (with numbers) or groups (with ids)",
            HelpSection::Network,
        )
        .login(),
        CommandSpec::new("open", "<group id>", "Bridge one of your WhatsApp groups and invite you to its room", HelpSection::Network)
            .login(),
        CommandSpec::new(
            "delete-session",
            "",
            "Forget your WhatsApp session here without logging out on WhatsApp (then remove the device on your phone)",
            HelpSection::Network,
        )
        .login(),
    ]
}

fn failed(e: BackendError) -> CommandError {
    CommandError::Failed(match e {
        BackendError::NotConnected => "WhatsApp is not connected right now; try again in a moment".to_owned(),
        other => other.to_string(),
    })
}

/// Runs a command for a logged-in user.
pub(crate) async fn run(call: &CommandCall<'_>, client: &WhatsAppClient, page_size: usize) -> Result<String, CommandError> {
    match (call.name, call.args) {
        ("list", [what, rest @ ..]) if what.eq_ignore_ascii_case("contacts") => {
            let page = match rest {
                [] => 1,
                [p] => {
                    p.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| CommandError::Usage("list contacts [page number]".into()))?
                }
                _ => return Err(CommandError::Usage("list contacts [page]".into())),
            };
            let mut contacts = client.session.contacts().await.map_err(failed)?;
            contacts.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.number.cmp(&b.number)));
            Ok(contacts_page(&contacts, page, page_size, call.prefix))
        }
        ("list", [what]) if what.eq_ignore_ascii_case("groups") => {
            let mut groups = client.session.groups().await.map_err(failed)?;
            if groups.is_empty() {
                return Ok("You are in no WhatsApp groups.".into());
            }
            groups.sort_by_key(|g| g.subject.to_lowercase());
            let lines: Vec<String> =
                groups.iter().map(|g| format!("- {}: `{}` ({} members)", g.subject, g.jid.user, g.participants.len())).collect();
            Ok(format!("Your WhatsApp groups:\n{}\nSend {} to bridge one.", lines.join("\n"), call.cmd("open <group id>")))
        }
        ("list", _) => Err(CommandError::Usage("list contacts [page] | list groups".into())),
        ("open", [id]) => {
            let group = jid::parse_group(id).ok_or_else(|| {
                CommandError::Failed(format!(
                    "`{id}` is not a group id: they look like `447818943525-1636277287` (see {})",
                    call.cmd("list groups")
                ))
            })?;
            let (info, role) = client.chat_details(&group).await.map_err(failed)?;
            let name = info.name.clone().unwrap_or_else(|| group.user.clone());
            let portal = group.portal(&client.login);
            let exists = match call.portals {
                Some(dir) => dir.room_of(&portal).await.is_some(),
                None => false,
            };
            client.announce_chat(&group, None, info, role);
            Ok(if exists {
                format!("{name} is already bridged: I invited you to its room again.")
            } else {
                format!("Bridging {name}: accept the invite to its room.")
            })
        }
        ("open", _) => Err(CommandError::Usage("open <group id>".into())),
        ("delete-session", []) => {
            client.delete_session().await;
            Ok("Deleted your WhatsApp session from the bridge. WhatsApp still lists the device: remove it on your phone under Linked devices.".into())
        }
        ("delete-session", _) => Err(CommandError::Usage("delete-session".into())),
        _ => Err(CommandError::Unknown),
    }
}

/// One page of contacts, with how to get the next.
/// `prefix` is the command prefix the user typed, for the commands the page suggests.
pub(crate) fn contacts_page(contacts: &[Contact], page: usize, page_size: usize, prefix: &str) -> String {
    if contacts.is_empty() {
        return "You have no WhatsApp contacts.".into();
    }
    let pages = contacts.len().div_ceil(page_size);
    if page > pages {
        return format!("There are only {pages} pages of contacts: send `{prefix}list contacts {pages}` for the last.");
    }
    let lines: Vec<String> =
        contacts.iter().skip((page - 1) * page_size).take(page_size).map(|c| format!("- {}: +{}", c.name, c.number)).collect();
    let mut text = format!("Your WhatsApp contacts (page {page} of {pages}):\n{}", lines.join("\n"));
    if page < pages {
        text.push_str(&format!("\nSend `{prefix}list contacts {}` for more.", page + 1));
    }
    text.push_str(&format!("\nSend `{prefix}pm <number>` to chat with someone."));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_contacts_are_paged() {
        let contacts: Vec<Contact> = (1..=5).map(|i| Contact { number: format!("4470000000{i}"), name: format!("C{i}") }).collect();
        let first = contacts_page(&contacts, 1, 2, "");
        assert!(first.contains("page 1 of 3") && first.contains("- C1: +44700000001") && first.contains("- C2") && !first.contains("C3"));
        assert!(first.contains("`list contacts 2`"));
        let last = contacts_page(&contacts, 3, 2, "");
        assert!(last.contains("- C5") && !last.contains("for more"));
        assert!(contacts_page(&contacts, 4, 2, "").contains("only 3 pages"));
        assert!(contacts_page(&contacts, 1, 2, "!").contains("`!list contacts 2`"), "hints use the prefix the user typed");
        assert!(contacts_page(&[], 1, 2, "").contains("no WhatsApp contacts"));
    }
}
