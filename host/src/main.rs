//! The `sluice` command line.

mod author_commands;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "WebAssembly components as HTTP and Server-Sent-Events endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written (to stdout): `pretty` for people, `json` (one object a line,
    /// with the request's span and its `request_id`) for log collectors. `RUST_LOG` filters
    /// them, e.g. `RUST_LOG=info,sluice::server=debug`.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a deploy directory; with none, the bundled demo.
    Serve {
        /// Deploy directory: ingresses/*.yaml, components/*.wasm, seed/*.json, sluice.yaml.
        dir: Option<PathBuf>,
        /// Address to listen on (overrides `listen` in sluice.yaml; default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Address of the admin endpoints (overrides `adminListen` in sluice.yaml; default
        /// 127.0.0.1:9090). Port 0 picks a free port; the log says which.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
    /// Publish an event on a running server's bus (through its admin endpoint).
    Publish {
        #[arg(long)]
        topic: String,
        /// The event type, e.g. `checkpoint`.
        #[arg(long)]
        event: String,
        /// The event data as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        #[command(flatten)]
        admin: AdminServer,
    },
    /// Ask a running server to reload its deploy directory now (hot deploy), print the
    /// report, and fail when some file could not be deployed.
    Deploy {
        /// The deploy directory the server must be serving; a server that serves another
        /// one is refused (a server never switches directories).
        dir: Option<PathBuf>,
        #[command(flatten)]
        admin: AdminServer,
    },
    /// Make a fresh static caller token. Prints its entry for the tokens file
    /// (`auth.tokensFile` in sluice.yaml), which holds only the token's SHA-256, on stdout,
    /// and the token itself, shown only this once, on stderr:
    /// `sluice token --subject ci --scope 'ingresses/api/*:http' >> deploy/tokens.yaml`.
    Token {
        /// Who holds the token: the caller's subject.
        #[arg(long)]
        subject: String,
        /// Space-separated permissions, e.g. `ingresses/api/*:http`.
        #[arg(long, default_value = "")]
        scope: String,
    },
    /// Talk to actors on a running server (through its admin endpoint).
    Actor {
        #[command(subcommand)]
        command: ActorCommand,
    },
    /// Create a component crate DIR/NAME from a template, with its ingress (or actor) file.
    New {
        /// The component's name: its crate name, componentId and route segment.
        name: String,
        /// sse: follows a bus topic; json: answers one value; actor: an actor type.
        #[arg(long, default_value = "sse")]
        kind: sluice::author::template::Kind,
        /// Where to create the crate's directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The guest SDK to depend on by path (default: this checkout's guest-sdk/, else the
        /// registry's sluice-sdk of this version).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Build component crates for wasm32-wasip2 (release, cargo's own target directory), or
    /// Python (`app.py`, with componentize-py) and JavaScript (`app.js`, with
    /// componentize-js) component directories, and copy each .wasm into DIR/components/
    /// and its new ingress or actor files into DIR.
    Build {
        /// Component crates, Python or JavaScript directories (default: the current directory).
        crates: Vec<PathBuf>,
        /// The deploy directory to copy into.
        #[arg(long)]
        deploy: Option<PathBuf>,
    },
    /// Check a deploy directory without serving it: one line per problem, exit 1 on any.
    Check {
        /// The deploy directory.
        dir: PathBuf,
    },
}

/// Where a running server's admin endpoints are, and how to get in.
#[derive(clap::Args)]
struct AdminServer {
    /// The server's admin base URL (its `adminListen`).
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    server: String,
    /// A file holding the admin token (the server's `adminTokenFile`); without it, the
    /// `SLUICE_ADMIN_TOKEN` environment variable, if set.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
}

impl AdminServer {
    fn token(&self) -> anyhow::Result<Option<String>> {
        let token = match &self.admin_token_file {
            Some(file) => std::fs::read_to_string(file)
                .with_context(|| format!("reading the admin token {}", file.display()))?,
            None => match std::env::var("SLUICE_ADMIN_TOKEN") {
                Ok(token) => token,
                Err(_) => return Ok(None),
            },
        };
        Ok(Some(token.trim().to_owned()).filter(|token| !token.is_empty()))
    }
}

#[derive(Subcommand)]
enum ActorCommand {
    /// Send messages to actor TYPE/ID and print the response.
    Send {
        /// The actor type, e.g. `sku`.
        actor_type: String,
        /// The actor id, or `new` to create one.
        actor_id: String,
        /// A message `{"type", "alias"?, "body"?}` or a JSON list of them.
        messages: String,
        /// Run without storing or publishing anything.
        #[arg(long)]
        preview: bool,
        #[command(flatten)]
        admin: AdminServer,
    },
}

fn token(subject: &str, scope: &str) -> anyhow::Result<()> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let token = format!("sluice_{}", sluice::auth::hex(&secret));
    let hash = sluice::auth::hex(&sluice::auth::sha256(&token));
    eprintln!("token for {subject} (shown only now): {token}");
    // JSON strings are YAML double-quoted scalars, so any subject or scope stays one value.
    println!("- sha256: {hash}");
    println!("  subject: {}", serde_json::Value::from(subject));
    println!("  scope: {}", serde_json::Value::from(scope));
    Ok(())
}

/// The log filter without `RUST_LOG`: the authoring tools print their own report, so their
/// log shows only warnings.
fn default_log_filter(command: &Command) -> &'static str {
    match command {
        Command::New { .. } | Command::Build { .. } | Command::Check { .. } => "warn",
        _ => "info",
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(default_log_filter(&cli.command))
        }),
    );
    match cli.log_format {
        // Colours only for a person at a terminal, never into a log file.
        LogFormat::Pretty => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    match cli.command {
        Command::Serve {
            dir,
            listen,
            admin_listen,
        } => {
            let listen = sluice::Listen {
                public: listen,
                admin: admin_listen,
            };
            serve(dir, listen).await
        }
        Command::Publish {
            topic,
            event,
            data,
            admin,
        } => publish(&topic, &event, &data, &admin).await,
        Command::Deploy { dir, admin } => deploy(dir, &admin).await,
        Command::Token { subject, scope } => token(&subject, &scope),
        Command::New {
            name,
            kind,
            dir,
            sdk_path,
        } => author_commands::new(&name, kind, &dir, sdk_path.as_deref()),
        Command::Build { crates, deploy } => author_commands::build(&crates, deploy.as_deref()),
        Command::Check { dir } => author_commands::check(&dir).await,
        Command::Actor {
            command:
                ActorCommand::Send {
                    actor_type,
                    actor_id,
                    messages,
                    preview,
                    admin,
                },
        } => {
            let messages: serde_json::Value =
                serde_json::from_str(&messages).context("MESSAGES is not valid JSON")?;
            let query = if preview { "?preview=true" } else { "" };
            post(
                &admin,
                &format!("/_sluice/actors/{actor_type}/{actor_id}{query}"),
                messages,
            )
            .await
        }
    }
}

async fn serve(dir: Option<PathBuf>, listen: sluice::Listen) -> anyhow::Result<()> {
    // Every SSE connection holds a socket; lift the soft limit to the hard one.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit raised"),
        Err(err) => tracing::warn!(%err, "cannot raise the open-file limit"),
    }
    let dir = match dir {
        Some(dir) => dir,
        None => {
            let dir = std::env::temp_dir().join("sluice-demo");
            sluice::deploy::demo::write_to(&dir)
                .with_context(|| format!("writing the bundled demo to {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "serving the bundled demo");
            dir
        }
    };
    let booted = sluice::boot(&dir, listen).await?;
    for problem in &booted.problems {
        tracing::error!("not deployed: {problem}");
    }
    let addr = booted.server.local_addr()?;
    let admin = booted.server.admin_addr()?;
    let app = booted.server.app().clone();
    tracing::info!(%addr, ingresses = ?app.deployer.current().ingress_ids(), "sluice is serving");
    tracing::info!(addr = %admin, "admin endpoints listening");
    booted.server.run(shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

async fn publish(topic: &str, event: &str, data: &str, server: &AdminServer) -> anyhow::Result<()> {
    let data: serde_json::Value = serde_json::from_str(data).context("--data is not valid JSON")?;
    let body = serde_json::json!({ "topic": topic, "event": event, "data": data });
    post(server, "/_sluice/publish", body).await
}

async fn deploy(dir: Option<PathBuf>, admin: &AdminServer) -> anyhow::Result<()> {
    let body = match dir {
        Some(dir) => {
            let dir = dir
                .canonicalize()
                .with_context(|| format!("cannot find the deploy directory {}", dir.display()))?;
            let dir = dir
                .to_str()
                .with_context(|| format!("{} is not valid UTF-8", dir.display()))?;
            serde_json::json!({ "dir": dir })
        }
        None => serde_json::json!({}),
    };
    let (status, body) = send(admin, "/_sluice/deploy", body).await?;
    if status == http::StatusCode::UNPROCESSABLE_ENTITY {
        println!("{}", String::from_utf8_lossy(&body));
        bail!("some files were not deployed: see `problems` above");
    }
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}

/// POST `body` to the server's admin `path`, print the answer, fail on an error status.
async fn post(admin: &AdminServer, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let (status, body) = send(admin, path, body).await?;
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}

/// POST `body` as JSON to the server's admin `path`: the answer's status and body.
async fn send(
    admin: &AdminServer,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<(http::StatusCode, bytes::Bytes)> {
    let server = &admin.server;
    let body = body.to_string();
    let mut request = http::Request::post(format!("{}{path}", server.trim_end_matches('/')))
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = admin.token()? {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Full::new(bytes::Bytes::from(body)))?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request)
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
