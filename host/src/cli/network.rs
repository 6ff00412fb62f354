//! `run`'s network switches, shaped like `wasmtime run -S KEY[=y|n]`.
//!
//! One set of switches and address rules governs both the host's own TCP
//! (through the [`SendfileCtx`](wasm_sendfile::SendfileCtx) policy) and
//! wasmtime-wasi's UDP and name lookup (through its `WasiCtx`), so the two
//! never disagree.

use std::str::FromStr;
use wasm_sendfile::{AddrRule, Policy, SendfileCtxBuilder};
use wasmtime_wasi::WasiCtxBuilder;

/// One `-S KEY[=VALUE]` option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WasiOption {
    /// `tcp`: guests may create TCP sockets (default yes).
    Tcp(bool),
    /// `udp`: guests may create UDP sockets (default yes; addresses still
    /// need `--allow-bind`/`--allow-connect` or `inherit-network`).
    Udp(bool),
    /// `allow-ip-name-lookup`: `wasi:sockets/ip-name-lookup` works
    /// (default no).
    IpNameLookup(bool),
    /// `inherit-network`: every address may be bound and connected to, by
    /// TCP and UDP alike (default no).
    InheritNetwork(bool),
}

/// The keys `-S` knows.
const KEYS: &str = "tcp, udp, allow-ip-name-lookup, inherit-network";

impl FromStr for WasiOption {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value) = s.split_once('=').unwrap_or((s, "y"));
        let on = match value {
            "y" | "yes" | "true" => true,
            "n" | "no" | "false" => false,
            _ => return Err(format!("`{s}`: the value must be y or n")),
        };
        Ok(match key {
            "tcp" => Self::Tcp(on),
            "udp" => Self::Udp(on),
            "allow-ip-name-lookup" => Self::IpNameLookup(on),
            "inherit-network" => Self::InheritNetwork(on),
            _ => return Err(format!("unknown -S option `{key}` (known: {KEYS})")),
        })
    }
}

/// The network grants of one `run`, from its flags.
#[derive(Clone, Debug)]
pub struct Network {
    tcp: bool,
    udp: bool,
    ip_name_lookup: bool,
    bind: Vec<AddrRule>,
    connect: Vec<AddrRule>,
}

impl Network {
    /// The grants from the `-S` options (later ones win) and the address
    /// rules.
    pub fn new(options: &[WasiOption], bind: &[AddrRule], connect: &[AddrRule]) -> Self {
        let mut net = Network {
            tcp: true,
            udp: true,
            ip_name_lookup: false,
            bind: bind.to_vec(),
            connect: connect.to_vec(),
        };
        let mut inherit = false;
        for option in options {
            match *option {
                WasiOption::Tcp(on) => net.tcp = on,
                WasiOption::Udp(on) => net.udp = on,
                WasiOption::IpNameLookup(on) => net.ip_name_lookup = on,
                WasiOption::InheritNetwork(on) => inherit = on,
            }
        }
        if inherit {
            net.bind.push(AddrRule::any());
            net.connect.push(AddrRule::any());
        }
        net
    }

    /// Applies the grants to wasmtime-wasi's context: the TCP, UDP and
    /// name lookup switches (the host's TCP honours the `WasiCtx`'s), and
    /// the address rules for UDP (binding by the bind rules,
    /// sending by the connect rules, as for TCP).
    pub fn apply_to_wasi(&self, b: &mut WasiCtxBuilder) {
        b.allow_tcp(self.tcp)
            .allow_udp(self.udp)
            .allow_ip_name_lookup(self.ip_name_lookup);
        let policy = Policy {
            bind: self.bind.clone(),
            connect: self.connect.clone(),
            ..Policy::default()
        };
        b.socket_addr_check(move |addr, usage| {
            let policy = policy.clone();
            Box::pin(async move { policy.allows(addr, usage).await })
        });
    }

    /// Applies the address rules to the capability's policy (the host's
    /// TCP; its on/off switch is the `WasiCtx`'s, set above).
    pub fn apply_to_sendfile(&self, mut b: SendfileCtxBuilder) -> SendfileCtxBuilder {
        for r in &self.bind {
            b = b.allow_bind(*r);
        }
        for r in &self.connect {
            b = b.allow_connect(*r);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_wasmtime_run() {
        assert_eq!("tcp=n".parse(), Ok(WasiOption::Tcp(false)));
        assert_eq!("udp".parse(), Ok(WasiOption::Udp(true)));
        assert_eq!(
            "allow-ip-name-lookup=yes".parse(),
            Ok(WasiOption::IpNameLookup(true))
        );
        assert!("tcp=maybe".parse::<WasiOption>().is_err());
        let err = "tpc".parse::<WasiOption>().unwrap_err();
        assert!(err.contains("known: tcp"), "{err}");
    }

    #[test]
    fn inherit_network_allows_every_address_and_later_options_win() {
        let net = Network::new(
            &[
                WasiOption::InheritNetwork(true),
                WasiOption::Tcp(false),
                WasiOption::Tcp(true),
            ],
            &[],
            &[],
        );
        assert!(net.tcp);
        assert_eq!(net.bind, [AddrRule::any()]);
        assert_eq!(net.connect, [AddrRule::any()]);
    }
}
