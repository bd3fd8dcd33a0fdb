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
//! A lane ends after a while without work and on close; the next call for
//! that peer starts a new one.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SendError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use erldp::Atom;
use parking_lot::Mutex;

/// How long a lane waits for more work before its thread ends.
const IDLE: Duration = Duration::from_secs(30);

pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(crate) struct Lanes {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    lanes: HashMap<Atom, Sender<Job>>,
    closed: bool,
}

impl Lanes {
    pub(crate) fn new() -> Arc<Lanes> {
        Arc::default()
    }

    /// Runs `job` on the lane of `peer`, after the jobs queued there before.
    /// Once the node is closed, jobs run at once on the caller's thread:
    /// every call then fails with `Closed` without touching the network. So
    /// do they when no thread can be started, rather than being lost.
    pub(crate) fn run(self: &Arc<Self>, peer: Atom, job: Job) {
        let mut state = self.state.lock();
        let mut job = job;
        if !state.closed {
            if let Some(lane) = state.lanes.get(&peer) {
                match lane.send(job) {
                    Ok(()) => return,
                    Err(SendError(back)) => job = back,
                }
            }
            if let Some(lane) = self.start(peer) {
                match lane.send(job) {
                    Ok(()) => {
                        state.lanes.insert(peer, lane);
                        return;
                    }
                    Err(SendError(back)) => job = back,
                }
            }
        }
        drop(state);
        job();
    }

    fn start(self: &Arc<Self>, peer: Atom) -> Option<Sender<Job>> {
        let (sender, receiver) = mpsc::channel();
        let lanes = Arc::clone(self);
        thread::Builder::new()
            .name("erldp-js-lane".into())
            .spawn(move || lanes.serve(peer, receiver))
            .ok()
            .map(|_| sender)
    }

    /// Lets every lane finish what it has and end; later jobs run at once.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.lanes.clear();
    }

    fn serve(&self, peer: Atom, jobs: Receiver<Job>) {
        loop {
            match jobs.recv_timeout(IDLE) {
                Ok(job) => job(),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    // Jobs are queued under this lock, so an empty queue seen
                    // under it stays empty once the lane is gone from the map.
                    let mut state = self.state.lock();
                    match jobs.try_recv() {
                        Ok(job) => {
                            drop(state);
                            job();
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
