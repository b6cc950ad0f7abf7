//! Accept: the listener, one hyper connection (HTTP/1.1 or HTTP/2) per client, and the
//! request dispatch to ingresses and the admin endpoints.

mod admin;
mod ingress;
pub mod respond;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::capabilities::Backends;
use crate::config::HostConfig;
use crate::deploy::Deployment;
use crate::runtime::Runtime;
use respond::Body;

/// Everything requests need, shared by all connections.
pub struct App {
    pub runtime: Arc<Runtime>,
    pub deployment: Deployment,
    pub backends: Backends,
    pub config: HostConfig,
    /// Which web origins may call from a browser.
    pub cors: crate::cors::CorsPolicy,
    /// Checks callers' bearer tokens.
    pub auth: crate::auth::Authenticator,
    /// Set to `true` once the host drains: open streams end so clients reconnect elsewhere.
    pub draining: tokio::sync::watch::Sender<bool>,
    /// The deploy directory's `public/index.html`, served at `/`.
    pub index_page: Option<bytes::Bytes>,
}

impl App {
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
        hang_up: Arc<Notify>,
    ) -> Response<Body> {
        // HTTP/1.1 heads are cut by hyper (`max_headers`); HTTP/2 has only a size limit.
        if request.headers().len() > self.config.max_headers {
            return respond::headers_too_large();
        }
        let path = request.uri().path();
        if let Some(route) = path.strip_prefix("/ingress/") {
            let route = route.to_owned();
            ingress::handle(&self, request, &route, hang_up).await
        } else if path.starts_with("/_sluice/") {
            admin::handle(&self, request, peer).await
        } else if let ("/", Some(page)) = (path, &self.index_page) {
            Response::builder()
                .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
                .body(respond::full(page.clone()))
                .unwrap_or_default()
        } else {
            respond::error_response("NOT_FOUND", "no such route")
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

impl Server {
    pub async fn bind(addr: SocketAddr, app: App) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            app: Arc::new(app),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serve until `shutdown` resolves; then drain: stop accepting, end SSE streams (with a
    /// final comment, so clients reconnect elsewhere), let other requests finish, and return
    /// once every connection is done or the drain timeout passed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        self.accept_until(shutdown, &graceful).await;
        drop(self.listener);
        tracing::info!("draining");
        self.app.draining.send_replace(true);
        let timeout = self.app.config.drain_timeout();
        if tokio::time::timeout(timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?timeout,
                "drain timed out; closing the remaining connections"
            );
        }
    }

    async fn accept_until(&self, shutdown: impl Future<Output = ()>, graceful: &GracefulShutdown) {
        tokio::pin!(shutdown);
        let builder = connection_builder(&self.app.config);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => return,
            };
            // Each event must leave as soon as it is written.
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%err, "cannot set TCP_NODELAY");
            }
            let app = self.app.clone();
            // A stream whose client stopped reading hangs up its whole connection.
            let hang_up = Arc::new(Notify::new());
            let hang_up_for_requests = hang_up.clone();
            let service = service_fn(move |request| {
                let (app, hang_up) = (app.clone(), hang_up_for_requests.clone());
                async move { Ok::<_, Infallible>(app.handle(request, peer, hang_up).await) }
            });
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                tokio::select! {
                    result = connection => {
                        if let Err(err) = result {
                            tracing::debug!(%peer, %err, "connection ended with an error");
                        }
                    }
                    () = hang_up.notified() => tracing::debug!(%peer, "connection closed by the host"),
                }
            });
        }
    }
}

/// HTTP/1.1 and HTTP/2 with the configured header limits: an HTTP/1.1 head over
/// `maxHeaderBytes` or with more than `maxHeaders` fields, or an HTTP/2 header list over
/// `maxHeaderBytes`, is answered 431 by hyper (HTTP/1.1 then closes the connection).
fn connection_builder(config: &HostConfig) -> auto::Builder<TokioExecutor> {
    let max_bytes = config.header_bytes_limit();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(max_bytes)
        .max_headers(config.max_headers);
    builder
        .http2()
        .max_header_list_size(u32::try_from(max_bytes).unwrap_or(u32::MAX));
    builder
}
