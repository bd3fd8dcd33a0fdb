//! The node: a named distribution endpoint inside the host program.
//!
//! It listens for connections, registers its name with EPMD, connects out on
//! demand (the first send to a node connects to it), keeps one connection
//! per peer — resolving simultaneous connects the way `dist_util` does — and
//! routes every incoming signal to the mailbox, call or rpc it is for.
//! Built-in processes answer what Erlang expects any node to answer:
//! `net_adm:ping/1` (`net_kernel`'s `is_auth`), I/O requests from rpc'd code
//! (forwarded to the caller's node's `user`); what the program serves and
//! exposes answers calls, rpcs and spawn requests.
//!
//! - `connections`: the connection table, connecting, accepting,
//!   simultaneous connects.
//! - `registry`: the processes of the node by pid and by registered name.
//! - `signals`: processes, links, monitors and exit signals.
//! - `builtins`: the processes every node has (`net_kernel`, `rex`, the
//!   group leader of our rpcs).
//! - `dispatch`: where each incoming control message goes, and sending.
//! - `calls`: rpcs and `gen_server` calls we make, waiting for answers.
//! - `serving`: served names, exposed modules, spawn requests and `rex`.
//! - `holds`: the links and monitors each peer holds on our processes.
//! - `events`: node up and down, for `monitor_nodes` and the cluster.
//! - `cluster`: global and pg: their processes, the thread that drives
//!   them, and the API on top.

/// The target of the node's log records, whichever part logs them: one
/// name for a program's logger to select (see [`logging`](crate::logging)).
const LOG: &str = "erldp::node";

mod builder;
mod builtins;
mod calls;
mod cluster;
mod connections;
mod dispatch;
mod events;
mod holds;
mod registry;
mod serving;
mod signals;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::sync::Mutex;

pub use self::builder::{EpmdMode, NodeBuilder};
use self::builtins::Builtins;
use self::calls::Requests;
use self::cluster::Cluster;
pub use self::cluster::{ClusterLimits, DEFAULT_SCOPE};
use self::connections::Connections;
use self::events::NodeEvents;
use self::registry::Registry;
use self::serving::Serving;
pub use self::serving::{Exposed, Served};
pub(crate) use self::signals::Process;
use crate::connection::Backlog;
use crate::dest::Dest;
use crate::epmd;
use crate::fast_map::FastMap;
use crate::handshake::Local;
use crate::pending::Timer;
use crate::proto_dist::{PeerPorts, ProtoDist};
use crate::protocol::identity::{self, Identity};
use crate::protocol::requests;
use crate::term::{Atom, AtomBudget, Limits, Pid, Ref, Term};
use crate::threads::Threads;
use crate::transport::ListenerStop;
use crate::{deadline, random, Error, Result};

/// A running node. Cloning gives another handle to the same node; the node
/// closes when the last handle (and the last [`Mailbox`](crate::Mailbox)) is dropped, or
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

pub(crate) struct NodeInner {
    me: Weak<NodeInner>,
    identity: Identity,
    host: String,
    cookie: String,
    flags: u64,
    hidden: bool,
    /// Long names (`name@host.domain`): peers must have them too.
    long_names: bool,
    epmd_mode: EpmdMode,
    peer_ports: PeerPorts,
    port: u16,
    /// A peer silent this long is down; we tick every quarter of it.
    net_ticktime: Duration,
    /// The largest message accepted from a peer.
    max_message: usize,
    /// What decoding one of a peer's messages may build.
    limits: Limits,
    /// How many messages may arrive in fragments at once per connection.
    max_fragmented: usize,
    /// Each peer's [`AtomBudget`], kept for the node's life: the atoms it
    /// added stay in the table when its connection goes.
    peer_atoms: Mutex<FastMap<Atom, Arc<AtomBudget>>>,
    atoms_per_peer: usize,
    setup_timeout: Duration,
    /// IPv4 or IPv6, TLS or not.
    proto: ProtoDist,
    max_pending_handshakes: usize,
    max_monitors_per_peer: usize,
    backlog: Backlog,
    mailbox_queue_limit: Option<usize>,
    listener: ListenerStop,
    registration: Mutex<Option<epmd::Registration>>,
    closed: AtomicBool,
    conns: Connections,
    registry: Registry,
    requests: Requests,
    timer: Arc<Timer>,
    /// The accept loop, the connections' threads and the threads that
    /// connect, accept and disconnect them, waited for on close.
    threads: Threads,
    builtins: Builtins,
    serving: Serving,
    node_events: NodeEvents,
    cluster: Cluster,
}

impl NodeInner {
    fn start(options: NodeBuilder) -> Result<Node> {
        crate::fork::guard_forks();
        let long = options
            .long_names
            .unwrap_or_else(|| options.name.contains('@') && identity::is_long_name(&options.name));
        let full_name = identity::full_name(
            &options.name,
            long,
            deadline::after(options.settings.setup_timeout),
        )?;
        if !identity::valid_node_name(&full_name) {
            return Err(Error::invalid(format!(
                "node name {full_name:?} must be name@host with letters, digits, '_' or '-' in the \
                 name, no white space or control characters in the host, 255 characters at most"
            )));
        }
        let (alive, host) = full_name.split_once('@').expect("a valid node name");
        let (alive, host) = (alive.to_string(), host.to_string());
        let settings = &options.settings;
        let cookie = settings.cookie()?;
        let epmd_port = settings.epmd_port()?;
        let peer_ports = settings.peer_ports()?;
        let listen_port = match (settings.dist_port, options.listen_port) {
            (Some(port), 0) => port,
            (Some(port), listen) if listen != port => {
                return Err(Error::invalid(format!(
                    "dist_port {port} is the port this node listens on too: listen_port {listen} \
                     contradicts it"
                )))
            }
            (_, listen) => listen,
        };
        if settings.net_ticktime < Duration::from_millis(400) {
            return Err(Error::invalid("net_ticktime must be at least 0.4 s"));
        }

        let proto = settings.proto_dist(true)?;
        let cannot_listen = |err: std::io::Error| {
            Error::io(format_args!("cannot listen on port {listen_port}"), &err)
        };
        let listener = proto.listen(listen_port).map_err(cannot_listen)?;
        let port = listener.port()?;
        let stopper = listener.stopper()?;

        let register = || {
            epmd::register(
                epmd_port,
                &alive,
                port,
                settings.hidden,
                settings.setup_timeout,
            )
        };
        let registration = match options.epmd {
            EpmdMode::None => None,
            // As BEAM with -erl_epmd_port: peers find us at the one port, so registering is
            // for the EPMD that answers, if any; none is started, and a failure is no reason
            // not to run.
            EpmdMode::Auto if settings.dist_port.is_some() => register()
                .inspect_err(|err| {
                    log::info!(target: LOG, "not registered in EPMD, which dist_port does without: {err}");
                })
                .ok(),
            mode => {
                if mode == EpmdMode::Auto
                    && epmd::ensure_running_with(epmd_port, options.embedded_epmd)?
                {
                    log::info!(target: LOG, "no EPMD answered on port {epmd_port}: started one in this process");
                }
                Some(register()?)
            }
        };
        if registration.is_some() {
            log::debug!(target: LOG, "registered {alive} (port {port}) in EPMD on port {epmd_port}");
        }
        let creation = registration
            .as_ref()
            .map(epmd::Registration::creation)
            .unwrap_or_else(random::nonzero_u32);

        let identity = Identity::new(Atom::new(&full_name), creation);
        let flags = settings.flags();
        let builtins = Builtins::new(&identity);
        let registry = Registry::new(&builtins.processes());

        let inner = Arc::new_cyclic(|me| NodeInner {
            me: me.clone(),
            identity,
            host,
            cookie,
            flags,
            hidden: settings.hidden,
            long_names: long,
            epmd_mode: options.epmd,
            peer_ports,
            port,
            net_ticktime: settings.net_ticktime,
            max_message: options.max_message,
            limits: Limits {
                max_terms: options.max_message_terms,
                ..Limits::default()
            },
            max_fragmented: options.max_fragmented_messages,
            peer_atoms: Mutex::new(FastMap::default()),
            atoms_per_peer: options.max_atoms_per_peer,
            setup_timeout: settings.setup_timeout,
            proto,
            max_pending_handshakes: options.max_pending_handshakes,
            max_monitors_per_peer: options.max_monitors_per_peer,
            backlog: Backlog {
                limit: options.send_queue_limit,
                timeout: options.send_timeout,
            },
            mailbox_queue_limit: options.mailbox_queue_limit,
            listener: stopper,
            registration: Mutex::new(registration),
            closed: AtomicBool::new(false),
            conns: Connections::default(),
            registry,
            requests: Requests::default(),
            timer: Timer::new(),
            threads: Threads::default(),
            builtins,
            serving: Serving::new(&alive, options.handler_threads),
            node_events: NodeEvents::default(),
            cluster: Cluster::default(),
        });
        if let Err(err) = inner.start_cluster(options.cluster) {
            inner.close();
            return Err(err);
        }
        {
            let accepting = Arc::clone(&inner);
            inner
                .threads
                .spawn(format!("erldp-accept-{alive}"), move || {
                    accepting.accept_loop(listener);
                })?;
        }
        log::info!(target: LOG, "node {} started on port {port} ({}, creation {creation})",
            inner.name(), inner.proto.name()
        );
        let guard = Arc::new(CloseOnDrop(Arc::clone(&inner)));
        Ok(Node {
            inner,
            _guard: guard,
        })
    }

    fn local(&self) -> Local<'_> {
        Local {
            name: self.identity.name_str(),
            flags: self.flags,
            creation: self.identity.creation(),
            cookie: &self.cookie,
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn name(&self) -> Atom {
        self.identity.name()
    }

    /// The `Arc` holding this node, for callbacks that only get `&self`.
    fn this(&self) -> Option<Arc<NodeInner>> {
        self.me.upgrade()
    }

    /// Closes the node, then waits for its threads (see [`threads`](crate::threads)):
    /// every call waits, the first one closes. Handlers go first: what
    /// a handler running at the close does is over before the rest is
    /// waited for.
    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _closing = crate::threads::Closing::enter();
            self.stop_cluster();
            self.listener.stop();
            self.registration.lock().take();
            for process in self.registry.drain() {
                process.close_for_good();
            }
            self.serving.close();
            self.fail_all_outstanding();
            self.close_connections();
            self.timer.stop();
            log::info!(target: LOG, "node {} closed", self.name());
        }
        self.serving.join();
        self.timer.join();
        self.threads.join_all();
    }
}

impl Node {
    /// The full node name, `name@host`.
    pub fn name(&self) -> Atom {
        self.inner.name()
    }

    /// The node's incarnation number (from EPMD).
    pub fn creation(&self) -> u32 {
        self.inner.identity.creation()
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
        self.inner.system_pid()
    }

    /// The local mailbox registered under `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner
            .registry
            .whereis(Atom::new(name))
            .map(|process| process.pid())
    }

    /// Sends `message` to `dest` from the node's own pid.
    pub fn send(&self, dest: &Dest, message: Term) -> Result<()> {
        self.inner.send_from(self.pid(), dest, message)
    }

    /// Sends a message given as External Term Format bytes (`131` first, as
    /// `term_to_binary/1` and [`crate::term::encode()`] write them) from the
    /// node's own pid. For bindings that encode in their own language: host
    /// values become ETF there, in one pass with no call across the language
    /// boundary per value, and the bytes are decoded here (malformed ones are
    /// [`Error::Decode`], and nothing is sent). From 64 KiB, to another node,
    /// they are checked by the same decoder without copying their binaries
    /// and framed as given.
    pub fn send_encoded(&self, dest: &Dest, etf: &[u8]) -> Result<()> {
        self.inner.send_encoded_from(self.pid(), dest, etf)
    }

    /// Answers a `gen_server:call` that reached one of our mailboxes as
    /// `{'$gen_call', From, Request}` (`from` is that `From`), or a served
    /// name's handler that returned [`Reply::NoReply`](crate::Reply::NoReply)
    /// (`from` is the request's [`from`](crate::serve::Request::from)). Sent
    /// as `gen:reply/2` sends it: on the caller's alias (OTP 24+), so that a
    /// reply after the caller gave up is dropped.
    pub fn reply(&self, from: &Term, reply: Term) -> Result<()> {
        let (dest, message) = requests::reply(from, reply)?;
        self.send(&dest, message)
    }

    /// Closes the node: unregisters from EPMD, closes every connection and
    /// mailbox, and fails pending calls with [`Error::Closed`]. Returns when
    /// the node's threads have ended, so that nothing of it runs on: the
    /// handlers of [`serve`](Self::serve) and [`expose`](Self::expose) that
    /// run return first (their replies fail), and the sockets of connects
    /// and handshakes under way (EPMD look-ups included) are shut down, so
    /// they end at once rather than at the
    /// [setup timeout](crate::NodeBuilder::setup_timeout).
    /// Called on one of those threads (from a callback or a handler), it
    /// cannot wait for itself, nor for another that may wait for it: then
    /// they end right after. Closing again from another thread waits for
    /// them.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// What the processes of our node that the host program holds (mailboxes)
/// ask of the node.
impl Node {
    /// A new process, registered under `name` if given.
    pub(crate) fn spawn_process(&self, name: Option<&str>) -> Result<Arc<Process>> {
        self.inner.spawn_process(name)
    }

    /// Registers `name` for `process`.
    pub(crate) fn register(&self, process: &Arc<Process>, name: &str) -> Result<()> {
        self.inner.registry.register(process, name)
    }

    /// Takes `process`'s registered name away, if it has one.
    pub(crate) fn unregister(&self, process: &Arc<Process>) {
        self.inner.registry.unregister(process);
    }

    /// Sends from one of our processes.
    pub(crate) fn send_from(&self, from: Pid, dest: &Dest, message: Term) -> Result<()> {
        self.inner.send_from(from, dest, message)
    }

    /// [`send_from`](Self::send_from) with the message as ETF bytes.
    pub(crate) fn send_encoded_from(&self, from: Pid, dest: &Dest, etf: &[u8]) -> Result<()> {
        self.inner.send_encoded_from(from, dest, etf)
    }

    pub(crate) fn link(&self, process: &Arc<Process>, other: Pid) -> Result<()> {
        self.inner.link(process, other)
    }

    pub(crate) fn unlink(&self, process: &Arc<Process>, other: Pid) -> Result<()> {
        self.inner.unlink(process, other)
    }

    pub(crate) fn monitor(&self, process: &Arc<Process>, target: &Dest) -> Result<Ref> {
        self.inner.monitor(process, target)
    }

    pub(crate) fn demonitor(&self, process: &Arc<Process>, reference: Ref) -> Result<()> {
        self.inner.demonitor(process, reference)
    }

    pub(crate) fn monitor_node(&self, process: &Arc<Process>, node: &str) -> Result<()> {
        self.inner.monitor_node(process, node)
    }

    pub(crate) fn demonitor_node(&self, process: &Arc<Process>, node: &str) {
        process.demonitor_node(Atom::new(node));
    }

    /// Ends `process`: links and monitors learn `reason`.
    pub(crate) fn close_process(&self, process: &Arc<Process>, reason: Term) {
        self.inner.close_process(process, reason);
    }

    /// The timer that times out waits with callbacks.
    pub(crate) fn timer(&self) -> &Arc<Timer> {
        &self.inner.timer
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name())
            .field("port", &self.port())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Node;

    #[test]
    fn a_builders_debug_leaves_the_secrets_out() {
        let tls = || crate::tls::TlsConfig::new("c.pem", "k.pem", "ca.pem").password("KEYPASSWORD");
        let builder = Node::builder("debug").cookie("SECRETCOOKIE").tls(tls());
        let text = format!("{builder:?}");
        assert!(!text.contains("SECRETCOOKIE"), "{text}");
        assert!(!text.contains("KEYPASSWORD"), "{text}");
        assert!(text.contains(r#"cookie: Some("<hidden>")"#), "{text}");
        assert!(text.contains(r#"password: Some("<hidden>")"#), "{text}");
        assert!(text.contains(r#"name: "debug""#), "{text}");
        assert!(text.contains(r#"keyfile: Some("k.pem")"#), "{text}");

        let client = crate::Client::builder().cookie("SECRETCOOKIE").tls(tls());
        let text = format!("{client:?}");
        assert!(!text.contains("SECRETCOOKIE"), "{text}");
        assert!(!text.contains("KEYPASSWORD"), "{text}");
        assert!(text.contains(r#"cookie: Some("<hidden>")"#), "{text}");
    }
}
