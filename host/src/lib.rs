//! Sluice: WebAssembly components served as HTTP endpoints and Server-Sent-Events streams.
