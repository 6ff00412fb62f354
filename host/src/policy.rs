//! What a guest may do with the capability: the host's policy.
//!
//! Everything here widens or narrows the authority a guest gets, so it is set
//! by the embedder (or the CLI's flags) and never by the guest.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
pub use wasmtime_wasi::sockets::SocketAddrUse;

/// Default cap on the file bytes one system call moves (like nginx's
/// `sendfile_max_chunk`, whose default is 2 MiB).
pub const DEFAULT_MAX_CHUNK: u64 = 2 << 20;

/// Default cap on the bytes of headers plus trailers one call may carry.
pub const DEFAULT_MAX_HEADER_TRAILER_BYTES: usize = 1 << 20;

/// One address pattern a socket may bind or connect to.
///
/// Written as `IP`, `IP:PORT`, `[IPv6]:PORT`, `*` or `*:PORT`; a missing port
/// or `*` matches any. Examples: `127.0.0.1:8080`, `::1`, `[::1]:0`, `*:443`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRule {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

impl AddrRule {
    /// A rule matching exactly this address.
    pub fn exact(addr: SocketAddr) -> Self {
        Self {
            ip: Some(addr.ip()),
            port: Some(addr.port()),
        }
    }

    /// A rule matching any port of this IP address.
    pub fn any_port(ip: IpAddr) -> Self {
        Self {
            ip: Some(ip),
            port: None,
        }
    }

    /// A rule matching every address.
    pub fn any() -> Self {
        Self {
            ip: None,
            port: None,
        }
    }

    /// Whether `addr` is covered by this rule.
    pub fn matches(&self, addr: SocketAddr) -> bool {
        self.ip.is_none_or(|ip| ip == addr.ip()) && self.port.is_none_or(|p| p == addr.port())
    }
}

/// Why an [`AddrRule`] could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRuleParseError(String);

impl fmt::Display for AddrRuleParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid address `{}`: expected IP, IP:PORT, [IPv6]:PORT, * or *:PORT",
            self.0
        )
    }
}

impl std::error::Error for AddrRuleParseError {}

impl FromStr for AddrRule {
    type Err = AddrRuleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddrRuleParseError(s.to_string());
        if s == "*" {
            return Ok(Self::any());
        }
        if let Some(port) = s.strip_prefix("*:") {
            let port = port.parse().map_err(|_| err())?;
            return Ok(Self {
                ip: None,
                port: Some(port),
            });
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self::exact(addr));
        }
        let bare = s.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
        match bare.unwrap_or(s).parse::<IpAddr>() {
            Ok(ip) => Ok(Self::any_port(ip)),
            Err(_) => Err(err()),
        }
    }
}

impl fmt::Display for AddrRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip, self.port) {
            (None, None) => f.write_str("*"),
            (None, Some(p)) => write!(f, "*:{p}"),
            (Some(ip), None) => write!(f, "{ip}"),
            (Some(ip), Some(p)) => write!(f, "{}", SocketAddr::new(ip, p)),
        }
    }
}

/// A function deciding whether a socket may use an address for a purpose:
/// the type wasmtime-wasi's `WasiCtxBuilder::socket_addr_check` takes, so
/// one function can serve both (see [`crate::SendfileCtxBuilder::socket_addr_check`]).
#[derive(Clone)]
pub struct AddrCheck(
    #[allow(clippy::type_complexity)]
    Arc<
        dyn Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>>
            + Send
            + Sync,
    >,
);

impl AddrCheck {
    /// Wraps `check`.
    pub fn new(
        check: impl Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self(Arc::new(check))
    }

    /// Asks the function about `addr` for `usage`.
    pub async fn allows(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        (self.0)(addr, usage).await
    }
}

impl fmt::Debug for AddrCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddrCheck(..)")
    }
}

/// The host's policy for one store.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Cap on the file bytes one system call moves; a guest's `max-chunk`
    /// can lower it, never raise it.
    pub max_chunk: u64,
    /// Whether a guest may use a file descriptor as the target.
    pub allow_file_targets: bool,
    /// Cap on the bytes of headers plus trailers in one call; more is
    /// `access-denied`.
    pub max_header_trailer_bytes: usize,
    /// Addresses a socket may bind to (and so listen on). Empty: none.
    pub bind: Vec<AddrRule>,
    /// Addresses a socket may connect to. Empty: none.
    pub connect: Vec<AddrRule>,
    /// A function asked about every address a TCP socket uses (bind, the
    /// implicit bind of an unbound connect, listen, connect, accept), as
    /// wasmtime-wasi asks its `socket_addr_check`. An address is allowed if
    /// a rule in `bind` or `connect` allows it or this function does. A
    /// connection whose peer it refuses at `accept` is reset unseen.
    pub addr_check: Option<AddrCheck>,
    /// Listening sockets the embedder opened, handed to guests that bind
    /// their exact address (see [`crate::SendfileCtxBuilder::listener`]).
    pub listeners: Vec<Arc<std::net::TcpListener>>,
    /// Whether bound sockets get `SO_REUSEPORT`, so several instances
    /// (each in its own store) can listen on one port and the kernel spreads
    /// connections between them. Off by default.
    pub reuse_port: bool,
    /// Whether file bytes move by zero-copy system calls (`sendfile(2)`,
    /// `copy_file_range(2)`). Off, the host copies them through a bounded
    /// buffer instead (nginx's `sendfile off`), with the same semantics and
    /// accounting; the metrics count them as fallback bytes. On by default.
    pub zero_copy: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_chunk: DEFAULT_MAX_CHUNK,
            allow_file_targets: false,
            max_header_trailer_bytes: DEFAULT_MAX_HEADER_TRAILER_BYTES,
            bind: Vec::new(),
            connect: Vec::new(),
            addr_check: None,
            listeners: Vec::new(),
            reuse_port: false,
            zero_copy: true,
        }
    }
}

impl Policy {
    /// Whether a socket may bind to `addr`.
    pub fn may_bind(&self, addr: SocketAddr) -> bool {
        self.bind.iter().any(|r| r.matches(addr))
    }

    /// Whether a socket may connect to `addr`.
    pub fn may_connect(&self, addr: SocketAddr) -> bool {
        self.connect.iter().any(|r| r.matches(addr))
    }

    /// Why an address was refused for `usage`, for the host's log: the
    /// rules that did not match it, and the check if there is one.
    pub fn refusal(&self, usage: SocketAddrUse) -> String {
        let (name, rules) = match usage {
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind | SocketAddrUse::TcpListen => {
                ("allow_bind (--allow-bind)", &self.bind)
            }
            _ => ("allow_connect (--allow-connect)", &self.connect),
        };
        let rules = if rules.is_empty() {
            format!("no {name} rules")
        } else {
            let list: Vec<String> = rules.iter().map(ToString::to_string).collect();
            format!("no {name} rule matches (rules: {})", list.join(", "))
        };
        match &self.addr_check {
            Some(_) => format!("{rules}, and the socket_addr_check refused it"),
            None => rules,
        }
    }

    /// The embedder's listening socket bound to exactly `addr`, if any.
    pub fn listener_for(&self, addr: SocketAddr) -> Option<&std::net::TcpListener> {
        self.listeners
            .iter()
            .map(|l| &**l)
            .find(|l| l.local_addr().is_ok_and(|a| a == addr))
    }

    /// Whether a TCP socket may use `addr` for `usage`: by a rule (`bind`
    /// covers binding and listening, `connect` connecting), or else by
    /// [`Policy::addr_check`]. Without a function, accepting is allowed
    /// and the implicit bind of a connect is covered by the connect rule
    /// (passed as the wildcard address with port 0, as wasmtime-wasi does).
    pub async fn allows(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        let by_rule = match usage {
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => self.may_bind(addr),
            // The bind was checked (for the address asked, port 0 perhaps);
            // listening on what it got needs no rule of its own.
            SocketAddrUse::TcpListen => self.addr_check.is_none() || self.may_bind(addr),
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend => self.may_connect(addr),
            SocketAddrUse::TcpAccept | SocketAddrUse::UdpReceive => self.addr_check.is_none(),
        };
        match &self.addr_check {
            _ if by_rule => true,
            Some(check) => check.allows(addr, usage).await,
            None => false,
        }
    }

    /// Whether a connect from a socket not bound yet may bind implicitly
    /// (to an ephemeral port): asked of [`Policy::addr_check`] with the
    /// wildcard address, as wasmtime-wasi asks; without a function, yes.
    pub async fn allows_implicit_bind(&self, wildcard: SocketAddr) -> bool {
        match &self.addr_check {
            Some(check) => {
                self.may_bind(wildcard) || check.allows(wildcard, SocketAddrUse::TcpBind).await
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let r: AddrRule = "127.0.0.1:8080".parse().unwrap();
        assert!(r.matches(addr("127.0.0.1:8080")));
        assert!(!r.matches(addr("127.0.0.1:8081")));
        let r: AddrRule = "127.0.0.1".parse().unwrap();
        assert!(r.matches(addr("127.0.0.1:1")) && !r.matches(addr("127.0.0.2:1")));
        let r: AddrRule = "[::1]".parse().unwrap();
        assert!(r.matches(addr("[::1]:9")));
        let r: AddrRule = "::1".parse().unwrap();
        assert!(r.matches(addr("[::1]:9")));
        let r: AddrRule = "*:443".parse().unwrap();
        assert!(r.matches(addr("10.1.2.3:443")) && !r.matches(addr("10.1.2.3:80")));
        assert!("*".parse::<AddrRule>().unwrap().matches(addr("[::1]:1")));
        for bad in ["", "host:80", "1.2.3.4:99999", "*:x", "[::1"] {
            assert!(bad.parse::<AddrRule>().is_err(), "{bad}");
        }
        assert_eq!(
            "[::1]:80".parse::<AddrRule>().unwrap().to_string(),
            "[::1]:80"
        );
    }

    #[test]
    fn empty_policy_denies() {
        let p = Policy::default();
        assert!(!p.may_bind("127.0.0.1:0".parse().unwrap()));
        assert!(!p.may_connect("127.0.0.1:80".parse().unwrap()));
    }
}
