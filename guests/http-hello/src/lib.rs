//! `http-hello`: the plainest `wasi:http/proxy` component. It imports
//! nothing of wasm-sendfile's, and shows that `wasm-sendfile http` runs
//! ordinary `wasi:http` components unchanged: a streamed body (no
//! `content-length`, so chunked), and the request's method, path and body
//! echoed back.

use std::io::{Read as _, Write as _};
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasi::http::proxy::export!(Hello);

struct Hello;

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".to_string(),
            Method::Post => "POST".to_string(),
            Method::Put => "PUT".to_string(),
            Method::Delete => "DELETE".to_string(),
            Method::Other(m) => m,
            other => format!("{other:?}").to_ascii_uppercase(),
        };
        let path = request.path_with_query().unwrap_or_default();
        let mut received = Vec::new();
        let mut broken = false;
        if let Ok(body) = request.consume()
            && let Ok(mut stream) = body.stream()
        {
            broken = stream.read_to_end(&mut received).is_err();
        }
        let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
            .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        let mut stream = body.write().expect("the body's stream, once");
        let text = format!(
            "hello from wasi:http\n{method} {path}\nbody: {} bytes{}\n",
            received.len(),
            if broken { " (cut short)" } else { "" }
        );
        let _ = stream.write_all(text.as_bytes());
        let _ = stream.write_all(&received);
        let _ = stream.flush();
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}
