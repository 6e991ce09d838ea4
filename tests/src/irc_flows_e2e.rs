//! The IRC bridge's user flows beyond talking: the status room, the bot's commands, ops and
//! voice, topic and kicks both ways, IRCv3 replies and reactions, corrections, mentions, and
//! plumbed rooms with relaying. Real Synapse, real InspIRCd, a plain IRC client.

use irc::proto::{Command, Message};
use mxbridge_irc::connection::{ConnectOptions, Connection, LineKind, connect, send_text};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::harness::matrix_client::TestUser;
use crate::irc_connection::next_matching;
use crate::irc_e2e::{WAIT, irc_addr, next_join_of, next_privmsg, notice_from, shared_irc, user_in_channel};

fn tag(msg: &Message, name: &str) -> Option<String> {
    msg.tags.as_ref()?.iter().find(|t| t.0 == name)?.1.clone()
}

/// A plain IRC user in `channel`.
async fn pal_in(channel: &str) -> (Connection, String) {
    let (host, port) = irc_addr();
    let nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let pal = connect(&ConnectOptions::new(host, port, &nick)).await.expect("the IRC user connects");
    pal.sender.send_join(channel).unwrap();
    (pal, nick)
}

fn ghost_of(nick: &str) -> String {
    format!("@_irc_{}:{}", nick.to_lowercase(), shared_irc().domain)
}

async fn wait_ghost_joined(user: &mut TestUser, room: &str, ghost: &str) {
    user.wait_for_event(room, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost && ev["content"]["membership"] == "join"
    })
    .await
    .expect("the IRC user's ghost joins");
}

fn body_contains(sender: &str, needle: &str) -> impl Fn(&Value) -> bool {
    let (sender, needle) = (sender.to_owned(), needle.to_owned());
    move |ev: &Value| ev["sender"] == sender.as_str() && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle.as_str()))
}

#[tokio::test]
async fn test_status_room_commands_and_mentions() {
    let config = shared_irc();
    let bot = config.bot_user_id.to_string();
    let channel = format!("#st{}", rand::random::<u32>());
    let (mut pal, pal_nick) = pal_in(&channel).await;

    // Joining by alias without ever talking to the bot: the bot opens a status room.
    let mut user = TestUser::register("stat").await;
    let alias = format!("#_irc_=23{}:{}", &channel[1..], config.domain);
    let portal = user.join(&alias).await;
    let status = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to a status room");
    user.join(&status).await;
    assert_eq!(user.get_state(&status, "m.room.name", "").await["name"], "testnet IRC Bridge status");
    user.wait_for_event(&status, WAIT, notice_from(&bot, "Connected to IRC as")).await.expect("the first connection is reported");

    user.send_text(&status, "bridgeversion").await;
    user.wait_for_event(&status, WAIT, notice_from(&bot, "mxbridge ")).await.expect("the version");
    user.send_text(&status, "join othernet #elsewhere").await;
    user.wait_for_event(&status, WAIT, notice_from(&bot, "no network called `othernet`")).await.expect("another network is refused");
    user.send_text(&status, "nick testnet").await;
    let nick_notice = user.wait_for_event(&status, WAIT, notice_from(&bot, "Your nick on testnet is")).await.expect("nick with [net]");
    let puppet = nick_notice["content"]["body"].as_str().unwrap().trim_end_matches('.').rsplit(' ').next().unwrap().to_owned();

    user.send_text(&status, "listrooms").await;
    let listed = user.wait_for_event(&status, WAIT, notice_from(&bot, "Your channels on testnet")).await.expect("listrooms");
    let listed = listed["content"]["body"].as_str().unwrap();
    assert!(listed.contains(&channel) && listed.contains(&format!("https://matrix.to/#/{portal}")), "{listed}");

    user.send_text(&status, &format!("whois {pal_nick}")).await;
    user.wait_for_event(&status, WAIT, notice_from(&bot, "connected to")).await.expect("whois of an IRC nick");
    user.send_text(&status, &format!("whois {}", user.user_id)).await;
    user.wait_for_event(&status, WAIT, body_contains(&bot, &format!("is {puppet} on testnet"))).await.expect("whois of a Matrix user");

    // `cmd` sends a raw command and answers only on failure.
    user.send_text(&status, &format!("cmd PRIVMSG {pal_nick} \"raw hello\"")).await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "raw hello").await;
    user.send_text(&status, "cmd privmsg x y").await;
    user.wait_for_event(&status, WAIT, notice_from(&bot, "is not an IRC command")).await.expect("lower case is refused");
    user.send_text(&status, "cmd QUIT").await;
    user.wait_for_event(&status, WAIT, notice_from(&bot, "would break your bridged connection")).await.expect("QUIT is refused");

    // The puppet's nick in an IRC line becomes a pill of the user, unless turned off.
    let ghost = ghost_of(&pal_nick);
    send_text(&pal.sender, &channel, LineKind::Message, &format!("{puppet}: ping one")).unwrap();
    let ev = user.wait_for_event(&portal, WAIT, body_contains(&ghost, "ping one")).await.expect("the mention arrives");
    let pill = format!("https://matrix.to/#/{}", user.user_id);
    assert!(ev["content"]["formatted_body"].as_str().is_some_and(|h| h.contains(&pill)), "a pill: {ev}");
    user.send_text(&status, "feature mentions false").await;
    user.wait_for_event(&status, WAIT, notice_from(&bot, "no longer becomes a mention")).await.expect("feature off");
    send_text(&pal.sender, &channel, LineKind::Message, &format!("{puppet}: ping two")).unwrap();
    let ev = user.wait_for_event(&portal, WAIT, body_contains(&ghost, "ping two")).await.expect("the line arrives");
    assert!(!ev["content"]["formatted_body"].as_str().unwrap_or("").contains(&pill), "no pill when turned off: {ev}");
}

#[tokio::test]
async fn test_ops_voice_topic_and_kicks_both_ways() {
    let channel = format!("#op{}", rand::random::<u32>());
    // The Matrix user's puppet creates the channel, so it is op, and so is the user in Matrix.
    let (mut user, dm, portal) = user_in_channel("oper", &channel).await;
    let user_id = user.user_id.clone();
    user.wait_power_level(&portal, &user_id, 50).await;

    let (mut pal, pal_nick) = pal_in(&channel).await;
    let ghost = ghost_of(&pal_nick);
    wait_ghost_joined(&mut user, &portal, &ghost).await;

    // away-notify: an away IRC user's ghost is unavailable with the away message, and back.
    pal.sender.send(Command::AWAY(Some("at lunch".into()))).unwrap();
    user.wait_for_presence(&ghost, "unavailable", Some("at lunch"), WAIT).await.expect("the ghost is away");
    pal.sender.send(Command::AWAY(None)).unwrap();
    user.wait_for_presence(&ghost, "online", None, WAIT).await.expect("the ghost is back");

    // Topic from Matrix reaches IRC.
    user.put_state(&portal, "m.room.topic", "", json!({"topic": "set from matrix"})).await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::TOPIC(_, Some(t)) if t == "set from matrix")).await;

    // Voice and op on IRC become power levels.
    user.send_text(&dm, &format!("cmd MODE {channel} +v {pal_nick}")).await;
    user.wait_power_level(&portal, &ghost, 1).await;
    user.send_text(&dm, &format!("cmd MODE {channel} +o {pal_nick}")).await;
    user.wait_power_level(&portal, &ghost, 50).await;
    user.send_text(&dm, &format!("cmd MODE {channel} -o {pal_nick}")).await;
    user.wait_power_level(&portal, &ghost, 1).await;

    // A Matrix moderator's kick of a ghost kicks the IRC user.
    user.kick(&portal, &ghost, "behave").await;
    let kick = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::KICK(..))).await;
    let Command::KICK(_, target, reason) = &kick.command else { unreachable!() };
    assert_eq!(target.to_lowercase(), pal_nick.to_lowercase());
    assert_eq!(reason.as_deref(), Some("behave"));

    // A Matrix ban of a ghost bans the IRC user's nick and kicks them.
    pal.sender.send_join(&channel).unwrap();
    wait_ghost_joined(&mut user, &portal, &ghost).await;
    user.request_ban(&portal, &ghost, "banned").await;
    next_matching(&mut pal.incoming, |m| m.to_string().contains("+b") && m.to_string().contains(&format!("{pal_nick}!*@*"))).await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::KICK(..))).await;
    user.send_text(&dm, &format!("cmd MODE {channel} -b {pal_nick}!*@*")).await;
    user.unban(&portal, &ghost).await;
    // The IRC user may join again once the ban is lifted (474 until then).
    tokio::time::timeout(WAIT, async {
        loop {
            pal.sender.send_join(&channel).unwrap();
            let answer = next_matching(&mut pal.incoming, |m| {
                matches!(&m.command, Command::JOIN(..)) && m.source_nickname() == Some(pal_nick.as_str()) || m.to_string().contains(" 474 ")
            })
            .await;
            if matches!(answer.command, Command::JOIN(..)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("the ban is lifted");

    // An IRC op's kick of the puppet removes the Matrix user from the room.
    user.send_text(&dm, &format!("cmd MODE {channel} +o {pal_nick}")).await;
    user.wait_power_level(&portal, &ghost, 50).await;
    user.send_text(&dm, "nick").await;
    let nick_notice =
        user.wait_for_event(&dm, WAIT, |ev| ev["content"]["body"].as_str().is_some_and(|b| b.contains("Your nick"))).await.unwrap();
    let puppet = nick_notice["content"]["body"].as_str().unwrap().trim_end_matches('.').rsplit(' ').next().unwrap().to_owned();
    pal.sender.send(Command::KICK(channel.clone(), puppet, Some("out you go".into()))).unwrap();
    let left = user.wait_for_membership(&portal, "leave", WAIT).await.expect("the user is removed from the room");
    assert!(left["content"]["reason"].as_str().is_some_and(|r| r.contains("out you go")), "{left}");
}

#[tokio::test]
async fn test_ircv3_replies_reactions_and_corrections() {
    let channel = format!("#tag{}", rand::random::<u32>());
    let (mut user, _dm, portal) = user_in_channel("tagger", &channel).await;
    let (mut pal, pal_nick) = pal_in(&channel).await;
    let ghost = ghost_of(&pal_nick);
    wait_ghost_joined(&mut user, &portal, &ghost).await;

    // The IRC user's line, its msgid (from the echo), and its Matrix event.
    send_text(&pal.sender, &channel, LineKind::Message, "original line").unwrap();
    let echo = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t == "original line")).await;
    let pal_msgid = tag(&echo, "msgid").expect("the server gives msgids");
    let original = user.wait_for_event(&portal, WAIT, body_contains(&ghost, "original line")).await.unwrap();
    let original_id = original["event_id"].as_str().unwrap().to_owned();

    // A Matrix reply: the nick is addressed and +draft/reply points at the line.
    let body = json!({"msgtype": "m.text", "body": "my answer", "m.relates_to": {"m.in_reply_to": {"event_id": original_id}}});
    user.send_content(&portal, "m.room.message", body).await;
    let reply = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t.ends_with("my answer"))).await;
    let Command::PRIVMSG(_, text) = &reply.command else { unreachable!() };
    assert_eq!(text, &format!("{pal_nick}: my answer"));
    assert_eq!(tag(&reply, "+draft/reply").as_deref(), Some(pal_msgid.as_str()));
    let puppet = reply.source_nickname().unwrap().to_owned();

    // A Matrix reaction becomes a +draft/react TAGMSG.
    user.react(&portal, &original_id, "👍").await;
    let react = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::Raw(v, _) if v == "TAGMSG")).await;
    assert_eq!(tag(&react, "+draft/react").as_deref(), Some("👍"));
    assert_eq!(tag(&react, "+draft/reply").as_deref(), Some(pal_msgid.as_str()));

    // The Matrix user's line gets a server msgid; an IRC reaction and reply to it reach Matrix.
    let mine = user.send_text(&portal, "typo lien").await;
    let line = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t == "typo lien")).await;
    let my_msgid = tag(&line, "msgid").expect("msgid");
    let react_tags = vec![
        irc::proto::message::Tag("+draft/react".into(), Some("🎉".into())),
        irc::proto::message::Tag("+draft/reply".into(), Some(my_msgid.clone())),
    ];
    pal.sender
        .send(Message { tags: Some(react_tags), prefix: None, command: Command::Raw("TAGMSG".into(), vec![channel.clone()]) })
        .unwrap();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["type"] == "m.reaction"
            && ev["sender"] == ghost.as_str()
            && ev["content"]["m.relates_to"]["event_id"] == mine.as_str()
            && ev["content"]["m.relates_to"]["key"] == "🎉"
    })
    .await
    .expect("the IRC reaction arrives on the right event");
    let reply_tags = vec![irc::proto::message::Tag("+draft/reply".into(), Some(my_msgid))];
    let command = Command::PRIVMSG(channel.clone(), "re: yours".into());
    pal.sender.send(Message { tags: Some(reply_tags), prefix: None, command }).unwrap();
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["sender"] == ghost.as_str() && ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == mine.as_str()
    })
    .await
    .expect("the IRC reply is a Matrix reply");

    // An edit goes out as a correction line, and the sender is told.
    let edit = json!({
        "msgtype": "m.text", "body": "* typo line",
        "m.new_content": {"msgtype": "m.text", "body": "typo line"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": mine},
    });
    user.send_content(&portal, "m.room.message", edit).await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "* typo line").await;
    user.wait_for_event(&portal, WAIT, |ev| {
        ev["content"]["msgtype"] == "m.notice" && ev["content"]["body"].as_str().is_some_and(|b| b.contains("sent as a new line"))
    })
    .await
    .expect("the sender is told the edit became a new line");
}

#[tokio::test]
async fn test_plumbed_room_relays_users_without_a_connection_and_unlinks() {
    let config = shared_irc();
    let bot = config.bot_user_id.to_string();
    let mut admin = TestUser::register_or_login("admin").await;
    let dm = admin.create_dm(&bot).await;
    admin.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");
    let room = admin.create_room("plumbed", std::slice::from_ref(&bot)).await;
    admin
        .wait_for_event(&room, WAIT, |ev| {
            ev["type"] == "m.room.member" && ev["state_key"] == bot.as_str() && ev["content"]["membership"] == "join"
        })
        .await
        .expect("the bot joins the room");

    let channel = format!("#pl{}", rand::random::<u32>());
    let (mut pal, pal_nick) = pal_in(&channel).await;
    admin.send_text(&dm, "plumb !nope:localhost testnet #x").await;
    admin.wait_for_event(&dm, WAIT, notice_from(&bot, "I am not in !nope:localhost")).await.expect("the bot must be in the room");
    admin.send_text(&dm, &format!("plumb {room} othernet {channel}")).await;
    admin.wait_for_event(&dm, WAIT, notice_from(&bot, "does not serve a network called `othernet`")).await.expect("network checked");
    admin.send_text(&dm, &format!("plumb {room} testnet {channel}")).await;
    admin.wait_for_event(&dm, WAIT, notice_from(&bot, "Linked")).await.expect("plumbed");
    let bot_nick = next_join_of(&mut pal.incoming, "MatrixBridge").await;

    // IRC → the plumbed room.
    let ghost = ghost_of(&pal_nick);
    send_text(&pal.sender, &channel, LineKind::Message, "hello plumbed room").unwrap();
    admin.wait_for_event(&room, WAIT, body_contains(&ghost, "hello plumbed room")).await.expect("IRC lines reach the plumbed room");

    // A user without their own connection is relayed by the bot's connection, never dropped.
    let mut relayed = TestUser::register_or_login("relayonly").await;
    admin.invite(&room, relayed.user_id.as_str()).await;
    relayed.join(&room).await;
    relayed.send_text(&room, "hello via relay").await;
    let (_, text) = next_privmsg(&mut pal.incoming, |from, t| from == bot_nick && t.ends_with("hello via relay")).await;
    assert!(text.starts_with("<relayonly"), "the relayed line names its sender: {text}");

    // Unlinking stops the bridge and the bot's connection leaves.
    admin.send_text(&dm, &format!("unlink {room}")).await;
    admin.wait_for_event(&dm, WAIT, notice_from(&bot, "no longer linked")).await.expect("unlinked");
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PART(..)) && m.source_nickname() == Some(bot_nick.as_str())).await;
}

#[tokio::test]
async fn test_bridge_restart_brings_back_nick_and_channels_and_queues_sends() {
    use crate::demo_bridge::{RunningBridge, config, network_section, state_dir};

    let dir = state_dir("irc-restart");
    let irc_config = || {
        let mut config = config("irc-restart", &dir);
        let (host, port) = irc_addr();
        config.network["server"] = host.into();
        config.network["port"] = port.into();
        let irc: mxbridge_irc::IrcConfig = serde_json::from_value(network_section(&config)).expect("irc section");
        (config, irc)
    };
    let start = || async {
        let (config, irc) = irc_config();
        RunningBridge::start_with(config, mxbridge_irc::IrcNetwork::new(irc), mxbridge_demo::DemoNetwork::new(Default::default()).1).await
    };
    let bridge = start().await;
    let bot = bridge.config.bot_user_id.to_string();
    let channel = format!("#rs{}", rand::random::<u32>());
    let (mut pal, _) = pal_in(&channel).await;

    let mut user = TestUser::register("restarter").await;
    let dm = user.create_dm(&bot).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");
    user.send_text(&dm, &format!("join {channel}")).await;
    let portal = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited");
    user.join(&portal).await;
    let chosen = format!("kept{}", rand::random::<u32>() % 100_000);
    user.send_text(&dm, &format!("nick {chosen}")).await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::NICK(n) if *n == chosen)).await;

    bridge.stop().await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::QUIT(_)) && m.source_nickname() == Some(chosen.as_str())).await;
    let bridge = start().await;

    // Sent at once, while the puppet is still connecting: it waits for the connection.
    user.send_text(&portal, "sent while reconnecting").await;
    // The puppet comes back by itself, with the chosen nick, into the same channel.
    next_matching(&mut pal.incoming, |m| {
        matches!(&m.command, Command::JOIN(c, _, _) if *c == channel) && m.source_nickname() == Some(chosen.as_str())
    })
    .await;
    next_privmsg(&mut pal.incoming, |from, t| from == chosen && t == "sent while reconnecting").await;
    bridge.stop().await;
}

#[tokio::test]
async fn test_inviting_a_ghost_starts_a_private_chat_with_the_irc_user() {
    let channel = format!("#dm{}", rand::random::<u32>());
    let (mut pal, pal_nick) = pal_in(&channel).await;
    let ghost = ghost_of(&pal_nick);
    let mut user = TestUser::register("dmer").await;
    let room = user.create_dm(&ghost).await;
    user.wait_for_event(&room, WAIT, |ev| {
        ev["type"] == "m.room.member" && ev["state_key"] == ghost.as_str() && ev["content"]["membership"] == "join"
    })
    .await
    .expect("the ghost accepts the DM");
    user.send_text(&room, "hello pal, privately").await;
    let pm = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t == "hello pal, privately")).await;
    let Command::PRIVMSG(target, _) = &pm.command else { unreachable!() };
    assert_eq!(target.to_lowercase(), pal_nick.to_lowercase(), "a private message to the IRC user, not to a channel");
    let puppet = pm.source_nickname().unwrap().to_owned();
    send_text(&pal.sender, &puppet, LineKind::Message, "private answer").unwrap();
    user.wait_for_event(&room, WAIT, body_contains(&ghost, "private answer")).await.expect("the answer comes back into the same room");
}

#[tokio::test]
async fn test_files_and_long_messages_reach_irc_as_working_links() {
    let channel = format!("#ln{}", rand::random::<u32>());
    let (mut user, _dm, portal) = user_in_channel("linker", &channel).await;
    let (mut pal, pal_nick) = pal_in(&channel).await;
    wait_ghost_joined(&mut user, &portal, &ghost_of(&pal_nick)).await;
    let notice_on = |needle: &'static str| {
        move |ev: &Value| ev["content"]["msgtype"] == "m.notice" && ev["content"]["body"].as_str().is_some_and(|b| b.contains(needle))
    };
    let fetch = |url: String| async move {
        let resp = reqwest::get(&url).await.expect("the link answers");
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        resp.bytes().await.unwrap().to_vec()
    };

    // A file: IRC gets a link that serves it without any Matrix login.
    let data = b"file contents for IRC".to_vec();
    let mxc = user.upload(data.clone(), "text/plain").await;
    user.send_content(&portal, "m.room.message", json!({"msgtype": "m.file", "body": "notes.txt", "url": mxc})).await;
    let line = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t.contains("/_mxbridge/media/"))).await;
    let Command::PRIVMSG(_, text) = &line.command else { unreachable!() };
    let url = text.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    assert_eq!(fetch(url).await, data, "the link serves the file");
    user.wait_for_event(&portal, WAIT, notice_on("got a link to yours")).await.expect("the sender is told");

    // A long message: its start and a link to the whole text, on one line.
    let long: Vec<String> = (1..=8).map(|i| format!("line number {i} of a long paste")).collect();
    user.send_text(&portal, &long.join("\n")).await;
    let line = next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::PRIVMSG(_, t) if t.contains("full message:"))).await;
    let Command::PRIVMSG(_, text) = &line.command else { unreachable!() };
    assert!(text.starts_with("line number 1 of a long paste… (full message: http://"), "{text}");
    let url = text.rsplit(' ').next().unwrap().trim_end_matches(')').to_owned();
    assert_eq!(String::from_utf8(fetch(url).await).unwrap(), long.join("\n"), "the link serves the whole text");
    user.wait_for_event(&portal, WAIT, notice_on("would have taken 8 IRC lines")).await.expect("the sender is told");
    let more = tokio::time::timeout(std::time::Duration::from_millis(500), next_msg_quiet(&mut pal.incoming, "line number 2")).await;
    assert!(more.is_err(), "the other lines are not sent as well");
}

/// Waits for a PRIVMSG containing `needle` without a deadline of its own.
async fn next_msg_quiet(incoming: &mut UnboundedReceiver<Box<Message>>, needle: &str) {
    while let Some(msg) = incoming.recv().await {
        if matches!(&msg.command, Command::PRIVMSG(_, t) if t.contains(needle)) {
            return;
        }
    }
}

#[tokio::test]
async fn test_quit_leaves_every_channel_and_active_keeps_the_connection() {
    let channel = format!("#qt{}", rand::random::<u32>());
    let (mut user, dm, portal) = user_in_channel("quitter", &channel).await;
    let (mut pal, _) = pal_in(&channel).await;
    let bot = shared_irc().bot_user_id.to_string();
    user.send_text(&dm, "active").await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "stays up even when you are idle")).await.expect("active");
    user.send_text(&dm, "nick").await;
    let nick_notice = user.wait_for_event(&dm, WAIT, notice_from(&bot, "Your nick")).await.unwrap();
    let puppet = nick_notice["content"]["body"].as_str().unwrap().trim_end_matches('.').rsplit(' ').next().unwrap().to_owned();

    user.send_text(&dm, "quit").await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "left 1 channel(s)")).await.expect("quit answers");
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::QUIT(_)) && m.source_nickname() == Some(puppet.as_str())).await;
    user.wait_for_membership(&portal, "leave", WAIT).await.expect("the user leaves the channel's room too");
}

#[tokio::test]
async fn test_a_line_the_server_refuses_is_reported_to_its_sender() {
    // An IRC op moderates the channel before the Matrix user arrives: the puppet has no
    // voice, so InspIRCd refuses its lines (404), and labeled-response ties the refusal to
    // the Matrix message.
    let channel = format!("#mod{}", rand::random::<u32>());
    let (mut pal, pal_nick) = pal_in(&channel).await;
    next_matching(&mut pal.incoming, |m| matches!(&m.command, Command::JOIN(..)) && m.source_nickname() == Some(pal_nick.as_str())).await;
    pal.sender.send(Command::Raw("MODE".into(), vec![channel.clone(), "+m".into()])).unwrap();
    next_matching(&mut pal.incoming, |m| m.to_string().contains("+m")).await;

    let (mut user, _, portal) = user_in_channel("muted", &channel).await;
    let bot = shared_irc().bot_user_id.to_string();
    let event = user.send_text(&portal, "can anyone hear me").await;
    let notice = user
        .wait_for_event(&portal, WAIT, |ev| {
            ev["sender"] == bot.as_str()
                && ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event.as_str()
                && ev["content"]["body"].as_str().is_some_and(|b| b.contains("Not delivered"))
        })
        .await
        .expect("the sender is told the line was refused");
    assert!(notice["content"]["body"].as_str().unwrap().contains("+m"), "with the server's reason: {notice}");

    // Voiced, the same user is heard.
    let puppet = next_join_of(&mut pal.incoming, "muted").await;
    pal.sender.send(Command::Raw("MODE".into(), vec![channel.clone(), "+v".into(), puppet.clone()])).unwrap();
    next_matching(&mut pal.incoming, |m| m.to_string().contains("+v")).await;
    user.send_text(&portal, "now with voice").await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "now with voice").await;
}
