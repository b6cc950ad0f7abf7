//! A private schema on the test PostgreSQL for each test, dropped when the test ends (even
//! when it fails), so tests run in parallel and leave nothing behind.
//!
//! The server is `SLUICE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! When it cannot be reached, a test fails naming it if `CI` is set, and otherwise says loudly
//! that it skipped.

use super::{PostgresConfig, PostgresStore};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A store in a fresh schema, or `None` (after saying so) when PostgreSQL is unreachable
/// outside CI.
pub struct TestSchema {
    pub store: PostgresStore,
    pub config: PostgresConfig,
}

impl TestSchema {
    pub async fn new(test: &str) -> Option<Self> {
        let mut config = PostgresConfig::new(url());
        config.schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        match PostgresStore::connect(&config).await {
            Ok(store) => Some(Self { store, config }),
            Err(err) => {
                if std::env::var_os("CI").is_some() {
                    panic!(
                        "{test}: the test PostgreSQL at {} is unreachable: {err}",
                        url()
                    );
                }
                eprintln!(
                    "\n!!! SKIPPED {test}: no PostgreSQL at {} ({err}); set SLUICE_TEST_POSTGRES_URL\n",
                    url()
                );
                None
            }
        }
    }

    /// Another store on the same schema with its own pool, as a second node would have.
    pub async fn another_node(&self) -> PostgresStore {
        PostgresStore::connect(&self.config)
            .await
            .expect("second node")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let url = self.config.url.clone();
        let schema = self.config.schema.clone();
        // Its own thread and runtime: Drop cannot await, and may run inside a runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop test schema {}: {dropped:?}",
                self.config.schema
            );
        }
    }
}
