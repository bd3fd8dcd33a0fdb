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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use crate::dist::{Control, Inbound, Outbound, ProcRef};
use crate::handshake::{self, flags, Framing, Local, Outcome};
use crate::rpc::{call_failure, rpc_result};
use crate::term::{Atom, Pid, Ref, Term};
use crate::{epmd, util, Dest, Error, Result};

/// Options for a [`Client`]; made by [`Client::builder`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    name: Option<String>,
    cookie: Option<String>,
    hidden: bool,
    epmd_port: Option<u16>,
    timeout: Duration,
    net_ticktime: Duration,
}

impl ClientBuilder {
    /// Our node name (default: a unique `erldp_client_...` name on this
    /// host, long when the peer's host has a dot).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The cookie (default: `$HOME/.erlang.cookie`).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(cookie.into());
        self
    }

    /// Hidden (the default) or visible to the peer's `nodes()`.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// The EPMD port on the peer's host (default: `$ERL_EPMD_PORT`, else 4369).
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.epmd_port = Some(port);
        self
    }

    /// How long connecting (EPMD lookup, TCP, handshake) may take (default 7 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Like `-kernel net_ticktime`: while waiting for an answer we tick
    /// every quarter of it, and give up on a peer silent for all of it
    /// (default 60 s).
    pub fn net_ticktime(mut self, ticktime: Duration) -> Self {
        self.net_ticktime = ticktime;
        self
    }

    /// Looks `peer` up in EPMD on its host and connects.
    pub fn connect(self, peer: &str) -> Result<Client> {
        let (alive, host) = split_node_name(peer)?;
        let epmd_port = match self.epmd_port {
            Some(port) => port,
            None => epmd::port_from_env()?,
        };
        let deadline = Instant::now() + self.timeout;
        // Resolved once, for EPMD and the node alike: a name lookup costs a
        // few file reads and socket calls, a visible share of a one-shot call.
        let mut hosts: Vec<SocketAddr> = (host, epmd_port)
            .to_socket_addrs()
            .map_err(|err| Error::NodeNotFound {
                node: peer.to_string(),
                reason: format!("cannot resolve {host}: {err}"),
            })?
            .collect();
        hosts.sort_by_key(|addr| !addr.is_ipv4());
        let epmd_host = hosts
            .first()
            .map(|addr| addr.ip().to_string())
            .ok_or_else(|| Error::NodeNotFound {
                node: peer.to_string(),
                reason: format!("{host} has no address"),
            })?;
        let info = epmd::port_please(&epmd_host, epmd_port, alive, self.timeout).map_err(
            |err| match err {
                Error::NodeNotFound { reason, .. } => Error::NodeNotFound {
                    node: peer.to_string(),
                    reason,
                },
                other => other,
            },
        )?;
        let addrs: Vec<SocketAddr> = hosts
            .iter()
            .map(|addr| SocketAddr::new(addr.ip(), info.port))
            .collect();
        self.connect_to_addrs(peer, &addrs, deadline)
    }

    /// Connects to `peer` at a known address, without EPMD.
    pub fn connect_to(self, peer: &str, addr: impl ToSocketAddrs) -> Result<Client> {
        split_node_name(peer)?;
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|err| Error::invalid(format!("bad address for {peer}: {err}")))?
            .collect();
        let deadline = Instant::now() + self.timeout;
        self.connect_to_addrs(peer, &addrs, deadline)
    }

    fn connect_to_addrs(
        self,
        peer: &str,
        addrs: &[SocketAddr],
        deadline: Instant,
    ) -> Result<Client> {
        let cookie = match self.cookie {
            Some(cookie) if cookie.is_empty() => return Err(Error::invalid("the cookie is empty")),
            Some(cookie) => cookie,
            None => util::default_cookie()?,
        };
        let (_, peer_host) = split_node_name(peer)?;
        let name = match self.name {
            Some(name) if name.contains('@') => name,
            Some(alive) if peer_host.contains('.') => format!("{alive}@{}", util::long_hostname()),
            Some(alive) => format!("{alive}@{}", util::short_hostname()),
            None => {
                let host = if peer_host.contains('.') {
                    util::long_hostname()
                } else {
                    util::short_hostname()
                };
                format!(
                    "erldp_client_{}_{:06x}@{host}",
                    std::process::id(),
                    handshake::random_u32() & 0xFF_FFFF
                )
            }
        };
        if !handshake::valid_node_name(&name) {
            return Err(Error::invalid(format!(
                "node name {name:?} must be name@host"
            )));
        }
        let mut ordered: Vec<SocketAddr> = addrs.to_vec();
        // BEAM nodes listen on IPv4 unless started with -proto_dist inet6_tcp.
        ordered.sort_by_key(|addr| !addr.is_ipv4());
        let mut last_err = None;
        for addr in ordered {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::timeout(format!("connecting to {peer}")));
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    return Client::handshake(
                        stream,
                        peer,
                        &name,
                        &cookie,
                        self.hidden,
                        self.net_ticktime,
                        deadline,
                    )
                }
                Err(err) => {
                    last_err = Some(Error::connection(
                        peer,
                        format!("cannot connect to {addr}: {err}"),
                    ))
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::NodeNotFound {
            node: peer.to_string(),
            reason: "its host has no address".into(),
        }))
    }
}

fn split_node_name(peer: &str) -> Result<(&str, &str)> {
    if !handshake::valid_node_name(peer) {
        return Err(Error::invalid(format!(
            "{peer:?} is not a node name (name@host)"
        )));
    }
    Ok(peer.split_once('@').expect("checked by valid_node_name"))
}

/// A blocking connection to one node, used from one thread (see the
/// module documentation). Dropping it closes the connection.
pub struct Client {
    stream: TcpStream,
    peer: Atom,
    name: Atom,
    creation: u32,
    outbound: Outbound,
    inbound: Inbound,
    buf: BytesMut,
    scratch: Vec<u8>,
    out: Vec<u8>,
    /// The pid our requests come from.
    me: Pid,
    /// The group leader of processes our rpcs spawn.
    group_leader: Pid,
    next_ref: u64,
    net_ticktime: Duration,
    last_sent: Instant,
    last_heard: Instant,
}

const READ_CHUNK: usize = 64 << 10;
const MAX_MESSAGE: usize = 1 << 30;

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            name: None,
            cookie: None,
            hidden: true,
            epmd_port: None,
            timeout: Duration::from_secs(7),
            net_ticktime: Duration::from_secs(60),
        }
    }

    fn handshake(
        mut stream: TcpStream,
        peer: &str,
        name: &str,
        cookie: &str,
        hidden: bool,
        net_ticktime: Duration,
        deadline: Instant,
    ) -> Result<Client> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))?;
        stream.set_nodelay(true)?;
        let creation = handshake::nonzero_random_u32();
        let mut offered = flags::SUPPORTED;
        if !hidden {
            offered |= flags::PUBLISHED;
        }
        let local = Local {
            name,
            flags: offered,
            creation,
            cookie,
        };
        let info = match handshake::initiate(&mut stream, Framing::Tcp, &local, peer, || true)? {
            Outcome::Connected(info) => info,
            Outcome::LostSimultaneous => {
                return Err(Error::connection(
                    peer,
                    "the peer refused: it is connecting to a node of this name",
                ))
            }
        };
        stream.set_write_timeout(None)?;
        log::debug!(
            "handshake with {peer} (outgoing) succeeded; flags in use {:#x}",
            info.flags
        );
        log::info!(
            "client {name} connected to {peer} (creation {})",
            info.creation
        );
        let me = Atom::new(name);
        Ok(Client {
            stream,
            peer: info.name,
            name: me,
            creation,
            outbound: Outbound::new(info.flags),
            inbound: Inbound::new(MAX_MESSAGE),
            buf: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0; READ_CHUNK],
            out: Vec::with_capacity(256),
            me: Pid {
                node: me,
                id: 1,
                serial: 0,
                creation,
            },
            group_leader: Pid {
                node: me,
                id: 2,
                serial: 0,
                creation,
            },
            next_ref: 1,
            net_ticktime,
            last_sent: Instant::now(),
            last_heard: Instant::now(),
        })
    }

    /// The peer's node name.
    pub fn peer(&self) -> Atom {
        self.peer
    }

    /// Our node name.
    pub fn name(&self) -> Atom {
        self.name
    }

    /// The pid messages from this client come from; replies sent to it are
    /// what [`receive`](Self::receive) returns.
    pub fn pid(&self) -> Pid {
        self.me
    }

    fn make_ref(&mut self) -> Ref {
        let n = self.next_ref;
        self.next_ref += 1;
        Ref::new(
            self.name,
            self.creation,
            &[(n & 0x3_FFFF) as u32, (n >> 18) as u32, 0],
        )
        .expect("three words")
    }

    fn send_control(&mut self, control: &Control) -> Result<()> {
        self.out.clear();
        self.out.extend_from_slice(&[0; 4]);
        self.outbound.encode(&mut self.out, control)?;
        let len = u32::try_from(self.out.len() - 4).map_err(|_| Error::Encode {
            path: String::new(),
            reason: "message exceeds the 4 GiB frame limit".into(),
        })?;
        self.out[..4].copy_from_slice(&len.to_be_bytes());
        log::trace!("-> {} {} ({len} bytes)", self.peer, control.kind());
        self.stream
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
        if dest.node() != self.peer {
            return Err(Error::invalid(format!(
                "{dest} is not on {}, the node this client is connected to",
                self.peer
            )));
        }
        let from = self.me;
        let control = match *dest {
            Dest::Pid(to) => Control::Send {
                from: Some(from),
                to,
                message,
            },
            Dest::Name { name, .. } => Control::RegSend {
                from,
                to: name,
                message,
            },
            Dest::Alias(alias) => Control::AliasSend {
                from,
                alias,
                message,
            },
        };
        self.send_control(&control)
    }

    /// Calls `module:function(args...)` on the peer, like
    /// [`Node::rpc`](crate::Node::rpc) (the same protocol, results and
    /// errors). On timeout the remote worker is killed.
    pub fn rpc(
        &mut self,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term> {
        let deadline = Instant::now() + timeout;
        let operation = format!("rpc {module}:{function}/{} on {}", args.len(), self.peer);
        let req_id = self.make_ref();
        let control = Control::SpawnRequest {
            req_id,
            from: self.me,
            group_leader: self.group_leader,
            module: crate::atom!("erpc"),
            function: crate::atom!("execute_call"),
            args: Term::List(vec![
                Term::Ref(req_id),
                Term::atom(module),
                Term::atom(function),
                Term::List(args),
            ]),
            opts: Term::List(vec![Term::Atom(crate::atom!("monitor"))]),
        };
        self.send_control(&control)?;
        let peer = self.peer;
        let mut worker = None;
        let outcome = self.wait(deadline, |control| match control {
            Control::SpawnReply {
                req_id: r, result, ..
            } if r == req_id => match result {
                Term::Pid(pid) => {
                    worker = Some(pid);
                    None
                }
                reason => Some(Err(Error::rpc(
                    crate::atom!("error"),
                    Term::Tuple(vec![Term::atom("erpc"), reason]),
                    Term::nil(),
                ))),
            },
            Control::MonitorPExit {
                reference, reason, ..
            } if reference == req_id => Some(rpc_result(req_id, peer, reason)),
            _ => None,
        });
        match outcome {
            Some(result) => result,
            None => {
                if let Some(worker) = worker {
                    let from = self.me;
                    let _ = self.send_control(&Control::DemonitorP {
                        from,
                        to: ProcRef::Pid(worker),
                        reference: req_id,
                    });
                    let _ = self.send_control(&Control::Exit2 {
                        from,
                        to: worker,
                        reason: Term::atom("kill"),
                    });
                }
                Err(Error::timeout(format!(
                    "{operation}: no answer within {} ms",
                    timeout.as_millis()
                )))
            }
        }
    }

    /// `gen_server:call(Dest, Request, Timeout)` on the peer.
    pub fn call(&mut self, dest: &Dest, request: Term, timeout: Duration) -> Result<Term> {
        let server = match *dest {
            Dest::Pid(pid) => ProcRef::Pid(pid),
            Dest::Name { name, .. } => ProcRef::Name(name),
            Dest::Alias(_) => {
                return Err(Error::invalid(
                    "a gen_server call needs a pid or [name, node], not an alias",
                ))
            }
        };
        let deadline = Instant::now() + timeout;
        let reference = self.make_ref();
        let from = self.me;
        self.send_control(&Control::MonitorP {
            from,
            to: server,
            reference,
        })?;
        let tag = Term::ImproperList(
            vec![Term::Atom(crate::atom!("alias"))],
            Box::new(Term::Ref(reference)),
        );
        let message = Term::Tuple(vec![
            Term::Atom(crate::atom!("$gen_call")),
            Term::Tuple(vec![Term::Pid(from), tag]),
            request,
        ]);
        self.send(dest, message)?;
        let peer = self.peer;
        let reply_of = |message: &Term| match message {
            Term::Tuple(pair)
                if pair.len() == 2 && crate::node::call_tag(&pair[0]) == Some(reference) =>
            {
                Some(pair[1].clone())
            }
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
            } if r == reference => Some(Err(call_failure(peer, reason))),
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
        let request = Term::Tuple(vec![Term::atom("is_auth"), Term::Atom(self.name)]);
        let dest = Dest::Name {
            name: crate::atom!("net_kernel"),
            node: self.peer,
        };
        matches!(self.call(&dest, request, timeout), Ok(reply) if reply.is_atom("yes"))
    }

    /// Waits up to `timeout` for a message sent to this client's pid (or to
    /// a name it does not have: a client has no registered names).
    pub fn receive(&mut self, timeout: Duration) -> Result<Option<crate::Message>> {
        let deadline = Instant::now() + timeout;
        let outcome = self.wait(deadline, |control| match control {
            Control::Send { from, message, .. } => Some(Ok(crate::Message::message(from, message))),
            Control::RegSend { from, message, .. } | Control::AliasSend { from, message, .. } => {
                Some(Ok(crate::Message::message(Some(from), message)))
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
            let control = match control {
                Control::Send { to, message, .. } if to == self.group_leader => {
                    self.forward_io_request(message);
                    continue;
                }
                // Our two pids live as long as the connection: links and
                // monitors on them stand (io:format monitors its group
                // leader); anything else does not exist.
                Control::Link { to, .. }
                | Control::MonitorP {
                    to: ProcRef::Pid(to),
                    ..
                } if to == self.me || to == self.group_leader => {
                    continue;
                }
                Control::DemonitorP { .. } => continue,
                Control::Link { from, to } => {
                    let _ = self.send_control(&Control::Exit {
                        from: to,
                        to: from,
                        reason: Term::atom("noproc"),
                    });
                    continue;
                }
                Control::MonitorP {
                    from,
                    to,
                    reference,
                } => {
                    let reason = Term::atom("noproc");
                    let _ = self.send_control(&Control::MonitorPExit {
                        from: to,
                        to: from,
                        reference,
                        reason,
                    });
                    continue;
                }
                Control::UnlinkId { id, from, to } => {
                    let _ = self.send_control(&Control::UnlinkIdAck {
                        id,
                        from: to,
                        to: from,
                    });
                    continue;
                }
                Control::SpawnRequest { req_id, from, .. } => {
                    let reply = Control::SpawnReply {
                        req_id,
                        to: from,
                        flags: 0,
                        result: Term::atom("notsup"),
                    };
                    let _ = self.send_control(&reply);
                    continue;
                }
                other => other,
            };
            if let Some(result) = done(control) {
                return Some(result);
            }
        }
    }

    /// I/O from a process our rpc spawned goes on to the peer's `user`, as
    /// a [`Node`](crate::Node) does it.
    fn forward_io_request(&mut self, message: Term) {
        if matches!(&message, Term::Tuple(fields) if fields.len() == 4 && fields[0].is_atom("io_request"))
        {
            let forward = Control::RegSend {
                from: self.group_leader,
                to: crate::atom!("user"),
                message,
            };
            let _ = self.send_control(&forward);
        }
    }

    /// The next control message, `None` at the deadline.
    fn next_control(&mut self, deadline: Instant) -> Result<Option<Control>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len == 0 {
                    log::trace!("<- {} tick", self.peer);
                    self.buf.advance(4);
                    continue;
                }
                if len > MAX_MESSAGE {
                    return Err(self.lost(&format!("the peer sent a frame of {len} bytes")));
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(len).freeze();
                    match self.inbound.decode(frame) {
                        Ok(Some(control)) => {
                            log::trace!("<- {} {} ({len} bytes)", self.peer, control.kind());
                            return Ok(Some(control));
                        }
                        Ok(None) => {
                            log::trace!("<- {} fragment ({len} bytes)", self.peer);
                            continue;
                        }
                        Err(err) => return Err(self.lost(&format!("the peer sent garbage: {err}"))),
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let tick = self.net_ticktime / 4;
            if now.duration_since(self.last_sent) >= tick {
                log::trace!("-> {} tick", self.peer);
                self.stream
                    .write_all(&[0; 4])
                    .map_err(|err| self.lost(&format!("write failed: {err}")))?;
                self.last_sent = now;
            }
            if now.duration_since(self.last_heard) >= self.net_ticktime {
                return Err(self.lost("nothing heard from the peer for net_ticktime"));
            }
            let wait = deadline
                .duration_since(now)
                .min(tick)
                .max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait))?;
            match self.stream.read(&mut self.scratch) {
                Ok(0) => return Err(self.lost("the peer closed the connection")),
                Ok(n) => {
                    self.buf.extend_from_slice(&self.scratch[..n]);
                    self.last_heard = Instant::now();
                }
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
            .field("name", &self.name)
            .field("peer", &self.peer)
            .finish()
    }
}
