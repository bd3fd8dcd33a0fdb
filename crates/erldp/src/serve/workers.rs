//! The threads that run Rust and C handlers: a pool that grows on demand up
//! to a bound and shrinks when idle.
//!
//! Handlers do not run on a connection's reader thread (unless
//! [`ServeOptions::on_reader`](crate::ServeOptions::on_reader) asks for it):
//! a slow handler would stop every signal from that peer, ticks included.
//! Threads are started when work arrives and none is idle, up to the node's
//! [`handler_threads`](crate::NodeBuilder::handler_threads); a thread idle
//! for [`IDLE`] ends, so a node that served a burst does not keep its
//! threads for ever. How many handlers of one name run at once is the
//! [`Lane`](super::lane::Lane)'s business, not the pool's.
//!
//! A handler that finishes on a pool thread starts the next request of its
//! lane; that request runs on the same thread as soon as the handler's job
//! returns ([`completing`]), rather than waking another thread to run it
//! while this one goes idle: a busy name stays on one warm thread.
//!
//! The pool's threads are ErlDP's ([`threads`](crate::threads)): closing
//! the node [joins](Workers::join) them once their handlers return, except
//! from one of ErlDP's threads, a handler among them, which cannot wait for
//! itself or for another handler that may wait for it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

use crate::threads::{self, Threads};

/// A thread idle this long ends.
pub(crate) const IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// The pool whose job this thread runs now, if any.
    static RUNNING_FOR: Cell<usize> = const { Cell::new(0) };
    /// Set while a request's completion starts the next one of its lane.
    static COMPLETING: Cell<bool> = const { Cell::new(false) };
    /// Jobs started by a completion, to run on this thread next.
    static FOLLOW_UP: RefCell<VecDeque<Job>> = const { RefCell::new(VecDeque::new()) };
}

/// Runs `done`, the end of a request: a job it gives the pool from a pool
/// thread runs on that thread once the current job returns.
pub(crate) fn completing(done: impl FnOnce()) {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            COMPLETING.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(COMPLETING.with(|c| c.replace(true)));
    done();
}

/// A bounded pool of threads.
pub(crate) struct Workers {
    name: String,
    max: usize,
    state: Mutex<State>,
    work: Condvar,
    /// The pool's threads, for [`Workers::join`].
    threads: Threads,
    /// Told when the pool closes, for a [`Workers::join`] that came first.
    closing: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl Workers {
    /// A pool of at most `max` threads named after `name`; none is started
    /// until there is work.
    pub(crate) fn new(name: &str, max: usize) -> Arc<Workers> {
        Arc::new(Workers {
            name: name.to_string(),
            max: max.max(1),
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                closed: false,
            }),
            work: Condvar::new(),
            threads: Threads::default(),
            closing: Condvar::new(),
        })
    }

    /// Runs `job` on a thread of the pool, at once when one is idle or may
    /// be started, else when one is free. A closed pool drops the job.
    pub(crate) fn execute(self: &Arc<Self>, job: Job) {
        let ours = RUNNING_FOR.with(Cell::get) == self.id();
        if ours && COMPLETING.with(Cell::get) {
            FOLLOW_UP.with(|jobs| jobs.borrow_mut().push_back(job));
            return;
        }
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        state.jobs.push_back(job);
        // An idle thread takes a job only once it has woken: while more
        // jobs wait than threads idle, another thread is needed.
        let wake = state.idle > 0;
        if state.jobs.len() > state.idle && state.threads < self.max {
            self.start_thread(&mut state);
        }
        drop(state);
        if wake {
            self.work.notify_one();
        }
    }

    /// Starts a thread while the state is locked, so that the handle is
    /// there for a [`join`](Self::join) as soon as the thread can run.
    fn start_thread(self: &Arc<Self>, state: &mut State) {
        state.threads += 1;
        let pool = Arc::clone(self);
        let name = format!("erldp-h-{}-{}", self.name, state.threads);
        match self.threads.spawn(name, move || pool.run()) {
            Ok(()) => {}
            Err(err) => {
                state.threads -= 1;
                log::error!(target: "erldp::node", "cannot start a handler thread: {err}");
            }
        }
    }

    fn id(&self) -> usize {
        self as *const Workers as usize
    }

    fn run(&self) {
        RUNNING_FOR.with(|pool| pool.set(self.id()));
        let mut state = self.state.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                let mut next = Some(job);
                while let Some(job) = next {
                    // Handlers are run under their own catch_unwind; this
                    // one keeps the thread count right if a job panics all
                    // the same.
                    let _ = panic::catch_unwind(AssertUnwindSafe(job));
                    next = FOLLOW_UP.with(|jobs| jobs.borrow_mut().pop_front());
                }
                state = self.state.lock();
                continue;
            }
            if state.closed {
                break;
            }
            state.idle += 1;
            let timed_out = self.work.wait_for(&mut state, IDLE).timed_out();
            state.idle -= 1;
            if timed_out && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Stops taking work and drops what waits; running jobs finish, then
    /// their threads end.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut state = self.state.lock();
            state.closed = true;
            std::mem::take(&mut state.jobs)
        };
        self.work.notify_all();
        self.closing.notify_all();
        drop(dropped);
    }

    /// Waits until the pool is [`close`](Self::close)d (by another thread,
    /// when a second close of the node gets here first) and its threads
    /// have ended, each after the job it runs returns; on one of ErlDP's
    /// threads, returns at once (see the module documentation).
    pub(crate) fn join(&self) {
        if threads::is_ours() {
            return;
        }
        let mut state = self.state.lock();
        while !state.closed {
            self.closing.wait(&mut state);
        }
        drop(state);
        // A closed pool starts no thread: all are there to join.
        self.threads.join_all();
    }

    /// How many threads the pool has now.
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.state.lock().threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_queued_while_a_thread_wakes_get_threads_of_their_own() {
        let pool = Workers::new("wake", 8);
        let (tx, rx) = mpsc::channel();
        pool.execute(Box::new({
            let tx = tx.clone();
            move || tx.send(0).expect("send")
        }));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(0));
        // Three jobs that each wait for all three to run: the one idle
        // thread cannot run them alone.
        let barrier = Arc::new(std::sync::Barrier::new(3));
        for i in 1..=3 {
            let (tx, barrier) = (tx.clone(), Arc::clone(&barrier));
            pool.execute(Box::new(move || {
                barrier.wait();
                tx.send(i).expect("send");
            }));
        }
        let mut done: Vec<i32> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("ran"))
            .collect();
        done.sort_unstable();
        assert_eq!(done, [1, 2, 3]);
    }

    #[test]
    fn work_started_by_a_completion_runs_next_on_the_same_thread() {
        let pool = Workers::new("follow", 4);
        let (tx, rx) = mpsc::channel();
        let inner = Arc::clone(&pool);
        pool.execute(Box::new(move || {
            let first = std::thread::current().id();
            let tx2 = tx.clone();
            completing(|| {
                inner.execute(Box::new(move || {
                    tx2.send(std::thread::current().id()).expect("send")
                }))
            });
            // Still this job's turn: the follow-up waits for it to return.
            tx.send(first).expect("send");
        }));
        let first = rx.recv_timeout(Duration::from_secs(10)).expect("first");
        let second = rx.recv_timeout(Duration::from_secs(10)).expect("second");
        assert_eq!(first, second);
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn join_waits_for_the_running_job_and_the_threads_to_end() {
        let pool = Workers::new("join", 4);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let finished = Arc::clone(&done);
        pool.execute(Box::new(move || {
            started_tx.send(()).expect("send");
            release_rx.recv().expect("released");
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        started_rx.recv().expect("the job runs");
        pool.close();
        // Released only once this thread is about to wait: a join that
        // did not wait would find the job still blocked.
        let (joining_tx, joining_rx) = mpsc::channel::<()>();
        let releaser = std::thread::spawn(move || {
            joining_rx.recv().expect("joining");
            release_tx.send(()).expect("release");
        });
        joining_tx.send(()).expect("send");
        pool.join();
        assert!(
            done.load(std::sync::atomic::Ordering::SeqCst),
            "join returned before the job"
        );
        assert_eq!(pool.threads(), 0);
        releaser.join().expect("released");

        // On a thread of ErlDP's, join does not wait.
        let pool = Workers::new("ours", 1);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        pool.execute(Box::new(move || {
            started_tx.send(()).expect("send");
            release_rx.recv().expect("released");
        }));
        started_rx.recv().expect("the job runs");
        pool.close();
        let inner = Arc::clone(&pool);
        threads::spawn("ours".into(), move || inner.join())
            .expect("spawn")
            .join()
            .expect("returned while the job runs");
        release_tx.send(()).expect("release");
        pool.join();
        assert_eq!(pool.threads(), 0);
    }

    #[test]
    fn runs_everything_with_no_more_threads_than_allowed() {
        let pool = Workers::new("test", 3);
        let (tx, rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for i in 0..10 {
            let tx = tx.clone();
            let release = Arc::clone(&release_rx);
            pool.execute(Box::new(move || {
                if i < 3 {
                    release.lock().recv().expect("released");
                }
                tx.send(i).expect("send");
            }));
        }
        assert_eq!(pool.threads(), 3);
        for _ in 0..3 {
            release_tx.send(()).expect("release");
        }
        let mut done: Vec<i32> = (0..10)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("ran"))
            .collect();
        done.sort_unstable();
        assert_eq!(done, (0..10).collect::<Vec<_>>());
        pool.close();
        pool.execute(Box::new(move || tx.send(99).expect("send")));
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }
}
