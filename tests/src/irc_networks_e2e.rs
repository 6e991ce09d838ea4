//! One bridge serving two IRC networks (`network.networks`), end to end through the real
//! Synapse and InspIRCd. Both networks are the same InspIRCd here, so the test can watch
//! both puppets of one Matrix user from one plain IRC client; what must stay apart is the
//! bridge's side: portals, ghosts, logins and commands, by network name.

use std::sync::OnceLock;

use mxbridge_core::config::Config;
use mxbridge_irc::IrcSection;
use mxbridge_irc::connection::{ConnectOptions, LineKind, connect, send_text};
use serde_json::Value;

use crate::demo_bridge::{RunningBridge, config, network_section, run_forever, state_dir};
use crate::harness::matrix_client::TestUser;
use crate::irc_e2e::{WAIT, irc_addr, next_join_of, next_privmsg, notice_from};

fn shared_bridge() -> &'static Config {
    static SHARED: OnceLock<Config> = OnceLock::new();
    SHARED.get_or_init(|| {
        run_forever(|| async {
            let mut config = config("irc-networks", &state_dir("irc-networks"));
            let (host, port) = irc_addr();
            for network in config.network["networks"].as_array_mut().expect("a list of networks") {
                network["server"] = host.clone().into();
                network["port"] = port.into();
            }
            let section: IrcSection = serde_json::from_value(network_section(&config)).expect("irc section");
            let network = mxbridge_irc::build(section).expect("two networks");
            let bridge = RunningBridge::start_with(config, network, mxbridge_demo::DemoNetwork::new(Default::default()).1).await;
            (bridge.config.clone(), bridge)
        })
    })
}

/// Sends a command in the management room and waits for the bot's answer containing `needle`.
async fn command(user: &mut TestUser, dm: &str, bot: &str, line: &str, needle: &'static str) -> String {
    user.send_text(dm, line).await;
    let ev = user.wait_for_event(dm, WAIT, notice_from(bot, needle)).await.unwrap_or_else(|e| panic!("`{line}` answered: {e:?}"));
    ev["content"]["body"].as_str().unwrap_or_default().to_owned()
}

fn is_member(ghost: &str) -> impl Fn(&Value) -> bool + '_ {
    move |ev: &Value| ev["type"] == "m.room.member" && ev["state_key"] == ghost && ev["content"]["membership"] == "join"
}

#[tokio::test]
async fn test_two_networks_keep_portals_ghosts_puppets_and_commands_apart() {
    let config = shared_bridge();
    let bot = config.bot_user_id.to_string();
    let domain = config.domain.to_string();
    let mut user = TestUser::register("multi").await;
    let dm = user.create_dm(&bot).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");

    // The same channel name on each network is a room of its own.
    let channel = format!("#both{}", rand::random::<u32>());
    let on_beta = command(&mut user, &dm, &bot, &format!("join beta {channel}"), "Joining").await;
    assert!(on_beta.contains(" on beta as "), "the answer names the network: {on_beta}");
    let beta_room = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to beta's room");
    user.join(&beta_room).await;
    let on_alpha = command(&mut user, &dm, &bot, &format!("join {channel}"), "Joining").await;
    assert!(on_alpha.contains(" on alpha as "), "no network named: the first one: {on_alpha}");
    let alpha_room = user.wait_for_invite(WAIT, |room, _| room != beta_room).await.expect("invited to alpha's room");
    user.join(&alpha_room).await;
    assert_ne!(alpha_room, beta_room);

    // One IRC user in the channel (the same server for both networks).
    let (host, port) = irc_addr();
    let pal_nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &pal_nick)).await.expect("the IRC user connects");
    pal.sender.send_join(&channel).unwrap();

    // Each room speaks through that network's puppet: beta's nick template is `{localpart}[b]`.
    user.send_text(&beta_room, "via beta").await;
    let (beta_puppet, _) = next_privmsg(&mut pal.incoming, |_, t| t == "via beta").await;
    assert!(beta_puppet.ends_with("[b]"), "beta's puppet, by its nick template: {beta_puppet}");
    user.send_text(&alpha_room, "via alpha").await;
    let (alpha_puppet, _) = next_privmsg(&mut pal.incoming, |_, t| t == "via alpha").await;
    assert!(alpha_puppet.ends_with("[m]"), "alpha's puppet, by the default template: {alpha_puppet}");

    // The IRC user's lines arrive in each network's room from that network's ghost.
    let lower = pal_nick.to_lowercase();
    let beta_ghost = format!("@_ircn_beta.{lower}:{domain}");
    let alpha_ghost = format!("@_ircn_alpha.{lower}:{domain}");
    user.wait_for_event(&beta_room, WAIT, is_member(&beta_ghost)).await.expect("beta's ghost of the IRC user joins beta's room");
    user.wait_for_event(&alpha_room, WAIT, is_member(&alpha_ghost)).await.expect("alpha's ghost joins alpha's room");
    send_text(&pal.sender, &channel, LineKind::Message, "hello both").unwrap();
    user.wait_for_event(&beta_room, WAIT, |ev| ev["sender"] == beta_ghost.as_str() && ev["content"]["body"] == "hello both")
        .await
        .expect("in beta's room, from beta's ghost");
    user.wait_for_event(&alpha_room, WAIT, |ev| ev["sender"] == alpha_ghost.as_str() && ev["content"]["body"] == "hello both")
        .await
        .expect("in alpha's room, from alpha's ghost");

    // Commands name their network; an unknown name lists the known ones.
    let nick_beta = command(&mut user, &dm, &bot, "nick beta", "Your nick on beta").await;
    assert!(nick_beta.contains(&beta_puppet), "{nick_beta}");
    let nicks = command(&mut user, &dm, &bot, "nick", "Your nick on").await;
    assert!(nicks.contains(&alpha_puppet) && nicks.contains(&beta_puppet), "`nick` alone shows every network's: {nicks}");
    let unknown = command(&mut user, &dm, &bot, &format!("join gamma {channel}"), "no network called").await;
    assert!(unknown.contains("alpha, beta"), "{unknown}");
    let rooms = command(&mut user, &dm, &bot, "listrooms", "Your channels").await;
    assert!(rooms.contains("alpha:") && rooms.contains("beta:"), "listrooms without a network covers both: {rooms}");
    assert!(rooms.contains(&alpha_room) && rooms.contains(&beta_room), "{rooms}");

    // A private message to the beta puppet opens a DM with beta's ghost.
    pal.sender.send_privmsg(&beta_puppet, "psst").unwrap();
    let dm_room = user.wait_for_invite(WAIT, |_, _| true).await.expect("invited to the DM");
    user.join(&dm_room).await;
    user.wait_for_event(&dm_room, WAIT, |ev| ev["sender"] == beta_ghost.as_str() && ev["content"]["body"] == "psst")
        .await
        .expect("the private message, from beta's ghost");
    user.send_text(&dm_room, "psst back").await;
    let (from, _) = next_privmsg(&mut pal.incoming, |_, t| t == "psst back").await;
    assert_eq!(from, beta_puppet, "the reply goes out through the beta puppet");

    // An alias names its network: alpha's form leads to alpha's room.
    let other = TestUser::register("multialias").await;
    let alias = format!("#_ircn_alpha.=23{}:{domain}", &channel[1..]);
    assert_eq!(other.join(&alias).await, alpha_room);
    let joined = next_join_of(&mut pal.incoming, "multialias").await;
    assert!(joined.ends_with("[m]"), "through alpha's puppet: {joined}");
}

#[tokio::test]
async fn test_plumbing_names_the_network_and_relays_through_that_networks_bot() {
    let config = shared_bridge();
    let bot = config.bot_user_id.to_string();
    let domain = config.domain.to_string();
    let mut admin = TestUser::register_or_login("admin").await;
    let dm = admin.create_dm(&bot).await;
    admin.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");
    let room = admin.create_room("plumbed on beta", std::slice::from_ref(&bot)).await;
    admin.wait_for_event(&room, WAIT, is_member(&bot)).await.expect("the bot joins the room");

    let channel = format!("#plb{}", rand::random::<u32>());
    let (host, port) = irc_addr();
    let pal_nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &pal_nick)).await.expect("the IRC user connects");
    pal.sender.send_join(&channel).unwrap();

    command(&mut admin, &dm, &bot, &format!("plumb {room} gamma {channel}"), "does not serve a network called `gamma`").await;
    command(&mut admin, &dm, &bot, &format!("plumb {room} beta {channel}"), "Linked").await;
    let bot_nick = next_join_of(&mut pal.incoming, "BetaBridge").await;

    let ghost = format!("@_ircn_beta.{}:{domain}", pal_nick.to_lowercase());
    send_text(&pal.sender, &channel, LineKind::Message, "hello plumbed beta").unwrap();
    admin
        .wait_for_event(&room, WAIT, |ev| ev["sender"] == ghost.as_str() && ev["content"]["body"] == "hello plumbed beta")
        .await
        .expect("IRC lines reach the room from beta's ghost");

    let mut relayed = TestUser::register_or_login("relayonly").await;
    admin.invite(&room, relayed.user_id.as_str()).await;
    relayed.join(&room).await;
    relayed.send_text(&room, "relayed on beta").await;
    let (_, text) = next_privmsg(&mut pal.incoming, |from, t| from == bot_nick && t.ends_with("relayed on beta")).await;
    assert!(text.starts_with("<relayonly"), "relayed by beta's bot connection, naming the sender: {text}");
}

/// Multi-network aliases in matrix-appservice-irc's literal style, `#_ircn_alpha.#chan`, and
/// networks named by a server address (`irc.alpha.example` is alpha's configured address;
/// `127.0.0.1` is both networks' server, so it names neither).
#[tokio::test]
async fn test_literal_aliases_and_server_addresses_name_their_network() {
    let config = shared_bridge();
    let bot = config.bot_user_id.to_string();
    let domain = config.domain.to_string();
    let channel = format!("#lit{}", rand::random::<u32>());
    let (host, port) = irc_addr();
    let pal_nick = format!("pal{}", rand::random::<u32>() % 1_000_000);
    let mut pal = connect(&ConnectOptions::new(host, port, &pal_nick)).await.expect("the IRC user connects");
    pal.sender.send_join(&channel).unwrap();

    let mut user = TestUser::register("multilit").await;
    let literal = format!("#_ircn_alpha.{channel}:{domain}");
    let room = user.join(&literal).await;
    let puppet = next_join_of(&mut pal.incoming, "multilit").await;
    assert!(puppet.ends_with("[m]"), "alpha's puppet: {puppet}");
    assert_eq!(user.get_state(&room, "m.room.canonical_alias", "").await["alias"], literal.as_str());
    let escaped = format!("#_ircn_alpha.=23{}:{domain}", &channel[1..]);
    assert_eq!(user.resolve_alias(&escaped).await.as_deref(), Some(room.as_str()), "the escaped form is the same room");
    user.send_text(&room, "literal on alpha").await;
    next_privmsg(&mut pal.incoming, |from, t| from == puppet && t == "literal on alpha").await;

    let dm = user.create_dm(&bot).await;
    user.wait_for_event(&dm, WAIT, notice_from(&bot, "management room")).await.expect("welcome");
    let other = format!("#lat{}", rand::random::<u32>());
    let joining = command(&mut user, &dm, &bot, &format!("join irc.alpha.example {other}"), "Joining").await;
    assert!(joining.contains(" on alpha as "), "{joining}");
    let ambiguous = command(&mut user, &dm, &bot, &format!("join 127.0.0.1 {other}"), "address of several networks").await;
    assert!(ambiguous.contains("alpha, beta"), "{ambiguous}");
}
