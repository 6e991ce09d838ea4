//! The component's connection to the XMPP server (XEP-0114), with the reconnect loop that
//! tokio-xmpp's `Component` does not have.
//!
//! Stanzas to send go into a queue that outlives connections: while the server is away they
//! wait, and they go out after the reconnect. What arrives is handed on as it comes, through
//! a bounded queue: when the bridge falls behind, the link stops reading from the server
//! (which then holds the stanzas back) rather than drop any or buffer without limit, and
//! it keeps sending meanwhile.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mxbridge_core::secret::Secret;
use tokio::sync::{mpsc, watch};
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Component, Stanza};

/// Longest wait between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where and as whom the component connects.
#[derive(Clone, Debug)]
pub struct LinkOptions {
    /// The component's JID, e.g. `matrix.example.org`.
    pub jid: String,
    /// The shared secret of the component (`component_secret` in Prosody).
    pub secret: Secret<String>,
    /// `host:port` of the server's component listener.
    pub addr: String,
}

/// How the connection is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Connecting (first time or after a loss).
    Connecting,
    /// Connected and authenticated.
    Up,
    /// Lost or refused; reconnecting after a wait. The text says why.
    Down(String),
}

/// What the connection loop is asked to do, in order.
enum Outgoing {
    Stanza(Box<Stanza>),
    /// Close the stream after everything queued before; answer when done.
    Close(tokio::sync::oneshot::Sender<()>),
}

/// The stanzas that go out first on every connection, before anything queued: after a
/// server restart the MUC presences must be back before queued groupchat messages, or the
/// MUC refuses those from a non-occupant.
pub type Greeting = std::sync::Arc<dyn Fn() -> Vec<Stanza> + Send + Sync>;

/// A running component connection. Dropping it ends the connection loop.
pub struct ComponentLink {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    state: watch::Receiver<LinkState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ComponentLink {
    /// Starts connecting; stanzas that arrive go to `incoming` (reading waits while it is
    /// full); `greeting` is asked on each connection for the stanzas that go first.
    pub fn spawn(opts: LinkOptions, incoming: mpsc::Sender<Stanza>, greeting: Greeting) -> Self {
        let (outgoing, queue) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(LinkState::Connecting);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::select! {
                () = run(opts, queue, incoming, state_tx, greeting) => {}
                _ = stopped => {}
            }
        });
        Self { outgoing, state, _stop: stop }
    }

    /// Queues a stanza; it goes out now, or after the reconnect.
    pub fn send(&self, stanza: impl Into<Stanza>) {
        let _ = self.outgoing.send(Outgoing::Stanza(Box::new(stanza.into())));
    }

    /// Sends what is queued, closes the stream and ends the loop (waits at most `within`:
    /// a server that is away gets nothing more).
    pub async fn close(&self, within: Duration) {
        let (done, closed) = tokio::sync::oneshot::channel();
        if self.outgoing.send(Outgoing::Close(done)).is_ok() {
            let _ = tokio::time::timeout(within, closed).await;
        }
    }

    /// The connection state, to watch.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }
}

/// The first address a `host:port` resolves to, as `ip:port`.
async fn resolve(addr: &str) -> std::io::Result<String> {
    let mut found = tokio::net::lookup_host(addr).await?;
    let first = found.next().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{addr} resolves to no address")))?;
    Ok(first.to_string())
}

async fn run(
    opts: LinkOptions,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    incoming: mpsc::Sender<Stanza>,
    state: watch::Sender<LinkState>,
    greeting: Greeting,
) {
    let mut attempt: u32 = 0;
    // A stanza taken from the queue whose send failed goes first on the next connection.
    let mut unsent: Option<Element> = None;
    loop {
        state.send_replace(LinkState::Connecting);
        // tokio-xmpp takes only an IP address and port: a host name (`prosody:5347` under
        // docker-compose) is resolved here, again on every attempt.
        let connected = match resolve(&opts.addr).await {
            Ok(addr) => Component::new_plaintext(&opts.jid, opts.secret.expose(), DnsConfig::addr(&addr), Timeouts::tight()).await,
            Err(why) => Err(tokio_xmpp::Error::Io(why)),
        };
        let why = match connected {
            Ok(component) => {
                attempt = 0;
                state.send_replace(LinkState::Up);
                tracing::info!(jid = %opts.jid, "XMPP component connected");
                let (mut sink, mut stream) = component.split();
                let mut greeted = Ok(());
                for stanza in greeting() {
                    if let Err(e) = sink.send(stanza).await {
                        greeted = Err(format!("sending failed: {e}"));
                        break;
                    }
                }
                if let Err(why) = greeted {
                    why
                } else {
                    loop {
                        // Kept as an element until the server took it: a stanza is consumed by
                        // sending, and one that failed must go out again after the reconnect.
                        if let Some(element) = unsent.take() {
                            let stanza = Stanza::try_from(element.clone()).expect("it was a stanza");
                            if let Err(e) = sink.send(stanza).await {
                                unsent = Some(element);
                                break format!("sending failed: {e}");
                            }
                        }
                        tokio::select! {
                            next = queue.recv() => match next {
                                Some(Outgoing::Stanza(stanza)) => unsent = Some(Element::from(*stanza)),
                                Some(Outgoing::Close(done)) => {
                                    let _ = sink.close().await;
                                    state.send_replace(LinkState::Down("closed by the bridge".into()));
                                    let _ = done.send(());
                                    return;
                                }
                                None => return, // the link was dropped
                            },
                            got = next_with_room(&incoming, &mut stream) => match got {
                                // No permit: the bridge stopped reading; the link goes soon.
                                Some((permit, stanza)) => {
                                    if let Some(permit) = permit {
                                        permit.send(stanza);
                                    }
                                }
                                None => break "the server closed the stream".to_owned(),
                            },
                        }
                    }
                }
            }
            Err(e) => e.to_string(),
        };
        tracing::warn!(jid = %opts.jid, reason = %why, attempt, "XMPP component connection lost");
        state.send_replace(LinkState::Down(why));
        attempt = attempt.saturating_add(1);
        let base = Duration::from_millis(250) * 2u32.saturating_pow(attempt.min(8));
        tokio::time::sleep(base.min(MAX_BACKOFF).mul_f64(0.5 + rand::random::<f64>() / 2.0)).await;
    }
}

/// The next stanza from the server, read only once the bridge has room for it (both waits
/// may be cancelled: nothing is lost). The permit is `None` when the bridge stopped reading.
async fn next_with_room<'a, S>(incoming: &'a mpsc::Sender<Stanza>, stream: &mut S) -> Option<(Option<mpsc::Permit<'a, Stanza>>, Stanza)>
where
    S: futures_util::Stream<Item = Stanza> + Unpin,
{
    let permit = incoming.reserve().await.ok();
    let stanza = stream.next().await?;
    Some((permit, stanza))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_xmpp::parsers::message::Message;

    use super::*;

    /// Reads until `needle` has been seen; returns everything read.
    async fn read_until(sock: &mut tokio::net::TcpStream, needle: &str) -> String {
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = sock.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before `{needle}`; got {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    }

    /// One component session of a fake server: accepts any handshake (the real secret
    /// check is Prosody's, tested end to end), delivers `deliver`, and returns what the
    /// component sent until `expect` appeared.
    async fn session(listener: &TcpListener, deliver: &str, expect: &str) -> (tokio::net::TcpStream, String) {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_until(&mut sock, "<stream:stream").await;
        let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='bridge.test'>";
        sock.write_all(header.as_bytes()).await.unwrap();
        read_until(&mut sock, "</handshake>").await;
        sock.write_all(b"<handshake/>").await.unwrap();
        sock.write_all(deliver.as_bytes()).await.unwrap();
        let sent = read_until(&mut sock, expect).await;
        (sock, sent)
    }

    #[tokio::test]
    async fn test_the_link_reconnects_and_queued_stanzas_go_out_after() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, mut incoming) = mpsc::channel(16);
        let opts = LinkOptions { jid: "bridge.test".into(), secret: Secret::new("s3cret".into()), addr };
        let greeting: Greeting = std::sync::Arc::new(|| {
            let mut hello = tokio_xmpp::parsers::presence::Presence::available();
            hello.id = Some("greeting".into());
            vec![hello.into()]
        });
        let link = ComponentLink::spawn(opts, tx, greeting);
        let mut state = link.state();

        let hello = "<message xmlns='jabber:component:accept' from='alice@test' to='bob_hs@bridge.test' id='m1' type='chat'><body>hi</body></message>";
        let mut first = Message::new(Some("alice@test".parse().unwrap()));
        first.from = Some("bob_hs@bridge.test".parse().unwrap());
        first.id = Some(tokio_xmpp::parsers::message::Id("first".into()));
        link.send(first);
        let (sock, sent) = session(&listener, hello, "first").await;
        assert!(sent.contains("from='bob_hs@bridge.test'") || sent.contains("from=\"bob_hs@bridge.test\""), "{sent}");
        match tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await.unwrap().unwrap() {
            Stanza::Message(m) => assert_eq!(m.id.map(|i| i.0).as_deref(), Some("m1")),
            other => panic!("expected the message, got {other:?}"),
        }
        state.wait_for(|s| *s == LinkState::Up).await.unwrap();

        // The server goes away; a stanza sent meanwhile waits and goes out on the next connection.
        drop(sock);
        state.wait_for(|s| matches!(s, LinkState::Down(_))).await.unwrap();
        let mut queued = Message::new(Some("alice@test".parse().unwrap()));
        queued.id = Some(tokio_xmpp::parsers::message::Id("queued".into()));
        link.send(queued);
        let (sock, sent) = tokio::time::timeout(Duration::from_secs(10), session(&listener, "", "queued")).await.expect("reconnected");
        assert!(sent.contains("queued"));
        let (greeting_at, queued_at) = (sent.find("greeting").expect("greeted again"), sent.find("queued").unwrap());
        assert!(greeting_at < queued_at, "the greeting goes before what was queued: {sent}");
        state.wait_for(|s| *s == LinkState::Up).await.unwrap();

        // Malformed XML from the server ends that stream, not the bridge: it connects again.
        let mut sock = sock;
        sock.write_all(b"<message><body>unclosed</message>").await.unwrap();
        state.wait_for(|s| matches!(s, LinkState::Down(_))).await.unwrap();
        let later = "<message xmlns='jabber:component:accept' from='alice@test' to='bob_hs@bridge.test' id='m2' type='chat'><body>again</body></message>";
        let (_sock, _) = tokio::time::timeout(Duration::from_secs(10), session(&listener, later, "greeting")).await.expect("reconnected");
        let next = tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await.unwrap().unwrap();
        assert!(matches!(next, Stanza::Message(ref m) if m.id.as_ref().map(|i| i.0.as_str()) == Some("m2")), "stanzas flow again");
    }

    #[tokio::test]
    async fn test_a_full_router_queue_holds_the_reading_back_without_losing_stanzas_or_stopping_sends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, mut incoming) = mpsc::channel(2);
        let opts = LinkOptions { jid: "bridge.test".into(), secret: Secret::new("s3cret".into()), addr };
        let link = ComponentLink::spawn(opts, tx, std::sync::Arc::new(Vec::new));
        let many: String = (0..10)
            .map(|i| format!("<message xmlns='jabber:component:accept' from='alice@test' to='bob_hs@bridge.test' id='m{i}' type='chat'><body>{i}</body></message>"))
            .collect();
        let mut hello = Message::new(Some("alice@test".parse().unwrap()));
        hello.id = Some(tokio_xmpp::parsers::message::Id("hello".into()));
        link.send(hello);
        let (mut sock, _) = session(&listener, &many, "hello").await;

        // The router reads nothing: the queue fills to its bound and stays there.
        tokio::time::timeout(Duration::from_secs(5), async {
            while incoming.len() < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the queue fills");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(incoming.len(), 2, "no more than the bound waits");

        // Sending goes on meanwhile.
        let mut out = Message::new(Some("alice@test".parse().unwrap()));
        out.id = Some(tokio_xmpp::parsers::message::Id("sent-while-full".into()));
        link.send(out);
        tokio::time::timeout(Duration::from_secs(5), read_until(&mut sock, "sent-while-full")).await.expect("sent while the queue is full");

        // Every stanza arrives, in order, once the router reads again.
        for i in 0..10 {
            let got = tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await.expect("not lost").unwrap();
            assert!(matches!(got, Stanza::Message(ref m) if m.id.as_ref().map(|id| id.0.clone()) == Some(format!("m{i}"))), "{got:?}");
        }
    }
}
