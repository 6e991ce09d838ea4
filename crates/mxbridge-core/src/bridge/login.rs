//! Login flows in the management room.
//!
//! While a flow waits for input, the user's next message is the answer (one field per
//! message); `cancel` aborts at any step. While a flow shows something (a QR code), a task
//! waits for the next step and renders it: a refreshed QR code edits the image in place.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde_json::json;
use tokio::sync::oneshot;
use tracing::warn;

use super::Bridge;
use crate::ids::RemoteChatId;
use crate::network::login::{Display, InputField, LoginError, LoginProcess, LoginStep, NewLogin};
use crate::store::LoginRow;

/// A login in progress for one Matrix user.
pub(crate) enum LoginSession {
    /// Waiting for the user to answer `fields[answers.len()]`.
    AwaitingInput { process: Box<dyn LoginProcess>, step_id: String, fields: Vec<InputField>, answers: Vec<(String, String)> },
    /// A task is waiting on the network; dropping or firing `cancel` stops it.
    Waiting { cancel: oneshot::Sender<()> },
}

impl Bridge {
    /// `login [flow] [answer]`: with an answer, the flow's first question is answered at once.
    pub(crate) async fn start_login(self: &Arc<Self>, room: &RoomId, user: &UserId, flow: Option<String>, answer: Option<String>) {
        if self.logins_in_progress.lock().expect("lock").contains_key(user) {
            self.notice(room, "A login is already in progress. Answer its question, or send `cancel` to stop it.").await;
            return;
        }
        let flows = self.network.login_flows();
        let flow_id = match flow {
            Some(f) => f,
            None => match flows.first() {
                Some(f) => f.id.clone(),
                None => {
                    self.notice(room, &format!("{} has no login flows.", self.info.display_name)).await;
                    return;
                }
            },
        };
        if !flows.iter().any(|f| f.id == flow_id) {
            let list: Vec<String> = flows.iter().map(|f| format!("- `login {}`: {}", f.id, f.description)).collect();
            self.notice(room, &format!("There is no login flow named `{flow_id}`. Available:\n{}", list.join("\n"))).await;
            return;
        }
        let mut process = match self.network.create_login(user, &flow_id) {
            Ok(p) => p,
            Err(e) => return self.notice(room, &e.user_message()).await,
        };
        let mut first = process.start().await;
        if let (Some(answer), Ok(LoginStep::Input { fields, .. })) = (answer, &first)
            && let [field] = fields.as_slice()
            && !field.secret
        {
            let field = field.id.clone();
            first = process.submit(vec![(field, answer)]).await;
        }
        self.advance_login(room.to_owned(), user, process, first, None).await;
    }

    /// Renders a step and records what the session waits for next.
    async fn advance_login(
        self: &Arc<Self>,
        room: OwnedRoomId,
        user: &UserId,
        process: Box<dyn LoginProcess>,
        step: Result<LoginStep, LoginError>,
        previous_qr: Option<OwnedEventId>,
    ) {
        let step = match step {
            Ok(s) => s,
            Err(e) => {
                self.logins_in_progress.lock().expect("lock").remove(user);
                return self.notice(&room, &e.user_message()).await;
            }
        };
        match step {
            LoginStep::Input { step_id, instructions, fields } => {
                if let Some(qr) = &previous_qr {
                    let _ = self.matrix.redact(&room, &self.config.bot_user_id, qr, Some("login moved on")).await;
                }
                let Some(first) = fields.first() else {
                    warn!(step_id, "a login step asked for no fields");
                    self.logins_in_progress.lock().expect("lock").remove(user);
                    return;
                };
                self.notice(&room, &format!("{instructions}\n{}: (send `cancel` to stop)", first.label)).await;
                self.logins_in_progress
                    .lock()
                    .expect("lock")
                    .insert(user.to_owned(), LoginSession::AwaitingInput { process, step_id, fields, answers: Vec::new() });
            }
            LoginStep::Display { instructions, show, .. } => {
                // A refreshed QR code replaces the image in place (an edit), so the room
                // keeps one code; if drawing it failed, the previous one stays in use.
                let shown = self.show_display(&room, &instructions, &show, previous_qr.as_deref()).await.or(previous_qr);
                let (cancel_tx, cancel_rx) = oneshot::channel();
                self.logins_in_progress.lock().expect("lock").insert(user.to_owned(), LoginSession::Waiting { cancel: cancel_tx });
                let bridge = self.clone();
                let user = user.to_owned();
                tokio::spawn(bridge.wait_login(room, user, process, cancel_rx, shown));
            }
            LoginStep::Done(new_login) => {
                if let Some(qr) = &previous_qr {
                    let _ = self.matrix.redact(&room, &self.config.bot_user_id, qr, Some("logged in")).await;
                }
                self.logins_in_progress.lock().expect("lock").remove(user);
                let row = LoginRow {
                    login_id: new_login.id.as_str().to_owned(),
                    user_id: user.to_owned(),
                    remote_name: new_login.remote_name.clone(),
                    metadata: new_login.metadata,
                    secret: new_login.secret,
                };
                if let Err(e) = self.store.save_login(&row).await {
                    return self.notice(&room, &format!("Logged in, but the login could not be saved ({e}); it will be lost on restart. Check the bridge's database.")).await;
                }
                self.activate_login(row).await;
                self.notice(&room, &format!("Logged in as `{}`.", new_login.remote_name)).await;
            }
        }
    }

    /// Waits for the step after a display step. Boxed because it and `advance_login` call
    /// each other, and a recursive async fn's future cannot be proven `Send` otherwise.
    fn wait_login(
        self: Arc<Self>,
        room: OwnedRoomId,
        user: ruma::OwnedUserId,
        mut process: Box<dyn LoginProcess>,
        cancel: oneshot::Receiver<()>,
        shown: Option<OwnedEventId>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let next = tokio::select! {
                step = process.wait() => step,
                _ = cancel => {
                    process.cancel().await;
                    if let Some(qr) = shown {
                        let _ = self.matrix.redact(&room, &self.config.bot_user_id, &qr, Some("login cancelled")).await;
                    }
                    return;
                }
            };
            self.advance_login(room, &user, process, next, shown).await;
        })
    }

    /// Shows a QR code as an image whose caption is the code's text (for clients that cannot
    /// show images), or a code. With `previous`, the QR image already shown is edited to the
    /// new code instead. Returns the image event.
    async fn show_display(&self, room: &RoomId, instructions: &str, show: &Display, previous: Option<&EventId>) -> Option<OwnedEventId> {
        match show {
            Display::Code(code) => {
                self.notice(room, &format!("{instructions}\n`{code}`\n(send `cancel` to stop)")).await;
                None
            }
            Display::Qr(data) => {
                if previous.is_none() {
                    self.notice(room, &format!("{instructions}\n(send `cancel` to stop)")).await;
                }
                let (png, side) = match crate::qr::render_png(data) {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(error = %e, "could not draw a QR code");
                        return None;
                    }
                };
                let size = png.len();
                let mxc = match self.matrix.upload(png, "image/png", "login-qr.png").await {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(error = %e, "could not upload a QR code");
                        return None;
                    }
                };
                let image = json!({
                    "msgtype": "m.image",
                    "body": format!("If you cannot scan the image, this is its text: {data}"),
                    "filename": "login-qr.png",
                    "url": mxc,
                    "info": {"mimetype": "image/png", "w": side, "h": side, "size": size},
                });
                let content = match previous {
                    Some(original) => {
                        let mut edit = image.clone();
                        edit["body"] = json!(format!("* {}", image["body"].as_str().unwrap_or_default()));
                        edit["m.new_content"] = image;
                        edit["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": original});
                        edit
                    }
                    None => image,
                };
                let sent = self.matrix.send_event(room, &self.config.bot_user_id, "m.room.message", &content, None).await;
                match (sent, previous) {
                    (Ok(_), Some(original)) => Some(original.to_owned()),
                    (Ok(id), None) => Some(id),
                    (Err(e), _) => {
                        warn!(error = %e, "could not show a QR code");
                        None
                    }
                }
            }
        }
    }

    /// Gives a user with permission a login the network creates by itself, if the network
    /// does that and the user has none yet. Returns whether the user has a login now.
    pub(crate) async fn ensure_auto_login(self: &Arc<Self>, user: &UserId, chat: Option<&RemoteChatId>) -> bool {
        let logins = self.logins_of(user);
        let served = match chat {
            Some(chat) => logins.iter().any(|(id, _)| self.network.login_serves(id, chat)),
            None => !logins.is_empty(),
        };
        if served {
            return true;
        }
        if self.permission(user) < crate::config::Permission::User {
            return false;
        }
        // Networks that name the account after the user (IRC's `{displayname}[m]`) get the name.
        let display_name = self.display_name_of(user).await;
        let Some(new_login) = self.network.auto_login(user, chat, display_name.as_deref()) else { return false };
        self.save_and_activate(user, new_login).await
    }

    /// Stores a login the network made without a login flow (automatic or relay) and
    /// starts its client.
    pub(crate) async fn save_and_activate(self: &Arc<Self>, user: &UserId, new_login: NewLogin) -> bool {
        let row = LoginRow {
            login_id: new_login.id.as_str().to_owned(),
            user_id: user.to_owned(),
            remote_name: new_login.remote_name,
            metadata: new_login.metadata,
            secret: new_login.secret,
        };
        if let Err(e) = self.store.save_login(&row).await {
            warn!(error = %e, "could not store a login");
            return false;
        }
        self.activate_login(row).await.is_some()
    }

    /// Feeds a management-room message to a login waiting for input. Returns false when
    /// no login is waiting for input.
    pub(crate) async fn login_input(self: &Arc<Self>, room: &RoomId, user: &UserId, event: &EventId, text: &str) -> bool {
        let session = {
            let mut map = self.logins_in_progress.lock().expect("lock");
            match map.remove(user) {
                Some(s @ LoginSession::AwaitingInput { .. }) => s,
                Some(other) => {
                    map.insert(user.to_owned(), other);
                    return false;
                }
                None => return false,
            }
        };
        let LoginSession::AwaitingInput { mut process, step_id, fields, mut answers } = session else { return false };
        let field = &fields[answers.len()];
        if field.secret {
            // Answers such as passwords should not stay in the room; where the bot may not
            // redact, the user is asked to remove it.
            if let Err(e) = self.matrix.redact(room, &self.config.bot_user_id, event, Some("login secret")).await {
                warn!(error = %e, "could not redact a login secret");
                self.notice(room, "I could not remove your last message, which holds a secret: please delete it yourself.").await;
            }
        }
        answers.push((field.id.clone(), text.trim().to_owned()));
        if answers.len() < fields.len() {
            let next_label = fields[answers.len()].label.clone();
            self.logins_in_progress
                .lock()
                .expect("lock")
                .insert(user.to_owned(), LoginSession::AwaitingInput { process, step_id, fields, answers });
            self.notice(room, &format!("{next_label}:")).await;
            return true;
        }
        let next = process.submit(answers).await;
        self.advance_login(room.to_owned(), user, process, next, None).await;
        true
    }

    /// `cancel`: stops a login in progress.
    pub(crate) async fn cancel_login(&self, room: &RoomId, user: &UserId) {
        let session = self.logins_in_progress.lock().expect("lock").remove(user);
        match session {
            Some(LoginSession::AwaitingInput { mut process, .. }) => {
                process.cancel().await;
                self.notice(room, "Login cancelled.").await;
            }
            Some(LoginSession::Waiting { cancel }) => {
                let _ = cancel.send(());
                self.notice(room, "Login cancelled.").await;
            }
            None => self.notice(room, "Nothing to cancel.").await,
        }
    }
}

/// Automatic logins on the network's behalf (the bridge may be gone at shutdown).
pub(crate) struct BridgeAutoLogins(pub(crate) std::sync::Weak<Bridge>);

#[async_trait::async_trait]
impl crate::network::AutoLogins for BridgeAutoLogins {
    async fn ensure(&self, user: &UserId, chat: Option<&RemoteChatId>) -> bool {
        match self.0.upgrade() {
            Some(bridge) => bridge.ensure_auto_login(user, chat).await,
            None => false,
        }
    }
}
