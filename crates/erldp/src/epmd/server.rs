//! An EPMD inside the program, for `epmd: auto` mode: when no EPMD answers
//! on the EPMD port, the node runs this one, and BEAM nodes started later
//! (`erl -sname x`) register with it just as with the `epmd` daemon.
//!
//! It serves the requests of the [EPMD protocol] the way OTP's `epmd`
//! does: `ALIVE2_REQ` (the connection is held; the name goes when it
//! closes), `PORT_PLEASE2_REQ`, `NAMES_REQ`, and from the local host
//! `DUMP_REQ` and `KILL_REQ`. `STOP_REQ` is ignored, as a default `epmd`
//! (without `-relaxed_command_check`) ignores it: it would let any local
//! user unregister a node and register the name at a port of their own.
//! Where it differs:
//!
//! - `KILL_REQ` is always refused with `"NO"` (what `epmd` answers while
//!   nodes are registered): the server lives in the host program, and no
//!   client may end it.
//! - Creations are random non-zero 32-bit values rather than 1..=3 per
//!   name (the old `ALIVE2_RESP` still gets 1..=3), and unregistered names
//!   are not remembered.
//!
//! Each client connection has its own thread. A request must arrive whole
//! within the request timeout, so a silent client cannot hold a thread;
//! registration connections are then held for as long as the client keeps
//! them open. A malformed request closes its connection and nothing else.
//! Its clients need no cookie and it listens on every address, so what anyone
//! who reaches the port may take (connections, which are file descriptors of
//! the host program, and threads) is bounded by [`ServerLimits`].
//!
//! [EPMD protocol]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#epmd-protocol

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::{
    alive, read_exact_by, write_all_by, NodeInfo, ALIVE2_REQ, ALIVE2_RESP, ALIVE2_X_RESP, DUMP_REQ,
    KILL_REQ, MAX_NAME_CHARS, NAMES_REQ, PORT2_RESP, PORT_PLEASE2_REQ, STOP_REQ,
};
use crate::deadline;
use crate::error::{Error, Result};
use crate::sync::Mutex;
use crate::{random, transport};

/// A name is at most 255 characters of up to 4 UTF-8 bytes each; `epmd`
/// applies the same bound to the extra data.
const MAX_NAME_BYTES: usize = MAX_NAME_CHARS * 4;
const MAX_EXTRA_BYTES: usize = MAX_NAME_BYTES;
/// The longest valid request: an `ALIVE2_REQ` with the longest name and
/// extra data. A length prefix beyond it is not a request.
const MAX_REQUEST_LEN: usize = 13 + MAX_NAME_BYTES + MAX_EXTRA_BYTES;

/// Connection threads only parse small requests.
const CONNECTION_STACK: usize = 256 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) so that a
/// persistent failure does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long to wait for an EPMD probe, and for a competitor that bound the
/// port first to start answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const RACE_WAIT: Duration = Duration::from_secs(3);

/// `Creation` sent with a refused registration, as `epmd` does; clients
/// ignore it.
const REFUSED_CREATION: u32 = 99;

/// Bounds on what clients may make an embedded EPMD hold, for
/// [`EpmdServer::start_with`] and, for the server that `epmd: auto` starts,
/// [`NodeBuilder::embedded_epmd_limits`](crate::NodeBuilder::embedded_epmd_limits).
/// A connection past one is closed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once, held registrations included (default
    /// 256). Each is a file descriptor of the host program, which most
    /// systems allow 1024 of.
    pub max_connections: usize,
    /// Connections at once from one address that is not this host's
    /// (default 8): only this host's nodes register and hold a connection,
    /// and a client elsewhere asks one thing at a time.
    pub max_per_address: usize,
    /// How long a client has to send its whole request, and to take the
    /// reply (default 10 s), like `epmd -packet_timeout`.
    pub request_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 256,
            max_per_address: 8,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A running EPMD server. Dropping it stops listening and closes every
/// registration; servers started by [`ensure_running`] are never dropped.
#[derive(Debug)]
pub struct EpmdServer {
    shared: Arc<Shared>,
    listeners: Vec<ListenerThread>,
}

#[derive(Debug)]
struct ListenerThread {
    /// Where to connect to wake the blocking `accept` when stopping.
    wake: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

/// State shared by the accept loops and the connection threads.
#[derive(Debug)]
struct Shared {
    port: u16,
    limits: ServerLimits,
    stopping: AtomicBool,
    /// Registered nodes, oldest first.
    nodes: Mutex<Vec<Registered>>,
    connections: AtomicUsize,
    /// Connections open from each address that is not this host's.
    remote: Mutex<HashMap<IpAddr, usize>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Registered {
    /// Tells this registration apart from a later one with the same name.
    id: u64,
    info: NodeInfo,
    /// A handle on the registration connection, to close it when the server
    /// stops; its thread then sees the end and cleans up.
    stream: TcpStream,
    /// The connection's descriptor, for `DUMP_REQ`.
    fd: i64,
}

impl EpmdServer {
    /// Starts an EPMD on `port` (0 picks a free port, for tests), listening
    /// on all IPv4 addresses and, when the host has IPv6, on all IPv6
    /// addresses, as OTP's `epmd` does: BEAM nodes running IPv6
    /// distribution register at `::1`, and nodes on other hosts look up
    /// IPv6 nodes over IPv6.
    ///
    /// Errors: [`Error::Io`] when the port cannot be bound (kind
    /// `AddrInUse` when something listens there already).
    pub fn start(port: u16) -> Result<EpmdServer> {
        EpmdServer::start_with(port, ServerLimits::default())
    }

    /// [`start`](Self::start), with other bounds than the defaults.
    /// [`Error::InvalidArgument`] when one of them is zero: the server
    /// would answer nobody.
    pub fn start_with(port: u16, limits: ServerLimits) -> Result<EpmdServer> {
        if limits.max_connections == 0
            || limits.max_per_address == 0
            || limits.request_timeout.is_zero()
        {
            return Err(Error::invalid(format!(
                "embedded EPMD limits must not be zero: {limits:?}"
            )));
        }
        let v4 = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).map_err(|err| {
            Error::Io(io::Error::new(
                err.kind(),
                format!("cannot listen on 0.0.0.0:{port} for the embedded EPMD: {err}"),
            ))
        })?;
        let port = v4.local_addr()?.port();
        let mut bound = vec![(v4, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))];
        // IPv6 only: the IPv4 addresses are the other listener's.
        match transport::listen_ipv6(port, true) {
            Ok(v6) => bound.push((v6, SocketAddr::from((Ipv6Addr::LOCALHOST, port)))),
            Err(err) => debug!("embedded EPMD: not listening on [::]:{port}: {err}"),
        }

        let shared = Arc::new(Shared {
            port,
            limits,
            stopping: AtomicBool::new(false),
            nodes: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            remote: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let mut server = EpmdServer {
            shared,
            listeners: Vec::new(),
        };
        for (listener, wake) in bound {
            let shared = Arc::clone(&server.shared);
            // On failure `server` is dropped, which stops the loops started so far.
            let thread = thread::Builder::new()
                .name(format!("erldp-epmd-{port}"))
                .spawn(move || accept_loop(&shared, &listener))?;
            server.listeners.push(ListenerThread {
                wake,
                thread: Some(thread),
            });
        }
        Ok(server)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The registered names and their distribution ports, newest first (the
    /// order of `NAMES_REQ`).
    pub fn names(&self) -> Vec<(String, u16)> {
        self.shared
            .nodes
            .lock()
            .iter()
            .rev()
            .map(|node| (node.info.name.clone(), node.info.port))
            .collect()
    }
}

impl Drop for EpmdServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for listener in &mut self.listeners {
            // `accept` has no timeout: a connection of our own wakes the loop
            // so that it sees the flag and closes the listening socket. If
            // even that fails, the thread is left to end with the process
            // rather than joined forever.
            if TcpStream::connect_timeout(&listener.wake, PROBE_TIMEOUT).is_ok() {
                if let Some(thread) = listener.thread.take() {
                    let _ = thread.join();
                }
            }
        }
        for node in self.shared.nodes.lock().drain(..) {
            let _ = node.stream.shutdown(Shutdown::Both);
        }
    }
}

/// The servers [`ensure_running`] started. A standard library lock, for
/// `fork` ([`crate::fork`]): a child's first node takes it.
static EMBEDDED: Mutex<Vec<EpmdServer>> = Mutex::new(Vec::new());

/// Takes the embedded servers' list for a `fork`, so that no other thread
/// holds it then ([`crate::fork`]); dropping the guard gives it back.
pub(crate) fn lock_for_fork() -> impl Any {
    EMBEDDED.lock()
}

/// Whether `stream` is connected to an EPMD that [`ensure_running`] started
/// in this process: one on this host, on the port of one of those. No other
/// program can listen there while it does.
pub(super) fn is_embedded(stream: &TcpStream) -> bool {
    let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
        return false;
    };
    (peer.ip().is_loopback() || peer.ip() == local.ip())
        && EMBEDDED
            .lock()
            .iter()
            .any(|server| server.port() == peer.port())
}

/// Makes sure an EPMD answers on `127.0.0.1:port`, starting an embedded
/// one in this process when none does. Returns whether it started one.
///
/// The server lives until the process exits. Threads of this process are
/// serialised; when another process binds the port between the probe and
/// our bind, its EPMD is used once it answers.
///
/// Errors: [`Error::InvalidArgument`] for port 0; [`Error::Connection`] when
/// the port is taken by a program that does not answer as EPMD;
/// [`Error::Io`] when it cannot be bound for another reason.
pub fn ensure_running(port: u16) -> Result<bool> {
    ensure_running_with(port, ServerLimits::default())
}

/// [`ensure_running`], with `limits` for a server it starts.
pub fn ensure_running_with(port: u16, limits: ServerLimits) -> Result<bool> {
    if port == 0 {
        return Err(Error::invalid("the EPMD port must not be 0"));
    }
    let mut servers = EMBEDDED.lock();
    if servers.iter().any(|server| server.port() == port) || alive(port, PROBE_TIMEOUT) {
        return Ok(false);
    }
    match EpmdServer::start_with(port, limits) {
        Ok(server) => {
            servers.push(server);
            Ok(true)
        }
        Err(Error::Io(err)) if err.kind() == io::ErrorKind::AddrInUse => {
            let deadline = Instant::now() + RACE_WAIT;
            while Instant::now() < deadline {
                if alive(port, PROBE_TIMEOUT) {
                    return Ok(false);
                }
                thread::sleep(Duration::from_millis(50));
            }
            Err(Error::connection(
                format!("EPMD at 127.0.0.1:{port}"),
                format!("the port is in use by a program that does not answer as EPMD ({err})"),
            ))
        }
        Err(err) => Err(err),
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => spawn_connection(shared, stream),
            Err(err) => {
                warn!(
                    "embedded EPMD on port {}: accept failed: {err}",
                    shared.port
                );
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// Counts a connection, and the one address not of this host it comes from,
/// for as long as its thread lives.
struct ConnectionSlot {
    shared: Arc<Shared>,
    /// `None` exactly when the peer is on this host: `take_slot` refuses a
    /// peer that is not and whose address cannot be read.
    remote: Option<IpAddr>,
}

impl ConnectionSlot {
    /// Whether the peer may register or use the admin requests.
    fn is_local(&self) -> bool {
        self.remote.is_none()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.shared.connections.fetch_sub(1, Ordering::SeqCst);
        if let Some(addr) = self.remote {
            let mut remote = self.shared.remote.lock();
            if let Some(open) = remote.get_mut(&addr) {
                *open -= 1;
                if *open == 0 {
                    remote.remove(&addr);
                }
            }
        }
    }
}

/// Takes a place for a new connection, or `None` when the limits leave none:
/// the connection is then closed.
fn take_slot(shared: &Arc<Shared>, stream: &TcpStream) -> Option<ConnectionSlot> {
    let limits = shared.limits;
    if shared.connections.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
        shared.connections.fetch_sub(1, Ordering::SeqCst);
        warn!(
            "embedded EPMD on port {}: {} connections open (max_connections), refusing one",
            shared.port, limits.max_connections
        );
        return None;
    }
    let mut slot = ConnectionSlot {
        shared: Arc::clone(shared),
        remote: None,
    };
    if is_local_peer(stream) {
        return Some(slot);
    }
    let addr = stream.peer_addr().ok()?.ip().to_canonical();
    let mut remote = shared.remote.lock();
    let open = remote.entry(addr).or_insert(0);
    if *open >= limits.max_per_address {
        debug!(
            "embedded EPMD on port {}: {open} connections open from {addr} (max_per_address), \
             refusing one",
            shared.port
        );
        return None;
    }
    *open += 1;
    slot.remote = Some(addr);
    Some(slot)
}

fn spawn_connection(shared: &Arc<Shared>, stream: TcpStream) {
    let Some(slot) = take_slot(shared, &stream) else {
        return;
    };
    // If the thread cannot be created, the closure (slot and stream with it)
    // is dropped: the counts go back down and the client sees a close.
    let spawned = thread::Builder::new()
        .name("erldp-epmd-conn".to_owned())
        .stack_size(CONNECTION_STACK)
        .spawn(move || serve_connection(&slot, stream));
    if let Err(err) = spawned {
        warn!(
            "embedded EPMD on port {}: cannot start a connection thread: {err}",
            shared.port
        );
    }
}

fn serve_connection(slot: &ConnectionSlot, mut stream: TcpStream) {
    let shared = &slot.shared;
    let deadline = deadline::after(shared.limits.request_timeout);
    let request = match read_request(&mut stream, deadline) {
        Ok(request) => request,
        Err(err) => {
            debug!("embedded EPMD: dropping {}: {err}", peer_name(&stream));
            return;
        }
    };
    let local = slot.is_local();
    // `read_request` never returns an empty request.
    let Some((&tag, body)) = request.split_first() else {
        return;
    };
    let reply = match tag {
        ALIVE2_REQ if local => return serve_alive2(shared, stream, body, deadline),
        PORT_PLEASE2_REQ => port2_reply(shared, body),
        NAMES_REQ => Some(names_reply(shared)),
        DUMP_REQ if local => Some(dump_reply(shared)),
        KILL_REQ if local => Some(b"NO".to_vec()),
        // Ignored, as a default `epmd` ignores it (see the module docs).
        STOP_REQ => None,
        _ => None,
    };
    match reply {
        Some(reply) => {
            if let Err(err) = write_all_by(&mut stream, &reply, deadline) {
                debug!("embedded EPMD: reply to {} failed: {err}", peer_name(&stream));
            }
        }
        None => debug!(
            "embedded EPMD: dropping {}: unexpected or malformed request (tag {tag}, local peer: {local})",
            peer_name(&stream)
        ),
    }
}

fn peer_name(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "an unknown peer".to_owned(), |addr| addr.to_string())
}

/// Reads one length-prefixed request, without its length.
fn read_request(stream: &mut TcpStream, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut len = [0; 2];
    read_exact_by(stream, &mut len, deadline)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len == 0 || len > MAX_REQUEST_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request length {len}"),
        ));
    }
    let mut request = vec![0; len];
    read_exact_by(stream, &mut request, deadline)?;
    Ok(request)
}

/// Whether the peer is on this host: a loopback address, or the address it
/// reached us on. Only such peers may register or use the admin requests.
fn is_local_peer(stream: &TcpStream) -> bool {
    match (stream.peer_addr(), stream.local_addr()) {
        (Ok(peer), Ok(local)) => {
            let peer = peer.ip().to_canonical();
            peer.is_loopback() || peer == local.ip().to_canonical()
        }
        _ => false,
    }
}

/// The fields of an `ALIVE2_REQ` after its tag.
struct Alive2<'a> {
    port: u16,
    node_type: u8,
    protocol: u8,
    highest_version: u16,
    lowest_version: u16,
    name: &'a [u8],
    extra: &'a [u8],
}

/// Splits an `ALIVE2_REQ` body; `None` when its lengths do not add up.
/// Bytes after the extra data are ignored, as `epmd` does.
fn parse_alive2(body: &[u8]) -> Option<Alive2<'_>> {
    let u16_at = |at: usize| Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
    let name_len = usize::from(u16_at(8)?);
    let name = body.get(10..10 + name_len)?;
    let extra_len = usize::from(u16_at(10 + name_len)?);
    let extra_start = 12 + name_len;
    Some(Alive2 {
        port: u16_at(0)?,
        node_type: *body.get(2)?,
        protocol: *body.get(3)?,
        highest_version: u16_at(4)?,
        lowest_version: u16_at(6)?,
        name,
        extra: body.get(extra_start..extra_start + extra_len)?,
    })
}

/// A node name as `epmd` accepts it: 1 to 255 characters of UTF-8, no NUL.
fn valid_name(bytes: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(bytes).ok()?;
    let chars = name.chars().count();
    (1..=MAX_NAME_CHARS)
        .contains(&chars)
        .then_some(name)
        .filter(|name| !name.contains('\0'))
}

/// Registers the node, replies, and then holds the connection until the
/// client closes it (or sends anything more, which `epmd` also takes as the
/// end of the registration).
fn serve_alive2(shared: &Arc<Shared>, mut stream: TcpStream, body: &[u8], deadline: Instant) {
    let Some(request) = parse_alive2(body) else {
        debug!("embedded EPMD: malformed ALIVE2_REQ");
        return;
    };
    if request.name.contains(&0) {
        debug!("embedded EPMD: ALIVE2_REQ with a NUL in the name");
        return;
    }
    let registered = match valid_name(request.name) {
        Some(name) if request.extra.len() <= MAX_EXTRA_BYTES => register(
            shared,
            &stream,
            NodeInfo {
                port: request.port,
                node_type: request.node_type,
                protocol: request.protocol,
                highest_version: request.highest_version,
                lowest_version: request.lowest_version,
                name: name.to_owned(),
                extra: request.extra.to_vec(),
            },
        ),
        _ => None,
    };

    let (result, creation) = match registered {
        Some((_, creation)) => (0, creation),
        None => (1, REFUSED_CREATION),
    };
    // Nodes that speak version 6 take a 32-bit creation; older ones get the
    // old reply, whose creation is 1..=3 (only 2 bits of it survive in
    // their pids).
    let mut reply = Vec::with_capacity(6);
    if request.highest_version >= 6 {
        reply.extend_from_slice(&[ALIVE2_X_RESP, result]);
        reply.extend_from_slice(&creation.to_be_bytes());
    } else {
        let creation = if result == 0 {
            (creation % 3 + 1) as u16
        } else {
            REFUSED_CREATION as u16
        };
        reply.extend_from_slice(&[ALIVE2_RESP, result]);
        reply.extend_from_slice(&creation.to_be_bytes());
    }
    let sent = write_all_by(&mut stream, &reply, deadline);
    let Some((id, _)) = registered else {
        return;
    };
    if sent.is_ok() && stream.set_read_timeout(None).is_ok() {
        let mut byte = [0; 1];
        loop {
            match stream.read(&mut byte) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
    }
    shared.nodes.lock().retain(|node| node.id != id);
}

/// Adds a registration; `None` when the name is taken by a live one, or the
/// server is stopping.
fn register(shared: &Shared, stream: &TcpStream, info: NodeInfo) -> Option<(u64, u32)> {
    let handle = stream.try_clone().ok()?;
    let mut nodes = shared.nodes.lock();
    // Checked under the lock that `Drop` drains, so that no registration
    // slips in after the server has closed the others.
    if shared.stopping.load(Ordering::SeqCst)
        || nodes.iter().any(|node| node.info.name == info.name)
    {
        return None;
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let creation = random::nonzero_u32();
    nodes.push(Registered {
        id,
        info,
        fd: descriptor(stream),
        stream: handle,
    });
    Some((id, creation))
}

#[cfg(unix)]
fn descriptor(stream: &TcpStream) -> i64 {
    i64::from(std::os::fd::AsRawFd::as_raw_fd(stream))
}

#[cfg(windows)]
fn descriptor(stream: &TcpStream) -> i64 {
    std::os::windows::io::AsRawSocket::as_raw_socket(stream) as i64
}

/// Strips the NUL some old clients append to a name.
fn request_name(body: &[u8]) -> &[u8] {
    body.strip_suffix(&[0]).unwrap_or(body)
}

/// `PORT2_RESP` for a `PORT_PLEASE2_REQ` body; `None` (close) for a name
/// `epmd` would not even look up.
fn port2_reply(shared: &Shared, body: &[u8]) -> Option<Vec<u8>> {
    let name = valid_name(request_name(body))?;
    let nodes = shared.nodes.lock();
    let reply = match nodes.iter().find(|node| node.info.name == name) {
        Some(node) => {
            let mut reply = vec![PORT2_RESP, 0];
            node.info.encode_into(&mut reply);
            reply
        }
        None => vec![PORT2_RESP, 1],
    };
    Some(reply)
}

/// `NAMES_RESP`: our port, then one `name <Name> at port <Port>` line per
/// node, newest first as `epmd` lists them.
fn names_reply(shared: &Shared) -> Vec<u8> {
    let mut text = String::new();
    for node in shared.nodes.lock().iter().rev() {
        let _ = writeln!(text, "name {} at port {}", node.info.name, node.info.port);
    }
    with_port_header(shared.port, text.as_bytes())
}

/// `DUMP_RESP`: like `epmd`'s, each line ends with a newline and a NUL.
fn dump_reply(shared: &Shared) -> Vec<u8> {
    let mut text = String::new();
    for node in shared.nodes.lock().iter().rev() {
        let _ = write!(
            text,
            "active name     <{}> at port {}, fd = {}\n\0",
            node.info.name, node.info.port, node.fd
        );
    }
    with_port_header(shared.port, text.as_bytes())
}

fn with_port_header(port: u16, text: &[u8]) -> Vec<u8> {
    let mut reply = Vec::with_capacity(4 + text.len());
    reply.extend_from_slice(&u32::from(port).to_be_bytes());
    reply.extend_from_slice(text);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive2_body(name: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut body = vec![0x12, 0x34, 77, 0, 0, 6, 0, 5];
        body.extend_from_slice(&(name.len() as u16).to_be_bytes());
        body.extend_from_slice(name);
        body.extend_from_slice(&(extra.len() as u16).to_be_bytes());
        body.extend_from_slice(extra);
        body
    }

    #[test]
    fn alive2_requests_are_split_into_fields() {
        let body = alive2_body(b"node", b"xy");
        let request = parse_alive2(&body).expect("well-formed");
        assert_eq!(request.port, 0x1234);
        assert_eq!(request.node_type, 77);
        assert_eq!((request.highest_version, request.lowest_version), (6, 5));
        assert_eq!(request.name, b"node");
        assert_eq!(request.extra, b"xy");
    }

    #[test]
    fn every_truncation_of_an_alive2_request_is_rejected() {
        let body = alive2_body(b"node", b"xy");
        for len in 0..body.len() {
            assert!(parse_alive2(&body[..len]).is_none(), "accepted {len} bytes");
        }
        let mut lying = body.clone();
        lying[8..10].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(parse_alive2(&lying).is_none());
    }

    #[test]
    fn names_are_checked_like_epmd_does() {
        assert_eq!(valid_name(b"abc"), Some("abc"));
        assert_eq!(valid_name(b""), None);
        assert_eq!(valid_name(b"a\0b"), None);
        assert_eq!(valid_name(b"\xc3"), None);
        assert!(valid_name("é".repeat(255).as_bytes()).is_some());
        assert_eq!(valid_name("é".repeat(256).as_bytes()), None);
        assert_eq!(request_name(b"abc\0"), b"abc");
    }
}
