//! The XMPP half of the test stack works: Prosody takes users who register in-band, its MUC
//! service relays room messages and archives them (MAM, for backfill), and an external
//! component, as the bridge will be one, logs in with the exported secret (and not with
//! another), receives what users send to its domain and reaches users and rooms. When
//! these fail, the XMPP bridge tests' failures say nothing about the bridge.
//!
//! The users are real slixmpp clients (`harness::xmpp_user`); the component side is a plain
//! `TcpStream` on purpose: nothing of the bridge's own XMPP code is used.

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::env;
use crate::harness::xmpp_user::{MUC_DOMAIN, WAIT, XmppUser};

/// Components of the test server set aside for these tests (scripts/lib.sh), one per test
/// that connects: Prosody refuses a second connection for a connected component.
const HANDSHAKE_COMPONENT: &str = "smoke1.localhost";
const STANZAS_COMPONENT: &str = "smoke2.localhost";

fn random_name(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

/// The XEP-0114 handshake value: lowercase hex SHA-1 of the stream id followed by the secret.
fn handshake_digest(stream_id: &str, secret: &str) -> String {
    Sha1::digest(format!("{stream_id}{secret}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A raw component connection: XML text in, accumulated text out.
struct Component {
    stream: TcpStream,
    /// Everything received and not yet consumed by [`Component::read_until`].
    buf: String,
}

impl Component {
    /// Connects as component DOMAIN and returns the connection and the stream id.
    async fn open(domain: &str) -> (Component, String) {
        let addr = env::xmpp_component();
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(&addr))
            .await
            .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut c = Component { stream, buf: String::new() };
        c.send(&format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'>"
        ))
        .await;
        let header =
            c.read_until("the stream header", |b| b.find("<stream:stream").and_then(|s| b[s..].find('>').map(|e| s + e + 1))).await;
        let header = &header[header.find("<stream:stream").unwrap_or(0)..];
        let id = attribute(header, "id").unwrap_or_else(|| panic!("no stream id in {header}"));
        (c, id)
    }

    /// Opens a connection and sends the handshake made with SECRET; returns the connection
    /// and the server's answer: `<handshake/>` on success, else a stream error.
    async fn handshake(domain: &str, secret: &str) -> (Component, String) {
        let (mut c, id) = Component::open(domain).await;
        c.send(&format!("<handshake>{}</handshake>", handshake_digest(&id, secret))).await;
        let reply = c
            .read_until("the handshake's answer", |b| {
                ["<handshake/>", "<handshake></handshake>", "</stream:error>"].iter().find_map(|end| b.find(end).map(|i| i + end.len()))
            })
            .await;
        (c, reply)
    }

    async fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).await.unwrap_or_else(|e| panic!("component: sending {xml}: {e}"));
    }

    /// Reads until `end` finds where the wanted part of the received text ends; returns
    /// that part and keeps the rest for the next call.
    async fn read_until(&mut self, what: &str, end: impl Fn(&str) -> Option<usize>) -> String {
        let found = tokio::time::timeout(WAIT, async {
            let mut chunk = [0u8; 8192];
            loop {
                if let Some(i) = end(&self.buf) {
                    return Some(self.buf.drain(..i).collect::<String>());
                }
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                }
            }
        })
        .await;
        match found {
            Ok(Some(part)) => part,
            Ok(None) => panic!("component: the server closed the stream while waiting for {what}; received: {}", self.buf),
            Err(_) => panic!("component: no {what} within {WAIT:?}; received: {}", self.buf),
        }
    }

    /// Reads up to and including the first stanza (a top-level element NAME with children)
    /// that matches; earlier stanzas are consumed.
    async fn read_stanza(&mut self, name: &str, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let close = format!("</{name}>");
        let open = format!("<{name}");
        loop {
            let stanza = self.read_until(what, |b| b.find(&close).map(|i| i + close.len())).await;
            let stanza = &stanza[stanza.rfind(&open).unwrap_or(0)..];
            if matches(stanza) {
                return stanza.to_owned();
            }
        }
    }
}

/// The value of attribute NAME in the first tag of XML (quoted either way).
fn attribute(xml: &str, name: &str) -> Option<String> {
    let tag = &xml[..xml.find('>')?];
    for quote in ['\'', '"'] {
        let key = format!(" {name}={quote}");
        if let Some(start) = tag.find(&key).map(|i| i + key.len()) {
            return tag[start..].split(quote).next().map(str::to_owned);
        }
    }
    None
}

#[test]
fn test_handshake_digest_is_hex_sha1_of_id_and_secret() {
    // Printed by `printf %s 3BF96D32secret | sha1sum`: what Prosody compares against.
    assert_eq!(handshake_digest("3BF96D32", "secret"), "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136");
    assert_eq!(attribute("<stream:stream xmlns:stream='x' id='abc' from=\"d\">", "id").as_deref(), Some("abc"));
    assert_eq!(attribute("<stream:stream from=\"d\" id=\"q-1\">", "id").as_deref(), Some("q-1"));
}

#[tokio::test]
async fn test_xmpp_users_register_join_a_room_and_see_each_others_messages() {
    let (mut alice, mut bob) = tokio::join!(XmppUser::new_random("alice"), XmppUser::new_random("bob"));
    let room = format!("{}@{MUC_DOMAIN}", random_name("smoke"));

    alice.join(&room, "alice").await;
    bob.join(&room, "bob").await;
    alice.wait_for("bob's presence in the room", |e| e.event == "presence" && e.from == format!("{room}/bob") && e.kind.is_empty()).await;

    let sent_id = alice.send(&room, "groupchat", "hello bob").await;
    let got = bob.wait_for("alice's room message", |e| e.is_live_message() && e.from == format!("{room}/alice")).await;
    assert_eq!(
        (got.kind.as_str(), got.body.as_deref(), got.id.as_str()),
        ("groupchat", Some("hello bob"), sent_id.as_str()),
        "{}",
        got.xml
    );
    // muc_mam is on: the room stamps every message with its archive id (XEP-0359).
    assert!(got.xml.contains("urn:xmpp:sid:0") && got.xml.contains(&format!("by=\"{room}\"")), "no stanza-id by the room: {}", got.xml);
    // The sender gets its own message back from the room: the reflection a bridge uses to
    // learn a message went through.
    alice.wait_for("the room's echo of alice's message", |e| e.is_live_message() && e.id == sent_id).await;

    bob.send(&room, "groupchat", "hi alice").await;
    let got = alice.wait_for("bob's room message", |e| e.is_live_message() && e.from == format!("{room}/bob")).await;
    assert_eq!(got.body.as_deref(), Some("hi alice"));

    alice.set_subject(&room, "smoke topic").await;
    let got = bob.wait_for("the new subject", |e| e.subject.as_deref() == Some("smoke topic")).await;
    assert_eq!(got.from, format!("{room}/alice"), "{}", got.xml);

    // One to one, bare JID to bare JID: it reaches alice's session with `to` as sent.
    bob.send(&alice.jid, "chat", "just you").await;
    let got = alice.wait_for("bob's chat message", |e| e.is_live_message() && e.from.starts_with(&format!("{}/", bob.jid))).await;
    assert_eq!((got.kind.as_str(), got.body.as_deref(), got.to.as_str()), ("chat", Some("just you"), alice.jid.as_str()));

    // The room's archive (XEP-0313) holds both room messages, oldest first: what backfill reads.
    bob.send_raw(&format!("<iq type='set' to='{room}' id='mam1'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>")).await;
    let mut archived = Vec::new();
    loop {
        let e = bob.wait_for("MAM results and the query's end", |e| e.id == "mam1" || e.xml.contains("queryid=\"q1\"")).await;
        if e.event == "iq" {
            assert_eq!(e.kind, "result", "the MAM query failed: {}", e.xml);
            break;
        }
        archived.push(e.xml);
    }
    let order: Vec<usize> = ["hello bob", "hi alice"]
        .iter()
        .map(|body| {
            archived
                .iter()
                .position(|x| x.contains(&format!(">{body}</body>")))
                .unwrap_or_else(|| panic!("{body:?} not archived: {archived:#?}"))
        })
        .collect();
    assert!(order[0] < order[1], "archive out of order: {archived:#?}");

    // And a user who leaves is gone for the others.
    bob.leave(&room, "bob").await;
    alice
        .wait_for("bob's unavailable presence", |e| e.event == "presence" && e.from == format!("{room}/bob") && e.kind == "unavailable")
        .await;
    alice.quit().await;
    bob.quit().await;
}

#[tokio::test]
async fn test_xmpp_login_with_a_wrong_password_fails() {
    let alice = XmppUser::new_random("pw").await;
    let localpart = alice.jid.split('@').next().unwrap_or_default().to_owned();
    let mut bad = XmppUser::spawn(&alice.jid, "not-the-password", false);
    let end = bad.wait_for("the driver's verdict", |e| matches!(e.event.as_str(), "ready" | "failed")).await;
    assert_eq!(end.event, "failed", "logged in with a wrong password: {}", end.json);
    // The right password still works, without registering again.
    let again = XmppUser::login(&localpart, "xmpp-test-pw", false).await;
    assert_ne!(again.full_jid, alice.full_jid, "two sessions got one resource");
    alice.quit().await;
    again.quit().await;
}

#[tokio::test]
async fn test_component_handshake_succeeds_with_the_secret_only() {
    let secret = env::xmpp_component_secret();
    let (_wrong, reply) = Component::handshake(HANDSHAKE_COMPONENT, &format!("{secret}-wrong")).await;
    assert!(reply.contains("<stream:error>") && reply.contains("not-authorized"), "a wrong secret was not refused: {reply}");

    let (_ok, reply) = Component::handshake(HANDSHAKE_COMPONENT, &secret).await;
    assert!(reply.ends_with("<handshake/>") || reply.ends_with("<handshake></handshake>"), "the right secret was refused: {reply}");

    // While it is connected, a second connection for the same domain is refused: tests that
    // run at once need a component domain each.
    let (_second, reply) = Component::handshake(HANDSHAKE_COMPONENT, &secret).await;
    assert!(reply.contains("<stream:error>") && reply.contains("conflict"), "a second connection was not refused: {reply}");
}

#[tokio::test]
async fn test_component_and_users_exchange_stanzas_directly_and_in_a_room() {
    let mut alice = XmppUser::new_random("alice").await;
    let (mut component, reply) = Component::handshake(STANZAS_COMPONENT, &env::xmpp_component_secret()).await;
    assert!(reply.contains("<handshake"), "handshake refused: {reply}");
    let ghost = format!("ghost{:08x}@{STANZAS_COMPONENT}", rand::random::<u32>());

    // Component to user, to the bare JID as a bridge would.
    component
        .send(&format!("<message from='{ghost}' to='{}' type='chat' id='c1'><body>from the component</body></message>", alice.jid))
        .await;
    let got = alice.wait_for("the component's message", |e| e.is_live_message() && e.from == ghost).await;
    assert_eq!((got.kind.as_str(), got.body.as_deref(), got.id.as_str()), ("chat", Some("from the component"), "c1"), "{}", got.xml);

    // User to anyone at the component's domain: the component receives it.
    alice.send(&ghost, "chat", "to the component").await;
    let stanza = component.read_stanza("message", "alice's message", |s| s.contains(">to the component</body>")).await;
    assert_eq!(attribute(&stanza, "from").as_deref(), Some(alice.full_jid.as_str()), "{stanza}");
    assert_eq!(attribute(&stanza, "to").as_deref(), Some(ghost.as_str()), "{stanza}");

    // A ghost joins a room as a puppet would (presence from a JID of the component's domain)
    // and talks there; alice, in the room, sees both.
    let room = format!("{}@{MUC_DOMAIN}", random_name("puppets"));
    alice.join(&room, "alice").await;
    component
        .send(&format!("<presence from='{ghost}/bridge' to='{room}/Ghost'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"))
        .await;
    // Status 110 marks the joiner's own presence: the room accepted the ghost.
    component.read_stanza("presence", "the ghost's self-presence", |s| s.contains("code='110'") || s.contains("code=\"110\"")).await;
    alice
        .wait_for("the ghost's presence in the room", |e| e.event == "presence" && e.from == format!("{room}/Ghost") && e.kind.is_empty())
        .await;
    component
        .send(&format!("<message from='{ghost}/bridge' to='{room}' type='groupchat' id='g1'><body>puppet says hi</body></message>"))
        .await;
    let got = alice.wait_for("the ghost's room message", |e| e.is_live_message() && e.from == format!("{room}/Ghost")).await;
    assert_eq!((got.body.as_deref(), got.id.as_str()), (Some("puppet says hi"), "g1"), "{}", got.xml);
    alice.quit().await;
}
