//! The rules of serving files over HTTP that the sample guests share:
//! from a request target to a path ([`path`]), single byte ranges
//! ([`range`]), conditional requests ([`conditions`]), and what a response
//! says about a file ([`validators`]). Plain functions over strings and
//! stats, so each guest keeps its own way of reading requests (the
//! static server parses bytes off a socket; `http-files` gets `wasi:http`
//! requests).

pub mod conditions;
pub mod path;
pub mod range;
pub mod validators;

/// A request's headers, as the rules read them.
pub trait Headers {
    /// The first value of header `name` (case-insensitive), if it is text.
    fn header(&self, name: &str) -> Option<&str>;
}
