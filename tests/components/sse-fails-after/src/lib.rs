//! `sse-fails-after`: a test fixture for a component that fails mid-stream.
//!
//! `param n: u64` (any route, header or query parameter named `n`). The stream yields
//! `n` records `{"event":"tick","id":"<i>","data":{"i":<i>}}` for `i` in `1..=n`, each
//! logged (`info`, `tick <i>`) as it is made, then panics (a trap) in the pull that asks
//! for the next record; with `n = 0` the very first pull panics. `handle` itself never
//! panics: a missing or non-integer `n` is a 400.
//!
//! The ticks use [`Stream::iter_flushed`], so each is handed to the host in a pull of its
//! own and the panic comes in a later pull than the last tick. In SSE mode the client
//! gets every tick, then `event: error` with code `COMPONENT_FAILED`, and the stream ends.
//! In JSON mode the response is the first tick, or (`n = 0`) a 500 `COMPONENT_FAILED`.

use sluice_sdk::{Error, Level, Record, Request, Stream, json, log};

fn handle(req: Request) -> Result<Stream, Error> {
    let n: u64 = req.param("n")?;
    Ok(Stream::iter_flushed(ticks_then_panic(n)))
}

/// The ticks `1..=n`, then a panic when asked for one more.
fn ticks_then_panic(n: u64) -> impl Iterator<Item = Record> {
    let mut i = 0;
    std::iter::from_fn(move || {
        assert!(i < n, "sse-fails-after: failing as asked after {n} records");
        i += 1;
        log(Level::Info, format!("tick {i}"));
        Some(tick(i))
    })
}

/// Record `i`.
fn tick(i: u64) -> Record {
    Record::event("tick").id(i).data(json!({ "i": i }))
}

sluice_sdk::ingress!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    #[test]
    fn yields_n_ticks_then_panics() {
        let mut ticks = ticks_then_panic(2);
        assert_eq!(
            ticks.next().map(|r| r.to_json().to_string()).as_deref(),
            Some(r#"{"event":"tick","id":"1","data":{"i":1}}"#)
        );
        assert_eq!(
            ticks.next().map(|r| r.to_json().to_string()).as_deref(),
            Some(r#"{"event":"tick","id":"2","data":{"i":2}}"#)
        );
        assert!(catch_unwind(AssertUnwindSafe(|| ticks.next())).is_err());
    }

    #[test]
    fn zero_panics_on_the_first_pull() {
        let mut ticks = ticks_then_panic(0);
        assert!(catch_unwind(AssertUnwindSafe(|| ticks.next())).is_err());
    }
}
