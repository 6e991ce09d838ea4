//! Shared helpers of the benchmark binaries: process memory, percentiles, arguments.
//!
//! The binaries print Markdown sections; `scripts/bench.sh` puts them into BENCHMARKS.md.

pub mod irc;
pub mod matrix;
pub mod measure;
pub mod xmpp;

use std::collections::HashMap;
use std::time::Duration;

/// Memory figures of this process from `/proc/self/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Resident set size.
    pub rss_kib: u64,
    /// Its anonymous part (heap, stacks): what the bridge itself allocates.
    pub anon_kib: u64,
    /// Threads of the process.
    pub threads: u64,
}

impl Memory {
    /// Reads the current figures.
    pub fn now() -> anyhow::Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).ok_or_else(|| anyhow::anyhow!("no {name} in /proc/self/status"))?;
            Ok(line[name.len()..].trim().trim_end_matches("kB").trim().parse()?)
        };
        Ok(Self { rss_kib: field("VmRSS:")?, anon_kib: field("RssAnon:")?, threads: field("Threads:")? })
    }
}

/// Percentile `p` (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with one decimal, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// `--name value` arguments. Every benchmark option has a default, so a missing one is
/// taken from the table the binary gives.
pub struct Args(HashMap<String, String>);

impl Args {
    /// Parses `std::env::args`.
    pub fn parse() -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(name) = args.next() {
            let key = name.strip_prefix("--").ok_or_else(|| anyhow::anyhow!("expected --option, got {name}"))?;
            let value = args.next().ok_or_else(|| anyhow::anyhow!("--{key} needs a value"))?;
            map.insert(key.to_owned(), value);
        }
        Ok(Self(map))
    }

    /// The value of `--name`, or `default`.
    pub fn get(&self, name: &str, default: &str) -> String {
        self.0.get(name).cloned().unwrap_or_else(|| default.to_owned())
    }

    /// The value of `--name` parsed, or `default`.
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(name) {
            Some(v) => v.parse().map_err(|e| anyhow::anyhow!("--{name} {v}: {e}")),
            None => Ok(default),
        }
    }

    /// The value of `--name` if given.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Runs a shell command (the restart hooks bench.sh passes) and fails on a non-zero exit or
/// after two minutes, so a hung hook fails the run instead of stalling it.
pub async fn shell(cmd: &str) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new("bash").arg("-c").arg(cmd).kill_on_drop(true).spawn()?;
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .map_err(|_| anyhow::anyhow!("`{cmd}` did not finish within two minutes"))??;
    anyhow::ensure!(status.success(), "`{cmd}` failed: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_percentile_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
    }
}
