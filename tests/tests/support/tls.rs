//! The demo served over TLS, with certificates made at test time by `rcgen`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Host;

/// Where the deploy directory keeps the pair `sluice.yaml` names.
const CERT_FILE: &str = "tls/cert.pem";
const KEY_FILE: &str = "tls/key.pem";

/// A self-signed certificate for 127.0.0.1 and its key.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCert {
    pub fn generate() -> Self {
        let generated = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("rcgen makes a certificate");
        Self {
            cert_pem: generated.cert.pem(),
            key_pem: generated.signing_key.serialize_pem(),
            der: generated.cert.der().to_vec(),
        }
    }

    fn reqwest(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).expect("a PEM certificate")
    }
}

/// A demo host whose public listener speaks TLS.
pub struct TlsHost {
    pub host: Host,
}

impl TlsHost {
    /// Serve the demo over TLS with `cert`; `config` is added to `sluice.yaml`, and `extra`
    /// files to the deploy directory.
    pub async fn start(cert: &TestCert, config: &str, extra: &[(&str, &str)]) -> Self {
        let yaml = format!(
            "store: sluice.db\ntls: {{ certFile: {CERT_FILE}, keyFile: {KEY_FILE} }}\n{config}"
        );
        let mut files = vec![
            ("sluice.yaml", yaml.as_str()),
            (CERT_FILE, cert.cert_pem.as_str()),
            (KEY_FILE, cert.key_pem.as_str()),
        ];
        files.extend_from_slice(extra);
        Self {
            host: Host::demo_with(&files).await,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.host.addr.port())
    }

    /// The admin endpoints' URL: their own listener, plain HTTP (TLS is the public one's).
    pub fn admin_url(&self, path: &str) -> String {
        self.host.admin_url(path)
    }

    /// Replace the pair on disk, as a certificate renewal does.
    pub fn replace_cert(&self, cert: &TestCert) {
        let dir = self.host.dir();
        std::fs::write(dir.join(KEY_FILE), &cert.key_pem).expect("key written");
        std::fs::write(dir.join(CERT_FILE), &cert.cert_pem).expect("certificate written");
    }

    /// A client with its own connection pool that trusts `certs` only (no other roots), and
    /// reports the certificate each response came with.
    pub fn client(certs: &[&TestCert], protocol: Protocol) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .tls_info(true);
        for cert in certs {
            builder = builder.add_root_certificate(cert.reqwest());
        }
        if protocol == Protocol::Http1 {
            builder = builder.http1_only();
        }
        builder.build().expect("a TLS client")
    }

    pub async fn publish(&self, client: &reqwest::Client, topic: &str, data: Value) -> u64 {
        let response = client
            .post(self.admin_url("/_sluice/publish"))
            .json(&json!({ "topic": topic, "event": "checkpoint", "data": data }))
            .send()
            .await
            .expect("publish");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("json");
        body["id"].as_u64().expect("bus id")
    }

    /// Poll until the bus has `count` subscribers, so a publish cannot race a subscribe.
    pub async fn wait_for_subscribers(&self, client: &reqwest::Client, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let metrics: Value = client
                .get(self.admin_url("/_sluice/metrics"))
                .send()
                .await
                .expect("metrics")
                .json()
                .await
                .expect("json");
            if metrics["busSubscribers"].as_u64() == Some(count) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never reached {count} subscribers: {metrics}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What the client offers by ALPN.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `h2` and `http/1.1`: the server picks.
    Any,
    /// `http/1.1` only.
    Http1,
}

/// The DER of the certificate the server presented for `response`.
pub fn peer_cert(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
        .expect("a TLS response carries the server's certificate")
        .to_vec()
}
