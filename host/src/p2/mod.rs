//! Host implementations of the WIT interfaces this crate provides, one file
//! per interface: [`sendfile`] (the capability), [`http_file`] (a
//! `wasi:http` response with a file body), [`http_stats`] (a server
//! guest's response counts), [`tcp`] and [`tcp_create_socket`] (the host's
//! own `wasi:sockets/tcp`); and [`regular_files`], what the capability
//! remembers of descriptors.

pub(crate) mod http_file;
pub(crate) mod http_stats;
pub(crate) mod regular_files;
pub(crate) mod sendfile;
pub(crate) mod tcp;
pub(crate) mod tcp_create_socket;
