//! Test guest: runs a script of raw `wasi:sockets/tcp` and `wasi:io` calls,
//! one per argument, and prints one line per step. It imports nothing but
//! WASI 0.2, so the same script runs under the host's own tcp and under
//! wasmtime-wasi's, and the two transcripts can be compared.
//!
//! Sockets live in numbered slots (`create` and `accept` add one); a
//! connected slot also holds its streams. Steps (`N` a slot, `ADDR` an
//! `IP:PORT` or `[IPv6]:PORT`):
//!
//! - `create:4|6`; `bind:N:ADDR` (start and finish); `start-bind:N:ADDR`,
//!   `finish-bind:N`; `listen:N`; `start-listen:N`, `finish-listen:N`;
//!   `connect:N:ADDR` (start, wait, finish); `start-connect:N:ADDR`,
//!   `finish-connect:N`; `wait:N` (block on the socket's pollable);
//!   `ready:N` (is it ready now); `accept:N` (wait, accept); `try-accept:N`
//!   (one accept, no wait).
//! - `send:N:LEN` writes LEN pattern bytes through check-write, write and
//!   the output stream's pollable, and returns once all are accepted (no
//!   flush); `write2:N:A:B` writes A then B bytes within one permit;
//!   `flush:N`, `blocking-flush:N`, `wait-out:N`.
//! - `recv:N:LEN` reads up to LEN bytes, blocking, until LEN or the end;
//!   prints the count and a checksum; `skip:N:LEN` likewise, skipping.
//! - `shutdown:N:send|receive|both`; `drop-out:N`, `drop-in:N`, `drop:N`.
//! - `get:N:OPT`, `set:N:OPT:VALUE` with OPT one of keepalive, keepidle,
//!   keepintvl, keepcnt, hops, rcvbuf, sndbuf (get/set), backlog (set).
//! - `local:N`, `remote:N`, `listening:N`, `family:N`; `sleep:MS`.
//! - Beyond TCP, for the network switches: `udp-echo:ADDR` binds a UDP
//!   socket to the loopback address of ADDR's family, sends `ping` to ADDR
//!   and prints the reply; `lookup:NAME` resolves NAME and prints whether
//!   it found an address.
//!
//! Output: `STEP -> ok [DETAILS]` or `STEP -> err CODE`; stream errors print
//! as `closed` or `failed`. A step on an empty slot prints `no-socket`.

use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress, Network,
};
use wasi::sockets::tcp::{ShutdownType, TcpSocket};

/// A socket and, once connected, its streams.
struct Slot {
    socket: TcpSocket,
    input: Option<InputStream>,
    output: Option<OutputStream>,
}

/// The byte at `i` of every `send`: varies with the offset, so a lost or
/// repeated piece changes the peer's checksum.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8 ^ 0x5a
}

fn parse_addr(s: &str) -> IpSocketAddress {
    let addr: std::net::SocketAddr = s.parse().expect("an IP:PORT address");
    match addr {
        std::net::SocketAddr::V4(a) => {
            let [x0, x1, x2, x3] = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (x0, x1, x2, x3),
            })
        }
        std::net::SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: a.scope_id(),
            })
        }
    }
}

fn show_addr(addr: IpSocketAddress) -> String {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x0, x1, x2, x3) = a.address;
            format!("{x0}.{x1}.{x2}.{x3}:{}", a.port)
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            let ip = std::net::Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7);
            format!("[{ip}]:{}", a.port)
        }
    }
}

fn code(e: ErrorCode) -> String {
    format!("err {}", e.name())
}

fn stream_err(e: StreamError) -> String {
    match e {
        StreamError::Closed => "err closed".into(),
        StreamError::LastOperationFailed(_) => "err failed".into(),
    }
}

fn unit(r: Result<(), ErrorCode>) -> String {
    r.map_or_else(code, |()| "ok".into())
}

fn value<T: std::fmt::Display>(r: Result<T, ErrorCode>) -> String {
    r.map_or_else(code, |v| format!("ok {v}"))
}

struct Script {
    network: Network,
    slots: Vec<Option<Slot>>,
}

impl Script {
    fn push(&mut self, slot: Slot) -> usize {
        self.slots.push(Some(slot));
        self.slots.len() - 1
    }

    fn step(&mut self, step: &str) -> String {
        let parts: Vec<&str> = step.split(':').collect();
        // IPv6 addresses contain colons: the address is the rest.
        let rest = |i: usize| parts[i..].join(":");
        match parts[0] {
            "create" => {
                let family = match parts[1] {
                    "4" => IpAddressFamily::Ipv4,
                    _ => IpAddressFamily::Ipv6,
                };
                match wasi::sockets::tcp_create_socket::create_tcp_socket(family) {
                    Ok(socket) => {
                        let n = self.push(Slot {
                            socket,
                            input: None,
                            output: None,
                        });
                        format!("ok slot={n}")
                    }
                    Err(e) => code(e),
                }
            }
            "udp-echo" => udp_echo(&self.network, parse_addr(&rest(1))),
            "lookup" => lookup(&self.network, &rest(1)),
            "sleep" => {
                let ms: u64 = parts[1].parse().unwrap();
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                "ok".into()
            }
            _ => {
                let n: usize = parts[1].parse().expect("a slot number");
                let Some(slot) = self.slots.get_mut(n).and_then(Option::as_mut) else {
                    return "no-socket".into();
                };
                let out = slot_step(slot, &self.network, &parts, &rest);
                if parts[0] == "accept" || parts[0] == "try-accept" {
                    return match out {
                        Ok(accepted) => format!("ok slot={}", self.push(accepted)),
                        Err(e) => e,
                    };
                }
                if parts[0] == "drop" {
                    self.slots[n] = None;
                }
                out.err().unwrap_or_else(|| "ok".into())
            }
        }
    }
}

/// Runs one step on `slot`. `Ok` carries an accepted connection; `Err` the
/// line to print (which may be a success line).
fn slot_step(
    slot: &mut Slot,
    network: &Network,
    parts: &[&str],
    rest: &dyn Fn(usize) -> String,
) -> Result<Slot, String> {
    let s = &slot.socket;
    let num = |i: usize| -> u64 { parts[i].parse().expect("a number") };
    Err(match parts[0] {
        "bind" => {
            let r = s.start_bind(network, parse_addr(&rest(2)));
            unit(r.and_then(|()| s.finish_bind()))
        }
        "start-bind" => unit(s.start_bind(network, parse_addr(&rest(2)))),
        "finish-bind" => unit(s.finish_bind()),
        "listen" => unit(s.start_listen().and_then(|()| s.finish_listen())),
        "start-listen" => unit(s.start_listen()),
        "finish-listen" => unit(s.finish_listen()),
        "start-connect" => unit(s.start_connect(network, parse_addr(&rest(2)))),
        "connect" => match s.start_connect(network, parse_addr(&rest(2))) {
            Err(e) => code(e),
            Ok(()) => finish_connect(slot, true),
        },
        "finish-connect" => finish_connect(slot, false),
        "wait" => {
            s.subscribe().block();
            "ok".into()
        }
        "ready" => format!("ok {}", s.subscribe().ready()),
        "accept" => loop {
            s.subscribe().block();
            match s.accept() {
                Ok((socket, input, output)) => {
                    return Ok(Slot {
                        socket,
                        input: Some(input),
                        output: Some(output),
                    });
                }
                Err(ErrorCode::WouldBlock) => continue,
                Err(e) => break code(e),
            }
        },
        "try-accept" => match s.accept() {
            Ok((socket, input, output)) => {
                return Ok(Slot {
                    socket,
                    input: Some(input),
                    output: Some(output),
                });
            }
            Err(e) => code(e),
        },
        "send" => with_output(slot, |o| send(o, num(2))),
        "write2" => with_output(slot, |o| write2(o, num(2), num(3))),
        "flush" => with_output(slot, |o| {
            o.flush().map_or_else(stream_err, |()| "ok".into())
        }),
        "blocking-flush" => with_output(slot, |o| {
            o.blocking_flush().map_or_else(stream_err, |()| "ok".into())
        }),
        "wait-out" => with_output(slot, |o| {
            o.subscribe().block();
            "ok".into()
        }),
        "recv" => with_input(slot, |i| recv(i, num(2), false)),
        "skip" => with_input(slot, |i| recv(i, num(2), true)),
        "shutdown" => {
            let how = match parts[2] {
                "send" => ShutdownType::Send,
                "receive" => ShutdownType::Receive,
                _ => ShutdownType::Both,
            };
            unit(s.shutdown(how))
        }
        "drop-out" => {
            slot.output = None;
            "ok".into()
        }
        "drop-in" => {
            slot.input = None;
            "ok".into()
        }
        "drop" => {
            slot.input = None;
            slot.output = None;
            "ok".into()
        }
        "get" => get(s, parts[2]),
        "set" => set(s, parts[2], num(3)),
        "local" => s
            .local_address()
            .map_or_else(code, |a| format!("ok {}", show_addr(a))),
        "remote" => s
            .remote_address()
            .map_or_else(code, |a| format!("ok {}", show_addr(a))),
        "listening" => format!("ok {}", s.is_listening()),
        "family" => format!("ok {:?}", s.address_family()),
        other => panic!("unknown step {other}"),
    })
}

fn finish_connect(slot: &mut Slot, wait: bool) -> String {
    loop {
        if wait {
            slot.socket.subscribe().block();
        }
        match slot.socket.finish_connect() {
            Ok((input, output)) => {
                slot.input = Some(input);
                slot.output = Some(output);
                return "ok".into();
            }
            Err(ErrorCode::WouldBlock) if wait => continue,
            Err(e) => return code(e),
        }
    }
}

fn with_output(slot: &mut Slot, f: impl FnOnce(&OutputStream) -> String) -> String {
    slot.output.as_ref().map_or_else(|| "no-stream".into(), f)
}

fn with_input(slot: &mut Slot, f: impl FnOnce(&InputStream) -> String) -> String {
    slot.input.as_ref().map_or_else(|| "no-stream".into(), f)
}

/// Writes `len` pattern bytes, waiting for permits; done once all are
/// accepted.
fn send(o: &OutputStream, len: u64) -> String {
    let mut sent = 0;
    while sent < len {
        let permit = match o.check_write() {
            Ok(p) => p,
            Err(e) => return format!("{} sent={sent}", stream_err(e)),
        };
        if permit == 0 {
            o.subscribe().block();
            continue;
        }
        let n = permit.min(len - sent);
        let bytes: Vec<u8> = (sent..sent + n).map(pattern).collect();
        if let Err(e) = o.write(&bytes) {
            return format!("{} sent={sent}", stream_err(e));
        }
        sent += n;
    }
    "ok".into()
}

/// Two writes of `a` and `b` bytes (`a` pattern bytes from 0 on, then `b`
/// more) inside one permit, waiting first for a permit that holds both.
fn write2(o: &OutputStream, a: u64, b: u64) -> String {
    loop {
        match o.check_write() {
            Err(e) => return stream_err(e),
            Ok(p) if p >= a + b => break,
            Ok(_) => o.subscribe().block(),
        }
    }
    let first: Vec<u8> = (0..a).map(pattern).collect();
    let second: Vec<u8> = (a..a + b).map(pattern).collect();
    match o.write(&first).and_then(|()| o.write(&second)) {
        Ok(()) => "ok".into(),
        Err(e) => stream_err(e),
    }
}

/// Reads (or skips) until `len` bytes or the end of the stream.
fn recv(i: &InputStream, len: u64, skip: bool) -> String {
    let (mut got, mut sum) = (0u64, 0u64);
    while got < len {
        let r = if skip {
            i.subscribe().block();
            i.skip(len - got)
        } else {
            i.blocking_read(len - got).map(|b| {
                for (k, byte) in b.iter().enumerate() {
                    sum = sum
                        .wrapping_mul(31)
                        .wrapping_add(u64::from(*byte) ^ (got + k as u64));
                }
                b.len() as u64
            })
        };
        match r {
            Ok(n) => got += n,
            Err(StreamError::Closed) => return format!("ok n={got} sum={sum} end"),
            Err(e) => return format!("{} n={got}", stream_err(e)),
        }
    }
    format!("ok n={got} sum={sum}")
}

fn get(s: &TcpSocket, opt: &str) -> String {
    match opt {
        "keepalive" => value(s.keep_alive_enabled()),
        "keepidle" => value(s.keep_alive_idle_time()),
        "keepintvl" => value(s.keep_alive_interval()),
        "keepcnt" => value(s.keep_alive_count()),
        "hops" => value(s.hop_limit()),
        "rcvbuf" => value(s.receive_buffer_size()),
        "sndbuf" => value(s.send_buffer_size()),
        other => panic!("unknown option {other}"),
    }
}

fn set(s: &TcpSocket, opt: &str, v: u64) -> String {
    unit(match opt {
        "keepalive" => s.set_keep_alive_enabled(v != 0),
        "keepidle" => s.set_keep_alive_idle_time(v),
        "keepintvl" => s.set_keep_alive_interval(v),
        "keepcnt" => s.set_keep_alive_count(v as u32),
        "hops" => s.set_hop_limit(v as u8),
        "rcvbuf" => s.set_receive_buffer_size(v),
        "sndbuf" => s.set_send_buffer_size(v),
        "backlog" => s.set_listen_backlog_size(v),
        other => panic!("unknown option {other}"),
    })
}

/// Sends `ping` over UDP to `to` and prints the reply.
fn udp_echo(network: &Network, to: IpSocketAddress) -> String {
    use wasi::sockets::udp::OutgoingDatagram;
    let (family, local) = match to {
        IpSocketAddress::Ipv4(_) => (IpAddressFamily::Ipv4, "127.0.0.1:0"),
        IpSocketAddress::Ipv6(_) => (IpAddressFamily::Ipv6, "[::1]:0"),
    };
    let run = || -> Result<String, ErrorCode> {
        let socket = wasi::sockets::udp_create_socket::create_udp_socket(family)?;
        socket.start_bind(network, parse_addr(local))?;
        socket.subscribe().block();
        socket.finish_bind()?;
        let (incoming, outgoing) = socket.stream(Some(to))?;
        outgoing.subscribe().block();
        outgoing.check_send()?;
        outgoing.send(&[OutgoingDatagram {
            data: b"ping".to_vec(),
            remote_address: None,
        }])?;
        loop {
            incoming.subscribe().block();
            if let Some(d) = incoming.receive(1)?.pop() {
                return Ok(format!("ok {}", String::from_utf8_lossy(&d.data)));
            }
        }
    };
    run().unwrap_or_else(code)
}

/// Resolves `name`.
fn lookup(network: &Network, name: &str) -> String {
    let resolve = || -> Result<bool, ErrorCode> {
        let stream = wasi::sockets::ip_name_lookup::resolve_addresses(network, name)?;
        let mut found = false;
        loop {
            match stream.resolve_next_address() {
                Ok(Some(_)) => found = true,
                Ok(None) => return Ok(found),
                Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
                Err(e) => return Err(e),
            }
        }
    };
    resolve().map_or_else(code, |found| format!("ok found={found}"))
}

fn main() {
    let mut script = Script {
        network: wasi::sockets::instance_network::instance_network(),
        slots: Vec::new(),
    };
    for step in std::env::args().skip(1) {
        let out = script.step(&step);
        println!("{step} -> {out}");
    }
    // Streams before sockets: a socket's streams are its children.
    for slot in script.slots.iter_mut().flatten() {
        slot.input = None;
        slot.output = None;
    }
}
