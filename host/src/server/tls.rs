//! TLS on the public listener: `tls: { certFile, keyFile }` in `sluice.yaml`.
//!
//! rustls with the `ring` provider. ALPN offers `h2` and `http/1.1`; hyper's auto builder then
//! serves whichever the client speaks. The handshake runs in the connection's own task (see
//! `Server::serve`), under the same first-bytes deadline as a plain request head: the
//! deadline counts the bytes read *after* decryption, so a client that never sends a
//! ClientHello, stalls half way through the handshake, or finishes it and then goes silent is
//! cut like a slowloris.
//!
//! Certificates are reloaded when their files change: new handshakes get the new pair, open
//! connections keep the one they started with. A pair that does not load (unreadable, not
//! PEM, key not matching the certificate) keeps the old pair and is logged with file and
//! reason. At start the same problems stop the host ([`TlsError`]).
//!
//! Why a file watch and not an mtime check on handshake: rustls asks for the certificate
//! synchronously inside the handshake, on a runtime worker, so reading files there would
//! block it; the watch reloads on a blocking thread, and a handshake only loads an `Arc`. The
//! watch is on the files' folders rather than the files, so a pair replaced by rename or by
//! swapping a symlink (certbot's `live/` links, Kubernetes secret volumes) is seen too.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::RecursiveMode;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Changes closer together than this are taken as one: a pair written file by file is
/// then usually loaded once, whole.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(500);

/// The `tls` section of `sluice.yaml`. Paths are relative to the deploy directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// PEM: the server's certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_file: PathBuf,
}

/// A certificate or key that cannot be served, with the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct TlsError {
    pub file: String,
    pub reason: String,
}

impl TlsError {
    fn new(file: &Path, reason: impl fmt::Display) -> Self {
        Self {
            file: file.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The public listener's TLS: what accepts handshakes, and the watch that keeps its
/// certificate current (stopped when this is dropped).
pub struct Tls {
    acceptor: TlsAcceptor,
    _reload: Option<crate::watch::FileWatch>,
}

impl Tls {
    /// Load the pair named in `config` (relative to `dir`) and start watching it.
    pub fn load(config: &TlsConfig, dir: &Path) -> Result<Self, TlsError> {
        let files = PairFiles {
            cert: dir.join(&config.cert_file),
            key: dir.join(&config.key_file),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = files.read()?;
        let key = pair.certified_key(&files, &provider)?;
        let resolver = Arc::new(CurrentCert(ArcSwap::from_pointee(key)));
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|err| TlsError::new(&files.cert, err))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let reloader = Reloader {
            files,
            provider,
            resolver,
            loaded: pair,
        };
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            _reload: reloader.watch(),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// Where the pair lives.
struct PairFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl PairFiles {
    fn read(&self) -> Result<PairBytes, TlsError> {
        let read = |file: &Path| std::fs::read(file).map_err(|err| TlsError::new(file, err));
        Ok(PairBytes {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
        })
    }
}

/// The two files' contents, kept to tell a real change from a touch.
#[derive(PartialEq, Eq)]
struct PairBytes {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl PairBytes {
    /// Parse the chain and key, and check that the key belongs to the first certificate.
    fn certified_key(
        &self,
        files: &PairFiles,
        provider: &CryptoProvider,
    ) -> Result<CertifiedKey, TlsError> {
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| TlsError::new(&files.cert, pem_reason(err, "CERTIFICATE")))?;
        if chain.is_empty() {
            return Err(TlsError::new(
                &files.cert,
                "no PEM CERTIFICATE block in the file",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|err| TlsError::new(&files.key, pem_reason(err, "PRIVATE KEY")))?;
        let key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|err| TlsError::new(&files.key, format!("unusable private key: {err}")))?;
        let certified = CertifiedKey::new(chain, key);
        match certified.keys_match() {
            // `Unknown`: the key type cannot tell its public key; rustls serves it anyway.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                Ok(certified)
            }
            Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::new(
                &files.key,
                format!(
                    "the private key does not match the certificate in {}",
                    files.cert.display()
                ),
            )),
            Err(err) => Err(TlsError::new(
                &files.cert,
                format!("not a usable certificate: {err}"),
            )),
        }
    }
}

fn pem_reason(err: pem::Error, kind: &str) -> String {
    match err {
        pem::Error::NoItemsFound => format!("no PEM {kind} block in the file"),
        err => format!("not valid PEM: {err}"),
    }
}

/// Hands every handshake the pair loaded last.
struct CurrentCert(ArcSwap<CertifiedKey>);

impl fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrentCert")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// Reloads the pair when something changes in its folders.
struct Reloader {
    files: PairFiles,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CurrentCert>,
    loaded: PairBytes,
}

impl Reloader {
    /// Start the watch, or `None` (logged) when the system refuses one: the host then serves
    /// the pair it has until restarted.
    fn watch(mut self) -> Option<crate::watch::FileWatch> {
        let folders = [&self.files.cert, &self.files.key].map(|file| {
            let folder = file
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_owned();
            (folder, RecursiveMode::NonRecursive)
        });
        // Any change in the folders: a secret volume swaps a `..data` link, not the files' names.
        let (watch, mut changes) = match crate::watch::watch(&folders, RELOAD_DEBOUNCE, |_| true) {
            Ok(started) => started,
            Err(err) => {
                tracing::warn!(%err, "cannot watch the TLS certificate; changes need a restart");
                return None;
            }
        };
        tokio::spawn(async move {
            while changes.next().await.is_some() {
                // File reads, off the runtime's workers.
                match tokio::task::spawn_blocking(move || {
                    self.reload();
                    self
                })
                .await
                {
                    Ok(reloader) => self = reloader,
                    Err(err) => {
                        tracing::error!(%err, "TLS certificate reload failed; changes need a restart");
                        break;
                    }
                }
            }
        });
        Some(watch)
    }

    /// Any change in the folders (other files live there too) re-reads the pair; only new
    /// contents that load replace what is served.
    fn reload(&mut self) {
        let pair = match self.files.read() {
            Ok(pair) if pair == self.loaded => return,
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(file = %err.file, reason = %err.reason, "TLS certificate not reloaded; serving the previous one");
                return;
            }
        };
        match pair.certified_key(&self.files, &self.provider) {
            Ok(key) => {
                self.resolver.0.store(Arc::new(key));
                self.loaded = pair;
                tracing::info!(file = %self.files.cert.display(), "TLS certificate reloaded");
            }
            Err(err) => {
                tracing::warn!(file = %err.file, reason = %err.reason, "TLS certificate not reloaded; serving the previous one");
            }
        }
    }
}

/// Complete the TLS handshake when the listener has TLS; a plain connection otherwise.
pub async fn accept(tls: Option<TlsAcceptor>, tcp: TcpStream) -> io::Result<PublicStream> {
    match tls {
        Some(acceptor) => Ok(PublicStream::Tls(Box::new(acceptor.accept(tcp).await?))),
        None => Ok(PublicStream::Plain(tcp)),
    }
}

/// A connection on the public listener.
pub enum PublicStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for PublicStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PublicStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        cert: String,
        key: String,
    }

    fn fresh_pair() -> Pair {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        Pair {
            cert: generated.cert.pem(),
            key: generated.signing_key.serialize_pem(),
        }
    }

    fn write(dir: &Path, cert: &str, key: &str) -> TlsConfig {
        std::fs::write(dir.join("cert.pem"), cert).expect("cert");
        std::fs::write(dir.join("key.pem"), key).expect("key");
        TlsConfig {
            cert_file: "cert.pem".into(),
            key_file: "key.pem".into(),
        }
    }

    fn load_error(cert: &str, key: &str) -> TlsError {
        let dir = tempfile::tempdir().expect("dir");
        let config = write(dir.path(), cert, key);
        match Tls::load(&config, dir.path()) {
            Ok(_) => panic!("loaded a broken pair"),
            Err(err) => err,
        }
    }

    // Loading starts the certificate watch, a task on the runtime, as it does in `boot`.
    #[tokio::test]
    async fn a_matching_pair_loads_and_offers_h2_then_http1() {
        let dir = tempfile::tempdir().expect("dir");
        let pair = fresh_pair();
        let config = write(dir.path(), &pair.cert, &pair.key);
        let tls = Tls::load(&config, dir.path()).expect("loads");
        assert_eq!(
            tls.acceptor.config().alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let config = TlsConfig {
            cert_file: "absent.pem".into(),
            key_file: "key.pem".into(),
        };
        let err = Tls::load(&config, dir.path()).err().expect("fails");
        assert!(err.file.ends_with("absent.pem"), "{err}");
        assert!(err.reason.contains("No such file"), "{err}");
    }

    #[test]
    fn a_certificate_file_without_a_certificate_is_named() {
        let pair = fresh_pair();
        let err = load_error("not pem at all\n", &pair.key);
        assert!(err.file.ends_with("cert.pem"), "{err}");
        assert_eq!(err.reason, "no PEM CERTIFICATE block in the file");
        // A key where the certificate should be: no certificate either.
        let err = load_error(&pair.key, &pair.key);
        assert!(err.file.ends_with("cert.pem"), "{err}");
        assert_eq!(err.reason, "no PEM CERTIFICATE block in the file");
    }

    #[test]
    fn a_key_file_without_a_key_is_named() {
        let pair = fresh_pair();
        let err = load_error(&pair.cert, &pair.cert);
        assert!(err.file.ends_with("key.pem"), "{err}");
        assert_eq!(err.reason, "no PEM PRIVATE KEY block in the file");
    }

    #[test]
    fn broken_pem_is_named() {
        let pair = fresh_pair();
        let truncated = &pair.cert[..pair.cert.len() - 30];
        let err = load_error(truncated, &pair.key);
        assert!(err.file.ends_with("cert.pem"), "{err}");
        assert!(err.reason.starts_with("not valid PEM"), "{err}");
    }

    #[test]
    fn a_certificate_that_is_not_x509_is_named() {
        let pair = fresh_pair();
        let garbage = "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n";
        let err = load_error(garbage, &pair.key);
        assert!(err.file.ends_with("cert.pem"), "{err}");
        assert!(err.reason.starts_with("not a usable certificate"), "{err}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_the_key() {
        let (one, other) = (fresh_pair(), fresh_pair());
        let err = load_error(&one.cert, &other.key);
        assert!(err.file.ends_with("key.pem"), "{err}");
        assert!(
            err.reason
                .starts_with("the private key does not match the certificate in"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_reload_keeps_the_pair_served_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (first, second) = (fresh_pair(), fresh_pair());
        write(dir.path(), &first.cert, &first.key);
        let files = PairFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = files.read().expect("read");
        let key = pair.certified_key(&files, &provider).expect("loads");
        let served = |resolver: &CurrentCert| resolver.0.load().cert[0].to_vec();
        let resolver = Arc::new(CurrentCert(ArcSwap::from_pointee(key)));
        let first_der = served(&resolver);
        let mut reloader = Reloader {
            files,
            provider,
            resolver: resolver.clone(),
            loaded: pair,
        };

        // The new certificate is written, its key not yet: a mismatch, so nothing changes.
        std::fs::write(dir.path().join("cert.pem"), &second.cert).expect("cert");
        reloader.reload();
        assert_eq!(served(&resolver), first_der);
        // A missing file: nothing changes either.
        std::fs::remove_file(dir.path().join("key.pem")).expect("rm");
        reloader.reload();
        assert_eq!(served(&resolver), first_der);
        // The whole new pair: served from now on.
        std::fs::write(dir.path().join("key.pem"), &second.key).expect("key");
        reloader.reload();
        let second_der = served(&resolver);
        assert_ne!(second_der, first_der);
        let expected = CertificateDer::from_pem_slice(second.cert.as_bytes()).expect("pem");
        assert_eq!(second_der, expected.to_vec());
    }
}
