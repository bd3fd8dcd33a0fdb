//! Waiting under a Fiber scheduler (the async gem, Falcon).
//!
//! Without a scheduler a blocking call releases the GVL and blocks its
//! thread (see [`gvl`](crate::gvl)). Under one, blocking the thread would
//! stall every other fiber of it: so the wait is handed to the scheduler
//! instead, as Ruby's own IO does. The core calls back when the wait ends
//! (`Pending::on_complete_cancellable`, `Mailbox::when_ready`, or a helper
//! thread for what has no callback), and the callback makes a file
//! descriptor readable; the fiber waits for that with `IO#wait_readable`,
//! which goes through the scheduler's `io_wait`. An exception raised into
//! the waiting fiber (`Fiber#raise`, the scheduler's timeout) cancels the
//! wait where it runs, as an interrupt does on a thread.
//!
//! A scheduler counts only for a non-blocking fiber (one made by
//! `Fiber.schedule`), as for Ruby's own IO.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use erldp::sync::Mutex;
use erldp::{Cancel, Mailbox, Message, Pending};
use magnus::{kwargs, prelude::*, Error, Ruby, Value};

use crate::errors;

/// Whether the calling fiber waits through a scheduler.
pub(crate) fn active() -> bool {
    // SAFETY: called with the GVL held (from a method of the extension); it
    // only reads the current thread's state.
    let scheduler = unsafe { rb_sys::rb_fiber_scheduler_current() };
    scheduler != rb_sys::Qnil as rb_sys::VALUE
}

/// What is left until `deadline`; no deadline is no limit.
fn remaining(deadline: Option<Instant>) -> Duration {
    deadline.map_or(Duration::MAX, |deadline| {
        deadline.saturating_duration_since(Instant::now())
    })
}

/// The answer of `pending`, by `deadline`, waiting through the scheduler.
pub(crate) fn pending<T: Send + 'static>(
    ruby: &Ruby,
    pending: Pending<T>,
    deadline: Option<Instant>,
) -> Result<erldp::Result<T>, Error> {
    wait(ruby, |cancel, put| {
        pending.on_complete_cancellable(remaining(deadline), cancel, put);
        Ok(())
    })
}

/// The next message of `mailbox` by `deadline` (`None` then), waiting
/// through the scheduler. The message is taken here, on the fiber's thread:
/// a wait that is given up holds none.
pub(crate) fn receive(
    ruby: &Ruby,
    mailbox: &Mailbox,
    deadline: Option<Instant>,
) -> Result<erldp::Result<Option<Message>>, Error> {
    loop {
        match mailbox.try_recv() {
            Ok(None) => {}
            taken => return Ok(taken),
        }
        let left = remaining(deadline);
        if left.is_zero() {
            return Ok(Ok(None));
        }
        let ready = wait(ruby, |cancel, put| {
            mailbox.when_ready(left, cancel, put);
            Ok(())
        })?;
        match ready {
            Ok(true) => {}
            // Timed out, or closed: whatever is queued still counts.
            Ok(false) => return Ok(mailbox.try_recv()),
            Err(err) => {
                return Ok(match mailbox.try_recv() {
                    Ok(Some(message)) => Ok(Some(message)),
                    _ => Err(err),
                })
            }
        }
    }
}

/// Runs `work` on a thread of its own and waits for it through the
/// scheduler until `deadline` (`Ok(None)` then): for what the core cannot
/// call back about (starting a node, ping, closing). An exception in the
/// fiber ends the wait; the work runs on and its result is dropped.
pub(crate) fn off_thread_until<T: Send + 'static>(
    ruby: &Ruby,
    deadline: Option<Instant>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>, Error> {
    let outcome = wait_until(ruby, deadline, |_, put| {
        std::thread::Builder::new()
            .name("erldp-ruby-call".into())
            .spawn(move || put(panic::catch_unwind(AssertUnwindSafe(work))))
            .map(drop)
    })?;
    outcome
        .transpose()
        .map_err(|payload| errors::panicked(ruby, payload))
}

/// Starts a wait with `start`, which hands the core a cancel token and the
/// callback that delivers the result (or fails, and then nothing will);
/// then waits for the result through the scheduler. A Ruby exception while
/// waiting cancels the token.
fn wait<T: Send + 'static>(
    ruby: &Ruby,
    start: impl FnOnce(&Cancel, Box<dyn FnOnce(T) + Send>) -> std::io::Result<()>,
) -> Result<T, Error> {
    wait_until(ruby, None, start).map(|done| done.expect("no deadline to pass"))
}

/// [`wait`] that gives up at `deadline` (`Ok(None)`), cancelling the token.
fn wait_until<T: Send + 'static>(
    ruby: &Ruby,
    deadline: Option<Instant>,
    start: impl FnOnce(&Cancel, Box<dyn FnOnce(T) + Send>) -> std::io::Result<()>,
) -> Result<Option<T>, Error> {
    let io_error = |err| errors::raise(ruby, erldp::Error::Io(err));
    let handoff = Handoff::new().map_err(io_error)?;
    let cancel = Cancel::new();
    let delivery = Arc::clone(&handoff);
    start(&cancel, Box::new(move |value| delivery.put(value))).map_err(io_error)?;
    let waited = handoff.wait(ruby, deadline);
    // Done or given up: either way nothing waits any more (a completed wait
    // ignores it).
    cancel.cancel();
    waited
}

/// One value handed from any thread to a fiber that waits for it through
/// the scheduler: the value, and a socket pair whose reading end becomes
/// readable when it is there.
struct Handoff<T> {
    value: Mutex<Option<T>>,
    reader: UnixStream,
    writer: UnixStream,
}

impl<T: Send + 'static> Handoff<T> {
    fn new() -> std::io::Result<Arc<Handoff<T>>> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Arc::new(Handoff {
            value: Mutex::new(None),
            reader,
            writer,
        }))
    }

    fn put(&self, value: T) {
        *self.value.lock() = Some(value);
        // One byte in an empty socket buffer cannot block; should the write
        // fail all the same, the wait would only end with the fiber's own
        // timeout or exception.
        let _ = (&self.writer).write(&[1]);
    }

    /// Waits for the value through the scheduler's `io_wait`, until
    /// `deadline` (`Ok(None)` then).
    fn wait(&self, ruby: &Ruby, deadline: Option<Instant>) -> Result<Option<T>, Error> {
        // The descriptor stays ours: Ruby must not close it when the IO
        // object goes, since a late `put` may still write to the pair.
        let io: Value = ruby.class_io().funcall(
            "for_fd",
            (self.reader.as_raw_fd(), kwargs!("autoclose" => false)),
        )?;
        let waited = loop {
            if let Some(value) = self.value.lock().take() {
                break Ok(Some(value));
            }
            let waited = match deadline {
                None => io.funcall::<_, _, Value>("wait_readable", ()),
                Some(_) => {
                    let left = remaining(deadline);
                    if left.is_zero() {
                        break Ok(None);
                    }
                    io.funcall("wait_readable", (left.as_secs_f64(),))
                }
            };
            if let Err(err) = waited {
                break Err(err);
            }
            let mut drained = [0; 16];
            while let Ok(1..) = (&self.reader).read(&mut drained) {}
        };
        // With autoclose off, this closes the IO object, not the descriptor.
        let _: Result<Value, Error> = io.funcall("close", ());
        waited
    }
}
