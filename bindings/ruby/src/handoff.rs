//! Requests on their way from the core to the Ruby threads that run
//! handlers (`ErlDP::Served`, `ErlDP::Exposed`), and the native methods
//! those threads call, defined once on the module both include
//! (`ErlDP::Handling`).
//!
//! The core hands each request over with its [`Responder`] through the
//! dispatch of [`erldp::Node::serve_handoff`] / `expose_handoff`, on one of
//! its own threads, which must not wait: the dispatch only queues the pair
//! here. The handle's Ruby threads take them off with the GVL released and
//! take the GVL back only to run the block. Order and concurrency are the
//! core's: it dispatches no more requests than `concurrency` allows, so a
//! handle needs at most that many threads.
//!
//! The contract is API.md's "Serving BEAM callers".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use erldp::serve::{Exception, Responder};
use erldp::sync::{Condvar, Mutex};
use magnus::{method, prelude::*, Error, RArray, RModule, Ruby, TryConvert, TypedData, Value};

use crate::exposed::Exposed;
use crate::fork::Owner;
use crate::gvl::{self, Wake};
use crate::served::Served;

/// What `ErlDP::Served` and `ErlDP::Exposed` share: the core's handle and
/// the queue its dispatch fills.
pub(crate) struct Handle<H, W> {
    /// Taken (and so dropped, which stops serving or exposing) by `close`.
    core: Mutex<Option<H>>,
    queue: Arc<Queue<W>>,
    /// In a forked child the core's handle is the parent's, as its node is
    /// (`fork.rs`): neither `close` nor the GC (nor the child's exit) may
    /// stop the parent's serving, which would send `DOWN`s and exits to
    /// every BEAM process watching the served pid.
    owner: Owner,
}

impl<H, W> Handle<H, W> {
    /// `core` was started with `queue`'s [`dispatch`](Queue::dispatch).
    pub(crate) fn new(core: H, queue: Arc<Queue<W>>) -> Handle<H, W> {
        Handle {
            core: Mutex::new(Some(core)),
            queue,
            owner: Owner::current(),
        }
    }
}

impl<H, W> Drop for Handle<H, W> {
    fn drop(&mut self) {
        if self.owner.forked() {
            std::mem::forget(self.core.get_mut().take());
            // Nor may the queue's requests be dropped (and so answered) here.
            std::mem::forget(Arc::clone(&self.queue));
        }
    }
}

/// The core's handles, which stop serving or exposing when dropped.
pub(crate) trait CoreHandle: Send + 'static {
    fn is_closed(&self) -> bool;
}

impl CoreHandle for erldp::Served {
    fn is_closed(&self) -> bool {
        erldp::Served::is_closed(self)
    }
}

impl CoreHandle for erldp::Exposed {
    fn is_closed(&self) -> bool {
        erldp::Exposed::is_closed(self)
    }
}

/// What the core hands over: a served name's request, an exposed
/// module's call.
pub(crate) trait Work: Send + 'static {
    /// The two values that follow the responder in what `native_take`
    /// returns.
    fn ruby_values(&self, ruby: &Ruby) -> Result<[Value; 2], Error>;
}

/// The native half of `ErlDP::Handling` (`lib/erldp/serving.rb`), which
/// `Served` and `Exposed` include: the methods their threads call.
pub(crate) trait Handoff {
    /// `[responder, *ruby_values]` for the next request, waiting for it;
    /// nil once the handle stopped.
    fn take(&self, ruby: &Ruby) -> Result<Option<RArray>, Error>;

    /// Takes no more requests: the threads' waits end, and requests
    /// handed over that no thread took are refused as the core's waiting
    /// ones are (a call exits `normal`, an rpc gets `undef`).
    /// Running ones finish before [`close`](Self::close).
    fn stop(&self);

    /// How many of the handle's threads wait for a request.
    fn idle(&self) -> usize;

    /// Stops serving or exposing (drops the core's handle), and the
    /// threads' waits end.
    fn close(&self);

    fn is_closed(&self) -> bool;
}

impl<H: CoreHandle, W: Work> Handoff for Handle<H, W> {
    fn take(&self, ruby: &Ruby) -> Result<Option<RArray>, Error> {
        while let Some((work, responder)) = self.queue.take(ruby)? {
            match work.ruby_values(ruby) {
                Ok([first, second]) => {
                    let responder = ruby.obj_wrap(crate::responder::Responder::new(responder));
                    return Ok(Some(ruby.ary_new_from_values(&[
                        responder.as_value(),
                        first,
                        second,
                    ])));
                }
                // A term Ruby cannot hold (nested too deeply for the
                // thread's stack) fails that request alone.
                Err(err) => responder.raise(Exception::new("ErlDP::DecodeError", err.to_string())),
            }
        }
        Ok(None)
    }

    fn stop(&self) {
        // In a forked child the queued requests are the parent's: closing
        // the queue would answer their callers from the child.
        if self.owner.forked() {
            return;
        }
        self.queue.close();
    }

    fn idle(&self) -> usize {
        self.queue.idle()
    }

    fn close(&self) {
        if self.owner.forked() {
            return;
        }
        drop(self.core.lock().take());
        self.queue.close();
    }

    fn is_closed(&self) -> bool {
        self.queue.is_closed() || self.core.lock().as_ref().is_none_or(CoreHandle::is_closed)
    }
}

/// `self` of an `ErlDP::Handling` method: the handle of a `Served` or an
/// `Exposed`. The class is checked first: a failed conversion raises and
/// rescues a Ruby exception, too dear for every request.
impl TryConvert for &dyn Handoff {
    fn try_convert(value: Value) -> Result<Self, Error> {
        if value.is_kind_of(Served::class(&Ruby::get_with(value))) {
            <&Served>::try_convert(value).map(Served::handoff)
        } else {
            <&Exposed>::try_convert(value).map(Exposed::handoff)
        }
    }
}

fn take(ruby: &Ruby, rb_self: &dyn Handoff) -> Result<Option<RArray>, Error> {
    rb_self.take(ruby)
}

pub(crate) fn define(module: RModule) -> Result<(), Error> {
    let handling = module.define_module("Handling")?;
    handling.define_private_method("native_take", method!(take, 0))?;
    handling.define_private_method("native_idle", method!(<dyn Handoff>::idle, 0))?;
    handling.define_private_method("native_stop", method!(<dyn Handoff>::stop, 0))?;
    handling.define_private_method("native_close", method!(<dyn Handoff>::close, 0))?;
    handling.define_method("closed?", method!(<dyn Handoff>::is_closed, 0))?;
    Ok(())
}

pub(crate) struct Queue<W> {
    state: Mutex<State<W>>,
    ready: Condvar,
}

struct State<W> {
    jobs: VecDeque<(W, Responder)>,
    closed: bool,
    /// Threads waiting in [`Queue::take`]: none left means a new request
    /// would wait for a busy thread.
    idle: usize,
}

enum Taken<W> {
    Job((W, Responder)),
    Closed,
    Interrupted,
}

impl<W: Send> Queue<W> {
    pub(crate) fn new() -> Arc<Queue<W>> {
        Arc::new(Queue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                closed: false,
                idle: 0,
            }),
            ready: Condvar::new(),
        })
    }

    /// The dispatch to start the core's handle with: [`push`](Self::push)
    /// into this queue. The core drops it once no request can come any more
    /// (the name was killed from BEAM, say, and its requests have answered):
    /// the queue closes then, so the handle's threads end without waiting
    /// for `close`.
    pub(crate) fn dispatch(self: &Arc<Self>) -> impl Fn(W, Responder) + Send + Sync + 'static
    where
        W: 'static,
    {
        let producer = Producer(Arc::clone(self));
        move |work, responder| producer.0.push(work, responder)
    }

    /// The core's dispatch: queues the request and returns. A request that
    /// comes after [`close`](Self::close) is refused, as the core refuses
    /// those still waiting when a name stops.
    fn push(&self, work: W, responder: Responder) {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            responder.refuse();
            return;
        }
        state.jobs.push_back((work, responder));
        drop(state);
        self.ready.notify_one();
    }

    /// No more requests: waiting threads return `None`, and requests not
    /// taken yet are refused (they never ran, as those the core still
    /// holds: a call exits `normal`, an rpc gets `undef`).
    pub(crate) fn close(&self) {
        let untaken = {
            let mut state = self.state.lock();
            state.closed = true;
            std::mem::take(&mut state.jobs)
        };
        self.ready.notify_all();
        for (_, responder) in untaken {
            responder.refuse();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// How many threads wait for a request.
    pub(crate) fn idle(&self) -> usize {
        self.state.lock().idle
    }

    /// The next request, waiting for it with the GVL released; `None` once
    /// the queue is closed. An interrupt (Thread#kill, Thread#raise) ends
    /// the wait and is raised here.
    pub(crate) fn take(&self, ruby: &Ruby) -> Result<Option<(W, Responder)>, Error> {
        {
            let mut state = self.state.lock();
            if let Some(job) = state.jobs.pop_front() {
                return Ok(Some(job));
            }
            if state.closed {
                return Ok(None);
            }
        }
        loop {
            let waiter = Waiter {
                queue: self,
                woken: AtomicBool::new(false),
            };
            match gvl::without_gvl(ruby, &waiter, || self.wait(&waiter.woken))? {
                Taken::Job(job) => return Ok(Some(job)),
                Taken::Closed => return Ok(None),
                Taken::Interrupted => ruby.thread_check_ints()?,
            }
        }
    }

    fn wait(&self, woken: &AtomicBool) -> Taken<W> {
        let mut state = self.state.lock();
        state.idle += 1;
        let taken = loop {
            if let Some(job) = state.jobs.pop_front() {
                break Taken::Job(job);
            }
            if state.closed {
                break Taken::Closed;
            }
            if woken.load(Ordering::Acquire) {
                break Taken::Interrupted;
            }
            self.ready.wait(&mut state);
        };
        state.idle -= 1;
        taken
    }
}

/// The core's end of a [`Queue`], held by its dispatch.
struct Producer<W: Send>(Arc<Queue<W>>);

impl<W: Send> Drop for Producer<W> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What Ruby's unblock function wakes: one thread's wait in [`Queue::take`].
struct Waiter<'q, W> {
    queue: &'q Queue<W>,
    woken: AtomicBool,
}

impl<W: Send> Wake for Waiter<'_, W> {
    fn wake(&self) {
        // Under the lock, so that the waiter cannot miss it between its
        // check and its wait.
        let _state = self.queue.state.lock();
        self.woken.store(true, Ordering::Release);
        self.queue.ready.notify_all();
    }
}
