//! The one place where the outgoing HTTP sender of the components is
//! chosen. `wrap-call`'s instances (through [`HostOptions`]) and the
//! pass-through component (through [`Plug::hooks`]) both send with it, so
//! that they are compared over the same connections.
//!
//! Today that is wasmtime-wasi-http's default sender, as the harness uses
//! it: a new TCP connection (and for https a new rustls configuration with
//! the webpki roots and a full handshake) per request. It cannot trust the
//! loopback server's test certificate, so https through the components is
//! not measured ([`Plug::trusts_extra_roots`]).

use mcp_oauth_host::harness::{HostOptions, Observer};
use rustls::pki_types::CertificateDer;
use wasmtime_wasi_http::WasiHttpHooks;

/// The sender both components use.
pub struct Plug {
    /// Certificates to trust besides the webpki roots (the loopback TLS
    /// server's).
    extra_roots: Vec<CertificateDer<'static>>,
}

/// wasmtime-wasi-http's default `send_request`.
struct DefaultHooks;

impl WasiHttpHooks for DefaultHooks {}

impl Plug {
    /// A sender that also trusts `extra_roots`, where it can.
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> anyhow::Result<Plug> {
        Ok(Plug { extra_roots })
    }

    /// What the sender is, for the report.
    pub fn describe(&self) -> &'static str {
        "wasmtime-wasi-http's default sender (a new connection per request)"
    }

    /// Whether https requests through the components can reach a server
    /// with one of the extra roots' certificates.
    pub fn trusts_extra_roots(&self) -> bool {
        let _ = &self.extra_roots;
        false
    }

    /// Host options for an instance of the mcp-oauth component that sends
    /// with this sender, reporting to `observer`.
    pub fn host_options(&self, observer: Option<Observer>) -> HostOptions {
        HostOptions {
            observer,
            ..HostOptions::default()
        }
    }

    /// `wasi:http` hooks for another component's store that send with this
    /// sender.
    pub fn hooks(&self) -> Box<dyn WasiHttpHooks> {
        Box::new(DefaultHooks)
    }
}
