//! The current time as the server writes it: an HTTP `Date` (IMF-fixdate,
//! RFC 9110 §5.6.7) and an access-log timestamp (nginx's `$time_local`,
//! in UTC: WASI 0.2 has no time zone). Both are made once a second, not
//! once per response.

use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

/// The strings of one wall-clock second.
struct Second {
    unix: u64,
    http: String,
    log: String,
}

thread_local! {
    static NOW: RefCell<Option<Second>> = const { RefCell::new(None) };
}

/// Runs `f` with the strings for the current second (as of the event
/// loop's last wake-up, [`crate::clock`]).
fn with_now<T>(f: impl FnOnce(&Second) -> T) -> T {
    let unix = crate::clock::unix_secs();
    NOW.with(|now| {
        let mut now = now.borrow_mut();
        if now.as_ref().is_none_or(|s| s.unix != unix) {
            *now = Some(second(unix));
        }
        f(now.as_ref().expect("just set"))
    })
}

fn second(unix: u64) -> Second {
    let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix));
    let log = log_time(&http);
    Second { unix, http, log }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `06/Nov/1994:08:49:37 +0000`, the
/// layout of nginx's `$time_local` (IMF-fixdate has fixed-width fields
/// for years 1970 to 9999, all `httpdate` writes).
fn log_time(http: &str) -> String {
    let field = |a: usize, b: usize| http.get(a..b).unwrap_or("?");
    format!(
        "{}/{}/{}:{} +0000",
        field(5, 7),
        field(8, 11),
        field(12, 16),
        field(17, 25)
    )
}

/// Appends the current HTTP date to `out`.
pub fn push_http(out: &mut String) {
    with_now(|s| out.push_str(&s.http));
}

/// The current access-log timestamp.
pub fn log_now() -> String {
    with_now(|s| s.log.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts() {
        let s = second(784_111_777);
        assert_eq!(s.http, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(s.log, "06/Nov/1994:08:49:37 +0000");
        let last = second(253_402_300_799);
        assert_eq!(last.log, "31/Dec/9999:23:59:59 +0000");
    }
}
