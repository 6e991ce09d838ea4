//! Where log lines go and how they look: `logging.format` (human or JSON lines) and the
//! filter built from `logging.level` and `logging.filters`, all on stderr.

use std::io::IsTerminal;

use anyhow::{Result, anyhow};
use mxbridge_core::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// The config's filter, parsed the way tracing will use it. The core has checked the plain
/// levels and module names; this also catches span directives (`target[span]=level`).
pub(crate) fn filter(config: &Config) -> Result<EnvFilter> {
    EnvFilter::builder().parse(&config.log_level).map_err(|e| {
        anyhow!(
            "config key `logging.level` (with `logging.filters`): `{}` is not a tracing filter: {e} (fix: write a level such as \
             info, or per module like `mxbridge_core=debug,info`)",
            config.log_level
        )
    })
}

/// Installs the subscriber for the rest of the process. `RUST_LOG`, when set and valid,
/// replaces the config's filter for one run without editing the file.
pub(crate) fn init(config: &Config) -> Result<()> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(from_env) => from_env,
        Err(_) => filter(config)?,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        // Colours only on a terminal: `docker logs` and journald would show the escape codes.
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // An event's fields at the top level of its object, next to `timestamp`, `level`,
        // `target` and `message`, with the span it happened in.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
    Ok(())
}
