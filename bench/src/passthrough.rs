//! The pass-through component (`bench/passthrough`, built by `build.rs`)
//! in the same wasmtime host as the mcp-oauth component: WASI 0.2 and
//! `wasi:http` linked the same way, the same engine configuration, the
//! response taken out of the store and read the way the harness reads a
//! `wrap-call` response.

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use mcp_oauth_host::harness;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::{InputStream as _, Pollable as _, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

mod generated {
    #![allow(missing_docs)]

    wasmtime::component::bindgen!({
        path: ["../wit", "passthrough/wit"],
        world: "bench:passthrough/bench-passthrough",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        },
    });
}

pub use generated::exports::bench::passthrough::passthrough::HttpRequest;
use generated::{BenchPassthrough, BenchPassthroughPre};

/// The component built by `build.rs`.
static WASM: &[u8] = include_bytes!(env!("PASSTHROUGH_WASM"));

/// Converts wasmtime's error type (as the harness does).
fn wasmtime_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(error.into_boxed_dyn_error())
}

/// The compiled, linked pass-through component.
pub struct PassThrough {
    engine: Engine,
    pre: BenchPassthroughPre<State>,
}

/// The store's data.
struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Box<dyn WasiHttpHooks>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut *self.hooks,
        }
    }
}

impl PassThrough {
    /// Compiles the component (a few hundred milliseconds) and links it.
    pub fn new() -> anyhow::Result<PassThrough> {
        let engine = Engine::new(&wasmtime::Config::new()).map_err(wasmtime_error)?;
        let component =
            wasmtime::component::Component::new(&engine, WASM).map_err(wasmtime_error)?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasmtime_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(wasmtime_error)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(wasmtime_error)
            .context("linking the pass-through component")?;
        let pre = BenchPassthroughPre::new(pre).map_err(wasmtime_error)?;
        Ok(PassThrough { engine, pre })
    }

    /// An instance whose requests go through `hooks`.
    pub async fn instantiate(&self, hooks: Box<dyn WasiHttpHooks>) -> anyhow::Result<Instance> {
        let state = State {
            wasi: WasiCtxBuilder::new().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
        };
        let mut store = Store::new(&self.engine, state);
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(wasmtime_error)?;
        Ok(Instance { store, bindings })
    }
}

/// An instance of the pass-through component.
pub struct Instance {
    store: Store<State>,
    bindings: BenchPassthrough,
}

impl Instance {
    /// Sends `request` through the component and reads the response whole,
    /// as the harness's `Response` reads a `wrap-call` response: headers
    /// copied out, the body read from its stream. The status and body.
    pub async fn call(&mut self, request: &HttpRequest) -> anyhow::Result<(u16, Vec<u8>)> {
        let handle = self
            .bindings
            .bench_passthrough_passthrough()
            .call_call(&mut self.store, request)
            .await
            .map_err(wasmtime_error)?
            .map_err(|e| anyhow!("the pass-through component failed: {e}"))?;
        let mut response = self.store.data_mut().table.delete(handle)?;
        let headers: Vec<(String, Vec<u8>)> = response
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
            .collect();
        std::hint::black_box(headers);
        let mut body = response.body.take().context("no response body")?;
        let mut stream = body.take_stream().context("no response body stream")?;
        let mut content = Vec::new();
        loop {
            match stream.read(64 * 1024) {
                Ok(bytes) if bytes.is_empty() => stream.ready().await,
                Ok(bytes) => content.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) | Err(StreamError::Trap(e)) => {
                    return Err(wasmtime_error(e).context("reading the response body"));
                }
            }
        }
        drop(stream);
        drop(body);
        Ok((response.status, content))
    }
}

/// The request to `url` as the pass-through component takes it: the same
/// MCP POST as `wrap-call`'s (`HttpRequest::mcp_post`), with the
/// `authorization` value `wrap-call` adds, so that both send the same bytes.
pub fn request(url: &str, body: &Bytes, authorization: &str) -> HttpRequest {
    let harness::HttpRequest {
        method,
        url,
        mut headers,
        body,
    } = harness::HttpRequest::mcp_post(url, body.to_vec());
    headers.push(("authorization".into(), authorization.as_bytes().to_vec()));
    HttpRequest {
        method,
        url,
        headers,
        body,
    }
}
