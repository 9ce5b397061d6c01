//! The pass-through component of the hot-path benchmark: `call` sends the
//! request through `wasi:http/outgoing-handler` the simplest way — fields,
//! method, scheme, authority, path, `handle`, write the body, finish, wait
//! for the response head — and returns the response with its body unread,
//! as `wrap-call` does. No authorization, no timeouts, no checks beyond
//! what `wasi:http` refuses. Only the wasm32 build has content.

// The generated bindings and `export!` are unsafe code (the canonical ABI).
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component {
    wit_bindgen::generate!({
        world: "bench:passthrough/bench-passthrough",
        path: ["../../wit", "wit"],
        with: {
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        },
    });

    use exports::bench::passthrough::passthrough::{Guest, HttpRequest};
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
    };

    /// The most bytes `blocking-write-and-flush` takes at once.
    const WRITE_CHUNK: usize = 4096;

    struct Component;

    impl Guest for Component {
        fn call(request: HttpRequest) -> Result<IncomingResponse, String> {
            let (scheme, rest) = match request.url.split_once("://") {
                Some(("http", rest)) => (Scheme::Http, rest),
                Some(("https", rest)) => (Scheme::Https, rest),
                _ => return Err(format!("not an http(s) URL: {}", request.url)),
            };
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, "/"),
            };
            let method = match request.method.as_str() {
                "GET" => Method::Get,
                "POST" => Method::Post,
                "PUT" => Method::Put,
                "DELETE" => Method::Delete,
                other => Method::Other(other.to_string()),
            };

            let fields = Fields::new();
            for (name, value) in &request.headers {
                fields
                    .append(name, value)
                    .map_err(|e| format!("header {name}: {e:?}"))?;
            }
            fields
                .append("content-length", request.body.len().to_string().as_bytes())
                .map_err(|e| format!("content-length: {e:?}"))?;
            let outgoing = OutgoingRequest::new(fields);
            let refused = |what: &str| format!("the {what} was refused");
            outgoing
                .set_method(&method)
                .map_err(|()| refused("method"))?;
            outgoing
                .set_scheme(Some(&scheme))
                .map_err(|()| refused("scheme"))?;
            outgoing
                .set_authority(Some(authority))
                .map_err(|()| refused("authority"))?;
            outgoing
                .set_path_with_query(Some(path))
                .map_err(|()| refused("path"))?;
            let body = outgoing.body().map_err(|()| refused("body"))?;

            let future = outgoing_handler::handle(outgoing, None).map_err(|e| format!("{e:?}"))?;
            {
                let stream = body.write().map_err(|()| refused("body stream"))?;
                for chunk in request.body.chunks(WRITE_CHUNK) {
                    stream
                        .blocking_write_and_flush(chunk)
                        .map_err(|e| format!("writing the body: {e:?}"))?;
                }
            }
            OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;

            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(response))) => Ok(response),
                Some(Ok(Err(e))) => Err(format!("{e:?}")),
                Some(Err(())) => Err("the response was already taken".into()),
                None => Err("no response after block()".into()),
            }
        }
    }

    export!(Component);
}
