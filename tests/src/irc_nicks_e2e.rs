//! IRC nicks from Matrix display names, end to end (issue 14): "you can see [m] has been
//! appended to the users Matrix display name". A Matrix user on the real Synapse, their
//! puppet on the real InspIRCd, a plain IRC client watching.

use std::time::Duration;

use irc::proto::Command;
use mxbridge_irc::connection::{ConnectOptions, connect};

use crate::harness::matrix_client::TestUser;
use crate::irc_e2e::{WAIT, irc_addr, next_privmsg, notice_from, shared_irc};

/// The next NICK change the watcher sees from `from`, as the new nick.
async fn next_nick_change(incoming: &mut tokio::sync::mpsc::UnboundedReceiver<Box<irc::proto::Message>>, from: &str) -> String {
    let msg = crate::irc_connection::next_matching(incoming, |m| {
        matches!(&m.command, Command::NICK(_)) && m.source_nickname().is_some_and(|n| n.eq_ignore_ascii_case(from))
    })
    .await;
    let Command::NICK(new) = &msg.command else { unreachable!("matched a NICK") };
    new.clone()
}

#[tokio::test]
async fn test_nick_is_the_display_name_with_m_and_follows_it_until_the_user_picks_one() {
    let config = shared_irc();
    let bot = config.bot_user_id.to_string();
    let n = rand::random::<u32>() % 100_000;
    let channel = format!("#dn{}", rand::random::<u32>());

    // Someone on IRC is in the channel already, and sees who comes.
    let (host, port) = irc_addr();
    let mut pal = connect(&ConnectOptions::new(host, port, format!("dnpal{n}"))).await.expect("the IRC user connects");
    pal.sender.send_join(&channel).unwrap();

    // A display name with a space and characters IRC does not allow in nicks.
    let mut user = TestUser::register("dname").await;
    user.set_profile("displayname", &format!("Alice Smith {n} 🎉")).await;
    let expected = format!("AliceSmith{n}[m]");
    let dm = user.create_dm(&bot).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");
    // Typed as the guide writes it, with the `!`.
    user.send_text(&dm, &format!("!join {channel}")).await;
    let joining = user.wait_for_event(&dm, WAIT, notice_from(&bot, "Joining")).await.expect("the bot answers");
    let joining = joining["content"]["body"].as_str().unwrap();
    assert!(joining.contains(&format!("as {expected}")), "the bot names the nick made from the display name: {joining}");
    let connected = user.wait_for_event(&dm, WAIT, notice_from(&bot, "Connected to IRC as")).await.expect("the connection is reported");
    assert!(connected["content"]["body"].as_str().unwrap().contains(&format!("`{expected}`")), "{connected}");
    let joined = crate::irc_e2e::next_join_of(&mut pal.incoming, "AliceSmith").await;
    assert_eq!(joined, expected, "IRC sees the display name followed by [m]");
    let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to the channel's room");
    user.join(&portal).await;

    // A new display name is a new nick.
    user.set_profile("displayname", &format!("Bob Jones {n}")).await;
    let renamed = next_nick_change(&mut pal.incoming, &expected).await;
    assert_eq!(renamed, format!("BobJones{n}[m]"));
    user.send_text(&portal, "after the rename").await;
    let (from, _) = next_privmsg(&mut pal.incoming, |_, t| t == "after the rename").await;
    assert_eq!(from, renamed, "the bridge speaks as the new nick");

    // A nick the user picks wins over later display names.
    let chosen = format!("Picked{n}");
    user.send_text(&dm, &format!("!nick {chosen}")).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "Asked")).await.expect("the nick command answers");
    assert_eq!(next_nick_change(&mut pal.incoming, &renamed).await, chosen);
    user.set_profile("displayname", &format!("Carol {n}")).await;
    // The display name change reaches the bridge in ~1 s; a NICK, if any, would follow at once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    user.send_text(&portal, "still picked").await;
    let (from, _) = next_privmsg(&mut pal.incoming, |_, t| t == "still picked").await;
    assert_eq!(from, chosen, "the chosen nick stays");
    user.send_text(&dm, "!nick").await;
    let shown = user.wait_for_event(&dm, WAIT, notice_from(&bot, "Your nick on testnet is")).await.expect("nick shows the nick");
    assert!(shown["content"]["body"].as_str().unwrap().contains(&chosen), "{shown}");
}
