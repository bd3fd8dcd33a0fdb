//! ErlDP's log in Node.js: `ERLDP_LOG` when the package loads, a level, and
//! records routed to a JavaScript callback (`erldp.setLogger`).
//!
//! Records are logged on the node's threads, which must not wait for
//! JavaScript: the core's sink (`erldp::logging::set_sink`) hands each one
//! to a weak thread-safe function (it does not keep the process alive),
//! which calls the callback on the event loop. When the loop falls 10,000
//! records behind, newer ones are dropped and the callback is told how many.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use erldp::logging::{self, Level, Record};
use napi::bindgen_prelude::Function;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Result, Status, Unknown};
use napi_derive::napi;

use crate::error;
use crate::js::Js;

/// Records that did not fit the thread-safe function's queue since the last
/// one that did.
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// What the callback receives, as one array: level, target, thread, message,
/// and the time in milliseconds since the epoch.
type Args = (String, String, String, String, f64);

/// `ERLDP_LOG` when the package loads: `undefined`, or why its value is not a
/// level (the package emits a warning).
#[napi(catch_unwind)]
pub fn log_from_env() -> Option<String> {
    logging::init_from_env().err().map(|err| err.to_string())
}

/// Installs ErlDP's logger at `level` (`"off"` ... `"trace"`).
#[napi(catch_unwind)]
pub fn set_log_level(env: Env, level: String) -> Result<()> {
    let level =
        logging::parse_level(&level).map_err(|err| error::throw(Js::new(env.raw()), &err))?;
    logging::init(level);
    Ok(())
}

/// Sends the records to `callback([level, target, thread, message, timeMs])`
/// on the event loop; `null` writes them to standard error again.
#[napi(
    catch_unwind,
    ts_args_type = "callback: ((record: [level: string, target: string, thread: string, message: string, timeMs: number]) => void) | null"
)]
pub fn set_log_callback(callback: Option<Function<'_, Args, Unknown<'static>>>) -> Result<()> {
    let Some(callback) = callback else {
        logging::set_sink(None);
        return Ok(());
    };
    let forward = callback
        .build_threadsafe_function::<Args>()
        .callee_handled::<false>()
        .weak::<true>()
        .max_queue_size::<10_000>()
        .build_callback(|context| Ok(context.value))?;
    logging::set_sink(Some(Box::new(move |record: Record| {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = Record {
                level: Level::Warn,
                target: "erldp::logging".into(),
                thread: record.thread.clone(),
                message: format!("{dropped} log records dropped: the event loop did not keep up"),
                time: record.time,
            };
            if forward.call(args(note), ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
                DROPPED.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        if forward.call(args(record), ThreadsafeFunctionCallMode::NonBlocking) == Status::QueueFull
        {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    })));
    Ok(())
}

fn args(record: Record) -> Args {
    let millis = record
        .time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0;
    (
        // The names `ERLDP_LOG` takes.
        record.level.as_str().to_ascii_lowercase(),
        record.target,
        record.thread,
        record.message,
        millis,
    )
}
