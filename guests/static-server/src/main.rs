//! A static HTTP/1.1 file server in one guest instance, every body sent by
//! the sendfile capability.
//!
//! `static-server ROOT [ADDR]` serves the preopened directory ROOT on ADDR
//! (default 127.0.0.1:8080). One event loop over `wasi:io/poll` drives all
//! connections with non-blocking sends, so a slow or stalled client never
//! holds up the others. Limits, from the environment:
//! `STATIC_MAX_CONNECTIONS` (default 512; over it: 503 and close) and
//! `STATIC_IDLE_SECS` (default 30; a connection making no progress that
//! long is closed), `STATIC_HEADER_SECS` (default 10; a request not
//! complete that long after its first byte closes its connection, however
//! slowly its bytes come: nginx's `client_header_timeout`). `STATIC_ACCESS_LOG=0` turns the access log off;
//! `STATIC_DOTFILES=1` serves names starting with `.` (refused by default);
//! `STATIC_BODY` picks how bodies are sent (`sendfile`, the default, or the
//! plain WASI `copy` and `splice` paths, for comparison); `STATIC_WORKER`
//! (set by `wasm-sendfile serve`) numbers instances sharing one port, of
//! which only the first announces itself.

mod body;
mod conn;
mod files;
mod http;

use conn::{Conn, State};
use std::io::ErrorKind;
use wasi::clocks::monotonic_clock;
use wasm_sendfile_sdk::net::TcpListener;

/// What every connection needs to know.
pub struct Config {
    /// The served directory and what may be served from it.
    pub files: files::Site,
    /// How bodies are sent.
    pub via: body::Via,
    /// Whether to print an access-log line per request.
    pub access_log: bool,
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
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(ErrorKind::InvalidInput, format!("address `{addr}`: {e}"))
    })?;
    let max_conns = env_num("STATIC_MAX_CONNECTIONS", 512) as usize;
    let idle_ns = env_num("STATIC_IDLE_SECS", 30) * 1_000_000_000;
    let header_ns = env_num("STATIC_HEADER_SECS", 10) * 1_000_000_000;
    let via = std::env::var("STATIC_BODY").unwrap_or_else(|_| "sendfile".into());
    let Some(via) = body::Via::parse(&via) else {
        eprintln!("STATIC_BODY `{via}`: expected sendfile, copy or splice");
        std::process::exit(2);
    };
    let cfg = Config {
        files: files::Site {
            root,
            dotfiles: env_num("STATIC_DOTFILES", 0) != 0,
        },
        via,
        access_log: env_num("STATIC_ACCESS_LOG", 1) != 0,
    };

    let listener = TcpListener::bind(addr)?;
    if env_num("STATIC_WORKER", 0) == 0 {
        println!(
            "serving {} on http://{}",
            cfg.files.root,
            listener.local_addr()?
        );
    }
    let incoming = listener.subscribe();
    let mut conns: Vec<Conn> = Vec::new();
    // Wakes the loop once a second to close idle connections; made anew only
    // after it fires, not on every turn.
    let mut tick = monotonic_clock::subscribe_duration(1_000_000_000);
    loop {
        if tick.ready() {
            let now = monotonic_clock::now();
            conns.retain(|c| !c.expired(now, idle_ns, header_ns));
            tick = monotonic_clock::subscribe_duration(1_000_000_000);
        }
        let ready = {
            let mut pollables = vec![&incoming, &tick];
            pollables.extend(conns.iter().map(Conn::pollable));
            wasi::io::poll::poll(&pollables)
        };
        let mut closed = Vec::new();
        for i in ready {
            match i {
                0 => accept_all(&listener, &mut conns, max_conns),
                1 => {}
                i => {
                    let k = i as usize - 2;
                    if conns[k].step(&cfg) == State::Closed {
                        closed.push(k);
                    }
                }
            }
        }
        closed.sort_unstable();
        for k in closed.into_iter().rev() {
            conns.remove(k);
        }
    }
}

/// Accepts every waiting connection; over the limit, answers 503 and closes.
fn accept_all(listener: &TcpListener, conns: &mut Vec<Conn>, max: usize) {
    loop {
        match listener.try_accept() {
            Ok((stream, peer)) if conns.len() < max => conns.push(Conn::new(stream, peer)),
            Ok((stream, _)) => {
                let _ = stream.try_write(&http::error_response(503, false, false));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("accept failed: {e}");
                return;
            }
        }
    }
}
