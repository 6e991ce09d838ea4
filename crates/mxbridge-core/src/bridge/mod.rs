//! The running bridge: wires the appservice, the store, the homeserver client and the
//! network together.
//!
//! Ordering: Matrix events are processed from the durable inbox, one queue per room;
//! remote events go through one queue per portal. So events of one chat are handled in
//! the order they happened, while different chats do not wait for each other. An inbox
//! entry is only marked done after it was handled, so a crash replays it.

mod backfill;
mod commands;
mod connection_notices;
mod convert;
mod gateway;
mod ghost_dms;
mod ghosts;
mod homeserver_check;
mod login;
mod login_state;
mod mappings;
mod matrix_events;
mod metrics_sample;
mod moderation;
mod plumbing;
mod portals;
mod profiles;
mod queries;
mod remote_events;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tracing::{Instrument, error, info, info_span, warn};

use crate::appservice::{self, AppState, Health};
use crate::commands::core_specs;
use crate::commands::spec::CommandSpec;
use crate::config::{Config, Permission, SecretKeySource};
use crate::ids::{LoginId, PortalKey};
use crate::matrix::intent::Matrix;
use crate::media_links::MediaLinks;
use crate::metrics::{Metrics, SkipReason};
use crate::network::event::{EventSink, RemoteEvent};
use crate::network::{GhostIds, Network, NetworkClient, NetworkContext, NetworkInfo, SessionStore, StoredLogin};
use crate::secret::{SecretCipher, SecretError};
use crate::store::{LoginRow, Store, StoreError};
use login::LoginSession;

/// How long a transaction id is remembered for deduplication.
const TXN_ID_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old transaction ids are pruned.
const TXN_PRUNE_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// Starting or running the bridge failed.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The key for secrets at rest could not be loaded.
    #[error("cannot load the key for stored secrets: {0}")]
    SecretKey(#[from] SecretError),
    /// The database could not be opened.
    #[error("cannot open the database: {0} (check database.uri in the config)")]
    Store(#[from] StoreError),
    /// The HTTP listener failed.
    #[error("the appservice listener failed: {0}")]
    Serve(std::io::Error),
    /// The metrics listener could not be opened.
    #[error("cannot listen on metrics.listen {addr}: {source} (fix: pick a free address, or set metrics.enabled to false)")]
    MetricsListen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
}

/// A loaded login and whose it is.
#[derive(Clone)]
pub(crate) struct LoadedLogin {
    pub(crate) client: Arc<dyn NetworkClient>,
    pub(crate) user: OwnedUserId,
    pub(crate) remote_name: String,
}

/// One Matrix event waiting for its room queue.
pub(crate) struct InboxWork {
    seq: i64,
    container: appservice::TxnContainer,
    event: serde_json::Value,
}

pub(crate) struct Bridge {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Store,
    pub(crate) matrix: Matrix,
    /// Signed links to media, handed to networks with files from Matrix.
    pub(crate) links: MediaLinks,
    pub(crate) network: Arc<dyn Network>,
    pub(crate) info: NetworkInfo,
    pub(crate) specs: Vec<CommandSpec>,
    pub(crate) logins: Mutex<HashMap<LoginId, LoadedLogin>>,
    /// The owners of logins logged out by command in this run: what a network reports while
    /// logging out (that the remote session may still be alive) still reaches them.
    pub(crate) logged_out: Mutex<HashMap<LoginId, OwnedUserId>>,
    pub(crate) logins_in_progress: Mutex<HashMap<OwnedUserId, LoginSession>>,
    remote_tx: mpsc::UnboundedSender<(LoginId, RemoteEvent)>,
    portal_queues: Mutex<HashMap<PortalKey, mpsc::UnboundedSender<(LoginId, RemoteEvent)>>>,
    room_queues: Mutex<HashMap<OwnedRoomId, mpsc::UnboundedSender<InboxWork>>>,
    dispatched: Mutex<HashSet<i64>>,
    /// Ghosts known to be joined to rooms, so repeat joins cost nothing.
    pub(crate) joined: Mutex<HashSet<(OwnedRoomId, OwnedUserId)>>,
    /// One lock per portal, held while a Matrix event is sent to the network and its id
    /// mapping stored, and while a remote event is applied: a network may report the answer
    /// to a message (or its echo) before `send` returns, and it must find the mapping.
    portal_locks: Mutex<HashMap<PortalKey, Arc<tokio::sync::Mutex<()>>>>,
    /// One lock per chat, held while its portal is created, so two paths never create two
    /// rooms for one chat. Per chat, not global: a login creating many portals (and filling
    /// them with history) must not hold up a `pm` for another chat.
    creating_portal: Mutex<HashMap<PortalKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Per login, permits for making the portals its network announced (its recent chats,
    /// with their history): a few at a time, so that the homeserver keeps room for what
    /// users ask for, and one user's big login never holds up another user's new chat.
    /// One small entry per login that ever made a portal.
    pub(crate) new_portals: backfill::PortalTurns,
    /// Rooms already told that encryption is not supported.
    pub(crate) encryption_warned: Mutex<HashSet<OwnedRoomId>>,
    /// Who is typing per room, to notice when someone stops.
    pub(crate) typing: Mutex<HashMap<OwnedRoomId, HashSet<OwnedUserId>>>,
    /// Rooms remote users joined from their network, with their members' names.
    pub(crate) gateway_rooms: Mutex<gateway::GatewayRooms>,
    inbox_notify: Arc<Notify>,
    /// Which connection changes of each login its owner is told about, and when.
    pub(crate) connection_notices: Mutex<connection_notices::ConnectionNotices>,
    /// Counters served at `/metrics`.
    pub(crate) metrics: Metrics,
    /// Matrix users' display names, for networks that name accounts after them.
    pub(crate) display_names: profiles::DisplayNameCache,
}

/// Runs a bridge until `shutdown` completes. The listener is bound by the caller (tests
/// bind port 0), so the address in the registration must lead to it.
pub async fn run(
    config: Config,
    network: Arc<dyn Network>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BridgeError> {
    // Bound first, so a bad metrics address stops the start before anything else happens.
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| BridgeError::MetricsListen { addr, source })?),
        None => None,
    };
    let cipher = match &config.secret_key {
        SecretKeySource::Inline(key) => SecretCipher::from_base64_key(key.expose())?,
        SecretKeySource::File(path) => SecretCipher::load_or_create_key_file(path)?,
    };
    let store = Store::connect(config.database.url().expose(), cipher).await?;
    let matrix = Matrix::new(&config.homeserver_url, config.as_token.clone(), config.bot_user_id.clone());
    let links = MediaLinks::new(config.public_url.as_deref(), &config.as_token, matrix.clone());
    match &config.public_url {
        Some(url) => info!(public_url = %url, "media links are on"),
        None => info!("media links are off: set bridge.public_url so networks can link to files"),
    }
    let (remote_tx, remote_rx) = mpsc::unbounded_channel();
    let inbox_notify = Arc::new(Notify::new());
    let info = network.info();
    let metrics = Metrics::new(&info.id);
    let notice_grace = config.disconnect_notice;
    let health = Health::default();
    let mut specs = core_specs();
    specs.extend(network.commands());
    let bridge = Arc::new(Bridge {
        config: Arc::new(config),
        store: store.clone(),
        matrix,
        links: links.clone(),
        network: network.clone(),
        info,
        specs,
        logins: Mutex::new(HashMap::new()),
        logged_out: Mutex::new(HashMap::new()),
        logins_in_progress: Mutex::new(HashMap::new()),
        remote_tx,
        portal_queues: Mutex::new(HashMap::new()),
        room_queues: Mutex::new(HashMap::new()),
        dispatched: Mutex::new(HashSet::new()),
        joined: Mutex::new(HashSet::new()),
        portal_locks: Mutex::new(HashMap::new()),
        creating_portal: Mutex::new(HashMap::new()),
        new_portals: backfill::PortalTurns::default(),
        encryption_warned: Mutex::new(HashSet::new()),
        typing: Mutex::new(HashMap::new()),
        gateway_rooms: Mutex::new(HashMap::new()),
        inbox_notify: inbox_notify.clone(),
        connection_notices: Mutex::new(connection_notices::ConnectionNotices::new(notice_grace, connection_notices::NOTICE_INTERVAL)),
        metrics: metrics.clone(),
        display_names: Default::default(),
    });

    let state = AppState::new(bridge.config.hs_token.clone(), store.clone(), Arc::new(queries::Queries(bridge.clone())), inbox_notify)
        .with_media_links(links.clone())
        .with_metrics(metrics.clone())
        .with_health(health.clone());
    let app = appservice::router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await
        })
    };

    let metrics_server = metrics_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            info!(listen = %addr, "serving /metrics");
        }
        let sampler = Arc::new(metrics_sample::BridgeSampler(Arc::downgrade(&bridge)));
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(crate::metrics::serve(listener, metrics.clone(), sampler, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }))
    });

    tokio::spawn(homeserver_check::watch(bridge.matrix.clone(), health, stop_rx.clone()));
    tokio::spawn(bridge.clone().dispatch_remote_events(remote_rx, stop_rx.clone()));
    bridge.prepare_bot().await;
    let auto_logins = Arc::new(login::BridgeAutoLogins(Arc::downgrade(&bridge)));
    let rooms = Arc::new(gateway::BridgeRooms(Arc::downgrade(&bridge)));
    let ghosts = GhostIds::new(bridge.config.username_template.clone(), bridge.config.domain.clone());
    let context = NetworkContext { sessions: SessionStore::new(store.clone()), links, auto_logins, rooms, ghosts };
    if let Err(e) = network.start(context).await {
        error!(error = %e, "the network failed to start; logins will not connect");
    }
    bridge.load_logins().await;
    bridge.link_mappings().await;
    let worker = tokio::spawn(bridge.clone().inbox_worker(stop_rx.clone()));
    // A successful ping makes Synapse retry queued transactions now instead of after backoff.
    match bridge.matrix.ping_appservice(&bridge.config.registration_id).await {
        Ok(ms) => info!(round_trip_ms = ms, "the homeserver reaches the bridge"),
        Err(e) => warn!(error = %e, "the homeserver could not ping the bridge: check the registration's url"),
    }
    info!(network = %bridge.info.display_name, bot = %bridge.config.bot_user_id, "bridge running");

    shutdown.await;
    info!("shutting down");
    state.begin_shutdown();
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let clients: Vec<_> = bridge.logins.lock().expect("lock").values().map(|l| l.client.clone()).collect();
    for c in clients {
        c.disconnect().await;
    }
    bridge.network.stop().await;
    bridge.release_tasks();
    let served = server.await.map_err(|e| BridgeError::Serve(std::io::Error::other(e)))?;
    if let Some(task) = metrics_server
        && let Ok(Err(e)) = task.await
    {
        warn!(error = %e, "the metrics listener failed");
    }
    store.close().await;
    served.map_err(BridgeError::Serve)
}

impl Bridge {
    /// Registers the bot and sets its profile; retries while the homeserver is starting.
    async fn prepare_bot(&self) {
        let bot = self.config.bot_user_id.clone();
        for attempt in 1..=30 {
            match self.matrix.ensure_registered(&bot).await {
                Ok(()) => break,
                Err(e) if matches!(e.errcode(), Some("M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" | "M_FORBIDDEN")) => {
                    error!(error = %e, "the homeserver does not accept the bridge's as_token: add the registration file to app_service_config_files and restart the homeserver");
                    return;
                }
                Err(e) if attempt < 30 => {
                    warn!(error = %e, attempt, "waiting for the homeserver");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => error!(error = %e, "the bot could not be registered; check homeserver.address and the registration"),
            }
        }
        if let Some(name) = &self.config.bot_displayname
            && let Err(e) = self.matrix.set_display_name(&bot, name).await
        {
            warn!(error = %e, "could not set the bot's display name");
        }
        if let Some(avatar) = &self.config.bot_avatar
            && let Err(e) = self.matrix.set_avatar_url(&bot, avatar).await
        {
            warn!(error = %e, "could not set the bot's avatar");
        }
    }

    /// Loads and connects every stored login.
    async fn load_logins(self: &Arc<Self>) {
        let rows = match self.store.all_logins().await {
            Ok(rows) => rows,
            Err(e) => {
                error!(error = %e, "cannot read stored logins");
                return;
            }
        };
        for row in rows {
            self.activate_login(row).await;
        }
    }

    /// Turns a stored login into a connected client.
    pub(crate) async fn activate_login(self: &Arc<Self>, row: LoginRow) -> Option<Arc<dyn NetworkClient>> {
        let id = LoginId::new(row.login_id.clone());
        let stored = StoredLogin {
            id: id.clone(),
            user: row.user_id.clone(),
            remote_name: row.remote_name.clone(),
            metadata: row.metadata,
            secret: row.secret,
        };
        let sink = EventSink::new(id.clone(), self.remote_tx.clone());
        match self.network.load_login(stored, sink) {
            Ok(client) => {
                self.logins
                    .lock()
                    .expect("lock")
                    .insert(id.clone(), LoadedLogin { client: client.clone(), user: row.user_id, remote_name: row.remote_name });
                let c = client.clone();
                tokio::spawn(async move { c.connect().await }.instrument(info_span!("connect", login = %id)));
                Some(client)
            }
            Err(e) => {
                error!(login = %id, error = %e, "a stored login could not be loaded");
                None
            }
        }
    }

    /// Locks a portal for one Matrix-side or remote-side operation.
    pub(crate) async fn lock_portal(&self, key: &PortalKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.portal_locks.lock().expect("lock").entry(key.clone()).or_default().clone();
        lock.lock_owned().await
    }

    /// Locks the creation of one chat's portal.
    pub(crate) async fn lock_creation(&self, key: &PortalKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.creating_portal.lock().expect("lock").entry(key.clone()).or_default().clone();
        lock.lock_owned().await
    }

    /// The permission of a user from the config.
    pub(crate) fn permission(&self, user: &UserId) -> Permission {
        self.config.permission_of(user)
    }

    /// The logins of a Matrix user.
    pub(crate) fn logins_of(&self, user: &UserId) -> Vec<(LoginId, LoadedLogin)> {
        let mut v: Vec<_> =
            self.logins.lock().expect("lock").iter().filter(|(_, l)| l.user == user).map(|(k, l)| (k.clone(), l.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A loaded login by id.
    pub(crate) fn login(&self, id: &LoginId) -> Option<LoadedLogin> {
        self.logins.lock().expect("lock").get(id).cloned()
    }

    /// Whether a user ID is one of ours (bot or ghost), whose events are echoes.
    pub(crate) fn is_bridge_user(&self, user: &UserId) -> bool {
        user == self.config.bot_user_id
            || (user.server_name() == self.config.domain && self.config.username_template.matches_localpart(user.localpart()))
    }

    /// Sends a notice as the bot; failures are logged.
    pub(crate) async fn notice(&self, room: &RoomId, text: &str) {
        let html = crate::format::html::render(&markdown_lite(text));
        let content = json!({"msgtype": "m.notice", "body": text, "format": "org.matrix.custom.html", "formatted_body": html});
        if let Err(e) = self.matrix.send_event(room, &self.config.bot_user_id, "m.room.message", &content, None).await {
            warn!(room = %room, error = %e, "could not send a notice");
        }
    }

    /// Reads the inbox and hands each event to its room's queue.
    async fn inbox_worker(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut next_prune = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            if tokio::time::Instant::now() >= next_prune {
                // Transaction ids are only remembered for a while, so an id the homeserver
                // reuses after a database restore cannot silence new events forever.
                let cutoff = crate::clock::now_ms() - TXN_ID_RETENTION.as_millis() as i64;
                match self.store.prune_transactions(cutoff).await {
                    Ok(n) if n > 0 => info!(pruned = n, "forgot old transaction ids"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "could not prune old transaction ids"),
                }
                next_prune += TXN_PRUNE_INTERVAL;
            }
            let in_flight = self.dispatched.lock().expect("lock").len() as i64;
            match self.store.inbox_pending(in_flight + 256).await {
                Ok(items) => {
                    tracing::trace!(pending = items.len(), in_flight, "inbox read");
                    for item in items {
                        if !self.dispatched.lock().expect("lock").insert(item.seq) {
                            continue;
                        }
                        self.dispatch_inbox_item(item.seq, &item.payload).await;
                    }
                }
                Err(e) => warn!(error = %e, "cannot read the inbox; retrying"),
            }
            tokio::select! {
                _ = self.inbox_notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn dispatch_inbox_item(self: &Arc<Self>, seq: i64, payload: &str) {
        let Some((container, event)) = appservice::parse_inbox_payload(payload) else {
            warn!(seq, "an inbox entry is not readable; skipping it");
            self.metrics.event_skipped(SkipReason::Unreadable);
            self.finish_inbox_item(seq).await;
            return;
        };
        let room = event.get("room_id").and_then(|r| r.as_str()).and_then(|r| RoomId::parse(r).ok());
        let Some(room) = room else {
            // Presence and other room-less data: nothing to order against.
            self.clone().handle_inbox_event(container, event).await;
            self.finish_inbox_item(seq).await;
            return;
        };
        tracing::debug!(seq, room = %room, "queueing an inbox event");
        let work = InboxWork { seq, container, event };
        let mut queues = self.room_queues.lock().expect("lock");
        let tx = queues.entry(room.clone()).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<InboxWork>();
            let bridge = self.clone();
            tokio::spawn(
                async move {
                    while let Some(work) = rx.recv().await {
                        bridge.clone().handle_inbox_event(work.container, work.event).await;
                        bridge.finish_inbox_item(work.seq).await;
                        tracing::debug!(seq = work.seq, "inbox event handled");
                    }
                }
                .instrument(info_span!("room", room = %room)),
            );
            tx
        });
        let _ = tx.send(work);
    }

    async fn finish_inbox_item(&self, seq: i64) {
        if let Err(e) = self.store.inbox_done(seq).await {
            warn!(seq, error = %e, "could not mark an inbox entry done; it will be handled again");
        }
        self.dispatched.lock().expect("lock").remove(&seq);
    }

    /// Drops the queues and clients, so the tasks that serve them end and the bridge can
    /// be freed when the core runs inside a longer-lived process (tests, embedders).
    fn release_tasks(&self) {
        self.room_queues.lock().expect("lock").clear();
        self.portal_queues.lock().expect("lock").clear();
        self.logins.lock().expect("lock").clear();
        self.logins_in_progress.lock().expect("lock").clear();
    }

    /// Routes remote events to one queue per portal, until the bridge stops.
    async fn dispatch_remote_events(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<(LoginId, RemoteEvent)>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let next = tokio::select! {
                next = rx.recv() => next,
                _ = stop.wait_for(|s| *s) => None,
            };
            let Some((login, event)) = next else { return };
            let Some(key) = event.portal().cloned() else {
                if matches!(event, RemoteEvent::Presence { .. } | RemoteEvent::Profile { .. } | RemoteEvent::AvatarRemoved { .. }) {
                    // Not tied to a portal; HTTP calls that must not hold up the others.
                    let bridge = self.clone();
                    tokio::spawn(async move { bridge.handle_remote_event(&login, event).await });
                } else {
                    self.handle_login_state(&login, event).await;
                }
                continue;
            };
            let mut queues = self.portal_queues.lock().expect("lock");
            let tx = queues.entry(key.clone()).or_insert_with(|| {
                let (tx, mut rx) = mpsc::unbounded_channel::<(LoginId, RemoteEvent)>();
                let bridge = self.clone();
                let key_for_task = key.clone();
                tokio::spawn(
                    async move {
                        while let Some((login, event)) = rx.recv().await {
                            let _guard = bridge.lock_portal(&key_for_task).await;
                            bridge.handle_remote_event(&login, event).await;
                            bridge.metrics.remote_queue(-1);
                        }
                    }
                    .instrument(info_span!("portal", portal = %key)),
                );
                tx
            });
            // Counted before sending, so the queue's task can never take it out first.
            self.metrics.remote_queue(1);
            let _ = tx.send((login, event));
        }
    }
}

/// Turns the bot's simple markup (`**bold**`, `` `code` ``) into rich text for notices.
pub(crate) fn markdown_lite(text: &str) -> crate::network::content::RichText {
    use crate::network::content::{Node, RichText, Style};
    let mut nodes = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            nodes.push(Node::Break);
        }
        let mut rest = line;
        while !rest.is_empty() {
            let next = [("**", Style::Bold), ("`", Style::Code)]
                .into_iter()
                .filter_map(|(m, s)| rest.find(m).map(|p| (p, m, s)))
                .min_by_key(|x| x.0);
            match next {
                Some((pos, marker, style)) if rest[pos + marker.len()..].contains(marker) => {
                    if pos > 0 {
                        nodes.push(Node::Text(rest[..pos].to_owned()));
                    }
                    let after = &rest[pos + marker.len()..];
                    let end = after.find(marker).expect("checked above");
                    nodes.push(Node::Styled(style, vec![Node::Text(after[..end].to_owned())]));
                    rest = &after[end + marker.len()..];
                }
                _ => {
                    nodes.push(Node::Text(rest.to_owned()));
                    rest = "";
                }
            }
        }
    }
    RichText(nodes)
}
