//! Accept: the listeners (public and admin), one hyper connection (HTTP/1.1 or HTTP/2) per
//! client, and the request dispatch to ingresses and the admin endpoints.

pub mod admin;
mod connection;
mod deploy;
pub mod health;
mod ingress;
mod request_id;
pub mod respond;
mod stall;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::capabilities::Backends;
use crate::config::HostConfig;
use crate::deploy::Deployer;
use crate::runtime::Runtime;
use respond::Body;

/// Everything requests need, shared by all connections.
pub struct App {
    pub runtime: Arc<Runtime>,
    /// The served ingresses; a request takes the current deployment once (hot deploy).
    pub deployer: Arc<Deployer>,
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
    /// Prometheus metrics, scraped at `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What every admin request must present (`adminTokenFile`); `None`: nothing.
    pub admin_token: Option<admin::AdminToken>,
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `listen`: ingresses, the index page, and health when `publicHealth` is set.
    Public,
    /// `adminListen`: the admin endpoints ([`admin::handle`]) and nothing else.
    Admin,
}

impl App {
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        surface: Surface,
        stall: Arc<stall::Stall>,
    ) -> Response<Body> {
        let id = request_id::request_id(request.headers());
        // At ERROR level: a span is recorded only where its level passes the filter, and the
        // id must be on every line about the request that any filter lets through.
        let span = tracing::error_span!("request", request_id = id.to_str().unwrap_or_default());
        let mut response = self.route(request, surface, stall).instrument(span).await;
        response.headers_mut().insert(request_id::X_REQUEST_ID, id);
        response
    }

    async fn route(
        self: Arc<Self>,
        request: Request<Incoming>,
        surface: Surface,
        stall: Arc<stall::Stall>,
    ) -> Response<Body> {
        // HTTP/1.1 heads are cut by hyper (`max_headers`); HTTP/2 has only a size limit.
        if request.headers().len() > self.config.max_headers {
            return respond::headers_too_large();
        }
        if surface == Surface::Admin {
            return admin::handle(&self, request).await;
        }
        let path = request.uri().path();
        if let Some(route) = path.strip_prefix("/ingress/") {
            let route = route.to_owned();
            ingress::handle(&self, request, &route, stall).await
        } else if let Some(response) = health::public(&self, &request).await {
            response
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
    admin: TcpListener,
    app: Arc<App>,
    tls: Option<tls::Tls>,
}

impl Server {
    /// Bind the public address `addr` and the admin address `admin_addr`; an error names
    /// the listener that could not be bound.
    pub async fn bind(
        addr: SocketAddr,
        admin_addr: SocketAddr,
        app: App,
    ) -> Result<Self, (Surface, SocketAddr, std::io::Error)> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| (Surface::Public, addr, err))?;
        let admin = TcpListener::bind(admin_addr)
            .await
            .map_err(|err| (Surface::Admin, admin_addr, err))?;
        Ok(Self {
            listener,
            admin,
            app: Arc::new(app),
            tls: None,
        })
    }

    /// Serve TLS (HTTP/2 offered by ALPN) instead of plain TCP.
    pub fn with_tls(mut self, tls: Option<tls::Tls>) -> Self {
        self.tls = tls;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the admin endpoints answer (`adminListen`; with port 0, the port picked).
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin.local_addr()
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serve until `shutdown` resolves; then drain: stop accepting, end SSE streams (with a
    /// final comment, so clients reconnect elsewhere), let other requests finish, and return
    /// once every connection is done or the drain timeout passed. The admin listener keeps
    /// answering until the public connections are done, so probes see `/readyz` say 503.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            admin,
            app,
            tls,
        } = self;
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_task = tokio::spawn({
            let app = app.clone();
            async move {
                let graceful = GracefulShutdown::new();
                let stopped = async {
                    let _ = admin_stopped.await;
                };
                accept_until(&admin, &app, Surface::Admin, None, stopped, &graceful).await;
                graceful
            }
        });
        let graceful = GracefulShutdown::new();
        accept_until(
            &listener,
            &app,
            Surface::Public,
            tls.as_ref(),
            shutdown,
            &graceful,
        )
        .await;
        drop(listener);
        tracing::info!("draining");
        app.draining.send_replace(true);
        let timeout = app.config.drain_timeout();
        let deadline = tokio::time::Instant::now() + timeout;
        if tokio::time::timeout_at(deadline, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?timeout,
                "drain timed out; closing the remaining connections"
            );
        }
        let _ = stop_admin.send(());
        if let Ok(admin_graceful) = admin_task.await {
            // Admin requests are short; whatever is left of the drain time is theirs.
            let _ = tokio::time::timeout_at(deadline, admin_graceful.shutdown()).await;
        }
    }
}

async fn accept_until(
    listener: &TcpListener,
    app: &Arc<App>,
    surface: Surface,
    tls: Option<&tls::Tls>,
    shutdown: impl Future<Output = ()>,
    graceful: &GracefulShutdown,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
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
        serve(app, stream, peer, surface, tls, graceful);
    }
}

/// Serve one connection in its own task.
fn serve(
    app: &Arc<App>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    surface: Surface,
    tls: Option<&tls::Tls>,
    graceful: &GracefulShutdown,
) {
    // Each event must leave as soon as it is written.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
    let config = &app.config;
    let app = app.clone();
    // A slow consumer is cut (`stall`): on HTTP/1.1 that closes its connection, on HTTP/2
    // it resets its stream alone (the executor's watch over that stream).
    let dispatch_timeout = config.dispatch_timeout();
    let stall = stall::Stall::new(dispatch_timeout);
    let executor = connection::StreamExecutor::new(dispatch_timeout);
    let service = service_fn({
        let (stall, executor) = (stall.clone(), executor.clone());
        move |request: Request<Incoming>| {
            let stall = if request.version() == http::Version::HTTP_2 {
                executor.watch_next_stream()
            } else {
                stall.clone()
            };
            let app = app.clone();
            // Boxed, and freed when the response head is out: hyper keeps a request's
            // future in a box sized for it for the connection's whole life, and this one
            // is over 9 KiB, most of them for an SSE stream's idle connection to hold.
            Box::pin(async move { Ok::<_, Infallible>(app.handle(request, surface, stall).await) })
        }
    });
    let builder = connection::builder(config, executor);
    let read = Arc::new(AtomicUsize::new(0));
    let header_read_timeout = config.header_read_timeout();
    // Taken now, so a drain that starts during the TLS handshake still reaches it.
    let watcher = graceful.watcher();
    let tls = tls.map(tls::Tls::acceptor);
    // Polled in the connection's task below, never in the accept loop: a slow TLS
    // handshake holds up nobody else, and it runs under the first-bytes deadline.
    let connection = async move {
        let first_bytes = connection::first_bytes_deadline(read.clone(), header_read_timeout);
        let served = async {
            let stream = tls::accept(tls, stream).await?;
            let stream = connection::CountingStream::new(stream, read);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            watcher.watch(connection).await
        };
        tokio::select! {
            biased;
            result = served => {
                if let Err(err) = result {
                    tracing::debug!(%peer, %err, "connection ended with an error");
                }
            }
            () = first_bytes => tracing::debug!(%peer, "no request within the header read timeout"),
        }
    };
    tokio::spawn(stall.guard(
        connection,
        "connection of a slow consumer closed by the host",
    ));
}
