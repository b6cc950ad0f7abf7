//! Small host services every component may use (WIT interface `host`): logging, the
//! clock and random ids. None of them needs an `acl` grant.

use crate::sys;
use crate::time::Timestamp;

/// How important a log line is.
///
/// # Examples
///
/// ```no_run
/// sluice_sdk::log(sluice_sdk::Level::Warn, "stock below zero");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the component handled.
    Warn,
    /// Something failed.
    Error,
}

/// Write `message` to the host log at `level`, tagged with the ingress id.
///
/// The [`trace!`](crate::trace), [`debug!`](crate::debug), [`info!`](crate::info),
/// [`warn!`](crate::warn) and [`error!`](crate::error) macros format and log in one step.
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Level, log};
///
/// log(Level::Info, "subscribed to actors/sku/123");
/// ```
pub fn log(level: Level, message: impl AsRef<str>) {
    sys::log(level, message.as_ref());
}

/// Milliseconds since the Unix epoch, from the host clock.
///
/// # Examples
///
/// ```no_run
/// let started = sluice_sdk::now();
/// // … work …
/// let elapsed_ms = sluice_sdk::now() - started;
/// # let _ = elapsed_ms;
/// ```
pub fn now() -> u64 {
    sys::now()
}

/// The host's current time as RFC 3339 UTC with milliseconds, e.g.
/// `2026-01-11T19:30:00.000Z`. See [`Timestamp`] for other precisions.
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Record, json, now_rfc3339};
///
/// let heartbeat = Record::event("heartbeat").data(json!({ "timestamp": now_rfc3339() }));
/// # let _ = heartbeat;
/// ```
pub fn now_rfc3339() -> String {
    Timestamp::now().to_rfc3339()
}

/// A new random (v4) UUID in its hyphenated form, from the host.
///
/// # Examples
///
/// ```no_run
/// let correlation_id = sluice_sdk::new_id();
/// assert_eq!(correlation_id.len(), 36);
/// ```
pub fn new_id() -> String {
    sys::new_id()
}

/// Log at [`Level::Trace`] with `format!` arguments.
///
/// # Examples
///
/// ```no_run
/// sluice_sdk::trace!("event {} mapped", 42);
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log($crate::Level::Trace, ::std::format!($($arg)+)) };
}

/// Log at [`Level::Debug`] with `format!` arguments.
///
/// # Examples
///
/// ```no_run
/// let rows = 3;
/// sluice_sdk::debug!("query returned {rows} rows");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log($crate::Level::Debug, ::std::format!($($arg)+)) };
}

/// Log at [`Level::Info`] with `format!` arguments.
///
/// # Examples
///
/// ```no_run
/// let sku = "PROD-001";
/// sluice_sdk::info!("streaming stock for {sku}");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log($crate::Level::Info, ::std::format!($($arg)+)) };
}

/// Log at [`Level::Warn`] with `format!` arguments.
///
/// # Examples
///
/// ```no_run
/// sluice_sdk::warn!("events were lost; sending fresh state");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log($crate::Level::Warn, ::std::format!($($arg)+)) };
}

/// Log at [`Level::Error`] with `format!` arguments.
///
/// # Examples
///
/// ```no_run
/// let err = sluice_sdk::Error::internal("boom");
/// sluice_sdk::error!("stock lookup failed: {err}");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log($crate::Level::Error, ::std::format!($($arg)+)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake;

    #[test]
    fn log_macros_format_and_tag_the_level() {
        let sku = "PROD-001";
        crate::info!("streaming stock for {sku}");
        crate::error!("failed: {}", 42);
        assert_eq!(
            fake::logs(),
            [
                (Level::Info, "streaming stock for PROD-001".to_owned()),
                (Level::Error, "failed: 42".to_owned())
            ]
        );
    }

    #[test]
    fn now_rfc3339_formats_the_host_clock_with_milliseconds() {
        assert_eq!(now(), fake::NOW);
        assert_eq!(now_rfc3339(), "2026-01-11T19:30:00.000Z");
    }
}
