//! The sender through the real component: the `wrap-call`s of a runtime's
//! instances share kept-alive connections.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use mcp_oauth_host::harness::{
    ClientConfig, GrantType, HostOptions, HttpRequest, Instance, Runtime,
};
use mcp_oauth_host::sender::{Sender, SenderConfig};
use mcp_oauth_mock::{Behaviour, ClientAuth, MockWorld};
use tokio::net::TcpListener;

/// A loopback MCP-ish server that answers every request with a small JSON
/// body (keep-alive on); its URL and the count of connections it accepted.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    let body = Full::new(Bytes::from_static(br#"{"ok":true}"#));
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .header("content-type", "application/json")
                            .body(body)
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, accepted)
}

fn config() -> ClientConfig {
    ClientConfig {
        timeout_ms: Some(5_000),
        ..ClientConfig::new("sender e2e", "http://127.0.0.1:9/callback")
    }
}

fn post(url: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec(),
    }
}

async fn configured(runtime: &Runtime, options: HostOptions) -> Instance {
    let mut instance = runtime.instantiate(options).await.unwrap();
    instance.configure(&config()).await.unwrap().unwrap();
    instance
}

/// `wrap-call` of `request`, which must answer 200; the body is read to
/// its end.
async fn call(instance: &mut Instance, request: &HttpRequest) -> Vec<u8> {
    let response = instance.wrap_call(request).await.unwrap().unwrap();
    assert_eq!(response.status, 200);
    response.bytes(1 << 20).await.unwrap()
}

#[tokio::test]
async fn the_instances_of_a_runtime_share_one_connection() {
    let (url, accepted) = counting_server().await;
    let sender = Sender::new(SenderConfig::default()).unwrap();
    let runtime = Runtime::embedded().unwrap().with_sender(sender.clone());
    assert_eq!(runtime.sender().connections_opened(), 0);

    let mut first = configured(&runtime, HostOptions::default()).await;
    for _ in 0..5 {
        assert_eq!(call(&mut first, &post(&url)).await, br#"{"ok":true}"#);
    }
    let mut second = configured(&runtime, HostOptions::default()).await;
    for _ in 0..5 {
        call(&mut second, &post(&url)).await;
        call(&mut first, &post(&url)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(sender.connections_opened(), 1);

    // An instance given a sender of its own uses that one's pool.
    let own = Sender::new(SenderConfig::default()).unwrap();
    let options = HostOptions {
        sender: Some(own.clone()),
        ..HostOptions::default()
    };
    let mut third = configured(&runtime, options).await;
    for _ in 0..3 {
        call(&mut third, &post(&url)).await;
    }
    assert_eq!(own.connections_opened(), 1);
    assert_eq!(sender.connections_opened(), 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_server_that_answers_before_reading_the_body_succeed() {
    // The counting server answers without reading the request body; on a
    // pooled connection the request head reaches it before the component
    // has written the body. Every call must still get its answer.
    let (url, accepted) = counting_server().await;
    let sender = Sender::new(SenderConfig::default()).unwrap();
    let runtime = Runtime::embedded().unwrap().with_sender(sender.clone());
    let mut instance = configured(&runtime, HostOptions::default()).await;
    for _ in 0..200 {
        call(&mut instance, &post(&url)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(sender.connections_opened(), 1);
}

#[tokio::test]
async fn embedded_runtimes_share_one_sender() {
    let a = Runtime::embedded().unwrap();
    let b = Runtime::embedded().unwrap();
    let before = a.sender().connections_opened();
    let (url, _) = counting_server().await;
    let mut instance = configured(&b, HostOptions::default()).await;
    call(&mut instance, &post(&url)).await;
    // `a` saw the connection `b`'s instance opened (other tests may open
    // some too).
    assert!(a.sender().connections_opened() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_authorization_calls_open_no_connection() {
    // Client credentials at the mock servers: the first call is refused
    // (401), the component discovers the servers, gets a token and sends
    // again; the calls after it reuse the connections.
    let world = MockWorld::start(Behaviour {
        grant_types: vec!["client_credentials".into()],
        auth_methods: vec!["client_secret_basic".into()],
        ..Behaviour::default()
    })
    .await
    .unwrap();
    world.add_client("svc", &[], ClientAuth::SecretBasic("s3cret".into()));
    let config = ClientConfig {
        client_id: Some("svc".into()),
        client_secret: Some("s3cret".into()),
        grant_type: Some(GrantType::ClientCredentials),
        ..config()
    };
    let sender = Sender::new(SenderConfig::default()).unwrap();
    let runtime = Runtime::embedded().unwrap().with_sender(sender.clone());
    let mut instance = runtime.instantiate(HostOptions::default()).await.unwrap();
    instance.configure(&config).await.unwrap().unwrap();
    let request = initialize(&world.mcp_url());

    let body = call(&mut instance, &request).await;
    assert!(String::from_utf8_lossy(&body).contains("mock-mcp"));
    let after_authorization = sender.connections_opened();
    eprintln!("connections after the authorization: {after_authorization}");
    // The MCP server and the authorization server: one each (a response
    // the component drops unread may cost its connection).
    assert!(
        (2..=4).contains(&after_authorization),
        "{after_authorization} connections"
    );
    for _ in 0..10 {
        call(&mut instance, &request).await;
    }
    assert_eq!(sender.connections_opened(), after_authorization);
}

/// A JSON-RPC `initialize` to `url`, as the mock MCP server wants it.
fn initialize(url: &str) -> HttpRequest {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "sender e2e", "version": "0"}},
    });
    HttpRequest::mcp_post(url, body.to_string().into_bytes())
}
