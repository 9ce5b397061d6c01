//! HTTP over `wasi:http`: the user agent's GET requests, and reading the
//! body of any `incoming-response` (also those `wrap-call` returns).

use anyhow::{anyhow, bail};
use url::Url;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Time limit for connecting, for the first byte and between bytes.
const TIMEOUT_NS: u64 = 30_000_000_000;

/// A response read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// The first value of header `name` (any case) in `headers`, as text.
pub fn header(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// `GET url` with `headers`, no body, redirects not followed (`wasi:http`
/// never follows them); the body is read up to `limit` bytes.
pub fn get(url: &Url, headers: &[(String, String)], limit: usize) -> anyhow::Result<Response> {
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => bail!("{other}: is not an HTTP scheme"),
    };
    let host = url.host_str().ok_or_else(|| anyhow!("no host"))?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields).map_err(|e| anyhow!("a header was refused: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let set = [
        request.set_method(&Method::Get),
        request.set_scheme(Some(&scheme)),
        request.set_authority(Some(&authority)),
        request.set_path_with_query(Some(path)),
    ];
    if set.iter().any(Result::is_err) {
        bail!("the request could not be built");
    }
    let body = request
        .body()
        .map_err(|()| anyhow!("the request has no body"))?;
    let options = RequestOptions::new();
    // A host that does not support a limit keeps its own.
    let _ = options.set_connect_timeout(Some(TIMEOUT_NS));
    let _ = options.set_first_byte_timeout(Some(TIMEOUT_NS));
    let _ = options.set_between_bytes_timeout(Some(TIMEOUT_NS));
    let pending = outgoing_handler::handle(request, Some(options))
        .map_err(|e| anyhow!("the request was refused: {e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| anyhow!("the request failed: {e:?}"))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => bail!("{e:?}"),
        Some(Err(())) | None => bail!("no response"),
    };
    let status = response.status();
    let headers = response.headers().entries();
    let body = read_body(&response, limit)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Reads the body of `response` to its end; more than `limit` bytes is an
/// error.
pub fn read_body(response: &IncomingResponse, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    read_chunks(response, |chunk| {
        out.extend_from_slice(chunk);
        if out.len() > limit {
            bail!("the response body is larger than {limit} bytes");
        }
        Ok(false)
    })?;
    Ok(out)
}

/// Reads the body of `response` chunk by chunk, giving each to `each`, until
/// the body ends or `each` returns true (enough read).
pub fn read_chunks(
    response: &IncomingResponse,
    mut each: impl FnMut(&[u8]) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let body = response
        .consume()
        .map_err(|()| anyhow!("the response body was already taken"))?;
    // The stream is the body's child: it is dropped first (locals drop in
    // reverse order).
    let stream = body
        .stream()
        .map_err(|()| anyhow!("the response body has no stream"))?;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if each(&chunk)? {
                    return Ok(());
                }
            }
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(e)) => {
                bail!("reading the response body: {}", e.to_debug_string())
            }
        }
    }
}
