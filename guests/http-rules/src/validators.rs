//! What a response says about a file: its type, `ETag` and date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasi::filesystem::types::DescriptorStat;

/// The `Content-Type` for `path` by its extension; text types say they
/// are UTF-8 (else browsers guess, and UTF-8 text shows garbled).
pub fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// The latest time an HTTP date can name: 9999-12-31T23:59:59Z.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// [`LAST_HTTP_DATE`] as a time: later ones are clamped to it.
pub fn last_http_date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(LAST_HTTP_DATE)
}

/// The file's validators: `ETag` and modification time (whole seconds;
/// a time past the year 9999, which HTTP dates cannot name, counts as the
/// last one they can).
pub fn validators(stat: &DescriptorStat) -> (String, SystemTime) {
    let (secs, nanos) = stat
        .data_modification_timestamp
        .map_or((0, 0), |t| (t.seconds, t.nanoseconds));
    let etag = format!("\"{:x}-{:x}-{:x}\"", stat.size, secs, nanos);
    (
        etag,
        UNIX_EPOCH + Duration::from_secs(secs.min(LAST_HTTP_DATE)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasi::filesystem::types::DescriptorType;

    #[test]
    fn text_types_say_utf_8() {
        assert_eq!(content_type("/a/b.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("d.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("p.png"), "image/png");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn far_future_times_are_the_last_http_date() {
        use wasi::filesystem::types::Datetime;
        let stat = DescriptorStat {
            type_: DescriptorType::RegularFile,
            link_count: 1,
            size: 1,
            data_access_timestamp: None,
            data_modification_timestamp: Some(Datetime {
                seconds: u64::MAX,
                nanoseconds: 0,
            }),
            status_change_timestamp: None,
        };
        let (_, modified) = validators(&stat);
        assert_eq!(
            httpdate::fmt_http_date(modified),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }
}
