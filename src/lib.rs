//! The mcp-oauth WebAssembly component: a thin adapter from the WIT world
//! `mcp-oauth` to the sans-IO core in `mcp-oauth-core`.
//!
//! - `bindings`: the generated WIT bindings (the only place they live).
//! - `transport`: core HTTP requests ↔ `wasi:http`.
//! - `convert`: core types ↔ WIT types.
//! - `env`: wall clock and random bytes from WASI.
//!
//! No protocol decision is made here: the core says what to send and what a
//! response means; this crate only moves bytes.

// On wasm32 the component links no Rust `std`: its panic, formatting and
// I/O runtime would be a good part of the component. Natively (the
// workspace's tests and lints build this crate too) `std` stays.
#![cfg_attr(target_arch = "wasm32", no_std)]

#[macro_use]
extern crate alloc;

mod bindings;
mod convert;
mod env;
mod transport;

use alloc::rc::Rc;
use bindings::exports::mcp::oauth::client::{CallStep, Guest, GuestClient, GuestHostCall};
use bindings::exports::mcp::oauth::types::{
    AuthError, ClientConfig, FlowEvent, Forgotten, Grant, HttpRequest, StateSummary, TokenInfo,
    TokenState as WitTokenState,
};
use core::cell::{RefCell, RefMut};
use mcp_oauth_core::{Action, Begin, Call, CallAction, Client, Flow, ResponseHead, TokenState};
use transport::IncomingResponse;

/// What `std`'s prelude would bring, for the modules of this crate.
mod prelude {
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
}
use prelude::*;

/// Every panic (a bug: the core returns errors) traps.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

// `memcmp` (which `core` calls and `compiler_builtins` does not provide on
// this target) comes from the toolchain's wasi-libc, as it does under `std`.
#[cfg(target_arch = "wasm32")]
#[link(name = "c")]
extern "C" {}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The canonical ABI's allocation function (`std` defines it on this
/// target; without `std` it is ours): wit-bindgen's `cabi_realloc`, over the
/// global allocator.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{alloc, realloc, Layout};
    // SAFETY: the canonical ABI passes a power-of-two alignment, a non-zero
    // `new_len` whenever `old_len` is not zero, and an `old_ptr`/`old_len`
    // pair that this function returned.
    let ptr = unsafe {
        if old_len == 0 {
            if new_len == 0 {
                return align as *mut u8;
            }
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr
}

/// Runs a flow to its end: send what it asks, feed back what comes.
fn drive(mut flow: Flow, timeout_ms: u32) -> Flow {
    while let Action::Send(request) = flow.poll() {
        let response = transport::send(&request, timeout_ms);
        flow.handle_response(response, env::now());
    }
    flow
}

/// One `client` resource: a core client, shared with the `host-call`s it
/// began, and the request target of `wrap-call`'s last URL. The component
/// model never enters an instance while it runs, so a `RefCell` borrow is
/// never contended; the client's is never held across a request (the last
/// target's is, for the send that uses it).
struct ClientResource(Rc<RefCell<Client>>, RefCell<Option<LastTarget>>);

/// A URL `wrap-call` sent to, and its parts as `wasi:http` wants them: the
/// calls of an MCP session go to one URL, which is not parsed again.
type LastTarget = (String, transport::Target);

/// Runs `call` until it needs a send: the headers of that send, or `None`
/// when the last response is to be delivered. The flows it asks for run
/// here, through `wasi:http`. `last` is the response the driver holds
/// (`wrap-call`'s; none when the host sends): released before a flow, and
/// read for the excerpt of a refusal (an empty excerpt without one).
fn advance(
    client: &RefCell<Client>,
    call: &mut Call,
    last: &mut Option<IncomingResponse>,
) -> Result<Option<Vec<(String, String)>>, AuthError> {
    let timeout = client.borrow().timeout_ms();
    loop {
        let action = call.poll(&mut client.borrow_mut(), &mut env::now, &mut env::fill);
        match action {
            CallAction::Send(headers) => return Ok(Some(headers)),
            CallAction::Run(flow) => {
                drop(last.take());
                let flow = Box::new(drive(*flow, timeout));
                call.flow_done(&mut client.borrow_mut(), flow, env::now());
            }
            CallAction::ReadRefusal => {
                let excerpt = last
                    .take()
                    .and_then(|r| transport::read_response(r, EXCERPT_READ_LIMIT, timeout).ok())
                    .map(|r| r.body_excerpt())
                    .unwrap_or_default();
                call.refusal_read(excerpt);
            }
            CallAction::Deliver => return Ok(None),
            CallAction::Fail(e) => return Err(convert::error(e)),
        }
    }
}

/// One `host-call` resource: a core call whose requests the host sends.
struct HostCall {
    client: Rc<RefCell<Client>>,
    call: RefCell<Call>,
    /// The headers of the send the call asked for last.
    headers: RefCell<Vec<(String, String)>>,
}

impl GuestHostCall for HostCall {
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.borrow().clone()
    }

    fn response(
        &self,
        status: u16,
        www_authenticate: Option<String>,
        dpop_nonce: Option<String>,
    ) -> Result<CallStep, AuthError> {
        let mut call = self.call.borrow_mut();
        let head = ResponseHead {
            status,
            www_authenticate: www_authenticate.as_deref(),
            dpop_nonce: dpop_nonce.as_deref(),
        };
        call.response(&mut self.client.borrow_mut(), &head);
        match advance(&self.client, &mut call, &mut None)? {
            Some(headers) => {
                *self.headers.borrow_mut() = headers;
                Ok(CallStep::Resend)
            }
            None => Ok(CallStep::Deliver),
        }
    }
}

impl ClientResource {
    fn client(&self) -> RefMut<'_, Client> {
        self.0.borrow_mut()
    }

    /// Runs what a call to the core began to its end.
    fn finish(&self, begin: Begin) -> Result<mcp_oauth_core::Grant, mcp_oauth_core::Error> {
        match begin {
            Begin::Ready(info) => Ok(mcp_oauth_core::Grant::Authorized(info)),
            Begin::Flow(flow) => {
                let timeout = self.client().timeout_ms();
                let flow = drive(flow, timeout);
                self.client().finish(flow, env::now())
            }
        }
    }
}

/// A grant that ended at a user, as the error that says so.
fn authorized(grant: mcp_oauth_core::Grant) -> Result<TokenInfo, AuthError> {
    match grant {
        mcp_oauth_core::Grant::Authorized(info) => Ok(convert::token_info(info)),
        mcp_oauth_core::Grant::Redirect(p) => Err(convert::error(
            mcp_oauth_core::Error::AuthorizationRequired(p),
        )),
    }
}

/// How much of a refused response is read for its excerpt.
const EXCERPT_READ_LIMIT: usize = 64 * 1024;

/// The component's export implementation.
// Natively (cargo test of the workspace) the crate is built without its
// exports: their symbol names (`mcp:oauth/client@0.2.0#…`) are not valid in a
// native shared library.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    type Client = ClientResource;
    type HostCall = HostCall;
}

impl GuestClient for ClientResource {
    fn open(
        config: ClientConfig,
    ) -> Result<bindings::exports::mcp::oauth::client::Client, AuthError> {
        let client = Client::new(convert::config(config)).map_err(convert::refused)?;
        Ok(bindings::exports::mcp::oauth::client::Client::new(
            ClientResource(Rc::new(RefCell::new(client)), RefCell::new(None)),
        ))
    }

    fn authorize(&self, resource: String, challenge: Option<String>) -> Result<Grant, AuthError> {
        let begin =
            self.client()
                .authorize(&resource, challenge.as_deref(), env::now(), env::entropy());
        begin
            .and_then(|b| self.finish(b))
            .map(convert::grant)
            .map_err(convert::error)
    }

    fn complete_authorization(&self, callback_url: String) -> Result<TokenInfo, AuthError> {
        // An authorization started again (after `invalid_scope`) ends in
        // `authorization-required` with the new URL.
        let begin = self
            .client()
            .complete_authorization(&callback_url, env::now(), env::entropy());
        authorized(begin.and_then(|b| self.finish(b)).map_err(convert::error)?)
    }

    fn wrap_call(&self, request: HttpRequest) -> Result<IncomingResponse, AuthError> {
        let HttpRequest {
            method,
            url,
            headers,
            body,
        } = request;
        // The core decides everything; this loop only sends.
        let (timeout, host_limits) = {
            let client = self.client();
            (client.timeout_ms(), client.host_timeouts())
        };
        // The call keeps the method and URL (moved, not copied).
        let mut call = Call::new(method, url);
        let mut last: Option<IncomingResponse> = None;
        while let Some(ours) = advance(&self.0, &mut call, &mut last)? {
            drop(last.take());
            // The core checked the URL on its first poll (https, or http on
            // loopback; no user info); the URL of the call before is not
            // parsed again.
            let mut last_target = self.1.borrow_mut();
            let target = match &mut *last_target {
                Some((url, target)) if url == call.url() => target,
                slot => {
                    let target = match transport::Target::parse(call.url()) {
                        Ok(target) => target,
                        Err(e) => {
                            call.send_failed(e);
                            continue;
                        }
                    };
                    &slot.insert((call.url().to_string(), target)).1
                }
            };
            match transport::send_streaming(
                call.method(),
                target,
                &headers,
                &ours,
                &body,
                timeout,
                host_limits,
            ) {
                Ok(response) => {
                    let (status, challenge, nonce) =
                        transport::head(&response, |status| call.wanted_headers(status));
                    let head = ResponseHead {
                        status,
                        www_authenticate: challenge.as_deref(),
                        dpop_nonce: nonce.as_deref(),
                    };
                    call.response(&mut self.client(), &head);
                    last = Some(response);
                }
                Err(e) => call.send_failed(e),
            }
        }
        last.ok_or_else(|| {
            convert::error(mcp_oauth_core::Error::InvalidArgument(
                "no response to deliver".into(),
            ))
        })
    }

    fn begin_call(
        &self,
        method: String,
        url: String,
    ) -> Result<bindings::exports::mcp::oauth::client::HostCall, AuthError> {
        let mut call = Call::new(&method, &url);
        // The first poll renews a stale token; it ends at a send (or fails).
        let headers = advance(&self.0, &mut call, &mut None)?.ok_or_else(|| {
            convert::error(mcp_oauth_core::Error::InvalidArgument(
                "the call ended before anything was sent".into(),
            ))
        })?;
        Ok(bindings::exports::mcp::oauth::client::HostCall::new(
            HostCall {
                client: Rc::clone(&self.0),
                call: RefCell::new(call),
                headers: RefCell::new(headers),
            },
        ))
    }

    fn token_status(&self, resource: String) -> WitTokenState {
        match self.client().token_state(&resource, env::now()) {
            TokenState::None => WitTokenState::None,
            TokenState::Fresh => WitTokenState::Fresh,
            TokenState::Stale { renewable: true } => WitTokenState::Renewable,
            TokenState::Stale { renewable: false } => WitTokenState::Stale,
        }
    }

    fn renew(&self, resource: String) -> Result<Option<TokenInfo>, AuthError> {
        let begin = self.client().renew(&resource, env::now(), env::entropy());
        match begin.map_err(convert::error)? {
            None => Ok(None),
            Some(b) => authorized(self.finish(b).map_err(convert::error)?).map(Some),
        }
    }

    fn take_events(&self) -> Vec<FlowEvent> {
        self.client()
            .take_events()
            .into_iter()
            .map(convert::event)
            .collect()
    }

    fn export_state(&self) -> Vec<u8> {
        self.client().export_state()
    }

    fn summary(&self) -> StateSummary {
        convert::summary(self.client().summary())
    }

    fn forget(&self, server: Option<String>) -> Forgotten {
        let f = self.client().forget(server.as_deref());
        Forgotten {
            tokens: f.tokens,
            servers: f.servers,
        }
    }

    fn import_state(&self, state: Vec<u8>, base: Option<Vec<u8>>) -> Result<(), AuthError> {
        let mut client = self.client();
        match base {
            None => client.import_state(&state),
            Some(base) => client.merge_state(&base, &state),
        }
        .map_err(convert::refused)
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Component);
