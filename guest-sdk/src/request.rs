//! [`Request`]: one HTTP request with its parameters resolved, and typed parameter access
//! through [`FromParam`].

use serde_json::{Map, Value};

use crate::error::Error;

/// How the client asked to receive the response.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Mode, Request};
///
/// fn is_live(req: &Request) -> bool {
///     req.mode() == Mode::Sse
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `Accept` admits `text/event-stream`: every yielded value becomes one SSE event.
    Sse,
    /// Anything else: the first yielded value is the JSON response; the instance is then
    /// dropped.
    Json,
}

/// One incoming HTTP request, with its parameters already resolved by the host.
///
/// Parameters come, in this order with later ones winning, from the route (`{skuNumber}`),
/// mapped headers, mapped query parameters and the body (see the ingress file). Route,
/// header and query values are JSON strings; fields of a structured body keep their JSON
/// type. Read them typed with [`param`](Request::param) and
/// [`optional_param`](Request::optional_param).
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Error, Record, Request, Stream, Uuid};
///
/// fn handle(req: Request) -> Result<Stream, Error> {
///     let order_id: Uuid = req.param("orderId")?;
///     let page_size = req.optional_param::<u64>("pageSize")?.unwrap_or(20);
///     Ok(Stream::once(Record::new().field("orderId", order_id).field("pageSize", page_size)))
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    ingress_id: String,
    method: String,
    path: String,
    params: Map<String, Value>,
    mode: Mode,
    last_event_id: Option<String>,
    body: Option<Vec<u8>>,
    caller: Option<Caller>,
}

impl Request {
    /// Build a request from the parts the host sends. Parameter values are JSON text; one
    /// that is not valid JSON is kept as a string. A repeated name keeps the last value.
    pub(crate) fn from_parts(
        ingress_id: String,
        method: String,
        path: String,
        params: Vec<(String, String)>,
        mode: Mode,
        last_event_id: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Self {
        let params = params
            .into_iter()
            .map(|(name, json)| {
                let value = serde_json::from_str(&json).unwrap_or(Value::String(json));
                (name, value)
            })
            .collect();
        Self {
            ingress_id,
            method,
            path,
            params,
            mode,
            last_event_id,
            body,
            caller: None,
        }
    }

    /// The same request, from `caller`.
    pub(crate) fn with_caller(self, caller: Option<Caller>) -> Self {
        Self { caller, ..self }
    }

    /// Who sent the request, when it carried a valid bearer token. On an ingress that is not
    /// `isPublic` there always is a caller (the host turned everyone else away); on a public
    /// one, anonymous requests have none.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Error, Request};
    ///
    /// fn owner(req: &Request) -> Result<&str, Error> {
    ///     req.caller()
    ///         .and_then(|caller| caller.subject())
    ///         .ok_or_else(|| Error::new("UNAUTHORIZED", "sign in first"))
    /// }
    /// ```
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    /// The ingress id: the part of the ingress `uri` after `/resources/ingresses/`, e.g.
    /// `api/skus/stock-events`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(req: sluice_sdk::Request) {
    /// sluice_sdk::info!("serving {}", req.ingress_id());
    /// # }
    /// ```
    pub fn ingress_id(&self) -> &str {
        &self.ingress_id
    }

    /// The upper-case HTTP method, e.g. `GET`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(req: sluice_sdk::Request) -> bool {
    /// req.method() == "POST"
    /// # }
    /// ```
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request path, e.g. `/ingress/api/skus/PROD-001/stock`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(req: sluice_sdk::Request) -> bool {
    /// req.path().starts_with("/ingress/api/")
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// SSE or JSON mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Mode, Request};
    ///
    /// # fn f(req: Request) -> &'static str {
    /// match req.mode() {
    ///     Mode::Sse => "live updates",
    ///     Mode::Json => "one snapshot",
    /// }
    /// # }
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The `Last-Event-ID` header (or the `lastEventId` query parameter when the header is
    /// absent): the `id` of the last event the client received before reconnecting.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(req: sluice_sdk::Request) -> bool {
    /// req.last_event_id().is_some() // a reconnection
    /// # }
    /// ```
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// [`last_event_id`](Request::last_event_id) read as a bus event id (a decimal `u64`),
    /// for [`events_after`](crate::events_after). `None` when absent or anything but ASCII
    /// digits that fit a `u64`: no sign, no spaces, as the host writes ids.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Error, Record, Request, Stream, events_after};
    ///
    /// fn handle(req: Request) -> Result<Stream, Error> {
    ///     let after = req.last_bus_event_id();
    ///     let source = events_after("orders/ORD-123", "checkpoint", after)?;
    ///     Ok(source.map(|e| Ok(Record::event("updated").id(e.id).data(e))))
    /// }
    /// ```
    pub fn last_bus_event_id(&self) -> Option<u64> {
        let id = self.last_event_id.as_deref()?;
        // `u64::from_str` also takes a leading `+`, which no id the host sent ever has.
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        id.parse().ok()
    }

    /// The raw body, when the ingress maps it with `body: { mode: raw, parameter: … }`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(req: sluice_sdk::Request) -> usize {
    /// req.body().map_or(0, <[u8]>::len)
    /// # }
    /// ```
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Every parameter by name, in resolution order, as JSON values.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(req: sluice_sdk::Request) {
    /// for (name, value) in req.params() {
    ///     sluice_sdk::debug!("{name} = {value}");
    /// }
    /// # }
    /// ```
    pub fn params(&self) -> &Map<String, Value> {
        &self.params
    }

    /// The parameter `name` as a `T` (text, [`Uuid`](crate::Uuid), integers, `f64`, `bool`,
    /// or any JSON [`Value`]; see [`FromParam`]).
    ///
    /// # Errors
    ///
    /// A missing (or `null`) parameter gives [`Error::missing_parameter`]; one that is not a
    /// `T` gives [`Error::invalid_parameter`] with a message such as
    /// `parameter 'orderId' must be a UUID, got "ORD-123"`. Both are HTTP 400 when returned
    /// from the handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Error, Request, Uuid};
    ///
    /// fn ids(req: &Request) -> Result<(Uuid, i64), Error> {
    ///     Ok((req.param("orderId")?, req.param::<i64>("line")?))
    /// }
    /// ```
    pub fn param<T: FromParam>(&self, name: &str) -> Result<T, Error> {
        self.optional_param(name)?
            .ok_or_else(|| Error::missing_parameter(name))
    }

    /// The parameter `name` as a `T`, or `None` when it is absent or `null`.
    ///
    /// # Errors
    ///
    /// A present parameter that is not a `T` gives [`Error::invalid_parameter`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Error, Request};
    ///
    /// fn include_history(req: &Request) -> Result<bool, Error> {
    ///     Ok(req.optional_param("history")?.unwrap_or(false))
    /// }
    /// ```
    pub fn optional_param<T: FromParam>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::from_param(value).map(Some).ok_or_else(|| {
                Error::invalid_parameter(
                    name,
                    format!(
                        "parameter '{name}' must be {}, got {}",
                        T::EXPECTED,
                        shown(value)
                    ),
                )
            }),
        }
    }
}

/// A value as compact JSON, cut short when long, for error messages.
fn shown(value: &Value) -> String {
    const MAX: usize = 64;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// A type a parameter can be read as, with [`Request::param`].
///
/// Route, header and query parameters arrive as JSON strings, so numbers and booleans also
/// parse from their text (`"42"`, `"true"`); structured-body fields arrive with their JSON
/// type.
///
/// | Type | Accepts |
/// |------|---------|
/// | `String` | a string; a number or boolean as its text |
/// | [`Uuid`](crate::Uuid) | a string in any form the `uuid` crate parses |
/// | `i64`, `i32`, `u64`, `u32` | an integer in range, or a string of one |
/// | `f64` | a finite number, or a string of one |
/// | `bool` | `true`/`false`, or the strings `"true"`/`"false"` |
/// | [`Value`] | anything |
///
/// # Examples
///
/// A parameter type of your own:
///
/// ```
/// use sluice_sdk::{FromParam, Value};
///
/// struct Sku(String);
///
/// impl FromParam for Sku {
///     const EXPECTED: &'static str = "a SKU number like 'PROD-001'";
///
///     fn from_param(value: &Value) -> Option<Self> {
///         let text = value.as_str()?;
///         text.starts_with("PROD-").then(|| Sku(text.to_owned()))
///     }
/// }
/// ```
pub trait FromParam: Sized {
    /// What the parameter must be, completing "parameter 'x' must be …", e.g. `"a UUID"`.
    const EXPECTED: &'static str;

    /// Read the value, or `None` when it is not a `Self`.
    fn from_param(value: &Value) -> Option<Self>;
}

impl FromParam for String {
    const EXPECTED: &'static str = "text";

    fn from_param(value: &Value) -> Option<Self> {
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }
}

impl FromParam for uuid::Uuid {
    const EXPECTED: &'static str = "a UUID";

    fn from_param(value: &Value) -> Option<Self> {
        uuid::Uuid::try_parse(value.as_str()?).ok()
    }
}

macro_rules! integer_param {
    ($($ty:ty => $as:ident),* $(,)?) => {$(
        impl FromParam for $ty {
            const EXPECTED: &'static str = concat!("an integer (", stringify!($ty), ")");

            fn from_param(value: &Value) -> Option<Self> {
                match value {
                    Value::Number(number) => number.$as().and_then(|n| <$ty>::try_from(n).ok()),
                    Value::String(text) => text.parse().ok(),
                    _ => None,
                }
            }
        }
    )*};
}

integer_param!(i64 => as_i64, i32 => as_i64, u64 => as_u64, u32 => as_u64);

impl FromParam for f64 {
    const EXPECTED: &'static str = "a number";

    fn from_param(value: &Value) -> Option<Self> {
        let number = match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }?;
        number.is_finite().then_some(number)
    }
}

impl FromParam for bool {
    const EXPECTED: &'static str = "true or false";

    fn from_param(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(flag) => Some(*flag),
            Value::String(text) if text == "true" => Some(true),
            Value::String(text) if text == "false" => Some(false),
            _ => None,
        }
    }
}

impl FromParam for Value {
    const EXPECTED: &'static str = "JSON";

    fn from_param(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

/// The holder of a valid bearer token: its subject and the permissions its `scope` grants.
///
/// Permissions are written `<resource path>:<action>`, with `*` standing for any action or
/// for any one path segment, as in an ingress `acl`.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Error, Request};
///
/// fn check_can_read(req: &Request, order_id: &str) -> Result<(), Error> {
///     let resource = format!("orders/{order_id}");
///     match req.caller() {
///         Some(caller) if caller.allows(&resource, "read") => Ok(()),
///         _ => Err(Error::new("FORBIDDEN", "not your order")),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    subject: Option<String>,
    permissions: Vec<String>,
}

impl Caller {
    /// A caller with this subject and permissions (the host makes these; tests may too).
    ///
    /// # Examples
    ///
    /// ```
    /// let caller = sluice_sdk::Caller::new(Some("ada"), ["orders/*:read"]);
    /// assert!(caller.allows("orders/ORD-123", "read"));
    /// ```
    pub fn new<S: Into<String>>(
        subject: Option<&str>,
        permissions: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            subject: subject.map(str::to_owned),
            permissions: permissions.into_iter().map(Into::into).collect(),
        }
    }

    /// The token's subject: a JWT's `sub` claim, or a static token's `subject`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(caller: &sluice_sdk::Caller) {
    /// sluice_sdk::info!("called by {}", caller.subject().unwrap_or("an unnamed caller"));
    /// # }
    /// ```
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The token's scope entries, as written.
    ///
    /// # Examples
    ///
    /// ```
    /// let caller = sluice_sdk::Caller::new(None, ["orders/*:read", "profile"]);
    /// assert_eq!(caller.permissions(), ["orders/*:read", "profile"]);
    /// ```
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }

    /// Does some permission allow `action` on `resource` (a `/`-separated path)? Entries
    /// that are not `<path>:<action>` allow nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let caller = sluice_sdk::Caller::new(None, ["orders/*:read", "actors/sku:*"]);
    /// assert!(caller.allows("orders/ORD-123", "read"));
    /// assert!(!caller.allows("orders/ORD-123/lines", "read")); // `*` is one segment
    /// assert!(caller.allows("actors/sku", "reserve"));
    /// assert!(!caller.allows("orders/ORD-123", "write"));
    /// ```
    pub fn allows(&self, resource: &str, action: &str) -> bool {
        self.permissions.iter().any(|permission| {
            let Some((path, allowed)) = permission.rsplit_once(':') else {
                return false;
            };
            (allowed == "*" || allowed == action)
                && path.split('/').count() == resource.split('/').count()
                && path
                    .split('/')
                    .zip(resource.split('/'))
                    .all(|(want, have)| want == "*" || want == have)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(params: &[(&str, &str)]) -> Request {
        Request::from_parts(
            "api/test".into(),
            "GET".into(),
            "/ingress/api/test".into(),
            params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            Mode::Sse,
            None,
            None,
        )
    }

    #[test]
    fn text_params_read_strings_and_scalar_text() {
        let req = request(&[("a", r#""PROD-001""#), ("n", "42"), ("b", "true")]);
        assert_eq!(req.param::<String>("a").unwrap(), "PROD-001");
        assert_eq!(req.param::<String>("n").unwrap(), "42");
        assert_eq!(req.param::<String>("b").unwrap(), "true");
    }

    #[test]
    fn a_missing_param_is_a_400_naming_it() {
        let err = request(&[]).param::<String>("skuNumber").unwrap_err();
        assert_eq!(err.code(), "MISSING_PARAMETER");
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.message(), "parameter 'skuNumber' is required");
        assert_eq!(err.details(), Some(&json!({"parameter": "skuNumber"})));
    }

    #[test]
    fn a_null_param_counts_as_missing() {
        let req = request(&[("x", "null")]);
        assert_eq!(
            req.param::<String>("x").unwrap_err().code(),
            "MISSING_PARAMETER"
        );
        assert_eq!(req.optional_param::<String>("x").unwrap(), None);
    }

    #[test]
    fn a_non_uuid_is_an_invalid_parameter_showing_the_value() {
        let err = request(&[("orderId", r#""ORD-123""#)])
            .param::<uuid::Uuid>("orderId")
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMETER");
        assert_eq!(err.status(), Some(400));
        assert_eq!(
            err.message(),
            r#"parameter 'orderId' must be a UUID, got "ORD-123""#
        );
        assert_eq!(err.details(), Some(&json!({"parameter": "orderId"})));
    }

    #[test]
    fn uuids_parse_from_strings() {
        let req = request(&[("id", r#""6F1C2A4E-3B5D-4C7E-8F90-1A2B3C4D5E6F""#)]);
        let id: uuid::Uuid = req.param("id").unwrap();
        assert_eq!(id.to_string(), "6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f");
    }

    #[test]
    fn integers_parse_from_numbers_and_strings_in_range() {
        let req = request(&[
            ("s", r#""42""#),
            ("n", "-7"),
            ("f", "1.5"),
            ("big", "5000000000"),
            ("neg", r#""-1""#),
        ]);
        assert_eq!(req.param::<i64>("s").unwrap(), 42);
        assert_eq!(req.param::<i64>("n").unwrap(), -7);
        assert_eq!(req.param::<u64>("s").unwrap(), 42);
        assert!(req.param::<i64>("f").is_err());
        assert!(req.param::<i32>("big").is_err());
        assert_eq!(req.param::<i64>("big").unwrap(), 5_000_000_000);
        assert!(req.param::<u64>("neg").is_err());
        assert!(req.param::<u32>("n").is_err());
        assert_eq!(
            req.param::<i32>("f").unwrap_err().message(),
            "parameter 'f' must be an integer (i32), got 1.5"
        );
    }

    #[test]
    fn floats_parse_from_numbers_and_strings_but_not_infinity() {
        let req = request(&[
            ("a", "2.5"),
            ("b", r#""3.25""#),
            ("c", r#""inf""#),
            ("d", r#""NaN""#),
            ("e", r#""x""#),
        ]);
        assert_eq!(req.param::<f64>("a").unwrap(), 2.5);
        assert_eq!(req.param::<f64>("b").unwrap(), 3.25);
        assert!(req.param::<f64>("c").is_err());
        assert!(req.param::<f64>("d").is_err());
        assert_eq!(
            req.param::<f64>("e").unwrap_err().message(),
            r#"parameter 'e' must be a number, got "x""#
        );
    }

    #[test]
    fn numbers_arrive_exactly_as_the_host_wrote_them() {
        // The host writes f64s as their shortest text; serde_json's default parser may read
        // such text one bit off (here 1.844674400106185e32).
        let req = request(&[("x", "1.8446744001061846e+32")]);
        assert_eq!(req.param::<f64>("x").unwrap(), 1.8446744001061846e32);
    }

    #[test]
    fn bools_parse_from_json_and_exact_strings() {
        let req = request(&[
            ("a", "true"),
            ("b", r#""false""#),
            ("c", r#""yes""#),
            ("d", r#""TRUE""#),
        ]);
        assert!(req.param::<bool>("a").unwrap());
        assert!(!req.param::<bool>("b").unwrap());
        assert!(req.param::<bool>("c").is_err());
        assert!(req.param::<bool>("d").is_err());
    }

    #[test]
    fn json_params_keep_their_value() {
        let req = request(&[("filter", r#"{"status":"open","n":[1,2]}"#)]);
        assert_eq!(
            req.param::<Value>("filter").unwrap(),
            json!({"status": "open", "n": [1, 2]})
        );
        assert!(req.param::<String>("filter").is_err());
    }

    #[test]
    fn a_later_value_wins_and_order_is_kept() {
        let req = request(&[("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(req.param::<i64>("b").unwrap(), 3);
        assert_eq!(req.params().keys().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn text_that_is_not_json_is_kept_as_a_string() {
        let req = request(&[("raw", "not json")]);
        assert_eq!(req.param::<String>("raw").unwrap(), "not json");
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let long = format!("\"{}\"", "x".repeat(200));
        let err = request(&[("id", &long)])
            .param::<uuid::Uuid>("id")
            .unwrap_err();
        assert!(err.message().ends_with('…'), "{}", err.message());
        assert!(err.message().chars().count() < 120);
    }

    /// The error code for parameter `x` sent as the JSON text `json`, read as a `T`.
    fn code_of<T: FromParam + std::fmt::Debug>(json: &str) -> Result<T, String> {
        request(&[("x", json)])
            .param::<T>("x")
            .map_err(|err| err.code().to_owned())
    }

    const INVALID: &str = "INVALID_PARAMETER";
    const MISSING: &str = "MISSING_PARAMETER";

    #[test]
    fn text_params_reject_arrays_and_objects_and_keep_non_json_as_is() {
        for json in ["[]", "[\"a\"]", "{}", r#"{"a":"b"}"#] {
            assert_eq!(code_of::<String>(json), Err(INVALID.into()), "{json}");
        }
        assert_eq!(code_of::<String>("null"), Err(MISSING.into()));
        assert_eq!(code_of::<String>(r#""""#), Ok(String::new()));
        // Not JSON: the host never sends such text, but it is kept rather than lost.
        for raw in ["", "\"unterminated", "x\0y", "{", "nul", "'single'"] {
            assert_eq!(code_of::<String>(raw), Ok(raw.to_owned()), "{raw:?}");
        }
    }

    #[test]
    fn uuid_params_take_the_four_uuid_forms_and_nothing_else() {
        let expected = uuid::Uuid::from_u128(0x6f1c2a4e_3b5d_4c7e_8f90_1a2b3c4d5e6f);
        for form in [
            r#""6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f""#,
            r#""6f1c2a4e3b5d4c7e8f901a2b3c4d5e6f""#,
            r#""{6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f}""#,
            r#""urn:uuid:6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f""#,
        ] {
            assert_eq!(code_of::<uuid::Uuid>(form), Ok(expected), "{form}");
        }
        for bad in [
            r#""""#,
            r#""6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6""#,
            r#""6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f0""#,
            r#""6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6g""#,
            r#"" 6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f""#,
            r#""6f1c2a4e-3b5d4c7e-8f90-1a2b3c4d5e6f-""#,
            r#""{6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f""#,
            r#""6f1c2a4e\u00003b5d-4c7e-8f90-1a2b3c4d5e6f""#,
            "42",
            "true",
            "[\"6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f\"]",
        ] {
            assert_eq!(code_of::<uuid::Uuid>(bad), Err(INVALID.into()), "{bad}");
        }
    }

    #[test]
    fn integer_params_reject_malformed_and_out_of_range_values() {
        for bad in [
            r#""""#,
            r#"" 42""#,
            r#""42 ""#,
            r#""4_2""#,
            r#""0x10""#,
            r#""1e3""#,
            r#""4.0""#,
            r#""٤٢""#,
            "4.0",
            "1e2",
            "true",
            "[1]",
            r#""9223372036854775808""#,
            "9223372036854775808",
            r#""-9223372036854775809""#,
        ] {
            assert_eq!(code_of::<i64>(bad), Err(INVALID.into()), "i64 {bad}");
        }
        for bad in [
            "-1",
            r#""-1""#,
            r#""-0""#,
            "18446744073709551616",
            r#""18446744073709551616""#,
        ] {
            assert_eq!(code_of::<u64>(bad), Err(INVALID.into()), "u64 {bad}");
        }
        for bad in ["2147483648", r#""-2147483649""#] {
            assert_eq!(code_of::<i32>(bad), Err(INVALID.into()), "i32 {bad}");
        }
        for bad in ["4294967296", "-1"] {
            assert_eq!(code_of::<u32>(bad), Err(INVALID.into()), "u32 {bad}");
        }
        assert_eq!(code_of::<i64>(r#""-9223372036854775808""#), Ok(i64::MIN));
        assert_eq!(code_of::<u64>("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(code_of::<i64>(r#""-0""#), Ok(0));
        // Rust's integer syntax allows a leading '+'.
        assert_eq!(code_of::<u32>(r#""+7""#), Ok(7));
    }

    #[test]
    fn number_params_reject_malformed_and_non_finite_values() {
        for bad in [
            r#""""#,
            r#"" 1""#,
            r#""1 ""#,
            r#""1,5""#,
            r#""1_0""#,
            r#""0x1p3""#,
            r#""inf""#,
            r#""-infinity""#,
            r#""NaN""#,
            r#""1e400""#,
            r#""-1e400""#,
            "true",
            "[1.5]",
            "{}",
        ] {
            assert_eq!(code_of::<f64>(bad), Err(INVALID.into()), "{bad}");
        }
        assert_eq!(code_of::<f64>(r#"".5""#), Ok(0.5));
        assert_eq!(code_of::<f64>("1e308"), Ok(1e308));
        assert_eq!(code_of::<f64>("-0"), Ok(0.0));
    }

    #[test]
    fn bool_params_reject_everything_but_true_and_false() {
        for bad in [
            r#""""#,
            r#""True""#,
            r#""FALSE""#,
            r#""1""#,
            r#""0""#,
            r#""yes""#,
            r#"" true""#,
            "1",
            "0",
            "[true]",
            "{}",
        ] {
            assert_eq!(code_of::<bool>(bad), Err(INVALID.into()), "{bad}");
        }
        assert_eq!(code_of::<bool>("null"), Err(MISSING.into()));
    }

    #[test]
    fn json_params_take_any_value_and_keep_non_json_text_as_a_string() {
        assert_eq!(
            code_of::<Value>("[1,{\"a\":null}]"),
            Ok(json!([1, {"a": null}]))
        );
        assert_eq!(code_of::<Value>("{\"a\":"), Ok(json!("{\"a\":")));
        assert_eq!(code_of::<Value>("null"), Err(MISSING.into()));
    }

    #[test]
    fn last_bus_event_id_reads_decimal_ids_only() {
        let mut req = request(&[]);
        req.last_event_id = Some("41".into());
        assert_eq!(req.last_bus_event_id(), Some(41));
        req.last_event_id = Some("hb-42".into());
        assert_eq!(req.last_bus_event_id(), None);
    }

    #[test]
    fn last_bus_event_id_rejects_malformed_ids() {
        let mut req = request(&[]);
        for (sent, expected) in [
            ("0", Some(0)),
            ("007", Some(7)),
            ("18446744073709551615", Some(u64::MAX)),
            ("", None),
            ("18446744073709551616", None),
            ("99999999999999999999999", None),
            ("-1", None),
            ("+5", None),
            (" 5", None),
            ("5 ", None),
            ("1.0", None),
            ("1e3", None),
            ("0x10", None),
            ("5\0", None),
            ("\u{663}", None),
        ] {
            req.last_event_id = Some(sent.into());
            assert_eq!(req.last_bus_event_id(), expected, "{sent:?}");
        }
        req.last_event_id = None;
        assert_eq!(req.last_bus_event_id(), None);
    }
}
