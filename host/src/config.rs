//! The host config file, `sluice.yaml` in the deploy directory. Every key is optional.
//!
//! ```yaml
//! listen: 127.0.0.1:8080        # address to serve on (the CLI's --listen wins)
//! store: sluice.db              # SQLite file, relative to the deploy directory
//! keepaliveSeconds: 30          # ':keepalive' comment after this much silence on a stream
//! maxInstances: 1000            # concurrent instances (connections); over it: 503
//! memoryPerInstanceMiB: 64      # linear memory per instance
//! cpuPerCallMs: 100             # CPU time per call into a component
//! maxBodyBytes: 1048576         # request body limit; over it: 413
//! maxHeaderBytes: 65536         # request head (HTTP/1.1) or header list (HTTP/2); over it: 431
//! maxHeaders: 100               # request header fields; over it: 431
//! busHistoryPerTopic: 1000      # events kept per topic for replay on reconnect
//! compileCache: true            # keep compiled components in ~/.cache/wasmtime
//! drainSeconds: 10              # on SIGTERM/SIGINT: time for requests to finish before exit
//! maxStreamLifetimeSeconds: 0   # end SSE streams after this long (0 = never), for rebalancing
//! dispatchTimeoutSeconds: 10    # a client that takes no event for this long is disconnected
//! cors: { allowedOrigins: [] }  # web origins that may call from a browser: see `crate::cors`
//! auth: { … }                   # caller tokens: see `crate::auth` (none: only public ingresses answer)
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::cors::CorsConfig;
use crate::runtime::RuntimeConfig;

/// hyper's smallest HTTP/1.1 read buffer; it panics on a smaller `max_buf_size`.
const MIN_HEADER_BYTES: usize = 8 << 10;

/// The parsed host config, with defaults filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HostConfig {
    pub listen: SocketAddr,
    pub store: PathBuf,
    pub keepalive_seconds: u64,
    pub max_instances: u32,
    #[serde(rename = "memoryPerInstanceMiB")]
    pub memory_per_instance_mib: u32,
    pub cpu_per_call_ms: u64,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub bus_history_per_topic: usize,
    pub compile_cache: bool,
    pub drain_seconds: u64,
    pub max_stream_lifetime_seconds: u64,
    pub dispatch_timeout_seconds: u64,
    pub auth: Option<AuthConfig>,
    pub cors: CorsConfig,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: PathBuf::from("sluice.db"),
            keepalive_seconds: 30,
            max_instances: 1000,
            memory_per_instance_mib: 64,
            cpu_per_call_ms: 100,
            max_body_bytes: 1 << 20,
            max_header_bytes: 64 << 10,
            max_headers: 100,
            bus_history_per_topic: 1000,
            compile_cache: true,
            drain_seconds: 10,
            max_stream_lifetime_seconds: 0,
            dispatch_timeout_seconds: 10,
            auth: None,
            cors: CorsConfig::default(),
        }
    }
}

impl HostConfig {
    pub fn parse(yaml: &str) -> Result<Self, serde_yaml::Error> {
        if yaml.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(yaml)
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_seconds)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }

    pub fn dispatch_timeout(&self) -> Duration {
        Duration::from_secs(self.dispatch_timeout_seconds.max(1))
    }

    /// The request-head limit in bytes, raised to hyper's minimum read buffer (8 KiB), below
    /// which it refuses to run.
    pub fn header_bytes_limit(&self) -> usize {
        self.max_header_bytes.max(MIN_HEADER_BYTES)
    }

    /// `None` when streams may live forever.
    pub fn max_stream_lifetime(&self) -> Option<Duration> {
        (self.max_stream_lifetime_seconds > 0)
            .then(|| Duration::from_secs(self.max_stream_lifetime_seconds))
    }

    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            max_instances: self.max_instances.max(1),
            max_memory: (self.memory_per_instance_mib as usize) << 20,
            cpu_per_call: Duration::from_millis(self.cpu_per_call_ms),
            compile_cache: self.compile_cache,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let config = HostConfig::parse("").expect("valid");
        assert_eq!(config.listen.port(), 8080);
        assert_eq!(config.keepalive(), Duration::from_secs(30));
    }

    #[test]
    fn keys_override_defaults() {
        let config =
            HostConfig::parse("listen: 0.0.0.0:9000\nkeepaliveSeconds: 5\n").expect("valid");
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(config.keepalive_seconds, 5);
        assert_eq!(config.max_body_bytes, 1 << 20);
    }

    #[test]
    fn auth_keys_are_strict_and_tagged_by_algorithm() {
        let config = HostConfig::parse(
            "auth:\n  audience: sluice\n  keys:\n    - { algorithm: RS256, publicKeyFile: k.pem, kid: a }\n",
        )
        .expect("valid");
        let auth = config.auth.expect("auth");
        assert_eq!(auth.audience.as_deref(), Some("sluice"));
        assert_eq!(auth.leeway_seconds, 60);
        assert_eq!(
            auth.keys,
            [crate::auth::KeyConfig::Rs256 {
                public_key_file: "k.pem".into(),
                kid: Some("a".into())
            }]
        );
        for bad in [
            "auth:\n  keys:\n    - { algorithm: HS512, secretFile: k }\n",
            "auth:\n  keys:\n    - { algorithm: HS256, publicKeyFile: k }\n",
            "auth:\n  audiences: [x]\n",
        ] {
            assert!(HostConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_header_limit_below_hypers_minimum_is_raised_to_it() {
        let config = HostConfig::parse("maxHeaderBytes: 100\n").expect("valid");
        assert_eq!(config.header_bytes_limit(), 8192);
        assert_eq!(HostConfig::default().header_bytes_limit(), 65536);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = HostConfig::parse("listne: 1.2.3.4:5\n").expect_err("typo");
        assert!(err.to_string().contains("unknown field `listne`"), "{err}");
    }
}
