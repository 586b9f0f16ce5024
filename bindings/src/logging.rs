//! `log` output to the platform's log: os_log on iOS (feature `oslog`), logcat on Android,
//! stderr (env_logger) on a host. Nothing above `debug` formats a domain name or an address.

use crate::error::Result;
use crate::panic_guard::guard;

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Also degraded operation (shed load, failed callbacks).
    Warn,
    /// Also lifecycle (engine created, index reloaded, shutdown).
    Info,
    /// Also per-flow detail, names and addresses included: never in production.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for log::LevelFilter {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// Routes Nightjar's log to the platform log at `level`. Safe to call again: the first call
/// installs the logger, later calls only change the level.
#[uniffi::export]
pub fn init_logging(level: LogLevel) -> Result<()> {
    guard(|| {
        let filter = log::LevelFilter::from(level);
        install(filter);
        log::set_max_level(filter);
        Ok(())
    })
}

#[cfg(target_os = "android")]
fn install(filter: log::LevelFilter) {
    android_logger::init_once(
        android_logger::Config::default()
            .with_max_level(filter)
            .with_tag("nightjar"),
    );
}

#[cfg(all(target_os = "ios", feature = "oslog"))]
fn install(filter: log::LevelFilter) {
    // Err means a logger is already installed: keep it.
    let _ = oslog::OsLogger::new("org.nightjar")
        .level_filter(filter)
        .init();
}

#[cfg(all(target_os = "ios", not(feature = "oslog")))]
fn install(_filter: log::LevelFilter) {
    // Without the iOS SDK there is no os_log binding; the host app may install its own logger.
}

// Unit tests capture the log instead, to check what reaches it.
#[cfg(test)]
fn install(_filter: log::LevelFilter) {
    crate::log_capture::install();
}

#[cfg(all(not(test), not(any(target_os = "android", target_os = "ios"))))]
fn install(filter: log::LevelFilter) {
    // Err means a logger is already installed: keep it.
    let _ = env_logger::Builder::new().filter_level(filter).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_twice_only_changes_the_level() {
        init_logging(LogLevel::Warn).unwrap();
        assert_eq!(log::max_level(), log::LevelFilter::Warn);
        init_logging(LogLevel::Debug).unwrap();
        assert_eq!(log::max_level(), log::LevelFilter::Debug);
    }
}
