//! [`Row`]: one record a [`query`](crate::query) returned, with typed field access.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::Error;

/// One record returned by a query: a JSON object, with its fields in store order.
///
/// It serializes as that object, so `Record::event("init").data(&row)` sends it whole, and
/// it derefs to the underlying [`Map`].
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, Record, Stream, query};
///
/// # fn main() -> Result<(), Error> {
/// let sku = query("skus").first()?.ok_or_else(|| Error::not_found("no SKUs"))?;
/// let sku_id: String = sku.text("skuId")?;
/// let stream = Stream::once(Record::event("init").data(&sku));
/// # let _ = (sku_id, stream);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(pub(crate) Map<String, Value>);

impl Row {
    /// The value of field `name`, if present.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// # let sku = sluice_sdk::query("skus").first()?.unwrap();
    /// let name = sku.get("name").and_then(|v| v.as_str()).unwrap_or("unnamed");
    /// # let _ = name;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Field `name` as text.
    ///
    /// # Errors
    ///
    /// `DATA_ERROR` (HTTP 500) naming the field when it is missing or not a string.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// # let sku = sluice_sdk::query("skus").first()?.unwrap();
    /// let sku_id = sku.text("skuId")?;
    /// # let _ = sku_id;
    /// # Ok(())
    /// # }
    /// ```
    pub fn text(&self, name: &str) -> Result<String, Error> {
        self.typed(name, "text", |value| value.as_str().map(str::to_owned))
    }

    /// Field `name` as a number.
    ///
    /// # Errors
    ///
    /// `DATA_ERROR` (HTTP 500) naming the field when it is missing or not a number.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// # let sku = sluice_sdk::query("skus").first()?.unwrap();
    /// let price = sku.number("price")?;
    /// # let _ = price;
    /// # Ok(())
    /// # }
    /// ```
    pub fn number(&self, name: &str) -> Result<f64, Error> {
        self.typed(name, "a number", Value::as_f64)
    }

    /// Field `name` as an integer.
    ///
    /// # Errors
    ///
    /// `DATA_ERROR` (HTTP 500) naming the field when it is missing or not an integer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// # let sku = sluice_sdk::query("skus").first()?.unwrap();
    /// let stock = sku.integer("stock")?;
    /// # let _ = stock;
    /// # Ok(())
    /// # }
    /// ```
    pub fn integer(&self, name: &str) -> Result<i64, Error> {
        self.typed(name, "an integer", Value::as_i64)
    }

    /// The whole row as a `T` (any `serde` deserializable type).
    ///
    /// # Errors
    ///
    /// `DATA_ERROR` (HTTP 500) when the row does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::collections::BTreeMap;
    ///
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// # let sku = sluice_sdk::query("skus").first()?.unwrap();
    /// let fields: BTreeMap<String, sluice_sdk::Value> = sku.deserialize()?;
    /// # let _ = fields;
    /// # Ok(())
    /// # }
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(Value::Object(self.0.clone())).map_err(|err| {
            Error::new(
                "DATA_ERROR",
                format!("the row does not have the expected shape: {err}"),
            )
        })
    }

    /// The underlying JSON object.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// # let sku = sluice_sdk::query("skus").first()?.unwrap();
    /// let mut fields = sku.into_map();
    /// fields.remove("internalNotes");
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    fn typed<T>(
        &self,
        name: &str,
        expected: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, Error> {
        let value = self.0.get(name).ok_or_else(|| {
            Error::new(
                "DATA_ERROR",
                format!("field '{name}' is missing from the row"),
            )
        })?;
        read(value).ok_or_else(|| {
            Error::new(
                "DATA_ERROR",
                format!("field '{name}' must be {expected}, got {value}"),
            )
        })
    }
}

impl Deref for Row {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl From<Row> for Map<String, Value> {
    fn from(row: Row) -> Self {
        row.0
    }
}

impl From<Row> for Value {
    fn from(row: Row) -> Self {
        Value::Object(row.0)
    }
}
