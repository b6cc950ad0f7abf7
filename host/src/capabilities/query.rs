//! `sluice:ingress/query`: filtered reads of the store, checked against the ingress acl.
//! Edge `e` needs `e:read`. The filter is parsed here, by the host, into a tree; the store
//! runs it with bound parameters.

use serde_json::Value;

use crate::backends::store::{self, MAX_LIMIT, Query, StoreErrorKind, filter};
use crate::runtime::InstanceState;
use crate::runtime::bindings::query::{self, QueryError, QueryRequest, SyntaxError};

impl query::Host for InstanceState {
    async fn run(
        &mut self,
        request: QueryRequest,
    ) -> wasmtime::Result<Result<Vec<String>, QueryError>> {
        if !self.context.acl.allows(&request.edge, "read") {
            return Ok(Err(QueryError::Forbidden(
                self.context.deny(&request.edge, "read"),
            )));
        }
        let query = match build(request) {
            Ok(query) => query,
            Err(error) => return Ok(Err(error)),
        };
        let store = self.context.backends.store.clone();
        self.pause_cpu_budget();
        let outcome = store.query(&query).await;
        self.start_cpu_budget();
        Ok(match outcome {
            Ok(rows) => Ok(rows
                .into_iter()
                .map(|row| Value::Object(row).to_string())
                .collect()),
            Err(err) => Err(match err.kind() {
                StoreErrorKind::UnknownEdge => QueryError::UnknownEdge(err.to_string()),
                StoreErrorKind::Invalid => QueryError::Invalid(err.to_string()),
                StoreErrorKind::Store => {
                    tracing::error!(ingress = %self.context.ingress_id, %err, "store failed");
                    QueryError::Store("the store failed".into())
                }
                StoreErrorKind::Unavailable => {
                    tracing::warn!(ingress = %self.context.ingress_id, %err, "store unavailable");
                    QueryError::Unavailable("the store is unavailable; try again later".into())
                }
            }),
        })
    }
}

/// Turn the guest's request into a store query, rejecting what cannot be run.
fn build(request: QueryRequest) -> Result<Query, QueryError> {
    let filter = request
        .filter
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .map(filter::parse)
        .transpose()
        .map_err(|err| {
            QueryError::Syntax(SyntaxError {
                message: err.message,
                position: err.position,
            })
        })?;
    let arguments = request
        .arguments
        .iter()
        .enumerate()
        .map(|(index, text)| {
            serde_json::from_str(text).map_err(|err| {
                QueryError::Invalid(format!("argument {} is not JSON: {err}", index + 1))
            })
        })
        .collect::<Result<Vec<Value>, _>>()?;
    let order_by = match request.order_by.as_deref() {
        Some(text) => {
            store::parse_order_by(text).map_err(|err| QueryError::Invalid(err.to_string()))?
        }
        None => Vec::new(),
    };
    Ok(Query {
        edge: request.edge,
        fields: request.fields,
        filter,
        arguments,
        order_by,
        limit: request
            .limit
            .map_or(MAX_LIMIT, |limit| limit.min(MAX_LIMIT)),
    })
}
