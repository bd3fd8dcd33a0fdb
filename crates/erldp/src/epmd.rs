//! EPMD, the Erlang Port Mapper Daemon: the client side, and an embedded
//! server ([`EpmdServer`], [`ensure_running`]).
//!
//! Implements the [EPMD protocol] of the distribution protocol guide:
//! `ALIVE2_REQ` (register a node and keep the connection open for its
//! lifetime), `PORT_PLEASE2_REQ` (find a node's distribution port) and
//! `NAMES_REQ` (list the registered names). Every request is a 2-byte
//! big-endian length followed by the request; every call here opens its own
//! connection, as EPMD closes it after one reply.
//!
//! All calls block with a deadline: connecting, writing and each read get
//! the time that is left, so a silent or slow EPMD cannot hold a caller
//! longer than its timeout. Host name resolution is the exception: it goes
//! through the system resolver, which has no timeout.
//!
//! A node registers itself on start ([`EpmdMode`](crate::EpmdMode)); the
//! functions here are for looking around, as `epmd -names` does:
//!
//! ```
//! use std::time::Duration;
//! use erldp::epmd::{self, EpmdServer};
//! use erldp::{EpmdMode, Node};
//!
//! // An EPMD of our own on a free port, so the example needs no other.
//! let server = EpmdServer::start(0)?;
//! let node = Node::builder("lookup@localhost")
//!     .cookie("secret")
//!     .epmd(EpmdMode::External)
//!     .epmd_port(server.port())
//!     .start()?;
//!
//! let timeout = Duration::from_secs(2);
//! let names = epmd::names("localhost", server.port(), timeout)?;
//! assert_eq!(names, vec![("lookup".to_string(), node.port())]);
//! let info = epmd::port_please("localhost", server.port(), "lookup", timeout)?;
//! assert_eq!((info.port, info.node_type), (node.port(), epmd::NODE_TYPE_HIDDEN));
//! assert!(matches!(
//!     epmd::port_please("localhost", server.port(), "nobody", timeout),
//!     Err(erldp::Error::NodeNotFound { .. })
//! ));
//! # Ok::<(), erldp::Error>(())
//! ```
//!
//! [EPMD protocol]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#epmd-protocol

mod server;

pub use server::{ensure_running, EpmdServer};

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::random;

/// The port EPMD listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 4369;

/// `NodeType` of a normal, visible Erlang node (appears in `nodes()`).
pub const NODE_TYPE_NORMAL: u8 = 77;
/// `NodeType` of a hidden node (a C-node, or a node started with `-hidden`).
pub const NODE_TYPE_HIDDEN: u8 = 72;

/// `Protocol` value for TCP/IPv4, the only one defined.
const PROTOCOL_TCP: u8 = 0;
/// Distribution versions we announce: 6 is OTP 23+, 5 is older.
const HIGHEST_VERSION: u16 = 6;
const LOWEST_VERSION: u16 = 5;

const ALIVE2_X_RESP: u8 = 118;
const PORT2_RESP: u8 = 119;
const ALIVE2_REQ: u8 = 120;
const ALIVE2_RESP: u8 = 121;
const PORT_PLEASE2_REQ: u8 = 122;
const NAMES_REQ: u8 = 110;
const DUMP_REQ: u8 = 100;
const KILL_REQ: u8 = 107;
const STOP_REQ: u8 = 115;

/// EPMD refuses names longer than 255 characters.
const MAX_NAME_CHARS: usize = 255;
/// A names listing is a few dozen bytes per node; anything far beyond that
/// is not an EPMD talking, and must not make us allocate without bound.
const MAX_NAMES_REPLY: usize = 1 << 20;

/// What EPMD knows about a registered node (the body of a `PORT2_RESP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's distribution listen port.
    pub port: u16,
    /// [`NODE_TYPE_NORMAL`] or [`NODE_TYPE_HIDDEN`].
    pub node_type: u8,
    /// 0 = TCP/IPv4.
    pub protocol: u8,
    /// Highest distribution protocol version the node speaks.
    pub highest_version: u16,
    /// Lowest distribution protocol version the node speaks.
    pub lowest_version: u16,
    /// The name part of the node name (before the `@`).
    pub name: String,
    /// Opaque extra data the node registered with (usually empty).
    pub extra: Vec<u8>,
}

/// The EPMD port the BEAM would use: `$ERL_EPMD_PORT` when it is set, else
/// [`DEFAULT_PORT`].
///
/// Unlike a silent fallback, a value that is not a port number is an error:
/// talking to another EPMD than the BEAM nodes of the cluster use would make
/// every lookup fail in a confusing way.
pub fn port_from_env() -> Result<u16> {
    match std::env::var("ERL_EPMD_PORT") {
        Ok(text) => parse_port_setting(&text),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_PORT),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::invalid("ERL_EPMD_PORT is not valid Unicode"))
        }
    }
}

/// The port `$ERL_EPMD_PORT` names; empty means unset.
fn parse_port_setting(text: &str) -> Result<u16> {
    match text.trim() {
        "" => Ok(DEFAULT_PORT),
        port => match port.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(Error::invalid(format!(
                "ERL_EPMD_PORT={text:?} is not a TCP port number (1..=65535)"
            ))),
        },
    }
}

/// Asks the EPMD at `host:epmd_port` on which port the node `name` (the part
/// before the `@`) listens.
///
/// Errors: [`Error::NodeNotFound`] when the name is not registered there,
/// when no EPMD answers at `host:epmd_port`, or when `host` does not
/// resolve; [`Error::Timeout`] when the whole exchange takes longer than
/// `timeout`; [`Error::Connection`] when EPMD answers with something that is
/// not a `PORT2_RESP`.
pub fn port_please(host: &str, epmd_port: u16, name: &str, timeout: Duration) -> Result<NodeInfo> {
    check_name(name)?;
    let deadline = Instant::now() + timeout;
    let epmd = Endpoint {
        host,
        port: epmd_port,
    };
    let node = format!("{name}@{host}");
    let mut request = vec![PORT_PLEASE2_REQ];
    request.extend_from_slice(name.as_bytes());
    let reply = epmd.ask(&request, deadline, |stream| {
        let mut head = [0; 2];
        read_exact_by(stream, &mut head, deadline)?;
        match head {
            [PORT2_RESP, 0] => read_port2_body(stream, deadline).map(Some),
            [PORT2_RESP, _] => Ok(None),
            [tag, _] => Err(malformed(format!(
                "reply tag {tag} instead of {PORT2_RESP} (PORT2_RESP)"
            ))),
        }
    });
    match reply {
        Ok((_, Some(info))) => {
            log::debug!("EPMD at {epmd}: {name} listens on port {}", info.port);
            Ok(info)
        }
        Ok((_, None)) => Err(Error::NodeNotFound {
            node,
            reason: format!("the name {name} is not registered in EPMD at {epmd}"),
        }),
        Err(failure) => Err(failure.into_error(
            &epmd,
            || format!("asking EPMD at {epmd} for the port of {name}"),
            Some(node),
        )),
    }
}

/// Lists the names registered in the EPMD at `host:epmd_port`, with their
/// distribution ports, in the order EPMD gives them.
///
/// Errors: [`Error::Connection`] when `host` does not resolve, no EPMD
/// answers or the reply is malformed; [`Error::Timeout`] when the listing
/// takes longer than `timeout`.
pub fn names(host: &str, epmd_port: u16, timeout: Duration) -> Result<Vec<(String, u16)>> {
    let deadline = Instant::now() + timeout;
    let epmd = Endpoint {
        host,
        port: epmd_port,
    };
    let reply = epmd.ask(&[NAMES_REQ], deadline, |stream| {
        let reply = read_to_end_by(stream, MAX_NAMES_REPLY, deadline)?;
        // The reply starts with the port EPMD listens on; erl_epmd uses it
        // only as a sanity check, and so do we: the lines are what matters.
        match reply.get(4..) {
            Some(lines) => Ok(parse_names(lines)),
            None => Err(malformed("the reply is shorter than its 4-byte header")),
        }
    });
    reply.map(|(_, names)| names).map_err(|failure| {
        failure.into_error(
            &epmd,
            || format!("listing the names registered in EPMD at {epmd}"),
            None,
        )
    })
}

/// Whether an EPMD answers on `127.0.0.1:epmd_port` within `timeout`.
///
/// It is asked for its names and must give back its own port number, so a
/// program that merely accepts connections on that port does not count.
pub fn alive(epmd_port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let epmd = Endpoint {
        host: "127.0.0.1",
        port: epmd_port,
    };
    let reply = epmd.ask(&[NAMES_REQ], deadline, |stream| {
        let mut header = [0; 4];
        read_exact_by(stream, &mut header, deadline)?;
        Ok(u32::from_be_bytes(header))
    });
    matches!(reply, Ok((_, port)) if port == u32::from(epmd_port))
}

/// A node name registered in the local EPMD.
///
/// EPMD keeps the name for as long as the registration connection is open,
/// so this value must live as long as the node: dropping it closes the
/// connection, and EPMD forgets the name.
#[derive(Debug)]
pub struct Registration {
    /// Held open, never read or written after the reply: EPMD drops a
    /// registration when anything more arrives on it.
    _stream: TcpStream,
    name: String,
    creation: u32,
}

impl Registration {
    /// The creation (incarnation number) EPMD assigned; never 0.
    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// The registered name (the part of the node name before the `@`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Registers `name` (the part of the node name before the `@`) with
/// distribution port `listen_port` in the EPMD on `127.0.0.1:epmd_port`.
/// EPMD accepts registrations from its own host only.
///
/// The node is registered as hidden ([`NODE_TYPE_HIDDEN`]) or visible
/// ([`NODE_TYPE_NORMAL`]), speaking distribution versions 5 to 6.
///
/// Errors: [`Error::InvalidArgument`] when the name is already registered
/// (or is not a valid node name); [`Error::Connection`] when no EPMD answers
/// or it replies with garbage; [`Error::Timeout`] when it does not reply
/// within `timeout`.
pub fn register(
    epmd_port: u16,
    name: &str,
    listen_port: u16,
    hidden: bool,
    timeout: Duration,
) -> Result<Registration> {
    check_name(name)?;
    let deadline = Instant::now() + timeout;
    let epmd = Endpoint {
        host: "127.0.0.1",
        port: epmd_port,
    };
    let info = NodeInfo {
        port: listen_port,
        node_type: if hidden {
            NODE_TYPE_HIDDEN
        } else {
            NODE_TYPE_NORMAL
        },
        protocol: PROTOCOL_TCP,
        highest_version: HIGHEST_VERSION,
        lowest_version: LOWEST_VERSION,
        name: name.to_owned(),
        extra: Vec::new(),
    };
    let mut request = vec![ALIVE2_REQ];
    info.encode_into(&mut request);

    let reply = epmd.ask(&request, deadline, |stream| {
        let mut tag = [0; 1];
        read_exact_by(stream, &mut tag, deadline)?;
        match tag[0] {
            ALIVE2_X_RESP => {
                let mut reply = [0; 5];
                read_exact_by(stream, &mut reply, deadline)?;
                Ok((reply[0], u32::from_be_bytes([reply[1], reply[2], reply[3], reply[4]])))
            }
            ALIVE2_RESP => {
                let mut reply = [0; 3];
                read_exact_by(stream, &mut reply, deadline)?;
                Ok((reply[0], u32::from(u16::from_be_bytes([reply[1], reply[2]]))))
            }
            other => Err(malformed(format!(
                "reply tag {other} instead of {ALIVE2_X_RESP} (ALIVE2_X_RESP) or {ALIVE2_RESP} (ALIVE2_RESP)"
            ))),
        }
    });
    let (stream, (result, creation)) = reply.map_err(|failure| {
        failure.into_error(
            &epmd,
            || format!("registering {name} in EPMD at {epmd}"),
            None,
        )
    })?;
    if result != 0 {
        // EPMD gives no reason; the name was checked above, so a taken name
        // is what is left (erl_epmd draws the same conclusion).
        return Err(Error::invalid(format!(
            "the name {name} is already registered in EPMD at {epmd} (result code {result})"
        )));
    }
    // Creation 0 means "unknown" in pids and references built from it, so a
    // node must never use it, whatever an EPMD says.
    let creation = if creation == 0 {
        random::nonzero_u32()
    } else {
        creation
    };
    Ok(Registration {
        _stream: stream,
        name: name.to_owned(),
        creation,
    })
}

impl NodeInfo {
    /// Appends the fields shared by `ALIVE2_REQ` and `PORT2_RESP`, from
    /// `PortNo` to `Extra`. The caller has checked that the name and the
    /// extra data fit their 16-bit lengths.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.port.to_be_bytes());
        out.push(self.node_type);
        out.push(self.protocol);
        out.extend_from_slice(&self.highest_version.to_be_bytes());
        out.extend_from_slice(&self.lowest_version.to_be_bytes());
        out.extend_from_slice(&len16(self.name.len()).to_be_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&len16(self.extra.len()).to_be_bytes());
        out.extend_from_slice(&self.extra);
    }
}

/// A length that the protocol carries in 16 bits; callers only pass lengths
/// that were checked (names) or read from 16-bit fields (extra data).
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// Rejects names EPMD would refuse or misread, so that EPMD's only error
/// code can be read as "name taken".
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("a node name must not be empty"));
    }
    if name.contains('@') {
        return Err(Error::invalid(format!(
            "EPMD knows node names without the host part; got {name:?}, use the part before the @"
        )));
    }
    if name.contains('\0') {
        return Err(Error::invalid(format!(
            "node name {name:?} contains a NUL character"
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(format!(
            "node name {name:?} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// Reads the rest of a successful `PORT2_RESP`, after `[119, 0]`.
fn read_port2_body(stream: &mut TcpStream, deadline: Instant) -> io::Result<NodeInfo> {
    let mut fixed = [0; 10];
    read_exact_by(stream, &mut fixed, deadline)?;
    let [p0, p1, node_type, protocol, h0, h1, l0, l1, n0, n1] = fixed;
    let mut name = vec![0; usize::from(u16::from_be_bytes([n0, n1]))];
    read_exact_by(stream, &mut name, deadline)?;
    let mut elen = [0; 2];
    read_exact_by(stream, &mut elen, deadline)?;
    let mut extra = vec![0; usize::from(u16::from_be_bytes(elen))];
    read_exact_by(stream, &mut extra, deadline)?;
    Ok(NodeInfo {
        port: u16::from_be_bytes([p0, p1]),
        node_type,
        protocol,
        highest_version: u16::from_be_bytes([h0, h1]),
        lowest_version: u16::from_be_bytes([l0, l1]),
        name: String::from_utf8_lossy(&name).into_owned(),
        extra,
    })
}

/// Parses the `name <Name> at port <Port>\n` lines of a `NAMES_RESP`.
/// Lines that do not have that form are skipped, as `erl_epmd` does.
fn parse_names(lines: &[u8]) -> Vec<(String, u16)> {
    // Only lines ended by a newline are complete; EPMD ends every one.
    let complete = match lines.iter().rposition(|&b| b == b'\n') {
        Some(end) => &lines[..end],
        None => return Vec::new(),
    };
    complete
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (name, port) = line.strip_prefix("name ")?.rsplit_once(" at port ")?;
            Some((name.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// An EPMD address as the caller gave it, for connecting and for messages.
struct Endpoint<'a> {
    host: &'a str,
    port: u16,
}

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a request to an EPMD failed.
enum Failure {
    /// The host name did not resolve.
    Unresolved(io::Error),
    /// Nothing accepted the connection, or it was refused or reset before
    /// the reply was complete: there is no (working) EPMD there.
    NoAnswer(io::Error),
    /// The deadline passed.
    TimedOut,
    /// An EPMD answered, but the reply was cut short or malformed.
    BadReply(io::Error),
}

impl Failure {
    fn from_io(err: io::Error) -> Failure {
        use io::ErrorKind::*;
        if is_timeout(&err) {
            Failure::TimedOut
        } else if matches!(
            err.kind(),
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        ) {
            Failure::NoAnswer(err)
        } else {
            Failure::BadReply(err)
        }
    }

    /// The crate's error for this failure. `operation` names the request in
    /// a timeout; `node` is the node looked up, when a missing EPMD means
    /// that node cannot be found rather than a connection failure.
    fn into_error(
        self,
        epmd: &Endpoint<'_>,
        operation: impl FnOnce() -> String,
        node: Option<String>,
    ) -> Error {
        let reason = match self {
            Failure::Unresolved(err) => format!("host {} cannot be resolved ({err})", epmd.host),
            Failure::NoAnswer(err) => format!("no EPMD answers at {epmd} ({err})"),
            Failure::TimedOut => return Error::timeout(operation()),
            Failure::BadReply(err) => {
                let reason = if err.kind() == io::ErrorKind::UnexpectedEof {
                    "closed the connection before the reply was complete".to_owned()
                } else {
                    format!("sent a bad reply ({err})")
                };
                return Error::connection(format!("EPMD at {epmd}"), reason);
            }
        };
        match node {
            Some(node) => Error::NodeNotFound { node, reason },
            None => Error::connection(format!("EPMD at {epmd}"), reason),
        }
    }
}

impl Endpoint<'_> {
    /// Connects, sends `request` and reads the reply with `read_reply`, all
    /// by `deadline`. The connection comes back too, for registrations.
    fn ask<T>(
        &self,
        request: &[u8],
        deadline: Instant,
        read_reply: impl FnOnce(&mut TcpStream) -> io::Result<T>,
    ) -> Result<(TcpStream, T), Failure> {
        let mut stream = self.connect(deadline)?;
        send_request(&mut stream, request, deadline)
            .and_then(|()| read_reply(&mut stream))
            .map(|reply| (stream, reply))
            .map_err(Failure::from_io)
    }

    /// Connects to the first address of the host that accepts, IPv4
    /// addresses first: EPMD and BEAM nodes listen on IPv4 by default, and
    /// "localhost" often resolves to `::1` first.
    fn connect(&self, deadline: Instant) -> Result<TcpStream, Failure> {
        let mut addrs: Vec<SocketAddr> = match (self.host, self.port).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(err) => return Err(Failure::Unresolved(err)),
        };
        if addrs.is_empty() {
            return Err(Failure::Unresolved(io::Error::new(
                io::ErrorKind::NotFound,
                "the resolver returned no address",
            )));
        }
        addrs.sort_by_key(SocketAddr::is_ipv6);
        let mut first_error = None;
        for addr in addrs {
            let left = time_left(deadline).map_err(|_| Failure::TimedOut)?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    // Requests are one small write each; do not let Nagle
                    // hold them back.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(err) if is_timeout(&err) => return Err(Failure::TimedOut),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.map_or(Failure::TimedOut, Failure::NoAnswer))
    }
}

fn malformed(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// Whether an I/O error means a socket timeout fired. Unix reports an
/// expired `SO_RCVTIMEO` as `WouldBlock`, Windows as `TimedOut`.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Time left until `deadline`, or a `TimedOut` error when none is.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}

/// Sends `request` with its 2-byte length prefix, in one write.
fn send_request(stream: &mut TcpStream, request: &[u8], deadline: Instant) -> io::Result<()> {
    let len = u16::try_from(request.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "EPMD request longer than 65535 bytes",
        )
    })?;
    let mut packet = Vec::with_capacity(2 + request.len());
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(request);
    write_all_by(stream, &packet, deadline)
}

/// `write_all` that gives up at `deadline`.
fn write_all_by(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    stream.set_write_timeout(Some(time_left(deadline)?))?;
    stream.write_all(bytes)
}

/// `read_exact` that gives up at `deadline`, however the peer trickles its
/// bytes in: every read waits only for the time that is left.
fn read_exact_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        stream.set_read_timeout(Some(time_left(deadline)?))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Reads until the peer closes, at most `limit` bytes, giving up at
/// `deadline`.
fn read_to_end_by(stream: &mut TcpStream, limit: usize, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        stream.set_read_timeout(Some(time_left(deadline)?))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) if out.len() + n > limit => {
                return Err(malformed(format!("the reply is longer than {limit} bytes")))
            }
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lines_are_parsed_and_garbage_is_skipped() {
        let reply = b"name foo at port 4000\nname with space at port 5\nbogus line\nname bad at port 70000\nname x at port 9\nname partial at port 1";
        assert_eq!(
            parse_names(reply),
            vec![
                ("foo".to_owned(), 4000),
                ("with space".to_owned(), 5),
                ("x".to_owned(), 9)
            ]
        );
        assert!(parse_names(b"").is_empty());
        assert!(parse_names(b"\xff\xfe\n").is_empty());
    }

    #[test]
    fn node_names_are_checked_before_asking_epmd() {
        assert!(check_name("ok_name").is_ok());
        assert!(check_name("ñandú").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a@b").is_err());
        assert!(check_name("a\0b").is_err());
        assert!(check_name(&"x".repeat(256)).is_err());
        assert!(check_name(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn node_info_encodes_like_alive2_req() {
        let info = NodeInfo {
            port: 0x1234,
            node_type: NODE_TYPE_HIDDEN,
            protocol: 0,
            highest_version: 6,
            lowest_version: 5,
            name: "ab".to_owned(),
            extra: vec![9],
        };
        let mut out = Vec::new();
        info.encode_into(&mut out);
        assert_eq!(
            out,
            [0x12, 0x34, 72, 0, 0, 6, 0, 5, 0, 2, b'a', b'b', 0, 1, 9]
        );
    }

    #[test]
    fn erl_epmd_port_settings_are_read_or_refused() {
        assert_eq!(parse_port_setting("").unwrap(), DEFAULT_PORT);
        assert_eq!(parse_port_setting(" 4370\n").unwrap(), 4370);
        for bad in ["0", "65536", "-1", "epmd", "43 69"] {
            let err = parse_port_setting(bad).unwrap_err().to_string();
            assert!(err.contains("ERL_EPMD_PORT"), "{err}");
        }
    }

    #[test]
    fn endpoints_bracket_ipv6_literals() {
        assert_eq!(
            Endpoint {
                host: "::1",
                port: 4369
            }
            .to_string(),
            "[::1]:4369"
        );
        assert_eq!(
            Endpoint {
                host: "localhost",
                port: 1
            }
            .to_string(),
            "localhost:1"
        );
    }
}
