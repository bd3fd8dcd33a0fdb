//! Core errors as JavaScript errors: the one place where an
//! [`erldp::Error`] gets its `code`, and where the `ErlDPError` objects are
//! made (by the package's `makeError`, which picks the subclass).

use std::ffi::CStr;

use napi::{sys, Result, Status};

use crate::convert::{to_js, DecodeOptions};
use crate::js::{Js, Value};
use crate::registry::{self, Item};

/// The `code` of the JavaScript error for a core error.
pub(crate) fn code(err: &erldp::Error) -> &'static str {
    use erldp::ErrorKind;
    match err.kind() {
        ErrorKind::Connection => "ECONNECT",
        ErrorKind::Auth => "EAUTH",
        ErrorKind::NodeNotFound => "ENOTFOUND",
        ErrorKind::Timeout => "ETIMEDOUT",
        ErrorKind::Rpc => "ERPC",
        ErrorKind::Decode | ErrorKind::Parse => "EDECODE",
        ErrorKind::Encode => "EENCODE",
        ErrorKind::InvalidArgument => "EINVAL",
        ErrorKind::NameTaken => "ENAMETAKEN",
        ErrorKind::Closed => "ECLOSED",
        ErrorKind::Io => "EIO",
    }
}

/// The `ErlDPError` for `err`. Detail fields go on the error object: the
/// remote error term as `reason` (ERPC), `path` (EENCODE), `offset`
/// (EDECODE) and `node` where a peer is concerned.
pub(crate) fn to_js_error(js: Js, err: &erldp::Error, options: DecodeOptions) -> Result<Value> {
    use erldp::Error;
    let detail = js.object()?;
    let set = |name: &CStr, value: Value| js.set_named(detail, name, value);
    if let Some(reason) = err.rpc_term() {
        set(c"reason", to_js(js, &reason, options)?)?;
    }
    match err {
        Error::Connection { node, .. }
        | Error::Auth { node }
        | Error::NodeNotFound { node, .. } => {
            set(c"node", js.string(node)?)?;
        }
        Error::Encode { path, .. } => set(c"path", js.string(path)?)?,
        Error::Decode { offset, .. } | Error::Parse { offset, .. } => {
            set(c"offset", js.number(*offset as f64)?)?
        }
        _ => {}
    }
    let make_error = registry::get(js, Item::MakeError)?;
    js.call(
        make_error,
        &[js.string(code(err))?, js.string(&err.to_string())?, detail],
    )
}

/// Throws the `ErlDPError` for `err` and returns the napi-rs error that
/// leaves it pending, for `?` in exported functions.
pub(crate) fn throw(js: Js, err: &erldp::Error) -> napi::Error {
    match to_js_error(js, err, DecodeOptions::default()) {
        Ok(error) => {
            // SAFETY: a value of the current scope, thrown on its thread.
            unsafe { sys::napi_throw(js.raw(), error.0) };
            napi::Error::from_status(Status::PendingException)
        }
        Err(failure) => failure,
    }
}

/// [`throw`] for an argument the addon cannot take (`EINVAL`), saying
/// why in `reason`.
pub(crate) fn invalid_argument(js: Js, reason: impl Into<String>) -> napi::Error {
    throw(js, &erldp::Error::InvalidArgument(reason.into()))
}
