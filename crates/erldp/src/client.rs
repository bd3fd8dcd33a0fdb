//! A single blocking connection to one node, without threads.
//!
//! [`Node`](crate::Node) runs an acceptor, a reader and a writer thread so
//! that any number of mailboxes and callers can share it. A short-lived
//! program — a command-line tool that makes one call and exits, as
//! `erl_call` does — pays for those threads and gains nothing from them.
//! A [`Client`] is what `ei_connect` gives a C program: it connects out
//! (it does not listen and is not registered in EPMD), and each call writes
//! its request and reads frames on the calling thread until the answer
//! arrives, answering ticks and forwarding I/O requests on the way.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cookie::Secret;
use crate::deadline;
use crate::dest::Dest;
use crate::handshake::{self, Local, Outcome};
use crate::message::Message;
use crate::proto_dist::ProtoDist;
use crate::protocol::explain::Question;
use crate::protocol::frame::{self, Incoming, TICK};
use crate::protocol::identity::{self, Identity, GROUP_LEADER_ID, SYSTEM_ID};
use crate::protocol::{io, noproc, requests, Bounds, Control, Outbound, ProcRef};
use crate::settings::Settings;
use crate::term::{Atom, Pid, Term};
use crate::tls::TlsConfig;
use crate::transport::{Io, Timed, Transport};
use crate::{host, random, resolve, Error, Result};

/// Options for a [`Client`]; made by [`Client::builder`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    name: Option<String>,
    long_names: Option<bool>,
    settings: Settings,
}

impl ClientBuilder {
    /// Our node name (default: a unique `erldp_client_...` name). Without a
    /// host, it gets one of the peer's kind: this host's short name, or for
    /// a long-named peer its fully qualified name (the address we reach the
    /// peer from when there is none). A name with a host of the other kind
    /// than the peer's is refused, as BEAM refuses it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Long names (`name@host.domain`) or short ones, as BEAM's `-name` and
    /// `-sname`: the [name](Self::name) gets this host's fully qualified or
    /// short name when it has no host, and is refused as
    /// [`NodeBuilder::long_names`](crate::NodeBuilder::long_names) refuses
    /// it (a short name whose host has dots; a long one on a host whose
    /// name has no domain); a peer of the other kind is refused too.
    /// Default: the peer's kind.
    pub fn long_names(mut self, long: bool) -> Self {
        self.long_names = Some(long);
        self
    }

    /// The cookie (default: `$HOME/.erlang.cookie`).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.settings.cookie = Some(Secret::new(cookie));
        self
    }

    /// Reach the peer at this port of its host without asking EPMD, as
    /// BEAM's `-erl_epmd_port` has it (see
    /// [`NodeBuilder::dist_port`](crate::NodeBuilder::dist_port)); 0, the
    /// default, asks EPMD.
    pub fn dist_port(mut self, port: u16) -> Self {
        self.settings.dist_port = (port != 0).then_some(port);
        self
    }

    /// Hidden (the default) or visible to the peer's `nodes()`.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.settings.hidden = hidden;
        self
    }

    /// The EPMD port on the peer's host (default: `$ERL_EPMD_PORT`, else 4369).
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.settings.epmd_port = Some(port);
        self
    }

    /// How long connecting (EPMD lookup, TCP, handshake) may take (default 7 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.setup_timeout = timeout;
        self
    }

    /// Like `-kernel net_ticktime`: while waiting for an answer we tick
    /// every quarter of it, and give up on a peer silent for all of it
    /// (default 60 s).
    pub fn net_ticktime(mut self, ticktime: Duration) -> Self {
        self.settings.net_ticktime = ticktime;
        self
    }

    /// TLS distribution, to a node started with `-proto_dist inet_tls`:
    /// the client role of `config` (see
    /// [`NodeBuilder::tls`](crate::NodeBuilder::tls)). Default: plain TCP.
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.settings.tls = Some(config);
        self
    }

    /// IPv6 distribution, to a node started with `-proto_dist inet6_tcp`
    /// (see [`NodeBuilder::ipv6`](crate::NodeBuilder::ipv6)). Default: IPv4.
    pub fn ipv6(mut self, ipv6: bool) -> Self {
        self.settings.ipv6 = ipv6;
        self
    }

    /// Looks `peer` up in EPMD on its host (or takes the
    /// [`dist_port`](Self::dist_port)) and connects.
    pub fn connect(self, peer: &str) -> Result<Client> {
        split_node_name(peer)?;
        let ports = self.settings.peer_ports()?;
        let deadline = deadline::after(self.settings.setup_timeout);
        let proto = self.settings.proto_dist(false)?;
        let addrs = proto.locate(peer, ports, deadline, None)?;
        self.connect_to_addrs(&proto, peer, &addrs, deadline)
    }

    /// Connects to `peer` at a known address, without EPMD. A host name in
    /// `addr` is resolved in the caller's thread for as long as the resolver
    /// takes; [`connect_to_host`](Self::connect_to_host) bounds it.
    pub fn connect_to(self, peer: &str, addr: impl ToSocketAddrs) -> Result<Client> {
        split_node_name(peer)?;
        let mut addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|err| Error::invalid(format!("bad address for {peer}: {err}")))?
            .collect();
        // BEAM nodes listen on IPv4 unless started with -proto_dist inet6_tcp.
        addrs.sort_by_key(|addr| addr.is_ipv4() == self.settings.ipv6);
        let deadline = deadline::after(self.settings.setup_timeout);
        let proto = self.settings.proto_dist(false)?;
        self.connect_to_addrs(&proto, peer, &addrs, deadline)
    }

    /// Connects to `peer` on `port` of `host` (a name or an address), without
    /// EPMD: the host is resolved as a node name's host is, for the client's
    /// address family, within the [timeout](Self::timeout).
    pub fn connect_to_host(self, peer: &str, host: &str, port: u16) -> Result<Client> {
        split_node_name(peer)?;
        let deadline = deadline::after(self.settings.setup_timeout);
        let proto = self.settings.proto_dist(false)?;
        let addrs = proto.addresses(peer, host, port, deadline)?;
        self.connect_to_addrs(&proto, peer, &addrs, deadline)
    }

    fn connect_to_addrs(
        self,
        proto: &ProtoDist,
        peer: &str,
        addrs: &[SocketAddr],
        deadline: Instant,
    ) -> Result<Client> {
        let cookie = self.settings.cookie()?;
        split_node_name(peer)?;
        let given = self.name.unwrap_or_else(|| {
            format!(
                "erldp_client_{}_{:06x}",
                std::process::id(),
                random::u32() & 0xFF_FFFF
            )
        });
        let given = match self.long_names {
            Some(long) => identity::full_name(&given, long, deadline)?,
            None => given,
        };
        let qualified = qualified_host(&given, peer, deadline)?;
        let transport = proto.connect(peer, addrs, deadline, None)?;
        let name = client_name(&given, self.long_names, peer, qualified, &*transport)?;
        let local = Local {
            name: &name,
            flags: self.settings.flags(),
            creation: random::nonzero_u32(),
            cookie: &cookie,
        };
        Client::handshake(
            transport,
            proto,
            peer,
            &local,
            self.settings.net_ticktime,
            deadline,
        )
    }
}

/// This host's fully qualified name when our name needs it (given without a host, to a
/// long-named peer), asked before connecting so that the peer's handshake time is not spent
/// on it. `None` when it is not needed, the resolver knows none, or it cannot take the
/// question now (`client_name` then takes the address we reach the peer from); a resolver
/// that does not answer by `deadline` is a timeout, since the connect's time is gone.
fn qualified_host(given: &str, peer: &str, deadline: Instant) -> Result<Option<String>> {
    if given.contains('@') || !identity::is_long_name(peer) {
        return Ok(None);
    }
    match resolve::fully_qualified_hostname(deadline) {
        Ok(host) => Ok(host),
        Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
            Err(identity::unknown_fully_qualified_hostname(given, &err))
        }
        Err(_) => Ok(None),
    }
}

/// Our full name for a connection to `peer` over `transport`: `given` when it has a host,
/// else one of the peer's kind (long names talk only to long names), on this host's short
/// name, or for a long-named peer its `qualified` name, or when it has none the address we
/// reach the peer from (a client is never connected back to, so any name the peer accepts
/// will do).
fn client_name(
    given: &str,
    long_names: Option<bool>,
    peer: &str,
    qualified: Option<String>,
    transport: &dyn Transport,
) -> Result<String> {
    let name = if given.contains('@') {
        given.to_string()
    } else if identity::is_long_name(peer) {
        match qualified {
            Some(host) => format!("{given}@{host}"),
            None => {
                let ip = transport
                    .local_ip()
                    .map_err(|err| Error::io("reading our address", &err))?;
                format!("{given}@{ip}")
            }
        }
    } else {
        format!("{given}@{}", host::short_hostname())
    };
    if !identity::valid_node_name(&name) {
        return Err(Error::invalid(format!(
            "node name {name:?} must be name@host"
        )));
    }
    let long = long_names.unwrap_or_else(|| identity::is_long_name(&name));
    identity::check_peer_name(long, peer)?;
    Ok(name)
}

fn split_node_name(peer: &str) -> Result<(&str, &str)> {
    identity::node_atom(peer)?;
    Ok(peer.split_once('@').expect("checked by node_atom"))
}

/// A blocking connection to one node, used from one thread (see the
/// module documentation). Dropping it closes the connection.
pub struct Client {
    transport: Box<dyn Transport>,
    peer: Atom,
    identity: Identity,
    outbound: Outbound,
    reader: frame::Reader,
    out: Vec<u8>,
    /// The pid our requests come from.
    me: Pid,
    /// The group leader of processes our rpcs spawn.
    group_leader: Pid,
    net_ticktime: Duration,
    last_sent: Instant,
    last_heard: Instant,
    interrupted: Arc<AtomicBool>,
    /// Whether an [`Interrupter`] was handed out: reads then wake often
    /// enough to see it, should its signal not interrupt them.
    interruptible: bool,
}

/// How long a read blocks at most once an [`Interrupter`] is out: a signal
/// that lands between the check and the read, or on another thread, leaves
/// the read to end by itself.
const INTERRUPT_POLL: Duration = Duration::from_millis(200);

/// Ends a [`Client`]'s waits from elsewhere: from another thread, or from
/// a signal handler (see [`Client::interrupter`]).
#[derive(Clone, Debug)]
pub struct Interrupter(Arc<AtomicBool>);

impl Interrupter {
    /// Ends the client's wait under way and every later one, as their
    /// deadlines would: an rpc's remote worker is killed, and the call
    /// fails with [`Error::Timeout`] saying it was interrupted. One atomic
    /// store, so a signal handler may call it; a wait blocked reading the
    /// socket sees it when the read returns: at once when the signal
    /// interrupts the read (`EINTR`, a handler installed without
    /// `SA_RESTART`), else within a fifth of a second.
    pub fn interrupt(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            name: None,
            long_names: None,
            settings: Settings::default(),
        }
    }

    fn handshake(
        transport: Box<dyn Transport>,
        proto: &ProtoDist,
        peer: &str,
        local: &Local,
        net_ticktime: Duration,
        deadline: Instant,
    ) -> Result<Client> {
        let framing = proto.framing();
        let info = match handshake::initiate(
            &mut Timed::new(&*transport, deadline),
            framing,
            local,
            peer,
            || true,
        )? {
            Outcome::Connected(info) => info,
            Outcome::LostSimultaneous => {
                return Err(Error::connection(
                    peer,
                    "the peer refused: it is connecting to a node of this name",
                ))
            }
        };
        transport.set_write_timeout(None)?;
        log::debug!(
            "handshake with {peer} (outgoing) succeeded; flags in use {:#x}",
            info.flags
        );
        log::info!(
            "client {} connected to {peer} (creation {})",
            local.name,
            info.creation
        );
        let identity = Identity::new(Atom::new(local.name), local.creation);
        Ok(Client {
            transport,
            peer: info.name,
            outbound: Outbound::new(info.flags),
            reader: frame::Reader::new(Bounds::default()),
            out: Vec::with_capacity(256),
            me: identity.pid(SYSTEM_ID),
            group_leader: identity.pid(GROUP_LEADER_ID),
            identity,
            net_ticktime,
            last_sent: Instant::now(),
            last_heard: Instant::now(),
            interrupted: Arc::default(),
            interruptible: false,
        })
    }

    /// The peer's node name.
    pub fn peer(&self) -> Atom {
        self.peer
    }

    /// Our node name.
    pub fn name(&self) -> Atom {
        self.identity.name()
    }

    /// The pid messages from this client come from; replies sent to it are
    /// what [`receive`](Self::receive) returns.
    pub fn pid(&self) -> Pid {
        self.me
    }

    /// What ends this client's waits from elsewhere, e.g. on Ctrl-C: a
    /// command-line tool that stores it where its `SIGINT` handler finds it
    /// gets a clean stop, the remote worker of an rpc under way killed (as
    /// on timeout) instead of left running.
    pub fn interrupter(&mut self) -> Interrupter {
        self.interruptible = true;
        Interrupter(Arc::clone(&self.interrupted))
    }

    fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn send_control(&mut self, control: &Control) -> Result<()> {
        self.out.clear();
        let len = frame::append(&mut self.out, &mut self.outbound, control)?;
        log::trace!("-> {} {} ({len} bytes)", self.peer, control.kind());
        Io(&*self.transport)
            .write_all(&self.out)
            .map_err(|err| self.lost(&format!("write failed: {err}")))?;
        self.last_sent = Instant::now();
        Ok(())
    }

    fn lost(&self, reason: &str) -> Error {
        Error::connection(self.peer, format!("connection lost: {reason}"))
    }

    /// Sends `message` to `dest` on the peer node.
    pub fn send(&mut self, dest: &Dest, message: Term) -> Result<()> {
        if let Dest::Global(name) = dest {
            return Err(Error::invalid(format!(
                "the global name {name} is resolved by a Node, not a Client"
            )));
        }
        if dest.node() != self.peer {
            return Err(Error::invalid(format!(
                "{dest} is not on {}, the node this client is connected to",
                self.peer
            )));
        }
        self.send_control(&requests::send(self.me, dest, message)?)
    }

    /// Calls `module:function(args...)` on the peer, like
    /// [`Node::rpc`](crate::Node::rpc) (the same protocol, results and
    /// errors, Elixir exceptions put in words the same way, in the time
    /// left). On timeout the remote worker is killed.
    pub fn rpc(
        &mut self,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term> {
        let deadline = deadline::after(timeout);
        let (module, function) = requests::rpc_names(module, function)?;
        let err = match self.rpc_until(module, function, args, deadline, timeout) {
            Err(err) => err,
            done => return done,
        };
        let Some(question) = Question::about(&err) else {
            return Err(err);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(err);
        }
        let (module, function, args) = question.rpc();
        let answer = self.rpc_until(module, function, args, deadline, left);
        Err(question.explain(err, answer))
    }

    /// One rpc, answered by `deadline` (`timeout` from its start).
    fn rpc_until(
        &mut self,
        module: Atom,
        function: Atom,
        args: Vec<Term>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Term> {
        let operation = format!(
            "rpc {}:{}/{} on {}",
            module.as_str(),
            function.as_str(),
            args.len(),
            self.peer
        );
        let req_id = self.identity.make_ref();
        let request =
            requests::rpc_request(req_id, self.me, self.group_leader, module, function, args);
        self.send_control(&request)?;
        let peer = self.peer;
        let mut worker = None;
        let outcome = self.wait(deadline, |control| match control {
            Control::SpawnReply {
                req_id: r, result, ..
            } if r == req_id => match requests::rpc_spawned(result) {
                Ok(pid) => {
                    worker = Some(pid);
                    None
                }
                Err(err) => Some(Err(err)),
            },
            Control::MonitorPExit {
                reference, reason, ..
            } if reference == req_id => Some(requests::rpc_result(req_id, peer, reason)),
            _ => None,
        });
        if let Some(result) = outcome {
            return result;
        }
        if let Some(worker) = worker {
            for undo in requests::rpc_abandon(self.me, worker, req_id) {
                let _ = self.send_control(&undo);
            }
        }
        Err(if self.is_interrupted() {
            Error::timeout(format!("{operation}: interrupted"))
        } else {
            Error::timeout(format!(
                "{operation}: no answer within {} ms",
                timeout.as_millis()
            ))
        })
    }

    /// `gen_server:call(Dest, Request, Timeout)` on the peer.
    pub fn call(&mut self, dest: &Dest, request: Term, timeout: Duration) -> Result<Term> {
        let server = requests::call_server(dest)?;
        let deadline = deadline::after(timeout);
        let reference = self.identity.make_ref();
        let from = self.me;
        self.send_control(&Control::MonitorP {
            from,
            to: server,
            reference,
        })?;
        self.send(dest, requests::call_request(from, reference, request))?;
        let peer = self.peer;
        let reply_of = |message: &Term| match requests::call_reply(message) {
            Some((tag, reply)) if tag == reference => Some(reply.clone()),
            _ => None,
        };
        let outcome = self.wait(deadline, |control| match control {
            Control::AliasSend { alias, message, .. } if alias == reference => {
                reply_of(&message).map(Ok)
            }
            Control::Send { message, .. } => reply_of(&message).map(Ok),
            Control::MonitorPExit {
                reference: r,
                reason,
                ..
            } if r == reference => Some(Err(requests::call_failure(peer, server, reason))),
            _ => None,
        });
        let _ = self.send_control(&Control::DemonitorP {
            from,
            to: server,
            reference,
        });
        outcome.unwrap_or_else(|| {
            Err(Error::timeout(format!(
                "gen_server call to {dest}: no answer within {} ms",
                timeout.as_millis()
            )))
        })
    }

    /// `net_adm:ping/1` of the peer: whether it answers `is_auth`.
    pub fn ping(&mut self, timeout: Duration) -> bool {
        let (dest, request) = requests::ping_request(self.name(), self.peer);
        matches!(self.call(&dest, request, timeout), Ok(reply) if requests::is_pong(&reply))
    }

    /// Waits up to `timeout` for a message sent to this client's pid (or to
    /// a name it does not have: a client has no registered names).
    pub fn receive(&mut self, timeout: Duration) -> Result<Option<Message>> {
        let deadline = deadline::after(timeout);
        let outcome = self.wait(deadline, |control| match control {
            Control::Send { from, message, .. } => Some(Ok(Message::plain(from, message))),
            Control::RegSend { from, message, .. } | Control::AliasSend { from, message, .. } => {
                Some(Ok(Message::plain(Some(from), message)))
            }
            _ => None,
        });
        outcome.transpose()
    }

    /// Reads and handles frames until `done` picks an answer out of one, or
    /// the deadline passes (`None`). Ticks are sent, I/O requests from
    /// spawned processes forwarded, links and monitors aimed at pids we do
    /// not have refused as a process that does not exist would.
    fn wait<T>(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(Control) -> Option<Result<T>>,
    ) -> Option<Result<T>> {
        loop {
            let control = match self.next_control(deadline) {
                Ok(Some(control)) => control,
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            };
            let ours = |pid: Pid| pid == self.me || pid == self.group_leader;
            let control = match control {
                Control::Send { to, message, .. } if to == self.group_leader => {
                    if let Ok((_, forward)) =
                        io::forward(self.group_leader, self.name(), self.peer, message)
                    {
                        let _ = self.send_control(&forward);
                    }
                    continue;
                }
                // Our two pids live as long as the connection: links and
                // monitors on them stand (io:format monitors its group
                // leader); anything else does not exist.
                Control::Link { to, .. }
                | Control::MonitorP {
                    to: ProcRef::Pid(to),
                    ..
                } if ours(to) => continue,
                Control::DemonitorP { .. } => continue,
                other => match noproc::answer(&other) {
                    Some(answer) => {
                        let _ = self.send_control(&answer);
                        continue;
                    }
                    None => other,
                },
            };
            if let Some(result) = done(control) {
                return Some(result);
            }
        }
    }

    /// The next control message, `None` at the deadline.
    fn next_control(&mut self, deadline: Instant) -> Result<Option<Control>> {
        loop {
            match self.reader.next().map_err(|reason| self.lost(&reason))? {
                Some(Incoming::Frame(frame)) => {
                    let len = frame.len();
                    match self
                        .reader
                        .decode(frame)
                        .map_err(|reason| self.lost(&reason))?
                    {
                        Some(control) => {
                            log::trace!("<- {} {} ({len} bytes)", self.peer, control.kind());
                            return Ok(Some(control));
                        }
                        None => log::trace!("<- {} fragment ({len} bytes)", self.peer),
                    }
                    continue;
                }
                Some(Incoming::Tick) => {
                    log::trace!("<- {} tick", self.peer);
                    continue;
                }
                None => {}
            }
            let now = Instant::now();
            if now >= deadline || self.is_interrupted() {
                return Ok(None);
            }
            let tick = self.net_ticktime / 4;
            if now.duration_since(self.last_sent) >= tick {
                log::trace!("-> {} tick", self.peer);
                Io(&*self.transport)
                    .write_all(&TICK)
                    .map_err(|err| self.lost(&format!("write failed: {err}")))?;
                self.last_sent = now;
            }
            if now.duration_since(self.last_heard) >= self.net_ticktime {
                return Err(self.lost("nothing heard from the peer for net_ticktime"));
            }
            let mut wait = deadline.duration_since(now).min(tick);
            if self.interruptible {
                wait = wait.min(INTERRUPT_POLL);
            }
            let wait = wait.max(Duration::from_millis(1));
            self.transport.set_read_timeout(Some(wait))?;
            match self.transport.read_into(self.reader.buffer()) {
                Ok(0) => return Err(self.lost("the peer closed the connection")),
                Ok(_) => self.last_heard = Instant::now(),
                Err(err) => match err.kind() {
                    std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted => {}
                    _ => return Err(self.lost(&format!("read failed: {err}"))),
                },
            }
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name())
            .field("peer", &self.peer)
            .finish()
    }
}
