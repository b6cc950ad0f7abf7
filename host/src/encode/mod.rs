//! Encode: what a component yields, turned into bytes for the client. Pure code.

pub mod cut;
pub mod error;
pub mod json;
pub mod keepalive;
pub mod sse;
