//! A guest's stdout and stderr, into the host log: each line becomes one log event (target
//! `sluice::guest`; stdout at `info`, stderr at `warn`) with the ingress id, in the span of
//! the request whose instance wrote it. A panic's message, which Rust writes to stderr
//! before the instance traps, so reaches the log.
//!
//! Output is capped per instance, so a chatty or hostile component cannot flood the log:
//! lines are cut at [`MAX_LINE`] bytes, an instance may write [`MAX_BYTES`] in all, and lines
//! beyond a burst of [`BURST_LINES`] flow at [`LINES_PER_SECOND`]. What is over is dropped,
//! and the first drop is itself logged once.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A longer line is logged cut, marked with `…`.
pub const MAX_LINE: usize = 1024;
/// Bytes one instance may write to the log, stdout and stderr together.
pub const MAX_BYTES: usize = 64 << 10;
/// Lines logged at once before the rate applies.
pub const BURST_LINES: f64 = 100.0;
/// Lines per second after the burst.
pub const LINES_PER_SECOND: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Stdout,
    Stderr,
}

/// What one instance may still log, shared by its stdout and stderr.
struct Budget {
    bytes_left: usize,
    tokens: f64,
    refilled: Instant,
    dropped: bool,
}

impl Budget {
    /// Whether a line of `len` bytes may be logged now.
    fn take(&mut self, len: usize) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * LINES_PER_SECOND;
        self.tokens = (self.tokens + earned).min(BURST_LINES);
        self.refilled = now;
        if self.tokens < 1.0 || self.bytes_left < len {
            return false;
        }
        self.tokens -= 1.0;
        self.bytes_left -= len;
        true
    }
}

/// One instance's stdout or stderr. Cloned by wasmtime for every stream the guest opens;
/// all clones share the instance's budget.
#[derive(Clone)]
pub struct GuestOutput {
    which: Which,
    ingress: Arc<str>,
    budget: Arc<Mutex<Budget>>,
}

impl GuestOutput {
    /// The stdout and stderr of one instance of `ingress`.
    pub fn pair(ingress: &str) -> (Self, Self) {
        let budget = Arc::new(Mutex::new(Budget {
            bytes_left: MAX_BYTES,
            tokens: BURST_LINES,
            refilled: Instant::now(),
            dropped: false,
        }));
        let ingress: Arc<str> = ingress.into();
        let stdout = Self {
            which: Which::Stdout,
            ingress: ingress.clone(),
            budget: budget.clone(),
        };
        (
            stdout,
            Self {
                which: Which::Stderr,
                ingress,
                budget,
            },
        )
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            output: self.clone(),
            span: tracing::Span::current(),
            lines: Lines::default(),
        })
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        // Only WASIp3 guests take this path, and Sluice runs WASIp2 components only.
        Box::new(tokio::io::sink())
    }
}

/// Collects bytes into lines and logs each complete one.
struct LineWriter {
    output: GuestOutput,
    /// The request the instance serves: the stream may outlive the call that opened it.
    span: tracing::Span,
    lines: Lines,
}

/// Splits written bytes into lines of at most [`MAX_LINE`] bytes, however the writes fall.
#[derive(Default)]
struct Lines {
    line: Vec<u8>,
    /// The current line was cut: the rest of it, up to its newline, is dropped.
    skipping: bool,
}

impl Lines {
    /// The lines `bytes` complete, each with whether it was cut.
    fn push(&mut self, bytes: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut done = Vec::new();
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let (body, ends) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            if self.skipping {
                self.skipping = !ends;
                continue;
            }
            let room = MAX_LINE - self.line.len();
            self.line.extend_from_slice(&body[..body.len().min(room)]);
            let cut = body.len() > room;
            if ends || cut {
                done.push((std::mem::take(&mut self.line), cut));
                self.skipping = cut && !ends;
            }
        }
        done
    }

    /// What is left without a newline.
    fn rest(&mut self) -> Option<Vec<u8>> {
        (!self.line.is_empty()).then(|| std::mem::take(&mut self.line))
    }
}

impl LineWriter {
    fn log(&mut self, line: &[u8], cut: bool) {
        let mut budget = self
            .output
            .budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !budget.take(line.len()) {
            if !std::mem::replace(&mut budget.dropped, true) {
                self.span.in_scope(|| {
                    tracing::warn!(
                        target: "sluice::guest",
                        ingress = %self.output.ingress,
                        "the component writes more than its log budget; dropping the rest"
                    );
                });
            }
            return;
        }
        drop(budget);
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        let marker = if cut { "…" } else { "" };
        let ingress = &*self.output.ingress;
        self.span.in_scope(|| match self.output.which {
            Which::Stdout => {
                tracing::info!(target: "sluice::guest", ingress, stream = "stdout", "{text}{marker}");
            }
            Which::Stderr => {
                tracing::warn!(target: "sluice::guest", ingress, stream = "stderr", "{text}{marker}");
            }
        });
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        for (line, cut) in self.lines.push(&bytes) {
            self.log(&line, cut);
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(usize::MAX)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl Drop for LineWriter {
    /// A last line without a newline (a panic message may lack one) is logged too.
    fn drop(&mut self) {
        if let Some(line) = self.lines.rest() {
            self.log(&line, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            bytes_left: MAX_BYTES,
            tokens: BURST_LINES,
            refilled: Instant::now(),
            dropped: false,
        }
    }

    fn text(lines: Vec<(Vec<u8>, bool)>) -> Vec<(String, bool)> {
        lines
            .into_iter()
            .map(|(line, cut)| (String::from_utf8(line).expect("UTF-8"), cut))
            .collect()
    }

    #[test]
    fn lines_are_whole_however_the_writes_fall() {
        let mut lines = Lines::default();
        assert!(lines.push(b"hel").is_empty());
        assert_eq!(text(lines.push(b"lo\nwor")), [("hello".into(), false)]);
        assert_eq!(
            text(lines.push(b"ld\n\nlast")),
            [("world".into(), false), (String::new(), false)]
        );
        assert_eq!(lines.rest().as_deref(), Some(&b"last"[..]));
        assert_eq!(lines.rest(), None);
    }

    #[test]
    fn a_long_line_is_cut_once_and_the_rest_of_it_dropped() {
        let mut lines = Lines::default();
        let long = vec![b'x'; MAX_LINE + 10];
        let cut = text(lines.push(&long));
        assert_eq!(cut, [("x".repeat(MAX_LINE), true)]);
        // More of the same line in later writes is dropped up to its newline.
        assert!(lines.push(&long).is_empty());
        assert_eq!(text(lines.push(b"yy\nnext\n")), [("next".into(), false)]);
        // A line of exactly the limit is not cut.
        let exact = [vec![b'z'; MAX_LINE], b"\n".to_vec()].concat();
        assert_eq!(text(lines.push(&exact)), [("z".repeat(MAX_LINE), false)]);
    }

    #[test]
    fn a_burst_is_logged_then_the_rate_applies() {
        let mut budget = budget();
        let taken = (0..1000).filter(|_| budget.take(10)).count();
        // The burst, plus whatever the rate earned while the loop ran.
        assert!((100..=101).contains(&taken), "{taken}");
    }

    #[test]
    fn the_byte_budget_caps_an_instance() {
        let mut budget = budget();
        assert!(budget.take(MAX_BYTES - 10));
        assert!(!budget.take(11));
        assert!(budget.take(10));
    }
}
