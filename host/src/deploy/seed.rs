//! Seed data: `seed/<edge>.json` holds a JSON array of records for edge `<edge>`. It is
//! loaded only into an empty edge, so restarting a host never duplicates rows.

use std::path::Path;

use serde_json::Value;

use super::{Problem, files_with_extension};
use crate::backends::store::{Store, StoreErrorKind};

/// Seed `store` from `dir/seed/`. Returns the files that could not be loaded, or the first
/// outage of the store (a node that cannot seed its store should not start).
pub async fn seed_store(
    dir: &Path,
    store: &dyn Store,
) -> Result<Vec<Problem>, crate::backends::store::StoreError> {
    let files = match files_with_extension(&dir.join("seed"), &["json"]) {
        Ok(files) => files,
        Err(err) => return Ok(vec![Problem::new(&dir.join("seed"), err)]),
    };
    let mut problems = Vec::new();
    for file in files {
        let Some(edge) = file.file_stem().and_then(|stem| stem.to_str()) else {
            problems.push(Problem::new(&file, "the file name is not UTF-8"));
            continue;
        };
        let records = std::fs::read(&file)
            .map_err(|err| err.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<Value>(&bytes).map_err(|err| err.to_string())
            });
        let records = match records {
            Ok(Value::Array(records)) => records,
            Ok(_) => {
                problems.push(Problem::new(&file, "expected a JSON array of records"));
                continue;
            }
            Err(reason) => {
                problems.push(Problem::new(&file, reason));
                continue;
            }
        };
        match store.seed(edge, records).await {
            Ok(_) => {}
            Err(err) if err.kind() == StoreErrorKind::Unavailable => return Err(err),
            Err(err) => problems.push(Problem::new(&file, err)),
        }
    }
    Ok(problems)
}
