//! Put a host together from a deploy directory: config, store and seed data, bus,
//! actors, runtime, ingresses, listener.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::auth::{AuthSetupError, Authenticator};
use crate::backends::actors::ActorStateStore;
use crate::backends::bus::memory::{InMemoryBus, InMemoryBusConfig};
use crate::backends::bus::{EventBus, JetStreamBus};
use crate::backends::store::{PostgresStore, SqliteStore, Store};
use crate::capabilities::Backends;
use crate::config::HostConfig;
use crate::cors::CorsPolicy;
use crate::deploy::{self, Problem};
use crate::metrics::Metrics;
use crate::runtime::{Runtime, RuntimeError};
use crate::server::admin::AdminToken;
use crate::server::tls::Tls;
use crate::server::{App, Server, Surface};

/// Why a host could not start at all. Problems with single files are not here: they are
/// reported and skipped (see [`Booted::problems`]).
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{file}: {reason}")]
    Config { file: String, reason: String },
    #[error("cannot open the store {file}: {reason}")]
    Store { file: String, reason: String },
    #[error("cannot use the event bus at {url}: {reason}")]
    Bus { url: String, reason: String },
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot read the deploy directory {dir}: {source}")]
    Deploy { dir: String, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] crate::server::tls::TlsError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
}

/// Addresses that override `listen` and `adminListen` in `sluice.yaml` (the CLI's `--listen`
/// and `--admin-listen`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listen {
    pub public: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

impl Listen {
    /// Both listeners on loopback, each on a port the system picks: for tests, where several
    /// hosts run side by side.
    pub fn ephemeral() -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            public: Some(any_port),
            admin: Some(any_port),
        }
    }
}

/// A host ready to run, and what could not be deployed.
pub struct Booted {
    pub server: Server,
    pub problems: Vec<Problem>,
}

/// Build a host serving `dir`. `listen` overrides the config file's addresses.
pub async fn boot(dir: &Path, listen: Listen) -> Result<Booted, BootError> {
    let config_file = dir.join("sluice.yaml");
    let config = match std::fs::read_to_string(&config_file) {
        Ok(text) => HostConfig::parse(&text).map_err(|err| BootError::Config {
            file: config_file.display().to_string(),
            reason: err.to_string(),
        })?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => HostConfig::default(),
        Err(err) => {
            return Err(BootError::Config {
                file: config_file.display().to_string(),
                reason: err.to_string(),
            });
        }
    };
    // A broken auth setup stops the host: serving on without it would turn every caller away.
    let auth = match &config.auth {
        Some(auth) => Authenticator::load(auth, dir)?,
        None => Authenticator::default(),
    };
    let admin_token = admin_token(&config, dir)?;
    let cors = CorsPolicy::from_config(&config.cors).map_err(|reason| BootError::Config {
        file: config_file.display().to_string(),
        reason,
    })?;
    let (store, actor_state, relayed): (Arc<dyn Store>, Arc<dyn ActorStateStore>, bool) =
        match config.postgres() {
            Some(pg) => {
                let store = PostgresStore::connect(&pg)
                    .await
                    .map_err(|err| BootError::Store {
                        file: redact(&pg.url),
                        reason: err.to_string(),
                    })?;
                let store = Arc::new(store);
                (store.clone(), store, true)
            }
            None => {
                let store_file = dir.join(&config.store);
                let store = SqliteStore::open(&store_file).map_err(|err| BootError::Store {
                    file: store_file.display().to_string(),
                    reason: err.to_string(),
                })?;
                let store = Arc::new(store);
                (store.clone(), store, false)
            }
        };
    let mut problems = deploy::seed_store(dir, store.as_ref())
        .await
        .map_err(|err| BootError::Store {
            file: config
                .postgres()
                .map_or_else(|| config.store.clone(), |pg| redact(&pg.url)),
            reason: err.to_string(),
        })?;
    let metrics = Arc::new(Metrics::new());
    let bus = metrics.instrument_bus(open_bus(&config, &config_file).await?);
    let runtime = Arc::new(Runtime::new(config.runtime())?);
    metrics.watch(runtime.clone(), bus.clone());
    let (mut actors, actor_problems) = deploy::actors::load(
        dir,
        &runtime,
        store.clone(),
        actor_state.clone(),
        bus.clone(),
    )
    .await;
    problems.extend(actor_problems);
    actors.count_queries(metrics.query_counter());
    // The outbox relay: only a shared store outlives a node, so only it has an outbox.
    if relayed {
        crate::actors::relay::spawn(actor_state, bus.clone());
    }
    let backends = Backends {
        actors: metrics.instrument_actors(Arc::new(actors)),
        bus,
        store,
    };
    let (deployer, deploy_problems) =
        deploy::Deployer::load(dir, runtime.clone(), backends.clone(), metrics.clone())
            .await
            .map_err(|source| BootError::Deploy {
                dir: dir.display().to_string(),
                source,
            })?;
    problems.extend(deploy_problems);
    metrics.deploy_loaded(problems.is_empty());
    if config.watch {
        deployer.watch();
    }
    if config.auth.is_none() {
        for ingress in deployer
            .current()
            .ingresses
            .iter()
            .filter(|ingress| !ingress.spec.is_public)
        {
            tracing::warn!(
                ingress = %ingress.spec.id,
                "not public and sluice.yaml has no auth section: every call gets 401"
            );
        }
    }
    let addr = listen.public.unwrap_or(config.listen);
    let admin_addr = listen.admin.unwrap_or(config.admin_listen);
    if admin_token.is_none() && !admin_addr.ip().is_loopback() {
        tracing::warn!(
            %admin_addr,
            "the admin endpoints listen beyond loopback without adminTokenFile: anyone who \
             reaches that address can publish events and message actors"
        );
    }
    let app = App {
        runtime,
        deployer,
        backends,
        config,
        auth,
        cors,
        draining: tokio::sync::watch::Sender::new(false),
        index_page: std::fs::read(dir.join("public").join("index.html"))
            .ok()
            .map(Into::into),
        metrics,
        admin_token,
    };
    let tls = config_tls(&app.config, dir)?;
    let server = Server::bind(addr, admin_addr, app)
        .await
        .map_err(|(surface, addr, source)| BootError::Listen {
            addr,
            what: match surface {
                Surface::Public => "listen",
                Surface::Admin => "adminListen",
            },
            source,
        })?
        .with_tls(tls);
    Ok(Booted { server, problems })
}

/// The public listener's TLS, when `sluice.yaml` has a `tls:` section; a pair that does not
/// load stops the host rather than serving plain HTTP where HTTPS was asked for.
fn config_tls(config: &HostConfig, dir: &Path) -> Result<Option<Tls>, BootError> {
    Ok(config
        .tls
        .as_ref()
        .map(|tls| Tls::load(tls, dir))
        .transpose()?)
}

/// The admin token from `adminTokenFile`, if set; a file that is missing, unreadable or
/// empty stops the host, naming the file.
fn admin_token(config: &HostConfig, dir: &Path) -> Result<Option<AdminToken>, BootError> {
    let Some(file) = &config.admin_token_file else {
        return Ok(None);
    };
    let file = dir.join(file);
    AdminToken::load(&file)
        .map(Some)
        .map_err(|reason| BootError::Config {
            file: file.display().to_string(),
            reason: format!("adminTokenFile: {reason}"),
        })
}

/// The JetStream bus when `sluice.yaml` has a `bus:` section (a node that cannot reach it
/// does not start), else the in-process bus.
async fn open_bus(config: &HostConfig, config_file: &Path) -> Result<Arc<dyn EventBus>, BootError> {
    let Some(bus) = &config.bus else {
        return Ok(Arc::new(InMemoryBus::new(InMemoryBusConfig {
            history_per_topic: config.bus_history_per_topic,
            topic_idle: std::time::Duration::from_secs(config.bus_topic_idle_seconds),
            max_history_bytes: config.bus_max_history_bytes,
            ..InMemoryBusConfig::default()
        })));
    };
    bus.validate().map_err(|reason| BootError::Config {
        file: config_file.display().to_string(),
        reason,
    })?;
    let jetstream = JetStreamBus::connect(bus.clone())
        .await
        .map_err(|err| BootError::Bus {
            url: bus.url.clone(),
            reason: err.to_string(),
        })?;
    Ok(Arc::new(jetstream))
}

/// A store URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn store_urls_in_messages_hide_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
    }
}
