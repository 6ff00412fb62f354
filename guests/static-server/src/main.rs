//! A static HTTP/1.1 file server in one guest instance, every body sent by
//! the sendfile capability.
//!
//! `static-server ROOT [ADDR]` serves the preopened directory ROOT on ADDR
//! (default 127.0.0.1:8080). One event loop over `wasi:io/poll` drives all
//! connections with non-blocking sends, so a slow or stalled client never
//! holds up the others. Settings, from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STATIC_MAX_CONNECTIONS` | 512 | connections at once; at the limit the longest-idle keep-alive connection is closed for a new one, and with none idle the new one gets 503 |
//! | `STATIC_KEEPALIVE_SECS` | 30 | an idle keep-alive connection is closed after this long (nginx's `keepalive_timeout`); 0 turns keep-alive off |
//! | `STATIC_HEADER_SECS` | 10 | a request not complete this long after its first byte (the first: after accept) closes its connection, however slowly its bytes come (`client_header_timeout`); at least 1 |
//! | `STATIC_SEND_SECS` | 60 | a reply that makes no progress this long closes its connection (`send_timeout`); at least 1 |
//! | `STATIC_ACCESS_LOG` | 1 | 0 turns the access log (standard output) off |
//! | `STATIC_DOTFILES` | 0 | 1 serves names starting with `.` |
//! | `STATIC_LISTING` | 0 | 1 lists directories without an index (else 403) |
//! | `STATIC_CACHE_CONTROL` | unset | a `Cache-Control` value for files' responses |
//! | `STATIC_BODY` | `sendfile` | how bodies are sent: `sendfile`, or the plain WASI `copy` and `splice`, for comparison |
//! | `STATIC_WORKER` | unset | set by `wasm-sendfile serve`, which announces the server itself |
//!
//! When the listening socket stops listening (`wasm-sendfile serve` shuts
//! it down at SIGINT or SIGTERM), the server drains: idle connections are
//! closed, replies in progress finish with `Connection: close`, and the
//! guest exits once none is left.

mod body;
mod clock;
mod conn;
mod dates;
mod files;
mod http;
mod listing;
mod log;
mod open_files;
mod precompressed;

use conn::{Conn, State};
use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use wasi::clocks::monotonic_clock;
use wasm_sendfile_sdk::net::TcpListener;

/// What every connection needs to know.
pub struct Config {
    /// The served directory and what may be served from it.
    pub files: files::Site,
    /// How bodies are sent.
    pub via: body::Via,
    /// Where each response is reported: the access log, the host's metrics.
    pub report: log::Report,
    /// How long connections may wait in each state.
    pub timeouts: Timeouts,
    /// The server is shutting down: replies close their connections.
    pub draining: Cell<bool>,
    /// Files kept open across requests.
    pub open_files: RefCell<open_files::OpenFiles>,
}

/// How long a connection may wait, by what it waits for (nanoseconds).
pub struct Timeouts {
    /// Between requests.
    pub keepalive_ns: u64,
    /// From a request's first byte to its end.
    pub header_ns: u64,
    /// Between two bits of progress sending a reply.
    pub send_ns: u64,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next() else {
        eprintln!("usage: static-server ROOT [ADDR]");
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(ErrorKind::InvalidInput, format!("address `{addr}`: {e}"))
    })?;
    let max_conns = env_num("STATIC_MAX_CONNECTIONS", 512).max(1) as usize;
    let secs = |name, default| env_num(name, default).saturating_mul(1_000_000_000);
    let via = std::env::var("STATIC_BODY").unwrap_or_else(|_| "sendfile".into());
    let Some(via) = body::Via::parse(&via) else {
        eprintln!("STATIC_BODY `{via}`: expected sendfile, copy or splice");
        std::process::exit(2);
    };
    let cfg = Config {
        files: files::Site {
            root,
            dotfiles: env_num("STATIC_DOTFILES", 0) != 0,
            listing: env_num("STATIC_LISTING", 0) != 0,
            // No control characters (a line break would end the header).
            cache_control: std::env::var("STATIC_CACHE_CONTROL")
                .ok()
                .map(|v| v.trim_matches([' ', '\t']).to_string())
                .filter(|v| !v.is_empty() && !v.chars().any(|c| c.is_control() && c != '\t')),
        },
        via,
        report: log::Report {
            access_log: env_num("STATIC_ACCESS_LOG", 1) != 0,
            metrics: env_num("STATIC_METRICS", 0) != 0,
        },
        timeouts: Timeouts {
            keepalive_ns: secs("STATIC_KEEPALIVE_SECS", 30),
            // Zero would close connections before they are read.
            header_ns: secs("STATIC_HEADER_SECS", 10).max(1_000_000_000),
            send_ns: secs("STATIC_SEND_SECS", 60).max(1_000_000_000),
        },
        draining: Cell::new(false),
        open_files: RefCell::default(),
    };

    let listener = TcpListener::bind(addr)?;
    if std::env::var_os("STATIC_WORKER").is_none() {
        println!(
            "serving {} on http://{}",
            cfg.files.root,
            listener.local_addr()?
        );
    }
    let incoming = listener.subscribe();
    let mut conns: Vec<Conn> = Vec::new();
    // Wakes the loop once a second to close timed-out connections; made
    // anew only after it fires, not on every turn.
    let mut tick = monotonic_clock::subscribe_duration(1_000_000_000);
    // Whether the last poll found the tick ready (it is polled first).
    let mut tick_ready = false;
    // Accepting is paused after an accept error (out of descriptors, say)
    // until this time, rather than retried at once, forever.
    let mut paused_until = 0u64;
    clock::refresh();
    loop {
        if tick_ready {
            let now = clock::monotonic_ns();
            close_where(&mut conns, &cfg, |c| c.expired(now, &cfg.timeouts));
            cfg.open_files.borrow_mut().sweep(now);
            tick = monotonic_clock::subscribe_duration(1_000_000_000);
        }
        if cfg.draining.get() {
            close_where(&mut conns, &cfg, Conn::is_idle);
            if conns.is_empty() {
                return Ok(());
            }
        }
        // The tick, the listener (unless paused, or draining: then it
        // stays ready), then one pollable per connection.
        let listening = !cfg.draining.get() && clock::monotonic_ns() >= paused_until;
        let first_conn = 1 + usize::from(listening);
        let ready = {
            let mut pollables = vec![&tick];
            if listening {
                pollables.push(&incoming);
            }
            pollables.extend(conns.iter().map(Conn::pollable));
            wasi::io::poll::poll(&pollables)
        };
        clock::refresh();
        tick_ready = ready.contains(&0);
        let mut closed = Vec::new();
        for i in ready.into_iter().map(|i| i as usize) {
            if i >= first_conn {
                if conns[i - first_conn].step(&cfg) == State::Closed {
                    closed.push(i - first_conn);
                }
            } else if i == 1 && !accept_all(&listener, &mut conns, max_conns, &cfg) {
                paused_until = clock::monotonic_ns() + ACCEPT_PAUSE_NS;
            }
        }
        closed.sort_unstable();
        for k in closed.into_iter().rev() {
            conns.swap_remove(k).close(cfg.report);
        }
    }
}

/// Closes (and logs, if cut short) every connection for which `doomed`
/// holds.
fn close_where(conns: &mut Vec<Conn>, cfg: &Config, doomed: impl Fn(&Conn) -> bool) {
    let mut k = 0;
    while k < conns.len() {
        if doomed(&conns[k]) {
            conns.swap_remove(k).close(cfg.report);
        } else {
            k += 1;
        }
    }
}

/// How long accepting pauses after an accept error (nginx: 500 ms).
const ACCEPT_PAUSE_NS: u64 = 500_000_000;

/// Accepts every waiting connection. At the limit, the longest-idle
/// keep-alive connection makes room (as nginx reuses idle connections);
/// with none idle, the new one gets 503 and is closed. A listener that no
/// longer listens starts the drain. `false` after an accept error (out of
/// descriptors, say): an idle connection is closed to free one, and
/// accepting pauses for [`ACCEPT_PAUSE_NS`].
fn accept_all(listener: &TcpListener, conns: &mut Vec<Conn>, max: usize, cfg: &Config) -> bool {
    loop {
        match listener.try_accept() {
            Ok((stream, peer)) => {
                if conns.len() >= max
                    && let Some(k) = longest_idle(conns)
                {
                    conns.swap_remove(k).close(cfg.report);
                }
                if conns.len() < max {
                    conns.push(Conn::new(stream, peer));
                } else {
                    refuse(&stream, peer, cfg.report);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            // `invalid-argument`/`invalid-state`: the socket was shut down.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::NotConnected) => {
                cfg.draining.set(true);
                for conn in conns.iter_mut() {
                    conn.close_after_reply();
                }
                return true;
            }
            Err(e) => {
                eprintln!("static-server: accept failed ({e}); pausing accepts for 500 ms");
                if let Some(k) = longest_idle(conns) {
                    conns.swap_remove(k).close(cfg.report);
                }
                return false;
            }
        }
    }
}

/// The idle connection that has waited longest, if any.
fn longest_idle(conns: &[Conn]) -> Option<usize> {
    (0..conns.len())
        .filter(|&k| conns[k].is_idle())
        .min_by_key(|&k| conns[k].last_active)
}

/// Answers a connection over the limit with 503 (what the socket takes at
/// once) and logs it; dropping the stream closes it.
fn refuse(stream: &wasm_sendfile_sdk::net::TcpStream, peer: std::net::SocketAddr, to: log::Report) {
    let response = http::error_response(503, false, false);
    let sent = stream.try_write(&response).unwrap_or(0);
    to.report(&log::Entry {
        peer,
        request: None,
        status: 503,
        body_bytes: sent.saturating_sub(http::header_len(&response)) as u64,
        referer: None,
        user_agent: None,
        elapsed_ns: 0,
    });
}
