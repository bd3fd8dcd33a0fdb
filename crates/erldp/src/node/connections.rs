//! The node's connections: one per peer, made on demand or accepted, with
//! simultaneous connects settled the way `dist_util` settles them (the
//! attempt of the node with the greater name gives way).
//!
//! Implements the connection set-up of the [Distribution
//! Protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake)
//! around the handshake itself ([`crate::handshake`]).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

use super::LOG;
use super::{EpmdMode, Node, NodeInner};
use crate::connection::{Connection, Dispatch};
use crate::deadline;
use crate::handshake::{self, Admission, Outcome, Peer};
use crate::pending::{Operation, Pending, Slot};
use crate::proto_dist::PeerPorts;
use crate::protocol::{identity, Bounds, Control};
use crate::term::{Atom, AtomBudget, Term};
use crate::transport::{Cutoff, Listener, Tcp, Timed, Transport};
use crate::{resolve, Error, Result};

/// How long [`NodeInner::disconnect`] lets a connection write what is
/// queued before it closes.
const DISCONNECT_FLUSH: Duration = Duration::from_millis(500);
/// How many replies may wait for one connect that
/// [`send_connecting`](NodeInner::send_connecting) started.
const MAX_WAITING_REPLIES: usize = 1024;

/// Where a peer was said to be.
#[derive(Clone)]
enum Address {
    Socket(SocketAddr),
    /// Resolved at each connect, as a node name's host is.
    Host(String, u16),
}

/// The connection table and what we know of peers' addresses.
///
/// The table holds connections that are up and our own attempts to
/// connect. A peer connecting to us gets no entry until it has proved the
/// cookie: anyone can send a name, and an entry under it would make our
/// connects to that node wait on a stranger (and its connects to us be
/// refused) for as long as the stranger kept the handshake going.
#[derive(Default)]
pub(super) struct Connections {
    table: Mutex<HashMap<Atom, Entry>>,
    /// Where `connect_to` and `connect_to_host` said peers are, used
    /// instead of EPMD.
    addresses: Mutex<HashMap<Atom, Address>>,
    /// Incoming handshakes under way, each on a thread of its own.
    handshakes: AtomicUsize,
    /// The replies that wait, in the order they were sent, for the connect
    /// [`send_connecting`](NodeInner::send_connecting) started to their
    /// node: one entry per connect under way.
    waiting_replies: Mutex<HashMap<Atom, Vec<Control>>>,
    /// The sockets of connects and handshakes under way (see [`Handshaking`]).
    handshaking: Handshaking,
    /// Peers whose incoming handshake was admitted `ok` while we had no
    /// entry for them, and has not ended (see [`Arriving`]).
    arriving: Mutex<HashMap<Atom, usize>>,
}

/// The sockets of the connects and handshakes under way, both ways, which
/// close cuts short: it joins the threads that run them, and a peer that
/// sends nothing (or a host that drops our SYNs, or an EPMD that answers
/// nothing) would otherwise hold close up to the setup timeout. Each
/// connect or handshake holds its [`Cutoff`]; those that ended are gone
/// from here when the next one starts.
#[derive(Default)]
struct Handshaking(Mutex<Vec<Weak<Cutoff>>>);

impl Handshaking {
    /// A cutoff for a connect or handshake; `Closed` once the node is
    /// closed, checked under the lock that [`cut_all`](Self::cut_all)
    /// takes, so none is added after close cut the others.
    fn watch(&self, node: &NodeInner) -> Result<Arc<Cutoff>> {
        let mut cutoffs = self.0.lock();
        if node.is_closed() {
            return Err(Error::Closed);
        }
        cutoffs.retain(|cutoff| cutoff.strong_count() > 0);
        let cutoff = Arc::new(Cutoff::default());
        cutoffs.push(Arc::downgrade(&cutoff));
        Ok(cutoff)
    }

    fn cut_all(&self) {
        for cutoff in self.0.lock().drain(..) {
            if let Some(cutoff) = cutoff.upgrade() {
                cutoff.cut();
            }
        }
    }
}

/// An incoming handshake from a peer we had no entry for, under way. The
/// table gets none for it (the peer has not proved the cookie), but an
/// attempt of ours to that peer, started meanwhile, must not agree when the
/// peer answers it `alive`: the peer would drop this connection for that
/// one while we keep this one and drop that one, leaving none. net_kernel
/// has a BEAM connect wait for such a handshake; ours withdraws and waits
/// for it likewise.
struct Arriving(Arc<NodeInner>, Atom);

impl Arriving {
    fn new(node: &Arc<NodeInner>, peer: Atom) -> Arriving {
        *node.conns.arriving.lock().entry(peer).or_default() += 1;
        Arriving(Arc::clone(node), peer)
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        let mut arriving = self.0.conns.arriving.lock();
        if let Some(count) = arriving.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                arriving.remove(&self.1);
            }
        }
    }
}

enum Entry {
    Up(Arc<Connection>),
    Connecting(Arc<Attempt>),
}

/// Our attempt to connect to a peer; whoever wants the connection
/// meanwhile waits on it.
struct Attempt {
    /// An incoming handshake from the same peer took this attempt over
    /// (simultaneous connect where the peer's name is greater), or an
    /// incoming connection already settled it.
    adopted: AtomicBool,
    /// The peer answered `nok`: its own connection to us settles this
    /// attempt, if it comes.
    lost: AtomicBool,
    state: Mutex<AttemptState>,
    done: Condvar,
}

#[derive(Default)]
struct AttemptState {
    result: Option<Result<Arc<Connection>>>,
    /// Started connects ([`Node::connect_start`]) told when it ends.
    waiters: Vec<Arc<Slot<Result<()>>>>,
}

/// The attempt an incoming connection settles, under the peer's name, when
/// there is one already (see `NodeInner::admit`).
type Admitted = Option<(Atom, Arc<Attempt>)>;

impl Attempt {
    fn new() -> Arc<Attempt> {
        Arc::new(Attempt {
            adopted: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            state: Mutex::new(AttemptState::default()),
            done: Condvar::new(),
        })
    }

    /// The attempt ended; the first result given stands.
    fn finish(&self, result: Result<Arc<Connection>>) {
        drop(self.settle(result));
    }

    /// [`finish`](Self::finish), returning the result that stands.
    fn settle(&self, result: Result<Arc<Connection>>) -> Result<Arc<Connection>> {
        let mut state = self.state.lock();
        let result = state.result.get_or_insert(result).clone();
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        self.done.notify_all();
        for waiter in waiters {
            waiter.complete(result.clone().map(drop));
        }
        result
    }

    /// Completes `waiter` when the attempt ends (now, if it has).
    fn notify(&self, waiter: Arc<Slot<Result<()>>>) {
        let mut state = self.state.lock();
        match &state.result {
            Some(result) => {
                let result = result.clone().map(drop);
                drop(state);
                waiter.complete(result);
            }
            None => state.waiters.push(waiter),
        }
    }

    /// The attempt's result once it has one; `None` at `deadline`.
    fn wait(&self, deadline: Instant) -> Option<Result<Arc<Connection>>> {
        let mut state = self.state.lock();
        while state.result.is_none() {
            if self.done.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.result.clone()
    }
}

/// One of the incoming handshakes that `max_pending_handshakes` bounds,
/// counted until dropped.
struct PendingHandshake(Arc<NodeInner>);

impl PendingHandshake {
    fn start(node: &Arc<NodeInner>) -> Option<PendingHandshake> {
        let counter = &node.conns.handshakes;
        let admitted = counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                (pending < node.max_pending_handshakes).then_some(pending + 1)
            })
            .is_ok();
        admitted.then(|| PendingHandshake(Arc::clone(node)))
    }
}

impl Drop for PendingHandshake {
    fn drop(&mut self) {
        self.0.conns.handshakes.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Node {
    /// Connects to `peer` (handshake included) if not connected yet.
    /// Sending connects on its own; this surfaces connection errors early.
    pub fn connect(&self, peer: &str) -> Result<()> {
        self.inner.connection(identity::node_atom(peer)?).map(drop)
    }

    /// Connects to `peer` at a known address, without EPMD; the address is
    /// remembered for reconnects. A host name in `addr` is resolved here, in
    /// the caller's thread and for as long as the resolver takes:
    /// [`connect_to_host`](Self::connect_to_host) resolves it within the
    /// connect's setup time.
    pub fn connect_to(&self, peer: &str, addr: impl ToSocketAddrs) -> Result<()> {
        let peer = self.inner.remember_address(peer, addr)?;
        self.inner.connection(peer).map(drop)
    }

    /// Connects to `peer` on `port` of `host` (a name or an address), without
    /// EPMD. The host is resolved as a node name's host is, for this node's
    /// address family, and anew for each reconnect; a resolver that does not
    /// answer in the [setup time](crate::NodeBuilder::setup_timeout) fails the
    /// connect with a timeout, a host without an address of the family with
    /// [`Error::NodeNotFound`]. As with [`connect_to`](Self::connect_to), the
    /// host is remembered for `peer` even when the connect fails: connects
    /// and sends to it go there, not through EPMD, until another address is
    /// given. An empty host, or one with a port in it, is an invalid argument.
    pub fn connect_to_host(&self, peer: &str, host: &str, port: u16) -> Result<()> {
        let peer = self.inner.remember_host(peer, host, port)?;
        self.inner.connection(peer).map(drop)
    }

    /// Starts connecting to `peer` and returns at once; the [`Pending`]
    /// completes when the connection is up (at once if it is) or the
    /// attempt failed. Waiting can be cancelled like any [`Pending`]'s:
    /// the attempt then goes on to its end, for whoever sends next.
    pub fn connect_start(&self, peer: &str) -> Result<Pending<()>> {
        self.inner.connect_start(identity::node_atom(peer)?)
    }

    /// [`connect_start`](Self::connect_start) to `peer` at a known address,
    /// without EPMD, as [`connect_to`](Self::connect_to) does.
    pub fn connect_to_start(&self, peer: &str, addr: impl ToSocketAddrs) -> Result<Pending<()>> {
        let peer = self.inner.remember_address(peer, addr)?;
        self.inner.connect_start(peer)
    }

    /// [`connect_start`](Self::connect_start) to `peer` on `port` of `host`,
    /// without EPMD, as [`connect_to_host`](Self::connect_to_host) does: the
    /// host is resolved by the attempt, not here.
    pub fn connect_to_host_start(&self, peer: &str, host: &str, port: u16) -> Result<Pending<()>> {
        let peer = self.inner.remember_host(peer, host, port)?;
        self.inner.connect_start(peer)
    }

    /// Whether a send to `peer` would have to wait now: there is no
    /// connection up to it yet, or it leaves the
    /// [`send_queue_limit`](crate::NodeBuilder::send_queue_limit) unread (see
    /// [`NodeBuilder::send_timeout`](crate::NodeBuilder::send_timeout)).
    /// Sends to our own node never wait. For bindings that may send without
    /// releasing a lock of their own (Ruby's GVL) only when that is cheap.
    pub fn send_would_wait(&self, peer: Atom) -> bool {
        if peer == self.inner.name() {
            return false;
        }
        self.inner
            .live_connection(peer)
            .is_none_or(|conn| conn.is_down() || conn.is_congested())
    }

    /// Whether a send of `message` to another node would keep the caller
    /// until the socket has taken it: a message holding a binary of 64 KiB
    /// or more is written from the caller's memory rather than copied (see
    /// [`NodeBuilder::send_timeout`](crate::NodeBuilder::send_timeout)).
    /// For bindings that release a lock of their own (Ruby's GVL) for such
    /// a send, as for one that [would wait](Self::send_would_wait).
    pub fn send_writes_in_place(&self, message: &Term) -> bool {
        crate::term::encode::holds_outlined(message)
    }

    /// The nodes we are connected to.
    pub fn nodes(&self) -> Vec<Atom> {
        let table = self.inner.conns.table.lock();
        let mut nodes: Vec<Atom> = table
            .iter()
            .filter_map(|(name, entry)| match entry {
                Entry::Up(conn) if !conn.is_down() => Some(*name),
                _ => None,
            })
            .collect();
        nodes.sort();
        nodes
    }
}

impl NodeInner {
    fn remember_address(&self, peer: &str, addr: impl ToSocketAddrs) -> Result<Atom> {
        self.remember(peer, || {
            let addr = addr
                .to_socket_addrs()
                .map_err(|err| Error::invalid(format!("bad address for {peer}: {err}")))?
                .next()
                .ok_or_else(|| Error::invalid(format!("no address for {peer}")))?;
            Ok(Address::Socket(addr))
        })
    }

    fn remember_host(&self, peer: &str, host: &str, port: u16) -> Result<Atom> {
        self.remember(peer, || {
            resolve::check_host(host)?;
            Ok(Address::Host(host.to_string(), port))
        })
    }

    /// Where connects to `peer` go from now on, instead of through EPMD:
    /// also after a connect there fails, until another address is given.
    fn remember(&self, peer: &str, address: impl FnOnce() -> Result<Address>) -> Result<Atom> {
        let peer = identity::node_atom(peer)?;
        let address = address()?;
        self.conns.addresses.lock().insert(peer, address);
        Ok(peer)
    }

    fn check_peer(&self, peer: Atom) -> Result<()> {
        if peer == self.name() {
            return Err(Error::invalid("a node cannot connect to itself"));
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        identity::check_peer_name(self.long_names, peer.as_str())
    }

    /// The connection to `peer`, connecting first if there is none.
    pub(super) fn connection(self: &Arc<Self>, peer: Atom) -> Result<Arc<Connection>> {
        self.check_peer(peer)?;
        let attempt = {
            let mut table = self.conns.table.lock();
            // Under the table's lock, which closing drains: no attempt
            // starts once the node is closed.
            if self.is_closed() {
                return Err(Error::Closed);
            }
            match table.get(&peer) {
                Some(Entry::Up(conn)) if !conn.is_down() => return Ok(Arc::clone(conn)),
                Some(Entry::Connecting(attempt)) => {
                    let attempt = Arc::clone(attempt);
                    drop(table);
                    // The attempt ends by its own deadline, one setup
                    // timeout after it began.
                    return attempt
                        .wait(deadline::after(self.setup_timeout.saturating_mul(2)))
                        .unwrap_or_else(|| Err(Error::timeout(format!("connecting to {peer}"))));
                }
                _ => {
                    let attempt = Attempt::new();
                    table.insert(peer, Entry::Connecting(Arc::clone(&attempt)));
                    attempt
                }
            }
        };
        self.establish(peer, &attempt)
    }

    pub(super) fn connect_start(self: &Arc<Self>, peer: Atom) -> Result<Pending<()>> {
        self.check_peer(peer)?;
        let slot = Slot::new();
        let pending = Pending::new(
            Arc::clone(&slot),
            Box::new(|| {}),
            Operation::Connect(peer),
            Arc::clone(&self.timer),
        );
        let mut table = self.conns.table.lock();
        if self.is_closed() {
            return Err(Error::Closed);
        }
        match table.get(&peer) {
            Some(Entry::Up(conn)) if !conn.is_down() => {
                slot.complete(Ok(()));
            }
            Some(Entry::Connecting(attempt)) => attempt.notify(slot),
            _ => {
                let attempt = Attempt::new();
                table.insert(peer, Entry::Connecting(Arc::clone(&attempt)));
                drop(table);
                attempt.notify(slot);
                let (inner, connecting) = (Arc::clone(self), Arc::clone(&attempt));
                // Joined by close: the attempt's end runs the callbacks of
                // those waiting on it, which must not outlive the node.
                let spawned = self.threads.spawn("erldp-connect".into(), move || {
                    let _ = inner.establish(peer, &connecting);
                });
                if let Err(err) = spawned {
                    self.forget_attempt(peer, &attempt);
                    attempt.finish(Err(err));
                }
            }
        }
        Ok(pending)
    }

    /// Runs our attempt to connect to `peer`, which the table holds, to
    /// its end: within the setup timeout, it is up or it has failed and
    /// left the table.
    fn establish(self: &Arc<Self>, peer: Atom, attempt: &Arc<Attempt>) -> Result<Arc<Connection>> {
        let deadline = deadline::after(self.setup_timeout);
        let failure = match self.connect_out(peer, attempt, deadline) {
            Ok((transport, Outcome::Connected(info))) => {
                return self.install(transport, info, attempt, false, false)
            }
            Ok((_, Outcome::LostSimultaneous)) => {
                log::debug!(target: LOG, "simultaneous connect with {peer}: its connection to us wins");
                attempt.lost.store(true, Ordering::Release);
                // A peer that answered `nok` and then died never connects:
                // the attempt must not outlive the setup time waiting for it.
                match attempt.wait(deadline) {
                    Some(result) => return result,
                    None => Error::connection(
                        peer,
                        "simultaneous connect: the peer answered that its own connection to us \
                         would go on, but none came within the setup time",
                    ),
                }
            }
            // Cut short by close, whatever the socket said.
            Err(_) if self.is_closed() => Error::Closed,
            // The peer's own connection to us took this attempt over, and
            // the peer dropped ours for it: that handshake settles the
            // attempt, or gives it back when it fails, clearing `adopted`
            // and then finishing it if it is `lost` (see `accept_one`).
            Err(err) if attempt.adopted.load(Ordering::SeqCst) => {
                attempt.lost.store(true, Ordering::SeqCst);
                let settled = attempt
                    .adopted
                    .load(Ordering::SeqCst)
                    .then(|| attempt.wait(deadline))
                    .flatten();
                match settled {
                    Some(result) => return result,
                    None => err,
                }
            }
            Err(err) => err,
        };
        self.forget_attempt(peer, attempt);
        let result = attempt.settle(Err(failure));
        match &result {
            Err(Error::Closed) | Ok(_) => {}
            Err(err) => log::warn!(target: LOG, "connecting to {peer} failed: {err}"),
        }
        result
    }

    fn forget_attempt(&self, peer: Atom, attempt: &Arc<Attempt>) {
        let mut table = self.conns.table.lock();
        if matches!(table.get(&peer), Some(Entry::Connecting(current)) if Arc::ptr_eq(current, attempt))
        {
            table.remove(&peer);
        }
    }

    fn peer_address(
        &self,
        peer: Atom,
        deadline: Instant,
        cutoff: Option<&Cutoff>,
    ) -> Result<Vec<SocketAddr>> {
        let given = self.conns.addresses.lock().get(&peer).cloned();
        match given {
            Some(Address::Socket(addr)) => return Ok(vec![addr]),
            Some(Address::Host(host, port)) => {
                return self.proto.addresses(peer.as_str(), &host, port, deadline)
            }
            None => {}
        }
        if self.epmd_mode == EpmdMode::None && matches!(self.peer_ports, PeerPorts::Epmd(_)) {
            return Err(Error::NodeNotFound {
                node: peer.to_string(),
                reason: "EPMD is off (epmd: none) and no address is known: use connect_to, \
                         connect_to_host or dist_port"
                    .into(),
            });
        }
        self.proto
            .locate(peer.as_str(), self.peer_ports, deadline, cutoff)
    }

    /// EPMD lookup, connect (TLS included) and handshake, all before
    /// `deadline`.
    fn connect_out(
        &self,
        peer: Atom,
        attempt: &Attempt,
        deadline: Instant,
    ) -> Result<(Box<dyn Transport>, Outcome)> {
        let cutoff = self.conns.handshaking.watch(self)?;
        let cutoff = Some(&*cutoff);
        let addrs = self.peer_address(peer, deadline, cutoff)?;
        let transport = self
            .proto
            .connect(peer.as_str(), &addrs, deadline, cutoff)?;
        let still_wanted = || {
            !attempt.adopted.load(Ordering::Acquire)
                && !self.conns.arriving.lock().contains_key(&peer)
        };
        let outcome = handshake::initiate(
            &mut Timed::new(&*transport, deadline),
            self.proto.framing(),
            &self.local(),
            peer.as_str(),
            still_wanted,
        )?;
        Ok((transport, outcome))
    }

    /// Makes a connection whose handshake succeeded the one for its peer,
    /// then starts it: anything it dispatches can already use it. `replace`
    /// drops a connection the peer itself declared stale (`alive`).
    fn install(
        self: &Arc<Self>,
        transport: Box<dyn Transport>,
        info: Peer,
        attempt: &Arc<Attempt>,
        incoming: bool,
        replace: bool,
    ) -> Result<Arc<Connection>> {
        let peer = info.name;
        let creation = info.creation;
        let direction = if incoming { "incoming" } else { "outgoing" };
        log::debug!(target: LOG, "handshake with {peer} ({direction}) succeeded; flags in use {:#x}",
            info.flags
        );
        let bounds = self.bounds(peer);
        let conn = match Connection::new(transport, info, self.net_ticktime, bounds, self.backlog) {
            Ok(conn) => conn,
            Err(err) => {
                self.forget_attempt(peer, attempt);
                attempt.finish(Err(err.clone()));
                return Err(err);
            }
        };
        let displaced = loop {
            // Only a handshake thread takes in an old connection's end here:
            // the thread that connects may be the program's or the cluster
            // driver's, where the callbacks of the requests it fails must not
            // run.
            let mut table = if incoming {
                self.table_for(peer)
            } else {
                self.conns.table.lock()
            };
            if self.is_closed() {
                drop(table);
                conn.abort("the node is closing");
                attempt.finish(Err(Error::Closed));
                return Err(Error::Closed);
            }
            if let Some(Entry::Up(old)) = table.get(&peer) {
                if !replace && !old.is_down() {
                    // Both ends' handshakes succeeded, which a peer that
                    // settles simultaneous connects as `dist_util` does
                    // never lets happen: the first connection stays.
                    let old = Arc::clone(old);
                    drop(table);
                    conn.abort("a connection to this node is already up");
                    return attempt.settle(Ok(old));
                }
                if !old.is_down() {
                    // Down now, and then taken in as ended by `table_for`
                    // before the new connection carries anything (only an
                    // incoming connection replaces another).
                    old.abort("replaced by a new connection from the same node");
                    continue;
                }
            }
            // An attempt of ours that began while this peer's handshake was
            // under way (its name was no atom when it was admitted) is
            // settled by this connection, and withdraws when the peer
            // answers it `alive`: agreeing would make the peer drop this
            // connection for that one while we keep this one and drop that
            // one, leaving none.
            match table.insert(peer, Entry::Up(Arc::clone(&conn))) {
                Some(Entry::Connecting(other)) if !Arc::ptr_eq(&other, attempt) => {
                    other.adopted.store(true, Ordering::Release);
                    break Some(other);
                }
                _ => break None,
            }
        };
        // Before its reader starts: the node is up before any of its traffic.
        self.connection_up(&conn);
        let dispatch: Arc<dyn Dispatch> = Arc::clone(self) as Arc<dyn Dispatch>;
        if let Err(err) = conn.run(dispatch, &self.threads) {
            conn.abort("cannot start its threads");
            self.forget_connection(peer, &conn);
            self.connection_gone(&conn);
            attempt.finish(Err(err.clone()));
            if let Some(other) = displaced {
                other.finish(Err(err.clone()));
            }
            return Err(err);
        }
        attempt.finish(Ok(Arc::clone(&conn)));
        if let Some(other) = displaced {
            other.finish(Ok(Arc::clone(&conn)));
        }
        log::info!(target: LOG, "connected to {peer} ({direction}, creation {creation})");
        Ok(conn)
    }

    /// What `peer`'s frames may hold. Its atom budget lasts as long as the
    /// node: the atoms it added stay in the table when its connection goes.
    fn bounds(&self, peer: Atom) -> Bounds {
        let atoms = Arc::clone(
            self.peer_atoms
                .lock()
                .entry(peer)
                .or_insert_with(|| Arc::new(AtomBudget::new(self.atoms_per_peer))),
        );
        Bounds {
            max_message: self.max_message,
            max_fragmented: self.max_fragmented,
            atoms,
            limits: self.limits,
        }
    }

    /// The table, locked, once a connection to `peer` that went down before
    /// its reader noticed (the reader may be running a handler) has been
    /// taken in as ended: a connection that takes its place must not fail
    /// with it when the reader does notice. For a peer connecting to us, on
    /// its handshake thread; a connection of ours that takes the place of
    /// one whose reader has not noticed its end can still fail with it.
    fn table_for(self: &Arc<Self>, peer: Atom) -> MutexGuard<'_, HashMap<Atom, Entry>> {
        loop {
            let table = self.conns.table.lock();
            match table.get(&peer) {
                Some(Entry::Up(old)) if old.is_down() && !old.is_ended() => {
                    let old = Arc::clone(old);
                    drop(table);
                    self.connection_ended(&old, &old.down_reason());
                }
                _ => return table,
            }
        }
    }

    /// Removes `conn` from the table unless another connection to `peer`
    /// has already taken its place.
    pub(super) fn forget_connection(&self, peer: Atom, conn: &Arc<Connection>) {
        let mut table = self.conns.table.lock();
        if matches!(table.get(&peer), Some(Entry::Up(current)) if current.id() == conn.id()) {
            table.remove(&peer);
        }
    }

    /// Decides how to answer a peer that is connecting to us, and which
    /// attempt of ours (under which name) the connection settles.
    ///
    /// The peer has not proved the cookie yet, so its name is not made an
    /// atom here (anyone could fill the atom table with names), and the
    /// table gets no entry for it (see [`Connections`]). A name that is no
    /// atom yet has no connection or attempt either.
    fn admit(self: &Arc<Self>, peer_name: &str) -> (Admission, Admitted, Option<Arriving>) {
        if self.is_closed() {
            return (Admission::NotAllowed, None, None);
        }
        let Some(peer) = Atom::existing(peer_name) else {
            return (Admission::Ok, None, None);
        };
        if peer == self.name() {
            return (Admission::NotAllowed, None, None);
        }
        let table = self.conns.table.lock();
        match table.get(&peer) {
            Some(Entry::Up(conn)) if !conn.is_down() => (Admission::Alive, None, None),
            Some(Entry::Connecting(attempt)) if !attempt.adopted.load(Ordering::Acquire) => {
                if peer_name > self.name().as_str() {
                    attempt.adopted.store(true, Ordering::Release);
                    (
                        Admission::OkSimultaneous,
                        Some((peer, Arc::clone(attempt))),
                        None,
                    )
                } else {
                    (Admission::Nok, None, None)
                }
            }
            Some(Entry::Connecting(_)) => (Admission::Nok, None, None),
            // Counted while the table is held: an attempt of ours to this
            // peer starts after this, and sees it.
            _ => (Admission::Ok, None, Some(Arriving::new(self, peer))),
        }
    }

    /// Decides, once a peer connecting to us has proved the cookie and
    /// before we prove it (which makes the connection up on the peer's
    /// side), whether the handshake goes on, and which attempt of ours its
    /// connection settles.
    ///
    /// Until our proof arrives the peer's net_kernel holds its connection
    /// pending, and drops it for an attempt of ours that reaches it then if
    /// our name is the greater (`ok_simultaneous`). A connection we made up
    /// here would then go down at once, and global on the rest of a cluster
    /// would drop us for it. So from here the table holds an attempt that
    /// this connection settles, and our connects wait on it, as BEAM's wait
    /// on a pending connection; and an attempt of ours that began after the
    /// peer was admitted (its name no atom then, or no entry) goes on when
    /// our name is the greater: this handshake waits for it to end, so that
    /// the peer gives way to it, and stops.
    fn reserve(
        self: &Arc<Self>,
        peer_name: &str,
        admission: Admission,
        deadline: Instant,
    ) -> Result<Admitted> {
        let fail = |reason: &str| Error::connection(peer_name, reason);
        let peer = Atom::new(peer_name);
        let mut table = self.table_for(peer);
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let attempt = match table.get(&peer) {
            Some(Entry::Up(_)) if admission == Admission::Alive => return Ok(None),
            Some(Entry::Up(conn)) if !conn.is_down() => {
                return Err(fail("a connection to this node is already up"))
            }
            Some(Entry::Connecting(attempt)) if attempt.adopted.load(Ordering::Acquire) => {
                Arc::clone(attempt)
            }
            // Our later attempt goes on, unless the peer answered it `nok`
            // or `alive` already: it then waits for this connection.
            Some(Entry::Connecting(attempt))
                if peer_name < self.name().as_str() && !attempt.lost.load(Ordering::Acquire) =>
            {
                let attempt = Arc::clone(attempt);
                drop(table);
                attempt.wait(deadline);
                return Err(fail("simultaneous connect: our own attempt goes on"));
            }
            Some(Entry::Connecting(attempt)) => {
                attempt.adopted.store(true, Ordering::Release);
                Arc::clone(attempt)
            }
            _ => {
                // Lost from the start: no connect of ours runs for it, and
                // if this handshake fails nothing else settles it.
                let attempt = Attempt::new();
                attempt.adopted.store(true, Ordering::Release);
                attempt.lost.store(true, Ordering::Release);
                table.insert(peer, Entry::Connecting(Arc::clone(&attempt)));
                attempt
            }
        };
        Ok(Some((peer, attempt)))
    }

    pub(super) fn accept_loop(self: Arc<Self>, listener: Listener) {
        loop {
            let accepted = listener.accept();
            if self.is_closed() {
                break;
            }
            match accepted {
                Ok(tcp) => {
                    // Past the bound the connection is closed at once: a
                    // flood of connections that never finish their
                    // handshakes holds no more threads and sockets than that.
                    let Some(pending) = PendingHandshake::start(&self) else {
                        log::debug!(target: LOG, "connection from {} closed: {} handshakes are under way (max_pending_handshakes)",
                            tcp.peer(), self.max_pending_handshakes
                        );
                        continue;
                    };
                    // Joined by close, which shuts the socket down first
                    // (`Handshaking`).
                    let spawned = self.threads.spawn("erldp-handshake".into(), move || {
                        pending.0.accept_one(tcp);
                    });
                    match spawned {
                        Ok(()) | Err(Error::Closed) => {}
                        Err(err) => {
                            log::error!(target: LOG, "cannot start a handshake thread: {err}")
                        }
                    }
                }
                Err(err) => {
                    log::warn!(target: LOG, "accept failed: {err}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Runs an incoming handshake (TLS included), which must end within the
    /// setup timeout (as `net_setuptime` bounds BEAM's), and installs its
    /// connection.
    fn accept_one(self: &Arc<Self>, tcp: Tcp) {
        let deadline = deadline::after(self.setup_timeout);
        let cutoff = self.conns.handshaking.watch(self).and_then(|cutoff| {
            cutoff.add(tcp.socket())?;
            Ok(cutoff)
        });
        let _cutoff = match cutoff {
            Ok(cutoff) => cutoff,
            Err(err) => {
                log::debug!(target: LOG, "incoming connection from {}: {err}", tcp.peer());
                return;
            }
        };
        let transport = match self.proto.accept(tcp, deadline) {
            Ok(transport) => transport,
            Err(err) => {
                log::warn!(target: LOG, "incoming connection: {err}");
                return;
            }
        };
        let mut decision: Option<(Admission, Admitted)> = None;
        let mut arriving = None;
        let mut reserved = None;
        let from = transport.peer();
        let mut timed = Timed::new(&*transport, deadline);
        let result = handshake::accept(
            &mut timed,
            self.proto.framing(),
            &from,
            &self.local(),
            |peer| {
                let (admission, attempt, incoming) = self.admit(peer);
                decision = Some((admission, attempt));
                arriving = incoming;
                admission
            },
            |peer, admission| {
                reserved = self.reserve(peer, admission, deadline)?;
                Ok(())
            },
        );
        let (admission, admitted) = decision.unwrap_or((Admission::NotAllowed, None));
        let attempt = reserved.or(admitted);
        match result {
            Ok(info) => {
                let peer = info.name;
                let attempt = attempt.map_or_else(Attempt::new, |(_, attempt)| attempt);
                let replace = admission == Admission::Alive;
                if let Err(err) = self.install(transport, info, &attempt, true, replace) {
                    log::warn!(target: LOG, "accepting {peer} failed: {err}");
                }
            }
            Err(err) => {
                match &err {
                    Error::Auth { node } => {
                        log::warn!(target: LOG, "connection attempt from {node} rejected: the cookie did not match"
                        )
                    }
                    _ if handshake::met_tls(&err) => {
                        log::warn!(target: LOG, "incoming connection: {err}")
                    }
                    _ => log::debug!(target: LOG, "incoming handshake failed: {err}"),
                }
                // The attempt of ours this handshake took over goes on by
                // itself, unless the peer already told it to wait for this
                // connection: then nothing else will settle it.
                if let Some((peer, attempt)) = attempt {
                    attempt.adopted.store(false, Ordering::SeqCst);
                    if attempt.lost.load(Ordering::SeqCst) {
                        self.forget_attempt(peer, &attempt);
                        attempt.finish(Err(err.clone()));
                    }
                }
                // Likewise an attempt that withdrew for this handshake.
                if let Some(Arriving(_, peer)) = &arriving {
                    let peer = *peer;
                    arriving = None;
                    let withdrawn = match self.conns.table.lock().get(&peer) {
                        Some(Entry::Connecting(attempt))
                            if attempt.lost.load(Ordering::Acquire) =>
                        {
                            Some(Arc::clone(attempt))
                        }
                        _ => None,
                    };
                    if let Some(attempt) = withdrawn {
                        self.forget_attempt(peer, &attempt);
                        attempt.finish(Err(err));
                    }
                }
            }
        }
        drop(arriving);
    }

    /// Makes sure a connection to `peer` is up within `timeout`, for calls
    /// that wait no longer than that in all. When the setup timeout is
    /// longer, connecting runs on a thread of its own: the caller gets its
    /// answer in time, and the attempt goes on for whoever sends next.
    pub(super) fn reach(self: &Arc<Self>, peer: Atom, timeout: Duration) -> Result<()> {
        if let Some(Entry::Up(conn)) = self.conns.table.lock().get(&peer) {
            if !conn.is_down() {
                return Ok(());
            }
        }
        if timeout >= self.setup_timeout {
            return self.connection(peer).map(drop);
        }
        self.connect_start(peer)?.wait(timeout)
    }

    /// Sends a control message to `node`, connecting if needed.
    pub(super) fn send_control(self: &Arc<Self>, node: Atom, control: &Control) -> Result<()> {
        self.connection(node)?.send(control)
    }

    /// Sends a signal only if a connection is up; used for clean-up
    /// signals that must not cause a connection attempt. Signals (an exit,
    /// the `DOWN` that carries an rpc's result) are what the peer waits
    /// for, so they are written at once, and never wait for room (see
    /// [`Connection::signal`]).
    pub(super) fn signal_if_connected(&self, node: Atom, control: &Control) {
        if let Some(conn) = self.live_connection(node) {
            let _ = conn.signal(control);
        }
    }

    /// The connection to `node`, if one is up.
    pub(super) fn live_connection(&self, node: Atom) -> Option<Arc<Connection>> {
        match self.conns.table.lock().get(&node) {
            Some(Entry::Up(conn)) => Some(Arc::clone(conn)),
            _ => None,
        }
    }

    /// Sends `control` to `node`, connecting first without waiting for it
    /// when there is no connection, as BEAM's send connects without holding
    /// the sender: for the reply to a call whose caller is on a node we are
    /// not connected to (a call forwarded through another node), which must
    /// not hold a served name's handler for up to the setup time. Replies
    /// to a node wait for its connect in order, and go out before any sent
    /// after them. Any peer may name such a caller on any node, so at most
    /// `max_pending_handshakes` of these connects run at once, each with at
    /// most [`MAX_WAITING_REPLIES`] waiting for it; a reply past them is
    /// not sent, as a message to a node that cannot be reached is lost.
    ///
    /// `waits`: whether a connection that is up may make the caller wait
    /// for room; global's one thread must not (see [`Connection::signal`]).
    pub(super) fn send_connecting(
        self: &Arc<Self>,
        node: Atom,
        control: Control,
        waits: bool,
    ) -> Result<()> {
        let conn = {
            let mut waiting = self.conns.waiting_replies.lock();
            if let Some(replies) = waiting.get_mut(&node) {
                return push_reply(replies, node, control);
            }
            // With no replies waiting, any that did have gone out.
            match self.live_connection(node).filter(|conn| !conn.is_down()) {
                Some(conn) => conn,
                None => {
                    if waiting.len() >= self.max_pending_handshakes {
                        return Err(Error::connection(
                            node,
                            format!(
                                "{} connects to reach callers are under way (max_pending_handshakes)",
                                self.max_pending_handshakes
                            ),
                        ));
                    }
                    waiting.insert(node, vec![control]);
                    drop(waiting);
                    return self.connect_for_replies(node);
                }
            }
        };
        if waits {
            conn.send_awaited(&control)
        } else {
            conn.signal(&control)
        }
    }

    /// Starts the connect that the replies waiting for `node` wait for.
    fn connect_for_replies(self: &Arc<Self>, node: Atom) -> Result<()> {
        let pending = match self.connect_start(node) {
            Ok(pending) => pending,
            Err(err) => {
                self.conns.waiting_replies.lock().remove(&node);
                return Err(err);
            }
        };
        let inner = Arc::downgrade(self);
        // The attempt ends by its own deadline, the setup time.
        pending.on_complete(Duration::MAX, move |connected| {
            if let Some(inner) = inner.upgrade() {
                inner.send_waiting_replies(node, connected);
            }
        });
        Ok(())
    }

    /// Sends the replies that waited for the connect to `node`, once it
    /// ended. Under the lock that a later reply checks first, so that none
    /// overtakes them; sending never waits (see [`send_noconnect`](Self::send_noconnect)).
    fn send_waiting_replies(&self, node: Atom, connected: Result<()>) {
        let mut waiting = self.conns.waiting_replies.lock();
        let replies = waiting.remove(&node).unwrap_or_default();
        let sent = connected.and_then(|()| {
            for reply in &replies {
                if !self.send_noconnect(node, reply) {
                    return Err(Error::connection(node, "the connection went down at once"));
                }
            }
            Ok(())
        });
        drop(waiting);
        if let Err(err) = sent {
            log::debug!(target: LOG, "{} replies to {node} not sent: {err}", replies.len());
        }
    }

    /// Sends a control message only if a connection is up, as Erlang sends
    /// with `noconnect`; false when none was. It never waits for room (see
    /// [`Connection::signal`]): global's and pg's one thread sends this way,
    /// and a peer that reads nothing must not stall it for the others (it
    /// loses its connection instead, once it owes too much).
    pub(super) fn send_noconnect(&self, node: Atom, control: &Control) -> bool {
        match self.live_connection(node) {
            Some(conn) => {
                let _ = conn.signal(control);
                true
            }
            None => false,
        }
    }

    /// `erlang:disconnect_node/1`: closes the connection to `peer`, if any,
    /// as a lost one (links and monitors fire with `noconnection`).
    ///
    /// As with BEAM, the node is down for us at once, before the peer can
    /// notice: global then tells the rest of the cluster that we lost it
    /// before the peer tells them it lost us, which would make them drop us
    /// instead (`prevent_overlapping_partitions`). The connection closes
    /// once the cluster driver has taken that in, after what was sent on it
    /// is flushed for a moment (global sends `remove_connection` just before
    /// it disconnects), on a thread of its own: the caller never waits.
    pub(super) fn disconnect(self: &Arc<Self>, peer: Atom) -> bool {
        let Some(conn) = self.live_connection(peer) else {
            return false;
        };
        self.connection_gone(&conn);
        let (inner, closing) = (Arc::clone(self), Arc::clone(&conn));
        let spawned = self.threads.spawn("erldp-disconnect".into(), move || {
            inner.cluster_caught_up();
            closing.close("disconnected by this node", DISCONNECT_FLUSH);
        });
        if spawned.is_err() {
            conn.abort("disconnected by this node");
        }
        true
    }

    /// Closes every connection, flushing each for a moment, and fails our
    /// attempts with `Closed`, then cuts short what is still connecting: the
    /// attempts fail first, so that their waiters hear `Closed`, not the
    /// error of a connect cut.
    pub(super) fn close_connections(&self) {
        let entries: Vec<Entry> = self
            .conns
            .table
            .lock()
            .drain()
            .map(|(_, entry)| entry)
            .collect();
        for entry in entries {
            match entry {
                Entry::Up(conn) => conn.close("the node closed", Duration::from_millis(500)),
                Entry::Connecting(attempt) => attempt.finish(Err(Error::Closed)),
            }
        }
        self.conns.handshaking.cut_all();
    }
}

/// Queues a reply behind others that wait for the same connect, up to
/// [`MAX_WAITING_REPLIES`].
fn push_reply(replies: &mut Vec<Control>, node: Atom, control: Control) -> Result<()> {
    if replies.len() >= MAX_WAITING_REPLIES {
        return Err(Error::connection(
            node,
            format!("{MAX_WAITING_REPLIES} replies wait for the connect to it already"),
        ));
    }
    replies.push(control);
    Ok(())
}
