//! The `bus:` section of `sluice.yaml`: where the JetStream bus is and how its stream is set up.
//!
//! ```yaml
//! bus:
//!   url: nats://127.0.0.1:4222     # required; several servers: "nats://a:4222,nats://b:4222"
//!   stream: SLUICE                  # the JetStream stream holding every topic
//!   subjectPrefix: sluice           # topic a/b is subject sluice.a.b (see `subject`)
//!   historyPerTopic: 1000           # events kept per topic (max messages per subject)
//!   maxAgeSeconds: 86400            # events older than this are dropped (0 = kept until evicted)
//!   maxBytes: 1073741824            # the stream's size limit; the oldest events go first (-1 = none)
//!   duplicateWindowSeconds: 120     # how long a dedup id (actor checkpoint id) is remembered
//!   replicas: 1                     # stream replicas (a NATS cluster may want 3)
//!   storage: file                   # file or memory
//!   connectTimeoutSeconds: 5        # a node that cannot reach NATS in this time exits
//!   requestTimeoutSeconds: 5        # publish acks and history reads; past it: `unavailable`
//!   subscriberBuffer: 1024          # live events queued per subscriber before it is a slow consumer
//! ```
//!
//! A stream that already exists is updated to these limits at start.

use std::time::Duration;

use serde::Deserialize;

use super::subject::validate_prefix;

/// Where the stream's messages are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    File,
    Memory,
}

/// The parsed `bus:` section, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JetStreamConfig {
    pub url: String,
    #[serde(default = "default_stream")]
    pub stream: String,
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    #[serde(default = "default_history")]
    pub history_per_topic: u32,
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u64,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: i64,
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_seconds: u64,
    #[serde(default = "default_replicas")]
    pub replicas: u8,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default = "default_timeout")]
    pub connect_timeout_seconds: u64,
    #[serde(default = "default_timeout")]
    pub request_timeout_seconds: u64,
    #[serde(default = "default_buffer")]
    pub subscriber_buffer: usize,
}

fn default_stream() -> String {
    "SLUICE".into()
}
fn default_prefix() -> String {
    "sluice".into()
}
fn default_history() -> u32 {
    1000
}
fn default_max_age() -> u64 {
    86_400
}
fn default_max_bytes() -> i64 {
    1 << 30
}
fn default_duplicate_window() -> u64 {
    120
}
fn default_replicas() -> u8 {
    1
}
fn default_timeout() -> u64 {
    5
}
fn default_buffer() -> usize {
    1024
}

impl JetStreamConfig {
    /// A config with every default, for `url` and `stream`.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        JetStreamConfig {
            url: url.into(),
            stream: stream.into(),
            subject_prefix: default_prefix(),
            history_per_topic: default_history(),
            max_age_seconds: default_max_age(),
            max_bytes: default_max_bytes(),
            duplicate_window_seconds: default_duplicate_window(),
            replicas: default_replicas(),
            storage: Storage::File,
            connect_timeout_seconds: default_timeout(),
            request_timeout_seconds: default_timeout(),
            subscriber_buffer: default_buffer(),
        }
    }

    /// Check what serde cannot: names, prefix and ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.url.trim().is_empty() {
            return Err("bus.url is empty".into());
        }
        // JetStream stream names may not hold these (they become subject tokens).
        if self.stream.is_empty()
            || self.stream.len() > 200
            || self
                .stream
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
        {
            return Err(format!(
                "bus.stream {:?} must be 1 to 200 characters without whitespace, '.', '*', '>', '/' or '\\'",
                self.stream
            ));
        }
        validate_prefix(&self.subject_prefix)
            .map_err(|reason| format!("bus.subjectPrefix: {reason}"))?;
        if self.history_per_topic == 0 {
            return Err("bus.historyPerTopic must be at least 1".into());
        }
        if self.max_bytes == 0 || self.max_bytes < -1 {
            return Err("bus.maxBytes must be positive, or -1 for no limit".into());
        }
        if !(1..=5).contains(&self.replicas) {
            return Err("bus.replicas must be 1 to 5".into());
        }
        for (key, value) in [
            ("connectTimeoutSeconds", self.connect_timeout_seconds),
            ("requestTimeoutSeconds", self.request_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(format!("bus.{key} must be 1 to 3600"));
            }
        }
        if self.duplicate_window_seconds > 86_400 * 7 {
            return Err("bus.duplicateWindowSeconds must be at most 604800".into());
        }
        if self.max_age_seconds > 0 && self.duplicate_window_seconds > self.max_age_seconds {
            return Err("bus.duplicateWindowSeconds may not exceed bus.maxAgeSeconds".into());
        }
        if self.subscriber_buffer == 0 || self.subscriber_buffer > 1 << 20 {
            return Err("bus.subscriberBuffer must be 1 to 1048576".into());
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<JetStreamConfig, String> {
        let config = crate::config::HostConfig::parse(&format!("bus: {yaml}"))
            .map_err(|e| e.to_string())?
            .bus
            .ok_or("no bus section")?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn only_the_url_is_required() {
        let config = parse("{url: 'nats://127.0.0.1:4222'}").expect("valid");
        assert_eq!(
            config,
            JetStreamConfig::new("nats://127.0.0.1:4222", "SLUICE")
        );
        assert!(parse("{stream: X}").is_err());
    }

    #[test]
    fn reads_every_key() {
        let config = parse(
            "{url: 'nats://a:1', stream: S1, subjectPrefix: app.ev, historyPerTopic: 5, \
             maxAgeSeconds: 0, maxBytes: -1, duplicateWindowSeconds: 0, replicas: 3, \
             storage: memory, connectTimeoutSeconds: 2, requestTimeoutSeconds: 3, subscriberBuffer: 8}",
        )
        .expect("valid");
        assert_eq!(config.subject_prefix, "app.ev");
        assert_eq!(config.storage, Storage::Memory);
        assert_eq!((config.replicas, config.max_bytes), (3, -1));
    }

    #[test]
    fn refuses_bad_values_saying_which_key() {
        for (yaml, key) in [
            ("{url: ''}", "bus.url"),
            ("{url: x, stream: 'a.b'}", "bus.stream"),
            ("{url: x, subjectPrefix: 'a.*'}", "bus.subjectPrefix"),
            ("{url: x, historyPerTopic: 0}", "bus.historyPerTopic"),
            ("{url: x, maxBytes: 0}", "bus.maxBytes"),
            ("{url: x, replicas: 0}", "bus.replicas"),
            (
                "{url: x, requestTimeoutSeconds: 0}",
                "bus.requestTimeoutSeconds",
            ),
            (
                "{url: x, maxAgeSeconds: 10, duplicateWindowSeconds: 60}",
                "bus.duplicateWindowSeconds",
            ),
            ("{url: x, subscriberBuffer: 0}", "bus.subscriberBuffer"),
        ] {
            let err = parse(yaml).expect_err(yaml);
            assert!(err.contains(key), "{yaml}: {err}");
        }
        assert!(parse("{url: x, storage: disk}").is_err());
        assert!(
            parse("{url: x, history: 1}").is_err(),
            "unknown keys are refused"
        );
    }
}
