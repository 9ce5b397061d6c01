//! The one place where the outgoing HTTP sender of the components is
//! chosen. `wrap-call`'s instances (through [`HostOptions::sender`]) and the
//! pass-through component (through [`Plug::hooks`]) both send with one
//! [`Sender`], so that they share one pool and are compared over the same
//! kind of kept-alive connections. Its extra roots hold the loopback TLS
//! server's test certificate, so the components reach it over https.

use mcp_oauth_host::harness::{HostOptions, Observer};
use mcp_oauth_host::sender::{HttpHooks, Sender, SenderConfig};
use rustls::pki_types::CertificateDer;
use wasmtime_wasi_http::WasiHttpHooks;

/// The sender both components use.
pub struct Plug {
    sender: Sender,
}

impl Plug {
    /// A sender with the default configuration that also trusts
    /// `extra_roots`.
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> anyhow::Result<Plug> {
        let sender = Sender::new(SenderConfig {
            extra_roots,
            ..SenderConfig::default()
        })?;
        Ok(Plug { sender })
    }

    /// What the sender is, for the report.
    pub fn describe(&self) -> &'static str {
        "mcp_oauth_host::sender::Sender (connections kept alive, one pool for both components)"
    }

    /// Host options for an instance of the mcp-oauth component that sends
    /// with this sender, reporting to `observer`.
    pub fn host_options(&self, observer: Option<Observer>) -> HostOptions {
        HostOptions {
            observer,
            sender: Some(self.sender.clone()),
            ..HostOptions::default()
        }
    }

    /// `wasi:http` hooks for another component's store that send with this
    /// sender.
    pub fn hooks(&self) -> Box<dyn WasiHttpHooks> {
        Box::new(HttpHooks::new(self.sender.clone(), None))
    }
}
