//! Requests on their way from the core to the Ruby threads that run
//! handlers (`ErlDP::Served`, `ErlDP::Exposed`).
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

use erldp::serve::Responder;
use magnus::{Error, Ruby};
use parking_lot::{Condvar, Mutex};

use crate::gvl::{self, Wake};

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

    /// The core's dispatch: queues the request and returns. A request that
    /// comes after [`close`](Self::close) is dropped with its responder,
    /// which answers the caller with the exception `erldp`.
    pub(crate) fn push(&self, work: W, responder: Responder) {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            drop(responder);
            return;
        }
        state.jobs.push_back((work, responder));
        drop(state);
        self.ready.notify_one();
    }

    /// No more requests: waiting threads return `None`, and requests not
    /// taken yet are answered with the exception `erldp`.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut state = self.state.lock();
            state.closed = true;
            std::mem::take(&mut state.jobs)
        };
        self.ready.notify_all();
        drop(dropped);
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
