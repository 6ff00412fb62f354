//! A request's body, from the connection to the guest: the connection
//! reads and de-chunks it ([`pump`]) into a bounded channel that the guest's
//! `incoming-body` stream reads ([`IncomingBody`]). The end of the body is
//! a message of its own: a body cut short, badly chunked or too large, or
//! a channel that closes without that message, reaches the guest as a
//! stream error, never as a clean end. A truncated upload must not look
//! complete.

use super::io::{Input, IoEnd};
use super::request::Framing;
use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use wasmtime_wasi_http::Error;

/// Pieces in flight between the connection and the guest.
const CHANNEL_PIECES: usize = 4;

/// Most bytes of one piece handed to the guest.
const PIECE: usize = 64 * 1024;

/// Most bytes of a chunk-size line, and of the trailer section.
const MAX_CHUNK_LINE: usize = 4096;

/// What goes through the channel.
pub(crate) enum Piece {
    /// The next bytes of the body.
    Data(Bytes),
    /// The body is complete.
    End,
    /// The body broke: cut short, badly chunked, too large, timed out.
    Broken,
}

/// The guest's side of a request body.
pub(crate) struct IncomingBody {
    rx: mpsc::Receiver<Piece>,
    length: Option<u64>,
    /// Whether the end (or an error) was handed on: nothing follows.
    done: bool,
}

/// The connection's side: where [`pump`] puts the body.
pub(crate) type BodySender = mpsc::Sender<Piece>;

/// A body channel for a request framed as `framing`.
pub(crate) fn channel(framing: Framing) -> (BodySender, IncomingBody) {
    let (tx, rx) = mpsc::channel(CHANNEL_PIECES);
    let length = match framing {
        Framing::Empty => Some(0),
        Framing::Length(n) => Some(n),
        Framing::Chunked => None,
    };
    let done = false;
    (tx, IncomingBody { rx, length, done })
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let piece = std::task::ready!(self.rx.poll_recv(cx));
        Poll::Ready(match piece {
            Some(Piece::Data(bytes)) => Some(Ok(Frame::data(bytes))),
            Some(Piece::End) => {
                self.done = true;
                None
            }
            // Broken, or the connection's side went away before the end.
            Some(Piece::Broken) | None => {
                self.done = true;
                Some(Err(Error::HttpProtocolError))
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.length
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// How a body ended on the connection's side.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PumpEnd {
    /// Read in full: the connection is at the next request.
    Complete,
    /// The guest dropped its body stream first, or the body broke (cut
    /// short, badly chunked, over `max_body`, timed out): the connection
    /// is not at a request boundary and must close after the response.
    Abandoned,
}

/// Reads the body framed as `framing` from `conn` into `tx`, waiting at
/// most `idle` for each read and refusing more than `max_body` bytes.
pub(crate) async fn pump(
    conn: &mut Input,
    framing: Framing,
    tx: BodySender,
    idle: Duration,
    max_body: u64,
) -> PumpEnd {
    let result = match framing {
        Framing::Empty => Ok(()),
        Framing::Length(n) if n > max_body => Err(Broken::TooLarge),
        Framing::Length(n) => fixed(conn, n, &tx, idle).await,
        Framing::Chunked => chunked(conn, &tx, idle, max_body).await,
    };
    match result {
        // The guest may have dropped its body meanwhile: the connection is
        // at the next request all the same.
        Ok(()) => {
            let _ = tx.send(Piece::End).await;
            PumpEnd::Complete
        }
        Err(Broken::GuestLeft) => PumpEnd::Abandoned,
        Err(broken) => {
            tracing::debug!(%broken, "request body broken");
            let _ = tx.send(Piece::Broken).await;
            PumpEnd::Abandoned
        }
    }
}

enum Broken {
    GuestLeft,
    TooLarge,
    Malformed,
    Io(IoEnd),
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::GuestLeft => f.write_str("the guest dropped the body"),
            Broken::TooLarge => f.write_str("larger than the limit"),
            Broken::Malformed => f.write_str("badly chunked"),
            Broken::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Hands `n` buffered bytes to the guest, or reads more if none are.
async fn piece(conn: &mut Input, n: u64, tx: &BodySender, idle: Duration) -> Result<u64, Broken> {
    if conn.buf.is_empty() {
        conn.read_more(idle).await.map_err(Broken::Io)?;
    }
    let take = (conn.buf.len() as u64).min(n).min(PIECE as u64) as usize;
    let bytes = conn.buf.split_to(take).freeze();
    tx.send(Piece::Data(bytes))
        .await
        .map_err(|_| Broken::GuestLeft)?;
    Ok(take as u64)
}

async fn fixed(
    conn: &mut Input,
    mut left: u64,
    tx: &BodySender,
    idle: Duration,
) -> Result<(), Broken> {
    while left > 0 {
        left -= piece(conn, left, tx, idle).await?;
    }
    Ok(())
}

async fn chunked(
    conn: &mut Input,
    tx: &BodySender,
    idle: Duration,
    max: u64,
) -> Result<(), Broken> {
    let mut total = 0u64;
    loop {
        let size = loop {
            match chunk_size_line(&conn.buf) {
                Ok(Some((used, size))) => {
                    conn.buf.advance(used);
                    break size;
                }
                Ok(None) => {
                    conn.read_more(idle).await.map_err(Broken::Io)?;
                }
                Err(()) => return Err(Broken::Malformed),
            }
        };
        if size == 0 {
            return trailer_section(conn, idle).await;
        }
        total = total.saturating_add(size);
        if total > max {
            return Err(Broken::TooLarge);
        }
        fixed(conn, size, tx, idle).await?;
        expect(conn, b"\r\n", idle).await?;
    }
}

/// Skips the trailer section after the last chunk, up to its empty line
/// (trailers are not passed on). Each line must be a field line: a name,
/// a colon, and no control characters but tab; at most
/// [`MAX_CHUNK_LINE`] bytes in all.
async fn trailer_section(conn: &mut Input, idle: Duration) -> Result<(), Broken> {
    let mut skipped = 0;
    loop {
        if let Some(end) = conn.buf.windows(2).position(|w| w == b"\r\n") {
            let line = &conn.buf[..end];
            if end > 0 && !field_line(line) {
                return Err(Broken::Malformed);
            }
            conn.buf.advance(end + 2);
            if end == 0 {
                return Ok(());
            }
            skipped += end + 2;
            continue;
        }
        if skipped + conn.buf.len() > MAX_CHUNK_LINE {
            return Err(Broken::Malformed);
        }
        conn.read_more(idle).await.map_err(Broken::Io)?;
    }
}

/// A chunk-size line at the start of `buf` (RFC 9112 §7.1): 1 to 16 hex
/// digits, optional whitespace, optional extensions (`;` and visible
/// characters, spaces and tabs), CRLF. Its length and the size; `None`
/// if it is not complete yet. Stricter than httparse's, which takes a
/// line without digits for size 0 and a bare LF inside an extension:
/// where a front proxy reads a line differently, bodies would end at
/// different places (request smuggling).
fn chunk_size_line(buf: &[u8]) -> Result<Option<(usize, u64)>, ()> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > MAX_CHUNK_LINE || buf.contains(&b'\n') {
            Err(())
        } else {
            Ok(None)
        };
    };
    if end > MAX_CHUNK_LINE {
        return Err(());
    }
    let line = &buf[..end];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(());
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    let visible = |b: &u8| *b == b'\t' || (b' '..=b'~').contains(b) || *b >= 0x80;
    if !(rest.is_empty() || rest[0] == b';' && rest.iter().all(visible)) {
        return Err(());
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| ())?;
    let size = u64::from_str_radix(hex, 16).map_err(|_| ())?;
    Ok(Some((end + 2, size)))
}

/// A trailer field line: a token name, a colon, then visible characters,
/// spaces and tabs.
fn field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    let visible = |b: &u8| *b == b'\t' || (b' '..=b'~').contains(b) || *b >= 0x80;
    colon > 0 && line[..colon].iter().all(tchar) && line[colon + 1..].iter().all(visible)
}

/// Consumes `bytes`, which must come next.
async fn expect(conn: &mut Input, bytes: &[u8], idle: Duration) -> Result<(), Broken> {
    while conn.buf.len() < bytes.len() {
        conn.read_more(idle).await.map_err(Broken::Io)?;
    }
    if &conn.buf[..bytes.len()] != bytes {
        return Err(Broken::Malformed);
    }
    conn.buf.advance(bytes.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines() {
        assert_eq!(chunk_size_line(b"1a\r\nxx"), Ok(Some((4, 26))));
        assert_eq!(chunk_size_line(b"0\r\n"), Ok(Some((3, 0))));
        assert_eq!(chunk_size_line(b"4;name=v;x\r\n"), Ok(Some((12, 4))));
        assert_eq!(chunk_size_line(b"4 ;ext\r\n"), Ok(Some((8, 4))));
        assert_eq!(chunk_size_line(b"4"), Ok(None));
        assert_eq!(chunk_size_line(b"4;ext"), Ok(None));
        // No digits, a bare LF, a control byte, junk after the size, too
        // many digits: refused.
        assert_eq!(chunk_size_line(b"\r\n"), Err(()));
        assert_eq!(chunk_size_line(b" \r\n"), Err(()));
        assert_eq!(chunk_size_line(b"2;\nxx\r\n"), Err(()));
        assert_eq!(chunk_size_line(b"2\n"), Err(()));
        assert_eq!(chunk_size_line(b"2;a\x00b\r\n"), Err(()));
        assert_eq!(chunk_size_line(b"2x\r\n"), Err(()));
        assert_eq!(chunk_size_line(b"0x2\r\n"), Err(()));
        assert_eq!(chunk_size_line(b"11111111111111111\r\n"), Err(()));
        assert_eq!(chunk_size_line(&[b'1'; 5000]), Err(()));
    }

    #[test]
    fn trailer_field_lines() {
        assert!(field_line(b"X-Sum: abc"));
        assert!(field_line(b"X-Sum:"));
        assert!(!field_line(b"no colon"));
        assert!(!field_line(b": no name"));
        assert!(!field_line(b"X Sum: a"));
        assert!(!field_line(b"X: a\rb"));
    }
}
