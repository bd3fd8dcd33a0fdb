//! The node's connections: one per peer, made on demand or accepted, with
//! simultaneous connects settled the way `dist_util` settles them (the
//! attempt of the node with the greater name gives way).
//!
//! Implements the connection set-up of the [Distribution
//! Protocol](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#distribution-handshake)
//! around the handshake itself ([`crate::handshake`]).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::LOG;
use super::{EpmdMode, Node, NodeInner};
use crate::connection::{Connection, Dispatch};
use crate::epmd;
use crate::handshake::{self, Admission, Outcome, Peer};
use crate::pending::{Operation, Pending, Slot};
use crate::protocol::{identity, Bounds, Control};
use crate::term::{Atom, AtomBudget};
use crate::threads;
use crate::transport::{self, Io, Listener, Transport};
use crate::{Error, Result};

/// The connection table and what we know of peers' addresses.
#[derive(Default)]
pub(super) struct Connections {
    table: Mutex<HashMap<Atom, Entry>>,
    /// Addresses given with `connect_to`, used instead of EPMD.
    addresses: Mutex<HashMap<Atom, SocketAddr>>,
}

enum Entry {
    Up(Arc<Connection>),
    Connecting(Arc<Attempt>),
}

/// A connection being set up; whoever wants the connection meanwhile waits
/// on it.
struct Attempt {
    outgoing: bool,
    /// An incoming handshake from the same peer took this attempt over
    /// (simultaneous connect where the peer's name is greater).
    adopted: AtomicBool,
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
    fn new(outgoing: bool) -> Arc<Attempt> {
        Arc::new(Attempt {
            outgoing,
            adopted: AtomicBool::new(false),
            state: Mutex::new(AttemptState::default()),
            done: Condvar::new(),
        })
    }

    /// The attempt ended; the first result given stands.
    fn finish(&self, result: Result<Arc<Connection>>) {
        let mut state = self.state.lock();
        let result = state.result.get_or_insert(result).clone();
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        self.done.notify_all();
        for waiter in waiters {
            waiter.complete(result.clone().map(drop));
        }
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

    fn wait(&self, timeout: Duration, peer: Atom) -> Result<Arc<Connection>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while state.result.is_none() {
            if self.done.wait_until(&mut state, deadline).timed_out() && state.result.is_none() {
                return Err(Error::timeout(format!("connecting to {peer}")));
            }
        }
        state.result.clone().expect("checked above")
    }
}

impl Node {
    /// Connects to `peer` (handshake included) if not connected yet.
    /// Sending connects on its own; this surfaces connection errors early.
    pub fn connect(&self, peer: &str) -> Result<()> {
        self.inner.connection(identity::node_atom(peer)?).map(drop)
    }

    /// Connects to `peer` at a known address, without EPMD; the address is
    /// remembered for reconnects.
    pub fn connect_to(&self, peer: &str, addr: impl ToSocketAddrs) -> Result<()> {
        let peer = self.inner.remember_address(peer, addr)?;
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
        let peer = identity::node_atom(peer)?;
        let addr = addr
            .to_socket_addrs()
            .map_err(|err| Error::invalid(format!("bad address for {peer}: {err}")))?
            .next()
            .ok_or_else(|| Error::invalid(format!("no address for {peer}")))?;
        self.conns.addresses.lock().insert(peer, addr);
        Ok(peer)
    }

    fn check_peer(&self, peer: Atom) -> Result<()> {
        if peer == self.name() {
            return Err(Error::invalid("a node cannot connect to itself"));
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The connection to `peer`, connecting first if there is none.
    pub(super) fn connection(self: &Arc<Self>, peer: Atom) -> Result<Arc<Connection>> {
        self.check_peer(peer)?;
        let attempt = {
            let mut table = self.conns.table.lock();
            match table.get(&peer) {
                Some(Entry::Up(conn)) if !conn.is_down() => return Ok(Arc::clone(conn)),
                Some(Entry::Connecting(attempt)) => {
                    let attempt = Arc::clone(attempt);
                    drop(table);
                    return attempt.wait(self.setup_timeout * 2, peer);
                }
                _ => {
                    let attempt = Attempt::new(true);
                    table.insert(peer, Entry::Connecting(Arc::clone(&attempt)));
                    attempt
                }
            }
        };
        self.establish(peer, &attempt)
    }

    fn connect_start(self: &Arc<Self>, peer: Atom) -> Result<Pending<()>> {
        self.check_peer(peer)?;
        let slot = Slot::new();
        let pending = Pending::new(
            Arc::clone(&slot),
            Box::new(|| {}),
            Operation::Connect(peer),
            Arc::clone(&self.timer),
        );
        let mut table = self.conns.table.lock();
        match table.get(&peer) {
            Some(Entry::Up(conn)) if !conn.is_down() => {
                slot.complete(Ok(()));
            }
            Some(Entry::Connecting(attempt)) => attempt.notify(slot),
            _ => {
                let attempt = Attempt::new(true);
                table.insert(peer, Entry::Connecting(Arc::clone(&attempt)));
                drop(table);
                attempt.notify(slot);
                let (inner, connecting) = (Arc::clone(self), Arc::clone(&attempt));
                let spawned = threads::spawn("erldp-connect".into(), move || {
                    let _ = inner.establish(peer, &connecting);
                });
                if let Err(err) = spawned {
                    self.forget_attempt(peer, &attempt);
                    attempt.finish(Err(Error::Io(err)));
                }
            }
        }
        Ok(pending)
    }

    /// Runs our attempt to connect to `peer`, which the table holds.
    fn establish(self: &Arc<Self>, peer: Atom, attempt: &Arc<Attempt>) -> Result<Arc<Connection>> {
        match self.connect_out(peer, attempt) {
            Ok((transport, Outcome::Connected(info))) => {
                self.install(transport, info, attempt, false, false)
            }
            Ok((_, Outcome::LostSimultaneous)) => {
                log::debug!(target: LOG, "simultaneous connect with {peer}: its connection to us wins");
                attempt.wait(self.setup_timeout * 2, peer)
            }
            Err(err) => {
                self.forget_attempt(peer, attempt);
                attempt.finish(Err(err.clone()));
                log::warn!(target: LOG, "connecting to {peer} failed: {err}");
                Err(err)
            }
        }
    }

    fn forget_attempt(&self, peer: Atom, attempt: &Arc<Attempt>) {
        let mut table = self.conns.table.lock();
        if matches!(table.get(&peer), Some(Entry::Connecting(current)) if Arc::ptr_eq(current, attempt))
        {
            table.remove(&peer);
        }
    }

    fn peer_address(&self, peer: Atom) -> Result<Vec<SocketAddr>> {
        if let Some(addr) = self.conns.addresses.lock().get(&peer) {
            return Ok(vec![*addr]);
        }
        let (alive, host) = peer
            .as_str()
            .split_once('@')
            .ok_or_else(|| Error::invalid(format!("{peer} is not a node name (name@host)")))?;
        if self.epmd_mode == EpmdMode::None {
            return Err(Error::NodeNotFound {
                node: peer.to_string(),
                reason: "EPMD is off (epmd: none) and no address is known; use connect_to".into(),
            });
        }
        let info = epmd::port_please(host, self.epmd_port, alive, self.setup_timeout)?;
        transport::resolve(peer.as_str(), host, info.port)
    }

    fn connect_out(&self, peer: Atom, attempt: &Attempt) -> Result<(Box<dyn Transport>, Outcome)> {
        let addrs = self.peer_address(peer)?;
        let mut last_err = None;
        for addr in addrs {
            log::debug!(target: LOG, "connecting to {peer} at {addr}");
            match transport::connect(&addr, self.setup_timeout) {
                Ok(tcp) => {
                    let transport: Box<dyn Transport> = Box::new(tcp);
                    transport.set_read_timeout(Some(self.setup_timeout))?;
                    transport.set_write_timeout(Some(self.setup_timeout))?;
                    let still_wanted = || !attempt.adopted.load(Ordering::Acquire);
                    let outcome = handshake::initiate(
                        &mut Io(&*transport),
                        &self.local(),
                        peer.as_str(),
                        still_wanted,
                    )?;
                    return Ok((transport, outcome));
                }
                Err(err) => last_err = Some((addr, err)),
            }
        }
        Err(match last_err {
            Some((addr, err)) => {
                Error::connection(peer, format!("cannot connect to {addr}: {err}"))
            }
            None => Error::NodeNotFound {
                node: peer.to_string(),
                reason: "its host has no address".into(),
            },
        })
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
        let conn = match Connection::new(transport, info, self.net_ticktime, bounds) {
            Ok(conn) => conn,
            Err(err) => {
                self.forget_attempt(peer, attempt);
                attempt.finish(Err(err.clone()));
                return Err(err);
            }
        };
        let displaced = {
            let mut table = self.conns.table.lock();
            if self.is_closed() {
                drop(table);
                conn.abort("the node is closing");
                attempt.finish(Err(Error::Closed));
                return Err(Error::Closed);
            }
            if let Some(Entry::Up(old)) = table.get(&peer) {
                if replace {
                    old.abort("replaced by a new connection from the same node");
                }
            }
            // An attempt of ours that began while this peer's handshake was
            // under way (its name was no atom when it was admitted) is
            // settled by this connection.
            match table.insert(peer, Entry::Up(Arc::clone(&conn))) {
                Some(Entry::Connecting(other)) if !Arc::ptr_eq(&other, attempt) => Some(other),
                _ => None,
            }
        };
        let dispatch: Arc<dyn Dispatch> = Arc::clone(self) as Arc<dyn Dispatch>;
        if let Err(err) = conn.run(dispatch, &self.threads) {
            conn.abort("cannot start its threads");
            self.forget_connection(peer, &conn);
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
            atoms,
            limits: self.limits,
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
    /// attempt (under which name) the connection settles.
    ///
    /// The peer has not proved the cookie yet, so its name is not made an
    /// atom here: anyone could fill the atom table with names. A name that
    /// is no atom yet has no connection or attempt either; its attempt is
    /// made once the handshake succeeds ([`install`](Self::install)).
    fn admit(&self, peer_name: &str) -> (Admission, Admitted) {
        if self.is_closed() {
            return (Admission::NotAllowed, None);
        }
        let Some(peer) = Atom::existing(peer_name) else {
            return (Admission::Ok, None);
        };
        if peer == self.name() {
            return (Admission::NotAllowed, None);
        }
        let mut table = self.conns.table.lock();
        match table.get(&peer) {
            Some(Entry::Up(conn)) if !conn.is_down() => (Admission::Alive, None),
            Some(Entry::Connecting(attempt))
                if attempt.outgoing && !attempt.adopted.load(Ordering::Acquire) =>
            {
                if peer_name > self.name().as_str() {
                    attempt.adopted.store(true, Ordering::Release);
                    (Admission::OkSimultaneous, Some((peer, Arc::clone(attempt))))
                } else {
                    (Admission::Nok, None)
                }
            }
            Some(Entry::Connecting(_)) => (Admission::Nok, None),
            _ => {
                let attempt = Attempt::new(false);
                table.insert(peer, Entry::Connecting(Arc::clone(&attempt)));
                (Admission::Ok, Some((peer, attempt)))
            }
        }
    }

    pub(super) fn accept_loop(self: Arc<Self>, listener: Listener) {
        loop {
            let accepted = listener.accept();
            if self.is_closed() {
                break;
            }
            match accepted {
                Ok(tcp) => {
                    let inner = Arc::clone(&self);
                    let spawned =
                        threads::spawn("erldp-handshake".into(), move || inner.accept_one(tcp));
                    if let Err(err) = spawned {
                        log::error!(target: LOG, "cannot start a handshake thread: {err}");
                    }
                }
                Err(err) => {
                    log::warn!(target: LOG, "accept failed: {err}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn accept_one(self: Arc<Self>, tcp: transport::Tcp) {
        let transport: Box<dyn Transport> = Box::new(tcp);
        let prepared = transport
            .set_read_timeout(Some(self.setup_timeout))
            .and_then(|_| transport.set_write_timeout(Some(self.setup_timeout)));
        if let Err(err) = prepared {
            log::warn!(target: LOG, "incoming connection: {err}");
            return;
        }
        let mut decision: Option<(Admission, Admitted)> = None;
        let from = transport.peer();
        let result = handshake::accept(&mut Io(&*transport), &from, &self.local(), |peer| {
            let (admission, attempt) = self.admit(peer);
            decision = Some((admission, attempt));
            admission
        });
        let (admission, attempt) = decision.unwrap_or((Admission::NotAllowed, None));
        match result {
            Ok(info) => {
                let peer = info.name;
                let attempt = attempt.map_or_else(|| Attempt::new(false), |(_, attempt)| attempt);
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
                    _ => log::debug!(target: LOG, "incoming handshake failed: {err}"),
                }
                if let Some((peer, attempt)) = attempt {
                    self.forget_attempt(peer, &attempt);
                    attempt.finish(Err(err));
                }
            }
        }
    }

    /// Sends a control message to `node`, connecting if needed.
    pub(super) fn send_control(self: &Arc<Self>, node: Atom, control: &Control) -> Result<()> {
        self.connection(node)?.send(control)
    }

    /// Sends a control message only if a connection is up; used for
    /// clean-up signals that must not cause a connection attempt.
    pub(super) fn send_if_connected(&self, node: Atom, control: &Control) {
        if let Some(conn) = self.connected(node) {
            let _ = conn.send(control);
        }
    }

    /// The connection to `node` if one is up, without connecting.
    pub(super) fn connected(&self, node: Atom) -> Option<Arc<Connection>> {
        match self.conns.table.lock().get(&node) {
            Some(Entry::Up(conn)) => Some(Arc::clone(conn)),
            _ => None,
        }
    }

    /// Closes every connection, flushing each for a moment, and fails the
    /// attempts under way: the node is closing.
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
    }
}
