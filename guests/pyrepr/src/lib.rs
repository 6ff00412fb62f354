//! Python's `repr()` of a `bytes` object (`b'...'`), as the seed programs
//! print what they receive. Hand-written: no maintained crate formats
//! bytes the way CPython does.

/// `repr(bytes)` as CPython 3 writes it: single quotes unless the bytes hold
/// a `'` and no `"`; `\\`, the quote, `\t`, `\n`, `\r` escaped; other bytes
/// outside printable ASCII as `\xhh`.
pub fn bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(data.len() + 3);
    out.push('b');
    out.push(quote);
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::bytes_repr;

    #[test]
    fn matches_cpython() {
        assert_eq!(bytes_repr(b""), "b''");
        assert_eq!(bytes_repr(b"Baa, baa,\nblack"), "b'Baa, baa,\\nblack'");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
        assert_eq!(bytes_repr(b"\\\t\r\x00\xff"), "b'\\\\\\t\\r\\x00\\xff'");
    }
}
