//! ErlDP's log for C programs: `ERLDP_LOG`, a level, and a callback that
//! routes the records to the program's own logger (see the core's
//! `erldp::logging`, whose logger this installs).

use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use erldp::logging::{self, Level, LevelFilter};

use crate::status::{erldp_status, guard};

/// How much ErlDP logs, and how important a record is (the levels of the
/// README's logging table).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum erldp_log_level {
    /// Nothing (as a level to set; no record has it).
    ERLDP_LOG_OFF = 0,
    /// The node cannot do its work (a thread cannot be started).
    ERLDP_LOG_ERROR = 1,
    /// Failed outgoing connects; incoming handshakes refused for the cookie.
    ERLDP_LOG_WARN = 2,
    /// The node started and closed; each connection up and down.
    ERLDP_LOG_INFO = 3,
    /// EPMD look-ups, TCP connects, handshakes, dropped messages.
    ERLDP_LOG_DEBUG = 4,
    /// One record per distribution frame.
    ERLDP_LOG_TRACE = 5,
}

/// A function that receives ErlDP's log records: the program's `userdata`,
/// the record's `level` (never `ERLDP_LOG_OFF`), its `target` (the module
/// that logged it, e.g. `"erldp::node"`) and its `message`. Both strings are
/// valid only during the call. It is called on the library's threads,
/// possibly several at once, so it must be thread-safe and quick, and must
/// not call back into the library.
pub type erldp_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: erldp_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// Whether the program chose a level: then `ERLDP_LOG` is not read.
static LEVEL_CHOSEN: AtomicBool = AtomicBool::new(false);

/// Reads `ERLDP_LOG` once, when the first node starts, unless the program
/// set a level first. A value that is not a level leaves logging off and
/// says so on standard error (a node still starts).
pub(crate) fn init_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if LEVEL_CHOSEN.load(Ordering::Acquire) {
            return;
        }
        if let Err(err) = logging::init_from_env() {
            eprintln!("erldp: {err}; logging stays off");
        }
    });
}

/// Sets how much ErlDP logs, overriding `ERLDP_LOG` (which the first
/// `erldp_node_start` reads otherwise); `ERLDP_LOG_OFF` turns the log off.
/// The records go to standard error, one line each, or to the callback of
/// `erldp_log_set_callback`.
///
/// `level` is an `erldp_log_level`; fails with `ERLDP_ERR_ARG` for a value
/// that is not one.
#[no_mangle]
pub extern "C" fn erldp_log_set_level(level: c_int) -> erldp_status {
    guard(|| {
        let filter = match level {
            0 => LevelFilter::Off,
            1 => LevelFilter::Error,
            2 => LevelFilter::Warn,
            3 => LevelFilter::Info,
            4 => LevelFilter::Debug,
            5 => LevelFilter::Trace,
            other => {
                return Err(crate::status::invalid(format!(
                    "{other} is not an erldp_log_level"
                )))
            }
        };
        LEVEL_CHOSEN.store(true, Ordering::Release);
        logging::init(filter);
        Ok(())
    })
}

/// The program's pointer, handed back to its callback on any thread.
struct UserData(*mut c_void);

impl UserData {
    /// The pointer (a method, so that a closure captures the whole, Send
    /// and Sync, wrapper rather than the bare pointer).
    fn get(&self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the library only passes the pointer back to the program's
// callback; the header asks for a callback that is thread-safe.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

/// Sends ErlDP's log records to `callback`, with `userdata`, instead of
/// standard error; `callback` NULL sends them to standard error again. The
/// level is `ERLDP_LOG`'s or `erldp_log_set_level`'s: set one, or no record
/// comes.
#[no_mangle]
pub extern "C" fn erldp_log_set_callback(
    callback: erldp_log_callback,
    userdata: *mut c_void,
) -> erldp_status {
    guard(|| {
        let Some(callback) = callback else {
            logging::set_sink(None);
            return Ok(());
        };
        let userdata = UserData(userdata);
        logging::set_sink(Some(Box::new(move |record| {
            let level = match record.level {
                Level::Error => erldp_log_level::ERLDP_LOG_ERROR,
                Level::Warn => erldp_log_level::ERLDP_LOG_WARN,
                Level::Info => erldp_log_level::ERLDP_LOG_INFO,
                Level::Debug => erldp_log_level::ERLDP_LOG_DEBUG,
                Level::Trace => erldp_log_level::ERLDP_LOG_TRACE,
            };
            let text = |s: String| CString::new(s.replace('\0', "\\0")).unwrap_or_default();
            let (target, message) = (text(record.target), text(record.message));
            // The thread that logs is the library's: nothing may unwind out
            // of the callback into it.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: a function the program gave for this, with its own
                // pointer and two strings that live through the call.
                unsafe { callback(userdata.get(), level, target.as_ptr(), message.as_ptr()) }
            }));
        })));
        Ok(())
    })
}
