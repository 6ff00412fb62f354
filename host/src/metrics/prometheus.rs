//! The counters in Prometheus' text exposition format (version 0.0.4), for
//! a platform team's scraper.
//!
//! Hand-written rather than through a client library: the format is three
//! kinds of line, and the values already live in [`Metrics`]' atomics,
//! which a library would want mirrored into a registry of its own.

use super::Metrics;
use std::fmt::Write;

/// Prometheus text being written: families of samples, each with its
/// `# HELP` and `# TYPE` lines. Every name is prefixed `wasm_sendfile_`.
#[derive(Debug, Default)]
pub struct PrometheusText(String);

/// What a family measures.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Only goes up (names end in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl PrometheusText {
    /// Empty text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the family `wasm_sendfile_{name}`: one sample per
    /// `(labels, value)`, where `labels` is empty or `key="value"` pairs
    /// joined by commas (values must need no escaping).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str, samples: &[(&str, u64)]) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let s = &mut self.0;
        let _ = writeln!(s, "# HELP wasm_sendfile_{name} {help}");
        let _ = writeln!(s, "# TYPE wasm_sendfile_{name} {kind}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(s, "wasm_sendfile_{name} {value}");
            } else {
                let _ = writeln!(s, "wasm_sendfile_{name}{{{labels}}} {value}");
            }
        }
    }

    /// The text, for a response of type
    /// `text/plain; version=0.0.4; charset=utf-8`.
    pub fn finish(self) -> String {
        self.0
    }
}

impl Metrics {
    /// Adds every counter to `out`: the system-call backend
    /// (`backend_info`), sendfile calls and bytes by path
    /// (`zero_copy`, `small_copy`, `fallback`), open connections, and the
    /// HTTP responses guests reported, by status (`other` for codes outside
    /// 100..=599) and body bytes.
    pub fn write_prometheus(&self, out: &mut PrometheusText) {
        let m = self.snapshot();
        let backend = format!("backend=\"{}\"", crate::Backend::CURRENT);
        out.family(
            "backend_info",
            Kind::Gauge,
            "The system-call backend of this build (linux, freebsd, macos, or copying: no zero-copy), as the label of a sample that is always 1.",
            &[(&backend, 1)],
        );
        out.family(
            "sendfile_calls_total",
            Kind::Counter,
            "send-file and blocking-send-file calls.",
            &[("", m.calls)],
        );
        out.family(
            "sendfile_failed_calls_total",
            Kind::Counter,
            "Calls that ended in an error.",
            &[("", m.failed_calls)],
        );
        out.family(
            "sendfile_bytes_total",
            Kind::Counter,
            "Bytes written to targets: headers, file bytes and trailers.",
            &[("", m.total_bytes)],
        );
        out.family(
            "sendfile_file_bytes_total",
            Kind::Counter,
            "File bytes sent, by how: zero_copy in the kernel, small_copy read and sent with the head in one write, fallback copied through a host buffer.",
            &[
                ("path=\"zero_copy\"", m.zero_copy_bytes),
                ("path=\"small_copy\"", m.small_copy_bytes),
                ("path=\"fallback\"", m.fallback_bytes),
            ],
        );
        out.family(
            "open_connections",
            Kind::Gauge,
            "TCP connections guests hold now.",
            &[("", m.open_connections)],
        );
        let labels: Vec<(String, u64)> = self
            .responses_by_status()
            .into_iter()
            .map(|(status, n)| match status {
                Some(code) => (format!("status=\"{code}\""), n),
                None => ("status=\"other\"".to_string(), n),
            })
            .collect();
        let samples: Vec<(&str, u64)> = labels.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        out.family(
            "http_responses_total",
            Kind::Counter,
            "HTTP responses guests reported, by status code.",
            &samples,
        );
        out.family(
            "host_calls_total",
            Kind::Counter,
            "Calls from guests into the host (host functions and runtime entry points), where counted.",
            &[("", m.host_calls)],
        );
        out.family(
            "http_response_body_bytes_total",
            Kind::Counter,
            "Body bytes of the HTTP responses guests reported.",
            &[("", m.response_body_bytes)],
        );
    }
}
