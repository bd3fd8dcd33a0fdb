//! One worker thread per peer node for the calls that may have to connect.
//!
//! Sending, starting an rpc or a call, linking and monitoring all connect
//! first when the peer is not connected yet, and connecting blocks for as
//! long as EPMD, TCP and the handshake take (up to the node's setup time).
//! None of that may happen on the JavaScript thread, so such calls run on
//! the lane of their peer: a thread that takes them in order, which also
//! keeps messages to one peer in the order they were sent. A slow or dead
//! peer holds up only its own lane. Answers do not wait on lanes: an rpc
//! leaves its lane as soon as its request is written, and the answer comes
//! back through a callback (see `node.rs`).
//!
//! Calls are staged first and handed to their lanes by [`Lanes::flush`],
//! which the package runs once per turn of the event loop (in a
//! microtask): a burst of a thousand sends wakes a lane a few times, not a
//! thousand times. A long burst is handed over every [`FLUSH_AT`] calls
//! rather than at its end, so that the lanes send while JavaScript is still
//! making messages.
//!
//! A lane ends after a while without work and on close; the next call for
//! that peer starts a new one.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SendError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use erldp::sync::Mutex;
use erldp::Atom;

/// How long a lane waits for more work before its thread ends.
const IDLE: Duration = Duration::from_secs(30);

/// Staged calls that are handed to the lanes without waiting for the
/// package's flush. In a loop of 200,000 sends, flushing only at its end
/// leaves the lane idle while JavaScript encodes and JavaScript idle while
/// the lane sends: with this, the two overlap and the loop runs at about
/// 1.5 times the rate.
const FLUSH_AT: usize = 256;

pub(crate) type Job = Box<dyn FnOnce() + Send>;
type Batch = Vec<Job>;

#[derive(Default)]
pub(crate) struct Lanes {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    lanes: HashMap<Atom, Sender<Batch>>,
    staged: Vec<(Atom, Job)>,
    closed: bool,
}

impl Lanes {
    pub(crate) fn new() -> Arc<Lanes> {
        Arc::default()
    }

    /// Stages `job` for the lane of `peer`; it starts at the next
    /// [`flush`](Self::flush). Once the node is closed, jobs run at once on
    /// the caller's thread: every call then fails with `Closed` without
    /// touching the network.
    pub(crate) fn stage(self: &Arc<Self>, peer: Atom, job: Job) {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            job();
            return;
        }
        state.staged.push((peer, job));
        if state.staged.len() >= FLUSH_AT {
            drop(state);
            self.flush();
        }
    }

    /// Hands the staged jobs to their lanes, each lane's in the order they
    /// were staged. Jobs for which no thread can be started run here rather
    /// than being lost.
    pub(crate) fn flush(self: &Arc<Self>) {
        let mut state = self.state.lock();
        let mut batches: Vec<(Atom, Batch)> = Vec::new();
        for (peer, job) in std::mem::take(&mut state.staged) {
            match batches.iter_mut().find(|(lane, _)| *lane == peer) {
                Some((_, batch)) => batch.push(job),
                None => batches.push((peer, vec![job])),
            }
        }
        let mut homeless = Vec::new();
        for (peer, batch) in batches {
            if let Err(batch) = self.deliver(&mut state, peer, batch) {
                homeless.extend(batch);
            }
        }
        drop(state);
        for job in homeless {
            job();
        }
    }

    fn deliver(self: &Arc<Self>, state: &mut State, peer: Atom, batch: Batch) -> Result<(), Batch> {
        let mut batch = batch;
        if let Some(lane) = state.lanes.get(&peer) {
            match lane.send(batch) {
                Ok(()) => return Ok(()),
                // The lane's thread is gone: a new one takes the batch.
                Err(SendError(back)) => batch = back,
            }
        }
        let Some(lane) = self.start(peer) else {
            return Err(batch);
        };
        match lane.send(batch) {
            Ok(()) => {
                state.lanes.insert(peer, lane);
                Ok(())
            }
            Err(SendError(back)) => Err(back),
        }
    }

    fn start(self: &Arc<Self>, peer: Atom) -> Option<Sender<Batch>> {
        let (sender, receiver) = mpsc::channel();
        let lanes = Arc::clone(self);
        thread::Builder::new()
            .name("erldp-js-lane".into())
            .spawn(move || lanes.serve(peer, receiver))
            .ok()
            .map(|_| sender)
    }

    /// Lets every lane finish what it has and end; later jobs run at once.
    /// Jobs still staged go to their lanes first.
    pub(crate) fn close(self: &Arc<Self>) {
        self.flush();
        let mut state = self.state.lock();
        state.closed = true;
        state.lanes.clear();
    }

    fn serve(&self, peer: Atom, batches: Receiver<Batch>) {
        loop {
            match batches.recv_timeout(IDLE) {
                Ok(batch) => run(batch),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    // Batches are sent under this lock, so an empty queue seen
                    // under it stays empty once the lane is gone from the map.
                    let mut state = self.state.lock();
                    match batches.try_recv() {
                        Ok(batch) => {
                            drop(state);
                            run(batch);
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                            state.lanes.remove(&peer);
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Runs a batch's jobs in order. A job that panics (the panic hook has
/// printed why) loses its own answer, not the lane or the jobs after it.
fn run(batch: Batch) {
    for job in batch {
        let _ = panic::catch_unwind(AssertUnwindSafe(job));
    }
}
