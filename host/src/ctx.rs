//! Per-store state of the capability: the policy, the metrics, and what
//! is known about the descriptors it has seen.

use crate::metrics::Metrics;
use crate::p2::regular_files::RegularFiles;
use crate::policy::{AddrRule, Policy};
use crate::sockets::PendingWrites;
use std::sync::Arc;

/// The capability's state in one store. Build it with
/// [`SendfileCtx::builder`].
#[derive(Debug, Default)]
pub struct SendfileCtx {
    pub(crate) policy: Policy,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) regular_files: RegularFiles,
    pub(crate) pending_writes: Arc<PendingWrites>,
    /// What wasmtime-wasi's `WasiCtx` said of TCP, once asked (see
    /// [`crate::p2`]'s `tcp_create_socket`).
    pub(crate) wasi_allows_tcp: Option<bool>,
    /// Stores made by [`crate::command::Runner`] and [`crate::http::HttpServer`]
    /// count host calls.
    pub(crate) count_host_calls: bool,
}

impl SendfileCtx {
    /// A builder with the default policy: no file targets, no bind or
    /// connect addresses, 2 MiB chunks, 1 MiB of headers and trailers.
    pub fn builder() -> SendfileCtxBuilder {
        SendfileCtxBuilder::default()
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The counters this store updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The bytes this store's guest wrote to its sockets that are still on
    /// their way out. They keep going after the guest dropped its streams,
    /// or its whole store, as `close(2)` lets the kernel finish sending; a
    /// program that ends its tokio runtime after a guest ran should first
    /// [`PendingWrites::settle`] them, as `wasm-sendfile run` does.
    pub fn pending_writes(&self) -> &Arc<PendingWrites> {
        &self.pending_writes
    }
}

/// Builds a [`SendfileCtx`].
///
/// Methods that grant network reach (`allow_bind`, `allow_connect`) or write
/// access through the capability (`allow_file_targets`) widen what an
/// untrusted guest can do: grant only what it needs.
#[derive(Debug, Default)]
pub struct SendfileCtxBuilder {
    policy: Policy,
    metrics: Option<Arc<Metrics>>,
    count_host_calls: bool,
}

impl SendfileCtxBuilder {
    /// Cap on the file bytes one system call moves (nginx's
    /// `sendfile_max_chunk`). Smaller chunks share the host more fairly
    /// between connections; larger ones cost fewer system calls. Zero is
    /// not a size a chunk can have: the type rules it out.
    pub fn max_chunk(mut self, bytes: std::num::NonZeroU64) -> Self {
        self.policy.max_chunk = bytes.get();
        self
    }

    /// Let guests use a writable file descriptor as the target
    /// (file-to-file copies). Off by default.
    pub fn allow_file_targets(mut self, allow: bool) -> Self {
        self.policy.allow_file_targets = allow;
        self
    }

    /// Cap on the bytes of headers plus trailers one call may carry.
    pub fn max_header_trailer_bytes(mut self, bytes: usize) -> Self {
        self.policy.max_header_trailer_bytes = bytes;
        self
    }

    /// Let guest sockets bind (and listen) on addresses matching `rule`.
    /// This grants reach from the host's network: see [`AddrRule`].
    pub fn allow_bind(mut self, rule: AddrRule) -> Self {
        self.policy.bind.push(rule);
        self
    }

    /// Let guest sockets connect to addresses matching `rule`.
    /// This grants reach into the host's network: see [`AddrRule`].
    pub fn allow_connect(mut self, rule: AddrRule) -> Self {
        self.policy.connect.push(rule);
        self
    }

    /// Ask `check` about every address a guest's TCP socket uses (bind, the
    /// implicit bind of a connect from an unbound socket, listen, connect,
    /// accept), in addition to the rules: an address is allowed if a rule
    /// or `check` allows it. The closure has the type wasmtime-wasi's
    /// `WasiCtxBuilder::socket_addr_check` takes, so one function can govern
    /// both the host's TCP and wasmtime-wasi's UDP.
    ///
    /// The host's TCP never reads the `WasiCtx`'s own address check or
    /// `inherit_network` (wasmtime-wasi keeps them private): set the policy
    /// here. A refused address is logged (`tracing`, warn).
    pub fn socket_addr_check<F>(mut self, check: F) -> Self
    where
        F: Fn(
                std::net::SocketAddr,
                crate::policy::SocketAddrUse,
            )
                -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + Sync>>
            + Send
            + Sync
            + 'static,
    {
        self.policy.addr_check = Some(crate::policy::AddrCheck::new(check));
        self
    }

    /// A listening socket the embedder opened, as nginx's master process
    /// opens the port once for all its workers: a guest socket that binds
    /// exactly its address (with the policy's permission, as any bind) gets
    /// a duplicate of it instead of a socket of its own, and its `listen`
    /// keeps it listening. Give the same listener (`try_clone`) to several
    /// stores and their guests share one port, while any other process
    /// that tries to take the port gets `EADDRINUSE`, which `SO_REUSEPORT`
    /// ([`SendfileCtxBuilder::reuse_port`]) would let it share instead.
    /// Options a guest sets on its socket (buffer sizes, backlog) apply to
    /// the shared socket; its descriptor is made non-blocking. For an IPv6
    /// address, open it IPv6-only, as the host's own sockets are.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.policy.listeners.push(Arc::new(listener));
        self
    }

    /// Set `SO_REUSEPORT` on the sockets guests bind, so several instances
    /// can listen on the same port (one per core, say) and the kernel
    /// spreads incoming connections between them. Off by default.
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.policy.reuse_port = reuse;
        self
    }

    /// Move file bytes by zero-copy system calls (the default), or, with
    /// `false`, copy them through a bounded buffer in the host, like nginx's
    /// `sendfile off`: for filesystems or kernels where zero-copy misbehaves,
    /// and for comparison. Guests see the same results either way.
    pub fn zero_copy(mut self, zero_copy: bool) -> Self {
        self.policy.zero_copy = zero_copy;
        self
    }

    /// Count into these metrics (to aggregate several stores); by default
    /// each context gets its own.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Count the guest's calls into the host in the metrics'
    /// `host_calls`, in stores made by [`crate::command::Runner`] and
    /// [`crate::http::HttpServer`] (other stores:
    /// [`Metrics::count_host_calls`]). Off by default: it costs a
    /// dynamic call at each guest/host transition.
    pub fn count_host_calls(mut self, count: bool) -> Self {
        self.count_host_calls = count;
        self
    }

    /// The finished context.
    pub fn build(self) -> SendfileCtx {
        SendfileCtx {
            policy: self.policy,
            metrics: self.metrics.unwrap_or_default(),
            regular_files: RegularFiles::default(),
            pending_writes: Arc::default(),
            wasi_allows_tcp: None,
            count_host_calls: self.count_host_calls,
        }
    }
}
