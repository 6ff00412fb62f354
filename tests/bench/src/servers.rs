//! The servers compared, started as separate processes so each one's CPU
//! time and memory can be read from `/proc`.

use crate::procstat::Proc;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// One of the servers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`crate::native`]: `sendfile(2)` with no sandbox.
    Native,
    /// `wasm-sendfile serve`: the guest with the sendfile capability.
    Sendfile,
    /// `wasm-sendfile serve --body copy`: the plain WASI read/write path.
    Copy,
    /// `wasm-sendfile serve --body splice`: WASI `splice` (non-blocking).
    Splice,
    /// `wasm-sendfile http http-files`: a `wasi:http` component answering
    /// with `http-file` bodies (sent by sendfile).
    Http,
    /// The same component answering through the `wasi:http` body stream
    /// (`HTTP_FILES_BODY=stream`).
    HttpStream,
    /// nginx, one worker process, `sendfile on`.
    Nginx,
    /// The same with `open_file_cache` (its best static-file setting),
    /// revalidating every second as the guest's open-file cache does.
    NginxCached,
}

impl Kind {
    /// Every kind, in table order.
    pub const ALL: [Kind; 8] = [
        Kind::Native,
        Kind::Sendfile,
        Kind::Copy,
        Kind::Splice,
        Kind::Http,
        Kind::HttpStream,
        Kind::Nginx,
        Kind::NginxCached,
    ];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Native => "native sendfile(2) server",
            Kind::Sendfile => "guest, sendfile capability",
            Kind::Copy => "guest, WASI read + write (copy)",
            Kind::Splice => "guest, WASI splice",
            Kind::Http => "wasi:http guest, http-file body",
            Kind::HttpStream => "wasi:http guest, body stream",
            Kind::Nginx => "nginx, 1 worker, sendfile on",
            Kind::NginxCached => "nginx, same, open_file_cache on",
        }
    }

    /// Whether this kind runs a guest (and so reports guest memory).
    pub fn is_guest(self) -> bool {
        matches!(self, Kind::Sendfile | Kind::Copy | Kind::Splice)
    }

    /// Whether this kind runs a component under `wasm-sendfile` (`serve` or
    /// `http`), which can count its calls into the host.
    pub fn is_component(self) -> bool {
        self.is_guest() || matches!(self, Kind::Http | Kind::HttpStream)
    }

    /// Whether this kind is nginx.
    pub fn is_nginx(self) -> bool {
        matches!(self, Kind::Nginx | Kind::NginxCached)
    }
}

/// Where the programs are.
pub struct Programs {
    /// The `wasm-sendfile` binary (release build).
    pub wasm_sendfile: PathBuf,
    /// This benchmark's own binary, which also runs the native server.
    pub bench: PathBuf,
}

/// A running server, stopped when dropped.
pub struct Server {
    /// Which server.
    pub kind: Kind,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where a guest server started by [`Server::start_with_metrics`]
    /// serves its metrics.
    pub metrics: Option<SocketAddr>,
    child: Child,
    stderr: PathBuf,
    _scratch: tempfile::TempDir,
}

/// A free loopback port.
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address")
}

impl Server {
    /// Starts `kind` serving `dir` on a free loopback port, on the CPUs
    /// `cpus` (a `taskset` list such as `1` or `0,1`); a guest server runs
    /// `workers` instances. `Err` says why it could not start.
    pub fn start(
        kind: Kind,
        dir: &Path,
        programs: &Programs,
        cpus: &str,
        workers: usize,
    ) -> Result<Server, String> {
        Self::start_with(kind, dir, programs, cpus, workers, None)
    }

    /// Like [`Server::start`] with one worker, for a guest server that
    /// also serves its metrics (host calls counted) at a free address.
    pub fn start_with_metrics(
        kind: Kind,
        dir: &Path,
        programs: &Programs,
        cpus: &str,
    ) -> Result<Server, String> {
        if !kind.is_component() {
            return Err(format!("{} has no metrics endpoint", kind.label()));
        }
        Self::start_with(kind, dir, programs, cpus, 1, Some(free_addr()))
    }

    fn start_with(
        kind: Kind,
        dir: &Path,
        programs: &Programs,
        cpus: &str,
        workers: usize,
        metrics: Option<SocketAddr>,
    ) -> Result<Server, String> {
        let addr = free_addr();
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let stderr = scratch.path().join("stderr");
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", cpus]);
        let body = match kind {
            Kind::Native => {
                cmd.arg(&programs.bench).arg("native-server").arg(dir);
                cmd.arg(addr.to_string());
                None
            }
            Kind::Nginx | Kind::NginxCached => {
                let cached = kind == Kind::NginxCached;
                let conf =
                    nginx_conf(scratch.path(), dir, addr, cached).map_err(|e| e.to_string())?;
                cmd.args(["nginx", "-p"])
                    .arg(scratch.path())
                    .arg("-c")
                    .arg(conf);
                None
            }
            Kind::Http | Kind::HttpStream => {
                let grant = format!("{}::/", dir.display());
                cmd.arg(&programs.wasm_sendfile)
                    .args(["http", "http-files", "--dir-ro", &grant]);
                cmd.args(["--listen", &addr.to_string()]);
                cmd.args(["--workers", &workers.to_string()]);
                if kind == Kind::HttpStream {
                    cmd.args(["--env", "HTTP_FILES_BODY=stream"]);
                }
                if let Some(metrics) = metrics {
                    cmd.args(["--metrics", &metrics.to_string()]);
                }
                None
            }
            Kind::Sendfile => Some("sendfile"),
            Kind::Copy => Some("copy"),
            Kind::Splice => Some("splice"),
        };
        if let Some(body) = body {
            cmd.arg(&programs.wasm_sendfile).arg("serve").arg(dir);
            cmd.args(["--listen", &addr.to_string(), "--quiet", "--body", body]);
            cmd.args(["--workers", &workers.to_string()]);
            if let Some(metrics) = metrics {
                cmd.args(["--metrics", &metrics.to_string()]);
            }
        }
        let err_file = fs::File::create(&stderr).map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", kind.label()))?;
        let mut server = Server {
            kind,
            addr,
            metrics,
            child,
            stderr,
            _scratch: scratch,
        };
        server.wait_listening()?;
        Ok(server)
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}): {}",
                    self.kind.label(),
                    fs::read_to_string(&self.stderr).unwrap_or_default().trim()
                ));
            }
            if TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{} did not start listening", self.kind.label()))
    }

    /// The server process.
    pub fn proc(&self) -> Proc {
        Proc(self.child.id())
    }

    /// Stops the server (SIGINT) and returns the peak guest linear memory
    /// from its `stats:` line, for guest servers.
    pub fn stop(mut self) -> Option<u64> {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = fs::read_to_string(&self.stderr).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("stats:"))
            .flat_map(str::split_whitespace)
            .find_map(|kv| kv.strip_prefix("guest_memory_peak="))
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An nginx configuration for one worker process in the foreground, with
/// every path inside `scratch`; returns its path.
fn nginx_conf(
    scratch: &Path,
    root: &Path,
    addr: SocketAddr,
    cached: bool,
) -> std::io::Result<PathBuf> {
    let s = scratch.display();
    let cache = if cached {
        "open_file_cache max=1000 inactive=20s;\n           open_file_cache_valid 1s;\n"
    } else {
        ""
    };
    let conf = format!(
        "daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         error_log {s}/error.log;\n\
         pid {s}/nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           access_log off;\n\
           sendfile on;\n\
           tcp_nopush on;\n\
           keepalive_requests 1000000;\n\
           default_type application/octet-stream;\n\
           client_body_temp_path {s}/body;\n\
           proxy_temp_path {s}/proxy;\n\
           fastcgi_temp_path {s}/fastcgi;\n\
           uwsgi_temp_path {s}/uwsgi;\n\
           scgi_temp_path {s}/scgi;\n\
           {cache}\
           server {{ listen {addr}; root {root}; }}\n\
         }}\n",
        root = root.display()
    );
    let path = scratch.join("nginx.conf");
    fs::write(&path, conf)?;
    Ok(path)
}
