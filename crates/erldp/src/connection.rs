//! One established distribution connection: framing, the writer and reader
//! threads, and ticks.
//!
//! After the handshake every message is a 4-byte big-endian length followed
//! by the frame; a zero length is a tick
//! ([Protocol between Connected Nodes](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes)).
//!
//! Senders encode frames straight into a shared output buffer under a short
//! lock; the writer thread swaps that buffer out and writes everything queued
//! with one `write` call, so many small messages cost one syscall. A frame
//! sent after a quiet spell (a request that waits for its answer) is written
//! by the sender itself, without waiting: handing it to the writer would add
//! a thread wake-up to every round trip. A message holding a large binary
//! (or given as large ETF) is written by its sender too, with one vectored
//! write from where its parts lie, so that its bytes are not copied into
//! the buffer first: the sender waits until the socket has taken them (up
//! to the send timeout). Signals the node owes the peer never wait for
//! room (see [`Urgency::Signal`]), and nor does anything a reader thread
//! sends, so that no peer can stop the node reading from it or from
//! another peer. The reader thread reads in large chunks, splits frames
//! off without copying, decodes and hands each control message to the
//! node.

use std::cell::Cell;
use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use crate::deadline;
use crate::handshake::Peer;
use crate::inbox::wakeups;
use crate::protocol::frame::{self, Incoming, Spread, READ_CHUNK, TICK};
use crate::protocol::{Bounds, Control, Outbound};
use crate::term::encode::{holds_outlined, OUTLINE_MIN};
use crate::term::Atom;
use crate::threads::{self, Threads};
use crate::transport::{Io, Transport};
use crate::{Error, Result};

/// The reader wakes waiting receivers at least this often while frames keep
/// arriving (see [`wakeups`]).
const FLUSH_EVERY: usize = 64;
/// After writing a frame this large the writer gives its buffer back rather
/// than keeping the capacity around.
const KEEP_CAPACITY: usize = 4 << 20;
/// A sender writes its frame itself when nothing was queued for this long
/// before it: a stream of sends still goes through the writer, in batches.
const QUIET_BEFORE_DIRECT: Duration = Duration::from_micros(50);
/// Frames larger than this always go through the writer, so that no sender
/// spends long in a write.
const DIRECT_MAX: usize = 16 << 10;

/// How much a connection holds for a peer that takes its bytes slowly, and
/// how long a send waits for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backlog {
    /// Sends wait while this much is queued and not yet written, so that a
    /// slow peer cannot make the queue grow without bound
    /// ([`NodeBuilder::send_queue_limit`](crate::NodeBuilder::send_queue_limit)).
    pub(crate) limit: usize,
    /// How long a send waits for room below `limit`.
    pub(crate) timeout: Duration,
}

/// How a frame is queued.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Urgency {
    /// Batched with what follows; waits for room.
    Batched,
    /// Someone waits on it: written at once when nothing is queued; waits
    /// for room.
    Awaited,
    /// A signal the node owes the peer (an answer to one of its signals, an
    /// exit or `DOWN` of ours, a link signal sent under a process's lock),
    /// or anything a reader thread sends ([`READER`]): written at once, and
    /// never waits, as BEAM never suspends the runtime on a busy
    /// connection. Past the backlog limit these may pile up only as much
    /// again; then the connection ends, for a peer that reads nothing while
    /// it keeps asking.
    Signal,
}

thread_local! {
    /// Whether this thread is a connection's reader. What it sends, on any
    /// connection (the node's answers to what it read: a ping's reply,
    /// `rex`'s `undef`), goes as a [`Urgency::Signal`]: waiting for room
    /// would stop it reading from its peer.
    static READER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is a connection's reader.
pub(crate) fn on_reader() -> bool {
    READER.with(Cell::get)
}

/// Runs `work`, a handler that a reader runs for a request it read, as any
/// other thread: what it sends waits for room up to the send timeout, and
/// then fails, instead of going as a signal, which past the backlog limit
/// ends the connection (a handler streaming to its caller would cut it).
pub(crate) fn as_handler<T>(work: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            READER.with(|reader| reader.set(self.0));
        }
    }
    let _restore = Restore(READER.with(|reader| reader.replace(false)));
    work()
}

/// Receives what a connection reads, and learns when it goes down.
pub(crate) trait Dispatch: Send + Sync + 'static {
    /// A control message (with its payload) arrived.
    fn deliver(&self, conn: &Arc<Connection>, control: Control);
    /// The connection is gone; called exactly once, from the reader thread.
    fn connection_down(&self, conn: &Arc<Connection>, reason: &str);
}

/// What is waiting to be written, and who may write it.
struct Outgoing {
    buf: Vec<u8>,
    /// Encodes into `buf`; under the same lock, so that its atom cache
    /// updates reach the peer in the order it makes them.
    outbound: Outbound,
    closing: bool,
    /// The writer thread has written everything and stopped.
    flushed: bool,
    /// Someone (the writer thread or a sender) is writing to the socket
    /// outside the lock; nobody else may until it is done.
    writing: bool,
    /// When the last frame was queued.
    last_queued: Instant,
    /// The buffer a sender that writes itself swaps in for `buf`.
    spare: Vec<u8>,
    /// Bytes of signals queued past the backlog limit since a batch was
    /// last taken for writing.
    owed: usize,
}

/// A live connection to one peer node.
pub(crate) struct Connection {
    peer: Peer,
    id: u64,
    /// The peer is declared down after this long without a byte from it;
    /// we tick every quarter of it.
    net_ticktime: Duration,
    /// What the peer's frames may hold: their size, the atoms they may
    /// add, what decoding one may build.
    bounds: Bounds,
    backlog: Backlog,
    /// The links and monitors the peer holds on our processes, which the
    /// node counts and bounds.
    holds: AtomicUsize,
    queue: Mutex<Outgoing>,
    /// The writer waits here for data.
    data_ready: Condvar,
    /// Senders wait here for room below the backlog limit; [`close`](Self::close)
    /// waits here for the writer to finish.
    room: Condvar,
    transport: Box<dyn Transport>,
    down: AtomicBool,
    down_reason: Mutex<Option<String>>,
    /// The node took in the connection's end (see [`end`](Self::end)).
    ended: AtomicBool,
    /// The writer thread was started and [`close`](Self::close) has not
    /// waited for it to flush yet.
    writer: AtomicBool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl threads::Reading for Connection {
    fn peer(&self) -> Atom {
        self.peer.name
    }

    fn is_current(&self) -> bool {
        !self.is_down() && !self.is_ended()
    }
}

impl Connection {
    /// Takes over a transport on which the handshake has completed.
    /// Nothing is read or written until [`run`](Self::run) starts the
    /// threads, so the caller can make the connection known first.
    pub(crate) fn new(
        transport: Box<dyn Transport>,
        peer: Peer,
        net_ticktime: Duration,
        bounds: Bounds,
        backlog: Backlog,
    ) -> Result<Arc<Connection>> {
        let outbound = Outbound::new(peer.flags);
        transport.set_read_timeout(Some((net_ticktime / 4).max(Duration::from_millis(10))))?;
        transport.set_write_timeout(None)?;
        Ok(Arc::new(Connection {
            peer,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            net_ticktime,
            bounds,
            backlog,
            holds: AtomicUsize::new(0),
            queue: Mutex::new(Outgoing {
                buf: Vec::with_capacity(READ_CHUNK),
                outbound,
                closing: false,
                flushed: false,
                writing: false,
                last_queued: Instant::now(),
                spare: Vec::new(),
                owed: 0,
            }),
            data_ready: Condvar::new(),
            room: Condvar::new(),
            transport,
            down: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            down_reason: Mutex::new(None),
            writer: AtomicBool::new(false),
        }))
    }

    /// How often we tick.
    fn tick(&self) -> Duration {
        self.net_ticktime / 4
    }

    /// Starts the writer and reader threads, among the node's `threads`.
    pub(crate) fn run(
        self: &Arc<Self>,
        dispatch: Arc<dyn Dispatch>,
        threads: &Threads,
    ) -> Result<()> {
        let name = self.peer.name.as_str();
        {
            let conn = Arc::clone(self);
            threads.spawn(format!("erldp-w-{name}"), move || conn.write_loop())?;
        }
        self.writer.store(true, Ordering::Release);
        let conn = Arc::clone(self);
        threads.spawn(format!("erldp-r-{name}"), move || conn.read_loop(dispatch))?;
        Ok(())
    }

    /// The peer's node name.
    pub(crate) fn peer_name(&self) -> Atom {
        self.peer.name
    }

    /// The flags both sides agreed on.
    pub(crate) fn flags(&self) -> u64 {
        self.peer.flags
    }

    /// A number that tells this connection apart from earlier and later
    /// connections to the same peer.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The count of links and monitors the peer holds on our processes.
    pub(crate) fn holds(&self) -> &AtomicUsize {
        &self.holds
    }

    /// Whether the connection has gone down (or is going down).
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records that the node takes in the end of this connection (its
    /// links, monitors and requests fail), for `reason`: true the first
    /// time only. That may be before its reader notices, which dispatches
    /// nothing more from then on: another connection may already carry the
    /// peer's traffic.
    pub(crate) fn end(&self, reason: &str) -> bool {
        self.note_reason(reason);
        !self.ended.swap(true, Ordering::AcqRel)
    }

    /// Whether [`end`](Self::end) was called.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Why the connection went down (the first reason given).
    pub(crate) fn down_reason(&self) -> String {
        self.down_reason
            .lock()
            .clone()
            .unwrap_or_else(|| "closed".to_string())
    }

    fn lost(&self) -> Error {
        Error::connection(
            self.peer.name.as_str(),
            format!("connection lost: {}", self.down_reason()),
        )
    }

    /// Queues one control message (and its payload) for sending. While
    /// the peer leaves the backlog limit untaken this waits for room, up
    /// to the send timeout; on a reader thread it is a
    /// [`signal`](Self::signal) instead (see [`READER`]).
    ///
    /// A message holding a binary of [`OUTLINE_MIN`] bytes or more is
    /// written by the caller instead (see [`send_spread`](Self::send_spread)).
    pub(crate) fn send(&self, control: &Control) -> Result<()> {
        if on_reader() {
            return self.signal(control);
        }
        if control.message().is_some_and(holds_outlined) && self.transport.writes_in_place() {
            return self.send_spread(control, None);
        }
        self.enqueue(control, None, Urgency::Batched)
    }

    /// [`send`](Self::send) with the payload given as ETF that
    /// [`validate`](crate::term::decode::validate) accepted: framed as it
    /// is, in place of the control message's own.
    pub(crate) fn send_etf(&self, control: &Control, etf: &[u8]) -> Result<()> {
        if on_reader() {
            return self.enqueue(control, Some(etf), Urgency::Signal);
        }
        if etf.len() >= OUTLINE_MIN && self.transport.writes_in_place() {
            return self.send_spread(control, Some(etf));
        }
        self.enqueue(control, Some(etf), Urgency::Batched)
    }

    /// Writes a frame from the caller's thread with one vectored write from
    /// where its large parts lie (the caller's binaries, `etf`), instead of
    /// copying them into the buffer: their bytes are the caller's until the
    /// socket has them. What was queued before goes first, in the same
    /// write; nothing else is written meanwhile, so frames stay whole and
    /// in order. The caller waits for a write under way to end and for the
    /// socket to take the frame, both within the send timeout: what the
    /// socket has not taken by then is copied into the buffer for the
    /// writer thread, as any frame would have been.
    fn send_spread(&self, control: &Control, etf: Option<&[u8]>) -> Result<()> {
        let deadline = deadline::after(self.backlog.timeout);
        let mut queue = self.queue.lock();
        loop {
            if queue.closing || self.is_down() {
                return Err(self.lost());
            }
            let busy = |queue: &Outgoing| queue.writing || queue.buf.len() >= self.backlog.limit;
            if !busy(&queue) {
                break;
            }
            if self.room.wait_until(&mut queue, deadline).timed_out() && busy(&queue) {
                return Err(Error::timeout(format!(
                    "sending to {}: the peer took nothing of earlier messages for {} s \
                     (send_timeout)",
                    self.peer.name,
                    self.backlog.timeout.as_secs_f64()
                )));
            }
        }
        let frame = Spread::encode(&mut queue.outbound, control, etf)?;
        log::trace!(
            "-> {} {} ({} bytes, written by the sender)",
            self.peer.name,
            control.kind(),
            frame.len()
        );
        queue.writing = true;
        queue.last_queued = Instant::now();
        let spare = std::mem::take(&mut queue.spare);
        let earlier = std::mem::replace(&mut queue.buf, spare);
        queue.owed = 0;
        drop(queue);
        let mut slices = frame.slices(0);
        if !earlier.is_empty() {
            slices.insert(0, std::io::IoSlice::new(&earlier));
        }
        let result = self.transport.write_vectored_until(&slices, deadline);
        drop(slices);
        let mut queue = self.queue.lock();
        queue.writing = false;
        let failure = match result {
            Ok(written) => {
                let total = earlier.len() + frame.len();
                if written < total {
                    // Past the deadline: the writer thread takes the rest, ahead of
                    // what was queued meanwhile.
                    let mut rest = Vec::with_capacity(total - written + queue.buf.len());
                    rest.extend_from_slice(earlier.get(written..).unwrap_or_default());
                    frame.copy_into(written.saturating_sub(earlier.len()), &mut rest);
                    rest.extend_from_slice(&queue.buf);
                    queue.buf = rest;
                }
                None
            }
            Err(err) => Some(err),
        };
        if earlier.capacity() <= KEEP_CAPACITY && queue.spare.capacity() < earlier.capacity() {
            let mut earlier = earlier;
            earlier.clear();
            queue.spare = earlier;
        }
        let writer_needed = !queue.buf.is_empty() || queue.closing;
        drop(queue);
        self.room.notify_all();
        if let Some(err) = failure {
            self.abort(&format!("write failed: {err}"));
            return Err(self.lost());
        }
        if writer_needed {
            self.data_ready.notify_one();
        }
        Ok(())
    }

    /// [`send`](Self::send) for a frame someone waits on (the reply to a
    /// call the peer made, or a request whose caller waits for its answer):
    /// written by the sender whenever nothing else is queued, even right
    /// after other frames, since batching it with later ones would only
    /// delay it.
    pub(crate) fn send_awaited(&self, control: &Control) -> Result<()> {
        let urgency = if on_reader() {
            Urgency::Signal
        } else {
            Urgency::Awaited
        };
        self.enqueue(control, None, urgency)
    }

    /// Queues a signal the node owes the peer without waiting for room (see
    /// [`Urgency::Signal`]): the reader thread answers the peer's signals
    /// with it, and a process sends its link signals and exits with it
    /// under its own lock. Fails, ending the connection, when the peer
    /// leaves the backlog limit unread and as much again of signals.
    pub(crate) fn signal(&self, control: &Control) -> Result<()> {
        self.enqueue(control, None, Urgency::Signal)
    }

    /// Whether a [`send`](Self::send) now would wait for room: the peer
    /// leaves the backlog limit untaken.
    pub(crate) fn is_congested(&self) -> bool {
        self.queue.lock().buf.len() >= self.backlog.limit
    }

    fn enqueue(&self, control: &Control, etf: Option<&[u8]>, urgency: Urgency) -> Result<()> {
        let limit = self.backlog.limit;
        let mut queue = self.queue.lock();
        let mut deadline = None;
        loop {
            if queue.closing || self.is_down() {
                return Err(self.lost());
            }
            if queue.buf.len() < limit {
                break;
            }
            if urgency == Urgency::Signal {
                if queue.owed < limit {
                    break;
                }
                let (unread, owed) = (queue.buf.len(), queue.owed);
                drop(queue);
                self.abort(&format!(
                    "the peer left {} MiB unread: past the send_queue_limit of {} MiB, \
                     {} MiB of signals we owe it",
                    unread >> 20,
                    limit >> 20,
                    owed >> 20
                ));
                return Err(self.lost());
            }
            let deadline = *deadline.get_or_insert_with(|| deadline::after(self.backlog.timeout));
            if self.room.wait_until(&mut queue, deadline).timed_out() && queue.buf.len() >= limit {
                return Err(Error::timeout(format!(
                    "sending to {}: the peer left {} MiB unread for {} s (send_timeout)",
                    self.peer.name,
                    queue.buf.len() >> 20,
                    self.backlog.timeout.as_secs_f64()
                )));
            }
        }
        let Outgoing { buf, outbound, .. } = &mut *queue;
        let start = buf.len();
        let len = frame::append_with(buf, outbound, control, etf)?;
        if start >= limit {
            queue.owed += queue.buf.len() - start;
        }
        let now = Instant::now();
        let quiet = urgency != Urgency::Batched
            || now.duration_since(queue.last_queued) >= QUIET_BEFORE_DIRECT;
        queue.last_queued = now;
        log::trace!("-> {} {} ({len} bytes)", self.peer.name, control.kind());
        if start == 0 && quiet && !queue.writing && queue.buf.len() <= DIRECT_MAX {
            queue.writing = true;
            let spare = std::mem::take(&mut queue.spare);
            let frame = std::mem::replace(&mut queue.buf, spare);
            drop(queue);
            self.write_direct(frame);
        } else {
            drop(queue);
            if start == 0 {
                self.data_ready.notify_one();
            }
        }
        Ok(())
    }

    /// Writes `frame` from the sender's thread, as much as the socket takes
    /// without blocking; the writer thread gets the rest, ahead of whatever
    /// was queued meanwhile.
    fn write_direct(&self, mut frame: Vec<u8>) {
        let (written, failure) = match self.transport.try_write(&frame) {
            Ok(written) => (written, None),
            Err(err) => (0, Some(err)),
        };
        let mut queue = self.queue.lock();
        queue.writing = false;
        if written < frame.len() && failure.is_none() {
            queue.buf.splice(0..0, frame.drain(written..));
        }
        frame.clear();
        queue.spare = frame;
        let writer_needed = !queue.buf.is_empty() || queue.closing || self.transport.unsent();
        drop(queue);
        // A sender may wait for the socket (send_spread).
        self.room.notify_all();
        if let Some(err) = failure {
            self.abort(&format!("write failed: {err}"));
        } else if writer_needed {
            self.data_ready.notify_one();
        }
    }

    /// Answers a tick from the peer unless something is about to be sent
    /// anyway: a peer with a shorter net_ticktime than ours then still hears
    /// from us often enough.
    fn answer_tick(&self) {
        let mut queue = self.queue.lock();
        if queue.buf.is_empty() && !queue.closing {
            queue.buf.extend_from_slice(&TICK);
            drop(queue);
            log::trace!("-> {} tick (answer)", self.peer.name);
            self.data_ready.notify_one();
        }
    }

    /// Takes the connection down at once: queued data is dropped.
    pub(crate) fn abort(&self, reason: &str) {
        self.mark_down(reason);
        self.transport.shutdown(Shutdown::Both);
        let mut queue = self.queue.lock();
        queue.closing = true;
        drop(queue);
        self.data_ready.notify_all();
        self.room.notify_all();
    }

    /// Sends what is queued, then closes. Waits (up to `flush_timeout`) for
    /// the queued data to be written.
    pub(crate) fn close(&self, reason: &str, flush_timeout: Duration) {
        // Recorded first: the peer answers our end of the stream by closing
        // its own, and the reader must not report that as the cause.
        self.note_reason(reason);
        let writer = self.writer.swap(false, Ordering::AcqRel);
        {
            let mut queue = self.queue.lock();
            queue.closing = true;
            self.data_ready.notify_all();
            self.room.notify_all();
            // Woken the moment the writer is done, so that a short-lived
            // program (one rpc, one send) does not wait out a polling period.
            let deadline = deadline::after(flush_timeout);
            while writer && !queue.flushed {
                if self.room.wait_until(&mut queue, deadline).timed_out() {
                    break;
                }
            }
        }
        self.abort(reason);
    }

    fn mark_down(&self, reason: &str) {
        self.note_reason(reason);
        self.down.store(true, Ordering::Release);
    }

    /// Keeps the first reason given for the connection's end.
    fn note_reason(&self, reason: &str) {
        let mut slot = self.down_reason.lock();
        if slot.is_none() {
            *slot = Some(reason.to_string());
        }
    }

    fn write_loop(self: Arc<Self>) {
        let tick = self.tick();
        let mut local: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        loop {
            {
                let mut queue = self.queue.lock();
                while queue.writing
                    || (queue.buf.is_empty() && !queue.closing && !self.transport.unsent())
                {
                    let timed_out = self.data_ready.wait_for(&mut queue, tick).timed_out();
                    if timed_out
                        && queue.buf.is_empty()
                        && Instant::now() - queue.last_queued >= tick
                    {
                        queue.buf.extend_from_slice(&TICK);
                        log::trace!("-> {} tick", self.peer.name);
                    }
                }
                if queue.buf.is_empty() && queue.closing {
                    break;
                }
                std::mem::swap(&mut queue.buf, &mut local);
                queue.owed = 0;
                queue.writing = true;
            }
            self.room.notify_all();
            // An empty batch: a sender's direct write left data above the socket (TLS).
            let written = if local.is_empty() {
                self.transport.flush()
            } else {
                Io(&*self.transport).write_all(&local)
            };
            self.queue.lock().writing = false;
            self.room.notify_all();
            if let Err(err) = written {
                self.abort(&format!("write failed: {err}"));
                self.finish_writing();
                return;
            }
            local.clear();
            if local.capacity() > KEEP_CAPACITY {
                local = Vec::with_capacity(READ_CHUNK);
            }
        }
        let _ = self.transport.flush();
        self.transport.shutdown(Shutdown::Write);
        self.finish_writing();
    }

    /// Tells [`close`](Self::close) that the writer has stopped.
    fn finish_writing(&self) {
        self.queue.lock().flushed = true;
        self.room.notify_all();
    }

    fn read_loop(self: Arc<Self>, dispatch: Arc<dyn Dispatch>) {
        let reason = match self.read_frames(dispatch.as_ref()) {
            Ok(()) => "closed".to_string(),
            Err(reason) => reason,
        };
        // What runs now (DOWNs, failed requests' callbacks) may reach the
        // peer again, over a new connection with a reader of its own.
        threads::set_reading(None);
        wakeups::flush();
        self.abort(&reason);
        let reason = self.down_reason.lock().clone().unwrap_or(reason);
        dispatch.connection_down(&self, &reason);
        wakeups::flush();
    }

    fn read_frames(self: &Arc<Self>, dispatch: &dyn Dispatch) -> Result<(), String> {
        let mut reader = frame::Reader::new(self.bounds.clone());
        let mut last_heard = Instant::now();
        let mut undelivered = 0;
        wakeups::enable();
        READER.with(|reader| reader.set(true));
        threads::set_reading(Some(Arc::clone(self) as Arc<dyn threads::Reading>));
        loop {
            match reader.next()? {
                Some(Incoming::Frame(frame)) => {
                    let len = frame.len();
                    match reader.decode(frame)? {
                        Some(control) if self.is_ended() => {
                            log::trace!("<- {} {} after the end", self.peer.name, control.kind());
                        }
                        Some(control) => {
                            log::trace!("<- {} {} ({len} bytes)", self.peer.name, control.kind());
                            dispatch.deliver(self, control);
                            if self.is_down() {
                                // The node dropped the peer for what it sent.
                                return Err(self.lost().to_string());
                            }
                            undelivered += 1;
                            if undelivered >= FLUSH_EVERY {
                                wakeups::flush();
                                undelivered = 0;
                            }
                        }
                        None => log::trace!("<- {} fragment ({len} bytes)", self.peer.name),
                    }
                }
                Some(Incoming::Tick) => {
                    log::trace!("<- {} tick", self.peer.name);
                    self.answer_tick();
                }
                None => {
                    // About to block on the socket: wake whoever got messages.
                    wakeups::flush();
                    undelivered = 0;
                    self.fill(reader.buffer(), &mut last_heard)?;
                }
            }
        }
    }

    /// Reads more bytes into `buf`; what a read timeout means depends on
    /// how long the peer has been silent.
    fn fill(&self, buf: &mut bytes::BytesMut, last_heard: &mut Instant) -> Result<(), String> {
        if self.is_down() {
            return Err(self.down_reason());
        }
        match self.transport.read_into(buf) {
            Ok(0) => Err("the peer closed the connection".to_string()),
            Ok(_) => {
                *last_heard = Instant::now();
                Ok(())
            }
            Err(err) => match err.kind() {
                std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted => {
                    let silent = last_heard.elapsed();
                    if silent >= self.net_ticktime {
                        Err(format!(
                            "nothing heard from the peer for {:.1} s (net_ticktime {} s)",
                            silent.as_secs_f64(),
                            self.net_ticktime.as_secs_f64()
                        ))
                    } else {
                        Ok(())
                    }
                }
                _ => Err(format!("read failed: {err}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use bytes::BytesMut;

    use super::*;
    use crate::protocol::Outbound;
    use crate::term::{Pid, Term};

    /// A peer that takes our bytes only as the test lets it through: what a
    /// peer that reads a little now and then looks like from our side.
    #[derive(Default)]
    struct Gate {
        state: Mutex<GateState>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct GateState {
        allowed: usize,
        written: usize,
        /// A write is blocked on the gate.
        waiting: bool,
        shut: bool,
    }

    impl Gate {
        fn open(&self, bytes: usize) {
            let mut state = self.state.lock();
            state.allowed += bytes;
            state.waiting = false;
            self.changed.notify_all();
        }

        fn written(&self) -> usize {
            self.state.lock().written
        }

        /// Waits until the writer took everything let through and waits
        /// for more.
        fn until_blocked(&self) {
            let mut state = self.state.lock();
            while !state.waiting {
                self.changed.wait(&mut state);
            }
        }
    }

    struct Gated(Arc<Gate>);

    impl Transport for Gated {
        fn read_into(&self, _buf: &mut BytesMut) -> io::Result<usize> {
            let mut state = self.0.state.lock();
            if !state.shut {
                self.0
                    .changed
                    .wait_for(&mut state, Duration::from_millis(10));
            }
            if state.shut {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }

        fn read(&self, _buf: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }

        fn write(&self, data: &[u8]) -> io::Result<usize> {
            let mut state = self.0.state.lock();
            while state.allowed == state.written && !state.shut {
                state.waiting = true;
                self.0.changed.notify_all();
                self.0.changed.wait(&mut state);
            }
            if state.shut {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let taken = data.len().min(state.allowed - state.written);
            state.written += taken;
            Ok(taken)
        }

        fn try_write(&self, _data: &[u8]) -> io::Result<usize> {
            Ok(0)
        }

        fn writes_in_place(&self) -> bool {
            false
        }

        fn flush(&self) -> io::Result<()> {
            Ok(())
        }

        fn set_read_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
            Ok(())
        }

        fn set_write_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
            Ok(())
        }

        fn peer(&self) -> String {
            "a gated peer".to_owned()
        }

        fn local_ip(&self) -> io::Result<std::net::IpAddr> {
            Ok(std::net::Ipv4Addr::LOCALHOST.into())
        }

        fn shutdown(&self, _how: Shutdown) {
            self.0.state.lock().shut = true;
            self.0.changed.notify_all();
        }
    }

    struct Ignore;

    impl Dispatch for Ignore {
        fn deliver(&self, _conn: &Arc<Connection>, _control: Control) {}
        fn connection_down(&self, _conn: &Arc<Connection>, _reason: &str) {}
    }

    /// A peer that reads a little now and then: fill the queue to the
    /// limit, add almost as much again of signals, let the writer finish what
    /// it holds so that it takes all of that as its next batch, and fill
    /// again behind it. Taking a batch makes room for the limit and the
    /// signals again (a peer that reads keeps its connection however large
    /// our messages to it), so what we hold is at most four times the limit
    /// (README's Limits); a peer that then reads nothing more is cut off.
    #[test]
    fn a_peer_reading_a_little_now_and_then_makes_us_hold_at_most_the_limit_four_times() {
        const LIMIT: usize = 64 << 10;
        let gate = Arc::new(Gate::default());
        let peer = Peer {
            name: Atom::new("peer@host"),
            flags: 0,
            creation: 1,
        };
        let backlog = Backlog {
            limit: LIMIT,
            timeout: Duration::from_millis(20),
        };
        let conn = Connection::new(
            Box::new(Gated(Arc::clone(&gate))),
            peer,
            Duration::from_secs(60),
            Bounds::default(),
            backlog,
        )
        .expect("connection");
        let threads = Threads::default();
        conn.run(Arc::new(Ignore), &threads).expect("threads");

        let control = Control::Send {
            from: None,
            to: Pid {
                node: Atom::new("peer@host"),
                id: 1,
                serial: 0,
                creation: 1,
            },
            message: Term::Binary(vec![7; 1000].into()),
        };
        let mut one = Vec::new();
        frame::append_with(&mut one, &mut Outbound::new(0), &control, None).expect("frame");
        let frame_len = one.len();
        let bound = 4 * (LIMIT + frame_len);
        let mut accepted = 0;
        let mut most_held = 0;
        let mut hold = |accepted: usize| {
            let held = accepted * frame_len - gate.written();
            most_held = most_held.max(held);
            assert!(held <= bound, "holding {held} bytes, more than {bound}");
        };

        conn.send(&control).expect("first send");
        accepted += 1;
        gate.until_blocked();
        for _ in 0..3 {
            while conn.send(&control).is_ok() {
                accepted += 1;
                hold(accepted);
            }
            for _ in 0..LIMIT / frame_len - 1 {
                conn.signal(&control).expect("a signal within the bound");
                accepted += 1;
                hold(accepted);
            }
            // Just enough for the writer to finish its batch and take the next.
            gate.open(accepted * frame_len - gate.written() - conn.queue.lock().buf.len());
            gate.until_blocked();
        }
        let cut = (0..2 * (LIMIT / frame_len + 2)).any(|_| {
            let sent = conn.signal(&control);
            if sent.is_ok() {
                accepted += 1;
                hold(accepted);
            }
            sent.is_err()
        });
        assert!(
            cut,
            "a peer that reads nothing more while it is owed signals is cut off"
        );
        assert!(conn.is_down());
        assert!(
            most_held > 3 * LIMIT,
            "the queue was filled behind a full batch: {most_held}"
        );
        conn.abort("test over");
        threads.join_all();
    }
}
