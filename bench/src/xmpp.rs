//! A plain XMPP user for the latency benchmark: a client stream over one socket with
//! TCP_NODELAY, in-band registration (XEP-0077), SASL PLAIN without TLS (the loopback test
//! server of scripts/start-prosody.sh), resource binding, and every stanza received
//! timestamped as it is read.
//!
//! It writes XML by hand and reads stanzas by splitting the stream on the depth of its
//! tags: enough for a server that sends well-formed XML, and it keeps a second XMPP stack
//! (and a second process, as with the Python test driver) out of the measured path.
//! tokio-xmpp is not an option: the workspace builds it with only the `component` feature.

use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;

/// A received stanza and when it arrived.
pub struct Stanza {
    /// When the read that completed it returned.
    pub at: Instant,
    /// The stanza's XML.
    pub xml: String,
}

impl Stanza {
    /// The element's name (`message`, `presence`, `iq`, `stream:features`).
    pub fn name(&self) -> &str {
        let head = self.xml.trim_start_matches('<');
        let end = head.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(head.len());
        &head[..end]
    }

    /// An attribute of the top element, unescaped.
    pub fn attr(&self, name: &str) -> Option<String> {
        attr(head(&self.xml), name)
    }

    /// The text of the first `<child>` element anywhere inside, unescaped.
    pub fn child_text(&self, child: &str) -> Option<String> {
        let open = format!("<{child}>");
        let start = self.xml.find(&open)? + open.len();
        let end = self.xml[start..].find(&format!("</{child}>"))? + start;
        Some(unescape(&self.xml[start..end]))
    }
}

/// The first tag, up to and including its `>`.
fn head(xml: &str) -> &str {
    tag_end(xml, 0).map_or(xml, |end| &xml[..=end])
}

fn attr(tag: &str, name: &str) -> Option<String> {
    for quote in ['\'', '"'] {
        let needle = format!(" {name}={quote}");
        if let Some(start) = tag.find(&needle).map(|i| i + needle.len()) {
            let end = tag[start..].find(quote)? + start;
            return Some(unescape(&tag[start..end]));
        }
    }
    None
}

/// Escapes text for element content or a quoted attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&apos;", "'").replace("&quot;", "\"").replace("&amp;", "&")
}

/// The index of the `>` that ends the tag starting at `from` (a `<`), skipping quoted
/// attribute values.
fn tag_end(buf: &str, from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in buf[from..].char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(from + i),
            _ => {}
        }
    }
    None
}

/// What [`next_item`] took from the front of the buffer.
#[derive(Debug, PartialEq)]
enum Item {
    /// `<?xml ...?>` or `<stream:stream ...>`: a new stream from the server.
    StreamHeader,
    /// `</stream:stream>`.
    StreamEnd,
    /// A complete top-level element.
    Stanza(String),
}

/// Takes the next complete item off the front of `buf`, or `None` until more arrives.
fn next_item(buf: &mut String) -> Option<Item> {
    let start = buf.find('<')?;
    if buf[start..].starts_with("<?") || buf[start..].starts_with("<stream:stream") || buf[start..].starts_with("</stream:stream") {
        let end = tag_end(buf, start)?;
        let item = if buf[start..].starts_with("</") { Item::StreamEnd } else { Item::StreamHeader };
        buf.drain(..=end);
        return Some(item);
    }
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        let lt = buf[pos..].find('<')? + pos;
        let end = tag_end(buf, lt)?;
        let tag = &buf[lt..=end];
        if tag.starts_with("</") {
            depth = depth.saturating_sub(1);
        } else if !tag.ends_with("/>") && !tag.starts_with("<!") && !tag.starts_with("<?") {
            depth += 1;
        }
        pos = end + 1;
        if depth == 0 {
            let stanza = buf[start..pos].to_owned();
            buf.drain(..pos);
            return Some(Item::Stanza(stanza));
        }
    }
}

/// Reads items from the socket.
struct Reader {
    read: OwnedReadHalf,
    buf: String,
    bytes: Vec<u8>,
}

impl Reader {
    async fn next(&mut self) -> anyhow::Result<(Instant, Item)> {
        loop {
            if let Some(item) = next_item(&mut self.buf) {
                return Ok((Instant::now(), item));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.read.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "the XMPP server closed the connection");
            self.bytes.extend_from_slice(&chunk[..n]);
            // A read may end inside a UTF-8 sequence: keep the incomplete tail for the next.
            let valid = match std::str::from_utf8(&self.bytes) {
                Ok(s) => s.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(e) => bail!("the XMPP server sent invalid UTF-8: {e}"),
            };
            self.buf.push_str(std::str::from_utf8(&self.bytes[..valid]).expect("checked"));
            self.bytes.drain(..valid);
        }
    }

    /// The next stanza (stream headers skipped), within a minute.
    async fn stanza(&mut self, during: &str) -> anyhow::Result<Stanza> {
        let next = async {
            loop {
                match self.next().await? {
                    (at, Item::Stanza(xml)) => return Ok(Stanza { at, xml }),
                    (_, Item::StreamHeader) => {}
                    (_, Item::StreamEnd) => bail!("the XMPP server ended the stream during {during}"),
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), next).await.with_context(|| format!("no answer during {during}"))?
    }

    /// Skips stanzas until the answer to the IQ `id`.
    async fn iq_answer(&mut self, id: &str, during: &str) -> anyhow::Result<Stanza> {
        loop {
            let s = self.stanza(during).await?;
            if s.name() == "iq" && s.attr("id").as_deref() == Some(id) {
                return Ok(s);
            }
        }
    }
}

/// A logged-in XMPP user.
pub struct XmppUser {
    /// The full JID the server bound.
    pub jid: String,
    out: mpsc::UnboundedSender<String>,
    /// Every stanza after login, in arrival order.
    pub stanzas: mpsc::UnboundedReceiver<Stanza>,
}

fn stream_header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{}' version='1.0'>",
        escape(domain)
    )
}

impl XmppUser {
    /// Connects to `addr`, registers `username` on `domain` (an existing account is fine),
    /// logs in with SASL PLAIN and binds a resource.
    pub async fn connect(addr: &str, domain: &str, username: &str, password: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let mut reader = Reader { read, buf: String::new(), bytes: Vec::new() };

        write.write_all(stream_header(domain).as_bytes()).await?;
        let features = reader.stanza("the stream start").await?;
        anyhow::ensure!(features.xml.contains("<mechanism>PLAIN</mechanism>"), "the server offers no PLAIN login: {}", features.xml);
        let register = format!(
            "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>{}</username><password>{}</password></query></iq>",
            escape(username),
            escape(password)
        );
        write.write_all(register.as_bytes()).await?;
        let answer = reader.iq_answer("reg1", "registration").await?;
        if answer.attr("type").as_deref() != Some("result") && !answer.xml.contains("<conflict") {
            bail!("registering {username} failed: {}", answer.xml);
        }

        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{username}\0{password}"));
        write.write_all(format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>").as_bytes()).await?;
        let outcome = reader.stanza("login").await?;
        anyhow::ensure!(outcome.name() == "success", "login as {username} failed: {}", outcome.xml);

        write.write_all(stream_header(domain).as_bytes()).await?;
        reader.stanza("the stream restart").await?;
        write
            .write_all(b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
            .await?;
        let bound = reader.iq_answer("bind1", "resource binding").await?;
        let jid = bound.child_text("jid").with_context(|| format!("binding failed: {}", bound.xml))?;

        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(xml) = out_rx.recv().await {
                if write.write_all(xml.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        let (tx, stanzas) = mpsc::unbounded_channel();
        let answer = out.clone();
        tokio::spawn(async move {
            while let Ok(s) = reader.stanza("the session").await {
                // A server or peer asking something (a ping) gets an empty answer.
                if s.name() == "iq" && s.attr("type").as_deref() == Some("get") {
                    let (id, from) = (s.attr("id").unwrap_or_default(), s.attr("from").unwrap_or_default());
                    let _ = answer.send(format!("<iq type='result' id='{}' to='{}'/>", escape(&id), escape(&from)));
                    continue;
                }
                if tx.send(s).is_err() {
                    return;
                }
            }
        });
        Ok(Self { jid, out, stanzas })
    }

    /// Sends raw XML.
    pub fn send(&self, xml: String) -> anyhow::Result<()> {
        self.out.send(xml).map_err(|_| anyhow::anyhow!("XMPP connection closed"))
    }

    /// Sends a groupchat message to a MUC.
    pub fn send_groupchat(&self, muc: &str, body: &str) -> anyhow::Result<()> {
        self.send(format!("<message to='{}' type='groupchat'><body>{}</body></message>", escape(muc), escape(body)))
    }

    /// Joins a MUC as `nick` without history and waits for the self-presence (status 110).
    pub async fn join_muc(&mut self, muc: &str, nick: &str) -> anyhow::Result<()> {
        let occupant = format!("{muc}/{nick}");
        self.send(format!(
            "<presence to='{}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>",
            escape(&occupant)
        ))?;
        loop {
            let s = self.stanzas.recv().await.context("XMPP connection closed while joining")?;
            if s.name() != "presence" || s.attr("from").as_deref() != Some(occupant.as_str()) {
                continue;
            }
            if s.attr("type").as_deref() == Some("error") {
                bail!("joining {muc} failed: {}", s.xml);
            }
            if s.xml.contains("code='110'") || s.xml.contains("code=\"110\"") {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_stanzas_are_split_on_depth_across_partial_reads() {
        let mut buf = String::from(
            "<?xml version='1.0'?><stream:stream id='x' xmlns='jabber:client'><message from='r@c/n' type='groupchat'><body>a &gt; b</body></message><presence from='a/b' x='>'/><iq id='1'>",
        );
        assert_eq!(next_item(&mut buf), Some(Item::StreamHeader));
        assert_eq!(next_item(&mut buf), Some(Item::StreamHeader));
        let Some(Item::Stanza(message)) = next_item(&mut buf) else { panic!("a message") };
        let message = Stanza { at: Instant::now(), xml: message };
        assert_eq!(message.name(), "message");
        assert_eq!(message.attr("from").as_deref(), Some("r@c/n"));
        assert_eq!(message.child_text("body").as_deref(), Some("a > b"));
        let Some(Item::Stanza(presence)) = next_item(&mut buf) else { panic!("a presence") };
        assert_eq!(presence, "<presence from='a/b' x='>'/>");
        assert_eq!(next_item(&mut buf), None, "the iq is not complete yet");
        buf.push_str("<bind/></iq></stream:stream>");
        assert_eq!(next_item(&mut buf), Some(Item::Stanza("<iq id='1'><bind/></iq>".into())));
        assert_eq!(next_item(&mut buf), Some(Item::StreamEnd));
    }
}
