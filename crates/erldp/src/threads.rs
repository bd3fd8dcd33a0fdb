//! The threads ErlDP starts, and waiting for a node's threads when it
//! closes.
//!
//! A node's connections (reader and writer), its accept loop, its timer,
//! its cluster driver (global, pg, node events), the threads that connect,
//! accept and disconnect, and the handler pool of `serve`/`expose` run on
//! threads of their own. [`Node::close`](crate::Node::close) waits for them, so that a program can end (or a C program free everything)
//! right after, with nothing of the node still running. Callbacks run on
//! these threads, and one of them may close the node: a thread cannot wait
//! for itself, and two such threads waiting for each other would never
//! end. So only a thread that is not one of ours waits; on ours, closing
//! stops everything and returns, and the threads end on their own (a
//! later close from outside still waits for them).

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::sync::Mutex;

use crate::term::Atom;
use crate::{Error, Result};

thread_local! {
    static OURS: Cell<bool> = const { Cell::new(false) };
    static CLOSING: Cell<usize> = const { Cell::new(0) };
    /// The connection this thread reads, while it does: a connection's
    /// reader until its connection is down.
    static READING: RefCell<Option<Arc<dyn Reading>>> = const { RefCell::new(None) };
}

/// What a reader thread reads: a peer's connection, which another thread may
/// replace or end while the reader runs a handler.
pub(crate) trait Reading {
    fn peer(&self) -> Atom;
    /// Whether answers from the peer still come over this connection only
    /// (it has not ended, nor been replaced by a connection with a reader
    /// of its own).
    fn is_current(&self) -> bool;
}

/// Starts a thread named `name` that counts as one of ErlDP's.
pub(crate) fn spawn(
    name: String,
    work: impl FnOnce() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name).spawn(move || {
        OURS.with(|ours| ours.set(true));
        work();
    })
}

/// Whether the calling thread may not wait for a node's threads: it is one
/// that ErlDP started, or it is stopping a node ([`Closing`]), where
/// callbacks run (a mailbox's receive callback gets `Closed` there) and a
/// close they make cannot wait for what the outer close has not stopped yet.
pub(crate) fn is_ours() -> bool {
    OURS.with(Cell::get) || CLOSING.with(Cell::get) > 0
}

/// Marks the calling thread as stopping a node, until dropped.
pub(crate) struct Closing(());

impl Closing {
    pub(crate) fn enter() -> Closing {
        CLOSING.with(|closing| closing.set(closing.get() + 1));
        Closing(())
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        CLOSING.with(|closing| closing.set(closing.get() - 1));
    }
}

/// The threads a node started and has not waited for.
#[derive(Default)]
pub(crate) struct Threads {
    running: Mutex<Running>,
    /// Held by the thread that waits, so that a second one waits for the
    /// first to be done rather than returning early.
    waiting: Mutex<()>,
}

#[derive(Default)]
struct Running {
    threads: Vec<JoinHandle<()>>,
    /// Set by the first [`Threads::join_all`]: a thread started after it
    /// (a connection a user's thread installed while the node closed) would
    /// run on after close returned, so none starts.
    closed: bool,
}

impl Threads {
    /// Starts a thread that [`join_all`](Self::join_all) waits for;
    /// `Closed` once `join_all` was called.
    pub(crate) fn spawn(
        &self,
        name: String,
        work: impl FnOnce() + Send + 'static,
    ) -> crate::Result<()> {
        let mut running = self.running.lock();
        if running.closed {
            return Err(crate::Error::Closed);
        }
        let thread = spawn(name, work)?;
        // Threads that ended need no waiting for: their handles go.
        running.threads.retain(|thread| !thread.is_finished());
        running.threads.push(thread);
        Ok(())
    }

    /// Waits until every thread started so far has ended; on one of our
    /// own threads, returns at once. No thread starts after it was called.
    pub(crate) fn join_all(&self) {
        self.running.lock().closed = true;
        if is_ours() {
            return;
        }
        let _waiting = self.waiting.lock();
        loop {
            let Some(thread) = self.running.lock().threads.pop() else {
                return;
            };
            let _ = thread.join();
        }
    }
}

/// Notes the connection this thread reads (`None`: none now).
pub(crate) fn set_reading(connection: Option<Arc<dyn Reading>>) {
    READING.with(|reading| *reading.borrow_mut() = connection);
}

/// The peer whose answers only the calling thread could read: the peer of
/// the connection it reads, while that connection is the peer's.
pub(crate) fn reading() -> Option<Atom> {
    READING.with(|reading| {
        reading
            .borrow()
            .as_ref()
            .filter(|connection| connection.is_current())
            .map(|connection| connection.peer())
    })
}

/// Refuses to wait for an answer from `peer` on the thread that reads
/// `peer`'s connection (a handler run on the reader, a callback run there):
/// only this thread could read the answer, so the wait could only time out.
pub(crate) fn not_from_its_reader(peer: Atom) -> Result<()> {
    match reading() {
        Some(read) if read == peer => Err(waits_for_its_reader(&format!("a call to {peer}"), peer)),
        _ => Ok(()),
    }
}

/// Why `what`, which waits for `peer`, cannot run on the thread that reads
/// `peer`'s connection.
pub(crate) fn waits_for_its_reader(what: &str, peer: Atom) -> Error {
    Error::invalid(format!(
        "{what} cannot wait on the thread that reads {peer}'s connection (a handler run on \
         the reader, ServeOptions::on_reader): {peer}'s answer could never be read"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn join_all_waits_for_every_thread_but_not_on_ours() {
        let threads = Arc::new(Threads::default());
        let ended = Arc::new(AtomicUsize::new(0));
        for n in 0..3 {
            let ended = Arc::clone(&ended);
            threads
                .spawn(format!("t{n}"), move || {
                    thread::sleep(std::time::Duration::from_millis(20));
                    ended.fetch_add(1, Ordering::SeqCst);
                })
                .expect("spawn");
        }
        // On one of ours, join_all returns without taking any thread.
        let inner = Arc::clone(&threads);
        let ours = spawn("ours".into(), move || {
            assert!(is_ours());
            inner.join_all();
            assert_eq!(inner.running.lock().threads.len(), 3);
        })
        .expect("spawn");
        ours.join().expect("returned");
        assert!(!is_ours());
        threads.join_all();
        assert_eq!(ended.load(Ordering::SeqCst), 3);
        assert!(threads.running.lock().threads.is_empty());
        assert!(
            threads.spawn("late".into(), || {}).is_err(),
            "a thread started after join_all"
        );
    }
}
