//! The host config file, `sluice.yaml` in the deploy directory. Every key is optional.
//!
//! ```yaml
//! listen: 127.0.0.1:8080        # address to serve on (the CLI's --listen wins)
//! adminListen: 127.0.0.1:9090   # the admin endpoints' own address (the CLI's --admin-listen wins):
//!                               #   see `crate::server::admin`; the public address answers none of them
//! adminTokenFile: admin.token   # absent: no admin token; else every admin request needs
//!                               #   `Authorization: Bearer <the file's content, trimmed>`
//! publicHealth: false           # also answer GET /healthz and /readyz on the public address
//! store: sluice.db              # a path: SQLite file, relative to the deploy directory;
//!                               # a postgres:// or postgresql:// URL: PostgreSQL (a cluster)
//! storeSchema: public           # PostgreSQL only: the schema of every table (created if missing)
//! storePoolSize: 16             # PostgreSQL only: most connections this node opens
//! storeConnectTimeoutSeconds: 5 # PostgreSQL only: wait this long for a connection, then the
//!                               # call fails as `unavailable` (at start: the host exits)
//! keepaliveSeconds: 30          # ':keepalive' comment after this much silence on a stream
//! maxInstances: 1000            # concurrent instances (connections); over it: 503. Absent: as
//!                               #   many as this machine holds (vm.max_map_count, open files,
//!                               #   1 MiB of available memory each), logged at start, and each
//!                               #   connection takes its component's data from the memory left
//! memoryPerInstanceMiB: 64      # linear memory per instance
//! cpuPerCallMs: 100             # CPU time per call into a component
//! maxBodyBytes: 1048576         # request body limit; over it: 413
//! maxHeaderBytes: 65536         # request head (HTTP/1.1) or header list (HTTP/2); over it: 431
//! maxHeaders: 100               # request header fields; over it: 431
//! busHistoryPerTopic: 1000      # in-process bus: events kept per topic for replay on reconnect
//! busTopicIdleSeconds: 900      # in-process bus: a topic without subscribers or events this long is forgotten
//! busMaxHistoryBytes: 67108864  # in-process bus: all topics' history together; the oldest events go first
//! bus: { url: "nats://127.0.0.1:4222", stream: SLUICE }  # the JetStream bus of a cluster (absent:
//!                               #   the in-process bus); every key: see `crate::backends::bus::jetstream::config`
//! compileCache: true            # keep compiled components in ~/.cache/wasmtime
//! watch: true                   # reload ingresses/ and components/ when they change (hot deploy;
//!                               #   `sluice deploy` reloads whatever this says)
//! drainSeconds: 10              # on SIGTERM/SIGINT: time for requests to finish before exit
//! maxStreamLifetimeSeconds: 0   # end SSE streams after this long (0 = never), for rebalancing
//! dispatchTimeoutSeconds: 10    # a client that takes no event for this long is dropped (HTTP/2: its stream)
//! jsonTimeoutSeconds: 30        # JSON mode: no first record by then → 504 TIMEOUT (0 = no deadline)
//! headerReadTimeoutSeconds: 10  # a request head must arrive within this; also HTTP/1.1's idle timeout (0 = none)
//! http2KeepAliveSeconds: 30     # HTTP/2: ping a connection silent this long (0 = never)
//! http2KeepAliveTimeoutSeconds: 10 # HTTP/2: close a connection whose ping has no answer by then
//! http2MaxConcurrentStreams: 100 # HTTP/2: streams open at once on one connection
//! http2MaxPendingResets: 20     # HTTP/2: streams reset before being taken; more closes the connection
//! cors: { allowedOrigins: [] }  # web origins that may call from a browser: see `crate::cors`
//! auth: { … }                   # caller tokens: see `crate::auth` (none: only public ingresses answer)
//! tls: { certFile: cert.pem, keyFile: key.pem }  # serve HTTPS (HTTP/2 by ALPN), PEM files relative
//!                               #   to the deploy directory, reloaded on change (absent: plain HTTP);
//!                               #   see `crate::server::tls`
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::backends::bus::JetStreamConfig;
use crate::backends::store::postgres::{PostgresConfig, is_postgres_url};
use crate::cors::CorsConfig;
use crate::runtime::RuntimeConfig;
use crate::server::tls::TlsConfig;

/// hyper's smallest HTTP/1.1 read buffer; it panics on a smaller `max_buf_size`.
const MIN_HEADER_BYTES: usize = 8 << 10;

/// The parsed host config, with defaults filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HostConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// Relative to the deploy directory.
    pub admin_token_file: Option<std::path::PathBuf>,
    pub public_health: bool,
    pub store: String,
    pub store_schema: String,
    pub store_pool_size: usize,
    pub store_connect_timeout_seconds: u64,
    pub keepalive_seconds: u64,
    /// `None`: sized from the machine at start.
    pub max_instances: Option<u32>,
    #[serde(rename = "memoryPerInstanceMiB")]
    pub memory_per_instance_mib: u32,
    pub cpu_per_call_ms: u64,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub bus_history_per_topic: usize,
    pub bus_topic_idle_seconds: u64,
    pub bus_max_history_bytes: usize,
    pub bus: Option<JetStreamConfig>,
    pub compile_cache: bool,
    pub watch: bool,
    pub drain_seconds: u64,
    pub max_stream_lifetime_seconds: u64,
    pub dispatch_timeout_seconds: u64,
    pub json_timeout_seconds: u64,
    pub header_read_timeout_seconds: u64,
    pub http2_keep_alive_seconds: u64,
    pub http2_keep_alive_timeout_seconds: u64,
    pub http2_max_concurrent_streams: u32,
    pub http2_max_pending_resets: usize,
    pub auth: Option<AuthConfig>,
    pub cors: CorsConfig,
    pub tls: Option<TlsConfig>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            admin_token_file: None,
            public_health: false,
            store: "sluice.db".into(),
            store_schema: "public".into(),
            store_pool_size: 16,
            store_connect_timeout_seconds: 5,
            keepalive_seconds: 30,
            max_instances: None,
            memory_per_instance_mib: 64,
            cpu_per_call_ms: 100,
            max_body_bytes: 1 << 20,
            max_header_bytes: 64 << 10,
            max_headers: 100,
            bus_history_per_topic: 1000,
            bus_topic_idle_seconds: 900,
            bus_max_history_bytes: 64 << 20,
            bus: None,
            compile_cache: true,
            watch: true,
            drain_seconds: 10,
            max_stream_lifetime_seconds: 0,
            dispatch_timeout_seconds: 10,
            json_timeout_seconds: 30,
            header_read_timeout_seconds: 10,
            http2_keep_alive_seconds: 30,
            http2_keep_alive_timeout_seconds: 10,
            http2_max_concurrent_streams: 100,
            http2_max_pending_resets: 20,
            auth: None,
            cors: CorsConfig::default(),
            tls: None,
        }
    }
}

impl HostConfig {
    pub fn parse(yaml: &str) -> Result<Self, serde_norway::Error> {
        if yaml.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(yaml)
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

    /// `None`: JSON-mode requests wait for their first record without a deadline.
    pub fn json_timeout(&self) -> Option<Duration> {
        seconds(self.json_timeout_seconds)
    }

    /// `None`: no deadline for request heads.
    pub fn header_read_timeout(&self) -> Option<Duration> {
        seconds(self.header_read_timeout_seconds)
    }

    /// `None`: HTTP/2 connections are never pinged.
    pub fn http2_keep_alive(&self) -> Option<Duration> {
        seconds(self.http2_keep_alive_seconds)
    }

    pub fn http2_keep_alive_timeout(&self) -> Duration {
        Duration::from_secs(self.http2_keep_alive_timeout_seconds.max(1))
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

    /// The PostgreSQL settings when `store` is a PostgreSQL URL; `None` for a SQLite file.
    pub fn postgres(&self) -> Option<PostgresConfig> {
        is_postgres_url(&self.store).then(|| PostgresConfig {
            url: self.store.clone(),
            schema: self.store_schema.clone(),
            pool_size: self.store_pool_size.max(1),
            connect_timeout: Duration::from_secs(self.store_connect_timeout_seconds.clamp(1, 3600)),
        })
    }

    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            max_instances: self.max_instances.map(|wanted| wanted.max(1)),
            max_memory: (self.memory_per_instance_mib as usize) << 20,
            cpu_per_call: Duration::from_millis(self.cpu_per_call_ms),
            compile_cache: self.compile_cache,
        }
    }
}

/// `None` for 0 (the setting is off). Values beyond the clock's range mean "never" too: a
/// timer that far off cannot be set (tokio panics on an `Instant` overflow).
fn seconds(value: u64) -> Option<Duration> {
    const FAR: u64 = 86_400 * 365 * 30;
    (value > 0 && value <= FAR).then(|| Duration::from_secs(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let config = HostConfig::parse("").expect("valid");
        assert_eq!(config.listen.port(), 8080);
        assert_eq!(config.keepalive(), Duration::from_secs(30));
        assert_eq!(config.json_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(config.header_read_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(config.http2_keep_alive(), Some(Duration::from_secs(30)));
        assert_eq!(config.http2_keep_alive_timeout(), Duration::from_secs(10));
        assert_eq!(config.http2_max_concurrent_streams, 100);
        assert_eq!(config.http2_max_pending_resets, 20);
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
    fn the_admin_surface_defaults_to_loopback_9090_without_a_token() {
        let config = HostConfig::parse("").expect("valid");
        assert_eq!(
            config.admin_listen,
            SocketAddr::from(([127, 0, 0, 1], 9090))
        );
        assert_eq!(config.admin_token_file, None);
        assert!(!config.public_health);
        let config = HostConfig::parse(
            "adminListen: 0.0.0.0:0\nadminTokenFile: secrets/admin.token\npublicHealth: true\n",
        )
        .expect("valid");
        assert_eq!(config.admin_listen, SocketAddr::from(([0, 0, 0, 0], 0)));
        assert_eq!(
            config.admin_token_file.as_deref(),
            Some(std::path::Path::new("secrets/admin.token"))
        );
        assert!(config.public_health);
        let err = HostConfig::parse("adminListen: 9090\n").expect_err("no host");
        assert!(
            err.to_string()
                .contains("adminListen: invalid socket address syntax"),
            "{err}"
        );
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
    fn zero_turns_a_timeout_off() {
        let config = HostConfig::parse(
            "jsonTimeoutSeconds: 0\nheaderReadTimeoutSeconds: 0\nhttp2KeepAliveSeconds: 0\n",
        )
        .expect("valid");
        assert_eq!(config.json_timeout(), None);
        assert_eq!(config.header_read_timeout(), None);
        assert_eq!(config.http2_keep_alive(), None);
    }

    #[test]
    fn the_deploy_directory_is_watched_unless_turned_off() {
        assert!(HostConfig::default().watch);
        assert!(
            HostConfig::parse("listen: 127.0.0.1:1\n")
                .expect("valid")
                .watch
        );
        assert!(!HostConfig::parse("watch: false\n").expect("valid").watch);
    }

    #[test]
    fn store_is_a_sqlite_path_or_a_postgres_url() {
        let config = HostConfig::default();
        assert_eq!(config.store, "sluice.db");
        assert_eq!(config.postgres(), None);
        let config = HostConfig::parse(
            "store: postgres://postgres@127.0.0.1:5432/test
storeSchema: shop
storePoolSize: 4
",
        )
        .expect("valid");
        let pg = config.postgres().expect("postgres");
        assert_eq!(pg.url, "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!((pg.schema.as_str(), pg.pool_size), ("shop", 4));
        assert_eq!(pg.connect_timeout, Duration::from_secs(5));
        let config = HostConfig::parse(
            "store: postgresql://db/x
storePoolSize: 0
",
        )
        .expect("valid");
        assert_eq!(config.postgres().expect("postgres").pool_size, 1);
        let config = HostConfig::parse(
            "store: data/postgres.db
",
        )
        .expect("valid");
        assert_eq!(config.postgres(), None);
    }

    #[test]
    fn tls_names_both_files_and_nothing_else() {
        assert_eq!(HostConfig::default().tls, None);
        let config =
            HostConfig::parse("tls: { certFile: c.pem, keyFile: k.pem }\n").expect("valid");
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                cert_file: "c.pem".into(),
                key_file: "k.pem".into()
            })
        );
        for bad in [
            "tls: { certFile: c.pem }\n",
            "tls: { certFile: c.pem, keyFile: k.pem, caFile: a.pem }\n",
        ] {
            assert!(HostConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = HostConfig::parse("listne: 1.2.3.4:5\n").expect_err("typo");
        assert!(err.to_string().contains("unknown field `listne`"), "{err}");
    }

    #[test]
    fn a_file_of_comments_means_defaults() {
        let config =
            HostConfig::parse("# listen: 0.0.0.0:80\n\n# maxInstances: 5\n").expect("valid");
        assert_eq!(config.max_instances, HostConfig::default().max_instances);
    }

    #[test]
    fn max_instances_is_sized_from_the_machine_unless_set() {
        assert_eq!(
            HostConfig::parse("")
                .expect("valid")
                .runtime()
                .max_instances,
            None
        );
        let set = HostConfig::parse("maxInstances: 20000\n").expect("valid");
        assert_eq!(set.runtime().max_instances, Some(20_000));
    }

    #[test]
    fn values_of_the_wrong_type_or_range_are_rejected_naming_the_key() {
        for (yaml, expected) in [
            ("listen: 8080", "listen: invalid socket address syntax"),
            (
                "listen: localhost:8080",
                "listen: invalid socket address syntax",
            ),
            (
                "listen: 256.0.0.1:80",
                "listen: invalid socket address syntax",
            ),
            (
                "listen: 127.0.0.1:65536",
                "listen: invalid socket address syntax",
            ),
            (
                "keepaliveSeconds: -1",
                "keepaliveSeconds: invalid type: integer `-1`",
            ),
            (
                "keepaliveSeconds: 1.5",
                "keepaliveSeconds: invalid type: floating point",
            ),
            (
                "keepaliveSeconds: '30'",
                "keepaliveSeconds: invalid type: string",
            ),
            (
                "maxInstances: 4294967296",
                "maxInstances: invalid value: integer `4294967296`",
            ),
            (
                "maxBodyBytes: 18446744073709551616",
                "maxBodyBytes: invalid type: integer",
            ),
            ("compileCache: 'yes'", "compileCache: invalid type: string"),
            ("compileCache: 1", "compileCache: invalid type: integer"),
            ("watch: 'no'", "watch: invalid type: string"),
            ("store: [a.db]", "store: invalid type: sequence"),
            (
                "maxInstances: 10\nmaxInstances: 20",
                "duplicate field `maxInstances`",
            ),
            ("[]", "invalid type: sequence"),
            ("~", "invalid type: unit"),
            ("maxInstances: *a", "unknown anchor"),
            (
                "maxInstances: 1\n---\nmaxInstances: 2",
                "more than one document",
            ),
            (
                "maxInstances:\t1\n\tlisten: x",
                "tab character that violates indentation",
            ),
        ] {
            let err = HostConfig::parse(yaml).expect_err(yaml).to_string();
            assert!(err.contains(expected), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn extreme_values_give_usable_settings() {
        let yaml = "keepaliveSeconds: 18446744073709551615\nmaxInstances: 0\nmemoryPerInstanceMiB: 4294967295\n\
                    cpuPerCallMs: 18446744073709551615\ndispatchTimeoutSeconds: 0\nmaxStreamLifetimeSeconds: 0\n";
        let config = HostConfig::parse(yaml).expect("valid");
        assert_eq!(config.keepalive(), Duration::from_secs(u64::MAX));
        assert_eq!(config.dispatch_timeout(), Duration::from_secs(1));
        assert_eq!(config.max_stream_lifetime(), None);
        let huge = "jsonTimeoutSeconds: 18446744073709551615\nheaderReadTimeoutSeconds: 18446744073709551615\n\
                    http2KeepAliveSeconds: 18446744073709551615\nhttp2KeepAliveTimeoutSeconds: 0\n";
        let timeouts = HostConfig::parse(huge).expect("valid");
        assert_eq!(timeouts.json_timeout(), None);
        assert_eq!(timeouts.header_read_timeout(), None);
        assert_eq!(timeouts.http2_keep_alive(), None);
        assert_eq!(timeouts.http2_keep_alive_timeout(), Duration::from_secs(1));
        let runtime = config.runtime();
        assert_eq!(runtime.max_instances, Some(1));
        assert_eq!(runtime.max_memory, 4_294_967_295 << 20);
    }
}
