//! A plain IRC user for the latency benchmark: raw lines over one socket with TCP_NODELAY
//! (Nagle plus delayed ACK would add ~40 ms on loopback), every received line timestamped.

use std::time::Instant;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A received line and when it arrived.
pub struct Line {
    /// Arrival time.
    pub at: Instant,
    /// The line without CR LF.
    pub text: String,
}

impl Line {
    /// `(nick, target, text)` of a PRIVMSG, tags skipped.
    pub fn privmsg(&self) -> Option<(&str, &str, &str)> {
        let mut rest = self.text.as_str();
        if rest.starts_with('@') {
            rest = rest.split_once(' ')?.1;
        }
        let (prefix, rest) = rest.strip_prefix(':')?.split_once(' ')?;
        let (target, text) = rest.strip_prefix("PRIVMSG ")?.split_once(" :")?;
        Some((prefix.split('!').next()?, target, text))
    }

    /// `(nick, channel)` of a JOIN.
    pub fn join(&self) -> Option<(&str, &str)> {
        let mut rest = self.text.as_str();
        if rest.starts_with('@') {
            rest = rest.split_once(' ')?.1;
        }
        let (prefix, rest) = rest.strip_prefix(':')?.split_once(' ')?;
        let channel = rest.strip_prefix("JOIN ")?.split(' ').next()?.trim_start_matches(':');
        Some((prefix.split('!').next()?, channel))
    }
}

/// A registered IRC connection.
pub struct IrcUser {
    /// Its nick.
    pub nick: String,
    out: mpsc::UnboundedSender<String>,
    /// Every line after registration.
    pub lines: mpsc::UnboundedReceiver<Line>,
}

impl IrcUser {
    /// Connects and registers as `nick`; PINGs are answered.
    pub async fn connect(addr: &str, nick: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                if write.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        let (tx, mut lines) = mpsc::unbounded_channel();
        let pong = out.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(read).lines();
            while let Ok(Some(text)) = reader.next_line().await {
                let at = Instant::now();
                if let Some(arg) = text.strip_prefix("PING ") {
                    let _ = pong.send(format!("PONG {arg}\r\n"));
                    continue;
                }
                if tx.send(Line { at, text }).is_err() {
                    return;
                }
            }
        });
        out.send(format!("NICK {nick}\r\nUSER {nick} 0 * :mxbridge bench\r\n"))?;
        loop {
            let line = lines.recv().await.context("closed during registration")?;
            match line.text.split(' ').nth(1) {
                Some("001") => break,
                Some("433") => bail!("nick {nick} is taken"),
                _ if line.text.starts_with("ERROR") => bail!("{}", line.text),
                _ => {}
            }
        }
        Ok(Self { nick: nick.to_owned(), out, lines })
    }

    /// Sends one raw line (CR LF added).
    pub fn send(&self, line: &str) -> anyhow::Result<()> {
        self.out.send(format!("{line}\r\n")).map_err(|_| anyhow::anyhow!("IRC connection closed"))
    }

    /// Joins `channel` and waits for the end of its NAMES.
    pub async fn join(&mut self, channel: &str) -> anyhow::Result<()> {
        self.send(&format!("JOIN {channel}"))?;
        loop {
            let line = self.lines.recv().await.context("closed while joining")?;
            if line.text.split(' ').nth(1) == Some("366") {
                return Ok(());
            }
        }
    }
}
