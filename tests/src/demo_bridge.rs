//! The bridge under test: the real core with the demo network, started in-process from a
//! fixture config whose registration `scripts/test.sh` gave to Synapse.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mxbridge_core::config::{Config, DatabaseConfig, SecretKeySource};
use mxbridge_core::network::Network;
use mxbridge_demo::{DemoConfig, DemoHandle, DemoNetwork};
use tokio::sync::oneshot;

/// A bridge running in the current runtime.
pub(crate) struct RunningBridge {
    pub(crate) handle: DemoHandle,
    pub(crate) config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}.config.yaml"))
}

/// A fresh folder for one bridge's database and key.
pub(crate) fn state_dir(label: &str) -> PathBuf {
    let base = std::env::var("MXBRIDGE_STACK_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let dir = base.join("e2e").join(format!("{label}-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).expect("create the bridge's state folder");
    dir
}

/// The fixture config with database and key moved into `dir`.
pub(crate) fn config(name: &str, dir: &Path) -> Config {
    let mut config = Config::load(&fixture(name)).expect("the fixture config is valid");
    // The stack may run Synapse on another port (MXBRIDGE_HS_PORT); the registration only
    // depends on the bridge's own address, which the fixture fixes.
    config.homeserver_url = crate::harness::env::homeserver();
    config.database = DatabaseConfig::Sqlite(dir.join("bridge.db"));
    config.secret_key = SecretKeySource::File(dir.join("bridge.key"));
    config
}

impl RunningBridge {
    /// Starts a bridge with the demo network and waits until its appservice port answers.
    pub(crate) async fn start(config: Config) -> Self {
        let demo: DemoConfig = serde_json::from_value(network_section(&config)).expect("demo network section");
        let (network, handle) = DemoNetwork::new(demo);
        Self::start_with(config, network, handle).await
    }

    /// Starts a bridge with any network. `handle` is the demo handle, unused by others.
    pub(crate) async fn start_with(config: Config, network: Arc<dyn Network>, handle: DemoHandle) -> Self {
        crate::harness::init();
        let (host, port) = config.listen.clone();
        let listener = bind_with_retry(&host, port).await;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let run_config = config.clone();
        let task = tokio::spawn(async move {
            mxbridge_core::run(run_config, network, listener, async move {
                let _ = stop_rx.await;
            })
            .await
            .expect("the bridge ran");
        });
        wait_for_appservice(&config).await;
        Self { handle, config, stop: Some(stop_tx), task: Some(task) }
    }

    /// Stops the bridge and waits until it has shut down.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the bridge stops within 30 s")
                .expect("the bridge task ended cleanly");
        }
    }
}

/// The config's `network:` section without its `type`.
pub(crate) fn network_section(config: &Config) -> serde_json::Value {
    let mut v = config.network.clone();
    v.as_object_mut().expect("network section").remove("type");
    v
}

/// A restarted bridge may find its port in TIME_WAIT for a moment.
async fn bind_with_retry(host: &str, port: u16) -> tokio::net::TcpListener {
    let mut last = None;
    for _ in 0..50 {
        match tokio::net::TcpListener::bind((host, port)).await {
            Ok(l) => return l,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {host}:{port}: {last:?}");
}

async fn wait_for_appservice(config: &Config) {
    let url = format!("http://{}:{}/_matrix/app/v1/ping", config.listen.0, config.listen.1);
    let client = reqwest::Client::new();
    let ok = crate::harness::wait::wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        let req = client.post(&url).bearer_auth(config.hs_token.expose()).json(&serde_json::json!({}));
        async move { req.send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await;
    ok.expect("the bridge answers on its appservice port");
}

/// The bridge shared by all tests of the main fixture: it runs on its own thread and
/// runtime for the whole test process, so tests in parallel share one registration.
pub(crate) fn shared() -> &'static (DemoHandle, Config) {
    static SHARED: OnceLock<(DemoHandle, Config)> = OnceLock::new();
    SHARED.get_or_init(|| {
        run_forever(|| async {
            let bridge = RunningBridge::start(config("demo", &state_dir("shared"))).await;
            ((bridge.handle.clone(), bridge.config.clone()), bridge)
        })
    })
}

/// Starts a bridge on its own thread and runtime that live as long as the test process
/// (a test's own runtime ends with the test), and returns what `start` hands out.
pub(crate) fn run_forever<T, F, Fut>(start: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = (T, RunningBridge)>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let (value, _bridge) = start().await;
            if tx.send(value).is_err() {
                return; // nobody waits for this bridge any more
            }
            std::future::pending::<()>().await;
        });
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("the shared bridge starts")
}
