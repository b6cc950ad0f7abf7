//! The `handler` export: [`ingress!`](crate::ingress) wires a handler function to it.
//!
//! The macro expands, in the component's crate, to a unit struct implementing the generated
//! `Guest` trait by calling [`__private::handle`], plus wit-bindgen's export macro for that
//! struct. Everything it names lives in the hidden [`__private`] module, so components
//! depend on this crate only.

/// Export `handler`, a `fn(Request) -> Result<Stream, Error>` (or a closure of that
/// shape), as this component's `handler.handle`. Use it once, at the crate root of a
/// `cdylib` crate.
///
/// For each request the host calls `handler` in a fresh instance. `Ok(stream)` starts the
/// response and the host pulls the stream's values; `Err(error)` becomes an HTTP error
/// response (see [`Error`](crate::Error)).
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, Request, Stream};
///
/// fn hello(_req: Request) -> Result<Stream, Error> {
///     Ok(Stream::once("Hello world"))
/// }
///
/// sluice_sdk::ingress!(hello);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! ingress {
    ($handler:expr $(,)?) => {
        #[doc(hidden)]
        struct __SluiceIngress;

        impl $crate::__private::Guest for __SluiceIngress {
            type RecordStream = $crate::__private::RecordStreamExport;

            fn handle(
                request: $crate::__private::WitRequest,
            ) -> ::core::result::Result<$crate::__private::WitRecordStream, $crate::__private::WitError> {
                $crate::__private::handle(request, $handler)
            }
        }

        $crate::__private::bindings::__sluice_export_ingress!(
            __SluiceIngress with_types_in $crate::__private::bindings
        );
    };
}

/// Implementation details of [`ingress!`](crate::ingress). Not public API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;

    pub use crate::bindings;
    pub use crate::bindings::exports::sluice::ingress::handler::{
        Guest, GuestRecordStream, RecordStream as WitRecordStream,
    };
    use crate::bindings::sluice::ingress::types::Mode as WitMode;
    pub use crate::bindings::sluice::ingress::types::{Error as WitError, Request as WitRequest};
    use crate::error::Error;
    use crate::request::{Mode, Request};
    use crate::stream::Stream;

    /// The `record-stream` resource: a [`Stream`] the host pulls from.
    pub struct RecordStreamExport(RefCell<Stream>);

    impl GuestRecordStream for RecordStreamExport {
        fn next(&self) -> Option<String> {
            self.next_batch(1).into_iter().next()
        }

        fn next_batch(&self, max: u32) -> Vec<String> {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            self.0
                .borrow_mut()
                .next_batch(max)
                .iter()
                .map(|value| value.to_string())
                .collect()
        }
    }

    /// Run `handler` on the host's request.
    pub fn handle(
        request: WitRequest,
        handler: impl FnOnce(Request) -> Result<Stream, Error>,
    ) -> Result<WitRecordStream, WitError> {
        let mode = match request.mode {
            WitMode::Sse => Mode::Sse,
            WitMode::Json => Mode::Json,
        };
        let request = Request::from_parts(
            request.ingress_id,
            request.method,
            request.path,
            request.params,
            mode,
            request.last_event_id,
            request.body,
        );
        match handler(request) {
            Ok(stream) => Ok(WitRecordStream::new(RecordStreamExport(RefCell::new(
                stream,
            )))),
            Err(error) => {
                let (code, message, status, details) = error.into_parts();
                Err(WitError {
                    code,
                    message,
                    status,
                    details: details.map(|details| details.to_string()),
                })
            }
        }
    }
}
