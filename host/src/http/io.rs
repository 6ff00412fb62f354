//! A connection's socket I/O: reads into the connection's buffer and
//! whole writes, each bounded by a time without progress.

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

/// One client connection: the socket and the bytes read but not used yet
/// (the rest of a pipelined request, say).
pub(crate) struct Conn {
    pub stream: Arc<TcpStream>,
    pub buf: BytesMut,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream: Arc::new(stream),
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

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

    /// Writes all of `bytes`; fails if the peer takes nothing for `idle`.
    pub async fn write_all(&self, mut bytes: &[u8], idle: Duration) -> Result<(), IoEnd> {
        while !bytes.is_empty() {
            match self.stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match tokio::time::timeout(idle, self.stream.writable()).await {
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
