//! ErlDP's log in Ruby: `ERLDP_LOG` when the extension loads, a level, and
//! records routed to the program's `Logger` (`ErlDP.logger=`, in
//! `lib/erldp/logging.rb`).
//!
//! Records are logged on the node's threads, which must not wait for Ruby:
//! the core's sink (`erldp::logging::set_sink`) queues them here, and one
//! Ruby thread takes them (`native_log_next`, waiting without the GVL) and
//! hands them to the Logger. A Logger that falls behind loses records rather
//! than holding up the node; it is told how many. The queue's lock is held
//! across `fork` after the sink's ([`erldp::fork::lock_also`]): the Ruby
//! thread takes records without the GVL, so a fork could otherwise leave it
//! held, and a child's first record wait on it for ever.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use erldp::logging::{self, Level, Record};
use erldp::sync::{Condvar, Mutex};
use magnus::{function, Error, RArray, RModule, Ruby};

use crate::errors::raise;
use crate::gvl::{self, Wake};

/// Records queued for the Ruby thread at most; more are dropped and counted.
const MAX_QUEUED: usize = 10_000;

#[derive(Default)]
struct LogQueue {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    records: VecDeque<Record>,
    dropped: usize,
    /// An interrupt wants the waiting Ruby thread back.
    woken: bool,
}

impl LogQueue {
    fn push(&self, record: Record) {
        let mut state = self.state.lock();
        if state.records.len() < MAX_QUEUED {
            state.records.push_back(record);
        } else {
            state.dropped += 1;
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The next record, or `None` when woken first. Records dropped before
    /// it are reported first, as a record of their own.
    fn take(&self) -> Option<Record> {
        let mut state = self.state.lock();
        loop {
            if state.dropped > 0 {
                let dropped = std::mem::take(&mut state.dropped);
                return Some(Record {
                    level: Level::Warn,
                    target: "erldp::logging".into(),
                    thread: "erldp-ruby-log".into(),
                    message: format!("{dropped} log records dropped: the Logger did not keep up"),
                    time: std::time::SystemTime::now(),
                });
            }
            if let Some(record) = state.records.pop_front() {
                return Some(record);
            }
            if std::mem::take(&mut state.woken) {
                return None;
            }
            self.changed.wait(&mut state);
        }
    }
}

impl Wake for LogQueue {
    fn wake(&self) {
        self.state.lock().woken = true;
        self.changed.notify_all();
    }
}

fn queue() -> &'static Arc<LogQueue> {
    static QUEUE: OnceLock<Arc<LogQueue>> = OnceLock::new();
    QUEUE.get_or_init(Arc::default)
}

/// `ERLDP_LOG` read when the extension loads: `nil`, or why its value is
/// not a level (the Ruby half warns).
fn init_from_env() -> Option<String> {
    logging::init_from_env().err().map(|err| err.to_string())
}

/// `ErlDP.log_level = name`: installs ErlDP's logger at that level.
fn set_level(ruby: &Ruby, name: String) -> Result<(), Error> {
    let level = logging::parse_level(&name).map_err(|err| raise(ruby, err))?;
    logging::init(level);
    Ok(())
}

/// Whether records go to the queue (for `ErlDP.logger`) or to standard error.
fn forward(on: bool) {
    if on {
        let queue = Arc::clone(queue());
        logging::set_sink(Some(Box::new(move |record| queue.push(record))));
    } else {
        logging::set_sink(None);
    }
}

/// The next queued record as `[level, target, thread, message, time]`,
/// waiting for one without the GVL; `nil` when an interrupt handled without
/// an exception ended the wait.
fn next(ruby: &Ruby) -> Result<Option<RArray>, Error> {
    let queue = queue();
    let Some(record) = gvl::without_gvl(ruby, &**queue, || queue.take())? else {
        ruby.thread_check_ints()?;
        return Ok(None);
    };
    let seconds = record
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let entry = ruby.ary_new_capa(5);
    // The names `ERLDP_LOG` takes.
    entry.push(ruby.to_symbol(record.level.as_str().to_ascii_lowercase()))?;
    entry.push(ruby.str_new(&record.target))?;
    entry.push(ruby.str_new(&record.thread))?;
    entry.push(ruby.str_new(&record.message))?;
    entry.push(seconds)?;
    Ok(Some(entry))
}

pub(crate) fn define(module: RModule) -> Result<(), Error> {
    // The only binding in the process, loaded once: the one lock.
    let held = erldp::fork::lock_also(|| Box::new(queue().state.lock()));
    debug_assert!(
        held,
        "another lock is held across fork: the log queue's is not"
    );
    module.define_module_function("native_log_init_from_env", function!(init_from_env, 0))?;
    module.define_module_function("native_log_level", function!(set_level, 1))?;
    module.define_module_function("native_log_forward", function!(forward, 1))?;
    module.define_module_function("native_log_next", function!(next, 0))?;
    Ok(())
}
