//! Projection of whole documents onto the fields a query asked for, shared by every engine
//! (they fetch whole documents and project here, so projection cannot differ between them).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::StoreError;
use super::filter::FieldPath;

/// Keep only `fields` of `doc`, nested as in the document (`a.b` gives `{"a": {"b": …}}`),
/// in the order asked. No fields = the whole document.
pub(crate) fn project(doc: Map<String, Value>, fields: &[FieldPath]) -> Map<String, Value> {
    if fields.is_empty() {
        return doc;
    }
    let mut projected = Map::new();
    for field in fields {
        let mut value = None;
        let mut current = &doc;
        for (i, segment) in field.segments().iter().enumerate() {
            match (current.get(segment), i + 1 == field.segments().len()) {
                (Some(found), true) => value = Some(found),
                (Some(Value::Object(inner)), false) => current = inner,
                _ => break,
            }
        }
        if let Some(value) = value {
            insert_at(&mut projected, field.segments(), value.clone());
        }
    }
    projected
}

fn insert_at(target: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            target.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let slot = target
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert_at(inner, rest, value);
            }
        }
    }
}

/// The query's field list as paths, rejecting malformed ones.
pub(crate) fn parse_fields(fields: &[String]) -> Result<Vec<FieldPath>, StoreError> {
    fields
        .iter()
        .map(|field| {
            FieldPath::parse(field).map_err(|e| StoreError::InvalidField {
                field: field.chars().take(80).collect(),
                reason: e.message,
            })
        })
        .collect()
}

/// `now` as Unix seconds, saturating far outside the range any filter can use.
pub(crate) fn unix_seconds(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Check seed records (each a JSON object) and serialize them.
pub(crate) fn seed_documents(edge: &str, records: &[Value]) -> Result<Vec<String>, StoreError> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let invalid = || StoreError::InvalidRecord {
                edge: edge.to_owned(),
                index,
            };
            if !record.is_object() {
                return Err(invalid());
            }
            serde_json::to_string(record).map_err(|_| invalid())
        })
        .collect()
}
