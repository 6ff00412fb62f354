//! A connection's socket I/O, split in two halves that work at once: the
//! reading half ([`Input`]: the socket and the bytes read but not used yet,
//! such as the rest of a pipelined request) and the writing half
//! ([`Output`]). A request body can go on arriving while the response goes
//! out. Every read and write is bounded by a time without progress.

use bytes::BytesMut;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Why reading or writing stopped.
#[derive(Debug)]
pub(crate) enum IoEnd {
    /// The peer closed its side (a read returned 0).
    Eof,
    /// No progress within the time allowed.
    TimedOut,
    /// The socket failed.
    Failed(io::Error),
}

impl std::fmt::Display for IoEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IoEnd::Eof => f.write_str("the client closed the connection"),
            IoEnd::TimedOut => f.write_str("no progress in time"),
            IoEnd::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// One client connection.
pub(crate) struct Conn {
    pub input: Input,
    pub output: Output,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        let stream = Arc::new(stream);
        Self {
            input: Input {
                stream: stream.clone(),
                buf: BytesMut::with_capacity(8 * 1024),
            },
            output: Output(stream),
        }
    }
}

/// How long a closing connection keeps reading (and dropping) what the
/// client still sends, and how much at most: closing a socket with unread
/// input resets it, and the reset can destroy the response the client has
/// not read yet (nginx's `lingering_close`).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

impl Conn {
    /// Closes in order: the response's end (FIN) goes out, then what the
    /// client still sends is read and dropped until it closes too, for at
    /// most [`LINGER`] and [`LINGER_BYTES`].
    pub async fn close_gently(mut self) {
        let _ = rustix::net::shutdown(&*self.output.0, rustix::net::Shutdown::Write);
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.input.buf.clear();
            match self.input.read_more(left).await {
                Ok(n) => dropped += n,
                Err(_) => break,
            }
        }
    }

    /// Resets the connection (`SO_LINGER` 0): the client sees an error,
    /// not an end.
    pub fn reset(self) {
        let fd = &*self.output.0;
        let _ = rustix::net::sockopt::set_socket_linger(fd, Some(Duration::ZERO));
    }
}

/// The reading half: the socket and the bytes read but not used yet.
pub(crate) struct Input {
    stream: Arc<TcpStream>,
    pub buf: BytesMut,
}

impl Input {
    /// Reads what is there into the buffer (at least one byte), waiting
    /// at most `limit`.
    pub async fn read_more(&mut self, limit: Duration) -> Result<usize, IoEnd> {
        let read = async {
            loop {
                self.stream.readable().await.map_err(IoEnd::Failed)?;
                if self.buf.capacity() - self.buf.len() < 4096 {
                    self.buf.reserve(8 * 1024);
                }
                match self.stream.try_read_buf(&mut self.buf) {
                    Ok(0) => return Err(IoEnd::Eof),
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(IoEnd::Failed(e)),
                }
            }
        };
        tokio::time::timeout(limit, read)
            .await
            .unwrap_or(Err(IoEnd::TimedOut))
    }
}

/// The writing half.
pub(crate) struct Output(pub Arc<TcpStream>);

impl Output {
    /// Writes all of `bytes`; fails if the peer takes nothing for `idle`.
    pub async fn write_all(&self, mut bytes: &[u8], idle: Duration) -> Result<(), IoEnd> {
        while !bytes.is_empty() {
            match self.0.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match tokio::time::timeout(idle, self.0.writable()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(IoEnd::Failed(e)),
                        Err(_) => return Err(IoEnd::TimedOut),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(IoEnd::Failed(e)),
            }
        }
        Ok(())
    }
}
