//! `"Hello world"` as JSON for every request: what the demo's `hello` answers in JSON mode,
//! written against wasi:http directly so `wasmtime serve` can run it.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const BODY: &[u8] = b"\"Hello world\"";

struct Hello;

impl Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::from_list(&[
            ("content-type".into(), b"application/json".to_vec()),
            ("content-length".into(), BODY.len().to_string().into_bytes()),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body is taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("the stream is taken once");
        stream
            .blocking_write_and_flush(BODY)
            .expect("the client takes 13 bytes");
        drop(stream);
        OutgoingBody::finish(body, None).expect("the whole body was written");
    }
}

wasi::http::proxy::export!(Hello);
