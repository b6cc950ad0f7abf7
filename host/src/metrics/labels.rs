//! Label sets and the enums behind their values. Every value comes from a closed set or
//! from the deployment (ingress ids, actor types): never from a request, so a client cannot
//! grow the number of series.

use std::fmt;

use http::StatusCode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::negotiate::Mode;

/// The `ingress` value of a request that matched no ingress (a 404 or 405): empty, which
/// no ingress id is (Prometheus reads it as the label being absent).
pub const NO_INGRESS: &str = "";

/// The `actor_type` value of a call to a type that is not deployed: the name came from
/// the caller, so it is not a label. Actor types are letters, digits, `-` and `_`.
pub const UNKNOWN_ACTOR_TYPE: &str = "(unknown)";

/// Implements [`EncodeLabelValue`] through an `as_str` method.
macro_rules! label_value {
    ($($name:ty),*) => {$(
        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    )*};
}

/// `sse` or `json`, as negotiated from `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModeLabel {
    Sse,
    Json,
}

impl From<Mode> for ModeLabel {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Sse => ModeLabel::Sse,
            Mode::Json => ModeLabel::Json,
        }
    }
}

impl ModeLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            ModeLabel::Sse => "sse",
            ModeLabel::Json => "json",
        }
    }
}

/// A response status by its class: `1xx` … `5xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusClass(u8);

impl StatusClass {
    pub fn of(status: StatusCode) -> Self {
        // `StatusCode` holds 100..=999; 6xx..9xx are not classes HTTP defines.
        Self(u8::try_from(status.as_u16() / 100).unwrap_or(0))
    }

    pub fn as_str(self) -> &'static str {
        match self.0 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            5 => "5xx",
            _ => "other",
        }
    }
}

/// Why an SSE stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StreamEnd {
    /// The client closed the connection (or reset the HTTP/2 stream).
    ClientGone = 1,
    /// The client took no burst for `dispatchTimeoutSeconds` and was cut off.
    SlowConsumer = 2,
    /// `maxStreamLifetimeSeconds` passed.
    Lifetime = 3,
    /// The host drained (shutdown).
    Drain = 4,
    /// The component trapped mid-stream (the client got a `COMPONENT_FAILED` event).
    ComponentFailed = 5,
    /// The component's record stream ended and the client got every event.
    ComponentEnded = 6,
}

impl StreamEnd {
    pub const ALL: [StreamEnd; 6] = [
        StreamEnd::ClientGone,
        StreamEnd::SlowConsumer,
        StreamEnd::Lifetime,
        StreamEnd::Drain,
        StreamEnd::ComponentFailed,
        StreamEnd::ComponentEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamEnd::ClientGone => "client_gone",
            StreamEnd::SlowConsumer => "slow_consumer",
            StreamEnd::Lifetime => "lifetime",
            StreamEnd::Drain => "drain",
            StreamEnd::ComponentFailed => "component_failed",
            StreamEnd::ComponentEnded => "component_ended",
        }
    }

    /// The reason stored as `code` (see [`StreamEnd::code`]); `None` for 0 (not ended).
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.code() == code)
    }

    /// A non-zero code, so a reason fits in an atomic byte where 0 means "none yet".
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a caller was turned away (SPEC S6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthRefusal {
    /// 401: no bearer token.
    Missing,
    /// 401: a token that is malformed, forged, expired or for another audience.
    Invalid,
    /// 403: a valid token without the ingress's permission.
    InsufficientScope,
}

impl AuthRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthRefusal::Missing => "missing",
            AuthRefusal::Invalid => "invalid",
            AuthRefusal::InsufficientScope => "insufficient_scope",
        }
    }
}

/// How a publish on the bus went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishResult {
    Ok,
    /// A retried publish the bus had already stored (same de-duplication id).
    Duplicate,
    /// Refused: bad topic, event type, size.
    Invalid,
    /// The bus could not be reached.
    Unavailable,
}

impl PublishResult {
    pub fn of(
        result: &Result<crate::backends::bus::Published, crate::backends::bus::BusError>,
    ) -> Self {
        match result {
            Ok(published) if published.duplicate => PublishResult::Duplicate,
            Ok(_) => PublishResult::Ok,
            Err(err) if err.is_unavailable() => PublishResult::Unavailable,
            Err(_) => PublishResult::Invalid,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PublishResult::Ok => "ok",
            PublishResult::Duplicate => "duplicate",
            PublishResult::Invalid => "invalid",
            PublishResult::Unavailable => "unavailable",
        }
    }
}

/// Why an actor call was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorRejection {
    UnknownType,
    NotFound,
    /// The actor refused the messages or trapped; nothing was stored.
    Failed,
    /// The actor store could not be reached.
    Unavailable,
}

impl ActorRejection {
    pub fn of(error: &crate::backends::actors::ActorError) -> Self {
        use crate::backends::actors::ActorError;
        match error {
            ActorError::UnknownType(_) => ActorRejection::UnknownType,
            ActorError::NotFound(_) => ActorRejection::NotFound,
            ActorError::Failed(_) => ActorRejection::Failed,
            ActorError::Unavailable(_) => ActorRejection::Unavailable,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActorRejection::UnknownType => "unknown_type",
            ActorRejection::NotFound => "not_found",
            ActorRejection::Failed => "failed",
            ActorRejection::Unavailable => "unavailable",
        }
    }
}

/// `ok` or `failed`, for deploy loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadResult(pub bool);

impl LoadResult {
    pub fn as_str(self) -> &'static str {
        if self.0 { "ok" } else { "failed" }
    }
}

/// How a query batch (`spec.queries`) was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryAnswer(pub crate::actors::queries::Source);

impl QueryAnswer {
    pub fn as_str(self) -> &'static str {
        match self.0 {
            crate::actors::queries::Source::Ran => "ran",
            crate::actors::queries::Source::Shared => "shared",
        }
    }
}

label_value!(
    QueryAnswer,
    ModeLabel,
    StatusClass,
    StreamEnd,
    AuthRefusal,
    PublishResult,
    ActorRejection,
    LoadResult
);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IngressLabels {
    pub ingress: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub ingress: String,
    pub mode: ModeLabel,
    pub status: StatusClass,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StreamEndLabels {
    pub ingress: String,
    pub reason: StreamEnd,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AuthRefusalLabels {
    pub ingress: String,
    pub reason: AuthRefusal,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PublishLabels {
    pub result: PublishResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActorLabels {
    pub actor_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActorQueryLabels {
    pub actor_type: String,
    pub answer: QueryAnswer,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActorRejectionLabels {
    pub actor_type: String,
    pub reason: ActorRejection,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LoadLabels {
    pub result: LoadResult,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::actors::ActorError;
    use crate::backends::bus::{BusError, Published};

    #[test]
    fn every_status_maps_to_its_class() {
        for (status, class) in [
            (100, "1xx"),
            (101, "1xx"),
            (200, "2xx"),
            (204, "2xx"),
            (299, "2xx"),
            (304, "3xx"),
            (400, "4xx"),
            (401, "4xx"),
            (404, "4xx"),
            (431, "4xx"),
            (499, "4xx"),
            (500, "5xx"),
            (503, "5xx"),
            (504, "5xx"),
            (599, "5xx"),
            (600, "other"),
            (999, "other"),
        ] {
            let status = StatusCode::from_u16(status).expect("valid status");
            assert_eq!(StatusClass::of(status).as_str(), class, "{status}");
        }
    }

    #[test]
    fn stream_end_reasons_have_the_documented_names() {
        let names: Vec<_> = StreamEnd::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "client_gone",
                "slow_consumer",
                "lifetime",
                "drain",
                "component_failed",
                "component_ended"
            ]
        );
    }

    #[test]
    fn stream_end_codes_round_trip_and_zero_means_none() {
        for reason in StreamEnd::ALL {
            assert_ne!(reason.code(), 0);
            assert_eq!(StreamEnd::from_code(reason.code()), Some(reason));
        }
        assert_eq!(StreamEnd::from_code(0), None);
        assert_eq!(StreamEnd::from_code(7), None);
    }

    #[test]
    fn auth_refusals_and_modes_have_the_documented_names() {
        assert_eq!(AuthRefusal::Missing.as_str(), "missing");
        assert_eq!(AuthRefusal::Invalid.as_str(), "invalid");
        assert_eq!(
            AuthRefusal::InsufficientScope.as_str(),
            "insufficient_scope"
        );
        assert_eq!(ModeLabel::from(Mode::Sse).as_str(), "sse");
        assert_eq!(ModeLabel::from(Mode::Json).as_str(), "json");
        assert_eq!(LoadResult(true).as_str(), "ok");
        assert_eq!(LoadResult(false).as_str(), "failed");
    }

    #[test]
    fn publishes_are_told_apart_by_outcome() {
        let stored = Ok(Published {
            id: 1,
            duplicate: false,
        });
        let repeated = Ok(Published {
            id: 1,
            duplicate: true,
        });
        let down = Err(BusError::Unavailable("down".into()));
        let bad = Err(BusError::NoTopics);
        assert_eq!(PublishResult::of(&stored).as_str(), "ok");
        assert_eq!(PublishResult::of(&repeated).as_str(), "duplicate");
        assert_eq!(PublishResult::of(&down).as_str(), "unavailable");
        assert_eq!(PublishResult::of(&bad).as_str(), "invalid");
    }

    #[test]
    fn actor_errors_map_to_rejection_reasons() {
        for (error, reason) in [
            (ActorError::UnknownType("x".into()), "unknown_type"),
            (ActorError::NotFound("x".into()), "not_found"),
            (ActorError::Failed("x".into()), "failed"),
            (ActorError::Unavailable("x".into()), "unavailable"),
        ] {
            assert_eq!(ActorRejection::of(&error).as_str(), reason);
        }
    }
}
