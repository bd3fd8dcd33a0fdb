//! The node: a named distribution endpoint inside the host program.
//!
//! It listens for connections, registers its name with EPMD, connects out on
//! demand (the first send to a node connects to it), keeps one connection
//! per peer — resolving simultaneous connects the way `dist_util` does — and
//! routes every incoming signal to the mailbox, call or rpc it is for.
//! Built-in processes answer what Erlang expects any node to answer:
//! `net_adm:ping/1` (`net_kernel`'s `is_auth`), I/O requests from rpc'd code
//! (forwarded to the caller's node's `user`), and spawn requests
//! (`notsup` until handlers can serve them).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::connection::{Connection, Dispatch, Timing};
use crate::dist::{Control, ProcRef};
use crate::epmd;
use crate::handshake::{self, flags, Admission, Local, Outcome, Peer};
use crate::mailbox::{Link, Mailbox, Message, Monitored, Process, Relations, Watcher};
use crate::pending::Timer;
use crate::rpc::Outstanding;
use crate::term::{Atom, Pid, Ref, Term};
use crate::util::{self, FastMap};
use crate::{Dest, Error, Result};

/// How the node uses EPMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpmdMode {
    /// Use the EPMD on the EPMD port when one answers; otherwise run one
    /// inside this program, which BEAM nodes started later register with.
    #[default]
    Auto,
    /// Require a running EPMD.
    External,
    /// Neither register nor look up: peers are reached with
    /// [`Node::connect_to`] at a known address, and find us only by ours.
    None,
}

/// Options for starting a [`Node`]; made by [`Node::builder`].
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    name: String,
    cookie: Option<String>,
    hidden: bool,
    epmd: EpmdMode,
    epmd_port: Option<u16>,
    listen_port: u16,
    net_ticktime: Duration,
    setup_timeout: Duration,
    long_names: Option<bool>,
    max_message: usize,
}

impl NodeBuilder {
    /// The cookie (default: `$HOME/.erlang.cookie`, created like `erl` does).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(cookie.into());
        self
    }

    /// Hidden (the default, like a C node) or visible: a visible node
    /// appears in `nodes()` of the nodes it connects to.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// How to use EPMD (default [`EpmdMode::Auto`]).
    pub fn epmd(mut self, mode: EpmdMode) -> Self {
        self.epmd = mode;
        self
    }

    /// The EPMD port (default: `$ERL_EPMD_PORT`, else 4369).
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.epmd_port = Some(port);
        self
    }

    /// The port to listen on for incoming connections (0, the default,
    /// picks a free one).
    pub fn listen_port(mut self, port: u16) -> Self {
        self.listen_port = port;
        self
    }

    /// Like `-kernel net_ticktime`: a peer silent this long is considered
    /// down, and we tick every quarter of it (default 60 s).
    pub fn net_ticktime(mut self, ticktime: Duration) -> Self {
        self.net_ticktime = ticktime;
        self
    }

    /// How long connecting (EPMD lookup, TCP, handshake) may take (default
    /// 7 s, like `net_setuptime`).
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// Long names (`name@host.domain`) instead of short ones. Implied when
    /// the name already carries a host with a dot.
    pub fn long_names(mut self, long: bool) -> Self {
        self.long_names = Some(long);
        self
    }

    /// The largest message accepted from a peer (default 1 GiB); a bigger
    /// one ends that connection.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Starts the node: listens, registers with EPMD, and is ready to
    /// connect and be connected to.
    pub fn start(self) -> Result<Node> {
        NodeInner::start(self)
    }
}

/// A running node. Cloning gives another handle to the same node; the node
/// closes when the last handle (and the last [`Mailbox`]) is dropped, or
/// explicitly with [`Node::close`].
///
/// A node needs no peer to start; here one without EPMD passes a message
/// between two of its own mailboxes:
///
/// ```
/// use std::time::Duration;
/// use erldp::{Dest, EpmdMode, MessageKind, Node, Term};
///
/// let node = Node::builder("doc@localhost").cookie("secret").epmd(EpmdMode::None).start()?;
/// assert_eq!(node.name().as_str(), "doc@localhost");
/// assert!(node.is_hidden());
///
/// let inbox = node.mailbox(Some("inbox"))?;
/// let outbox = node.mailbox(None)?;
/// outbox.send(&Dest::name("inbox", "doc@localhost"), "{hello, 42}".parse()?)?;
///
/// let msg = inbox.recv_timeout(Duration::from_secs(1))?.expect("a message");
/// assert_eq!((msg.kind, msg.from), (MessageKind::Message, Some(outbox.pid())));
/// assert_eq!(msg.term.to_string(), "{hello,42}");
/// assert_eq!(inbox.recv_timeout(Duration::from_millis(10))?, None);
///
/// node.close();
/// assert!(matches!(inbox.recv(), Err(erldp::Error::Closed)));
/// # Ok::<(), erldp::Error>(())
/// ```
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
    _guard: Arc<CloseOnDrop>,
}

struct CloseOnDrop(Arc<NodeInner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

enum Slot {
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
    result: Mutex<Option<Result<Arc<Connection>>>>,
    done: Condvar,
}

impl Attempt {
    fn new(outgoing: bool) -> Arc<Attempt> {
        Arc::new(Attempt {
            outgoing,
            adopted: AtomicBool::new(false),
            result: Mutex::new(None),
            done: Condvar::new(),
        })
    }

    fn finish(&self, result: Result<Arc<Connection>>) {
        let mut slot = self.result.lock();
        if slot.is_none() {
            *slot = Some(result);
        }
        drop(slot);
        self.done.notify_all();
    }

    fn wait(&self, timeout: Duration, peer: Atom) -> Result<Arc<Connection>> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.result.lock();
        while slot.is_none() {
            if self.done.wait_until(&mut slot, deadline).timed_out() && slot.is_none() {
                return Err(Error::timeout(format!("connecting to {peer}")));
            }
        }
        slot.as_ref().expect("checked above").clone()
    }
}

pub(crate) struct NodeInner {
    me: std::sync::Weak<NodeInner>,
    name: Atom,
    host: String,
    cookie: String,
    creation: u32,
    flags: u64,
    hidden: bool,
    epmd_mode: EpmdMode,
    epmd_port: u16,
    port: u16,
    timing: Timing,
    setup_timeout: Duration,
    listener_fd: RawFd,
    registration: Mutex<Option<epmd::Registration>>,
    closed: AtomicBool,
    conns: Mutex<HashMap<Atom, Slot>>,
    addresses: Mutex<HashMap<Atom, SocketAddr>>,
    processes: RwLock<FastMap<u32, Arc<Process>>>,
    names: RwLock<FastMap<Atom, Arc<Process>>>,
    next_id: AtomicU32,
    next_ref: AtomicU64,
    ref_salt: u32,
    pub(crate) outstanding: Mutex<FastMap<Ref, Outstanding>>,
    pub(crate) timer: Arc<Timer>,
    /// Sender of node-level sends, rpcs and calls.
    pub(crate) system: Arc<Process>,
    /// Group leader of processes spawned by our rpcs.
    pub(crate) group_leader: Arc<Process>,
}

impl NodeInner {
    fn start(options: NodeBuilder) -> Result<Node> {
        let (alive, host) = match options.name.split_once('@') {
            Some((alive, host)) => (alive.to_string(), host.to_string()),
            None if options.long_names == Some(true) => {
                (options.name.clone(), util::long_hostname())
            }
            None => (options.name.clone(), util::short_hostname()),
        };
        let full_name = format!("{alive}@{host}");
        if !handshake::valid_node_name(&full_name) {
            return Err(Error::invalid(format!(
                "node name {full_name:?} must be name@host with letters, digits, '_' or '-' in the name"
            )));
        }
        let cookie = match options.cookie {
            Some(cookie) if cookie.is_empty() => return Err(Error::invalid("the cookie is empty")),
            Some(cookie) => cookie,
            None => util::default_cookie()?,
        };
        let epmd_port = match options.epmd_port {
            Some(port) => port,
            None => epmd::port_from_env()?,
        };
        if options.net_ticktime < Duration::from_millis(400) {
            return Err(Error::invalid("net_ticktime must be at least 0.4 s"));
        }

        let listener = TcpListener::bind(("0.0.0.0", options.listen_port)).map_err(|err| {
            Error::io(
                format_args!("cannot listen on port {}", options.listen_port),
                &err,
            )
        })?;
        let port = listener.local_addr()?.port();

        let registration = match options.epmd {
            EpmdMode::None => None,
            EpmdMode::Auto => {
                if epmd::ensure_running(epmd_port)? {
                    log::info!("no EPMD answered on port {epmd_port}: started one in this process");
                }
                Some(epmd::register(
                    epmd_port,
                    &alive,
                    port,
                    options.hidden,
                    options.setup_timeout,
                )?)
            }
            EpmdMode::External => Some(epmd::register(
                epmd_port,
                &alive,
                port,
                options.hidden,
                options.setup_timeout,
            )?),
        };
        if registration.is_some() {
            log::debug!("registered {alive} (port {port}) in EPMD on port {epmd_port}");
        }
        let creation = registration
            .as_ref()
            .map(epmd::Registration::creation)
            .unwrap_or_else(handshake::nonzero_random_u32);

        let name = Atom::new(&full_name);
        let pid = |id| Pid {
            node: name,
            id,
            serial: 0,
            creation,
        };
        let mut flags = flags::SUPPORTED;
        if !options.hidden {
            flags |= flags::PUBLISHED;
        }
        let system = Process::new(pid(1));
        let group_leader = Process::new(pid(2));
        let mut processes = FastMap::default();
        processes.insert(1, Arc::clone(&system));
        processes.insert(2, Arc::clone(&group_leader));

        let inner = Arc::new_cyclic(|me| NodeInner {
            me: me.clone(),
            name,
            host,
            cookie,
            creation,
            flags,
            hidden: options.hidden,
            epmd_mode: options.epmd,
            epmd_port,
            port,
            timing: Timing {
                net_ticktime: options.net_ticktime,
                max_message: options.max_message,
            },
            setup_timeout: options.setup_timeout,
            listener_fd: listener.as_raw_fd(),
            registration: Mutex::new(registration),
            closed: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
            processes: RwLock::new(processes),
            names: RwLock::new(FastMap::default()),
            next_id: AtomicU32::new(3),
            next_ref: AtomicU64::new(1),
            ref_salt: handshake::random_u32(),
            outstanding: Mutex::new(FastMap::default()),
            timer: Timer::new(),
            system,
            group_leader,
        });
        {
            let inner = Arc::clone(&inner);
            thread::Builder::new()
                .name(format!("erldp-accept-{alive}"))
                .spawn(move || inner.accept_loop(listener))?;
        }
        log::info!(
            "node {} started on port {port} (creation {creation})",
            inner.name
        );
        let guard = Arc::new(CloseOnDrop(Arc::clone(&inner)));
        Ok(Node {
            inner,
            _guard: guard,
        })
    }

    fn local(&self) -> Local<'_> {
        Local {
            name: self.name.as_str(),
            flags: self.flags,
            creation: self.creation,
            cookie: &self.cookie,
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn name(&self) -> Atom {
        self.name
    }

    /// A new reference of our node.
    pub(crate) fn make_ref(&self) -> Ref {
        let n = self.next_ref.fetch_add(1, Ordering::Relaxed);
        Ref::new(
            self.name,
            self.creation,
            &[
                (n & 0x3_FFFF) as u32,
                (n >> 18) as u32,
                self.ref_salt ^ (n >> 50) as u32,
            ],
        )
        .expect("three words")
    }

    fn make_pid(&self) -> Pid {
        Pid {
            node: self.name,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            serial: 0,
            creation: self.creation,
        }
    }

    pub(crate) fn new_mailbox(&self, name: Option<&str>) -> Result<Arc<Process>> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let process = Process::new(self.make_pid());
        self.processes
            .write()
            .insert(process.pid.id, Arc::clone(&process));
        if let Some(name) = name {
            if let Err(err) = self.register(&process, name) {
                self.processes.write().remove(&process.pid.id);
                return Err(err);
            }
        }
        Ok(process)
    }

    pub(crate) fn register(&self, process: &Arc<Process>, name: &str) -> Result<()> {
        if name.is_empty() || name.chars().count() > crate::term::MAX_ATOM_CHARS {
            return Err(Error::invalid(format!(
                "{name:?} is not a valid registered name"
            )));
        }
        let atom = Atom::new(name);
        if matches!(name, "net_kernel" | "rex" | "user") {
            return Err(Error::invalid(format!(
                "the name {name} is reserved by the node"
            )));
        }
        let mut names = self.names.write();
        if names.contains_key(&atom) {
            return Err(Error::invalid(format!(
                "the name {name} is already registered"
            )));
        }
        let mut current = process.name.lock();
        if let Some(old) = *current {
            return Err(Error::invalid(format!(
                "this mailbox is already registered as {}",
                old.as_str()
            )));
        }
        if process.relations.lock().closed {
            return Err(Error::Closed);
        }
        names.insert(atom, Arc::clone(process));
        *current = Some(atom);
        Ok(())
    }

    pub(crate) fn whereis(&self, name: Atom) -> Option<Arc<Process>> {
        self.names.read().get(&name).cloned()
    }

    fn process(&self, pid: Pid) -> Option<Arc<Process>> {
        if pid.node != self.name || pid.creation != self.creation {
            return None;
        }
        self.processes.read().get(&pid.id).cloned()
    }

    /// The process a pid or name stands for. `net_kernel` and `rex` are
    /// answered by the system process, so that callers can monitor them as
    /// `gen:call` does.
    fn resolve(&self, target: ProcRef) -> Option<Arc<Process>> {
        match target {
            ProcRef::Pid(pid) => self.process(pid),
            ProcRef::Name(name) => match name.as_str() {
                "net_kernel" | "rex" => Some(Arc::clone(&self.system)),
                _ => self.whereis(name),
            },
        }
    }

    // ---- connections -------------------------------------------------

    /// The connection to `peer`, connecting first if there is none.
    pub(crate) fn connection(self: &Arc<Self>, peer: Atom) -> Result<Arc<Connection>> {
        if peer == self.name {
            return Err(Error::invalid("a node cannot connect to itself"));
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let attempt = {
            let mut conns = self.conns.lock();
            match conns.get(&peer) {
                Some(Slot::Up(conn)) if !conn.is_down() => return Ok(Arc::clone(conn)),
                Some(Slot::Connecting(attempt)) => {
                    let attempt = Arc::clone(attempt);
                    drop(conns);
                    return attempt.wait(self.setup_timeout * 2, peer);
                }
                _ => {
                    let attempt = Attempt::new(true);
                    conns.insert(peer, Slot::Connecting(Arc::clone(&attempt)));
                    attempt
                }
            }
        };
        match self.connect_out(peer, &attempt) {
            Ok((stream, Outcome::Connected(info))) => {
                self.install(stream, info, &attempt, false, false)
            }
            Ok((_, Outcome::LostSimultaneous)) => {
                log::debug!("simultaneous connect with {peer}: its connection to us wins");
                attempt.wait(self.setup_timeout * 2, peer)
            }
            Err(err) => {
                self.forget_attempt(peer, &attempt);
                attempt.finish(Err(err.clone()));
                log::warn!("connecting to {peer} failed: {err}");
                Err(err)
            }
        }
    }

    fn forget_attempt(&self, peer: Atom, attempt: &Arc<Attempt>) {
        let mut conns = self.conns.lock();
        if matches!(conns.get(&peer), Some(Slot::Connecting(current)) if Arc::ptr_eq(current, attempt))
        {
            conns.remove(&peer);
        }
    }

    fn peer_address(&self, peer: Atom) -> Result<Vec<SocketAddr>> {
        if let Some(addr) = self.addresses.lock().get(&peer) {
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
        let addrs: Vec<SocketAddr> = (host, info.port)
            .to_socket_addrs()
            .map_err(|err| Error::NodeNotFound {
                node: peer.to_string(),
                reason: format!("cannot resolve {host}: {err}"),
            })?
            .collect();
        Ok(addrs)
    }

    fn connect_out(&self, peer: Atom, attempt: &Attempt) -> Result<(TcpStream, Outcome)> {
        let addrs = self.peer_address(peer)?;
        let mut last_err = None;
        for addr in addrs {
            log::debug!("connecting to {peer} at {addr}");
            match TcpStream::connect_timeout(&addr, self.setup_timeout) {
                Ok(mut stream) => {
                    stream.set_read_timeout(Some(self.setup_timeout))?;
                    stream.set_write_timeout(Some(self.setup_timeout))?;
                    stream.set_nodelay(true)?;
                    let still_wanted = || !attempt.adopted.load(Ordering::Acquire);
                    let outcome = handshake::initiate(
                        &mut stream,
                        &self.local(),
                        peer.as_str(),
                        still_wanted,
                    )?;
                    return Ok((stream, outcome));
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
        stream: TcpStream,
        info: Peer,
        attempt: &Arc<Attempt>,
        incoming: bool,
        replace: bool,
    ) -> Result<Arc<Connection>> {
        let peer = info.name;
        let creation = info.creation;
        let direction = if incoming { "incoming" } else { "outgoing" };
        log::debug!(
            "handshake with {peer} ({direction}) succeeded; flags in use {:#x}",
            info.flags
        );
        let conn = match Connection::new(stream, info, self.timing) {
            Ok(conn) => conn,
            Err(err) => {
                self.forget_attempt(peer, attempt);
                attempt.finish(Err(err.clone()));
                return Err(err);
            }
        };
        {
            let mut conns = self.conns.lock();
            if self.is_closed() {
                drop(conns);
                conn.abort("the node is closing");
                attempt.finish(Err(Error::Closed));
                return Err(Error::Closed);
            }
            if let Some(Slot::Up(old)) = conns.get(&peer) {
                if replace {
                    old.abort("replaced by a new connection from the same node");
                }
            }
            conns.insert(peer, Slot::Up(Arc::clone(&conn)));
        }
        let dispatch: Arc<dyn Dispatch> = Arc::clone(self) as Arc<dyn Dispatch>;
        if let Err(err) = conn.run(self.timing, dispatch) {
            conn.abort("cannot start its threads");
            self.forget_connection(peer, &conn);
            attempt.finish(Err(err.clone()));
            return Err(err);
        }
        attempt.finish(Ok(Arc::clone(&conn)));
        log::info!("connected to {peer} ({direction}, creation {creation})");
        Ok(conn)
    }

    /// Removes `conn` from the table unless another connection to `peer`
    /// has already taken its place.
    fn forget_connection(&self, peer: Atom, conn: &Arc<Connection>) {
        let mut conns = self.conns.lock();
        if matches!(conns.get(&peer), Some(Slot::Up(current)) if current.id() == conn.id()) {
            conns.remove(&peer);
        }
    }

    /// Decides how to answer a peer that is connecting to us.
    fn admit(&self, peer_name: &str) -> (Admission, Option<Arc<Attempt>>) {
        if self.is_closed() {
            return (Admission::NotAllowed, None);
        }
        let peer = Atom::new(peer_name);
        if peer == self.name {
            return (Admission::NotAllowed, None);
        }
        let mut conns = self.conns.lock();
        match conns.get(&peer) {
            Some(Slot::Up(conn)) if !conn.is_down() => (Admission::Alive, None),
            Some(Slot::Connecting(attempt))
                if attempt.outgoing && !attempt.adopted.load(Ordering::Acquire) =>
            {
                if peer_name > self.name.as_str() {
                    attempt.adopted.store(true, Ordering::Release);
                    (Admission::OkSimultaneous, Some(Arc::clone(attempt)))
                } else {
                    (Admission::Nok, None)
                }
            }
            Some(Slot::Connecting(_)) => (Admission::Nok, None),
            _ => {
                let attempt = Attempt::new(false);
                conns.insert(peer, Slot::Connecting(Arc::clone(&attempt)));
                (Admission::Ok, Some(attempt))
            }
        }
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        for stream in listener.incoming() {
            if self.is_closed() {
                break;
            }
            match stream {
                Ok(stream) => {
                    let inner = Arc::clone(&self);
                    let spawned = thread::Builder::new()
                        .name("erldp-handshake".into())
                        .spawn(move || inner.accept_one(stream));
                    if let Err(err) = spawned {
                        log::error!("cannot start a handshake thread: {err}");
                    }
                }
                Err(err) => {
                    if self.is_closed() {
                        break;
                    }
                    log::warn!("accept failed: {err}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn accept_one(self: Arc<Self>, mut stream: TcpStream) {
        let prepared = stream
            .set_read_timeout(Some(self.setup_timeout))
            .and_then(|_| stream.set_write_timeout(Some(self.setup_timeout)))
            .and_then(|_| stream.set_nodelay(true));
        if let Err(err) = prepared {
            log::warn!("incoming connection: {err}");
            return;
        }
        let mut decision: Option<(Admission, Option<Arc<Attempt>>)> = None;
        let result = handshake::accept(&mut stream, &self.local(), |peer| {
            let (admission, attempt) = self.admit(peer);
            decision = Some((admission, attempt));
            admission
        });
        let (admission, attempt) = decision.unwrap_or((Admission::NotAllowed, None));
        match result {
            Ok(info) => {
                let peer = info.name;
                let attempt = attempt.unwrap_or_else(|| Attempt::new(false));
                if let Err(err) =
                    self.install(stream, info, &attempt, true, admission == Admission::Alive)
                {
                    log::warn!("accepting {peer} failed: {err}");
                }
            }
            Err(err) => {
                match &err {
                    Error::Auth { node } => log::warn!(
                        "connection attempt from {node} rejected: the cookie did not match"
                    ),
                    _ => log::debug!("incoming handshake failed: {err}"),
                }
                if let Some(attempt) = attempt {
                    if let Error::Auth { node } | Error::Connection { node, .. } = &err {
                        self.forget_attempt(Atom::new(node), &attempt);
                    }
                    attempt.finish(Err(err));
                }
            }
        }
    }

    /// Sends a control message to `node`, connecting if needed.
    pub(crate) fn send_control(self: &Arc<Self>, node: Atom, control: &Control) -> Result<()> {
        self.connection(node)?.send(control)
    }

    /// Sends a control message only if a connection is up; used for
    /// clean-up signals that must not cause a connection attempt.
    fn send_if_connected(&self, node: Atom, control: &Control) {
        let conn = match self.conns.lock().get(&node) {
            Some(Slot::Up(conn)) => Arc::clone(conn),
            _ => return,
        };
        let _ = conn.send(control);
    }

    // ---- sending -----------------------------------------------------

    pub(crate) fn send_from(self: &Arc<Self>, from: Pid, dest: &Dest, message: Term) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        match *dest {
            Dest::Pid(to) if to.node == self.name => {
                self.deliver_local(to, Message::message(Some(from), message));
                Ok(())
            }
            Dest::Pid(to) => self.send_control(
                to.node,
                &Control::Send {
                    from: Some(from),
                    to,
                    message,
                },
            ),
            Dest::Name { name, node } if node == self.name => {
                self.on_reg_send(from, name, message);
                Ok(())
            }
            Dest::Name { name, node } => self.send_control(
                node,
                &Control::RegSend {
                    from,
                    to: name,
                    message,
                },
            ),
            Dest::Alias(alias) if alias.node == self.name => {
                self.on_alias_send(from, alias, message);
                Ok(())
            }
            Dest::Alias(alias) => self.send_control(
                alias.node,
                &Control::AliasSend {
                    from,
                    alias,
                    message,
                },
            ),
        }
    }

    /// [`send_from`](Self::send_from) with the message as ETF bytes.
    ///
    /// The bytes are decoded here and the term sent as any other: bad bytes
    /// are an error, never garbage on the wire, and the payload's atoms go
    /// through the atom cache. Framing the bytes as they are would save the
    /// re-encoding, but measured worse: with `seq` written out in every
    /// `{seq, I, Bin}` the BEAM spent more on atom lookups (41-51 ticks of
    /// CPU per 200,000 messages against 29-43) than the client saved.
    pub(crate) fn send_encoded_from(
        self: &Arc<Self>,
        from: Pid,
        dest: &Dest,
        etf: &[u8],
    ) -> Result<()> {
        self.send_from(from, dest, crate::term::decode(etf)?)
    }

    fn deliver_local(self: &Arc<Self>, to: Pid, message: Message) {
        if to == self.system.pid {
            if message.kind == crate::MessageKind::Message {
                self.on_system_message(message.term);
            }
            return;
        }
        if to == self.group_leader.pid {
            return;
        }
        if let Some(process) = self.process(to) {
            process.queue.push(message);
        }
    }

    /// Messages to a registered name of ours, from a peer or from ourselves.
    fn on_reg_send(self: &Arc<Self>, from: Pid, name: Atom, message: Term) {
        match name.as_str() {
            "net_kernel" => self.on_net_kernel(message),
            "rex" => self.on_rex(message),
            _ => match self.whereis(name) {
                Some(process) => process.queue.push(Message::message(Some(from), message)),
                None => log::debug!("message to unregistered name {name} dropped"),
            },
        }
    }

    fn on_alias_send(self: &Arc<Self>, from: Pid, alias: Ref, message: Term) {
        if !self.complete_alias_reply(alias, &message) {
            log::debug!("message to unknown alias from {from:?} dropped");
        }
    }

    /// `net_adm:ping/1` asks `net_kernel` `{is_auth, Node}`; the answer is
    /// `yes` since the handshake already proved the cookie.
    fn on_net_kernel(self: &Arc<Self>, message: Term) {
        if let Some((from, request)) = gen_call(&message) {
            if matches!(request, Term::Tuple(t) if t.len() == 2 && t[0].is_atom("is_auth")) {
                let _ = self.reply(from, Term::atom("yes"));
            }
        }
    }

    /// `rpc:call` aimed at our `rex` gets `{badrpc, notsup}` until handlers
    /// can serve it, rather than hanging the caller.
    fn on_rex(self: &Arc<Self>, message: Term) {
        if let Some((from, _request)) = gen_call(&message) {
            let _ = self.reply(
                from,
                Term::Tuple(vec![Term::atom("badrpc"), Term::atom("notsup")]),
            );
        }
    }

    /// Messages to the system process are replies to calls made with a
    /// plain (non-alias) tag.
    fn on_system_message(self: &Arc<Self>, message: Term) {
        if let Term::Tuple(pair) = &message {
            if pair.len() == 2 {
                if let Some(tag) = call_tag(&pair[0]) {
                    self.complete_alias_reply(tag, &message);
                }
            }
        }
    }

    /// I/O requests from processes our rpcs spawned (their group leader is
    /// ours) go on to the `user` process of the node they came from, which
    /// answers the requester directly: output appears on that node's
    /// standard output, as with `erl_call`.
    fn on_io_request(self: &Arc<Self>, message: Term) {
        let requester = match &message {
            Term::Tuple(fields) if fields.len() == 4 && fields[0].is_atom("io_request") => {
                fields[1].as_pid()
            }
            _ => None,
        };
        match requester {
            Some(requester) if requester.node != self.name => {
                let forward = Control::RegSend {
                    from: self.group_leader.pid,
                    to: crate::atom!("user"),
                    message,
                };
                self.send_if_connected(requester.node, &forward);
            }
            _ => log::debug!("group leader: unexpected message {message}"),
        }
    }

    /// Replies to a `gen_server`-style call: `from` is the `{Pid, Tag}` of
    /// the request. A tag `[alias | Alias]` (`gen_server:call`, OTP 24+) or
    /// `[[alias | Alias] | Mon]` (`gen_server:multi_call`, OTP 27+) is
    /// answered on the alias, exactly as `gen:reply/2` does: a reply that
    /// comes after the caller gave up is then dropped, not left in its mailbox.
    pub(crate) fn reply(self: &Arc<Self>, from: &Term, reply: Term) -> Result<()> {
        let (pid, tag) = match from {
            Term::Tuple(pair) if pair.len() == 2 => match &pair[0] {
                Term::Pid(pid) => (*pid, &pair[1]),
                _ => return Err(Error::invalid(format!("{from} is not a {{Pid, Tag}} pair"))),
            },
            _ => return Err(Error::invalid(format!("{from} is not a {{Pid, Tag}} pair"))),
        };
        let message = Term::Tuple(vec![tag.clone(), reply]);
        let to = reply_alias(tag).map_or(Dest::Pid(pid), Dest::Alias);
        self.send_from(self.system.pid, &to, message)
    }

    // ---- links and monitors --------------------------------------------

    pub(crate) fn link(self: &Arc<Self>, process: &Arc<Process>, other: Pid) -> Result<()> {
        if other == process.pid {
            return Ok(());
        }
        {
            let mut relations = process.relations.lock();
            if relations.closed {
                return Err(Error::Closed);
            }
            if relations.links.get(&other) == Some(&Link::Active) {
                return Ok(());
            }
            relations.links.insert(other, Link::Active);
        }
        if other.node == self.name {
            match self.process(other) {
                Some(peer) => {
                    let mut relations = peer.relations.lock();
                    if relations.closed {
                        drop(relations);
                        self.exit_from_link(process, other, Term::atom("noproc"));
                    } else {
                        relations.links.entry(process.pid).or_insert(Link::Active);
                    }
                }
                None => self.exit_from_link(process, other, Term::atom("noproc")),
            }
            return Ok(());
        }
        if let Err(err) = self.send_control(
            other.node,
            &Control::Link {
                from: process.pid,
                to: other,
            },
        ) {
            process.relations.lock().links.remove(&other);
            return Err(err);
        }
        Ok(())
    }

    fn exit_from_link(&self, process: &Arc<Process>, from: Pid, reason: Term) {
        let active = process.relations.lock().links.remove(&from) == Some(Link::Active);
        if active {
            process.queue.push(Message::exit(from, reason));
        }
    }

    pub(crate) fn unlink(self: &Arc<Self>, process: &Arc<Process>, other: Pid) -> Result<()> {
        let id = {
            let mut relations = process.relations.lock();
            if relations.links.get(&other) != Some(&Link::Active) {
                return Ok(());
            }
            if other.node == self.name {
                relations.links.remove(&other);
                None
            } else {
                relations.next_unlink_id += 1;
                let id = relations.next_unlink_id;
                relations.links.insert(other, Link::Unlinking(id));
                Some(id)
            }
        };
        match id {
            None => {
                if let Some(peer) = self.process(other) {
                    peer.relations.lock().links.remove(&process.pid);
                }
                Ok(())
            }
            Some(id) => {
                let sent = self.send_control(
                    other.node,
                    &Control::UnlinkId {
                        id,
                        from: process.pid,
                        to: other,
                    },
                );
                if sent.is_err() {
                    process.relations.lock().links.remove(&other);
                }
                sent
            }
        }
    }

    pub(crate) fn monitor(self: &Arc<Self>, process: &Arc<Process>, target: &Dest) -> Result<Ref> {
        let (target_ref, node) = match *target {
            Dest::Pid(pid) => (ProcRef::Pid(pid), pid.node),
            Dest::Name { name, node } => (ProcRef::Name(name), node),
            Dest::Alias(_) => {
                return Err(Error::invalid(
                    "an alias cannot be monitored; monitor a pid or [name, node]",
                ))
            }
        };
        let reference = self.make_ref();
        {
            let mut relations = process.relations.lock();
            if relations.closed {
                return Err(Error::Closed);
            }
            relations.monitors.insert(
                reference,
                Monitored {
                    process: target_ref,
                    node,
                },
            );
        }
        if node == self.name {
            let added = self.resolve(target_ref).is_some_and(|watched| {
                let mut relations = watched.relations.lock();
                if relations.closed {
                    false
                } else {
                    relations.watchers.insert(
                        reference,
                        Watcher {
                            pid: process.pid,
                            how: target_ref,
                        },
                    );
                    true
                }
            });
            if !added {
                self.fire_monitor(process, reference, Term::atom("noproc"));
            }
            return Ok(reference);
        }
        if let Err(err) = self.send_control(
            node,
            &Control::MonitorP {
                from: process.pid,
                to: target_ref,
                reference,
            },
        ) {
            process.relations.lock().monitors.remove(&reference);
            return Err(err);
        }
        Ok(reference)
    }

    fn fire_monitor(&self, process: &Arc<Process>, reference: Ref, reason: Term) {
        let monitored = process.relations.lock().monitors.remove(&reference);
        if let Some(monitored) = monitored {
            process
                .queue
                .push(Message::down(reference, &monitored, reason));
        }
    }

    /// Makes the system process watch a local process for a call: a
    /// missing process answers `noproc` at once.
    pub(crate) fn watch_local(self: &Arc<Self>, server: ProcRef, reference: Ref) {
        let system = self.system.pid;
        let added = self.resolve(server).is_some_and(|process| {
            let mut relations = process.relations.lock();
            if relations.closed {
                false
            } else {
                relations.watchers.insert(
                    reference,
                    Watcher {
                        pid: system,
                        how: server,
                    },
                );
                true
            }
        });
        if !added {
            self.complete_down(reference, Term::atom("noproc"));
        }
    }

    pub(crate) fn unwatch_local(&self, server: ProcRef, reference: Ref) {
        if let Some(process) = self.resolve(server) {
            process.relations.lock().watchers.remove(&reference);
        }
    }

    /// A local monitor fired: completes a call, or delivers a `down`.
    fn notify_down(self: &Arc<Self>, watcher: Pid, reference: Ref, reason: Term) {
        if self.complete_down(reference, reason.clone()) {
            return;
        }
        if let Some(process) = self.process(watcher) {
            self.fire_monitor(&process, reference, reason);
        }
    }

    pub(crate) fn demonitor(
        self: &Arc<Self>,
        process: &Arc<Process>,
        reference: Ref,
    ) -> Result<()> {
        let monitored = process.relations.lock().monitors.remove(&reference);
        let Some(monitored) = monitored else {
            return Ok(());
        };
        if monitored.node == self.name {
            if let Some(watched) = self.resolve(monitored.process) {
                watched.relations.lock().watchers.remove(&reference);
            }
            return Ok(());
        }
        self.send_if_connected(
            monitored.node,
            &Control::DemonitorP {
                from: process.pid,
                to: monitored.process,
                reference,
            },
        );
        Ok(())
    }

    pub(crate) fn monitor_node(self: &Arc<Self>, process: &Arc<Process>, node: &str) -> Result<()> {
        let node = Atom::new(node);
        if node == self.name {
            return Ok(());
        }
        let connected = self.connection(node);
        if connected.is_err() {
            process.queue.push(Message::node_down(node));
            return Ok(());
        }
        let mut relations = process.relations.lock();
        if relations.closed {
            return Err(Error::Closed);
        }
        *relations.node_monitors.entry(node).or_insert(0) += 1;
        Ok(())
    }

    pub(crate) fn demonitor_node(&self, process: &Arc<Process>, node: &str) -> Result<()> {
        let node = Atom::new(node);
        let mut relations = process.relations.lock();
        if let Some(count) = relations.node_monitors.get_mut(&node) {
            *count -= 1;
            if *count == 0 {
                relations.node_monitors.remove(&node);
            }
        }
        Ok(())
    }

    /// Ends a process: exit signals to linked processes, `DOWN` to
    /// monitoring ones, demonitors for what it monitored.
    pub(crate) fn close_process(self: &Arc<Self>, process: &Arc<Process>, reason: Term) {
        let relations = {
            let mut relations = process.relations.lock();
            if relations.closed {
                return;
            }
            // What is left behind stays marked closed, so that `is_closed`
            // holds and later links and monitors are refused.
            std::mem::replace(
                &mut *relations,
                Relations {
                    closed: true,
                    ..Relations::default()
                },
            )
        };
        if let Some(name) = process.name.lock().take() {
            let mut names = self.names.write();
            if names.get(&name).is_some_and(|p| Arc::ptr_eq(p, process)) {
                names.remove(&name);
            }
        }
        self.processes.write().remove(&process.pid.id);
        process.close_queue();
        if self.is_closed() {
            return;
        }
        let me = process.pid;
        for (other, link) in relations.links {
            if link != Link::Active {
                continue;
            }
            if other.node == self.name {
                if let Some(peer) = self.process(other) {
                    self.exit_from_link(&peer, me, reason.clone());
                }
            } else {
                self.send_if_connected(
                    other.node,
                    &Control::Exit {
                        from: me,
                        to: other,
                        reason: reason.clone(),
                    },
                );
            }
        }
        for (reference, watcher) in relations.watchers {
            if watcher.pid.node == self.name {
                self.notify_down(watcher.pid, reference, reason.clone());
            } else {
                self.send_if_connected(
                    watcher.pid.node,
                    &Control::MonitorPExit {
                        from: watcher.how,
                        to: watcher.pid,
                        reference,
                        reason: reason.clone(),
                    },
                );
            }
        }
        for (reference, monitored) in relations.monitors {
            if monitored.node == self.name {
                if let Some(watched) = self.resolve(monitored.process) {
                    watched.relations.lock().watchers.remove(&reference);
                }
            } else {
                self.send_if_connected(
                    monitored.node,
                    &Control::DemonitorP {
                        from: me,
                        to: monitored.process,
                        reference,
                    },
                );
            }
        }
    }

    /// Every process that had anything over the lost connection learns of
    /// it: links give `noconnection` exits, monitors `noconnection` downs,
    /// node monitors `nodedown`; pending calls fail.
    fn node_down(self: &Arc<Self>, node: Atom, reason: &str) {
        let processes: Vec<Arc<Process>> = self.processes.read().values().cloned().collect();
        let noconnection = Term::atom("noconnection");
        for process in processes {
            let mut messages = Vec::new();
            {
                let mut relations = process.relations.lock();
                let lost_links: Vec<Pid> = relations
                    .links
                    .keys()
                    .filter(|pid| pid.node == node)
                    .copied()
                    .collect();
                for pid in lost_links {
                    if relations.links.remove(&pid) == Some(Link::Active) {
                        messages.push(Message::exit(pid, noconnection.clone()));
                    }
                }
                let lost_monitors: Vec<Ref> = relations
                    .monitors
                    .iter()
                    .filter(|(_, m)| m.node == node)
                    .map(|(r, _)| *r)
                    .collect();
                for reference in lost_monitors {
                    if let Some(monitored) = relations.monitors.remove(&reference) {
                        messages.push(Message::down(reference, &monitored, noconnection.clone()));
                    }
                }
                relations
                    .watchers
                    .retain(|_, watcher| watcher.pid.node != node);
                if relations.node_monitors.remove(&node).is_some() {
                    messages.push(Message::node_down(node));
                }
            }
            for message in messages {
                process.queue.push(message);
            }
        }
        self.fail_outstanding(node, reason);
    }

    // ---- closing -----------------------------------------------------

    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: the fd belongs to the listener owned by the accept thread,
        // which stays open until that thread sees `closed` and returns;
        // shutdown only wakes its accept().
        unsafe {
            libc::shutdown(self.listener_fd, libc::SHUT_RDWR);
        }
        self.registration.lock().take();
        let processes: Vec<Arc<Process>> = self.processes.write().drain().map(|(_, p)| p).collect();
        self.names.write().clear();
        for process in processes {
            process.relations.lock().closed = true;
            process.close_queue();
        }
        self.fail_all_outstanding();
        let conns: Vec<Slot> = self.conns.lock().drain().map(|(_, slot)| slot).collect();
        for slot in conns {
            match slot {
                Slot::Up(conn) => conn.close("the node closed", Duration::from_millis(500)),
                Slot::Connecting(attempt) => attempt.finish(Err(Error::Closed)),
            }
        }
        self.timer.stop();
        log::info!("node {} closed", self.name);
    }
}

impl Dispatch for NodeInner {
    fn deliver(&self, conn: &Arc<Connection>, control: Control) {
        // Dispatch needs `Arc<Self>` for replies that may connect; the
        // connection holds the node alive for as long as it runs.
        let Some(this) = self.this() else { return };
        this.dispatch(conn, control);
    }

    fn connection_down(&self, conn: &Arc<Connection>, reason: &str) {
        let peer = conn.peer_name();
        self.forget_connection(peer, conn);
        log::info!("connection to {peer} down: {reason}");
        if let Some(this) = self.this() {
            this.node_down(peer, reason);
        }
    }
}

impl NodeInner {
    /// The `Arc` holding this node, for callbacks that only get `&self`.
    fn this(&self) -> Option<Arc<NodeInner>> {
        self.me.upgrade()
    }

    fn dispatch(self: &Arc<Self>, conn: &Arc<Connection>, control: Control) {
        match control {
            Control::Send { from, to, message } => {
                if to == self.group_leader.pid {
                    self.on_io_request(message);
                } else {
                    self.deliver_local(to, Message::message(from, message));
                }
            }
            Control::RegSend { from, to, message } => self.on_reg_send(from, to, message),
            Control::AliasSend {
                from,
                alias,
                message,
            } => self.on_alias_send(from, alias, message),
            Control::Link { from, to } => match self.process(to) {
                Some(process) => {
                    let mut relations = process.relations.lock();
                    if relations.closed {
                        drop(relations);
                        let _ = conn.send(&Control::Exit {
                            from: to,
                            to: from,
                            reason: Term::atom("noproc"),
                        });
                    } else {
                        relations.links.entry(from).or_insert(Link::Active);
                    }
                }
                None => {
                    let _ = conn.send(&Control::Exit {
                        from: to,
                        to: from,
                        reason: Term::atom("noproc"),
                    });
                }
            },
            Control::UnlinkId { id, from, to } => {
                if let Some(process) = self.process(to) {
                    let mut relations = process.relations.lock();
                    if relations.links.get(&from) == Some(&Link::Active) {
                        relations.links.remove(&from);
                    }
                }
                let _ = conn.send(&Control::UnlinkIdAck {
                    id,
                    from: to,
                    to: from,
                });
            }
            Control::UnlinkIdAck { id, from, to } => {
                if let Some(process) = self.process(to) {
                    let mut relations = process.relations.lock();
                    if relations.links.get(&from) == Some(&Link::Unlinking(id)) {
                        relations.links.remove(&from);
                    }
                }
            }
            Control::Exit { from, to, reason } => {
                if let Some(process) = self.process(to) {
                    self.exit_from_link(&process, from, reason);
                }
            }
            Control::Exit2 { from, to, reason } => {
                if let Some(process) = self.process(to) {
                    if to != self.system.pid && to != self.group_leader.pid {
                        process.queue.push(Message::exit(from, reason));
                    }
                }
            }
            Control::MonitorP {
                from,
                to,
                reference,
            } => {
                let added = self.resolve(to).is_some_and(|process| {
                    let mut relations = process.relations.lock();
                    if relations.closed {
                        false
                    } else {
                        relations
                            .watchers
                            .insert(reference, Watcher { pid: from, how: to });
                        true
                    }
                });
                if !added {
                    let _ = conn.send(&Control::MonitorPExit {
                        from: to,
                        to: from,
                        reference,
                        reason: Term::atom("noproc"),
                    });
                }
            }
            Control::DemonitorP { to, reference, .. } => {
                if let Some(process) = self.resolve(to) {
                    process.relations.lock().watchers.remove(&reference);
                }
            }
            Control::MonitorPExit {
                to,
                reference,
                reason,
                ..
            } => {
                if !self.complete_down(reference, reason.clone()) {
                    if let Some(process) = self.process(to) {
                        self.fire_monitor(&process, reference, reason);
                    }
                }
            }
            Control::SpawnRequest { req_id, from, .. } => {
                let _ = conn.send(&Control::SpawnReply {
                    req_id,
                    to: from,
                    flags: 0,
                    result: Term::atom("notsup"),
                });
            }
            Control::SpawnReply {
                req_id,
                to,
                flags,
                result,
            } => self.complete_spawn_reply(conn, req_id, to, flags, result),
            Control::Ignored => {}
        }
    }
}

/// The `{From, Request}` of a `{'$gen_call', From, Request}` message.
pub(crate) fn gen_call(message: &Term) -> Option<(&Term, &Term)> {
    match message {
        Term::Tuple(fields) if fields.len() == 3 && fields[0].is_atom("$gen_call") => {
            match &fields[1] {
                Term::Tuple(from) if from.len() == 2 && matches!(from[0], Term::Pid(_)) => {
                    Some((&fields[1], &fields[2]))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The reference in a call tag: `Ref` or `[alias | Ref]`.
pub(crate) fn call_tag(tag: &Term) -> Option<Ref> {
    match tag {
        Term::Ref(reference) => Some(*reference),
        Term::ImproperList(head, tail) if head.len() == 1 && head[0].is_atom("alias") => {
            match **tail {
                Term::Ref(reference) => Some(reference),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Node {
    /// Starts building a node named `name` (`"ruby"` becomes
    /// `ruby@<short hostname>`; `"ruby@host.example.com"` is used as is).
    pub fn builder(name: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            name: name.into(),
            cookie: None,
            hidden: true,
            epmd: EpmdMode::Auto,
            epmd_port: None,
            listen_port: 0,
            net_ticktime: Duration::from_secs(60),
            setup_timeout: Duration::from_secs(7),
            long_names: None,
            max_message: 1 << 30,
        }
    }

    pub(crate) fn inner(&self) -> &Arc<NodeInner> {
        &self.inner
    }

    /// The full node name, `name@host`.
    pub fn name(&self) -> Atom {
        self.inner.name
    }

    /// The node's incarnation number (from EPMD).
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Whether the node is hidden.
    pub fn is_hidden(&self) -> bool {
        self.inner.hidden
    }

    /// The host part of the node name.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The pid that node-level sends, rpcs and calls come from.
    pub fn pid(&self) -> Pid {
        self.inner.system.pid
    }

    /// Connects to `peer` (handshake included) if not connected yet.
    /// Sending connects on its own; this surfaces connection errors early.
    pub fn connect(&self, peer: &str) -> Result<()> {
        self.inner.connection(Self::node_atom(peer)?).map(|_| ())
    }

    /// Connects to `peer` at a known address, without EPMD; the address is
    /// remembered for reconnects.
    pub fn connect_to(&self, peer: &str, addr: impl ToSocketAddrs) -> Result<()> {
        let peer = Self::node_atom(peer)?;
        let addr = addr
            .to_socket_addrs()
            .map_err(|err| Error::invalid(format!("bad address for {peer}: {err}")))?
            .next()
            .ok_or_else(|| Error::invalid(format!("no address for {peer}")))?;
        self.inner.addresses.lock().insert(peer, addr);
        self.inner.connection(peer).map(|_| ())
    }

    /// `net_adm:ping/1`: `true` for `pong`, `false` for `pang`.
    pub fn ping(&self, peer: &str) -> bool {
        let Ok(peer_atom) = Self::node_atom(peer) else {
            return false;
        };
        if peer_atom == self.inner.name {
            return true;
        }
        let request = Term::Tuple(vec![Term::atom("is_auth"), Term::Atom(self.inner.name)]);
        let dest = Dest::Name {
            name: crate::atom!("net_kernel"),
            node: peer_atom,
        };
        matches!(self.call(&dest, request, self.inner.setup_timeout), Ok(reply) if reply.is_atom("yes"))
    }

    /// The nodes we are connected to.
    pub fn nodes(&self) -> Vec<Atom> {
        let conns = self.inner.conns.lock();
        let mut nodes: Vec<Atom> = conns
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Up(conn) if !conn.is_down() => Some(*name),
                _ => None,
            })
            .collect();
        nodes.sort();
        nodes
    }

    /// A new mailbox, registered under `name` if given.
    pub fn mailbox(&self, name: Option<&str>) -> Result<Mailbox> {
        let process = self.inner.new_mailbox(name)?;
        Ok(Mailbox::new(self.clone(), process))
    }

    /// The local mailbox registered under `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner
            .whereis(Atom::new(name))
            .map(|process| process.pid)
    }

    /// Sends `message` to `dest` from the node's own pid.
    pub fn send(&self, dest: &Dest, message: Term) -> Result<()> {
        self.inner.send_from(self.inner.system.pid, dest, message)
    }

    /// Sends a message given as External Term Format bytes (`131` first, as
    /// `term_to_binary/1` and [`crate::term::encode()`] write them) from the
    /// node's own pid. For bindings that encode in their own language: host
    /// values become ETF there, in one pass with no call across the language
    /// boundary per value, and the bytes are decoded here (malformed ones are
    /// [`Error::Decode`], and nothing is sent).
    pub fn send_encoded(&self, dest: &Dest, etf: &[u8]) -> Result<()> {
        self.inner
            .send_encoded_from(self.inner.system.pid, dest, etf)
    }

    /// Answers a `gen_server:call` that reached one of our mailboxes as
    /// `{'$gen_call', From, Request}`: `from` is that `From`.
    pub fn reply(&self, from: &Term, reply: Term) -> Result<()> {
        self.inner.reply(from, reply)
    }

    /// Closes the node: unregisters from EPMD, closes every connection and
    /// mailbox, and fails pending calls with [`Error::Closed`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    pub(crate) fn node_atom(name: &str) -> Result<Atom> {
        if handshake::valid_node_name(name) {
            Ok(Atom::new(name))
        } else {
            Err(Error::invalid(format!(
                "{name:?} is not a node name (name@host)"
            )))
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("port", &self.inner.port)
            .finish()
    }
}

/// The alias of a call tag as `gen:reply/2` reads it: `[alias | Alias]`, or a list whose head
/// is one (`[[alias | Alias] | Mon]`).
fn reply_alias(tag: &Term) -> Option<Ref> {
    fn alias(term: &Term) -> Option<Ref> {
        match term {
            Term::ImproperList(head, tail) if head.len() == 1 && head[0].is_atom("alias") => {
                match **tail {
                    Term::Ref(alias) => Some(alias),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    alias(tag).or_else(|| match tag {
        Term::ImproperList(head, _) | Term::List(head) => head.first().and_then(alias),
        _ => None,
    })
}
