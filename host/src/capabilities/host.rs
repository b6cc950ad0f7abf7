//! `sluice:ingress/host`: logging, the clock and ids. Needs no grant.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::runtime::InstanceState;
use crate::runtime::bindings::{host, types};

impl types::Host for InstanceState {}

impl host::Host for InstanceState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let ingress = &self.context.ingress_id;
        match level {
            host::Level::Trace => tracing::trace!(target: "sluice::guest", %ingress, "{message}"),
            host::Level::Debug => tracing::debug!(target: "sluice::guest", %ingress, "{message}"),
            host::Level::Info => tracing::info!(target: "sluice::guest", %ingress, "{message}"),
            host::Level::Warn => tracing::warn!(target: "sluice::guest", %ingress, "{message}"),
            host::Level::Error => tracing::error!(target: "sluice::guest", %ingress, "{message}"),
        }
        Ok(())
    }

    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(unix_millis(SystemTime::now()))
    }

    fn new_id(&mut self) -> wasmtime::Result<String> {
        Ok(uuid::Uuid::new_v4().hyphenated().to_string())
    }
}

pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}
