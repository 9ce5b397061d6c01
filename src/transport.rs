//! The core's HTTP requests sent through `wasi:http/outgoing-handler`.
//!
//! Two ways to send:
//! - `send` for the core's protocol requests: the whole response is read,
//!   up to the request's body limit, and handed back as an `HttpResponse`;
//! - `send_streaming` for `wrap-call`: the `incoming-response` comes back
//!   with its body unread, so the host can stream it (SSE). `head` reads
//!   what the core needs of its head without touching the body;
//!   `read_response` reads it whole when the caller needs the body after
//!   all (an error excerpt).
//!
//! Redirects are never followed: `wasi:http` does not follow them, and a 3xx
//! goes back to the caller like any other status. Nothing here panics; every
//! failure is a `TransportError`. Error texts name headers but never
//! header values or bodies, which may hold secrets.
//!
//! Resources are dropped child first (pollable before its stream, stream
//! before its body, body before its response), as `wasi:http` requires;
//! Rust drops locals in reverse order of declaration, which is that order.

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use crate::prelude::*;
use mcp_oauth_core::{HttpRequest, HttpResponse, TransportError, Url, WantedHeaders};
use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{self, Pollable};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// The `wasi:http` response resource that `send_streaming` returns and
/// `wrap-call` hands to the host.
pub use crate::bindings::wasi::http::types::IncomingResponse;

/// The most bytes written to the request body stream per `write` call.
const WRITE_CHUNK: usize = 4096;

/// The most bytes asked of the response body stream per `read` call.
const READ_CHUNK: u64 = 64 * 1024;

/// Sends one of the core's requests and reads the whole response.
///
/// `timeout_ms` limits connecting, waiting for the first response byte and
/// each pause between body bytes. A body longer than
/// `req.max_response_body` stops the read with
/// `TransportError::BodyTooLarge` as soon as the excess arrives.
pub fn send(req: &HttpRequest, timeout_ms: u32) -> Result<HttpResponse, TransportError> {
    let target = Target::parse(&req.url)?;
    let response = start(
        req.method.as_str(),
        &target,
        &[],
        &req.headers,
        &req.body,
        timeout_ms,
        Limits::AskHostAndGuard,
    )?;
    read_response(response, req.max_response_body, timeout_ms)
}

/// Sends a request described by the host and returns the response with its
/// body unread, for `wrap-call`.
///
/// `method` is passed through as given (an unknown one as
/// `method::other`). The request carries the caller's `headers` with
/// `ours` (the core's `authorization`, `dpop`) in place of any of the same
/// names. Header names or values that `wasi:http` refuses
/// (forbidden names such as `host` or `connection`, invalid syntax) fail the
/// call with an error naming the header.
///
/// No `request-options` are handed to the host: on wasmtime 48 they cost
/// every call more than a timer (measured: 1.4 µs of a 21 µs loopback
/// call) and the host never frees them (some 250 bytes a call). Each wait
/// for room in the request body stream has the limit `timeout_ms`. The
/// wait for the response head (connecting and the first byte) is limited
/// here to `2 × timeout_ms`, unless `host_limits_head`: the host limits it
/// (configuration `host-timeouts`), and a `block` on the response serves
/// without the timer and the poll that cost some 1 µs a call. No limit
/// between body bytes is asked for: an event stream may rightly stay quiet
/// for long, and the host reads the body at its own pace (its default
/// applies; wasmtime's is 600 s).
pub fn send_streaming(
    method: &str,
    target: &Target,
    headers: &[(String, Vec<u8>)],
    ours: &[(String, String)],
    body: &[u8],
    timeout_ms: u32,
    host_limits_head: bool,
) -> Result<IncomingResponse, TransportError> {
    let limits = if host_limits_head {
        Limits::Host
    } else {
        Limits::Guard
    };
    start(method, target, headers, ours, body, timeout_ms, limits)
}

/// Who limits the wait for a response head (connecting and the first
/// byte). Each wait for room in the request body stream is limited here
/// whatever this says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limits {
    /// The core's requests: the host is asked (`request-options`) to limit
    /// connecting, the first byte and each pause within the body to the
    /// timeout, and the wait for the head is limited here too (a host may
    /// refuse options).
    AskHostAndGuard,
    /// Limited here to twice the timeout; no options.
    Guard,
    /// The host limits it by itself (`host-timeouts`); no options, no timer.
    Host,
}

/// The head of a response as `wrap-call`'s call needs it: the status, and
/// of the headers only those `wanted` — all `WWW-Authenticate` values that
/// are UTF-8 joined with ", " (RFC 9110 §5.3), the first `DPoP-Nonce`
/// value. Nothing else is copied into the component (a Bearer call's 200
/// copies no header at all); the body is not touched.
pub fn head(
    response: &IncomingResponse,
    wanted: impl FnOnce(u16) -> WantedHeaders,
) -> (u16, Option<String>, Option<String>) {
    let status = response.status();
    let wanted = wanted(status);
    if !wanted.www_authenticate && !wanted.dpop_nonce {
        return (status, None, None);
    }
    let headers = response.headers();
    let mut challenge: Option<String> = None;
    let lines = if wanted.www_authenticate {
        headers.get("www-authenticate")
    } else {
        Vec::new()
    };
    for line in lines.into_iter().filter_map(|v| String::from_utf8(v).ok()) {
        match &mut challenge {
            Some(text) => {
                text.push_str(", ");
                text.push_str(&line);
            }
            None => challenge = Some(line),
        }
    }
    let nonce = if wanted.dpop_nonce {
        headers
            .get("dpop-nonce")
            .into_iter()
            .next()
            .and_then(|v| String::from_utf8(v).ok())
    } else {
        None
    };
    drop(headers);
    (status, challenge, nonce)
}

/// Reads a response whole: status, headers in order, and the body up to
/// `max_body` bytes (`TransportError::BodyTooLarge` beyond that).
/// `timeout_ms` limits each pause between body bytes.
pub fn read_response(
    response: IncomingResponse,
    max_body: usize,
    timeout_ms: u32,
) -> Result<HttpResponse, TransportError> {
    let status = response.status();
    let fields = response.headers();
    let headers = fields.entries();
    drop(fields);
    let body = response
        .consume()
        .map_err(|()| failed("the response body was already taken"))?;
    let content = {
        let stream = body
            .stream()
            .map_err(|()| failed("the response body stream was already taken"))?;
        read_body(&stream, max_body, nanos(timeout_ms))?
    };
    // The trailers are of no interest; finishing just releases the body.
    drop(IncomingBody::finish(body));
    drop(response);
    Ok(HttpResponse {
        status,
        headers,
        body: content,
    })
}

/// Builds and sends a request (`headers` with `ours`, as
/// `send_streaming` says), writes its body, and waits for the response
/// head, limited as `limits` says.
fn start(
    method: &str,
    target: &Target,
    headers: &[(String, Vec<u8>)],
    ours: &[(String, String)],
    body: &[u8],
    timeout_ms: u32,
    limits: Limits,
) -> Result<IncomingResponse, TransportError> {
    let method = wasi_method(method);
    // A known length lets the request go out with `Content-Length` instead
    // of chunked encoding, which some servers reject (RFC 9110 §8.6).
    let length = (!body.is_empty() || defines_content(&method)).then_some(body.len());
    let fields = fields(headers, ours, length)?;

    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method)
        .map_err(|()| failed("the HTTP method was refused"))?;
    request
        .set_scheme(Some(&target.scheme))
        .map_err(|()| failed("the URL scheme was refused"))?;
    request
        .set_authority(Some(&target.authority))
        .map_err(|()| failed("the URL authority was refused"))?;
    request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| failed("the URL path was refused"))?;
    let outgoing_body = request
        .body()
        .map_err(|()| failed("the request body was refused"))?;

    let timeout = nanos(timeout_ms);
    let options = (limits == Limits::AskHostAndGuard).then(|| {
        let options = RequestOptions::new();
        // A host that does not support an option refuses it; the guards
        // below still bound every wait.
        let _ = options.set_connect_timeout(Some(timeout));
        let _ = options.set_first_byte_timeout(Some(timeout));
        let _ = options.set_between_bytes_timeout(Some(timeout));
        options
    });

    // Handle first, then write: the host may buffer only a little of the
    // body before the request is under way.
    let future = outgoing_handler::handle(request, options).map_err(|e| error_code(&e))?;
    let written = if body.is_empty() {
        Ok(())
    } else {
        write_body(&outgoing_body, body, timeout, limits == Limits::Host)
    };
    let sent = written
        .and_then(|()| OutgoingBody::finish(outgoing_body, None).map_err(|e| error_code(&e)));
    // Connecting and the first byte each have `timeout`.
    let guard = (limits != Limits::Host).then(|| timeout.saturating_mul(2));
    match sent {
        Ok(()) => await_response(&future, guard),
        Err(TransportError::TimedOut) => Err(TransportError::TimedOut),
        // The body did not go out whole. A server may answer before it has
        // read the body (a 413, a 401 from a front end) and close the
        // connection: its answer stands. When the request itself failed
        // (connection refused, DNS, ...) that is the cause worth reporting.
        Err(body_error) => match await_response(&future, guard) {
            Ok(response) => Ok(response),
            Err(cause @ TransportError::Failed(_)) => Err(cause),
            Err(_) => Err(body_error),
        },
    }
}

/// The request's header fields, made with one `fields.from-list` call (not
/// one `append` per header): `headers` less those `ours` replace, then
/// `ours`, then `content-length: length` unless `headers` has one. The
/// list borrows every name and value (the bindings of `wasi:http` are
/// generated to take borrowed lists); a refused list is searched for the
/// header to name in the error.
fn fields(
    headers: &[(String, Vec<u8>)],
    ours: &[(String, String)],
    length: Option<usize>,
) -> Result<Fields, TransportError> {
    let replaced = |name: &str| ours.iter().any(|(o, _)| name.eq_ignore_ascii_case(o));
    let is_length = |name: &str| name.eq_ignore_ascii_case("content-length");
    let mut has_length = ours.iter().any(|(name, _)| is_length(name));
    let mut list: Vec<(&str, &[u8])> = Vec::with_capacity(headers.len() + ours.len() + 1);
    for (name, value) in headers {
        if !replaced(name) {
            has_length |= is_length(name);
            list.push((name, value));
        }
    }
    list.extend(
        ours.iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let mut digits = itoa::Buffer::new();
    if let Some(length) = length.filter(|_| !has_length) {
        list.push(("content-length", digits.format(length).as_bytes()));
    }
    Fields::from_list(&list).map_err(|error| {
        // Which one: each alone, as `append` takes them.
        let probe = Fields::new();
        let culprit = list
            .iter()
            .find_map(|&(name, value)| probe.append(name, value).err().map(|e| (name, e)));
        match culprit {
            Some((name, e)) => header_refused(name, e),
            None => failed(format!("request headers refused: {}", refusal(error))),
        }
    })
}

/// Writes `data` to the request body (`write_all`; `trusting` the host's
/// own limits with a small body, as `write_all` says).
fn write_body(
    body: &OutgoingBody,
    data: &[u8],
    timeout: u64,
    trusting: bool,
) -> Result<(), TransportError> {
    let stream = body
        .write()
        .map_err(|()| failed("the request body stream was already taken"))?;
    write_all(&stream, data, timeout, trusting)
}

/// Writes `data` in pieces of at most `WRITE_CHUNK` bytes, each no larger
/// than the room `check-write` reports (so no `write` blocks), then
/// flushes; every wait — for room, for the flush — has the time limit
/// `timeout`, so a connection that stops taking the body fails the request
/// instead of blocking it. The one exception, below, is a small body's
/// flush when `trusting` a host that promised its own limits
/// (`host-timeouts`).
///
/// `trusting`, a body that fits, whole, in the room `check-write` reports
/// (an MCP message, at most `WRITE_CHUNK` bytes) goes out with one
/// `blocking-write-and-flush`: with the room there and nothing written
/// before, its only wait is for the stream to pass on bytes it has just
/// taken (wasmtime's hands them to hyper's channel, which has room left,
/// and does not wait at all), so two host calls serve where check, write,
/// flush and check took four. That the flush does not wait for the server
/// is how wasmtime's host works, not what `wasi:io` promises: a host whose
/// flush waited for the peer would hold the request as long as its own
/// limits let it, hence only when trusting them. A larger body never uses
/// it: its last piece could find the channel full of earlier ones, and
/// that wait has no limit (wasmtime's lasts until the server reads).
///
/// A closed stream ends the writing without an error: the host closes it
/// when the declared `Content-Length` is complete, and also when the
/// connection failed. `finish` and the response then tell which.
fn write_all(
    stream: &OutputStream,
    mut data: &[u8],
    timeout: u64,
    trusting: bool,
) -> Result<(), TransportError> {
    let whole = data.len();
    // Subscribed only when there is a wait; dropped before the stream.
    let mut ready: Option<Pollable> = None;
    let mut flushed = false;
    loop {
        let budget = match stream.check_write() {
            Ok(budget) => budget,
            Err(StreamError::Closed) => return Ok(()),
            Err(e) => return Err(write_failed(e)),
        };
        if budget == 0 {
            // No room yet, or the flush is not done (check-write says 0
            // until it is).
            wait(ready.get_or_insert_with(|| stream.subscribe()), timeout)?;
            continue;
        }
        if flushed {
            return Ok(());
        }
        if trusting
            && data.len() == whole
            && data.len() <= WRITE_CHUNK
            && data.len() as u64 <= budget
        {
            return match stream.blocking_write_and_flush(data) {
                Ok(()) | Err(StreamError::Closed) => Ok(()),
                Err(e) => Err(write_failed(e)),
            };
        }
        let n = data
            .len()
            .min(WRITE_CHUNK)
            .min(usize::try_from(budget).unwrap_or(usize::MAX));
        let mut result = stream.write(&data[..n]);
        data = &data[n..];
        if result.is_ok() && data.is_empty() {
            flushed = true;
            result = stream.flush();
        }
        match result {
            Ok(()) => {}
            Err(StreamError::Closed) => return Ok(()),
            Err(e) => return Err(write_failed(e)),
        }
    }
}

/// Waits for the response head, at most `guard` nanoseconds; without a
/// guard as long as the host lets it (its own limits apply).
fn await_response(
    future: &FutureIncomingResponse,
    guard: Option<u64>,
) -> Result<IncomingResponse, TransportError> {
    {
        let ready = future.subscribe();
        match guard {
            Some(guard) => wait(&ready, guard)?,
            None => ready.block(),
        }
    }
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(error_code(&code)),
        Some(Err(())) => Err(failed("the response was already taken")),
        None => Err(failed("the response was not ready")),
    }
}

/// Reads the body stream to its end, failing as soon as more than `max`
/// bytes arrive or when the whole read (any pause included) lasts longer
/// than `timeout` nanoseconds: a server that sends one byte just before a
/// per-pause limit would run out cannot stretch a read for ever.
fn read_body(stream: &InputStream, max: usize, timeout: u64) -> Result<Vec<u8>, TransportError> {
    let ready = stream.subscribe();
    let deadline = monotonic_clock::now().saturating_add(timeout);
    let mut body = Vec::new();
    loop {
        if monotonic_clock::now() >= deadline {
            return Err(TransportError::TimedOut);
        }
        // Ask for one byte beyond the limit at most, to notice an excess.
        let room = (max - body.len()).saturating_add(1);
        let want = READ_CHUNK.min(u64::try_from(room).unwrap_or(u64::MAX));
        match stream.read(want) {
            Ok(chunk) if chunk.is_empty() => wait_until(&ready, deadline)?,
            Ok(chunk) => {
                if chunk.len() > max - body.len() {
                    return Err(TransportError::BodyTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(
                    match crate::bindings::wasi::http::types::http_error_code(&e) {
                        Some(code) => error_code(&code),
                        None => failed(format!(
                            "reading the response body failed: {}",
                            e.to_debug_string()
                        )),
                    },
                )
            }
        }
    }
}

/// Blocks until `pollable` is ready, or fails with
/// `TransportError::TimedOut` after `timeout` nanoseconds.
fn wait(pollable: &Pollable, timeout: u64) -> Result<(), TransportError> {
    wait_until(pollable, monotonic_clock::now().saturating_add(timeout))
}

/// Blocks until `pollable` is ready, or fails with
/// `TransportError::TimedOut` at the monotonic instant `deadline`.
fn wait_until(pollable: &Pollable, deadline: u64) -> Result<(), TransportError> {
    // No `ready()` first: every caller waits because it found nothing to
    // do, so the pollable is rarely ready, and `poll` returns at once if it is.
    let timer = monotonic_clock::subscribe_instant(deadline);
    if poll::poll(&[pollable, &timer]).contains(&0) {
        Ok(())
    } else {
        Err(TransportError::TimedOut)
    }
}

/// The parts of an absolute `http`/`https` URL that `wasi:http` wants.
pub struct Target {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

impl Target {
    /// The parts of `url` a request names, read with the core's URL type:
    /// scheme, `host[:port]`, and path and query (the fragment is never
    /// sent). User info in the authority is refused.
    pub fn parse(url: &str) -> Result<Target, TransportError> {
        let url = Url::parse(url).map_err(|e| failed(format!("invalid URL: {e}")))?;
        if url.has_userinfo() {
            return Err(failed("URLs with user info are not supported"));
        }
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_string()),
        };
        Ok(Target {
            scheme,
            authority: url.host_and_port(),
            path_with_query: url.origin_form(),
        })
    }
}

/// The `wasi:http` method for `name`; unknown methods pass through as
/// `other`. Methods are case-sensitive (RFC 9110 §9.1).
fn wasi_method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// Whether a request with this method carries content even when it is
/// empty, so that it should say `Content-Length: 0`.
fn defines_content(method: &Method) -> bool {
    matches!(method, Method::Post | Method::Put | Method::Patch)
}

/// Nanoseconds in `ms` milliseconds.
fn nanos(ms: u32) -> u64 {
    u64::from(ms) * 1_000_000
}

fn failed(message: impl Into<String>) -> TransportError {
    TransportError::Failed(message.into())
}

/// A refused header, named (escaped) but without its value.
fn header_refused(name: &str, error: HeaderError) -> TransportError {
    failed(format!(
        "request header {name:?} refused: {}",
        refusal(error)
    ))
}

/// Why `wasi:http` refused a header.
fn refusal(error: HeaderError) -> &'static str {
    match error {
        HeaderError::InvalidSyntax => "invalid syntax",
        HeaderError::Forbidden => "forbidden by the host",
        HeaderError::Immutable => "headers are immutable",
    }
}

/// A failed body write, with the `wasi:http` error code when there is one.
fn write_failed(error: StreamError) -> TransportError {
    match error {
        StreamError::Closed => failed("the connection closed while sending the request body"),
        StreamError::LastOperationFailed(e) => {
            match crate::bindings::wasi::http::types::http_error_code(&e) {
                Some(code) => error_code(&code),
                None => failed(format!(
                    "sending the request body failed: {}",
                    e.to_debug_string()
                )),
            }
        }
    }
}

/// Maps a `wasi:http` error code: the connect, read, write and first-byte
/// timeouts become `TransportError::TimedOut`, everything else a
/// described `TransportError::Failed`.
fn error_code(code: &ErrorCode) -> TransportError {
    let (text, detail): (&str, Option<&str>) = match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => return TransportError::TimedOut,
        ErrorCode::DnsTimeout => ("DNS lookup timed out", None),
        ErrorCode::DnsError(p) => ("DNS lookup failed", p.rcode.as_deref()),
        ErrorCode::DestinationNotFound => ("destination not found", None),
        ErrorCode::DestinationUnavailable => ("destination unavailable", None),
        ErrorCode::DestinationIpProhibited => ("destination IP address prohibited", None),
        ErrorCode::DestinationIpUnroutable => ("destination IP address unroutable", None),
        ErrorCode::ConnectionRefused => ("connection refused", None),
        ErrorCode::ConnectionTerminated => ("connection terminated", None),
        ErrorCode::ConnectionLimitReached => ("connection limit reached", None),
        ErrorCode::TlsProtocolError => ("TLS protocol error", None),
        ErrorCode::TlsCertificateError => ("TLS certificate error", None),
        ErrorCode::TlsAlertReceived(p) => ("TLS alert received", p.alert_message.as_deref()),
        ErrorCode::HttpRequestDenied => ("request denied by the host", None),
        ErrorCode::HttpRequestLengthRequired => ("request length required", None),
        ErrorCode::HttpRequestBodySize(_) => ("request body size mismatch or too large", None),
        ErrorCode::HttpRequestMethodInvalid => ("invalid request method", None),
        ErrorCode::HttpRequestUriInvalid => ("invalid request URL", None),
        ErrorCode::HttpRequestUriTooLong => ("request URL too long", None),
        ErrorCode::HttpRequestHeaderSectionSize(_) => ("request headers too large", None),
        ErrorCode::HttpRequestHeaderSize(p) => (
            "request header too large",
            p.as_ref().and_then(|p| p.field_name.as_deref()),
        ),
        ErrorCode::HttpRequestTrailerSectionSize(_) | ErrorCode::HttpRequestTrailerSize(_) => {
            ("request trailers too large", None)
        }
        ErrorCode::HttpResponseIncomplete => ("incomplete response", None),
        ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => {
            ("response headers too large", None)
        }
        ErrorCode::HttpResponseBodySize(_) => ("response body size mismatch", None),
        ErrorCode::HttpResponseTrailerSectionSize(_) | ErrorCode::HttpResponseTrailerSize(_) => {
            ("response trailers too large", None)
        }
        ErrorCode::HttpResponseTransferCoding(_) => ("bad response transfer coding", None),
        ErrorCode::HttpResponseContentCoding(_) => ("bad response content coding", None),
        ErrorCode::HttpUpgradeFailed => ("HTTP upgrade failed", None),
        ErrorCode::HttpProtocolError => ("HTTP protocol error", None),
        ErrorCode::LoopDetected => ("loop detected", None),
        ErrorCode::ConfigurationError => ("host configuration error", None),
        ErrorCode::InternalError(d) => ("host internal error", d.as_deref()),
    };
    let mut message = text.to_string();
    if let Some(detail) = detail {
        message.push_str(": ");
        message.push_str(detail);
    }
    TransportError::Failed(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, String, String) {
        let t = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let scheme = match t.scheme {
            Scheme::Http => "http".to_string(),
            Scheme::Https => "https".to_string(),
            Scheme::Other(s) => s,
        };
        (scheme, t.authority, t.path_with_query)
    }

    #[test]
    fn splits_urls() {
        let p = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            parts("https://as.example.com/.well-known/oauth-authorization-server/t1?x=1#frag"),
            p(
                "https",
                "as.example.com",
                "/.well-known/oauth-authorization-server/t1?x=1"
            )
        );
        assert_eq!(
            parts("http://127.0.0.1:8080"),
            p("http", "127.0.0.1:8080", "/")
        );
        assert_eq!(parts("HTTP://[::1]:9?q"), p("http", "[::1]:9", "/?q"));
        assert_eq!(parts("ftp://h/x"), p("ftp", "h", "/x"));
    }

    #[test]
    fn refuses_bad_urls() {
        for url in [
            "/relative",
            "https:///path",
            "https://user:pw@host/",
            "host",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn methods_pass_through() {
        assert!(matches!(wasi_method("GET"), Method::Get));
        assert!(matches!(wasi_method("PATCH"), Method::Patch));
        assert!(matches!(wasi_method("PROPFIND"), Method::Other(m) if m == "PROPFIND"));
        assert!(matches!(wasi_method("get"), Method::Other(m) if m == "get"));
    }

    #[test]
    fn timeouts_map_to_timed_out() {
        for code in [
            ErrorCode::ConnectionTimeout,
            ErrorCode::ConnectionReadTimeout,
            ErrorCode::ConnectionWriteTimeout,
            ErrorCode::HttpResponseTimeout,
        ] {
            assert_eq!(error_code(&code), TransportError::TimedOut);
        }
        assert_eq!(
            error_code(&ErrorCode::ConnectionRefused),
            TransportError::Failed("connection refused".into())
        );
    }
}
