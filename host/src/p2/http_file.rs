//! `wasm-sendfile:sendfile/http-file`: a `wasi:http` response whose body is
//! a file range, for the host's HTTP server ([`crate::http`]) to send with
//! `sendfile(2)`. Semantics are documented in `wit/http-file.wit`.
//!
//! `respond` hands the response to wasmtime-wasi-http's own outparam, so
//! the server receives it exactly like any `wasi:http` response; the file
//! range rides along in the response's extensions as a [`FileBody`].

use crate::bindings::http_file::{BodyError, Host, HostFileBody};
use crate::bindings::sendfile::ErrorCode;
use crate::p2::sendfile::{MAX_OFFSET, readable_file};
use crate::view::SendfileCtxView;
use rustix::fd::AsFd;
use std::fs::File;
use std::sync::Arc;
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode as HttpErrorCode;
use wasmtime_wasi_http::p2::types::{HostOutgoingResponse, HostResponseOutparam};

/// A checked range of a regular file: the body of a response sent by
/// `sendfile(2)`. The `file-body` resource, and what a response made by
/// `http-file.respond` carries in its extensions (`http::Extensions`): a
/// server of an embedder's own finds the range there.
#[derive(Clone, Debug)]
pub struct FileBody {
    /// The file, kept open until the response is sent.
    pub(crate) file: Arc<File>,
    /// First byte of the range.
    pub(crate) offset: u64,
    /// Bytes in the range: the response's `content-length`.
    pub(crate) len: u64,
}

impl FileBody {
    /// The file.
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// The range's first byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The body's size in bytes: the response's `content-length`.
    #[expect(clippy::len_without_is_empty, reason = "a range, not a collection")]
    pub fn len(&self) -> u64 {
        self.len
    }
}

impl Host for SendfileCtxView<'_> {
    fn open_body(
        &mut self,
        source: Resource<Descriptor>,
        offset: u64,
        count: Option<u64>,
    ) -> wasmtime::Result<Result<Resource<FileBody>, BodyError>> {
        let file = readable_file(self.table.get(&source)?).map_err(|code| match code {
            ErrorCode::BadDescriptor => BodyError::BadDescriptor,
            _ => BodyError::Invalid,
        });
        let body = file.and_then(|file| {
            let info = crate::sys::file::info(file.as_fd()).map_err(|_| BodyError::Io)?;
            if !info.regular || offset > MAX_OFFSET {
                return Err(BodyError::Invalid);
            }
            let available = info.size.saturating_sub(offset);
            let len = count.map_or(available, |c| c.min(available));
            Ok(FileBody { file, offset, len })
        });
        match body {
            Ok(body) => Ok(Ok(self.table.push(body)?)),
            Err(code) => Ok(Err(code)),
        }
    }

    fn respond(
        &mut self,
        param: Resource<HostResponseOutparam>,
        response: Resource<HostOutgoingResponse>,
        body: Resource<FileBody>,
    ) -> wasmtime::Result<Result<(), BodyError>> {
        let param = self.table.delete(param)?;
        let response = self.table.delete(response)?;
        let body = self.table.delete(body)?;
        if response.body.is_some() {
            let why = "http-file.respond: the response's body was already taken".to_string();
            (param.send)(Err(HttpErrorCode::InternalError(Some(why))));
            return Ok(Err(BodyError::BodyTaken));
        }
        match http::Response::try_from(response) {
            Ok(mut response) => {
                response.extensions_mut().insert(body);
                (param.send)(Ok(response));
                Ok(Ok(()))
            }
            Err(e) => {
                // Cannot happen: the headers and status were checked as the
                // guest set them. Answered as an internal error all the same.
                (param.send)(Err(HttpErrorCode::InternalError(Some(e.to_string()))));
                Ok(Err(BodyError::Invalid))
            }
        }
    }
}

impl HostFileBody for SendfileCtxView<'_> {
    fn length(&mut self, body: Resource<FileBody>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&body)?.len)
    }

    fn drop(&mut self, body: Resource<FileBody>) -> wasmtime::Result<()> {
        self.table.delete(body)?;
        Ok(())
    }
}
