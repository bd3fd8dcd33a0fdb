//! Status codes, the thread's last error, and the guard every entry point
//! runs under.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use erldp::{Error, ErrorKind};

use crate::buf::erldp_buf;
use crate::ffi;

/// What a call that can fail returns. `ERLDP_OK` is 0; on any other value
/// the call wrote no output and `erldp_last_error()` says what went wrong.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_status {
    /// Success.
    ERLDP_OK = 0,
    /// An argument is invalid: NULL, not UTF-8, a malformed node name, a term
    /// of the wrong type, a buffer too small, and the like.
    ERLDP_ERR_ARG = 1,
    /// The peer refused the handshake: the cookies differ.
    ERLDP_ERR_AUTH = 2,
    /// The node is not registered in EPMD, or what was asked for does not
    /// exist (a message without a sender, a last error without a term).
    ERLDP_ERR_NOT_FOUND = 3,
    /// A connection could not be made, the handshake failed for a reason
    /// other than the cookie, or the connection was lost.
    ERLDP_ERR_CONNECT = 4,
    /// A blocking call did not complete in time.
    ERLDP_TIMEOUT = 5,
    /// The remote function raised, or the remote call failed; the remote
    /// error term is available from `erldp_last_error_term()`.
    ERLDP_ERR_RPC = 6,
    /// Bytes that should hold an ETF term do not.
    ERLDP_ERR_DECODE = 7,
    /// A value has no ETF encoding (an atom over 255 characters, a float
    /// that is not finite, ...).
    ERLDP_ERR_ENCODE = 8,
    /// The node or mailbox is closed.
    ERLDP_ERR_CLOSED = 9,
    /// Erlang term text could not be parsed (`erldp_term_parse`).
    ERLDP_ERR_PARSE = 10,
    /// An operating-system error outside any connection (reading the cookie
    /// file, starting a thread, ...).
    ERLDP_ERR_IO = 11,
    /// A name that must be unique is in use: the node name in EPMD, a
    /// registered name of a mailbox.
    ERLDP_ERR_NAME_TAKEN = 12,
    /// A bug in ErlDP: an internal panic was caught at the C boundary. The
    /// handles passed to the call are still valid to free.
    ERLDP_PANIC = 99,
}

use erldp_status::*;

/// The one mapping from the core's error to a status.
fn status_of(error: &Error) -> erldp_status {
    match error.kind() {
        ErrorKind::Connection => ERLDP_ERR_CONNECT,
        ErrorKind::Auth => ERLDP_ERR_AUTH,
        ErrorKind::NodeNotFound => ERLDP_ERR_NOT_FOUND,
        ErrorKind::Timeout => ERLDP_TIMEOUT,
        ErrorKind::Rpc => ERLDP_ERR_RPC,
        ErrorKind::Decode => ERLDP_ERR_DECODE,
        ErrorKind::Encode => ERLDP_ERR_ENCODE,
        ErrorKind::Parse => ERLDP_ERR_PARSE,
        ErrorKind::InvalidArgument => ERLDP_ERR_ARG,
        ErrorKind::NameTaken => ERLDP_ERR_NAME_TAKEN,
        ErrorKind::Closed => ERLDP_ERR_CLOSED,
        ErrorKind::Io => ERLDP_ERR_IO,
    }
}

/// A failure of one call: the core's error, and which argument or step it
/// concerns when the error's own text does not say.
pub(crate) struct Failure {
    error: Error,
    context: Option<String>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            context: None,
        }
    }
}

/// What an entry point's body returns.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

/// Adds the argument or step a failure concerns to its message.
pub(crate) trait Context<T> {
    fn context(self, what: impl Into<String>) -> Outcome<T>;
}

impl<T> Context<T> for erldp::Result<T> {
    fn context(self, what: impl Into<String>) -> Outcome<T> {
        self.map_err(|error| Failure {
            error,
            context: Some(what.into()),
        })
    }
}

/// An `ERLDP_ERR_ARG` failure.
pub(crate) fn invalid(reason: impl Into<String>) -> Failure {
    Failure::from(Error::InvalidArgument(reason.into()))
}

/// An `ERLDP_ERR_NOT_FOUND` failure for something the caller asked for that
/// is not there. The core has no variant for it; its `NodeNotFound` is the
/// same class of error.
pub(crate) fn not_found(what: impl Into<String>, reason: impl Into<String>) -> Failure {
    Failure::from(Error::NodeNotFound {
        node: what.into(),
        reason: reason.into(),
    })
}

struct LastError {
    message: CString,
    /// The remote error term of an `ERLDP_ERR_RPC`, as ETF.
    term: Option<Vec<u8>>,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn set_last_error(message: String, term: Option<Vec<u8>>) {
    // Messages quote user text; a NUL in it would cut the C string short.
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // This runs after catch_unwind, so it must not panic: `try_with` fails
    // quietly when C calls in from a thread whose Rust thread-locals are
    // already destroyed, where `with` would panic.
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(LastError { message, term });
        }
    });
}

fn record(failure: Failure) -> erldp_status {
    let status = status_of(&failure.error);
    let message = match failure.context {
        Some(context) => format!("{context}: {}", failure.error),
        None => failure.error.to_string(),
    };
    let term = failure
        .error
        .rpc_term()
        .and_then(|term| erldp::term::encode(&term).ok());
    set_last_error(message, term);
    status
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let detail = erldp::error::panic_message(payload).unwrap_or("no message");
    format!("internal error in ErlDP (please report it): {detail}")
}

/// Runs the body of an entry point: its result becomes a status, its error
/// the thread's last error, and a panic `ERLDP_PANIC`.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> erldp_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ERLDP_OK,
        Ok(Err(failure)) => record(failure),
        Err(payload) => {
            set_last_error(panic_message(payload.as_ref()), None);
            ERLDP_PANIC
        }
    }
}

/// Like [`guard`] for accessors that return their value directly: a failure
/// (a NULL handle) or panic gives `fallback` and sets the last error.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> Outcome<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            record(failure);
            fallback
        }
        Err(payload) => {
            set_last_error(panic_message(payload.as_ref()), None);
            fallback
        }
    }
}

/// The message of the last call on this thread that failed: a NUL-terminated
/// string owned by the library, valid until the next failing call on this
/// thread. An empty string when no call has failed yet. Successful calls
/// leave it as it was, like `errno`.
#[no_mangle]
pub extern "C" fn erldp_last_error() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        Ok(LAST_ERROR.with(|last| match &*last.borrow() {
            Some(last) => last.message.as_ptr(),
            None => c"".as_ptr(),
        }))
    })
}

/// The remote error term of the last call on this thread that failed with
/// `ERLDP_ERR_RPC`: `{Class, Reason, Stacktrace}` as ETF, where `Class` is
/// `error`, `exit`, `throw` or `badrpc` (`erpc:call/5` style). Write a new
/// buffer to `*out` (free it with `erldp_buf_free`).
///
/// Returns `ERLDP_ERR_NOT_FOUND` when the last failure carried no term; that
/// failure then becomes the last error.
#[no_mangle]
pub unsafe extern "C" fn erldp_last_error_term(out: *mut *mut erldp_buf) -> erldp_status {
    guard(|| {
        // SAFETY: NULL or valid for writing (the pointer contract).
        let out = unsafe { ffi::out(out, "out") }?;
        let term =
            LAST_ERROR.with(|last| last.borrow().as_ref().and_then(|last| last.term.clone()));
        match term {
            Some(bytes) => {
                ffi::write(out, erldp_buf::boxed(bytes));
                Ok(())
            }
            None => Err(not_found(
                "the last error term",
                "the last failure on this thread carried no Erlang term",
            )),
        }
    })
}

/// The name of a status as it is spelled in this header, e.g.
/// `"ERLDP_TIMEOUT"`; `"ERLDP_UNKNOWN_STATUS"` for a value that is none.
/// The string is static.
#[no_mangle]
pub extern "C" fn erldp_status_name(status: c_int) -> *const c_char {
    let name = match status {
        0 => c"ERLDP_OK",
        1 => c"ERLDP_ERR_ARG",
        2 => c"ERLDP_ERR_AUTH",
        3 => c"ERLDP_ERR_NOT_FOUND",
        4 => c"ERLDP_ERR_CONNECT",
        5 => c"ERLDP_TIMEOUT",
        6 => c"ERLDP_ERR_RPC",
        7 => c"ERLDP_ERR_DECODE",
        8 => c"ERLDP_ERR_ENCODE",
        9 => c"ERLDP_ERR_CLOSED",
        10 => c"ERLDP_ERR_PARSE",
        11 => c"ERLDP_ERR_IO",
        12 => c"ERLDP_ERR_NAME_TAKEN",
        99 => c"ERLDP_PANIC",
        _ => c"ERLDP_UNKNOWN_STATUS",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: erldp_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(erldp_last_error()) }
            .to_str()
            .expect("UTF-8")
            .to_owned()
    }

    #[test]
    fn a_panic_becomes_erldp_panic_with_its_message() {
        let status = guard(|| panic!("boom {}", 42));
        assert_eq!(status, ERLDP_PANIC);
        assert!(last_error().contains("boom 42"), "{}", last_error());
        assert_eq!(guard_value(7, || panic!("again")), 7);
        assert!(last_error().contains("again"));
    }

    #[test]
    fn every_status_has_its_name() {
        for status in [
            ERLDP_OK,
            ERLDP_ERR_ARG,
            ERLDP_ERR_AUTH,
            ERLDP_ERR_NOT_FOUND,
            ERLDP_ERR_CONNECT,
            ERLDP_TIMEOUT,
            ERLDP_ERR_RPC,
            ERLDP_ERR_DECODE,
            ERLDP_ERR_ENCODE,
            ERLDP_ERR_CLOSED,
            ERLDP_ERR_PARSE,
            ERLDP_ERR_IO,
            ERLDP_ERR_NAME_TAKEN,
            ERLDP_PANIC,
        ] {
            // SAFETY: erldp_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(erldp_status_name(status as c_int)) };
            assert_eq!(name.to_str().unwrap(), format!("{status:?}"));
        }
    }

    #[test]
    fn the_last_error_is_per_thread_and_survives_success() {
        assert_eq!(guard(|| Err(invalid("first"))), ERLDP_ERR_ARG);
        assert_eq!(guard(|| Ok(())), ERLDP_OK);
        assert_eq!(last_error(), "invalid argument: first");
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
    }
}
