//! The mxbridge binary: `run` (default), `generate-registration`, `check-config`, `healthcheck`.

mod logging;
mod networks;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mxbridge_core::config::Config;
use tracing::info;

/// A Matrix bridge to other chat networks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The config file (see config/ for commented examples).
    #[arg(short, long, default_value = "config.yaml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bridge (the default).
    Run,
    /// Fill in missing tokens in the config and write the registration file for the homeserver.
    GenerateRegistration {
        /// Where to write the registration.
        #[arg(short, long, default_value = "registration.yaml")]
        output: PathBuf,
    },
    /// Validate the config and say what to fix.
    CheckConfig,
    /// Ask the bridge running with this config whether it is healthy (exit 0) or not (exit 1),
    /// for container healthchecks.
    Healthcheck,
}

fn main() -> std::process::ExitCode {
    match run_cli() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error as its message and causes. Returning it from `main` would print anyhow's
/// Debug form, with a backtrace whenever RUST_BACKTRACE is set: noise for a bad config.
fn report(e: &anyhow::Error) -> String {
    let mut out = format!("Error: {e}");
    for cause in e.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

fn run_cli() -> Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::GenerateRegistration { output } => {
            let protocol = networks::protocol_of(&cli.config)?;
            // The network is built (no I/O) only to ask which literal alias forms it has.
            let literal_starts = |config: &Config| networks::build(config).map(|n| n.literal_alias_starts()).map_err(|e| format!("{e:#}"));
            let reg = mxbridge_core::registration::generate(&cli.config, &output, &protocol, literal_starts)?;
            eprintln!("Wrote {} for appservice `{}`.", output.display(), reg.id);
            eprintln!("Add its path to app_service_config_files in your homeserver's config and restart the homeserver.");
            Ok(())
        }
        Cmd::CheckConfig => {
            let config = Config::load(&cli.config)?;
            logging::filter(&config)?;
            networks::build(&config)?;
            eprintln!("{} is valid.", cli.config.display());
            Ok(())
        }
        Cmd::Healthcheck => healthcheck(&cli.config),
        Cmd::Run => run(&cli.config),
    }
}

fn healthcheck(path: &std::path::Path) -> Result<()> {
    let config = Config::load(path)?;
    let (host, port) = config.listen.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let uptime = runtime.block_on(mxbridge_core::appservice::probe_health(&host, port))?;
    eprintln!("healthy (up {uptime} s)");
    Ok(())
}

fn run(path: &std::path::Path) -> Result<()> {
    let config = Config::load(path)?;
    logging::init(&config)?;
    // Install one rustls provider for the whole process before any network connects.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let network = networks::build(&config)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (host, port) = config.listen.clone();
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port} (appservice.hostname / appservice.port)"))?;
        info!(address = %listener.local_addr()?, "listening for the homeserver");
        mxbridge_core::run(config, network, listener, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
