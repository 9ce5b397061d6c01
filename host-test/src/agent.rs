//! User agents: who visits the authorization URL.
//!
//! - [`follow_headless`] follows the redirects itself, for servers that
//!   consent without a person (the mocks, oidc-provider's dev interactions).
//! - [`LoopbackListener`] waits on 127.0.0.1 for the browser a person used.
//!
//! Both speak HTTP through [`crate::net`].

use crate::net::{http_request, OutgoingRequest};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mcp_oauth_user_agent::Headless;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

// ---------------------------------------------------------------------------
// Headless redirect following

/// Completes an authorization URL without a browser, for servers that
/// consent without a person: the decisions are `mcp_oauth_user_agent`'s
/// (cookies per host, each `Location` followed until one names
/// `redirect_uri`, at most 20 hops; a page, an error status, a loop or a
/// non-http(s) URL is an error naming the URL); this sends its GETs over
/// HTTP(S) with [`crate::net`] (redirects off, no `Authorization` header,
/// 30 s per request) and returns the callback URL.
pub async fn follow_headless(
    authorization_url: &str,
    redirect_uri: &str,
) -> anyhow::Result<String> {
    let mut agent = Headless::new(authorization_url, redirect_uri)?;
    loop {
        let get = agent.request()?;
        let response = http_request(OutgoingRequest {
            method: "GET".to_string(),
            url: get.url,
            headers: get.headers,
            body: Vec::new(),
        })
        .await
        .with_context(|| format!("GET {}", get.shown))?;
        if let Some(callback) =
            agent.response(response.status, &response.headers, &response.body)?
        {
            return Ok(callback);
        }
    }
}

// ---------------------------------------------------------------------------
// Loopback redirect listener

const DONE_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Authorization complete</title></head><body>\
<h1>Authorization complete</h1><p>You can close this window.</p></body></html>\n";

/// A loopback port held for a redirect URI from the moment the URI is
/// configured until the process ends (security review finding 8: the port
/// used to be found by binding and releasing it, so another local process
/// could take it before the flow). Between flows the socket is bound but not
/// listening: the port is ours, and a connection to it is refused, so the
/// listener is open only while a flow waits for its redirect (checklist 73).
#[derive(Clone)]
pub struct LoopbackPort {
    port: u16,
    held: Arc<Mutex<Option<TcpSocket>>>,
}

impl std::fmt::Debug for LoopbackPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackPort")
            .field("port", &self.port)
            .finish()
    }
}

impl LoopbackPort {
    /// Binds 127.0.0.1:`port` (0 = a free one) without listening, so that no
    /// other socket can bind the port while it is held.
    pub fn reserve(port: u16) -> anyhow::Result<LoopbackPort> {
        let socket = hold(port)?;
        let port = socket.local_addr()?.port();
        Ok(LoopbackPort {
            port,
            held: Arc::new(Mutex::new(Some(socket))),
        })
    }

    /// The port held.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening on the held port for redirects to `path` (e.g.
    /// "/callback"). A port whose hold was spent by an earlier flow is bound
    /// again; if another process has taken it meanwhile, that is an error
    /// that names the port.
    pub fn listen(&self, path: &str) -> anyhow::Result<LoopbackListener> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            bail!("the callback path {path:?} must start with / and have no query or fragment");
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        let socket = match held {
            Some(socket) => socket,
            None => hold(self.port)?,
        };
        // Listening, the port is exclusive whatever the flag; the flag is
        // what lets the next hold bind it while the connections this
        // listener closed are in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        let listener = socket.listen(8).with_context(|| {
            format!(
                "listening on 127.0.0.1:{} for the authorization redirect",
                self.port
            )
        })?;
        Ok(LoopbackListener {
            listener,
            port: self.port,
            path: path.to_string(),
        })
    }

    /// [`LoopbackPort::listen`] for the path of `redirect_uri`, which must be
    /// `http://127.0.0.1:<this port>/…`.
    pub fn listen_for(&self, redirect_uri: &str) -> anyhow::Result<LoopbackListener> {
        let url = Url::parse(redirect_uri)
            .ok()
            .filter(|u| {
                u.scheme() == "http"
                    && u.host_str() == Some("127.0.0.1")
                    && u.port() == Some(self.port)
            })
            .ok_or_else(|| {
                anyhow!(
                    "the redirect URI {redirect_uri} is not http://127.0.0.1:{}/…",
                    self.port
                )
            })?;
        self.listen(url.path())
    }

    /// Holds the port again after a flow (bound, not listening), so that a
    /// second flow in the same process finds it. Best effort: if it cannot
    /// be bound now, [`Self::listen`] tries again and reports why.
    pub fn hold_again(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none() {
            *held = hold(self.port).ok();
        }
    }
}

/// A TCP socket bound to 127.0.0.1:`port` and not listening. It binds with
/// `SO_REUSEADDR` (an earlier run's closed callback connections may still be
/// in TIME_WAIT on a registered port) and clears the flag once bound. What
/// that guarantees on Linux: no other socket can *listen* on the port (a
/// socket without the flag refuses to share it), and one without
/// `SO_REUSEADDR` cannot even bind it; a socket with the flag may still
/// bind, but its `listen` fails. The `state` check of the listener covers
/// the short moment between a flow's end and the next hold.
fn hold(port: u16) -> anyhow::Result<TcpSocket> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let socket = TcpSocket::new_v4().context("creating a loopback socket")?;
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("binding {addr} for the authorization redirect"))?;
    socket.set_reuseaddr(false)?;
    Ok(socket)
}

/// A loopback redirect listener for interactive use: bound to 127.0.0.1 only.
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
    path: String,
}

impl LoopbackListener {
    /// Binds 127.0.0.1:`port` (0 = ephemeral) and listens for redirects to
    /// `path` (e.g. "/callback").
    pub async fn bind(port: u16, path: &str) -> anyhow::Result<LoopbackListener> {
        LoopbackPort::reserve(port)?.listen(path)
    }

    /// The redirect URI to register and send: `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Waits for the GET to the callback path whose `state` is `state` (the
    /// pending authorization's), answers it with a small static HTML page
    /// ("Authorization complete, you can close this window" — no scripts, no
    /// echo of query values), and returns the full callback URL
    /// (http://127.0.0.1:PORT/callback?...). Any other request — another
    /// path, or a callback with another or no `state`, which any local
    /// process could send first (security review finding 8) — gets an error
    /// page and is ignored. Gives up after `timeout` with an error that says
    /// so.
    pub async fn wait(self, timeout: Duration, state: &str) -> anyhow::Result<String> {
        let redirect_uri = self.redirect_uri();
        let origin = format!("http://127.0.0.1:{}", self.port);
        let (tx, mut rx) = mpsc::channel::<String>(1);
        let mut connections = JoinSet::new();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                Some(url) = rx.recv() => return Ok(url),
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let tx = tx.clone();
                    let path = self.path.clone();
                    let origin = origin.clone();
                    let state = state.to_string();
                    connections.spawn(serve_callback(stream, path, origin, state, tx));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = &mut deadline => bail!(
                    "no authorization redirect reached {redirect_uri} within {} s; giving up",
                    timeout.as_secs_f64()
                ),
            }
        }
    }
}

/// Serves one connection (no keep-alive); once the response to a callback
/// has been written, hands the callback URL over.
async fn serve_callback(
    stream: TcpStream,
    path: String,
    origin: String,
    state: String,
    tx: mpsc::Sender<String>,
) {
    let captured: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let slot = captured.clone();
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let slot = slot.clone();
        let path = path.clone();
        let origin = origin.clone();
        let state = state.clone();
        async move {
            let is_callback = req.uri().path() == path;
            let ours = req.uri().query().is_some_and(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .any(|(n, v)| n == "state" && v == state.as_str())
            });
            let response = if is_callback && req.method() == hyper::Method::GET && !ours {
                page(
                    400,
                    "text/plain; charset=utf-8",
                    "not the authorization response this client waits for\n",
                )
            } else if is_callback && req.method() == hyper::Method::GET {
                let target = req
                    .uri()
                    .path_and_query()
                    .map(|pq| pq.as_str().to_string())
                    .unwrap_or_else(|| path.clone());
                let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(format!("{origin}{target}"));
                }
                page(200, "text/html; charset=utf-8", DONE_PAGE)
            } else if is_callback {
                page(405, "text/plain; charset=utf-8", "method not allowed\n")
            } else {
                page(404, "text/plain; charset=utf-8", "not found\n")
            };
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    let url = captured.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(url) = url {
        let _ = tx.send(url).await;
    }
}

fn page(status: u16, content_type: &str, body: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_str(content_type)
            .unwrap_or(http::HeaderValue::from_static("text/plain")),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        http::header::REFERRER_POLICY,
        http::HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny server: each path answers with a fixed status and Location.
    async fn scripted(routes: Vec<(&'static str, u16, Option<&'static str>)>) -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let routes = routes.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let route = routes
                            .iter()
                            .find(|(p, _, _)| *p == req.uri().path())
                            .cloned();
                        async move {
                            let (_, status, location) = route.unwrap_or(("", 404, None));
                            let mut resp = page(status, "text/html", "<p>Sign in</p>");
                            if let Some(l) = location {
                                resp.headers_mut().insert(
                                    http::header::LOCATION,
                                    http::HeaderValue::from_static(l),
                                );
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        origin
    }

    #[tokio::test]
    async fn reports_pages_loops_errors_and_bad_schemes() {
        let origin = scripted(vec![
            ("/page", 200, None),
            ("/a", 302, Some("b")),
            ("/b", 303, Some("/a")),
            ("/gone", 302, Some("/missing")),
            ("/js", 302, Some("javascript:alert(1)")),
            ("/nolocation", 302, None),
            ("/ok", 307, Some("http://localhost:7/cb?code=1#frag")),
            ("/astray", 302, Some("/elsewhere?state=s&code=secret-code")),
        ])
        .await;
        let cb = "http://localhost:7/cb";
        let err = |r: anyhow::Result<String>| format!("{:#}", r.unwrap_err());

        let e = err(follow_headless(&format!("{origin}/page"), cb).await);
        assert!(
            e.contains("/page answered 200") && e.contains("needs a person"),
            "{e}"
        );
        let e = err(follow_headless(&format!("{origin}/a"), cb).await);
        assert!(e.contains("redirect loop") && e.contains("/a"), "{e}");
        let e = err(follow_headless(&format!("{origin}/gone"), cb).await);
        assert!(
            e.contains("/missing answered 404") && e.contains("Sign in"),
            "{e}"
        );
        let e = err(follow_headless(&format!("{origin}/js"), cb).await);
        assert!(
            e.contains("javascript:") && e.contains("/js answered 302"),
            "{e}"
        );
        let e = err(follow_headless(&format!("{origin}/nolocation"), cb).await);
        assert!(e.contains("without a Location"), "{e}");
        let e = err(follow_headless("ftp://x/", cb).await);
        assert!(e.contains("not an http(s) URL"), "{e}");
        let e = err(follow_headless(&format!("{origin}/astray"), cb).await);
        assert!(e.contains("/elsewhere?state=s&code=… answered 404"), "{e}");
        assert!(!e.contains("secret-code"), "{e}");
        let ok = follow_headless(&format!("{origin}/ok"), cb).await.unwrap();
        assert_eq!(ok, "http://localhost:7/cb?code=1#frag");
    }

    #[tokio::test]
    async fn stops_after_twenty_hops() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service =
                        service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                            let n: u32 = req.uri().path()[1..].parse().unwrap_or(0);
                            let mut resp = page(302, "text/plain", "");
                            resp.headers_mut().insert(
                                http::header::LOCATION,
                                http::HeaderValue::from_str(&format!("/{}", n + 1)).unwrap(),
                            );
                            Ok::<_, Infallible>(resp)
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let e = follow_headless(&format!("{origin}/0"), "http://127.0.0.1:1/cb")
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("more than 20 redirects"), "{e:#}");
    }

    #[tokio::test]
    async fn loopback_listener_receives_the_callback() {
        let listener = LoopbackListener::bind(0, "/callback").await.unwrap();
        let redirect_uri = listener.redirect_uri();
        assert!(redirect_uri.starts_with("http://127.0.0.1:"));
        assert!(redirect_uri.ends_with("/callback"));
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(10), "x<b>"));
        let origin = redirect_uri.trim_end_matches("/callback").to_string();
        let get = |url: String| async move {
            http_request(OutgoingRequest {
                method: "GET".into(),
                url,
                headers: vec![],
                body: vec![],
            })
            .await
            .unwrap()
        };
        let other = get(format!("{origin}/favicon.ico")).await;
        assert_eq!(other.status, 404);
        // Security review finding 8: another local process that gets there
        // first with its own code (or none) is not taken for the redirect.
        for forged in ["?code=evil", "?code=evil&state=other", "?code=evil&state=x"] {
            let r = get(format!("{redirect_uri}{forged}")).await;
            assert_eq!(r.status, 400, "{forged}");
        }
        let done = get(format!("{redirect_uri}?code=c%20d&state=x%3Cb%3E")).await;
        assert_eq!(done.status, 200);
        let html = String::from_utf8(done.body.clone()).unwrap();
        assert!(html.contains("Authorization complete"));
        assert!(!html.contains("<script") && !html.contains("c%20d") && !html.contains("x%3C"));
        assert_eq!(
            done.header("content-security-policy"),
            Some("default-src 'none'")
        );
        let url = waiter.await.unwrap().unwrap();
        assert_eq!(url, format!("{redirect_uri}?code=c%20d&state=x%3Cb%3E"));
    }

    #[tokio::test]
    async fn a_held_port_is_ours_between_flows_and_open_only_during_them() {
        // Security review finding 8: the port was found by binding and
        // releasing it, so another local process could take it before the
        // flow. Checklist 73: open only while a flow waits.
        let port = LoopbackPort::reserve(0).unwrap();
        let number = port.port();
        let taken = || std::net::TcpListener::bind(("127.0.0.1", number)).is_err();
        let refused = || std::net::TcpStream::connect(("127.0.0.1", number)).is_err();
        assert!(taken() && refused(), "held before the first flow");
        for round in 0..2 {
            let listener = port
                .listen_for(&format!("http://127.0.0.1:{number}/callback?x=1"))
                .unwrap();
            let uri = listener.redirect_uri();
            assert_eq!(uri, format!("http://127.0.0.1:{number}/callback"));
            let waiter = tokio::spawn(listener.wait(Duration::from_secs(10), "s"));
            let done = http_request(OutgoingRequest {
                method: "GET".into(),
                url: format!("{uri}?code=c&state=s"),
                headers: vec![],
                body: vec![],
            })
            .await
            .unwrap();
            assert_eq!(done.status, 200, "round {round}");
            assert!(waiter.await.unwrap().is_ok());
            // The closed callback connection is in TIME_WAIT now: holding
            // the port again must still work.
            port.hold_again();
            assert!(taken() && refused(), "held after flow {round}");
        }
        // A redirect URI for another port or host is not this port's.
        for other in [
            format!("http://127.0.0.1:{}/callback", number.wrapping_add(1)),
            format!("http://localhost:{number}/callback"),
            format!("https://127.0.0.1:{number}/callback"),
        ] {
            let e = format!("{:#}", port.listen_for(&other).err().unwrap());
            assert!(e.contains("is not http://127.0.0.1:"), "{e}");
        }
        // Another process's socket on a registered port: reserving it fails
        // and says which port.
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = squatter.local_addr().unwrap().port();
        let e = format!("{:#}", LoopbackPort::reserve(busy).unwrap_err());
        assert!(e.contains(&format!("127.0.0.1:{busy}")), "{e}");
    }

    #[tokio::test]
    async fn loopback_listener_times_out() {
        let listener = LoopbackListener::bind(0, "/cb").await.unwrap();
        let uri = listener.redirect_uri();
        let e = listener
            .wait(Duration::from_millis(100), "s")
            .await
            .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("within 0.1 s") && e.contains(&uri), "{e}");
        assert!(LoopbackListener::bind(0, "cb").await.is_err());
    }
}
